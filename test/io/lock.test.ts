/**
 * The download-folder lock (src/io/lock.ts): held by a live process → LockError BT_ERR_LOCKED naming
 * the pid; stale (a dead pid, unreadable content, this pid left by an earlier process) → taken over;
 * shared within one process; only our own lock is ever removed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock, lockHolder, LockError, lockPath } from '../../src/io/lock.js';

const HASH = 'ab'.repeat(20);
let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bt-actor-lock-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** A fresh folder and its lock path, with `content` planted as an existing lock when given. */
async function folder(content?: string): Promise<{ dir: string; path: string }> {
  const dir = join(root, `d${n++}`);
  const path = lockPath(dir, HASH);
  if (content !== undefined) {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
  return { dir, path };
}

describe('download-folder lock', () => {
  it('lives beside the resume file and holds our pid; release removes it and leaves no temporary file', async () => {
    const { dir, path } = await folder();
    expect(path).toBe(join(dir, '.bt-actor', `${HASH}.lock`));
    const lock = await acquireLock(path);
    expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
    expect(await readdir(dirname(path))).toEqual([`${HASH}.lock`]);
    lock.release();
    expect(existsSync(path)).toBe(false);
  });

  it('a lock held by another live process is refused with BT_ERR_LOCKED, its pid and the path; the lock stays', async () => {
    const other = process.ppid; // alive, and not us
    const { dir, path } = await folder(`${other}\n`);
    const err = await acquireLock(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(err).toMatchObject({ code: 'BT_ERR_LOCKED', pid: other, path, dir });
    expect((err as Error).message).toContain(`(pid ${other})`);
    expect(await lockHolder(path)).toBe(other);
    expect(await readFile(path, 'utf8')).toBe(`${other}\n`);
  });

  it('a stale lock is taken over: a dead pid, garbage, an empty file, our own pid from an earlier process', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    for (const content of [`${dead}\n`, 'garbage', '', `${process.pid}\n`]) {
      const { path } = await folder(content);
      expect(await lockHolder(path)).toBeUndefined();
      const lock = await acquireLock(path);
      expect(await readFile(path, 'utf8')).toBe(`${process.pid}\n`);
      lock.release();
      expect(existsSync(path)).toBe(false);
    }
  });

  it('holders in one process share the lock (also when taken at once); the last release removes it', async () => {
    const { path } = await folder();
    const [a, b] = await Promise.all([acquireLock(path), acquireLock(path)]);
    a!.release();
    a!.release(); // idempotent: b still holds it
    expect(existsSync(path)).toBe(true);
    b!.release();
    expect(existsSync(path)).toBe(false);
  });

  it('release never removes a lock that is not ours any more', async () => {
    const { path } = await folder();
    const lock = await acquireLock(path);
    await writeFile(path, `${process.ppid}\n`); // taken over meanwhile by another process
    lock.release();
    expect(await readFile(path, 'utf8')).toBe(`${process.ppid}\n`);
  });
});
