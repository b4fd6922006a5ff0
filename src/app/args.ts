/**
 * The command line's argument parser: our own, so that every mistake gets our own one-line message
 * (`unknown option --ot (did you mean --out?)`, `--out needs a value`, `--max-peers must be a whole
 * number ≥ 1, not '-3'`) instead of Node's `parseArgs` text. Long options take `--opt value` or
 * `--opt=value`; short ones `-o value`, `-ovalue`, and booleans group (`-pq`); `--` ends the options.
 * A string option's value may start with `-` when it is a number (`--max-peers -3` is the value -3,
 * refused by the number check, not an unknown option `-3`); any other value starting with `-` needs `=`.
 */
import { BtError } from '../protocol/errors.js';

/** A mistake on the command line: the CLI prints the message on one line and exits 2. */
export class UsageError extends BtError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('BT_ERR_USAGE', message);
  }
}

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  /** Repeatable: the values are collected in order. */
  multiple?: boolean;
  /** A string option given bare (`--inspect`) has this value; another value then needs `=`. */
  bare?: string;
}
export type OptionSpecs = Record<string, OptionSpec>;

export type ParsedValues<O extends OptionSpecs> = {
  [K in keyof O]?: O[K] extends { multiple: true } ? string[] : O[K] extends { type: 'boolean' } ? boolean : string;
};

export interface Parsed<O extends OptionSpecs> {
  values: ParsedValues<O>;
  positionals: string[];
}

/** A number given as a value: `-3`, `-0.5`, `-.5` (a value, never an option). */
const NUMBER = /^-(\d|\.\d)/;

/** Parses `args` against `specs`; throws a {@link UsageError} on the first mistake. */
export function parseArguments<O extends OptionSpecs>(args: readonly string[], specs: O): Parsed<O> {
  const values: Record<string, string | boolean | string[]> = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])));
  const set = (name: string, value: string | boolean) => {
    if (specs[name]!.multiple) ((values[name] ??= []) as string[]).push(value as string);
    else values[name] = value;
  };
  let i = 0;
  /** The value of string option `shown` (as the user wrote it): `inline` when given with `=`, else the next argument. */
  const valueOf = (name: string, shown: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const bare = specs[name]!.bare;
    if (bare !== undefined) return bare;
    const next = args[i + 1];
    if (next === undefined) throw new UsageError(`${shown} needs a value`);
    if (next.startsWith('-') && next.length > 1 && !NUMBER.test(next))
      throw new UsageError(
        `${shown} needs a value, not the option ${next} (write ${shown}=VALUE for a value starting with -)`,
      );
    i++;
    return next;
  };
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const inline = eq < 0 ? undefined : a.slice(eq + 1);
      const spec = Object.hasOwn(specs, name) ? specs[name]! : undefined;
      if (!spec) throw new UsageError(`unknown option --${name}${suggest(name, Object.keys(specs), '--')}`);
      if (spec.type === 'boolean') {
        if (inline !== undefined) throw new UsageError(`--${name} takes no value (got --${name}=${inline})`);
        set(name, true);
      } else set(name, valueOf(name, `--${name}`, inline));
      continue;
    }
    if (a.startsWith('-') && a.length > 1 && !NUMBER.test(a)) {
      const word = a.slice(1).split('=')[0]!;
      // `-out`, `-seed`: a long option written with one dash, not a cluster of short ones.
      if (word.length > 1 && Object.hasOwn(specs, word))
        throw new UsageError(`unknown option ${a} (did you mean --${word}?)`);
      for (let c = 1; c < a.length; c++) {
        const letter = a[c]!;
        const name = byShort.get(letter);
        if (name === undefined) {
          const hint = c === 1 && word.length > 1 ? suggest(word, Object.keys(specs), '--') : '';
          throw new UsageError(`unknown option -${letter}${c > 1 ? ` (in ${a})` : ''}${hint}`);
        }
        if (specs[name]!.type === 'boolean') {
          set(name, true);
          continue;
        }
        // The rest of the cluster is the value (`-ofile`, `-o=file`), else the next argument.
        const rest = a.slice(c + 1);
        set(name, valueOf(name, `-${letter}`, rest === '' ? undefined : rest.replace(/^=/, '')));
        break;
      }
      continue;
    }
    positionals.push(a);
  }
  return { values: values as ParsedValues<O>, positionals };
}

/**
 * The edit distance of `a` and `b` counting an insertion, a deletion, a substitution or a swap of two
 * neighbours as one edit (optimal string alignment): `rnu` → `run` is 1, `ot` → `out` is 1.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/**
 * The nearest of `candidates` to `word`: within a third of the longer word's length (at least one
 * edit), or the only candidate `word` begins (`--max` → `--max-peers`); undefined when none is near.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(word.toLowerCase(), c);
    if (dist <= Math.max(1, Math.floor(Math.max(word.length, c.length) / 3)) && dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  if (best !== undefined) return best;
  const prefixed = word.length >= 2 ? candidates.filter((c) => c.startsWith(word)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** ` (did you mean --out?)` for the nearest candidate, or ''. */
export function suggest(word: string, candidates: readonly string[], prefix = ''): string {
  const n = nearest(word, candidates);
  return n === undefined ? '' : ` (did you mean ${prefix}${n}?)`;
}

/**
 * The value of a numeric option that must be a whole number in [min, max]; `fallback` when not given.
 * Throws `--port must be a whole number from 1 to 65535, not '70000'`.
 */
export function wholeNumber(
  name: string,
  text: string | undefined,
  fallback: number,
  min: number,
  max?: number,
): number {
  if (text === undefined) return fallback;
  const n = /^[+-]?\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max)) return n;
  const range = max === undefined ? `≥ ${min}` : `from ${min} to ${max}`;
  throw new UsageError(`--${name} must be a whole number ${range}, not '${text}'`);
}

/** The value of a numeric option that must be a number ≥ min (or > min when `exclusive`); `fallback` when not given. */
export function decimalNumber(
  name: string,
  text: string | undefined,
  fallback: number | undefined,
  min: number,
  what = 'a number',
  exclusive = false,
): number | undefined {
  if (text === undefined) return fallback;
  const n = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (exclusive ? n > min : n >= min) return n;
  throw new UsageError(`--${name} must be ${what} ${exclusive ? '>' : '≥'} ${min}, not '${text}'`);
}

/**
 * The file indexes of `--select` / `--exclude`: a comma-separated list of indexes and ranges (`0,3-5`),
 * counted from 0 as `bt-actor info` lists files; each must be below `count` (the torrent's files).
 * Returns them sorted, each once. Throws `--select: file 7 is out of range (the torrent has 3 files: 0-2)`.
 */
export function fileIndexList(name: string, text: string, count: number): number[] {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new UsageError(`--${name} takes file indexes like 0,3-5, not '${text}'`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new UsageError(`--${name}: the range ${part.trim()} runs backwards`);
    for (const i of [from, to])
      if (!Number.isSafeInteger(i) || i >= count)
        throw new UsageError(
          `--${name}: file ${i} is out of range (the torrent has ${count} file${count === 1 ? '' : 's'}: ${count === 1 ? '0' : `0-${count - 1}`})`,
        );
    for (let i = from; i <= to; i++) out.add(i);
  }
  return [...out].sort((a, b) => a - b);
}
