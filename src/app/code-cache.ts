/**
 * Loads the CLI bundle (dist/app/cli.bundle.js) through `node:vm` with a V8 code cache, so that a start
 * of `bt-actor` does not parse and compile the 0.9 MB bundle again (Node 20 has no module compile
 * cache). See docs/performance.md (Profiles, "Start-up").
 *
 * The bundle is a script holding one function expression (scripts/build-cli.mjs wraps esbuild's
 * CommonJS output): `(function (exports, require, module, __filename, __dirname, __btImportMetaUrl,
 * __btImport) { … })`. Running it gives the function; calling it fills `module.exports`.
 *
 * The cache is a file per command (`run`, `info` …: each holds the functions its command compiled):
 * beside the bundle when that folder is writable, else in the per-user cache folder
 * (`$XDG_CACHE_HOME/bt-actor` or `~/.cache/bt-actor`), never in the current directory. It is trusted only
 * when its header matches: a magic, the SHA-256 of the bundle's bytes with the Node version, V8 version
 * and architecture (V8 itself checks only the source's length), and the SHA-256 of the cached data.
 * Anything else (missing, stale, corrupt, rejected by V8) is ignored: the bundle is compiled from its
 * source and the cache written again by `save()`. A folder that cannot be written is no error: no cache.
 *
 * @example
 * const cli = loadBundle('/opt/bt-actor/dist/app/cli.bundle.js', { label: 'run' });
 * const { main } = cli.exports as { main: (argv: string[]) => Promise<number> };
 * setTimeout(() => cli.save(), 1000).unref();
 */
import { isAscii } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';

/** First bytes of a cache file (format version 1). */
const MAGIC = Buffer.from('BTV8CC01', 'latin1');
const HASH_BYTES = 32;
const HEADER_BYTES = MAGIC.length + 2 * HASH_BYTES;
/** Commands with a cache of their own; any other first argument shares `other`. */
const LABELS = new Set(['run', 'info', 'create', 'demo', 'help', 'other']);

/**
 * What happened to the cache at load: `used` (V8 took it), `missing` (no file), `stale` (made for another
 * bundle or Node), `corrupt` (bad magic, size or checksum), `rejected` (V8 refused it), `off` (disabled).
 */
export type CacheStatus = 'used' | 'missing' | 'stale' | 'corrupt' | 'rejected' | 'off';

export interface LoadOptions {
  /** Which cache (the command); default `other`. Unknown labels share `other`. */
  label?: string;
  /** Folders the cache may live in, tried in order; default {@link defaultCacheDirs}. */
  dirs?: readonly string[];
  /** false: compile from source, read and write no cache (`BT_ACTOR_NO_CODE_CACHE=1`). */
  enabled?: boolean;
}

export interface LoadedBundle {
  /** What the bundle's function put in `module.exports`. */
  exports: Record<string, unknown>;
  status: CacheStatus;
  /** The cache file read (status `used`), or undefined. */
  file: string | undefined;
  /**
   * Writes the cache if it was not used (once; later calls do nothing). Best after the command has
   * run a while, so the cache holds the functions it compiled. Returns the file written, or undefined
   * (nothing to do, or no folder could be written). Never throws.
   */
  save(): string | undefined;
}

/** Beside the bundle, then the per-user cache folder (relative or missing variables are ignored). */
export function defaultCacheDirs(bundle: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs = [dirname(bundle)];
  const xdg = env.XDG_CACHE_HOME;
  let home: string | undefined;
  try {
    home = env.HOME ?? homedir();
  } catch {
    home = undefined;
  }
  const base = xdg && isAbsolute(xdg) ? xdg : home && isAbsolute(home) ? join(home, '.cache') : undefined;
  if (base !== undefined) dirs.push(join(base, 'bt-actor'));
  return dirs;
}

/** The cache's file name in `dir`: beside the bundle its own name; elsewhere also keyed by its path. */
export function cacheFileName(bundle: string, dir: string, label: string): string {
  if (dir === dirname(bundle)) return join(dir, `${basename(bundle)}.${label}.v8cache`);
  const where = createHash('sha256').update(bundle).digest('hex').slice(0, 16);
  return join(dir, `${basename(bundle)}.${where}.${label}.v8cache`);
}

