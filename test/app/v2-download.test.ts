/**
 * BEP 52 downloads between bt-actor engines on 127.0.0.1: a v2-only torrent (multi-file, odd sizes, pad
 * files, a file of one piece and files of many) and a hybrid one are checked on the seed's disk by their
 * merkle trees, exchanged and verified piece by piece, and land byte-identical; a block corrupted by a
 * peer fails its piece's merkle hash, the peer is banned and the piece comes again from another peer;
 * the data on disk is checked again by the same verifier (a byte changed on disk: that piece only).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { startLocalTracker } from '../../src/io/local-tracker.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { pattern, pieceSpace, v2Torrent, type V2File } from '../support/v2-torrent.js';

const FILES: V2File[] = [
  { path: ['big.bin'], data: pattern(300_001, 1) }, // 10 pieces of 32 KiB, the last short
  { path: ['empty'], data: new Uint8Array(0) },
  { path: ['sub', 'exact.bin'], data: pattern(32_768, 3) }, // exactly one piece
  { path: ['sub', 'odd.bin'], data: pattern(40_001, 4) }, // two pieces
  { path: ['sub', 'one.txt'], data: pattern(7, 2) }, // less than a piece: checked against its root
]; // in file-tree order (names sorted), as a hybrid's v1 list must be
const PIECE = 32_768;

let work: string;
const engines: Engine[] = [];

async function engine(): Promise<Engine> {
  const e = await Engine.create({ port: 0, host: '127.0.0.1' });
  engines.push(e);
  return e;
}

/** Writes the files under `dir/folder/`. */
async function writeFiles(dir: string): Promise<void> {
  for (const f of FILES) {
    const p = join(dir, 'folder', ...f.path);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.data);
  }
}

