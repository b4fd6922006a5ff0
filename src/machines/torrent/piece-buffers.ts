/**
 * Assembles received blocks into whole pieces for hashing and writing. Pure (no I/O): the peer actor
 * copies each accepted block in (the only copy of a block's bytes on its way to disk); the torrent
 * actor takes the finished piece out for verification and gives the buffer back when it is written
 * (or failed its hash).
 *
 * Memory is bounded by the pieces in progress, which the picker keeps few (it finishes started pieces
 * first), plus the pieces being verified and written, plus free buffers (no more than were in use at the
 * busiest moment, and at most twice the backlog cap). Buffers of the common piece size are reused
 * through that free list (no new, zero-filled piece buffer per piece), emptied when the download completes.
 */
/**
 * Bytes of the pieces not verified yet — blocks received, requested, and whole pieces waiting for
 * verification and writing — before peers hold back (16 MiB: ~50 ms at 300 MiB/s; more only raised
 * peak RSS in the benchmark).
 */
export const DEFAULT_MAX_PENDING_BYTES = 16 * 1024 * 1024;

export interface PieceBuffersOptions {
  /** Cap on the bytes of pieces not verified yet, received or requested (see {@link PieceBuffers.room}). */
  maxPendingBytes?: number;
}

export class PieceBuffers {
  private readonly inProgress = new Map<number, Uint8Array>();
  /** Pieces taken out for verification and writing, until {@link done}. */
  private readonly taken = new Map<number, Uint8Array>();
  private readonly free: Uint8Array[] = [];

  private freeBytes = 0;
  private readonly maxPendingBytes: number;
  /** The cap, or two pieces if they are larger: at least two pieces may always wait. */
  readonly limit: number;

  constructor(
    private readonly pieceSize: (index: number) => number,
    options: PieceBuffersOptions = {},
  ) {
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.limit = Math.max(this.maxPendingBytes, 2 * pieceSize(0));
  }

  /**
   * Bytes that may be requested now: the {@link limit} less `committedBytes`, the blocks of pieces not
   * verified yet that are received (in pieces in progress, or waiting to be verified and written) or
   * requested and on their way. Nothing more is asked for at 0 — a disk slower than the network then
   * slows the download instead of growing memory, and blocks already on their way cannot overshoot.
   */
  room(committedBytes: number): number {
    return Math.max(0, this.limit - committedBytes);
  }

  /** Pieces being assembled. */
  get size(): number {
    return this.inProgress.size;
  }

  /** Pieces taken out and not yet done (being verified or written). */
  get pending(): number {
    return this.taken.size;
  }

  /** Bytes held in piece buffers (in progress, being written, and free). */
  get bytesHeld(): number {
    let n = 0;
    for (const b of this.inProgress.values()) n += b.length;
    for (const b of this.taken.values()) n += b.length;
    for (const b of this.free) n += b.length;
    return n;
  }

  /** Copies `block` into piece `index` at `begin`. The caller (the picker) has checked the range. */
  addBlock(index: number, begin: number, block: Uint8Array): void {
    let buf = this.inProgress.get(index);
    if (!buf) {
      const size = this.pieceSize(index);
      const reuse = this.free.findIndex((b) => b.length === size);
      if (reuse >= 0) {
        buf = this.free.splice(reuse, 1)[0]!;
        this.freeBytes -= size;
      } else buf = new Uint8Array(size);
      this.inProgress.set(index, buf);
    }
    buf.set(block, begin);
  }

  /**
   * Removes and returns the assembled piece (all its blocks were received) for verification and
   * writing; call {@link done} once that is over so the buffer can be reused.
   */
  take(index: number): Uint8Array | undefined {
    const buf = this.inProgress.get(index);
    if (!buf) return undefined;
    this.inProgress.delete(index);
    this.taken.set(index, buf);
    return buf;
  }

  /** The piece taken out is written (or failed its hash): its buffer is free for another piece. */
  done(index: number): void {
    const buf = this.taken.get(index);
    if (!buf) return;
    this.taken.delete(index);
    this.release(buf);
  }

  /** Drops a piece in progress (its blocks will be fetched again). */
  discard(index: number): void {
    const buf = this.inProgress.get(index);
    if (buf) {
      this.inProgress.delete(index);
      this.release(buf);
    }
  }

  /** Keeps a buffer no longer in use for reuse (see {@link done} and {@link discard}). */
  private release(buf: Uint8Array): void {
    // A fresh buffer costs zero-filling and page faults, and its first write to a file costs more
    // than a reused one's (measured: docs/performance.md). Free buffers are kept whatever waits for the
    // disk, so the buffers ever allocated are those in use at the busiest moment (the backlog at its cap
    // plus the pieces that were in progress when it filled): a buffer dropped here would wait for a full
    // collection while a new one is allocated for the next piece (with the free ones and the backlog
    // held under the cap together, 2,000 files: 658 buffers allocated for 1,024 pieces, ~30 MB of
    // unreferenced ones at the peak). Twice the cap bounds it anyway; {@link trim} drops them.
    if (this.freeBytes + buf.length > 2 * this.maxPendingBytes) return;
    this.free.push(buf);
    this.freeBytes += buf.length;
  }

  /** Drops the free buffers (the download is complete: no piece will need one soon). */
  trim(): void {
    this.free.length = 0;
    this.freeBytes = 0;
  }

  /** Drops everything (torrent stopped). */
  clear(): void {
    this.inProgress.clear();
    this.taken.clear();
    this.free.length = 0;
    this.freeBytes = 0;
  }
}
