/**
 * Virtual time for the swarm simulator: a {@link Clock} whose timers sit in one queue ordered by (time,
 * sequence), and a run loop that fires them. Between two instants the loop lets every promise and
 * `process.nextTick` callback run out (one `setImmediate` turn: nothing in a simulation does real I/O),
 * so the same sequence of timers gives the same sequence of effects: one seed, one run.
 */
import type { Clock, TimerId } from '../io/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  /** Repeat period (setInterval), 0 for a one-shot timer. */
  every: number;
  cancelled: boolean;
}

/** A binary heap of timers ordered by (at, seq). */
class TimerHeap {
  private readonly items: Timer[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Timer | undefined {
    return this.items[0];
  }
  push(t: Timer): void {
    const a = this.items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Timer | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (x: Timer, y: Timer) => x.at < y.at || (x.at === y.at && x.seq < y.seq);

/** Lets every pending promise reaction and nextTick callback run (no real I/O is pending in a simulation). */
export const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class VirtualClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly heap = new TimerHeap();
  /** Live timers (not fired, not cancelled): what a scenario checks for leaks. */
  private live = 0;
  /** Timers fired so far. */
  fired = 0;

  now(): number {
    return this.time;
  }

  private add(fn: () => void, ms: number, every: number): Timer {
    const t: Timer = {
      at: this.time + Math.max(0, Number.isFinite(ms) ? ms : 0),
      seq: this.seq++,
      fn,
      every,
      cancelled: false,
    };
    this.heap.push(t);
    this.live++;
    return t;
  }

  private cancel(id: TimerId | undefined): void {
    const t = id as Timer | undefined;
    if (!t || t.cancelled || typeof t !== 'object' || !('seq' in t)) return;
    t.cancelled = true;
    this.live--;
  }

  setTimeout = (fn: () => void, ms: number): TimerId => this.add(fn, ms, 0);
  clearTimeout = (id: TimerId | undefined): void => this.cancel(id);
  setInterval = (fn: () => void, ms: number): TimerId => this.add(fn, ms, Math.max(1, ms));
  clearInterval = (id: TimerId | undefined): void => this.cancel(id);
  setBackgroundTimeout = (fn: () => void, ms: number): TimerId => this.add(fn, ms, 0);

  /** Timers waiting to fire. */
  get pending(): number {
    return this.live;
  }

  /** The time of the next timer, if any. */
  nextAt(): number | undefined {
    this.dropCancelled();
    return this.heap.peek()?.at;
  }

  private dropCancelled(): void {
    while (this.heap.size > 0 && this.heap.peek()!.cancelled) this.heap.pop();
  }

  /**
   * Fires the timers due at the earliest pending instant (moving the time there), each followed by a
   * settle of the microtasks. Returns false when no timer is left.
   */
  async step(): Promise<boolean> {
    this.dropCancelled();
    const first = this.heap.peek();
    if (!first) return false;
    this.time = first.at;
    while (this.heap.size > 0 && this.heap.peek()!.at === this.time) {
      const t = this.heap.pop()!;
      if (t.cancelled) continue;
      if (t.every > 0) {
        t.at = this.time + t.every;
        t.seq = this.seq++;
        this.heap.push(t);
      } else {
        t.cancelled = true;
        this.live--;
      }
      this.fired++;
      t.fn();
    }
    await settle();
    return true;
  }

  /**
   * Runs until `done()` holds, the time passes `maxTime`, or no timer is left. Returns why it stopped.
   */
  async run(done: () => boolean, maxTime: number): Promise<'done' | 'timeout' | 'idle'> {
    await settle();
    for (;;) {
      if (done()) return 'done';
      const next = this.nextAt();
      if (next === undefined) return 'idle';
      if (next > maxTime) return 'timeout';
      await this.step();
    }
  }
}