async function expectSameFiles(dir: string): Promise<void> {
  for (const f of FILES)
    expect(Buffer.from(await readFile(join(dir, 'folder', ...f.path))).equals(f.data), f.path.join('/')).toBe(true);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-v2dl-'));
  await writeFiles(join(work, 'seed'));
});
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('BEP 52 torrents between two engines', () => {
  for (const version of ['v2', 'hybrid'] as const) {
    it(`a ${version === 'v2' ? 'v2-only' : 'hybrid'} torrent: the seed's data checks by merkle, the leech gets every file byte-identical`, async () => {
      const torrent = v2Torrent(FILES, { version, pieceLength: PIECE });
      const meta = parseMetainfo(torrent);
      expect(meta.kind).toBe(version);
      const seed = await engine();
      const seeding = await seed.add(torrent, { dir: join(work, 'seed') });
      await seeding.completed; // every piece of the data on disk verified
      expect(seeding.progress.verifiedPieces).toBe(meta.pieceCount);
      const leech = await engine();
      const out = join(work, `out-${version}`);
      const events: TorrentReport[] = [];
      const t = await leech.add(torrent, { dir: out, peers: [{ host: '127.0.0.1', port: seed.port }] });
      t.events$.subscribe((e) => events.push(e));
      await t.completed;
      await expectSameFiles(out);
      expect(events.filter((e) => e.type === 'torrent.piece')).toHaveLength(meta.pieceCount);
      expect(events.some((e) => e.type === 'torrent.hashFailed')).toBe(false);
      await Promise.all([seed.close(), leech.close()]);
    });
  }

  it('a single-file v2-only torrent (its tail padded to a piece, as libtorrent lays it out) downloads byte-identical', async () => {
    const data = pattern(100_000, 9);
    const torrent = v2Torrent([{ path: ['solo.bin'], data }], { version: 'v2', pieceLength: PIECE, multiFile: false });
    const meta = parseMetainfo(torrent);
    expect([meta.multiFile, meta.pieceCount, meta.files.map((f) => f.padding)]).toEqual([false, 4, [false, true]]);
    await mkdir(join(work, 'solo'), { recursive: true });
    await writeFile(join(work, 'solo', 'solo.bin'), data);
    const seed = await engine();
    await (
      await seed.add(torrent, { dir: join(work, 'solo') })
    ).completed;
    const leech = await engine();
    const out = join(work, 'out-solo');
    const t = await leech.add(torrent, { dir: out, peers: [{ host: '127.0.0.1', port: seed.port }] });
    await t.completed;
    expect(t.files.map((f) => [f.path, f.length])).toEqual([['solo.bin', 100_000]]);
    expect(Buffer.from(await readFile(join(out, 'solo.bin'))).equals(data)).toBe(true);
    await Promise.all([seed.close(), leech.close()]);
  });

  it('a v2-only torrent is announced with its v2 info hash cut to 20 bytes: peers meet through the tracker', async () => {
    const tracker = await startLocalTracker();
    try {
      const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE, announce: [[tracker.url]] });
      const meta = parseMetainfo(torrent);
      expect(meta.infoHashHex).toBe(meta.infoHashV2Hex!.slice(0, 40));
      const seed = await engine();
      await (
        await seed.add(torrent, { dir: join(work, 'seed') })
      ).completed;
      // The seed's announce reaches the tracker under the 20-byte hash (bounded wait: it is asynchronous).
      for (let i = 0; i < 100 && tracker.swarm(meta.infoHashHex).length === 0; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect(tracker.swarm(meta.infoHashHex).map((p) => p.port)).toEqual([seed.port]);
      const leech = await engine();
      const out = join(work, 'out-tracker');
      await (
        await leech.add(torrent, { dir: out })
      ).completed; // no peer given: the tracker's only
      await expectSameFiles(out);
      await Promise.all([seed.close(), leech.close()]);
    } finally {
      await tracker.close();
    }
  });

  it('a v2-only piece with a corrupted block fails its merkle hash: the sender is banned, the piece fetched again', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const meta = parseMetainfo(torrent);
    const bad = 4; // big.bin's fifth piece
    const hostile = await hostileSeeder(meta, pieceSpace(meta, FILES), { corrupt: [bad] });
    const seed = await engine();
    try {
      await (
        await seed.add(torrent, { dir: join(work, 'seed') })
      ).completed;
      const leech = await engine();
      const out = join(work, 'out-corrupt');
      const events: TorrentReport[] = [];
      const t = await leech.add(torrent, { dir: out, peers: [{ host: '127.0.0.1', port: hostile.port }] });
      t.events$.subscribe((e) => {
        events.push(e);
        // The good seed is found only once the piece failed.
        if (e.type === 'torrent.hashFailed') t.addPeers([{ host: '127.0.0.1', port: seed.port, family: 4 }]);
      });
      await t.completed;
      await expectSameFiles(out);
      const failed = events.filter((e) => e.type === 'torrent.hashFailed');
      expect(failed).toEqual([
        {
          type: 'torrent.hashFailed',
          index: bad,
          peers: [hostile.key],
          banned: [{ peer: hostile.key, reason: `sent every block of piece ${bad}, which failed its hash` }],
        },
      ]);
      expect(hostile.served.get(bad)).toBe(2); // both blocks of the piece, once
      expect(hostile.connections).toBe(1);
      await leech.close();
    } finally {
      await hostile.stop();
      await seed.close();
    }
  });

  it('data already on disk is checked by merkle: a byte changed on disk loses that piece only, fetched again', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const meta = parseMetainfo(torrent);
    const dir = join(work, 'recheck');
    await writeFiles(dir);
    const odd = join(dir, 'folder', 'sub', 'odd.bin');
    const bytes = await readFile(odd);
    bytes[40_000] = bytes[40_000]! ^ 1; // the last byte: odd.bin's second piece
    await writeFile(odd, bytes);
    const seed = await engine();
    try {
      await (
        await seed.add(torrent, { dir: join(work, 'seed') })
      ).completed;
      const leech = await engine();
      const t = await leech.add(torrent, { dir, peers: [{ host: '127.0.0.1', port: seed.port }] });
      const oddPiece = meta.files.find((f) => f.pathString === 'sub/odd.bin')!.offset / PIECE + 1;
      const pieces: number[] = [];
      let checked: TorrentReport | undefined;
      t.events$.subscribe((e) => {
        if (e.type === 'torrent.piece') pieces.push(e.index);
        if (e.type === 'torrent.checking') checked = e;
      });
      await t.completed;
      expect(checked).toMatchObject({ checked: meta.pieceCount, total: meta.pieceCount, valid: meta.pieceCount - 1 });
      expect(pieces).toEqual([oddPiece]);
      await expectSameFiles(dir);
      await leech.close();
    } finally {
      await seed.close();
    }
  });
});
