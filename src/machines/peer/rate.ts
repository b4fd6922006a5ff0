/**
 * Transfer rates as immutable values, and the request queue depth a rate earns. Pure: time is passed
 * in (the `at` of wire events), never read, and every update returns a new value — a peer actor keeps
 * its windows in context and replaces them with `assign`.
 */
import { BLOCK_LENGTH } from '../../protocol/layout.js';

/**
 * Bytes per second over a sliding window of fixed buckets (default 5 s of 1 s buckets).
 *
 * The rate is the bytes of the window's buckets divided by the time the window covers: the full
 * buckets plus the elapsed part of the current one, but never more than the time since the first
 * sample (a young window does not under-report) and never less than one bucket (a single early sample
 * does not read as an absurd rate). Time never runs backwards: an `at` earlier than one already seen
 * counts as the latest one.
 *
 * @example
 * ```ts
 * let w = rateWindow();
 * w = addBytes(w, 16_384, event.at);
 * const bytesPerSecond = rateOf(w, event.at);
 * ```
 */
export interface RateWindow {
  readonly bucketMs: number;
  /** Bucket number (floor(time / bucketMs)) each slot holds, -1 when empty, and its bytes. */
  readonly slots: readonly number[];
  readonly bytes: readonly number[];
  /** Time of the first sample (NaN before it) and the latest time seen. */
  readonly startMs: number;
  readonly latestMs: number;
  /** Bytes counted since the window was made. */
  readonly total: number;
}

export interface RateWindowOptions {
  /** Length of the window in ms. Default 5000. Rounded up to whole buckets. */
  windowMs?: number;
  /** Resolution in ms. Default 1000. */
  bucketMs?: number;
}

/** An empty window. */
export function rateWindow(options: RateWindowOptions = {}): RateWindow {
  const bucketMs = options.bucketMs ?? 1000;
  const windowMs = options.windowMs ?? 5000;
  if (!(bucketMs > 0) || !(windowMs > 0)) throw new RangeError('rateWindow: windowMs and bucketMs must be positive');
  const n = Math.max(1, Math.ceil(windowMs / bucketMs));
  return {
    bucketMs,
    slots: new Array<number>(n).fill(-1),
    bytes: new Array<number>(n).fill(0),
    startMs: Number.NaN,
    latestMs: Number.NEGATIVE_INFINITY,
    total: 0,
  };
}

function slotOf(bucket: number, n: number): number {
  const k = bucket % n;
  return k < 0 ? k + n : k;
}

/** `w` with `bytes` transferred at time `at` counted. */
export function addBytes(w: RateWindow, bytes: number, at: number): RateWindow {
  const now = Math.max(at, w.latestMs);
  const bucket = Math.floor(now / w.bucketMs);
  const k = slotOf(bucket, w.slots.length);
  const slots = w.slots.slice();
  const counts = w.bytes.slice();
  if (slots[k] !== bucket) {
    slots[k] = bucket;
    counts[k] = 0;
  }
  counts[k]! += bytes;
  return {
    bucketMs: w.bucketMs,
    slots,
    bytes: counts,
    startMs: Number.isNaN(w.startMs) ? now : w.startMs,
    latestMs: now,
    total: w.total + bytes,
  };
}

/** Bytes per second over the window ending at `at`; 0 before the first sample. */
export function rateOf(w: RateWindow, at: number): number {
  if (Number.isNaN(w.startMs)) return 0;
  const now = Math.max(at, w.latestMs);
  const n = w.slots.length;
  const current = Math.floor(now / w.bucketMs);
  const oldest = current - n + 1;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const b = w.slots[k]!;
    if (b >= oldest && b <= current) sum += w.bytes[k]!;
  }
  const covered = (n - 1) * w.bucketMs + (now - current * w.bucketMs);
  const span = Math.max(w.bucketMs, Math.min(covered, now - w.startMs));
  return (sum * 1000) / span;
}

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
 * ```
 */
export function requestQueueDepth(bytesPerSecond: number, options: QueueDepthOptions = {}): number {
  const seconds = options.seconds ?? 3;
  const blockLength = options.blockLength ?? BLOCK_LENGTH;
  const min = options.min ?? 4;
  const max = Math.max(min, options.max ?? 500);
  if (!(bytesPerSecond > 0) || !Number.isFinite(bytesPerSecond)) return min;
  const depth = Math.ceil((bytesPerSecond * seconds) / blockLength);
  return Math.min(max, Math.max(min, depth));
}
