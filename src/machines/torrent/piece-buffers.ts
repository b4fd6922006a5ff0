/**
 * Assembles received blocks into whole pieces for hashing and writing. Pure (no I/O): the peer actor
 * copies each accepted block in (the only copy of a block's bytes on its way to disk); the torrent
 * actor takes the finished piece out for verification and gives the buffer back when it is written
 * (or failed its hash).
 *
 * Memory is bounded by the pieces in progress, which the picker keeps few (it finishes started pieces
 * first), plus the pieces being verified and written. Buffers of the common piece size are reused
 * through a small free list (no new, zero-filled piece buffer per piece).
 */
export class PieceBuffers {
  private readonly inProgress = new Map<number, Uint8Array>();
  /** Pieces taken out for verification and writing, until {@link done}. */
  private readonly taken = new Map<number, Uint8Array>();
  private readonly free: Uint8Array[] = [];

  constructor(
    private readonly pieceSize: (index: number) => number,
    /** Buffers kept for reuse; beyond this they are left to the garbage collector. */
    private readonly maxFree = 8,
  ) {}

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
      buf = reuse >= 0 ? this.free.splice(reuse, 1)[0]! : new Uint8Array(size);
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

  /** Gives a buffer back once its piece is written (or failed its hash). */
  release(buf: Uint8Array): void {
    if (this.free.length < this.maxFree) this.free.push(buf);
  }

  /** Drops everything (torrent stopped). */
  clear(): void {
    this.inProgress.clear();
    this.taken.clear();
    this.free.length = 0;
  }
}
