/**
 * A seeded pseudo-random generator as a pure function of its state (mulberry32), so a machine keeps
 * its randomness in context: `const [x, rng] = nextRandom(context.rng)` gives a number in [0, 1) and
 * the state to assign. The same seed always gives the same choices.
 */

/** One step: a number in [0, 1) and the next state. */
export function nextRandom(state: number): [number, number] {
  const s = (state + 0x6d2b79f5) | 0;
  let t = Math.imul(s ^ (s >>> 15), 1 | s);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return [((t ^ (t >>> 14)) >>> 0) / 4294967296, s];
}

/** A stateful generator over {@link nextRandom}, for the plain modules that take `() => number` (the picker). */
export function randomFrom(seed: number): () => number {
  let s = seed | 0;
  return () => {
    const [x, next] = nextRandom(s);
    s = next;
    return x;
  };
}

/** A 32-bit seed from a source of randomness (e.g. `Math.random`, or a seeded generator in tests). */
export function seedFrom(random: () => number): number {
  return Math.floor(random() * 0x100000000) | 0;
}
