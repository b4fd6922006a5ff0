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

export interface UploadRequest extends BlockRequest {
  /** A read of its block is under way. */
  readonly reading: boolean;
}

export interface UploadQueueState {
  readonly queued: readonly UploadRequest[];
  /** Reads under way (including those of requests since dropped). */
  readonly reads: number;
  readonly congested: boolean;
}

/** Block reads kept under way per peer. */
export const MAX_READS = 16;

export const emptyUploads: UploadQueueState = { queued: [], reads: 0, congested: false };

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
 * reader command for all of them (in queue order), or none.
 */
export function startReads(q: UploadQueueState): { queue: UploadQueueState; read: BlockReadCommand | undefined } {
  if (q.congested || q.reads >= MAX_READS || !q.queued.some((r) => !r.reading)) return { queue: q, read: undefined };
  const blocks: BlockRequest[] = [];
  let n = q.reads;
  const queued = q.queued.map((r) => {
    if (r.reading || n >= MAX_READS) return r;
    n++;
    blocks.push({ index: r.index, begin: r.begin, length: r.length });
    return { ...r, reading: true };
  });
  return { queue: { queued, reads: n, congested: q.congested }, read: { type: 'upload.read', blocks } };
}

/**
 * Queues a valid request; `flood` when the queue is already at `maxQueued`. Starts no read: the caller
 * calls {@link startReads} once for a batch of requests.
 */
export function enqueue(q: UploadQueueState, r: BlockRequest, maxQueued: number): UploadQueueState | 'flood' {
  if (q.queued.length >= maxQueued) return 'flood';
  return { ...q, queued: q.queued.concat({ index: r.index, begin: r.begin, length: r.length, reading: false }) };
}

function without(
  queued: readonly UploadRequest[],
  r: BlockRequest,
  reading?: boolean,
): { queued: readonly UploadRequest[]; found: boolean } {
  // A finished read matches the copy being read (a request cancelled while read and asked again has a
  // second copy, not yet read); a cancel matches the oldest copy.
  let i = reading === undefined ? -1 : queued.findIndex((x) => x.reading === reading && sameBlock(x, r));
  if (i < 0) i = queued.findIndex((x) => sameBlock(x, r));
  if (i < 0) return { queued, found: false };
  return { queued: queued.slice(0, i).concat(queued.slice(i + 1)), found: true };
}

/**
 * The reads of `done` finished (read or failed: the blocks of one `upload.blocks`): each request leaves
 * the queue; `found[i]` says whether `done[i]` was still queued (not cancelled nor dropped by a choke
 * meanwhile) — only then is its block sent, or its failure rejected. The freed read slots start the next
 * reads (`read`).
 */
export function readsDone(
  q: UploadQueueState,
  done: readonly BlockRequest[],
): { queue: UploadQueueState; found: boolean[]; read: BlockReadCommand | undefined } {
  let queued = q.queued;
  const found = done.map((r) => {
    const w = without(queued, r, true);
    queued = w.queued;
    return w.found;
  });
  const next = startReads({ queued, reads: Math.max(0, q.reads - done.length), congested: q.congested });
  return { queue: next.queue, found, read: next.read };
}

/** The peer's `cancel`: the request leaves the queue (a read under way is ignored when it returns). */
export function cancelUpload(q: UploadQueueState, r: BlockRequest): UploadQueueState {
  const { queued, found } = without(q.queued, r);
  return found ? { ...q, queued } : q;
}

/** Every queued request dropped (we choke the peer); returns them for BEP 6 rejects. */
export function dropAll(q: UploadQueueState): { queue: UploadQueueState; dropped: readonly BlockRequest[] } {
  return {
    queue: { ...q, queued: [] },
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
