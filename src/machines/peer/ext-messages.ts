/**
 * The BEP 9 `ut_metadata` and BEP 11 `ut_pex` messages of one peer connection, as the peer statechart
 * handles them: which of the two a torrent offers, how a peer's metadata `request` is answered, and
 * which `ut_pex` messages are honoured. Pure: the state is an immutable value returned anew, time is
 * the wire events' `at`.
 *
 * Policy (docs/extensions.md, "In the peer statechart"):
 * - A private torrent (BEP 27) offers neither; a torrent without its info dictionary does not offer
 *   `ut_metadata`; `ut_pex` is offered unless the torrent turned PEX off.
 * - A metadata `request` is answered only to a peer that advertised `ut_metadata` (we need its id to
 *   answer): with `data` (piece `i` of our info dictionary, a view of it) — or `reject` for a piece out
 *   of range, while the socket is congested (no 16 KiB piece waits in its write queue), or once the
 *   peer had its allowance of {@link metadataAllowance} pieces on this connection. A peer that keeps
 *   asking past the allowance plus {@link METADATA_REQUEST_SLACK} is flooding: it is closed.
 * - `ut_pex` from a peer is honoured at most once per {@link PEX_RECEIVE_INTERVAL_MS}; the others are
 *   ignored (counted). Its `added` peers go to the torrent; `dropped` ones are not acted on.
 */
import { peerKey, type PeerAddress } from '../../protocol/peer-address.js';
import {
  decodeUtMetadata,
  encodeUtMetadata,
  MAX_METADATA_SIZE,
  metadataPiece,
  metadataPieceCount,
} from '../../protocol/ut-metadata.js';
import { decodeUtPex } from '../../protocol/ut-pex.js';
import { PEX_INTERVAL_MS } from '../torrent/pex-state.js';
import type { ExtensionState } from './extensions.js';
import type { PeerTorrent } from './types.js';

/** Metadata requests a peer may make past its allowance (answered with rejects) before it counts as a flood. */
export const METADATA_REQUEST_SLACK = 64;

/**
 * The shortest gap between two honoured `ut_pex` messages of one peer: BEP 11's minute, less 5 s for
 * the sender's timer and the network's jitter (a sender that keeps to its minute is never cut).
 */
export const PEX_RECEIVE_INTERVAL_MS = PEX_INTERVAL_MS - 5_000;

/** Most peers taken from one `ut_pex` message (the decoder's default cap, 100, is libtorrent's). */
export const PEX_RECEIVE_MAX_ADDED = 100;

/** Data answers one connection gets: each piece twice, plus a few (a peer re-asks after a timeout). */
export function metadataAllowance(size: number): number {
  return 2 * metadataPieceCount(size) + 8;
}

/** What one connection did with `ut_metadata`, `ut_pex` and BEP 52 hash requests (hash-serving.ts). */
export interface ExtMessagesState {
  /** Metadata requests received, and how many were answered with data. */
  readonly metadataRequests: number;
  readonly metadataServed: number;
  /** When (wire time, ms) the last honoured `ut_pex` message arrived; undefined: none yet. */
  readonly pexAt: number | undefined;
  /** `ut_pex` messages honoured, and ignored (too soon after the last, or malformed). */
  readonly pexHonoured: number;
  readonly pexIgnored: number;
  /** BEP 52 hash requests received, and how many were answered with hashes. */
  readonly hashRequests: number;
  readonly hashesServed: number;
}

export const emptyExtMessages: ExtMessagesState = {
  metadataRequests: 0,
  metadataServed: 0,
  pexAt: undefined,
  pexHonoured: 0,
  pexIgnored: 0,
  hashRequests: 0,
  hashesServed: 0,
};

const NOTHING: ReadonlySet<string> = new Set();
const METADATA: ReadonlySet<string> = new Set(['ut_metadata']);
const PEX: ReadonlySet<string> = new Set(['ut_pex']);
const BOTH: ReadonlySet<string> = new Set(['ut_metadata', 'ut_pex']);

/** The extension messages a torrent offers its peers (BEP 27: a private torrent offers none). */
export function offeredExtensions(torrent: PeerTorrent): ReadonlySet<string> {
  if (torrent.private) return NOTHING;
  const metadata = torrent.metadata !== undefined && torrent.metadata.length > 0;
  const pex = torrent.pex === true;
  return metadata && pex ? BOTH : metadata ? METADATA : pex ? PEX : NOTHING;
}

