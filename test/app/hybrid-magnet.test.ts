/**
 * BEP 52 hybrids under both hashes, between bt-actor engines on 127.0.0.1: a hybrid magnet link
 * (`urn:btih:` and `urn:btmh:`) is reached by either hash before its metadata is known and is announced
 * under both at a tracker (the bittorrent-tracker npm server); a seeder listed there under the v2 hash
 * only, behind a gate that takes only handshakes naming the v2 hash (a peer that knows the torrent only
 * as v2), is dialled with that hash — from the magnet link and from the .torrent — and downloaded from;
 * a link whose two hashes name different dictionaries fails with BT_ERR_MAGNET_HYBRID_MISMATCH.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as BtTrackerServer } from 'bittorrent-tracker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { TrackerClient } from '../../src/io/tracker-client.js';
import { formatMagnet } from '../../src/protocol/magnet.js';
import { sha256 } from '../../src/protocol/merkle.js';
import { hybridV2Hash, parseMetainfo } from '../../src/protocol/metainfo.js';
import { handshakeGate, type HandshakeGate } from '../support/handshake-gate.js';
import { RawLeecher } from '../support/raw-leecher.js';
import { pattern, v2Torrent, type V2File } from '../support/v2-torrent.js';

const FILES: V2File[] = [
  { path: ['a.bin'], data: pattern(90_001, 5) },
  { path: ['b.txt'], data: pattern(17, 6) },
];
const PIECE = 32_768;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let work: string;
let server: InstanceType<typeof BtTrackerServer>;
let url: string;
const starts: { hash: string; port: number }[] = [];
const engines: Engine[] = [];
const gates: HandshakeGate[] = [];
const leechers: RawLeecher[] = [];

async function engine(): Promise<Engine> {
  // Plaintext dials: the gate reads the handshake (under `prefer` an MSE dial is refused, then retried plain).
  const e = await Engine.create({ port: 0, host: '127.0.0.1', encryption: 'plaintext' });
  engines.push(e);
  return e;
}

async function expectFiles(out: string): Promise<void> {
  for (const f of FILES)
    expect(Buffer.from(await readFile(join(out, 'folder', ...f.path))).equals(f.data), f.path.join('/')).toBe(true);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-hybrid-magnet-'));
  await mkdir(join(work, 'seed', 'folder'), { recursive: true });
  for (const f of FILES) await writeFile(join(work, 'seed', 'folder', ...f.path), f.data);
  server = new BtTrackerServer({ http: true, udp: false, ws: false, stats: false, interval: 60_000 });
  server.on('error', () => {});
  server.on('warning', () => {});
  server.on('start', (_addr: string, p: { info_hash: string; port: number }) =>
    starts.push({ hash: p.info_hash, port: p.port }),
  );
  await new Promise<void>((resolve) => server.listen(0, { http: '127.0.0.1' }, () => resolve()));
  url = `http://127.0.0.1:${(server.http!.address() as { port: number }).port}/announce`;
});
afterAll(async () => {
  for (const l of leechers) l.destroy();
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await Promise.all(gates.map((g) => g.close()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(work, { recursive: true, force: true });
});

const torrent = () => v2Torrent(FILES, { version: 'hybrid', pieceLength: PIECE, announce: [[url]] });

/** A seeder of the hybrid (announcing nowhere itself) behind a gate for the v2 hash, listed under v2 only. */
async function v2OnlySeeder(): Promise<{ gate: HandshakeGate; seed: Engine }> {
  const meta = parseMetainfo(torrent());
  const seed = await engine();
  const t = await seed.add(v2Torrent(FILES, { version: 'hybrid', pieceLength: PIECE, announce: [] }), {
    dir: join(work, 'seed'),
  });
  await t.completed;
  const gate = await handshakeGate(seed.port, hybridV2Hash(meta)!);
  gates.push(gate);
  const onlyV2 = new TrackerClient({ peerId: randomBytes(20), port: gate.port });
  await onlyV2.announce({
    url,
    infoHash: hybridV2Hash(meta)!,
    event: 'started',
    numwant: 0,
    stats: { uploaded: 0, downloaded: 0, left: 0 },
  });
  return { gate, seed };
}

