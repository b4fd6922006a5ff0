/**
 * V8's young generation, held at its first size while `bt-actor run` downloads and let grow again once
 * the download is complete (docs/performance.md, "The young generation held while downloading").
 *
 * Under a high allocation rate V8 doubles the young generation after a scavenge, from 1 MiB semi-spaces
 * to 16 MiB ones (32 MiB in all), and that memory stays. A download allocates fast but keeps little
 * (piece buffers are reused: docs/machines/torrent.md), so holding it at its first size (a growth factor
 * of 1, read by V8 at each growth) took ~30 MB off the peak RSS of a 1 GiB download and of one over
 * 2,000 files, at no cost to its speed or CPU — but a seeder held so was 20–30 % slower for a libtorrent
 * leecher (its reads and sends allocate more that lives a little longer), hence the hold ends at
 * completion (a `--seed` run seeds with V8's defaults).
 *
 * V8 records the flags a code cache was made with and refuses it under others: the launcher compiles
 * the bundle with V8's defaults, so the cache is written under them too ({@link withDefaultHeapFlags}).
 *
 * Only the CLI does this: an embedder's process keeps the V8 flags it chose.
 */
import { setFlagsFromString } from 'node:v8';

/** V8's own growth factor (`node --v8-options`: `--semi-space-growth-factor`, default 2). */
const DEFAULT_GROWTH = 2;

let held = false;

/** Holds the young generation at its present size (true) or lets V8 grow it as it does by default. */
export function holdYoungGeneration(hold: boolean): void {
  if (hold === held) return;
  held = hold;
  setFlagsFromString(`--semi-space-growth-factor=${hold ? 1 : DEFAULT_GROWTH}`);
}

/**
 * Runs `fn` with V8's default flags (the hold lifted for its duration), for writing the code cache:
 * a cache made under other flags than the next start's is refused.
 */
export function withDefaultHeapFlags<T>(fn: () => T): T {
  const was = held;
  holdYoungGeneration(false);
  try {
    return fn();
  } finally {
    holdYoungGeneration(was);
  }
}