export type MetadataAnswer =
  /** Send `payload` as the peer's `ut_metadata` message (`id`). */
  | { kind: 'send'; id: number; payload: Uint8Array; answer: 'data' | 'reject'; piece: number }
  /** Nothing to send (a message we do not answer, or a peer we cannot answer). */
  | { kind: 'ignore'; reason: string }
  /** The peer floods us with requests. */
  | { kind: 'close'; detail: string };

/**
 * The answer to a peer's `ut_metadata` message, and the state after it.
 *
 * @example
 * const { answer, state } = answerMetadata(torrent, ext, context.extMessages, payload, congested);
 * if (answer.kind === 'send') send({ type: 'extended', id: answer.id, payload: answer.payload });
 */
export function answerMetadata(
  torrent: PeerTorrent,
  ext: ExtensionState,
  state: ExtMessagesState,
  payload: Uint8Array,
  congested: boolean,
): { answer: MetadataAnswer; state: ExtMessagesState } {
  const info = torrent.metadata;
  if (!offeredExtensions(torrent).has('ut_metadata') || !info)
    return { answer: { kind: 'ignore', reason: 'ut_metadata not offered' }, state };
  const id = ext.peerIds.ut_metadata;
  if (id === undefined) return { answer: { kind: 'ignore', reason: 'the peer did not advertise ut_metadata' }, state };
  let piece: number;
  try {
    // Indices are checked against our size below (a reject names the piece); the cap only bounds them.
    const msg = decodeUtMetadata(payload, { maxMetadataSize: Math.max(MAX_METADATA_SIZE, info.length) });
    if (msg.type !== 'request') return { answer: { kind: 'ignore', reason: `a ${msg.type} message` }, state };
    piece = msg.piece;
  } catch (err) {
    return { answer: { kind: 'ignore', reason: (err as Error).message }, state };
  }
  const allowance = metadataAllowance(info.length);
  const requests = state.metadataRequests + 1;
  if (requests > allowance + METADATA_REQUEST_SLACK)
    return {
      answer: {
        kind: 'close',
        detail: `${requests} ut_metadata requests for ${metadataPieceCount(info.length)} pieces`,
      },
      state: { ...state, metadataRequests: requests },
    };
  const reject = (): { answer: MetadataAnswer; state: ExtMessagesState } => ({
    answer: { kind: 'send', id, payload: encodeUtMetadata({ type: 'reject', piece }), answer: 'reject', piece },
    state: { ...state, metadataRequests: requests },
  });
  if (piece >= metadataPieceCount(info.length) || congested || state.metadataServed >= allowance) return reject();
  const data = metadataPiece(info, piece);
  return {
    answer: {
      kind: 'send',
      id,
      payload: encodeUtMetadata(
        { type: 'data', piece, totalSize: info.length, data },
        { maxMetadataSize: Math.max(MAX_METADATA_SIZE, info.length) },
      ),
      answer: 'data',
      piece,
    },
    state: { ...state, metadataRequests: requests, metadataServed: state.metadataServed + 1 },
  };
}

/**
 * The peers of a `ut_pex` message to learn, or null when it is not honoured: PEX not offered, too soon
 * after the last honoured one (at `at`, wire time), or malformed.
 *
 * @example const r = receivePex(torrent, state, payload, event.at); if (r.peers) report(r.peers);
 */
export function receivePex(
  torrent: PeerTorrent,
  state: ExtMessagesState,
  payload: Uint8Array,
  at: number,
): { peers: PeerAddress[] | null; state: ExtMessagesState } {
  const ignored = { peers: null, state: { ...state, pexIgnored: state.pexIgnored + 1 } };
  if (!offeredExtensions(torrent).has('ut_pex')) return ignored;
  if (state.pexAt !== undefined && at - state.pexAt < PEX_RECEIVE_INTERVAL_MS) return ignored;
  let added;
  try {
    ({ added } = decodeUtPex(payload, { maxAdded: PEX_RECEIVE_MAX_ADDED }));
  } catch {
    return ignored;
  }
  const seen = new Set<string>();
  const peers: PeerAddress[] = [];
  for (const p of added) {
    const key = peerKey(p);
    if (seen.has(key)) continue;
    seen.add(key);
    peers.push({ host: p.host, port: p.port, family: p.family });
  }
  return { peers, state: { ...state, pexAt: at, pexHonoured: state.pexHonoured + 1 } };
}
