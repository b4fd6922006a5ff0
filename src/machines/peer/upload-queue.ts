/**
 * The upload side of one peer connection, as an immutable value: the peer's requests we accepted, in
 * order, which of them are being read from storage, and whether the socket is backed up. Pure
 * functions; the peer statechart keeps the value in context and sends the reads and blocks they ask for.
 *
 * Backpressure: at most {@link MAX_READS} block reads are under way per peer, and none start while the
 * socket is congested; the queue itself is capped (`maxQueued`, a flood beyond it closes the peer).
 * Reads start in batches: every block that may start goes in one reader command.
 */
import { isRangeInPiece, sameBlock, type BlockRequest, type PieceGeometry } from '../../protocol/layout.js';
import type { BlockReadCommand } from '../../protocol/peer-wire-types.js';

export interface UploadQueueState {
  /**
   * The requests accepted, in order. The first {@link started} are being read (reads start in queue
   * order, and a request queued later is never read before an earlier one); the rest wait.
   */
  readonly queued: readonly BlockRequest[];
  /** How many requests at the head of {@link queued} are being read. */
  readonly started: number;
  /** Reads under way (including those of requests since dropped). */
  readonly reads: number;
  readonly congested: boolean;
}

/** Block reads kept under way per peer. */
export const MAX_READS = 16;

export const emptyUploads: UploadQueueState = { queued: [], started: 0, reads: 0, congested: false };

/**
 * What to do with a `request` from the peer: `ok`; `reject` (valid but not served: too long); or a
 * protocol violation (`error`, naming it) — a piece outside the torrent or a range outside the piece.
 */
export function validateRequest(
  g: PieceGeometry,
  r: BlockRequest,
  maxLength: number,
): { verdict: 'ok' | 'reject' } | { verdict: 'error'; detail: string } {
  if (!isRangeInPiece(g, r.index, r.begin, r.length)) {
    return {
      verdict: 'error',
      detail: `request ${r.index}:${r.begin}+${r.length} is not a range of a piece of the torrent`,
    };
  }
  return { verdict: r.length > maxLength ? 'reject' : 'ok' };
}

/**
 * Starts reads for queued requests while fewer than MAX_READS run and the socket is not congested: one
 * reader command for all of them (in queue order), or none. O(reads started): the queue is not copied.
 */
export function startReads(q: UploadQueueState): { queue: UploadQueueState; read: BlockReadCommand | undefined } {
  const n = Math.min(MAX_READS - q.reads, q.queued.length - q.started);
  if (q.congested || n <= 0) return { queue: q, read: undefined };
  const blocks = q.queued.slice(q.started, q.started + n);
  return {
    queue: { queued: q.queued, started: q.started + n, reads: q.reads + n, congested: q.congested },
    read: { type: 'upload.read', blocks },
  };
}

/** Requests that may still be queued before the queue reaches `maxQueued` (past it: a flood). */
export function queueRoom(q: UploadQueueState, maxQueued: number): number {
  return Math.max(0, maxQueued - q.queued.length);
}

/**
 * Queues valid requests (at most {@link queueRoom}: the caller stops at a flood), in order, copying
 * only their fields. Starts no read: the caller calls {@link startReads} once for the batch. One copy of
 * the queue per batch, not per request.
 */
export function enqueue(q: UploadQueueState, requests: readonly BlockRequest[]): UploadQueueState {
  if (requests.length === 0) return q;
  const added = requests.map(({ index, begin, length }) => ({ index, begin, length }));
  return { ...q, queued: q.queued.concat(added) };
}

/** The queue without the entries at `drop` (indices, ascending), `started` moved back for those being read. */
function removeAt(q: UploadQueueState, drop: readonly number[]): UploadQueueState {
  if (drop.length === 0) return q;
  const queued: BlockRequest[] = [];
  let from = 0;
  for (const i of drop) {
    for (let k = from; k < i; k++) queued.push(q.queued[k]!);
    from = i + 1;
  }
  for (let k = from; k < q.queued.length; k++) queued.push(q.queued[k]!);
  let started = q.started;
  for (const i of drop) if (i < q.started) started--;
  return { ...q, queued, started };
}

/**
 * The reads of `done` finished (read or failed: the blocks of one `upload.blocks`): each request leaves
 * the queue; `found[i]` says whether `done[i]` was still queued (not cancelled nor dropped by a choke
 * meanwhile) — only then is its block sent, or its failure rejected. A finished read matches the copy
 * being read; if that one was cancelled, the oldest copy asked again (same bytes: it is served by this
 * read). The freed read slots start the next reads (`read`). One copy of the queue per answer.
 */
export function readsDone(
  q: UploadQueueState,
  done: readonly BlockRequest[],
): { queue: UploadQueueState; found: boolean[]; read: BlockReadCommand | undefined } {
  const taken = new Set<number>();
  const match = (r: BlockRequest, from: number, to: number): number => {
    for (let i = from; i < to; i++) if (!taken.has(i) && sameBlock(q.queued[i]!, r)) return i;
    return -1;
  };
  const found = done.map((r) => {
    let i = match(r, 0, q.started);
    if (i < 0) i = match(r, q.started, q.queued.length);
    if (i < 0) return false;
    taken.add(i);
    return true;
  });
  const left = removeAt(
    q,
    [...taken].sort((a, b) => a - b),
  );
  const next = startReads({ ...left, reads: Math.max(0, q.reads - done.length) });
  return { queue: next.queue, found, read: next.read };
}

/** The peer's `cancel`: its oldest queued copy leaves the queue (a read under way is ignored when it returns). */
export function cancelUpload(q: UploadQueueState, r: BlockRequest): UploadQueueState {
  const i = q.queued.findIndex((x) => sameBlock(x, r));
  return i < 0 ? q : removeAt(q, [i]);
}

/** Every queued request dropped (we choke the peer); returns them for BEP 6 rejects. */
export function dropAll(q: UploadQueueState): { queue: UploadQueueState; dropped: readonly BlockRequest[] } {
  return {
    queue: { ...q, queued: [], started: 0 },
    dropped: q.queued.map(({ index, begin, length }) => ({ index, begin, length })),
  };
}

/** The socket backed up (`true`) or drained (`false`); draining starts the waiting reads. */
export function setCongested(
  q: UploadQueueState,
  congested: boolean,
): { queue: UploadQueueState; read: BlockReadCommand | undefined } {
  return startReads({ ...q, congested });
}
