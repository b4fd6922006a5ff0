/**
 * The clock seam: every reading of the time and every timer of the engine goes through a {@link Clock}
 * (the engine's `runtime.clock`; {@link realClock} by default). The swarm simulator (src/sim) provides a
 * virtual one, so a whole swarm runs in virtual time. It is also XState's actor clock
 * (`createActor(logic, { clock })`): the statecharts' delays run on it too.
 *
 * This module and src/io/transport.ts are the only places in src/ (the browser inspector aside) allowed
 * to touch `Date.now`, `setTimeout`, `setInterval`, `performance.now` or `Math.random` (eslint.config.js).
 *
 * @example
 * const t = realClock.setTimeout(() => console.log(realClock.now()), 1000);
 * realClock.clearTimeout(t);
 */

/** A timer handle, opaque to its user. */
export type TimerId = unknown;

export interface Clock {
  /** Milliseconds since an epoch (the Unix epoch for the real clock; the simulation's start for a virtual one). */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId | undefined): void;
  setInterval(fn: () => void, ms: number): TimerId;
  clearInterval(id: TimerId | undefined): void;
  /**
   * A timer that does not keep the process alive (the real clock `unref`s it); the same as
   * `setTimeout` for a virtual clock.
   */
  setBackgroundTimeout(fn: () => void, ms: number): TimerId;
}

/** A source of randomness in [0, 1): `Math.random` for real, a seeded generator in the simulator. */
export type Random = () => number;

/** Node's own timers and the wall clock. */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (id) => clearInterval(id as NodeJS.Timeout | undefined),
  setBackgroundTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
};

/** `Math.random`: the engine's default randomness (peer ids excepted: those come from crypto). */
export const realRandom: Random = () => Math.random();

/** A monotonic reading in milliseconds (for measuring durations, not for dates). */
export const monotonicNow = (): number => performance.now();

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/** Lets a real timer not keep the process alive (nothing for a virtual one). */
export function unrefTimer(id: TimerId): void {
  (id as { unref?: () => void } | undefined)?.unref?.();
}
