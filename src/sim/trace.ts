/**
 * The simulation's trace: every delivered event (a connection opened, refused, reset or closed, a chunk
 * of bytes arriving, an announce answered) in the order it happened, folded into one SHA-256 digest.
 * A chunk enters as (time, link, length, FNV-1a of its first 64 bytes) — not all its bytes: hashing
 * every byte of a 50-node swarm would cost more than running it. Two runs with the same seed give the
 * same digest; a run that differs in any delivery's time, order, endpoints or size gives another.
 */
import { createHash, type Hash } from 'node:crypto';

export class Trace {
  private readonly hash: Hash = createHash('sha256');
  /** Entries folded in so far. */
  count = 0;
  /** The last entries in full, for a failing run's report. */
  readonly tail: string[] = [];

  constructor(private readonly keepTail = 0) {}

  /** Adds one delivered event. */
  record(time: number, kind: string, detail: string): void {
    const line = `${time.toFixed(3)} ${kind} ${detail}`;
    this.hash.update(line);
    this.hash.update('\n');
    this.count++;
    if (this.keepTail > 0) {
      this.tail.push(line);
      if (this.tail.length > this.keepTail) this.tail.shift();
    }
  }

  /** The digest so far, as 16 hex digits (a prefix of the SHA-256). */
  digest(): string {
    return this.hash.copy().digest('hex').slice(0, 16);
  }
}

/** FNV-1a over the first `max` bytes: a cheap fingerprint of a chunk. */
export function fingerprint(bytes: Uint8Array, max = 64): string {
  let h = 0x811c9dc5;
  const n = Math.min(max, bytes.length);
  for (let i = 0; i < n; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}
