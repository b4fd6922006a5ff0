/**
 * A download killed with SIGKILL at about half way, then run again with the same command: the rerun
 * finds the verified pieces already on disk, fetches only what is missing, and ends byte-identical.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { freePort, jsonLines, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
let work: string;
let seeder: Seeder | undefined;

function run(args: string[], onLine: (l: Record<string, unknown>, kill: () => void) => void, timeoutMs: number) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: Record<string, unknown>[] }>(
    (resolve) => {
      const child = spawn(process.execPath, [BIN, 'run', ...args, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const kill = () => child.kill('SIGKILL');
      const lines = jsonLines(child.stdout, (l) => onLine(l, kill));
      const timer = setTimeout(kill, timeoutMs);
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, lines });
      });
    },
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-resume-'));
});
afterAll(async () => {
  await seeder?.stop();
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('resume after kill -9', () => {
  it('reruns to completion without refetching verified pieces', async () => {
    const size = 96 * 1024 * 1024;
    await mkdir(join(work, 'src'), { recursive: true });
    const fh = await open(join(work, 'src', 'resume.bin'), 'w');
    for (let i = 0; i < size; i += 8 << 20) await fh.write(randomBytes(Math.min(8 << 20, size - i)));
    await fh.close();
    const { torrent } = await createTorrent(join(work, 'src', 'resume.bin'), {
      pieceLength: 256 * 1024,
      creationDate: null,
    });
    const file = join(work, 'resume.torrent');
    await writeFile(file, torrent);
    const meta = parseMetainfo(torrent);
    const port = await freePort();
    // Slow enough to stop it half way: 16 MiB/s.
    seeder = await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work, uploadLimit: 16 * 1024 * 1024 });
    const out = join(work, 'out');
    const args = [file, '--out', out, '--peer', `127.0.0.1:${port}`];

    let killedAt = 0;
    const first = await run(
      args,
      (l, kill) => {
        if (l.event === 'progress' && (l.percent as number) >= 40 && !killedAt) {
          killedAt = l.percent as number;
          kill();
        }
      },
      120_000,
    );
    expect(first.signal).toBe('SIGKILL');
    expect(killedAt).toBeGreaterThanOrEqual(40);
    expect(killedAt).toBeLessThan(100);

    const second = await run(args, () => {}, 120_000);
    expect(second.code).toBe(0);
    const ready = second.lines.find((l) => l.event === 'ready') as { have: number; total: number };
    // Every piece verified before the kill is found on disk (at least what the last progress line showed).
    expect(ready.have).toBeGreaterThanOrEqual(Math.floor((killedAt / 100) * meta.pieceCount));
    const done = second.lines.at(-1) as { downloaded: number; complete: boolean };
    expect(done.complete).toBe(true);
    const missing = meta.length - ready.have * meta.pieceLength;
    // Only the missing pieces were fetched (a little slack for the endgame).
    expect(done.downloaded).toBeLessThanOrEqual(missing + 4 * meta.pieceLength);
    const a = createHash('sha256')
      .update(await readFile(join(work, 'src', 'resume.bin')))
      .digest('hex');
    const b = createHash('sha256')
      .update(await readFile(join(out, 'resume.bin')))
      .digest('hex');
    expect(b).toBe(a);
  });
});
