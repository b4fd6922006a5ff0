// `bt-actor run --select / --exclude / --sequential` (issue 17) and the file indexes `bt-actor info` shows.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileIndexList, UsageError } from '../../src/app/args.js';
import { main } from '../../src/app/cli.js';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { freePort } from '../support/proc.js';

const exec = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), errLines: err };
}

let work: string;
let torrentPath: string;
let src: string;
const files = { a: randomBytes(100_000), b: randomBytes(150_000), c: randomBytes(90_000) };
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-cli-select-'));
  src = join(work, 'src');
  await mkdir(join(src, 'set'), { recursive: true });
  for (const [name, data] of Object.entries(files)) await writeFile(join(src, 'set', name), data);
  const { torrent } = await createTorrent(join(src, 'set'), { pieceLength: 64 * 1024 });
  torrentPath = join(work, 'set.torrent');
  await writeFile(torrentPath, torrent);
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('file index lists', () => {
  it('takes indexes and ranges, sorted and each once; refuses the rest with our message', () => {
    expect(fileIndexList('select', '0,3-5', 6)).toEqual([0, 3, 4, 5]);
    expect(fileIndexList('select', '2, 1,1-2', 3)).toEqual([1, 2]);
    const mistake = (text: string, count: number) => {
      try {
        fileIndexList('select', text, count);
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
      }
      throw new Error('expected a UsageError');
    };
    expect(mistake('3', 3)).toBe('--select: file 3 is out of range (the torrent has 3 files: 0-2)');
    expect(mistake('0-9', 1)).toBe('--select: file 9 is out of range (the torrent has 1 file: 0)');
    expect(mistake('2-1', 3)).toBe('--select: the range 2-1 runs backwards');
    expect(mistake('a', 3)).toBe("--select takes file indexes like 0,3-5, not 'a'");
    expect(mistake('', 3)).toBe("--select takes file indexes like 0,3-5, not ''");
  });
});

describe('bt-actor run --select / --exclude', () => {
  it('info numbers the files as --select takes them', async () => {
    const r = await cli('info', torrentPath);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ {2}0 .* set\/a$/m);
    expect(r.out).toMatch(/^ {2}2 .* set\/c$/m);
  });

  it('refuses an index out of range, both options, or a malformed list for a magnet link: one line, exit 2', async () => {
    const cases: [string[], string][] = [
      [
        ['run', torrentPath, '--select', '3'],
        'bt-actor run: --select: file 3 is out of range (the torrent has 3 files: 0-2)',
      ],
      [
        ['run', torrentPath, '--exclude', '0,7'],
        'bt-actor run: --exclude: file 7 is out of range (the torrent has 3 files: 0-2)',
      ],
      [
        ['run', torrentPath, '--select', '0', '--exclude', '1'],
        'bt-actor run: --select and --exclude cannot be given together',
      ],
      [
        ['run', `magnet:?xt=urn:btih:${'ab'.repeat(20)}`, '--select', '0-x'],
        "bt-actor run: --select takes file indexes like 0,3-5, not '0-x'",
      ],
    ];
    for (const [argv, line] of cases) {
      const r = await cli(...argv, '--out', join(work, 'refused'));
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.errLines[0]).toBe(line);
    }
  });

  it('run --select 1 downloads file 1 byte-identical and completes with exit 0 (progress counts only it)', async () => {
    const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      const seed = await seeder.add(torrentPath, { dir: src });
      await seed.completed;
      const out = join(work, 'out');
      const port = await freePort();
      const { stdout } = await exec(
        process.execPath,
        [
          BIN,
          'run',
          torrentPath,
          '--out',
          out,
          '--select',
          '1',
          '--sequential',
          '--peer',
          `127.0.0.1:${seeder.port}`,
          '--port',
          String(port),
          '--json',
        ],
        { timeout: 30_000 },
      );
      expect(Buffer.from(await readFile(join(out, 'set', 'b'))).equals(files.b)).toBe(true);
      // No other file of the torrent: the bytes of a and c in shared pieces are in the part file.
      expect(await readdir(join(out, 'set'))).toEqual(['b']);
      const lines = stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const done = lines.find((l) => l.event === 'done')!;
      expect(done).toMatchObject({ complete: true, length: 340_000 });
      // The pieces that hold bytes of b: 64 KiB pieces 1..3 (b is bytes 100,000–249,999).
      expect(done.wanted).toBe(3 * 65536);
      const last = lines.filter((l) => l.event === 'progress').at(-1)!;
      expect(last).toMatchObject({ percent: 100, left: 0 });
    } finally {
      await seeder.close();
    }
  }, 60_000);

  it('a magnet link takes --select: applied once the metadata arrives, only file 1 created; an index past the last file is refused then', async () => {
    const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      const seed = await seeder.add(torrentPath, { dir: src });
      await seed.completed;
      const link = `magnet:?xt=urn:btih:${seed.infoHash}&x.pe=127.0.0.1:${seeder.port}`;
      const out = join(work, 'magnet-out');
      const r = await cli('run', link, '--out', out, '--select', '1', '--port', String(await freePort()), '--json');
      expect(r.code, r.errLines.join('\n')).toBe(0);
      expect(Buffer.from(await readFile(join(out, 'set', 'b'))).equals(files.b)).toBe(true);
      expect(await readdir(join(out, 'set'))).toEqual(['b']);
      const done = r.out
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.event === 'done');
      expect(done).toMatchObject({ complete: true, length: 340_000, wanted: 3 * 65536 });
      // --exclude 0,2 of a magnet link: the same file alone.
      const out2 = join(work, 'magnet-exclude');
      const e = await cli('run', link, '--out', out2, '--exclude', '0,2', '--port', String(await freePort()), '-q');
      expect(e.code, e.errLines.join('\n')).toBe(0);
      expect(await readdir(join(out2, 'set'))).toEqual(['b']);
      // An index the torrent does not have: known once the metadata came; one line, exit 2.
      const bad = await cli(
        'run',
        link,
        '--out',
        join(work, 'magnet-bad'),
        '--select',
        '1,5',
        '--port',
        String(await freePort()),
        '-q',
      );
      expect(bad.code).toBe(2);
      expect(bad.errLines).toContain('bt-actor: --select: file 5 is out of range (the torrent has 3 files: 0-2)');
    } finally {
      await seeder.close();
    }
  }, 60_000);
});
