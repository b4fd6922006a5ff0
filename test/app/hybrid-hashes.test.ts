/**
 * BEP 52 hybrid torrents are known by two info hashes: the SHA-1 one (v1) and the SHA-256 one cut to 20
 * bytes (v2). A bt-actor engine seeding a hybrid takes a connection naming either and answers with the
 * hash the peer named (as libtorrent does); its announces reach a tracker (the bittorrent-tracker npm
 * server) under both hashes, and a peer listed only under the v2 hash is found and downloaded from.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server as BtTrackerServer } from 'bittorrent-tracker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DhtNode } from '../../src/app/dht-node.js';
import { Engine } from '../../src/app/engine.js';
import { TrackerClient } from '../../src/io/tracker-client.js';
import { hybridV2Hash, parseMetainfo } from '../../src/protocol/metainfo.js';
import { handshakeGate } from '../support/handshake-gate.js';
import { downloadAll, RawLeecher } from '../support/raw-leecher.js';
import { pattern, pieceSpace, v2Torrent, type V2File } from '../support/v2-torrent.js';

const FILES: V2File[] = [
  { path: ['a.bin'], data: pattern(70_001, 3) },
  { path: ['b.txt'], data: pattern(9, 4) },
];
const PIECE = 32_768;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let work: string;
const engines: Engine[] = [];
const leechers: RawLeecher[] = [];

async function engine(): Promise<Engine> {
  const e = await Engine.create({ port: 0, host: '127.0.0.1' });
  engines.push(e);
  return e;
}

/** An engine seeding the hybrid made with `announce` (the info hashes do not depend on it). */
async function seeder(announce: string[][]): Promise<Engine> {
  const seed = await engine();
  const t = await seed.add(v2Torrent(FILES, { version: 'hybrid', pieceLength: PIECE, announce }), {
    dir: join(work, 'seed'),
  });
  await t.completed;
  return seed;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-hybrid-'));
  for (const f of FILES) {
    await mkdir(join(work, 'seed', 'folder'), { recursive: true });
    await writeFile(join(work, 'seed', 'folder', ...f.path), f.data);
  }
});
afterAll(async () => {
  for (const l of leechers) l.destroy();
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('BEP 52 hybrid torrents on the wire', () => {
  it('a connection naming either hash is taken and answered with that hash; another hash is refused', async () => {
    const meta = parseMetainfo(v2Torrent(FILES, { version: 'hybrid', pieceLength: PIECE, announce: [] }));
    expect(meta.kind).toBe('hybrid');
    const v2 = hybridV2Hash(meta)!;
    expect(hex(v2)).toBe(meta.infoHashV2Hex!.slice(0, 40));
    expect(hex(v2)).not.toBe(meta.infoHashHex);
    const seed = await seeder([]);
    const data = pieceSpace(meta, FILES);
    for (const infoHash of [v2, meta.infoHash]) {
      const l = await RawLeecher.connect({ port: seed.port, infoHash, pieceCount: meta.pieceCount, fast: true });
      leechers.push(l);
      await l.interestedAndUnchoked(5_000);
      expect(hex(l.handshake!.infoHash)).toBe(hex(infoHash));
      // The whole v1 piece space comes over it, byte-identical.
      const got = await downloadAll(l, data, meta.pieceLength, { ms: 10_000 });
      expect(got.equals(Buffer.from(data))).toBe(true);
      l.destroy();
    }
    // The v2 hash's other 12 bytes are no torrent of ours: closed without a handshake.
    const other = meta.infoHashV2!.slice(12, 32);
    const l = await RawLeecher.connect({ port: seed.port, infoHash: other, pieceCount: meta.pieceCount });
    leechers.push(l);
    await l.waitClosed(5_000);
    expect(l.handshake).toBeUndefined();
    expect(l.closedByRemote).toBe(true);
    await seed.close();
  });
});

describe('BEP 52 hybrid torrents in the DHT (every node on 127.0.0.1)', () => {
  it('a hybrid is announced under both hashes, and a peer found under the v2 hash only is downloaded from', async () => {
    const torrent = v2Torrent(FILES, { version: 'hybrid', pieceLength: PIECE, announce: [] });
    const meta = parseMetainfo(torrent);
    const v2 = hybridV2Hash(meta)!;
    const nodes: DhtNode[] = [];
    const node = async (bootstrap: string[], port = 0) => {
      const n = new DhtNode({ port, host: '127.0.0.1', bootstrap, stateDir: join(work, `dht-${nodes.length}`) });
      nodes.push(n);
      return n;
    };
    try {
      // A bootstrap node of our own, started by a lookup for a hash nobody has.
      const boot = await node([]);
      const started = new Promise<number>((resolve) =>
        boot.events$.subscribe((e) => e.type === 'dht.started' && resolve(e.port)),
      );
      await boot.add(new Uint8Array(20).fill(1));
      const bootstrap = [`127.0.0.1:${await started}`];
      const dht = (name: string) => ({ bootstrap, stateDir: join(work, name) });

      // 1. An engine seeding the hybrid with the DHT announces it under both hashes.
      const seed = await Engine.create({ port: 0, host: '127.0.0.1', dht: dht('dht-seed') });
      engines.push(seed);
      const announced = new Set<string>();
      const both = new Promise<void>((resolve) =>
        seed.dht!.events$.subscribe((e) => {
          if (e.type === 'dht.lookupDone' && e.announced > 0) announced.add(e.target);
          if (announced.has(meta.infoHashHex) && announced.has(hex(v2))) resolve();
        }),
      );
      await (
        await seed.add(torrent, { dir: join(work, 'seed') })
      ).completed;
      await both;
      // A node that knows only the v2 hash finds the seed there.
      const probe = await node(bootstrap);
      const found = new Promise<string[]>((resolve) =>
        probe.peers$.subscribe((p) => p.infoHash === hex(v2) && resolve(p.peers.map((a) => `${a.host}:${a.port}`))),
      );
      await probe.add(v2);
      expect(await found).toContain(`127.0.0.1:${seed.port}`);

      // 2. A seeder without the DHT, announced by another node under the v2 hash only: an engine that
      // knows no peer finds it through its v2 lookup and downloads from it.
      const quiet = await seeder([]);
      // In front of it a gate that takes only handshakes naming the v2 hash (a peer that knows only v2).
      const gate = await handshakeGate(quiet.port, v2);
      // Its UDP port is the gate's TCP port: its announce_peer (implied port) names the gate.
      const herald = await node(bootstrap, gate.port);
      const heralded = new Promise<void>((resolve) =>
        herald.events$.subscribe((e) => e.type === 'dht.lookupDone' && e.announced > 0 && resolve()),
      );
      await herald.add(v2, gate.port);
      await heralded;
      await seed.close(); // only the quiet seeder holds the data now
      const leech = await Engine.create({ port: 0, host: '127.0.0.1', dht: dht('dht-leech') });
      engines.push(leech);
      const out = join(work, 'out-dht');
      await (
        await leech.add(torrent, { dir: out })
      ).completed;
      for (const f of FILES)
        expect(Buffer.from(await readFile(join(out, 'folder', ...f.path))).equals(f.data), f.path.join('/')).toBe(true);
      // Found under the v2 hash only: dialled with it (plaintext or not, every handshake the gate read named v2).
      expect(gate.seen.filter((h) => h !== 'other').length).toBeGreaterThan(0);
      expect(new Set(gate.seen.filter((h) => h !== 'other'))).toEqual(new Set([hex(v2)]));
      await gate.close();
    } finally {
      await Promise.all(nodes.map((n) => n.close()));
    }
  }, 60_000);
});

describe('BEP 52 hybrid torrents at a tracker (bittorrent-tracker server)', () => {
  let server: InstanceType<typeof BtTrackerServer>;
  let url: string;
  const starts: { hash: string; port: number; peerId: string }[] = [];
  beforeAll(async () => {
    server = new BtTrackerServer({ http: true, udp: false, ws: false, stats: false, interval: 60_000 });
    server.on('error', () => {});
    server.on('warning', () => {});
    server.on('start', (_addr: string, p: { info_hash: string; port: number; peer_id: string }) =>
      starts.push({ hash: p.info_hash, port: p.port, peerId: p.peer_id }),
    );
    await new Promise<void>((resolve) => server.listen(0, { http: '127.0.0.1' }, () => resolve()));
    url = `http://127.0.0.1:${(server.http!.address() as { port: number }).port}/announce`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a hybrid announces under both hashes with one peer id and port, and finds a peer listed under the v2 hash only', async () => {
    const torrent = v2Torrent(FILES, { version: 'hybrid', pieceLength: PIECE, announce: [[url]] });
    const meta = parseMetainfo(torrent);
    const v2 = hybridV2Hash(meta)!;
    // The seed announces nowhere itself: the tracker lists it under the v2 hash only, as a peer that
    // knows the torrent only as v2 would announce it.
    const seed = await seeder([]);
    const onlyV2 = new TrackerClient({ peerId: randomBytes(20), port: seed.port });
    const stats = { uploaded: 0, downloaded: 0, left: 0 };
    await onlyV2.announce({ url, infoHash: v2, event: 'started', numwant: 0, stats });
    starts.length = 0;

    const leech = await engine();
    const out = join(work, 'out-tracker');
    const t = await leech.add(torrent, { dir: out }); // no peer given: the tracker's only
    await t.completed;
    for (const f of FILES)
      expect(Buffer.from(await readFile(join(out, 'folder', ...f.path))).equals(f.data), f.path.join('/')).toBe(true);
    const mine = starts.filter((s) => s.port === leech.port);
    expect(mine.map((s) => s.hash).sort()).toEqual([meta.infoHashHex, hex(v2)].sort());
    expect(new Set(mine.map((s) => s.peerId)).size).toBe(1);
    await Promise.all([seed.close(), leech.close()]);
  });
});
