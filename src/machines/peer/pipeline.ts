/**
 * The request pipeline of one peer connection, as an immutable value: which block requests are
 * outstanding to the peer, which were given up recently (a block for one of those is late, not
 * unrequested), and how many more the peer's rate earns. Pure functions; the peer statechart keeps the
 * value in context. Which blocks to ask for is the torrent's picker's business, not this module's.
 *
 * Invariants (checked by the peer machine's model tests): a block is accepted only if it is
 * outstanding here; the outstanding requests never exceed the depth cap (`min(maxQueue, reqq)`).
 */
import { sameBlock, type BlockRequest } from '../../protocol/layout.js';
import type { PieceBlock } from '../../protocol/peer-wire-types.js';
import { requestQueueDepth } from './rate.js';

export interface PipelineState {
  /** Requests sent and not yet answered, oldest first. */
  readonly outstanding: readonly BlockRequest[];
  /** Requests cancelled, rejected or dropped by a choke lately, newest last (at most {@link LATE_LIMIT}). */
  readonly late: readonly BlockRequest[];
}

/** Given-up requests remembered, so a block already on its way when we cancelled is not a violation. */
export const LATE_LIMIT = 512;

export const emptyPipeline: PipelineState = { outstanding: [], late: [] };

export interface DepthSettings {
  /** Seconds of the peer's rate to keep requested ahead. */
  queueSeconds: number;
  minQueue: number;
  maxQueue: number;
}

/**
 * Requests to keep outstanding to a peer delivering `rate` bytes/s: `queueSeconds` of its rate within
 * `[minQueue, maxQueue]`, and never more than the peer said it queues (BEP 10 `reqq`).
 */
export function pipelineDepth(rate: number, s: DepthSettings, peerReqq: number): number {
  return requestQueueDepth(rate, {
    seconds: s.queueSeconds,
    min: Math.max(1, Math.min(s.minQueue, s.maxQueue, peerReqq)),
    max: Math.max(1, Math.min(s.maxQueue, peerReqq)),
  });
}

/** Free slots of the pipeline at `depth`. */
export function freeSlots(p: PipelineState, depth: number): number {
  return Math.max(0, depth - p.outstanding.length);
}

/**
 * Fewest free slots worth a top-up after blocks arrived: a quarter of the depth, at most 128, so the
 * requests leave in one write (and one `peer.request`) rather than one per socket read; three
 * quarters of the pipeline stay outstanding meanwhile.
 */
export function refillBatch(depth: number): number {
  return Math.max(1, Math.min(128, Math.ceil(depth / 4)));
}

/** The pipeline with `requests` sent. */
export function addRequests(p: PipelineState, requests: readonly BlockRequest[]): PipelineState {
  return { outstanding: p.outstanding.concat(requests), late: p.late };
}

function remember(late: readonly BlockRequest[], given: readonly BlockRequest[]): readonly BlockRequest[] {
  if (given.length === 0) return late;
  const all = late.concat(given);
  return all.length > LATE_LIMIT ? all.slice(all.length - LATE_LIMIT) : all;
}

export interface TakenBlocks {
  pipeline: PipelineState;
  /** Blocks that were outstanding: the peer delivered what we asked for. */
  accepted: PieceBlock[];
  /** Blocks of requests given up lately (cancelled, rejected, choked): dropped, not a fault. */
  late: number;
  /** The first block that was never asked of this peer, if any (a protocol violation). */
  unrequested: PieceBlock | undefined;
}

/**
 * Matches received blocks against the outstanding requests. Blocks usually arrive in request order, so
 * the search starts where the previous match ended: O(blocks + outstanding) for an orderly peer.
 */
export function takeBlocks(p: PipelineState, blocks: readonly PieceBlock[]): TakenBlocks {
  const out = p.outstanding;
  if (blocks.length === 0) return { pipeline: p, accepted: [], late: 0, unrequested: undefined };
  // The usual case: the blocks are the oldest requests, in order — no search, one slice.
  let k = 0;
  while (k < blocks.length && k < out.length) {
    const b = blocks[k]!;
    const r = out[k]!;
    if (r.index !== b.index || r.begin !== b.begin || r.length !== b.block.length) break;
    k++;
  }
  if (k === blocks.length) {
    return { pipeline: { outstanding: out.slice(k), late: p.late }, accepted: blocks.slice(), late: 0, unrequested: undefined };
  }
  const taken = new Uint8Array(out.length);
  for (let i = 0; i < k; i++) taken[i] = 1;
  const accepted: PieceBlock[] = blocks.slice(0, k);
  let late = 0;
  let lateList = p.late;
  let unrequested: PieceBlock | undefined;
  // Otherwise a search that starts where the previous match ended: O(blocks + outstanding) for a peer
  // that serves in order with a few exceptions.
  let cursor = k;
  for (let n = k; n < blocks.length; n++) {
    const b = blocks[n]!;
    const len = b.block.length;
    let found = -1;
    for (let m = 0; m < out.length; m++) {
      const j = (cursor + m) % out.length;
      const r = out[j]!;
      if (taken[j] === 0 && r.index === b.index && r.begin === b.begin && r.length === len) {
        found = j;
        break;
      }
    }
    if (found >= 0) {
      taken[found] = 1;
      cursor = found + 1;
      accepted.push(b);
      continue;
    }
    const i = lateList.findIndex((r) => r.index === b.index && r.begin === b.begin && r.length === len);
    if (i >= 0) {
      late++;
      lateList = lateList.slice(0, i).concat(lateList.slice(i + 1));
      continue;
    }
    unrequested = b;
    break;
  }
  const outstanding = accepted.length === 0 ? out : out.filter((_, i) => taken[i] === 0);
  return { pipeline: { outstanding, late: lateList }, accepted, late, unrequested };
}

/** The pipeline without `request`, remembered as late (we sent `cancel`, or the peer sent `reject`). */
export function giveUp(p: PipelineState, request: BlockRequest): { pipeline: PipelineState; found: boolean } {
  const i = p.outstanding.findIndex((r) => sameBlock(r, request));
  if (i < 0) return { pipeline: p, found: false };
  return {
    pipeline: { outstanding: p.outstanding.slice(0, i).concat(p.outstanding.slice(i + 1)), late: remember(p.late, [request]) },
    found: true,
  };
}

/** Every outstanding request given up at once (a choke without the fast extension, a snub). */
export function giveUpAll(p: PipelineState): { pipeline: PipelineState; dropped: readonly BlockRequest[] } {
  return { pipeline: { outstanding: [], late: remember(p.late, p.outstanding) }, dropped: p.outstanding };
}

/** True when `request` is outstanding. */
export function isOutstanding(p: PipelineState, request: BlockRequest): boolean {
  return p.outstanding.some((r) => sameBlock(r, request));
}
