/**
 * Transfer-rate policy: a sliding-window {@link RateMeter} and the per-peer request queue depth that
 * follows from a peer's rate ({@link requestQueueDepth}). Pure: time is always passed in (from the
 * actor system's clock), never read with `Date.now()`.
 */

/** Bytes in one request block (BEP 3 convention; every client asks for 16 KiB blocks). */
export const DEFAULT_BLOCK_LENGTH = 16 * 1024;

/** Options of {@link requestQueueDepth}. */
export interface QueueDepthOptions {
  /** Seconds of the peer's throughput to keep requested ahead (libtorrent's `request_queue_time`, 3 s). */
  seconds?: number;
  /** Bytes per request. Default 16 KiB. */
  blockLength?: number;
  /** Fewest requests kept outstanding, even for a peer with no measured rate yet. Default 4. */
  min?: number;
  /** Most requests kept outstanding (many clients drop requests beyond their `reqq`). Default 500. */
  max?: number;
}

/**
 * How many block requests to keep outstanding to a peer that delivers `bytesPerSecond`: enough to
 * cover `seconds` of its throughput, `ceil(bytesPerSecond × seconds / blockLength)`, clamped to
 * `[min, max]`. A rate that is not a finite positive number gives `min`.
 *
 * @example
 * ```ts
 * requestQueueDepth(0);                 // 4 (a new peer)
 * requestQueueDepth(1024 * 1024);       // 192 (1 MiB/s × 3 s / 16 KiB)
 * requestQueueDepth(100 * 1024 * 1024); // 500 (clamped)
 * const want = requestQueueDepth(meter.rate(now)) - outstanding;
 * if (want > 0) send(picker.pick(peer, want));
 * ```
 */
export function requestQueueDepth(bytesPerSecond: number, options: QueueDepthOptions = {}): number {
  const seconds = options.seconds ?? 3;
  const blockLength = options.blockLength ?? DEFAULT_BLOCK_LENGTH;
  const min = options.min ?? 4;
  const max = Math.max(min, options.max ?? 500);
  if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) return min;
  const depth = Math.ceil((bytesPerSecond * seconds) / blockLength);
  return Math.min(max, Math.max(min, depth));
}

/** Options of {@link RateMeter}. */
export interface RateMeterOptions {
  /** Length of the sliding window in ms. Default 5000. Rounded up to whole buckets. */
  windowMs?: number;
  /** Resolution of the window in ms. Default 1000. */
  bucketMs?: number;
}

/**
 * Bytes per second over a sliding window made of fixed buckets (default 5 s of 1 s buckets).
 *
 * The rate is the bytes counted in the window's buckets divided by the time the window covers: the
 * full buckets plus the elapsed part of the current one, but never more than the time since the first
 * sample (so a meter does not under-report during its first seconds) and never less than one bucket
 * (so a single early sample does not read as an absurd rate). Time never runs backwards: an earlier
 * `nowMs` than one already seen is treated as the latest one. O(buckets) memory; `add` is O(1)
 * amortised, `rate` O(buckets).
 *
 * @example
 * ```ts
 * const meter = new RateMeter();
 * meter.add(16_384, clock.now());
 * const bytesPerSecond = meter.rate(clock.now());
 * ```
 */
export class RateMeter {
  private readonly bucketMs: number;
  private readonly bucketCount: number;
  private readonly bytes: Float64Array;
  /** Bucket number (floor(time / bucketMs)) each slot currently holds; -1 when empty. */
  private readonly slot: Float64Array;
  private startMs = Number.NaN;
  private latestMs = Number.NEGATIVE_INFINITY;
  private totalBytes = 0;

  constructor(options: RateMeterOptions = {}) {
    const bucketMs = options.bucketMs ?? 1000;
    const windowMs = options.windowMs ?? 5000;
    if (!(bucketMs > 0) || !(windowMs > 0)) throw new RangeError('RateMeter: windowMs and bucketMs must be positive');
    this.bucketMs = bucketMs;
    this.bucketCount = Math.max(1, Math.ceil(windowMs / bucketMs));
    this.bytes = new Float64Array(this.bucketCount);
    this.slot = new Float64Array(this.bucketCount).fill(-1);
  }

  /** Bytes counted since the meter was made. */
  get total(): number {
    return this.totalBytes;
  }

  /** Counts `bytes` transferred at time `nowMs`. */
  add(bytes: number, nowMs: number): void {
    const now = this.advance(nowMs);
    if (Number.isNaN(this.startMs)) this.startMs = now;
    const bucket = Math.floor(now / this.bucketMs);
    const k = this.slotOf(bucket);
    if (this.slot[k] !== bucket) {
      this.slot[k] = bucket;
      this.bytes[k] = 0;
    }
    this.bytes[k]! += bytes;
    this.totalBytes += bytes;
  }

  /** Bytes per second over the window ending at `nowMs`; 0 before the first sample. */
  rate(nowMs: number): number {
    if (Number.isNaN(this.startMs)) return 0;
    const now = this.advance(nowMs);
    const current = Math.floor(now / this.bucketMs);
    const oldest = current - this.bucketCount + 1;
    let sum = 0;
    for (let k = 0; k < this.bucketCount; k++) {
      const b = this.slot[k]!;
      if (b >= oldest && b <= current) sum += this.bytes[k]!;
    }
    const covered = (this.bucketCount - 1) * this.bucketMs + (now - current * this.bucketMs);
    const span = Math.max(this.bucketMs, Math.min(covered, now - this.startMs));
    return (sum * 1000) / span;
  }

  private advance(nowMs: number): number {
    if (nowMs > this.latestMs) this.latestMs = nowMs;
    return this.latestMs;
  }

  private slotOf(bucket: number): number {
    const k = bucket % this.bucketCount;
    return k < 0 ? k + this.bucketCount : k;
  }
}
