/**
 * The download-folder lock: one bt-actor process at a time downloads (or seeds) a torrent in a folder.
 * Two processes writing the same files would each overwrite the other's pieces and resume file, and
 * they would even trade data with each other. The lock is `<dir>/.bt-actor/<info hash>.lock`, beside
 * the resume file ({@link RESERVED_NAME}), holding the owner's pid.
 *
 * - It is created atomically with its content (written to a temporary file, then `link`ed into place,
 *   which fails when a lock exists), so nobody ever reads a half-written lock.
 * - A lock whose pid is not a live process (a bt-actor killed with -9, a crash) is stale: it is
 *   taken over. A lock with unreadable content is stale too.
 * - Within one process the lock is shared: engines of the same process (the demo's seeders) may use
 *   the same folder; the file is removed when the last of them releases it, and on process exit.
 *
 * A pid reused by an unrelated process after a crash keeps the lock held; the refusal names the lock
 * file so the user can remove it.
 *
 * @example
 * const lock = await acquireLock(lockPath(dir, meta.infoHashHex)); // LockError BT_ERR_LOCKED if held
 * try { … } finally { lock.release(); }
 */
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { BtError } from '../protocol/errors.js';
import { RESERVED_NAME } from './resume.js';

/** The folder is in use by another live bt-actor process for the same torrent. */
export class LockError extends BtError {
  override readonly name = 'LockError';
  override readonly code = 'BT_ERR_LOCKED' as const;
  constructor(
    /** The lock file. */
    readonly path: string,
    /** The process holding it. */
    readonly pid: number,
    /** The download folder. */
    readonly dir: string,
  ) {
    super(
      'BT_ERR_LOCKED',
      `${dir} is in use for this torrent by another bt-actor (pid ${pid}); if no such process runs, remove ${path}`,
    );
  }
}

export interface DirLock {
  readonly path: string;
  /** Removes the lock once every holder in this process released it. Idempotent per holder. */
  release(): void;
}

/** Where the lock of a torrent in `dir` lives: `<dir>/.bt-actor/<info hash>.lock`. */
export function lockPath(dir: string, infoHashHex: string): string {
  return join(dir, RESERVED_NAME, `${infoHashHex}.lock`);
}

/** Locks this process holds (or is taking): path → holders and the taking. */
const held = new Map<string, { count: number; taken: Promise<void> }>();
let exitHook = false;

/** Removes the lock at `path` if it is this process's (never one a takeover put there). Synchronous: no take can interleave. */
function removeOwnSync(path: string): void {
  try {
    if (parsePid(readFileSync(path, 'utf8')) === process.pid) unlinkSync(path);
  } catch {
    /* gone already */
  }
}

/** On exit (a second Ctrl-C exits at once), the locks still held are removed. */
function removeAllSync(): void {
  for (const path of held.keys()) removeOwnSync(path);
  held.clear();
}

function hookExit(on: boolean): void {
  if (on === exitHook) return;
  exitHook = on;
  if (on) process.on('exit', removeAllSync);
  else process.off('exit', removeAllSync);
}

function parsePid(text: string): number | undefined {
  const m = /^(\d+)\n?$/.exec(text);
  const pid = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** Whether `pid` is a live process (one we may not signal is alive too). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The pid of the live process holding the lock at `path`, other than this one; undefined when the lock
 * is free, stale or ours. Never throws (an unreadable lock counts as free: acquiring it will tell).
 */
export async function lockHolder(path: string): Promise<number | undefined> {
  let pid: number | undefined;
  try {
    // A read of a few bytes, done at once: the CLI asks before it starts anything (no thread-pool round
    // trip before the first announce: docs/performance.md, Profiles, start-up).
    pid = parsePid(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  if (pid === undefined || pid === process.pid || !alive(pid)) return undefined;
  return pid;
}

/**
 * Takes the lock at `path` for this process: `LockError` (`BT_ERR_LOCKED`) when another live process
 * holds it; a stale lock is taken over. File-system errors (a read-only folder…) are thrown as they come.
 */
export async function acquireLock(path: string, dir = dirname(dirname(path))): Promise<DirLock> {
  let entry = held.get(path);
  if (entry) entry.count++;
  else {
    entry = { count: 1, taken: create(path, dir) };
    held.set(path, entry);
    hookExit(true);
  }
  try {
    await entry.taken;
  } catch (err) {
    drop(path);
    throw err;
  }
  let released = false;
  return {
    path,
    release: () => {
      if (released) return;
      released = true;
      if (drop(path)) removeOwnSync(path);
    },
  };
}

/** One holder less; true when it was the last. */
function drop(path: string): boolean {
  const entry = held.get(path);
  if (!entry) return false;
  if (--entry.count > 0) return false;
  held.delete(path);
  if (held.size === 0) hookExit(false);
  return true;
}

async function create(path: string, dir: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${process.pid}\n`);
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, path).catch(async (err: NodeJS.ErrnoException) => {
          // A file system without hard links: exclusive create (a reader may then see it empty for an instant).
          if (err.code === 'EEXIST' || err.code === 'EROFS' || err.code === 'EACCES') throw err;
          await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
        });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
      }
      const pid = await readFile(path, 'utf8').then(parsePid, () => undefined);
      // Held by a live process: refused. (Our own pid, not in `held`: left by an earlier process
      // that had this pid — stale.)
      if (pid !== undefined && pid !== process.pid && alive(pid)) throw new LockError(path, pid, dir);
      await rm(path, { force: true });
    }
  } finally {
    await rm(tmp, { force: true });
  }
}
