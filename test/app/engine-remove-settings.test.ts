// Issue 17 item 8, the library API's remaining pieces: `engine.remove(t, { deleteFiles })` (only the
// torrent's own files, never a path outside its folder, while running too), the engine-wide settings
// changeable at run time (`engine.settings`, `engine.set`: the connection cap on dials and accepts, the
// rate limits, the encryption policy), and the file selection kept across restarts.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { selectionPath } from '../../src/io/resume.js';
import { isBtError } from '../../src/protocol/errors.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import * as api from '../../src/index.js';

let work: string;
const engines: Engine[] = [];
async function engine(options: Parameters<typeof Engine.create>[0] = {}) {
  const e = await Engine.create({ port: 0, host: '127.0.0.1', ...options });
  engines.push(e);
  return e;
}

/** A multi-file torrent (64 KiB pieces): set/a 100,000 B, set/sub/b 150,000 B, set/c 90,000 B. */
async function dataset(name: string) {
  const src = join(work, name);
  await mkdir(join(src, 'set', 'sub'), { recursive: true });
  const files = { a: randomBytes(100_000), 'sub/b': randomBytes(150_000), c: randomBytes(90_000) };
  for (const [p, data] of Object.entries(files)) await writeFile(join(src, 'set', p), data);
  const { torrent } = await createTorrent(join(src, 'set'), { pieceLength: 64 * 1024 });
  return { src, files, torrent };
}

const waitFor = async (ok: () => boolean, ms: number) => {
  const until = Date.now() + ms;
  while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  return ok();
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-engine-remove-'));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('engine.remove(t, { deleteFiles })', () => {
  it('deletes the torrent’s files, its empty folders, part file and resume data, and nothing else', async () => {
    const { src, torrent } = await dataset('del-src');
    const seeder = await engine();
    await (
      await seeder.add(torrent, { dir: src })
    ).completed;
    const leecher = await engine();
    const dir = join(work, 'del-out');
    // Things of the user's in the folder: a file beside the torrent's, one inside its folder, and a
    // folder outside the download folder that a symlink inside it points to.
    const outside = join(work, 'outside');
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, 'c'), 'keep me');
    await mkdir(join(dir, 'set'), { recursive: true });
    await writeFile(join(dir, 'mine.txt'), 'mine');
    const t = await leecher.add(torrent, {
      dir,
      peers: [{ host: '127.0.0.1', port: seeder.port }],
      filePriorities: ['normal', 'normal', 'skip'],
    });
    await t.completed;
    expect(existsSync(join(dir, '.bt-actor', `${t.infoHash}.parts`))).toBe(true);
    await writeFile(join(dir, 'set', 'notes.txt'), 'also mine');
    const outcome = await leecher.remove(t, { deleteFiles: true });
    expect(outcome?.state).toBe('complete');
    expect(leecher.get(t.infoHash)).toBeUndefined();
    // The torrent's files and its sub folder are gone; set/ stays (notes.txt), so does mine.txt.
    expect(await readdir(join(dir, 'set'))).toEqual(['notes.txt']);
    // The resume folder held only this torrent's data: gone with it.
    expect((await readdir(dir)).sort()).toEqual(['mine.txt', 'set']);
    expect(await readFile(join(outside, 'c'), 'utf8')).toBe('keep me');
    // A symlinked folder: removing again (already removed) follows no link out of the folder.
    await rm(join(dir, 'set'), { recursive: true });
    await symlink(outside, join(dir, 'set'));
    await leecher.remove(t, { deleteFiles: true });
    expect(await readFile(join(outside, 'c'), 'utf8')).toBe('keep me');
    expect(existsSync(join(dir, 'set'))).toBe(true);
  }, 60_000);

  it('removes a running torrent by info hash, keeping its files without deleteFiles; unknown torrents refused', async () => {
    const { src, torrent } = await dataset('run-src');
    const meta = parseMetainfo(torrent);
    const seeder = await engine();
    const seed = await seeder.add(torrent, { dir: src });
    await seed.completed;
    const outcome = await seeder.remove(seed.infoHash);
    expect(outcome?.state).toBe('complete');
    expect(seeder.torrents).toEqual([]);
    expect((await readdir(join(src, 'set'))).sort()).toEqual(['a', 'c', 'sub']);
    await expect(seeder.remove(meta.infoHashHex)).rejects.toSatisfy((e) => isBtError(e, 'BT_ERR_TORRENT_UNKNOWN'));
    // While running (a download with no peer): stopped, then its files deleted.
    const dir = join(work, 'running');
    const t = await seeder.add(torrent, { dir: src });
    await t.completed;
    const leecher = await engine();
    const d = await leecher.add(torrent, { dir, peers: [{ host: '127.0.0.1', port: seeder.port }] });
    await waitFor(() => d.progress.verifiedPieces > 0, 20_000);
    expect(d.actor?.getSnapshot().status).toBe('active');
    const o = await leecher.remove(d, { deleteFiles: true });
    expect(o).toBeDefined();
    expect(await readdir(dir)).toEqual([]);
    // The seeder's own copy is untouched.
    expect((await readdir(join(src, 'set'))).sort()).toEqual(['a', 'c', 'sub']);
  }, 60_000);
});

