/**
 * BEP 52 hash requests asked by bt-actor, between engines on 127.0.0.1: a leecher given a v2-only
 * torrent without its `piece layers` asks the seed (which has the full .torrent) for every missing
 * layer in `hash request`s, checks each `hashes` answer against the file's `pieces root`, and only then
 * picks and verifies that file's pieces: the files land byte-identical, no piece fails its hash, and the
 * layers are saved with the .torrent in the folder (a new engine there checks the data, asking nobody); the same
 * from a v2-only magnet link (`urn:btmh:`: the info dictionary over ut_metadata, checked by its SHA-256,
 * then the layers). A peer
 * answering with hashes that do not prove (a scripted peer) is banned, and the layers come from an honest
 * one. Layers fetched are served on, also on connections made before they came; and a layer-less
 * torrent started on a folder that already holds (some of) its data checks each file against its layer
 * once it comes, so only what is missing is downloaded.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import bencode from 'bencode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { parseMetainfo, pieceSize } from '../../src/protocol/metainfo.js';
import { filesMissingPieceLayers } from '../../src/protocol/piece-verify.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { pattern, pieceSpace, v2Torrent, type V2File } from '../support/v2-torrent.js';

const PIECE = 16_384;
const FILES: V2File[] = [
  { path: ['big.bin'], data: pattern(600 * PIECE + 123, 1) }, // 601 pieces: two ranges, the second with uncles
  { path: ['sub', 'mid.bin'], data: pattern(5 * PIECE - 9, 2) }, // 5 pieces: one range of 8 (3 pad hashes)
  { path: ['sub', 'one.txt'], data: pattern(100, 3) }, // one piece: checked against its root, nothing to ask
];

let work: string;
const engines: Engine[] = [];

async function engine(): Promise<Engine> {
  const e = await Engine.create({ port: 0, host: '127.0.0.1' });
  engines.push(e);
  return e;
}

/** The .torrent without its `piece layers` (the info dictionary, so the info hash, unchanged). */
function stripLayers(torrent: Uint8Array): Uint8Array {
  const d = bencode.decode(torrent) as Record<string, unknown>;
  expect(d['piece layers']).toBeDefined();
  delete d['piece layers'];
  return bencode.encode(d);
}

/** An engine seeding `torrent` from the files written by `beforeAll`. */
async function seedEngine(torrent: Uint8Array) {
  const e = await engine();
  await (
    await e.add(torrent, { dir: join(work, 'seed') })
  ).completed;
  return e;
}

