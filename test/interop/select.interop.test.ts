/**
 * Selective download from a real client (issue 17): `bt-actor run T --out D --select 1` on a multi-file
 * torrent seeded by libtorrent writes file 1 byte-identical and creates no other file of the torrent —
 * the bytes of the neighbouring files in the pieces file 1 shares with them are only in the part file in
 * the resume folder. Then the same folder with `--select 0,2` fetches the rest, and every file matches.
 * And `run --stream` from a libtorrent seeder capped at 256 KiB/s: an HTTP client seeking to the middle
 * of a file gets its verified bytes while under 10 % of the torrent is here.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { runBtActor } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { freePort, jsonLines, startProcess, stopAll } from '../support/proc.js';
import { BT_ACTOR_BIN } from '../support/bt-actor-run.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';

let work: string;
const seeders: Seeder[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-select-interop-'));
  const set = join(work, 'src', 'set');
  // 64 KiB pieces; each boundary between files falls inside a piece.
  await writeRandom(join(set, 'a.bin'), 1_000_000 + 1234);
  await writeRandom(join(set, 'b.bin'), 2_000_000 + 777);
  await writeRandom(join(set, 'c.bin'), 500_000 + 99);
});
afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('selective download from libtorrent', () => {
  it('--select 1 writes file 1 byte-identical and no other file; --select 0,2 later completes the rest', async () => {
    const { torrent } = await createTorrent(join(work, 'src', 'set'), { pieceLength: 64 * 1024, creationDate: null });
    const meta = parseMetainfo(torrent);
    const file = join(work, 'set.torrent');
    await writeFile(file, torrent);
    expect(meta.files.map((f) => f.pathString)).toEqual(['a.bin', 'b.bin', 'c.bin']);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work }));
    const out = join(work, 'out');

    const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`, '--select', '1'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true, length: meta.length });
    expect(await readdir(join(out, 'set'))).toEqual(['b.bin']);
    expect(
      Buffer.from(await readFile(join(out, 'set', 'b.bin'))).equals(await readFile(join(work, 'src', 'set', 'b.bin'))),
    ).toBe(true);
    expect(existsSync(join(out, '.bt-actor', `${meta.infoHashHex}.parts`))).toBe(true);

    const rest = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`, '--select', '0,2'], 120_000);
    expect(rest.code, rest.stderr).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
  }, 300_000);

  it('--stream: a Range request to the middle of a file gets the right bytes while under 10 % is here', async () => {
    const { torrent } = await createTorrent(join(work, 'src', 'set'), { pieceLength: 64 * 1024, creationDate: null });
    const file = join(work, 'set-stream.torrent');
    await writeFile(file, torrent);
    const port = await freePort();
    seeders.push(await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work, uploadLimit: 256 * 1024 }));
    const own = await freePort();
    const proc = startProcess(process.execPath, [
      BT_ACTOR_BIN,
      'run',
      file,
      '--out',
      join(work, 'out-stream'),
      '--peer',
      `127.0.0.1:${port}`,
      '--port',
      String(own),
      '--stream',
      '--json',
    ]);
    try {
      const lines = jsonLines(proc.child.stdout!);
      const until = async (pred: () => boolean, ms: number) => {
        const end = Date.now() + ms;
        while (!pred()) {
          if (Date.now() > end) throw new Error(`timed out; output: ${proc.output()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(() => lines.filter((l) => l.event === 'stream').length === 3, 20_000);
      const b = lines.find((l) => l.event === 'stream' && l.index === 1)!;
      const source = await readFile(join(work, 'src', 'set', 'b.bin'));
      const start = 1_000_000 + 4321;
      const end = start + 20_000 - 1;
      const res = await fetch(String(b.url), { headers: { range: `bytes=${start}-${end}` } });
      expect(res.status).toBe(206);
      expect(Buffer.from(await res.arrayBuffer()).equals(source.subarray(start, end + 1))).toBe(true);
      const seen = lines.length;
      await until(() => lines.slice(seen).some((l) => l.event === 'progress'), 5_000);
      expect(lines.slice(seen).find((l) => l.event === 'progress')!.percent as number).toBeLessThan(10);
    } finally {
      await proc.stop();
    }
  }, 120_000);
});
