/**
 * The upload side's read-ahead: spans of verified pieces read with one positional read each and kept,
 * a few per torrent, for the next requests (a leecher asks for a piece's blocks in order, one batch
 * after another; several leechers often ask for the same pieces). Blocks are served as views of a span
 * (no copy, no allocation per block). Only verified pieces are ever read (the block reader checks), and
 * a verified piece's bytes do not change, so nothing is invalidated but by the storage itself changing.
 */
import { pieceSize } from '../protocol/metainfo.js';
import type { BlockRequest } from '../protocol/layout.js';
import type { Storage } from './storage.js';

/** Bytes of one span: 16 blocks of 16 KiB (a piece smaller than that is one span). */
export const SPAN_BYTES = 256 * 1024;
/** Spans kept per torrent (at most SPANS × SPAN_BYTES = 4 MiB). */
export const SPANS = 16;

/** A bounded LRU of spans of one torrent's verified pieces. */
export class ReadCache {
  private storage: Storage | undefined;
  private readonly spans = new Map<number, Promise<Buffer>>();
  /** Positional reads made (spans read, plus blocks read past a span): the bench's and the tests' count. */
  reads = 0;

  constructor(
    private readonly maxSpans = SPANS,
    private readonly spanBytes = SPAN_BYTES,
  ) {}

  /**
   * The bytes of `r` in `s`: a view of a cached span, or of one read now (and kept). A block that
   * crosses a span's end (an unaligned request) is read on its own, with `readBlock`'s checks.
   */
  read(s: Storage, r: BlockRequest): Promise<Uint8Array> {
    if (s !== this.storage) {
      this.storage = s;
      this.spans.clear();
    }
    const span = Math.floor(r.begin / this.spanBytes);
    const start = span * this.spanBytes;
    const size = pieceSize(s.meta, r.index);
    const end = Math.min(size, start + this.spanBytes);
    if (r.length <= 0 || r.length > s.maxBlockLength || r.begin < 0 || r.begin + r.length > end) {
      this.reads++;
      return s.readBlock(r.index, r.begin, r.length);
    }
    const key = r.index * 65536 + span;
    let p = this.spans.get(key);
    if (p) {
      this.spans.delete(key); // most recently used last
      this.spans.set(key, p);
    } else {
      this.reads++;
      p = s.readRange(r.index, start, end - start);
      this.spans.set(key, p);
      // A failed read is not kept: the next request tries again.
      p.catch(() => this.spans.get(key) === p && this.spans.delete(key));
      if (this.spans.size > this.maxSpans) this.spans.delete(this.spans.keys().next().value!);
    }
    const at = r.begin - start;
    return p.then((buf) => buf.subarray(at, at + r.length));
  }

  /** Forgets every span (the storage closed). */
  clear(): void {
    this.storage = undefined;
    this.spans.clear();
  }

  /** Spans held now. */
  get size(): number {
    return this.spans.size;
  }
}
