// `bt-actor run --stream` (issue 17): every file over HTTP on 127.0.0.1 with Range requests while it
// downloads; a client that seeks to the middle of a file gets verified bytes while the download is < 10 %.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { parseRange } from '../../src/app/stream-server.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { freePort, jsonLines, startProcess } from '../support/proc.js';
import { throttleProxy } from '../support/throttle-proxy.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-stream-'));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('Range headers', () => {
  it('parses the single-range forms; refuses what cannot be served', () => {
    expect(parseRange(undefined, 1000)).toBeUndefined();
    expect(parseRange('bytes=100-199', 1000)).toEqual({ start: 100, end: 199 });
    expect(parseRange('bytes=100-', 1000)).toEqual({ start: 100, end: 999 });
    expect(parseRange('bytes=-10', 1000)).toEqual({ start: 990, end: 999 });
    expect(parseRange('bytes=900-5000', 1000)).toEqual({ start: 900, end: 999 });
    expect(parseRange('bytes=1000-', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=5-4', 1000)).toBe('unsatisfiable');
    expect(parseRange('items=1-2', 1000)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,5-6', 1000)).toBeUndefined();
  });
});

describe('bt-actor run --stream', () => {
  it('serves a file with Range while downloading: the middle of it, verified, while under 10 % is here', async () => {
    const src = join(work, 'src');
    await mkdir(join(src, 'movie'), { recursive: true });
    const video = randomBytes(8 * 1024 * 1024);
    await writeFile(join(src, 'movie', 'a.txt'), 'hello');
    await writeFile(join(src, 'movie', 'video.bin'), video);
    const { torrent } = await createTorrent(join(src, 'movie'), { pieceLength: 64 * 1024 });
    const torrentPath = join(work, 'movie.torrent');
    await writeFile(torrentPath, torrent);
    const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
    // 256 KiB/s: 10 % of the torrent takes over 3 s; the 128 KiB asked for about half a second.
    const proxy = await throttleProxy(seeder.port, { bytesPerSecond: 256 * 1024 });
    const port = await freePort();
    const proc = startProcess(process.execPath, [
      BIN,
      'run',
      torrentPath,
      '--out',
      join(work, 'out'),
      '--peer',
      `127.0.0.1:${proxy.port}`,
      '--port',
      String(port),
      '--stream',
      '--json',
    ]);
    // Listening from the start: the run prints its stream lines at once, maybe before the seeder has
    // checked its data (lines printed before a listener is attached are not seen).
    const lines = jsonLines(proc.child.stdout!);
    try {
      await (
        await seeder.add(torrent, { dir: src })
      ).completed;
      const until = async (pred: () => boolean, ms: number) => {
        const end = Date.now() + ms;
        while (!pred()) {
          if (Date.now() > end) throw new Error(`timed out; output: ${proc.output()}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await until(() => lines.filter((l) => l.event === 'stream').length === 2, 15_000);
      const events = lines.map((l) => l.event);
      expect(events.indexOf('stream')).toBe(events.indexOf('listening') + 1);
      const stream = lines.find((l) => l.event === 'stream' && l.index === 1)!;
      expect(stream).toMatchObject({ path: 'video.bin' });
      expect(String(stream.url)).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/1\/video\.bin$/);

      const start = 5 * 1024 * 1024 + 123;
      const end = start + 128 * 1024 - 1;
      const res = await fetch(String(stream.url), { headers: { range: `bytes=${start}-${end}` } });
      expect(res.status).toBe(206);
      expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${video.length}`);
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.equals(video.subarray(start, end + 1))).toBe(true);
      // The next progress line: well under 10 % of the torrent is here.
      const seen = lines.length;
      await until(() => lines.slice(seen).some((l) => l.event === 'progress'), 5_000);
      const progress = lines.slice(seen).find((l) => l.event === 'progress')!;
      expect(progress.percent as number).toBeLessThan(10);

      const head = await fetch(String(stream.url), { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('content-length')).toBe(String(video.length));
      expect((await fetch(String(stream.url), { headers: { range: `bytes=${video.length}-` } })).status).toBe(416);
      expect((await fetch(String(stream.url).replace('/1/', '/7/'))).status).toBe(404);
    } finally {
      await proc.stop();
      await proxy.close();
      await seeder.close();
    }
  }, 60_000);
});
