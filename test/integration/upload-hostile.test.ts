/**
 * bt-actor as a seeder against hostile leechers, all on 127.0.0.1: a seed torrent actor with its
 * listener (wired as `bt-actor run` does, through `attachListener`), and raw TCP peers built on the
 * wire codecs (test/support/raw-leecher.ts) that request pieces out of range, oversized blocks,
 * blocks while choked, cancel what they never asked for, flood the request queue, or send garbage.
 * Each misbehaviour must be refused as BEP 3 / BEP 6 say (ignored, rejected, or the connection
 * closed), without crashing or stalling the seed: a well-behaved leecher running at the same time
 * must download the whole torrent, byte for byte, within a few seconds. Last, a connection that
 * arrives while the seed is stopping is closed at once (not left hanging on the listener).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attachListener, createTorrentActor, type TorrentActor } from '../../src/app/torrent-actor.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { PeerListener } from '../../src/io/listener.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { allowedFastSet } from '../../src/protocol/allowed-fast.js';
import { defaultPeerSettings } from '../../src/machines/peer/types.js';
import { peerKey } from '../../src/protocol/peer-address.js';
import { encodeMessage } from '../../src/protocol/wire.js';
import { allBlocks, blockKey, downloadAll, RawLeecher, type RawLeecherOptions } from '../support/raw-leecher.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const PIECE = 64 * KiB;
const LENGTH = 2 * MiB + 5000; // 33 pieces, the last one 5000 bytes
const BLOCK = 16 * KiB;
/** Bound on any single wait: generous for a loaded CI machine, far below the test timeout. */
const WAIT_MS = 5000;
/** A well-behaved leecher must have the whole torrent within this (about 0.3 s alone, 1–2 s under attack, on a quiet machine). */
const DOWNLOAD_MS = 8000;
/** How long "nothing happens" is watched for. */
const QUIET_MS = 150;

let root: string;
let data: Buffer;
let meta: Metainfo;
let listener: PeerListener;
let actor: TorrentActor;
let unroute: () => void;
const reports: TorrentReport[] = [];
const clients = new Set<RawLeecher>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bt-actor-hostile-'));
  const dir = join(root, 'seed');
  await mkdir(dir);
  data = randomBytes(LENGTH);
  await writeFile(join(dir, 'hostile.bin'), data);
  const { torrent } = await createTorrent(join(dir, 'hostile.bin'), { pieceLength: PIECE, creationDate: null });
  meta = parseMetainfo(torrent);
  expect(meta.pieceCount).toBe(33);

  listener = await PeerListener.listen({ port: 0, host: '127.0.0.1' });
  actor = createTorrentActor({ meta, dir, port: listener.port });
  actor.on('*', (e) => void reports.push(e as TorrentReport));
  unroute = attachListener(actor, listener, meta);
  actor.start();
  const t0 = Date.now();
  while (!actor.getSnapshot().matches({ active: 'complete' })) {
    if (Date.now() - t0 > WAIT_MS) throw new Error(`seed not ready: ${JSON.stringify(actor.getSnapshot().value)}`);
    await sleep(10);
  }
});

afterEach(() => {
  for (const c of clients) c.destroy();
  clients.clear();
});

afterAll(async () => {
  for (const c of clients) c.destroy();
  unroute?.();
  if (actor && actor.getSnapshot().status === 'active') {
    const done = new Promise<void>((r) => actor.subscribe({ complete: r, error: () => r() }));
    actor.send({ type: 'torrent.stop' });
    await Promise.race([done, sleep(7000)]);
  }
  await Promise.race([listener?.close(), sleep(3000)]);
  if (root) await rm(root, { recursive: true, force: true });
});

/** Where each client's reports may start: `reports.length` when it dialled. */
const firstReport = new Map<RawLeecher, number>();

async function leecher(o: Partial<RawLeecherOptions> = {}, sendHandshake = true): Promise<RawLeecher> {
  const mark = reports.length;
  const l = await RawLeecher.connect(
    { port: listener.port, infoHash: meta.infoHash, pieceCount: meta.pieceCount, ...o },
    sendHandshake,
  );
  firstReport.set(l, mark);
  clients.add(l);
  return l;
}

type PeerReportEvent = Extract<TorrentReport, { type: 'torrent.peer' }>;

/**
 * The seed's `torrent.peer closed` report of this client's connection, if any yet. Peers are keyed by
 * address, and an earlier client may have had the same local port: the report counted is the first
 * close after this connection's own `connected` report.
 */
