import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineEvent } from '../../src/app/engine.js';
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
    expect(ready).toMatchObject({ have: t.meta.pieceCount, total: t.meta.pieceCount });
    const states = await firstValueFrom(t.peerStates$);
    expect(states).toBeTypeOf('object');
    await t.remove();
    expect(leech.get(t.infoHash)).toBeUndefined();
  });
});
