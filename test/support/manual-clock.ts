import type { Clock, TimerId } from '../../src/io/clock.js';

/** A synchronous manual clock: `advanceTo` fires the due timers in time order. */
export class ManualClock implements Clock {
  time = 0;
  private timers: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;
  now = () => this.time;
  setTimeout = (fn: () => void, ms: number): TimerId => {
    const t = { at: this.time + ms, seq: this.seq++, fn };
    this.timers.push(t);
    return t;
  };
  clearTimeout = (id: TimerId | undefined) => void (this.timers = this.timers.filter((t) => t !== id));
  setInterval = (): TimerId => {
    throw new Error('not used');
  };
  clearInterval = () => undefined;
  setBackgroundTimeout = (fn: () => void, ms: number) => this.setTimeout(fn, ms);
  get pending() {
    return this.timers.length;
  }
  /** Fires every timer due by `end` (those they set too), then sets the time to `end`. */
  advanceTo(end: number): void {
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.timers.shift();
      this.time = Math.max(this.time, t.at);
      t.fn();
    }
    this.time = end;
  }
}
