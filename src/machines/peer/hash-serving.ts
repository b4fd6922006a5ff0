/**
 * BEP 52 `hash request`s of one peer connection, as the peer statechart answers them: with `hashes`
 * (the range and its proof, from the torrent's merkle trees: src/protocol/hash-tree.ts) or a `hash
 * reject`. Pure: the state is an immutable value returned anew.
 *
 * Policy (docs/wire.md, "BEP 52 hash messages"):
 * - A torrent without trees (v1, or a v2 one whose piece layers we lack) rejects every request; so does
 *   a request we cannot prove (see `answerHashRequest`).
 * - A connection gets at most {@link hashAllowance} answers with hashes: twice what fetching every piece
 *   layer from us takes, plus a few (a peer re-asks after a timeout); later requests are rejected. A
 *   peer that keeps asking past the allowance plus {@link HASH_REQUEST_SLACK} is flooding: it is closed.
 *   So what one peer can make us compute and send is bounded by the size of the torrent's piece layers.
 */
import { answerHashRequest, leafRequestPiece, type HashTrees } from '../../protocol/hash-tree.js';
import type { LeafReadCommand } from '../../protocol/peer-wire-types.js';
import type { HashRange, WireMessage } from '../../protocol/wire.js';
import type { ExtMessagesState } from './ext-messages.js';

/** Hash requests a peer may make past its allowance (answered with rejects) before it counts as a flood. */
export const HASH_REQUEST_SLACK = 64;

/** Answers with hashes one connection gets: each 512-hash range of every piece layer twice, plus a few. */
export function hashAllowance(trees: HashTrees | undefined): number {
  return 2 * (trees?.chunks ?? 0) + 8;
}

/**
 * Send this message; read a piece's leaves first (base layer 0: the reader answers with `hash.leaves`,
 * answered by `answerLeafRequest`); or close a flooding peer.
 */
export type HashRequestAnswer =
  { kind: 'send'; message: WireMessage } | { kind: 'read'; read: LeafReadCommand } | { kind: 'close'; detail: string };

/**
 * The answer to a peer's `hash request`, and the state after it.
 *
 * @example
 * const r = serveHashRequest(context.torrent.hashTrees, context.extMessages, event);
 * if (r.answer.kind === 'send') send(r.answer.message);
 */
export function serveHashRequest(
  trees: HashTrees | undefined,
  state: ExtMessagesState,
  request: HashRange,
): { answer: HashRequestAnswer; state: ExtMessagesState } {
  const range: HashRange = {
    piecesRoot: request.piecesRoot,
    baseLayer: request.baseLayer,
    index: request.index,
    length: request.length,
    proofLayers: request.proofLayers,
  };
  const allowance = hashAllowance(trees);
  const requests = state.hashRequests + 1;
  if (requests > allowance + HASH_REQUEST_SLACK)
    return {
      answer: { kind: 'close', detail: `${requests} hash requests (allowance ${allowance})` },
      state: { ...state, hashRequests: requests },
    };
  const reject = { answer: { kind: 'send', message: { type: 'hash-reject', ...range } } as const };
  if (state.hashesServed >= allowance) return { ...reject, state: { ...state, hashRequests: requests } };
  // BEP 52: base layer 0 (a peer whose piece failed asks who sent its bad block): read the piece's leaves.
  const piece = leafRequestPiece(trees, range);
  if (piece !== undefined)
    return {
      answer: { kind: 'read', read: { type: 'hash.leaves', index: piece, range } },
      state: { ...state, hashRequests: requests, hashesServed: state.hashesServed + 1 },
    };
  const a = answerHashRequest(trees, range);
  if (a.kind === 'reject') return { ...reject, state: { ...state, hashRequests: requests } };
  return {
    answer: { kind: 'send', message: { type: 'hashes', ...range, hashes: a.hashes } },
    state: { ...state, hashRequests: requests, hashesServed: state.hashesServed + 1 },
  };
}