/** Every file of `FILES` is under `out/folder`, byte-identical. */
async function expectFiles(out: string) {
  for (const f of FILES)
    expect(Buffer.from(await readFile(join(out, 'folder', ...f.path))).equals(f.data), f.path.join('/')).toBe(true);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-v2req-'));
  for (const f of FILES) {
    const p = join(work, 'seed', 'folder', ...f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.data);
  }
});
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('BEP 52 hash requests between two engines', () => {
  it('a v2-only torrent without piece layers: the layers come from the seed, the files byte-identical', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const full = parseMetainfo(torrent);
    const stripped = stripLayers(torrent);
    const meta = parseMetainfo(stripped);
    expect(meta.infoHashHex).toBe(full.infoHashHex);
    expect(filesMissingPieceLayers(meta).map((f) => f.pathString)).toEqual(['big.bin', 'sub/mid.bin']);

    const seed = await seedEngine(torrent);
    const leech = await engine();
    const out = join(work, 'out');
    const events: TorrentReport[] = [];
    const t = await leech.add(stripped, { dir: out, peers: [{ host: '127.0.0.1', port: seed.port }] });
    t.events$.subscribe((e) => events.push(e));
    await t.completed;
    await expectFiles(out);
    expect(events.filter((e) => e.type === 'torrent.piece')).toHaveLength(meta.pieceCount);
    expect(events.some((e) => e.type === 'torrent.hashFailed' || e.type === 'torrent.banned')).toBe(false);
    await Promise.all([seed.close(), leech.close()]);
    // The layers were saved with the .torrent beside the resume data: a new engine on the folder, given
    // the stripped .torrent and no peer, checks the data against them (nothing left to fetch).
    const saved = parseMetainfo(await readFile(join(out, '.bt-actor', `${meta.infoHashHex}.torrent`)));
    expect(filesMissingPieceLayers(saved)).toEqual([]);
    const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
    expect(saved.files.map((f) => hex(f.pieceLayer))).toEqual(full.files.map((f) => hex(f.pieceLayer)));
    const again = await engine();
    const t2 = await again.add(stripped, { dir: out, check: true });
    await t2.completed;
    expect(t2.progress.verifiedPieces).toBe(meta.pieceCount);
    await again.close();
  });

  it('a peer whose hashes do not prove is banned; the layers come from an honest seed, the files byte-identical', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const full = parseMetainfo(torrent);
    const stripped = stripLayers(torrent);
    const hostile = await hostileSeeder(full, pieceSpace(full, FILES), { badHashes: true });
    try {
      const seed = await seedEngine(torrent);
      const leech = await engine();
      const out = join(work, 'out-liar');
      const events: TorrentReport[] = [];
      const t = await leech.add(stripped, { dir: out, peers: [{ host: '127.0.0.1', port: hostile.port }] });
      t.events$.subscribe((e) => {
        events.push(e);
        // The honest seed is found only once the liar was banned.
        if (e.type === 'torrent.banned') t.addPeers([{ host: '127.0.0.1', port: seed.port, family: 4 }]);
      });
      await t.completed;
      await expectFiles(out);
      expect(hostile.badHashes).toBeGreaterThan(0);
      // Of the liar, only blocks of the file of one piece (checked by its root) could be asked: no piece of
      // a file whose layer was missing.
      const onePiece = full.files.find((f) => f.pathString === 'sub/one.txt')!.offset / PIECE;
      expect([...hostile.served.keys()].filter((i) => i !== onePiece)).toEqual([]);
      expect(events.filter((e) => e.type === 'torrent.banned')).toEqual([
        {
          type: 'torrent.banned',
          index: -1,
          banned: [{ peer: hostile.key, reason: 'sent BEP 52 hashes that do not prove against the pieces root' }],
        },
      ]);
      expect(events.some((e) => e.type === 'torrent.hashFailed')).toBe(false);
      await Promise.all([seed.close(), leech.close()]);
    } finally {
      await hostile.stop();
    }
  });

  it('a v2-only magnet link (urn:btmh:): the info dictionary checked by its SHA-256, then the layers, the files byte-identical', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const full = parseMetainfo(torrent);
    const seed = await seedEngine(torrent);
    const leech = await engine();
    const out = join(work, 'out-magnet');
    const events: TorrentReport[] = [];
    const link = `magnet:?xt=urn:btmh:1220${full.infoHashV2Hex!}&x.pe=127.0.0.1:${seed.port}`;
    const t = await leech.add(link, { dir: out });
    expect(t.infoHash).toBe(full.infoHashHex); // the v2 hash cut to 20 bytes
    t.events$.subscribe((e) => events.push(e));
    await t.completed;
    await expectFiles(out);
    expect(events.some((e) => e.type === 'torrent.metadata')).toBe(true);
    expect(events.some((e) => e.type === 'torrent.hashFailed' || e.type === 'torrent.banned')).toBe(false);
    // The fetched .torrent is saved beside the resume data (its info hash is the v2 one), with its layers.
    const saved = parseMetainfo(await readFile(join(out, '.bt-actor', `${full.infoHashHex}.torrent`)));
    expect([saved.kind, saved.infoHashV2Hex]).toEqual(['v2', full.infoHashV2Hex]);
    expect(filesMissingPieceLayers(saved)).toEqual([]); // with the layers fetched from the seed
    await Promise.all([seed.close(), leech.close()]);
  });

  it('a hybrid torrent by its v2-only magnet link: the info dictionary checked by its SHA-256, the files byte-identical', async () => {
    const torrent = v2Torrent(FILES, { version: 'hybrid', pieceLength: PIECE });
    const full = parseMetainfo(torrent);
    const seed = await seedEngine(torrent);
    const leech = await engine();
    const out = join(work, 'out-hybrid-btmh');
    const link = `magnet:?xt=urn:btmh:1220${full.infoHashV2Hex!}&x.pe=127.0.0.1:${seed.port}`;
    const t = await leech.add(link, { dir: out });
    await t.completed;
    await expectFiles(out);
    await Promise.all([seed.close(), leech.close()]);
  });

  it('layers fetched from peers are served on: a third engine gets them from the second, the first gone', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const stripped = stripLayers(torrent);
    const first = await seedEngine(torrent);
    const second = await engine();
    const mid = join(work, 'out-relay-1');
    await (
      await second.add(stripped, { dir: mid, peers: [{ host: '127.0.0.1', port: first.port }] })
    ).completed;
    await first.close();
    const third = await engine();
    const out = join(work, 'out-relay-2');
    await (
      await third.add(stripped, { dir: out, peers: [{ host: '127.0.0.1', port: second.port }] })
    ).completed;
    await expectFiles(out);
    await Promise.all([second.close(), third.close()]);
  });

  it('a peer connected before the layers came is answered once they did: the third engine gets them from the second alone', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const stripped = stripLayers(torrent);
    const first = await seedEngine(torrent);
    // The second engine has no peer yet: no layer, nothing to serve.
    const second = await engine();
    // No peer exchange: the third must not learn of the seed through the second.
    const noPex = { settings: { pex: false } };
    const t2 = await second.add(stripped, { dir: join(work, 'out-before-2'), ...noPex });
    // The third knows only the second, and connects while the second still lacks every layer.
    const third = await engine();
    const out = join(work, 'out-before-3');
    const events: TorrentReport[] = [];
    const t3 = await third.add(stripped, { dir: out, peers: [{ host: '127.0.0.1', port: second.port }], ...noPex });
    const connected = new Promise<void>((resolve) =>
      t3.events$.subscribe((e) => {
        events.push(e);
        if (e.type === 'torrent.peer' && e.event === 'connected') resolve();
      }),
    );
    await connected;
    // The third asks at once, on admission, and is rejected (loopback: well within this second).
    await new Promise((r) => setTimeout(r, 1000));
    // Now the second finds the seed, and fetches the layers over a connection of its own.
    t2.addPeers([{ host: '127.0.0.1', port: first.port, family: 4 }]);
    await t2.completed;
    await t3.completed;
    await expectFiles(out);
    // One connection all along (to the second), made before it had the layers: they came over it (the
    // second rejected them at first; the third asked again 30 s later). It closes only once both are done.
    const peerEvents = events.filter((e) => e.type === 'torrent.peer');
    expect(
      peerEvents.filter((e) => e.event === 'connected'),
      JSON.stringify(peerEvents),
    ).toHaveLength(1);
    for (const e of peerEvents.filter((x) => x.event === 'closed')) expect(e).toMatchObject({ reason: 'not-useful' });
    expect(events.some((e) => e.type === 'torrent.hashFailed' || e.type === 'torrent.banned')).toBe(false);
    await Promise.all([first.close(), second.close(), third.close()]);
  });

  it('a layer-less torrent started on the data (no saved .torrent): each file is checked once its layer comes, only what is missing is downloaded', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const stripped = stripLayers(torrent);
    const meta = parseMetainfo(stripped);
    const seed = await seedEngine(torrent);
    // Half of big.bin (its first 300 pieces) and all of mid.bin copied there; one.txt missing. And a
    // folder with everything.
    const half = join(work, 'out-half');
    const all = join(work, 'out-all');
    for (const f of FILES) {
      const p = join(all, 'folder', ...f.path);
      await mkdir(dirname(p), { recursive: true });
      await writeFile(p, f.data);
    }
    await mkdir(join(half, 'folder', 'sub'), { recursive: true });
    await writeFile(join(half, 'folder', 'big.bin'), FILES[0]!.data.subarray(0, 300 * PIECE));
    await writeFile(join(half, 'folder', 'sub', 'mid.bin'), FILES[1]!.data);
    const big = meta.files.find((f) => f.pathString === 'big.bin')!;
    const one = meta.files.find((f) => f.pathString === 'sub/one.txt')!;
    const missing = [...Array.from({ length: 301 }, (_, i) => big.offset / PIECE + 300 + i), one.offset / PIECE];
    const missingBytes = missing.reduce((n, i) => n + pieceSize(meta, i), 0);

    for (const [out, want] of [
      [half, missingBytes],
      [all, 0],
    ] as const) {
      const leech = await engine();
      const events: TorrentReport[] = [];
      const t = await leech.add(stripped, { dir: out, peers: [{ host: '127.0.0.1', port: seed.port }] });
      t.events$.subscribe((e) => events.push(e));
      await t.completed;
      await expectFiles(out);
      // The start check could verify only one.txt's piece (checked by its root), when it is there.
      const ready = events.find((e) => e.type === 'torrent.ready');
      expect(ready).toEqual({ type: 'torrent.ready', have: want === 0 ? 1 : 0, total: meta.pieceCount });
      expect(t.progress.verifiedPieces).toBe(meta.pieceCount);
      expect(t.progress.downloaded, out).toBe(want);
      expect(events.some((e) => e.type === 'torrent.hashFailed')).toBe(false);
      await leech.close();
    }
    await seed.close();
  });
});