describe('engine.settings / engine.set', () => {
  it('reads and changes the cap, the limits and the encryption; a bad value changes nothing', async () => {
    const e = await engine({ maxConnections: 10, limits: { down: 1000 }, encryption: 'plaintext' });
    expect(e.settings).toEqual({ maxConnections: 10, limits: { down: 1000, up: 0 }, encryption: 'plaintext' });
    e.set({ maxConnections: 3, limits: { up: 2000 }, encryption: 'require' });
    expect(e.settings).toEqual({ maxConnections: 3, limits: { down: 1000, up: 2000 }, encryption: 'require' });
    expect(e.limits).toEqual({ down: 1000, up: 2000 });
    expect(e.encryption).toBe('require');
    expect(() => e.set({ maxConnections: 0, encryption: 'prefer' })).toThrow(
      expect.objectContaining({ code: 'BT_ERR_MAX_CONNECTIONS' }),
    );
    expect(() => e.set({ limits: { down: -1 }, maxConnections: 5 })).toThrow(
      expect.objectContaining({ code: 'BT_ERR_RATE_LIMIT' }),
    );
    expect(() => e.set({ encryption: 'rc4' as never, maxConnections: 5 })).toThrow(
      expect.objectContaining({ code: 'BT_ERR_ENCRYPTION_POLICY' }),
    );
    expect(e.settings).toEqual({ maxConnections: 3, limits: { down: 1000, up: 2000 }, encryption: 'require' });
    await expect(Engine.create({ port: 0, host: '127.0.0.1', maxConnections: 1.5 })).rejects.toSatisfy((err) =>
      isBtError(err, 'BT_ERR_MAX_CONNECTIONS'),
    );
  });

  it('the connection cap holds dials back at run time, and raising it lets them through', async () => {
    const { src, torrent } = await dataset('cap-src');
    const seeders = [await engine(), await engine(), await engine()];
    for (const s of seeders) await (await s.add(torrent, { dir: src })).completed;
    const leecher = await engine({ maxConnections: 1, limits: { down: 32 * 1024 } });
    const t = await leecher.add(torrent, {
      dir: join(work, 'cap-out'),
      peers: seeders.map((s) => ({ host: '127.0.0.1', port: s.port })),
    });
    // Connections that got through (a `connected` report) and have not closed, at most at once.
    const open = new Set<string>();
    let most = 0;
    let capped = 0;
    const sub = t.events$.subscribe((e) => {
      if (e.type !== 'torrent.peer') return;
      if (e.event === 'connected') open.add(e.key);
      else if (!open.delete(e.key) && e.detail?.includes('BT_ERR_CONNECTION_CAP')) capped++;
      most = Math.max(most, open.size);
    });
    await waitFor(() => open.size >= 1, 10_000);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(open.size).toBe(1);
    expect(most).toBe(1);
    expect(capped).toBeGreaterThanOrEqual(2); // the other two seeders' dials were held back
    leecher.set({ maxConnections: 10 });
    t.addPeers(seeders.map((s) => ({ host: '127.0.0.1', port: s.port, family: 4 as const })));
    expect(await waitFor(() => open.size >= 2, 40_000)).toBe(true);
    sub.unsubscribe();
    await leecher.remove(t, { deleteFiles: true });
  }, 60_000);
});

