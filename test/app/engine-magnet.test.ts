/**
 * `Engine.add('magnet:?…')` (issue 15): two engines on 127.0.0.1, one seeding from a .torrent, one
 * given only a magnet link with the seeder's address (`x.pe`). The handle shows the metadata phase (name
 * from `dn`, `meta` undefined, `progress.metadata`), then the fetched metainfo; the torrent completes;
 * the .torrent is saved beside the resume data, and adding the same link to a new engine on the same
 * folder fetches nothing. A magnet torrent paused before any peer came stops cleanly.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';

let work: string;
const engines: Engine[] = [];
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
let data: Buffer;
let meta: Metainfo;
let torrent: Uint8Array;

async function engine() {
  const e = await Engine.create({ port: 0, host: '127.0.0.1' });
  engines.push(e);
  return e;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-engine-magnet-'));
  data = randomBytes(1536 * 1024);
  await writeFile(join(work, 'm.bin'), data);
  // 16 KiB pieces: 96 piece hashes, one metadata piece.
  ({ torrent } = await createTorrent(join(work, 'm.bin'), { announce: [], pieceLength: 16 * 1024 }));
  meta = parseMetainfo(torrent);
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('Engine.add with a magnet link', () => {
  it('shows the metadata phase, fetches the metainfo, completes, and a new engine on the folder fetches nothing', async () => {
    const seed = await engine();
    await (
      await seed.add(torrent, { dir: work })
    ).completed; // seeding (it refuses peers while it checks)
    const leech = await engine();
    const out = join(work, 'out');
    const link = `magnet:?xt=urn:btih:${meta.infoHashHex}&dn=from-link&x.pe=127.0.0.1:${seed.port}`;
    const t = await leech.add(link, { dir: out, paused: true });
    expect(t.name).toBe('from-link');
    expect(t.meta).toBeUndefined();
    expect(t.magnet?.infoHashHex).toBe(meta.infoHashHex);
    expect(t.mayUseDht).toBe(true);
    const progress: { metadata?: unknown; pieceCount: number }[] = [];
    t.progress$.subscribe((p) => progress.push(p));
    const got = firstValueFrom(
      t.events$.pipe(
        filter((e): e is Extract<TorrentReport, { type: 'torrent.metadata' }> => e.type === 'torrent.metadata'),
      ),
    );
    t.resume();
    const m = await got;
    expect(m).toMatchObject({ name: 'm.bin', length: data.length, pieces: meta.pieceCount, private: false });
    await t.completed;
    // Before the metadata: the phase in the progress, no geometry yet.
    expect(progress.find((p) => p.metadata)).toMatchObject({ metadata: { peers: expect.any(Number) }, pieceCount: 0 });
    expect(t.name).toBe('m.bin');
    expect(t.meta?.infoHashHex).toBe(meta.infoHashHex);
    expect(sha(await readFile(join(out, 'm.bin')))).toBe(sha(data));
    const saved = parseMetainfo(await readFile(join(out, '.bt-actor', `${meta.infoHashHex}.torrent`)));
    expect(Buffer.from(saved.infoBytes).equals(Buffer.from(meta.infoBytes))).toBe(true);
    await leech.close();

    // A new engine, the same link (no peer now) and folder: the saved torrent, no metadata phase.
    const again = await engine();
    const t2 = await again.add(`magnet:?xt=urn:btih:${meta.infoHashHex}`, { dir: out, paused: true });
    expect(t2.name).toBe('m.bin');
    expect(t2.meta?.pieceCount).toBe(meta.pieceCount);
    const events: string[] = [];
    t2.events$.subscribe((e) => events.push(e.type));
    t2.resume();
    await t2.completed;
    expect(events).not.toContain('torrent.metadata');
    expect(t2.progress.downloaded).toBe(0);
  });

  it('a magnet torrent paused before any peer came stops cleanly (nothing opened, nothing saved)', async () => {
    const e = await engine();
    const out = join(work, 'out-paused');
    const hash = 'ab'.repeat(20);
    const t = await e.add(`magnet:?xt=urn:btih:${hash}&dn=nobody`, { dir: out });
    expect(t.actor?.getSnapshot().value).toEqual({ metadata: 'fetching' });
    const outcome = await t.pause();
    expect(outcome).toMatchObject({ state: 'stopped' });
    await expect(readFile(join(out, '.bt-actor', `${hash}.torrent`))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(e.add(`magnet:?xt=urn:btih:${hash}`, { dir: out })).rejects.toMatchObject({
      code: 'BT_ERR_TORRENT_DUPLICATE',
    });
    // A v2-only link is taken (BEP 52): known by its v2 info hash cut to 20 bytes until the metadata comes.
    const v2 = await e.add('magnet:?xt=urn:btmh:1220' + 'cd'.repeat(32), { dir: out, paused: true });
    expect(v2.infoHash).toBe('cd'.repeat(20));
  });
});