function closedReportFor(l: RawLeecher): PeerReportEvent | undefined {
  const key = peerKey({ host: '127.0.0.1', port: l.localPort });
  const mine = (r: TorrentReport, event: 'connected' | 'closed'): r is PeerReportEvent =>
    r.type === 'torrent.peer' && r.key === key && r.event === event;
  const from = firstReport.get(l) ?? 0;
  const connected = reports.findIndex((r, i) => i >= from && mine(r, 'connected'));
  if (connected < 0) return undefined;
  return reports.slice(connected + 1).find((r): r is PeerReportEvent => mine(r, 'closed'));
}

/** The seed's close report of this client's connection, once it came. */
async function closeReport(l: RawLeecher, ms = WAIT_MS): Promise<PeerReportEvent> {
  await l.until(() => closedReportFor(l) !== undefined, ms, `close report of 127.0.0.1:${l.localPort}`);
  return closedReportFor(l)!;
}

const piecesOf = (l: RawLeecher) => l.messages.filter((m) => m.type === 'piece');
const expectBlock = (l: RawLeecher, b: { index: number; begin: number; length: number }) => {
  const got = l.pieces().get(blockKey(b));
  const at = b.index * PIECE + b.begin;
  expect(got, blockKey(b)).toBeDefined();
  expect(got!.equals(data.subarray(at, at + b.length)), blockKey(b)).toBe(true);
};

/** The seed is alive and seeding. */
function expectSeedHealthy() {
  const snap = actor.getSnapshot();
  expect(snap.status).toBe('active');
  expect(snap.matches({ active: 'complete' })).toBe(true);
}

// --- the scenarios, each on its own connection(s); reused by the concurrent test at the end ---------

/** (a) handshake, interested, unchoke, every block, the right bytes. */
async function wellBehaved(o: Partial<RawLeecherOptions> = {}): Promise<number> {
  const l = await leecher({ extended: true, ...o });
  const start = Date.now();
  await l.interestedAndUnchoked(WAIT_MS);
  // The seed says it has everything: have-all to a fast peer, a full bitfield otherwise.
  const first = l.messages.find((m) => m.type === 'bitfield' || m.type === 'have-all');
  expect(first?.type).toBe(o.fast ? 'have-all' : 'bitfield');
  const out = await downloadAll(l, data, PIECE, { depth: 16, ms: DOWNLOAD_MS });
  const elapsed = Date.now() - start;
  expect(sha(out)).toBe(sha(data));
  expect(l.closed).toBe(false);
  l.destroy();
  return elapsed;
}

/** (b) requests outside the torrent close the connection with a protocol error. */
async function outOfRange(): Promise<void> {
  const last = meta.pieceCount - 1;
  const lastSize = LENGTH - last * PIECE;
  const bad = [
    { index: meta.pieceCount, begin: 0, length: BLOCK }, // no such piece
    { index: 0xffffffff, begin: 0, length: BLOCK },
    { index: 0, begin: PIECE - BLOCK / 2, length: BLOCK }, // runs past the end of the piece
    { index: 3, begin: PIECE, length: 1 },
    { index: last, begin: 0, length: lastSize + 1 }, // past the short last piece
    { index: 0, begin: 0, length: 0 }, // empty
  ];
  await Promise.all(
    bad.map(async (b, i) => {
      // Sent while choked: the range is checked before anything else.
      const l = await leecher({ fast: i % 2 === 0 });
      await l.until(() => l.handshake !== undefined, WAIT_MS, 'handshake');
      l.request(b);
      await l.waitClosed(WAIT_MS);
      expect(l.closedByRemote, blockKey(b)).toBe(true);
      expect(piecesOf(l), blockKey(b)).toHaveLength(0);
      const r = await closeReport(l);
      expect(r.reason, blockKey(b)).toBe('protocol-error');
      expect(r.detail).toMatch(/request/);
    }),
  );
}

