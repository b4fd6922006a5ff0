/**
 * The upload side of one peer connection, as an immutable value: the peer's requests we accepted, in
 * order, which of them are being read from storage, and whether the socket is backed up. Pure
 * functions; the peer statechart keeps the value in context and sends the reads and blocks they ask for.
 *
 * Backpressure: at most {@link MAX_READS} reads are under way per peer, and none start while the
 * socket is congested; the queue itself is capped (`maxQueued`, a flood beyond it closes the peer).
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

/** Starts reads for queued requests while fewer than MAX_READS run and the socket is not congested. */
export function startReads(q: UploadQueueState): { queue: UploadQueueState; reads: BlockReadCommand[] } {
  const reads: BlockReadCommand[] = [];
  if (q.congested || q.reads >= MAX_READS || !q.queued.some((r) => !r.reading)) return { queue: q, reads };
  let n = q.reads;
  const queued = q.queued.map((r) => {
    if (r.reading || n >= MAX_READS) return r;
    n++;
    reads.push({ type: 'upload.read', index: r.index, begin: r.begin, length: r.length });
    return { ...r, reading: true };
  });
  return { queue: { queued, reads: n, congested: q.congested }, reads };
}

/** Queues a valid request; `flood` when the queue is already at `maxQueued`. */
export function enqueue(
  q: UploadQueueState,
  r: BlockRequest,
  maxQueued: number,
): { queue: UploadQueueState; reads: BlockReadCommand[] } | 'flood' {
  if (q.queued.length >= maxQueued) return 'flood';
  return startReads({
    ...q,
    queued: q.queued.concat({ index: r.index, begin: r.begin, length: r.length, reading: false }),
  });
}

function without(
  q: UploadQueueState,
  r: BlockRequest,
  reading?: boolean,
): { queued: readonly UploadRequest[]; found: boolean } {
  // A finished read matches the copy being read (a request cancelled while read and asked again has a
  // second copy, not yet read); a cancel matches the oldest copy.
  let i = reading === undefined ? -1 : q.queued.findIndex((x) => x.reading === reading && sameBlock(x, r));
  if (i < 0) i = q.queued.findIndex((x) => sameBlock(x, r));
  if (i < 0) return { queued: q.queued, found: false };
  return { queued: q.queued.slice(0, i).concat(q.queued.slice(i + 1)), found: true };
}

/**
 * A read finished (`upload.block` or `upload.readFailed`): the request leaves the queue; `found` says
 * whether it was still queued (not cancelled nor dropped by a choke meanwhile) — only then is its block
 * sent, or its failure rejected.
 */
export function readDone(
  q: UploadQueueState,
  r: BlockRequest,
): { queue: UploadQueueState; found: boolean; reads: BlockReadCommand[] } {
  const { queued, found } = without(q, r, true);
  const next = startReads({ queued, reads: Math.max(0, q.reads - 1), congested: q.congested });
  return { queue: next.queue, found, reads: next.reads };
}

/** The peer's `cancel`: the request leaves the queue (a read under way is ignored when it returns). */
export function cancelUpload(q: UploadQueueState, r: BlockRequest): UploadQueueState {
  const { queued, found } = without(q, r);
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
): { queue: UploadQueueState; reads: BlockReadCommand[] } {
  return startReads({ ...q, congested });
}
