/**
 * A torrent with awkward paths — a duplicate file, `..` elements, a leading `/`, separators inside an
 * element, a case-only twin — moves between bt-actor and libtorrent on 127.0.0.1 in both directions.
 * bt-actor lays it out sanitized (docs/metainfo.md) and nothing lands outside the download folder;
 * every file's bytes are compared with the source, file by file in torrent order.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { runBtActor, BT_ACTOR_BIN } from '../support/bt-actor-run.js';
import { libtorrentLeecher } from '../support/leechers.js';
import { freePort, jsonLines, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';
import { pieceHashes } from '../support/data.js';

const run = promisify(execFile);
const HELPERS = join(import.meta.dirname, 'helpers');
const PIECE = 16 * 1024;

// Lengths chosen so pieces span files (and the empty one).
const FILES: { path: string[]; length: number }[] = [
  { path: ['foo', 'bar.txt'], length: 20_000 },
  { path: ['foo', 'bar.txt'], length: 30_001 },
  { path: ['..', '..', 'escape.txt'], length: 9_999 },
  { path: ['/etc', 'passwd'], length: 4_321 },
  { path: ['a/../../b'], length: 17_000 },
  { path: ['Foo', 'BAR.TXT'], length: 5_555 },
  { path: ['empty', '', 'zero'], length: 0 },
  { path: ['.', 'dot', 'x.bin'], length: 40_000 },
];

let work: string;
let torrentFile: string;
let meta: Metainfo;
let data: Buffer[];
const seeders: Seeder[] = [];

/** Every regular file under `dir`, relative, '/'-joined. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)).split('\\').join('/'));
  }
  return out.sort();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-awkward-'));
  data = FILES.map((f) => randomBytes(f.length));
  const all = Buffer.concat(data);
  const pieces = pieceHashes(all, PIECE);
  const torrent = encodeBencode({
    'created by': 'bt-actor awkward-paths test',
    info: { name: 'awkward', 'piece length': PIECE, files: FILES.map((f) => ({ ...f })), pieces },
  });
  torrentFile = join(work, 'awkward.torrent');
  await writeFile(torrentFile, torrent);
  meta = parseMetainfo(torrent);
});
afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('awkward paths between bt-actor and libtorrent', () => {
  it('bt-actor lays the torrent out sanitized, inside its folder', () => {
    expect(meta.files.map((f) => f.pathString)).toEqual([
      'foo/bar.txt',
      'foo/bar.1.txt',
      '_/_/escape.txt',
      'etc/passwd',
      'a....b',
      'Foo/BAR.2.TXT',
      'empty/zero',
      'dot/x.bin',
    ]);
  });

  it('bt-actor downloads it from a libtorrent seeder: every file in place, byte-identical, nothing outside', async () => {
    // libtorrent seeds from its own layout of the same torrent.
    const { stdout } = await run('/usr/bin/python3', [join(HELPERS, 'lt_info.py'), torrentFile]);
    const lt = JSON.parse(stdout.trim()) as { files: { path: string }[] };
    const seedDir = join(work, 'seed', 'lt');
    for (const [i, f] of lt.files.entries()) {
      const p = join(seedDir, f.path);
      expect(relative(seedDir, p).startsWith('..')).toBe(false);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, data[i]!);
    }
    const port = await freePort();
    seeders.push(await libtorrentSeeder(torrentFile, seedDir, port, { workDir: work }));

    const box = join(work, 'box');
    const out = join(box, 'downloads');
    await mkdir(out, { recursive: true });
    const r = await runBtActor([torrentFile, '--out', out, '--peer', `127.0.0.1:${port}`], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
    for (const [i, f] of meta.files.entries()) {
      expect((await readFile(join(out, meta.name, ...f.path))).equals(data[i]!), f.pathString).toBe(true);
    }
    // Nothing but the sanitized layout (and bt-actor's resume folder) anywhere in the box.
    const files = (await walk(box)).filter((p) => !p.startsWith('downloads/.bt-actor/'));
    expect(files).toEqual(meta.files.map((f) => `downloads/awkward/${f.pathString}`).sort());
  });

  it('libtorrent downloads it from a bt-actor seed, byte-identical', async () => {
    const seedDir = join(work, 'seed', 'bt');
    for (const [i, f] of meta.files.entries()) {
      const p = join(seedDir, meta.name, ...f.path);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, data[i]!);
    }
    const seedPort = await freePort();
    const child = spawn(
      process.execPath,
      [
        BT_ACTOR_BIN,
        'run',
        torrentFile,
        '--out',
        seedDir,
        '--seed',
        '--port',
        String(seedPort),
        '--bind',
        '127.0.0.1',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`bt-actor seed not ready: ${stderr}`)), 60_000);
        jsonLines(child.stdout, (l) => {
          if (l.event === 'complete') {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((code) => reject(new Error(`bt-actor seed exited ${code}: ${stderr}`)));
      });
      const out = join(work, 'out-lt');
      await libtorrentLeecher(torrentFile, out, await freePort(), { peers: [seedPort], timeoutMs: 120_000 });
      const { stdout } = await run('/usr/bin/python3', [join(HELPERS, 'lt_info.py'), torrentFile]);
      const lt = JSON.parse(stdout.trim()) as { files: { path: string }[] };
      for (const [i, f] of lt.files.entries()) {
        // libtorrent may leave an empty file uncreated.
        const got = await readFile(join(out, f.path)).catch((e: NodeJS.ErrnoException) => {
          if (e.code === 'ENOENT' && data[i]!.length === 0) return Buffer.alloc(0);
          throw e;
        });
        expect(got.equals(data[i]!), f.path).toBe(true);
      }
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    }
  });
});
