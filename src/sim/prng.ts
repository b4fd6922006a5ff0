/**
 * The simulator's randomness: one seeded generator (mulberry32, src/machines/random.ts) per purpose,
 * each forked from the run's seed by name, so adding a draw in one place does not shift every other
 * choice of the run.
 */
import { randomFrom } from '../machines/random.js';

/** A seeded source of numbers in [0, 1) with helpers. */
export class Prng {
  private readonly next: () => number;
  constructor(readonly seed: number) {
    this.next = randomFrom(seed);
  }
  random = (): number => this.next();
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** A number in [lo, hi). */
  between(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }
  /** A new generator for `name`, independent of how many draws this one has made. */
  fork(name: string): Prng {
    let h = this.seed ^ 0x9e3779b9;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
    return new Prng(h | 0);
  }
  /** A Fisher–Yates shuffle of a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const a = [...items];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}