describe('the file selection is kept across runs', () => {
  it('a selection changed while running comes back after a restart without filePriorities', async () => {
    const { src, files, torrent } = await dataset('sel-src');
    const seeder = await engine();
    await (
      await seeder.add(torrent, { dir: src })
    ).completed;
    const dir = join(work, 'sel-out');
    const first = await engine();
    const t = await first.add(torrent, {
      dir,
      peers: [{ host: '127.0.0.1', port: seeder.port }],
      filePriorities: ['skip', 'skip', 'normal'],
      paused: true,
    });
    t.files[1]!.setPriority('high');
    t.resume();
    await t.completed;
    await first.close();
    expect(JSON.parse(await readFile(selectionPath(dir, t.infoHash), 'utf8'))).toEqual({
      version: 1,
      infoHash: t.infoHash,
      files: ['skip', 'high', 'normal'],
    });
    const second = await engine();
    const again = await second.add(torrent, { dir, peers: [{ host: '127.0.0.1', port: seeder.port }] });
    expect(again.files.map((f) => f.priority)).toEqual(['skip', 'high', 'normal']);
    await again.completed;
    expect(again.progress.left).toBe(0);
    expect((await readdir(join(dir, 'set'))).sort()).toEqual(['c', 'sub']);
    expect(Buffer.from(await readFile(join(dir, 'set', 'sub', 'b'))).equals(files['sub/b'])).toBe(true);
    // Given priorities win over the saved ones (and are saved in their turn).
    await second.remove(again);
    const third = await engine();
    const all = await third.add(torrent, { dir, filePriorities: ['normal', 'normal', 'normal'], paused: true });
    expect(all.files.map((f) => f.priority)).toEqual(['normal', 'normal', 'normal']);
    // A damaged selection file is ignored: every file at normal.
    await third.remove(all);
    await writeFile(selectionPath(dir, t.infoHash), '{"version":1,"files":["nope"]}');
    const fourth = await engine();
    const plain = await fourth.add(torrent, { dir, paused: true });
    expect(plain.files.map((f) => f.priority)).toEqual(['normal', 'normal', 'normal']);
  }, 60_000);
});

describe('progress$ carries the speeds and peer counts', () => {
  it('a download at 128 KiB/s: the leecher sees a download rate, the seeder an upload rate, both a peer', async () => {
    const { src, torrent } = await dataset('rate-src');
    const seeder = await engine({ limits: { up: 128 * 1024 } });
    const seed = await seeder.add(torrent, { dir: src });
    await seed.completed;
    const up: number[] = [];
    const seedSub = seed.progress$.subscribe((p) => up.push(p.uploadRate));
    const leecher = await engine();
    const t = await leecher.add(torrent, { dir: join(work, 'rate-out'), paused: true });
    const seen: { down: number; connected: number; known: number }[] = [];
    const sub = t.progress$.subscribe((p) =>
      seen.push({ down: p.downloadRate, connected: p.peersConnected, known: p.peersKnown }),
    );
    t.resume();
    t.addPeers([{ host: '127.0.0.1', port: seeder.port, family: 4 }]);
    await t.completed;
    sub.unsubscribe();
    seedSub.unsubscribe();
    const fastest = Math.max(...seen.map((s) => s.down));
    // 128 KiB/s with a burst of 0.1 s: the windowed rate is positive and not far above the limit.
    expect(fastest).toBeGreaterThan(0);
    expect(fastest).toBeLessThan(128 * 1024 * 1.6);
    expect(Math.max(...up)).toBeGreaterThan(0);
    expect(seen.some((s) => s.connected === 1 && s.known >= 1)).toBe(true);
  }, 60_000);
});

describe('typed errors from the package root', () => {
  it('every error class is a BtError with a stable code, and real failures come as them', async () => {
    for (const C of [
      api.EngineError,
      api.MetainfoError,
      api.ListenError,
      api.LockError,
      api.StorageError,
      api.MagnetError,
      api.CreateTorrentError,
      api.BencodeError,
      api.WireError,
      api.KrpcError,
    ])
      expect(C.prototype, C.name).toBeInstanceOf(api.BtError);
    const e = await engine();
    const caught = async (f: () => unknown) => {
      try {
        await f();
      } catch (err) {
        return err;
      }
      throw new Error('no error');
    };
    const magnet = await caught(() => api.parseMagnet('magnet:?dn=x'));
    expect(magnet).toBeInstanceOf(api.MagnetError);
    expect((magnet as api.MagnetError).code).toMatch(/^BT_ERR_MAGNET_/);
    const bad = await caught(() => e.add(new Uint8Array([0x64, 0x65])));
    expect(bad).toBeInstanceOf(api.MetainfoError);
    expect(api.isBtError(bad)).toBe(true);
    const unknown = await caught(() => e.remove('ab'.repeat(20)));
    expect(unknown).toBeInstanceOf(api.EngineError);
    expect(api.isBtError(unknown, 'BT_ERR_TORRENT_UNKNOWN')).toBe(true);
    const listen = await caught(() => api.Engine.create({ port: 0, host: '10.255.255.1' }));
    expect(listen).toBeInstanceOf(api.ListenError);
    expect((listen as api.ListenError).code).toBe('BT_ERR_LISTEN_ADDRESS');
  });
});