/** (c) 64 KiB requests are never served; the connection goes on serving 16 KiB ones. */
async function oversized(fast: boolean): Promise<void> {
  const l = await leecher({ fast });
  await l.interestedAndUnchoked(WAIT_MS);
  const big = { index: 1, begin: 0, length: PIECE };
  const big2 = { index: 2, begin: BLOCK, length: 2 * BLOCK };
  const normal = { index: 1, begin: BLOCK, length: BLOCK };
  l.request(big);
  l.request(big2);
  l.request(normal);
  await l.until(() => l.pieces().has(blockKey(normal)), WAIT_MS, 'normal block after an oversized request');
  await sleep(QUIET_MS);
  expectBlock(l, normal);
  expect(piecesOf(l)).toHaveLength(1);
  // BEP 6: a fast peer is told; a plain BEP 3 peer's oversized requests are dropped silently.
  expect(l.rejects()).toEqual(fast ? [big, big2] : []);
  expect(l.closed).toBe(false);
  expect(l.framingError).toBeUndefined();
  // Still usable.
  const more = { index: 32, begin: 0, length: LENGTH - 32 * PIECE };
  l.request(more);
  await l.until(() => l.pieces().has(blockKey(more)), WAIT_MS, 'the short last block');
  expectBlock(l, more);
  l.destroy();
}

/** (d) cancels of blocks never requested (even outside the torrent) change nothing. */
async function strayCancels(): Promise<void> {
  const l = await leecher({ fast: true });
  await l.until(() => l.handshake !== undefined, WAIT_MS, 'handshake');
  for (const c of [
    { index: 0, begin: 0, length: BLOCK },
    { index: meta.pieceCount + 7, begin: 0, length: BLOCK },
    { index: 5, begin: 999_999, length: 7 },
    { index: 0xffffffff, begin: 0xffffffff, length: 0xffffffff },
  ])
    l.send({ type: 'cancel', ...c });
  await l.interestedAndUnchoked(WAIT_MS);
  for (let i = 0; i < 100; i++) l.send({ type: 'cancel', index: i % meta.pieceCount, begin: 0, length: BLOCK });
  const b = { index: 7, begin: 2 * BLOCK, length: BLOCK };
  l.request(b);
  await l.until(() => l.pieces().has(blockKey(b)), WAIT_MS, 'block after stray cancels');
  expectBlock(l, b);
  // Cancelling a block already served is harmless too.
  l.send({ type: 'cancel', ...b });
  const b2 = { index: 8, begin: 0, length: BLOCK };
  l.request(b2);
  await l.until(() => l.pieces().has(blockKey(b2)), WAIT_MS, 'block after a late cancel');
  expect(l.closed).toBe(false);
  expect(closedReportFor(l)).toBeUndefined();
  l.destroy();
}

/** (e) requests made while choked are not served, not even after the unchoke (BEP 3); BEP 6 peers get rejects. */
async function requestWhileChoked(fast: boolean): Promise<void> {
  const l = await leecher({ fast });
  await l.until(() => l.handshake !== undefined, WAIT_MS, 'handshake');
  // A piece outside our BEP 6 allowed-fast set for 127.0.0.1 (the data is random, so is the set): those
  // pieces, and only those, a fast peer may have while choked.
  const fastSet = allowedFastSet('127.0.0.1', meta.infoHash, meta.pieceCount, defaultPeerSettings.allowedFastSetSize);
  const index = [4, 5, 6, 7, 8, 9, 10].find((i) => !fastSet.includes(i))!;
  const early = [
    { index, begin: 0, length: BLOCK },
    { index, begin: BLOCK, length: BLOCK },
  ];
  for (const b of early) l.request(b); // not interested yet: we are choked
  if (fast) await l.until(() => l.rejects().length === 2, WAIT_MS, 'rejects while choked');
  else await sleep(QUIET_MS);
  expect(l.choked).toBe(true);
  expect(piecesOf(l)).toHaveLength(0);
  expect(l.rejects()).toEqual(fast ? early : []);
  await l.interestedAndUnchoked(WAIT_MS);
  await sleep(QUIET_MS);
  expect(piecesOf(l)).toHaveLength(0); // the early requests were dropped, not queued
  // Asked again once unchoked, they are served.
  for (const b of early) l.request(b);
  await l.until(() => piecesOf(l).length === 2, WAIT_MS, 'blocks after unchoke');
  for (const b of early) expectBlock(l, b);
  expect(l.closed).toBe(false);
  l.destroy();
}

