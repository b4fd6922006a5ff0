/**
 * Faults a user meets: a download folder on a read-only file system. The folder is a read-only tmpfs
 * mounted by the test (CI runs as root); where mounting is refused the test is skipped with a message.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
let dir: string;
let ro: string;
let mounted = false;
let why = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-faults-'));
  ro = join(dir, 'ro');
  await mkdir(ro);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', ro], { encoding: 'utf8' });
  mounted = m.status === 0;
  why = (m.stderr || m.error?.message || '').trim();
});
afterAll(async () => {
  if (mounted) spawnSync('umount', [ro]);
  await rm(dir, { recursive: true, force: true });
});

describe('faults', () => {
  it('a read-only download folder: exit 2 with one line, before anything runs', async (ctx) => {
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
    expect(r.stderr).toMatch(/cannot use .*: EROFS/);
  });
});