/** Reads, compiles (with the cache when it is valid) and runs the bundle at `bundle` (an absolute path). */
export function loadBundle(bundle: string, options: LoadOptions = {}): LoadedBundle {
  const label = LABELS.has(options.label ?? '') ? options.label! : 'other';
  const enabled = options.enabled ?? true;
  const bytes = readFileSync(bundle);
  // esbuild writes ASCII (non-ASCII characters escaped): decoded as Latin-1, a copy into a one-byte
  // string, a few ms less than UTF-8 decoding of the 0.9 MB at every start; any other bundle as UTF-8.
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const dirs = enabled ? (options.dirs ?? defaultCacheDirs(bundle)) : [];
  const files = dirs.map((dir) => cacheFileName(bundle, dir, label));
  const key = enabled ? cacheKey(bytes) : Buffer.alloc(0);

  let status: CacheStatus = enabled ? 'missing' : 'off';
  let cachedData: Buffer | undefined;
  let file: string | undefined;
  // The first valid cache wins; else the status says what was wrong with the first one found.
  for (const candidate of files) {
    const read = readCache(candidate, key);
    if (read.data) {
      [status, cachedData, file] = ['used', read.data, candidate];
      break;
    }
    if (status === 'missing') status = read.status;
  }

  const script = new Script(source, { filename: bundle, ...(cachedData && { cachedData }) });
  if (cachedData && script.cachedDataRejected) {
    status = 'rejected';
    file = undefined;
  }
  const fn = script.runInThisContext() as (...args: unknown[]) => void;
  const url = pathToFileURL(bundle).href;
  const module = { exports: {} as Record<string, unknown> };
  const dynamicImport = (specifier: string): Promise<unknown> => import(new URL(specifier, url).href);
  fn(module.exports, createRequire(bundle), module, bundle, dirname(bundle), url, dynamicImport);

  let saved = status === 'used' || status === 'off';
  return {
    exports: module.exports,
    status,
    file,
    save() {
      if (saved) return undefined;
      saved = true;
      let data: Buffer;
      try {
        data = script.createCachedData();
      } catch {
        return undefined;
      }
      const contents = encode(key, data);
      return files.find((candidate) => writeAtomically(candidate, contents));
    },
  };
}

/** A cache file's bytes: V8's cached `data` for the bundle whose bytes are `bundleBytes`. */
export function encodeCacheFile(bundleBytes: Buffer, data: Buffer): Buffer {
  return encode(cacheKey(bundleBytes), data);
}

function encode(key: Buffer, data: Buffer): Buffer {
  return Buffer.concat([MAGIC, key, sha256(data), data]);
}

function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The bundle's bytes and the runtime that compiled them: a cache made for anything else is stale. */
function cacheKey(bytes: Buffer): Buffer {
  return createHash('sha256')
    .update(bytes)
    .update(`\0${process.version}\0${process.versions.v8}\0${process.arch}\0${process.platform}`)
    .digest();
}

function readCache(file: string, key: Buffer): { status: CacheStatus; data?: Buffer } {
  let contents: Buffer;
  try {
    contents = readFileSync(file);
  } catch {
    return { status: 'missing' };
  }
  if (contents.length <= HEADER_BYTES || !contents.subarray(0, MAGIC.length).equals(MAGIC)) {
    return { status: 'corrupt' };
  }
  const storedKey = contents.subarray(MAGIC.length, MAGIC.length + HASH_BYTES);
  if (!storedKey.equals(key)) return { status: 'stale' };
  const storedSum = contents.subarray(MAGIC.length + HASH_BYTES, HEADER_BYTES);
  const data = contents.subarray(HEADER_BYTES);
  if (!sha256(data).equals(storedSum)) return { status: 'corrupt' };
  return { status: 'used', data };
}

/** Writes `contents` to a temporary file beside `file`, then renames it: readers see all or nothing. */
function writeAtomically(file: string, contents: Buffer): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, contents);
    renameSync(tmp, file);
    return true;
  } catch {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // A read-only folder: nothing was written.
    }
    return false;
  }
}