/** (f) ten thousand requests in one go: the peer is dropped as a flood; memory stays bounded. */
async function flood(): Promise<{ rssGrowth: number; heapGrowth: number }> {
  const l = await leecher({ fast: true });
  await l.interestedAndUnchoked(WAIT_MS);
  const blocks = allBlocks(LENGTH, PIECE);
  const requests = Buffer.concat(
    Array.from({ length: 10_000 }, (_, i) => encodeMessage({ type: 'request', ...blocks[i % blocks.length]! })),
  );
  const before = process.memoryUsage();
  l.write(requests);
  await l.waitClosed(WAIT_MS);
  const after = process.memoryUsage();
  expect(l.closedByRemote).toBe(true);
  const r = await closeReport(l);
  expect(r.reason).toBe('protocol-error');
  expect(r.detail).toMatch(/flood/);
  // At most the queue cap of blocks went out before the drop.
  expect(piecesOf(l).length).toBeLessThanOrEqual(2000);
  return {
    rssGrowth: after.rss - before.rss,
    heapGrowth: after.heapUsed + after.external - before.heapUsed - before.external,
  };
}

/** (g) bytes after the handshake that are no wire message: closed with a protocol error. */
async function garbage(): Promise<void> {
  const streams = [
    Buffer.from([0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3]), // a 4 GiB length prefix
    Buffer.concat([Buffer.from([0, 0, 0, 5, 6]), Buffer.from([0, 0, 0, 1])]), // a request 8 bytes short
    Buffer.concat([Buffer.from([0, 0, 0, 2, 4, 0]), randomBytes(64)]), // a have of 1 byte, then noise
    Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 1]), Buffer.from([0, 2, 0, 0, 7])]), // fine, then a 128 KiB piece
  ];
  await Promise.all(
    streams.map(async (bytes, i) => {
      const l = await leecher({ fast: i % 2 === 1 });
      await l.until(() => l.handshake !== undefined, WAIT_MS, 'handshake');
      l.write(bytes);
      await l.waitClosed(WAIT_MS);
      expect(l.closedByRemote, `garbage ${i}`).toBe(true);
      const r = await closeReport(l);
      expect(r.reason, `garbage ${i}: ${r.detail}`).toBe('protocol-error');
    }),
  );
}

describe('bt-actor seeding to hostile leechers', () => {
  it('(a) serves a well-behaved leecher every block, byte for byte', async () => {
    const ms = await wellBehaved({ fast: true });
    expect(ms).toBeLessThan(DOWNLOAD_MS);
    await wellBehaved({ fast: false, extended: false });
    expectSeedHealthy();
  });

  it('(b) closes a connection that requests outside a piece or the torrent', async () => {
    await outOfRange();
    expectSeedHealthy();
  });

  it('(c) never serves an oversized (64 KiB) request, rejects it to a fast peer, and keeps serving', async () => {
    await Promise.all([oversized(true), oversized(false)]);
    expectSeedHealthy();
  });

  it('(d) shrugs off cancels of blocks never requested', async () => {
    await strayCancels();
    expectSeedHealthy();
  });

  it('(e) does not serve requests made while choked', async () => {
    await Promise.all([requestWhileChoked(true), requestWhileChoked(false)]);
    expectSeedHealthy();
  });

  it('(f) drops a peer that floods ten thousand requests, without running out of memory', async () => {
    const { rssGrowth, heapGrowth } = await flood();
    // The queue cap bounds what the flood costs: 2000 reads of 16 KiB at most (32 MiB), never 10,000.
    expect(rssGrowth).toBeLessThan(128 * MiB);
    expect(heapGrowth).toBeLessThan(128 * MiB);
    expectSeedHealthy();
    expect(Object.keys(actor.getSnapshot().context.peers)).toEqual([]);
  });

  it('(g) closes a connection that sends garbage after its handshake', async () => {
    await garbage();
    expectSeedHealthy();
  });

  it('(h) a leecher that requests but never reads: the seed stops reading for it (backpressure), memory stays flat', async () => {
    const l = await leecher({ fast: true });
    await l.interestedAndUnchoked(WAIT_MS);
    l.socket.pause(); // never read what the seed sends
    const blocks = allBlocks(LENGTH, PIECE);
    const before = process.memoryUsage();
    // Valid requests, 500 every 250 ms, for 3 s: under the flood cap per burst, far more than the socket can hold.
    for (let round = 0; round < 12 && !l.closed; round++) {
      l.write(
        Buffer.concat(
          Array.from({ length: 500 }, (_, i) =>
            encodeMessage({ type: 'request', ...blocks[(round * 500 + i) % blocks.length]! }),
          ),
        ),
      );
      await new Promise((r) => setTimeout(r, 250));
    }
    const after = process.memoryUsage();
    // Without backpressure this grew by ~40 MiB/s; with it, the socket buffer (~1 MiB) and a few reads.
    expect(after.rss + after.external - (before.rss + before.external)).toBeLessThan(64 * MiB);
    // Its requests piled up in the queue instead: past the cap it is dropped as a flood.
    await l.waitClosed(WAIT_MS);
    const r = await closeReport(l);
    expect(r.detail).toMatch(/flood/);
  });

  it('a good leecher downloads everything while all of them attack at once', async () => {
    const start = Date.now();
    const good = wellBehaved({ fast: true });
    const hostile = Promise.all([
      outOfRange(),
      oversized(true),
      strayCancels(),
      requestWhileChoked(false),
      // One flood after another, so at most one holds an upload slot at a time.
      (async () => {
        for (let i = 0; i < 3; i++) await flood();
      })(),
      garbage(),
      garbage(),
    ]);
    const [ms] = await Promise.all([good, hostile]);
    expect(ms).toBeLessThan(DOWNLOAD_MS);
    expect(Date.now() - start).toBeLessThan(3 * DOWNLOAD_MS);
    expectSeedHealthy();
    // And the seed still serves as well as before.
    expect(await wellBehaved({ fast: false, extended: true })).toBeLessThan(DOWNLOAD_MS);
  });
});

