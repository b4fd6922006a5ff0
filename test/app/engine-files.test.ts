// The files API of a torrent handle (issue 17): `files[i]` with path, length, downloaded, progress and
// priority; `filePriorities` at `add`; select / deselect / setPriority while running; `sequential`.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { isBtError } from '../../src/protocol/errors.js';
import { throttleProxy } from '../support/throttle-proxy.js';

let work: string;
const engines: Engine[] = [];
async function engine() {
  const e = await Engine.create({ port: 0, host: '127.0.0.1' });
  engines.push(e);
  return e;
}

/** Three files whose pieces straddle them (64 KiB pieces): a 100,000 B, b 150,000 B, c 90,000 B. */
async function dataset() {
  const src = join(work, 'src');
  await mkdir(join(src, 'set'), { recursive: true });
  const files = { a: randomBytes(100_000), b: randomBytes(150_000), c: randomBytes(90_000) };
  for (const [name, data] of Object.entries(files)) await writeFile(join(src, 'set', name), data);
  const { torrent } = await createTorrent(join(src, 'set'), { pieceLength: 64 * 1024 });
  return { src, files, torrent };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-engine-files-'));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('TorrentHandle.files', () => {
  it('downloads only the selected file, then another one selected while running', async () => {
    const { src, files, torrent } = await dataset();
    const seeder = await engine();
    const seed = await seeder.add(torrent, { dir: src });
    await seed.completed;
    const leecher = await engine();
    const dir = join(work, 'out');
    const t = await leecher.add(torrent, {
      dir,
      peers: [{ host: '127.0.0.1', port: seeder.port }],
      filePriorities: ['skip', 'normal', 'skip'],
    });
    expect(t.files.map((f) => [f.index, f.path, f.length, f.priority])).toEqual([
      [0, 'a', 100_000, 'skip'],
      [1, 'b', 150_000, 'normal'],
      [2, 'c', 90_000, 'skip'],
    ]);
    await t.completed;
    expect(t.files[1]!.progress).toBe(1);
    expect(t.files[1]!.downloaded).toBe(150_000);
    // Only the pieces that hold bytes of b: a and c are not (wholly) there.
    expect(t.files[0]!.progress).toBeLessThan(1);
    expect(t.files[2]!.progress).toBeLessThan(1);
    expect(Buffer.from(await readFile(join(dir, 'set', 'b'))).equals(files.b)).toBe(true);
    // a and c are not created: their bytes in the pieces shared with b are in the part file.
    expect(await readdir(join(dir, 'set'))).toEqual(['b']);
    expect(existsSync(join(dir, '.bt-actor', `${t.infoHash}.parts`))).toBe(true);
    expect(t.progress.left).toBe(0);
    expect(t.progress.wanted).toBeLessThan(t.progress.length);

    // c selected while it seeds b: downloaded too, and the torrent completes again.
    const again = firstValueFrom(t.events$.pipe(filter((e) => e.type === 'torrent.complete')));
    t.files[2]!.select();
    expect(t.files[2]!.priority).toBe('normal');
    await again;
    expect(t.files[2]!.progress).toBe(1);
    expect(Buffer.from(await readFile(join(dir, 'set', 'c'))).equals(files.c)).toBe(true);
    expect((await readdir(join(dir, 'set'))).sort()).toEqual(['b', 'c']);
    t.files[1]!.setPriority('high');
    expect(t.files[1]!.priority).toBe('high');
    t.files[1]!.deselect();
    expect(t.files[1]!.priority).toBe('skip');
    expect(t.actor!.getSnapshot().context.selection.files).toEqual(['skip', 'skip', 'normal']);
    t.setSequential(true);
    expect(t.sequential).toBe(true);
    expect(t.actor!.getSnapshot().context.selection.sequential).toBe(true);
    expect(() => t.files[0]!.setPriority('urgent' as never)).toThrow(
      expect.objectContaining({ code: 'BT_ERR_FILE_PRIORITY' }),
    );
    const outcome = await t.pause();
    expect(outcome?.state).toBe('complete');
  }, 60_000);

  it('createReadStream from the middle of a file yields verified bytes while the download is under 10 %', async () => {
    const src = join(work, 'stream-src');
    await mkdir(join(src, 'movie'), { recursive: true });
    const video = randomBytes(16 * 1024 * 1024);
    await writeFile(join(src, 'movie', 'intro.txt'), 'hello');
    await writeFile(join(src, 'movie', 'video.bin'), video);
    const { torrent } = await createTorrent(join(src, 'movie'), { pieceLength: 64 * 1024 });
    const seeder = await engine();
    await (
      await seeder.add(torrent, { dir: src })
    ).completed;
    // 512 KiB/s: the whole torrent takes 32 s; the stream's 256 KiB about half a second (with the other
    // requests of the pipeline sharing the link, 10 % is 25 pieces of 64 KiB).
    const proxy = await throttleProxy(seeder.port, { bytesPerSecond: 512 * 1024 });
    try {
      const leecher = await engine();
      const t = await leecher.add(torrent, {
        dir: join(work, 'stream-out'),
        peers: [{ host: '127.0.0.1', port: proxy.port }],
        paused: true,
      });
      const file = t.files[1]!;
      expect(file.path).toBe('video.bin');
      const start = 8 * 1024 * 1024 + 1000;
      const end = start + 256 * 1024 - 1;
      const stream = file.createReadStream({ start, end });
      t.resume();
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(video.subarray(start, end + 1))).toBe(true);
      const p = t.progress;
      expect(p.verifiedPieces).toBeLessThan(p.pieceCount / 10);
      expect(t.actor!.getSnapshot().context.svc.picker!.deadlinePieces).toEqual([]);
      await t.pause();
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('an unknown priority at add is refused with BT_ERR_FILE_PRIORITY', async () => {
    const { torrent } = await dataset();
    const e = await engine();
    let err: unknown;
    try {
      await e.add(torrent, { dir: join(work, 'bad'), filePriorities: ['never' as never] });
    } catch (x) {
      err = x;
    }
    expect(isBtError(err, 'BT_ERR_FILE_PRIORITY')).toBe(true);
  });
});
