/**
 * `--limit-down RATE` / `--limit-up RATE`: a rate in bytes per second, written as a number with an
 * optional unit and an optional `/s`. Binary units: `K`, `Ki`, `KiB` (1024), `M`, `Mi`, `MiB`, `G`,
 * `Gi`, `GiB` (bare letters are binary, as in aria2 and `--piece-length`); decimal ones: `kB`/`KB`
 * (1000), `MB`, `GB`; `B` or nothing: bytes. Case does not matter. `0` is no limit.
 */
import { UsageError } from './args.js';

/** The least limit accepted besides 0: a rate below one block per 16 s is not a useful limit. */
export const MIN_RATE = 1024;

const UNIT: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  ki: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

/**
 * The bytes per second `text` says (rounded to a whole byte), or undefined when it is not a rate.
 *
 * @example parseRate('2MiB') // 2097152
 * @example parseRate('1.5MB/s') // 1500000
 */
export function parseRate(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*(?:\/\s*s)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = UNIT[m[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const n = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * The value of option `--name` as a rate in bytes per second; `undefined` when not given. Throws a
 * {@link UsageError} (one line, exit 2) when it is not a rate, or a rate under {@link MIN_RATE} but 0.
 */
export function rateOption(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = parseRate(text);
  if (n !== undefined && (n === 0 || n >= MIN_RATE)) return n;
  throw new UsageError(
    `--${name} takes bytes per second like 2MiB, 500KiB, 1.5MB or 65536 (at least 1KiB; 0 for no limit), not '${text}'`,
  );
}
