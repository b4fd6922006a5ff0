import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineEvent, type TorrentOutcome } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { startLocalTracker, type LocalTracker } from '../../src/io/local-tracker.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';

let work: string;
let tracker: LocalTracker;
const engines: Engine[] = [];
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function dataset(name: string, size: number) {
  const data = randomBytes(size);
  await writeFile(join(work, name), data);
  const { torrent } = await createTorrent(join(work, name), { announce: [[tracker.url]], pieceLength: 64 * 1024 });
  return { data, torrent };
}
async function engine() {
  const e = await Engine.create({ port: 0, host: '127.0.0.1' });
  engines.push(e);
  return e;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-engine-'));
  tracker = await startLocalTracker();
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await tracker.close();
  await rm(work, { recursive: true, force: true });
});

describe('Engine (library API)', () => {
  it('holds many torrents on one port, routes each connection by info hash, and streams tagged events', async () => {
    const a = await dataset('a.bin', 1024 * 1024);
    const b = await dataset('b.bin', 768 * 1024);
    const seed = await engine();
    await seed.add(a.torrent, { dir: work });
    await seed.add(b.torrent, { dir: work });
    expect(seed.torrents.map((t) => t.name).sort()).toEqual(['a.bin', 'b.bin']);
    const leech = await engine();
    const seen: EngineEvent[] = [];
    leech.events$.subscribe((e) => seen.push(e));
    const ta = await leech.add(a.torrent, { dir: join(work, 'out') });
    const tb = await leech.add(Buffer.from(b.torrent), { dir: join(work, 'out') });
    await Promise.all([ta.completed, tb.completed]);
    expect(sha(await readFile(join(work, 'out', 'a.bin')))).toBe(sha(a.data));
    expect(sha(await readFile(join(work, 'out', 'b.bin')))).toBe(sha(b.data));
    const hashes = new Set(seen.filter((e) => e.event.type === 'torrent.complete').map((e) => e.infoHash));
    expect(hashes).toEqual(new Set([ta.infoHash, tb.infoHash]));
    await expect(leech.add(a.torrent)).rejects.toThrow(/already/);
  });

  it('pause stops a torrent and resume starts it again from its resume file; remove takes it out', async () => {
    const c = await dataset('c.bin', 512 * 1024);
    const seed = await engine();
    await seed.add(c.torrent, { dir: work });
    const leech = await engine();
    const t = await leech.add(parseMetainfo(c.torrent), { dir: join(work, 'out2') });
    await t.completed;
    await t.pause();
    expect(t.actor).toBeUndefined();
    t.resume();
    const ready = await firstValueFrom(t.events$.pipe(filter((e) => e.type === 'torrent.ready')));
    expect(ready).toMatchObject({ have: t.meta!.pieceCount, total: t.meta!.pieceCount });
    const states = await firstValueFrom(t.peerStates$);
    expect(states).toBeTypeOf('object');
    await t.remove();
    expect(leech.get(t.infoHash)).toBeUndefined();
  });

  it('every run ends with an outcome and its final progress, whoever stopped it', async () => {
    const d = await dataset('d.bin', 512 * 1024);
    const seed = await engine();
    const s = await seed.add(d.torrent, { dir: work });
    await s.completed;
    expect(s.outcome).toBeUndefined(); // running

    // Complete: downloaded, then paused. pause() resolves to the outcome; ended$ saw it.
    const leech = await engine();
    const t = await leech.add(d.torrent, { dir: join(work, 'out3'), paused: true });
    expect(t.progress).toMatchObject({ left: d.data.length, downloaded: 0 });
    const ends: TorrentOutcome[] = [];
    t.ended$.subscribe((o) => ends.push(o));
    t.resume();
    await t.completed;
    const done = await t.pause();
    expect(done).toMatchObject({ state: 'complete', progress: { left: 0, length: d.data.length } });
    expect(done!.progress.downloaded).toBeGreaterThanOrEqual(d.data.length);
    expect(ends).toEqual([done]);
    expect(t.outcome).toBe(done);
    expect(t.progress).toBe(done!.progress);

    // The seeder's upload counts are final once it stopped: all it sent to the one leecher.
    await seed.close();
    expect(s.outcome).toMatchObject({ state: 'complete' });
    expect(s.progress.uploaded).toBeGreaterThanOrEqual(d.data.length);
    expect(seed.torrents).toEqual([]);

    // Stopped before completion: no trackers, no peers; closing the engine stops it.
    const lonely = await engine();
    const u = await lonely.add({ ...parseMetainfo(d.torrent), announce: [] }, { dir: join(work, 'out4') });
    await firstValueFrom(u.events$.pipe(filter((e) => e.type === 'torrent.ready')));
    await Promise.all([lonely.close(), lonely.close()]); // one stop, however often it is asked
    expect(u.outcome).toMatchObject({ state: 'stopped', progress: { left: d.data.length } });
    expect(u.actor).toBeUndefined();

    // An error: the file's path is a folder. The run ends by itself; completed rejects with the code.
    await mkdir(join(work, 'out5', 'd.bin'), { recursive: true });
    const failing = await engine();
    const v = await failing.add(d.torrent, { dir: join(work, 'out5') });
    const failed = await firstValueFrom(v.ended$);
    expect(failed).toMatchObject({ state: 'error', code: 'BT_ERR_STORAGE_PATH' });
    await expect(v.completed).rejects.toMatchObject({ code: 'BT_ERR_STORAGE_PATH' });
    expect(await v.remove()).toBe(failed);
  });
});