describe('routing while the seed stops', () => {
  it('closes a connection that arrives while the torrent is stopping, and the listener closes at once', async () => {
    // A tracker that answers `started` at once and `stopped` only when the test says so: until then the
    // torrent stays in its stopping state.
    let releaseStopped!: () => void;
    const stoppedReleased = new Promise<void>((r) => (releaseStopped = r));
    let stoppedAsked = false;
    const tracker = createServer((req, res) => {
      const body = Buffer.from(encodeBencode({ interval: 1800, peers: new Uint8Array(0) }));
      if (!req.url?.includes('event=stopped')) return void res.end(body);
      stoppedAsked = true;
      void stoppedReleased.then(() => res.end(body));
    });
    await new Promise<void>((r) => tracker.listen(0, '127.0.0.1', () => r()));
    const dir = join(root, 'stopping');
    await mkdir(dir);
    await writeFile(join(dir, 'small.bin'), randomBytes(100 * KiB));
    const announce = `http://127.0.0.1:${(tracker.address() as { port: number }).port}/announce`;
    const m = parseMetainfo(
      (await createTorrent(join(dir, 'small.bin'), { pieceLength: PIECE, announce: [[announce]] })).torrent,
    );
    const l = await PeerListener.listen({ port: 0, host: '127.0.0.1' });
    const a = createTorrentActor({ meta: m, dir, port: l.port, settings: { stopTimeoutMs: 20_000 } });
    let announced = false;
    a.on('*', (e) => {
      if (e.type === 'announcer.tracker' && e.report.type === 'tracker.response') announced = true;
    });
    const off = attachListener(a, l, m);
    const done = new Promise<void>((r) => a.subscribe({ complete: r, error: () => r() }));
    let c: RawLeecher | undefined;
    try {
      a.start();
      const t0 = Date.now();
      while (!(announced && a.getSnapshot().matches({ active: 'complete' }))) {
        if (Date.now() - t0 > WAIT_MS) throw new Error('seed not announced');
        await sleep(10);
      }
      a.send({ type: 'torrent.stop' });
      expect(a.getSnapshot().matches('stopping')).toBe(true);
      c = await RawLeecher.connect({ port: l.port, infoHash: m.infoHash, pieceCount: m.pieceCount });
      await c.waitClosed(WAIT_MS);
      expect(c.closedByRemote).toBe(true);
      expect(c.handshake).toBeUndefined();
      expect(stoppedAsked).toBe(true);
      expect(a.getSnapshot().matches('stopping')).toBe(true); // closed by the route, not by the end of the stop
      releaseStopped();
      await done;
      expect(a.getSnapshot().value).toBe('stopped');
      // Nothing is left open on the listener: it closes at once.
      const closedAt = Date.now();
      await Promise.race([l.close(), sleep(WAIT_MS)]);
      expect(Date.now() - closedAt).toBeLessThan(WAIT_MS / 2);
    } finally {
      releaseStopped();
      c?.destroy();
      off();
      if (a.getSnapshot().status === 'active') a.send({ type: 'torrent.stop' });
      await Promise.race([done, sleep(WAIT_MS)]);
      await Promise.race([l.close().catch(() => {}), sleep(1000)]);
      tracker.closeAllConnections();
      await new Promise<void>((r) => tracker.close(() => r()));
    }
  });
});
