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
  /**
   * Requests sent, oldest first; those from `head` on are outstanding. Blocks mostly arrive in request
   * order, so taking them only moves `head` (no copy per socket read); the array is compacted when
   * requests are added. Read it through {@link outstanding} and {@link outstandingCount}.
   */
  readonly sent: readonly BlockRequest[];
  readonly head: number;
  /** Requests cancelled, rejected or dropped by a choke lately, newest last (at most {@link LATE_LIMIT}). */
  readonly late: readonly BlockRequest[];
}

/** Given-up requests remembered, so a block already on its way when we cancelled is not a violation. */
export const LATE_LIMIT = 512;

export const emptyPipeline: PipelineState = { sent: [], head: 0, late: [] };

/** The requests outstanding to the peer, oldest first (a copy when some were answered). */
export function outstanding(p: PipelineState): readonly BlockRequest[] {
  return p.head === 0 ? p.sent : p.sent.slice(p.head);
}

/** How many requests are outstanding. */
export function outstandingCount(p: PipelineState): number {
  return p.sent.length - p.head;
}

const of = (list: readonly BlockRequest[], late: readonly BlockRequest[]): PipelineState => ({
  sent: list,
  head: 0,
  late,
});

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
  return Math.max(0, depth - outstandingCount(p));
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
  return of(outstanding(p).concat(requests), p.late);
}

function remember(late: readonly BlockRequest[], given: readonly BlockRequest[]): readonly BlockRequest[] {
  if (given.length === 0) return late;
  const all = late.concat(given);
  return all.length > LATE_LIMIT ? all.slice(all.length - LATE_LIMIT) : all;
}

export interface TakenBlocks {
  pipeline: PipelineState;
  /** Blocks that were outstanding: the peer delivered what we asked for. */
  accepted: readonly PieceBlock[];
  /** Blocks of requests given up lately (cancelled, rejected, choked): dropped, not a fault. */
  late: number;
  /** The first block that was never asked of this peer, if any (a protocol violation). */
  unrequested: PieceBlock | undefined;
}

/**
 * Matches received blocks against the outstanding requests. The usual case — the blocks are the oldest
 * requests, in order — costs no search and no copy; otherwise the search starts where the previous
 * match ended: O(blocks + outstanding) for a peer that serves in order with a few exceptions.
 */
export function takeBlocks(p: PipelineState, blocks: readonly PieceBlock[]): TakenBlocks {
  if (blocks.length === 0) return { pipeline: p, accepted: [], late: 0, unrequested: undefined };
  const sent = p.sent;
  let k = 0;
  while (k < blocks.length && p.head + k < sent.length) {
    const b = blocks[k]!;
    const r = sent[p.head + k]!;
    if (r.index !== b.index || r.begin !== b.begin || r.length !== b.block.length) break;
    k++;
  }
  if (k === blocks.length)
    return { pipeline: { sent, head: p.head + k, late: p.late }, accepted: blocks, late: 0, unrequested: undefined };
  const out = sent.slice(p.head + k);
  const taken = new Uint8Array(out.length);
  const accepted: PieceBlock[] = blocks.slice(0, k);
  let late = 0;
  let lateList = p.late;
  let unrequested: PieceBlock | undefined;
  let cursor = 0;
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
  if (accepted.length === 0 && late === 0) return { pipeline: p, accepted, late, unrequested };
  return {
    pipeline: of(
      out.filter((_, i) => taken[i] === 0),
      lateList,
    ),
    accepted,
    late,
    unrequested,
  };
}

/** The pipeline without `request`, remembered as late (we sent `cancel`, or the peer sent `reject`). */
export function giveUp(p: PipelineState, request: BlockRequest): { pipeline: PipelineState; found: boolean } {
  const out = outstanding(p);
  const i = out.findIndex((r) => sameBlock(r, request));
  if (i < 0) return { pipeline: p, found: false };
  return { pipeline: of(out.slice(0, i).concat(out.slice(i + 1)), remember(p.late, [request])), found: true };
}

/** Every outstanding request given up at once (a choke without the fast extension, a snub). */
export function giveUpAll(p: PipelineState): { pipeline: PipelineState; dropped: readonly BlockRequest[] } {
  const dropped = outstanding(p);
  return { pipeline: of([], remember(p.late, dropped)), dropped };
}

/** True when `request` is outstanding. */
export function isOutstanding(p: PipelineState, request: BlockRequest): boolean {
  for (let i = p.head; i < p.sent.length; i++) if (sameBlock(p.sent[i]!, request)) return true;
  return false;
}
