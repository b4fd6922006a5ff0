/**
 * Faults a user meets: a download folder on a read-only file system, and a disk that fills up during
 * the download. The folders are small tmpfs mounts made by the test (CI runs as root); where mounting
 * is refused the tests are skipped with a message.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { jsonLines } from '../support/proc.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
let dir: string;
let ro: string;
let small: string;
let mounted = false;
let why = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-faults-'));
  ro = join(dir, 'ro');
  await mkdir(ro);
  small = join(dir, 'small');
  await mkdir(small);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro], { encoding: 'utf8' });
  const n = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small], { encoding: 'utf8' });
  mounted = m.status === 0 && n.status === 0;
  why = (m.stderr || n.stderr || m.error?.message || '').trim();
});
afterAll(async () => {
  if (mounted) spawnSync('umount', [ro]);
  if (mounted) spawnSync('umount', [small]);
  await rm(dir, { recursive: true, force: true });
});

describe('faults', () => {
  it('a read-only download folder, or one to create under it: exit 2 with one line naming EROFS, before anything runs', async (ctx) => {
    if (!mounted) {
      console.warn(`skipped: cannot mount a read-only tmpfs here (${why || 'not root?'})`);
      ctx.skip();
    }
    await writeFile(join(dir, 'f.bin'), randomBytes(50_000));
    const { torrent } = await createTorrent(join(dir, 'f.bin'), { creationDate: null });
    await writeFile(join(dir, 'f.torrent'), torrent);
    const r = spawnSync(process.execPath, [BIN, 'run', join(dir, 'f.torrent'), '--out', ro, '--bind', '127.0.0.1'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^bt-actor run: cannot use .*: read-only file system \[EROFS\]$/m);
    expect(r.stdout).toBe('');
    // A folder to create under it: the cause is the read-only folder, not ENOENT.
    const sub = spawnSync(
      process.execPath,
      [BIN, 'run', join(dir, 'f.torrent'), '--out', join(ro, 'sub', 'deeper'), '--bind', '127.0.0.1'],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(sub.status).toBe(2);
    expect(sub.stderr.trim().split('\n')).toHaveLength(1);
    expect(sub.stderr).toMatch(
      /^bt-actor run: cannot create .*ro\/sub\/deeper: .*ro is not writable: read-only file system \[EROFS\]$/m,
    );
    expect(sub.stderr).not.toMatch(/ENOENT/);
    expect(sub.stdout).toBe('');
  });

  it("the torrent's data already in --out but read-only (a read-only bind mount): exit 2 naming the file, before anything runs", async (ctx) => {
    const mixed = join(dir, 'mixed');
    await mkdir(mixed, { recursive: true });
    const data = randomBytes(50_000);
    await writeFile(join(dir, 'g.bin'), data);
    const { torrent } = await createTorrent(join(dir, 'g.bin'), { creationDate: null });
    await writeFile(join(dir, 'g.torrent'), torrent);
    const target = join(mixed, 'g.bin');
    await writeFile(target, data.subarray(0, 10_000)); // a partial download: the run would write to it
    const bind = spawnSync('mount', ['--bind', target, target], { encoding: 'utf8' });
    const readOnly = bind.status === 0 && spawnSync('mount', ['-o', 'remount,bind,ro', target]).status === 0;
    if (!readOnly) {
      if (bind.status === 0) spawnSync('umount', [target]);
      console.warn(`skipped: cannot bind-mount a read-only file here (${bind.stderr.trim() || 'not root?'})`);
      ctx.skip();
    }
    try {
      const r = spawnSync(
        process.execPath,
        [BIN, 'run', join(dir, 'g.torrent'), '--out', mixed, '--bind', '127.0.0.1'],
        {
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(
        /^bt-actor run: cannot use .*mixed: .*mixed\/g\.bin is not writable: read-only file system \[EROFS\]$/m,
      );
      expect(r.stdout).toBe('');
    } finally {
      spawnSync('umount', [target]);
    }
  });

  it('the disk fills up: the download says so and waits; once there is room it completes, verified', async (ctx) => {
    if (!mounted) {
      console.warn(`skipped: cannot mount a small tmpfs here (${why || 'not root?'})`);
      ctx.skip();
    }
    const data = randomBytes(1024 * 1024);
    await writeFile(join(dir, 'big.bin'), data);
    const { torrent } = await createTorrent(join(dir, 'big.bin'), { pieceLength: 64 * 1024, creationDate: null });
    await writeFile(join(dir, 'big.torrent'), torrent);
    const seeder = await hostileSeeder(parseMetainfo(torrent), data, {});
    // 1.5 MiB of the 2 MiB taken: the download runs out of room halfway.
    const filler = join(small, 'filler');
    await writeFile(filler, Buffer.alloc(1536 * 1024));
    const out = join(small, 'out');
    try {
      const child = spawn(
        process.execPath,
        [BIN, 'run', join(dir, 'big.torrent'), '--out', out, '--peer', seeder.key, '--bind', '127.0.0.1', '--json'],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const lines = jsonLines(child.stdout, (l) => {
        if (l.event === 'diskFull') void rm(filler, { force: true }).catch(() => undefined); // room again (once)
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      clearTimeout(timer);
      expect(code, stderr).toBe(0);
      const events = lines.map((l) => l.event);
      expect(events).toContain('diskFull');
      expect(events.indexOf('diskOk')).toBeGreaterThan(events.indexOf('diskFull'));
      expect(events).not.toContain('error');
      expect(lines.find((l) => l.event === 'diskFull')?.message).toMatch(/ENOSPC/);
      expect(await readFile(join(out, 'big.bin'))).toEqual(data);
    } finally {
      await seeder.stop();
      await rm(out, { recursive: true, force: true });
    }
  }, 90_000);
});