describe('a hybrid magnet link', () => {
  it('before its metadata, a connection naming the v2 hash is taken and answered with it', async () => {
    const meta = parseMetainfo(torrent());
    const m = await engine();
    const link = formatMagnet({ infoHash: meta.infoHash, infoHashV2: meta.infoHashV2! });
    const t = await m.add(link, { dir: join(work, 'out-route') });
    expect(t.meta).toBeUndefined();
    for (const infoHash of [hybridV2Hash(meta)!, meta.infoHash]) {
      const l = await RawLeecher.connect({ port: m.port, infoHash, pieceCount: meta.pieceCount, extended: true });
      leechers.push(l);
      for (let i = 0; i < 500 && !l.handshake && !l.closed; i++) await new Promise((r) => setTimeout(r, 10));
      expect(l.handshake && hex(l.handshake.infoHash)).toBe(hex(infoHash));
      l.destroy();
    }
    await t.remove();
  });

  it('is announced under both hashes, dials a peer listed under the v2 hash only with that hash, checks and downloads', async () => {
    const meta = parseMetainfo(torrent());
    const v2 = hybridV2Hash(meta)!;
    const { gate } = await v2OnlySeeder();
    const leech = await engine();
    const out = join(work, 'out-magnet');
    const link = formatMagnet({ infoHash: meta.infoHash, infoHashV2: meta.infoHashV2!, trackers: [url] });
    const t = await leech.add(link, { dir: out });
    await t.completed;
    await expectFiles(out);
    expect(t.meta?.kind).toBe('hybrid');
    expect(t.meta?.infoHashV2Hex).toBe(meta.infoHashV2Hex);
    expect(new Set(starts.filter((s) => s.port === leech.port).map((s) => s.hash))).toEqual(
      new Set([meta.infoHashHex, hex(v2)]),
    );
    // The gate saw only handshakes naming the v2 hash (none naming v1, no MSE).
    expect(gate.seen.length).toBeGreaterThan(0);
    expect(new Set(gate.seen)).toEqual(new Set([hex(v2)]));
    await t.remove();
  }, 30_000);

  it('whose two hashes name different dictionaries fails with BT_ERR_MAGNET_HYBRID_MISMATCH', async () => {
    const meta = parseMetainfo(torrent());
    const seed = await engine();
    await (
      await seed.add(torrent(), { dir: join(work, 'seed') })
    ).completed;
    const leech = await engine();
    const wrong = sha256(randomBytes(32));
    const link = formatMagnet({
      infoHash: meta.infoHash,
      infoHashV2: wrong,
      peers: [{ host: '127.0.0.1', port: seed.port }],
    });
    const t = await leech.add(link, { dir: join(work, 'out-mismatch') });
    await expect(t.completed).rejects.toMatchObject({ code: 'BT_ERR_MAGNET_HYBRID_MISMATCH' });
    expect(t.outcome).toMatchObject({ state: 'error', code: 'BT_ERR_MAGNET_HYBRID_MISMATCH' });
    await Promise.all([t.remove(), seed.close()]);
  }, 30_000);
});

describe('a hybrid .torrent', () => {
  it('dials a peer listed under the v2 hash only with that hash and downloads from it', async () => {
    const meta = parseMetainfo(torrent());
    const { gate } = await v2OnlySeeder();
    const leech = await engine();
    const out = join(work, 'out-torrent');
    const t = await leech.add(torrent(), { dir: out });
    await t.completed;
    await expectFiles(out);
    expect(new Set(gate.seen)).toEqual(new Set([hex(hybridV2Hash(meta)!)]));
    await t.remove();
  }, 30_000);
});
