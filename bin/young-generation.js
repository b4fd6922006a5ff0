'use strict';
// V8's young generation (the new space, two semi-spaces) grows with the allocation rate from 2 MiB to
// 32 MiB: a fast download pays ~30 MB of peak RSS for it (docs/performance.md, Targets (issue 18)). The
// semi-spaces' sizes can be set only on Node's command line, but the factor by which V8 grows them is
// read at each growth, so it can be changed at run time: 1 once the new space has reached the cap (no
// further growth), V8's 2 while it is below (after an idle spell V8 shrinks it; it must be able to grow
// back). A new space held at its initial 2 MiB costs a seeder 40 % more CPU (measured); at 8 MiB it
// costs nothing measurable and saves 20-30 MB. The check runs after garbage collections (a `gc`
// performance observer: a few microseconds, read from V8's heap statistics).
const { PerformanceObserver } = require('node:perf_hooks');
const v8 = require('node:v8');

/** V8's own growth factor (`--semi-space-growth-factor`), restored below the cap. */
const V8_FACTOR = 2;
/** The cap: two 4 MiB semi-spaces (as `node --max-semi-space-size=4`). */
const DEFAULT_CAP = 8 * 1024 * 1024;

/** The new space's current size in bytes (both semi-spaces). */
function newSpaceSize() {
  for (const space of v8.getHeapSpaceStatistics()) if (space.space_name === 'new_space') return space.space_size;
  return 0;
}

/**
 * Caps the new space at `cap` bytes from now on (a power of two times V8's initial size). Returns
 * `withV8Flags(fn)`, which runs `fn` with V8's flags as they were before the cap (V8's code cache
 * records the flags it is made with and is refused by a process whose flags differ), and `stop()`.
 */
function capYoungGeneration(cap = DEFAULT_CAP) {
  let factor = V8_FACTOR;
  const setFactor = (f) => {
    if (f === factor) return;
    factor = f;
    v8.setFlagsFromString(`--semi-space-growth-factor=${f}`);
  };
  const check = () => setFactor(newSpaceSize() >= cap ? 1 : V8_FACTOR);
  const observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ['gc'] });
  return {
    withV8Flags(fn) {
      const now = factor;
      setFactor(V8_FACTOR);
      try {
        return fn();
      } finally {
        setFactor(now);
      }
    },
    stop() {
      observer.disconnect();
      setFactor(V8_FACTOR);
    },
  };
}

/** Whether the user's own Node flags (command line or NODE_OPTIONS) say something of the semi-spaces. */
function userSetsSemiSpace(execArgv = process.execArgv, env = process.env) {
  return /semi-space/.test(`${execArgv.join(' ')} ${env.NODE_OPTIONS ?? ''}`);
}

module.exports = { capYoungGeneration, newSpaceSize, userSetsSemiSpace, DEFAULT_CAP };
