/**
 * MSE/PE between engines over real TCP on 127.0.0.1, both ways (a leecher dials a seeder: our
 * initiator against our responder), with a recording proxy in between that shows what crossed the
 * wire: under `require` neither the protocol string nor the file's bytes appear (an RC4 payload
 * stream both ways); under `prefer` against a `plaintext` engine the key exchange happens and the
 * payload is plaintext; `prefer` falls back to plaintext against a peer that knows no MSE; `require`
 * refuses plaintext peers both ways.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, EngineError, type TorrentHandle } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import type { EncryptionPolicy } from '../../src/protocol/mse.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { closeRecordingProxies, recordingProxy } from '../support/recording-proxy.js';

const PSTR = Buffer.from('\x13BitTorrent protocol');
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let work: string;
let data: Buffer;
let torrent: Uint8Array;
let meta: Metainfo;
const engines: Engine[] = [];
/** Other servers a test starts (closed after all). */
const servers: Server[] = [];

async function engine(encryption?: EncryptionPolicy) {
  const e = await Engine.create({ port: 0, host: '127.0.0.1', ...(encryption && { encryption }) });
  engines.push(e);
  return e;
}

/** Peers that closed, with their reasons (`torrent.peer` events). */
function closes(t: TorrentHandle): string[] {
  const out: string[] = [];
  t.events$.subscribe((e) => {
    if (e.type === 'torrent.peer' && e.event === 'closed') out.push(`${e.reason ?? ''} ${e.detail ?? ''}`);
  });
  return out;
}

const waitFor = async (cond: () => boolean, ms: number) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return cond();
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-mse-'));
  data = randomBytes(3 * 256 * 1024 + 1234);
  await writeFile(join(work, 'data.bin'), data);
  ({ torrent } = await createTorrent(join(work, 'data.bin'), { pieceLength: 256 * 1024 }));
  meta = parseMetainfo(torrent);
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await closeRecordingProxies();
  await rm(work, { recursive: true, force: true });
});

/** The `encryption` of each `torrent.peer` connected event of `t`. */
function connectedEncryption(t: TorrentHandle): string[] {
  const out: string[] = [];
  t.events$.subscribe((e) => {
    if (e.type === 'torrent.peer' && e.event === 'connected') out.push(e.encryption ?? 'missing');
  });
  return out;
}

describe('encryption shown per peer', () => {
  // [leecher's policy, seeder's policy, what both sides see]
  const cases: [EncryptionPolicy, EncryptionPolicy, string][] = [
    ['require', 'require', 'rc4'],
    ['prefer', 'require', 'rc4'], // the responder that requires encryption picks RC4
    ['prefer', 'prefer', 'plaintext'], // a prefer responder picks plaintext when offered (docs/wire.md)
    ['prefer', 'plaintext', 'plaintext'],
    ['plaintext', 'prefer', 'none'],
    ['plaintext', 'plaintext', 'none'],
  ];
  for (const [leechPolicy, seedPolicy, expected] of cases) {
    it(`${leechPolicy} → ${seedPolicy}: both sides' peer-connected events and peer lists say ${expected}`, async () => {
      const seed = await engine(seedPolicy);
      const st = await seed.add(torrent, { dir: work });
      await st.completed;
      const seedSaw = connectedEncryption(st);
      // The leecher is slowed so that the connection lasts while its peer list is read.
      const leech = await engine(leechPolicy);
      const dir = join(work, `enc-${leechPolicy}-${seedPolicy}`);
      const t = await leech.add(torrent, {
        dir,
        peers: [{ host: '127.0.0.1', port: seed.port }],
        limits: { down: 256 * 1024 },
      });
      const leechSaw = connectedEncryption(t);
      expect(await waitFor(() => t.peers.length > 0 && st.peers.length > 0, 10_000)).toBe(true);
      expect(t.peers.map((p) => [p.direction, p.encryption])).toEqual([['outgoing', expected]]);
      expect(st.peers.map((p) => [p.direction, p.encryption])).toEqual([['incoming', expected]]);
      expect(leechSaw).toEqual([expected]);
      expect(seedSaw).toEqual([expected]);
      await t.remove();
      await st.remove();
    });
  }

  it('prefer → a peer without MSE: the plaintext dial after the failed key exchange is `none`', async () => {
    const peer = await hostileSeeder(meta, data, {});
    try {
      const leech = await engine('prefer');
      const t = await leech.add(torrent, {
        dir: join(work, 'enc-fb'),
        peers: [{ host: '127.0.0.1', port: peer.port }],
      });
      const saw = connectedEncryption(t);
      await t.completed;
      expect(saw).toEqual(['none']);
      expect(peer.notBitTorrent).toBe(1); // the key exchange was tried
    } finally {
      await peer.stop();
    }
  });
});

describe('encryption between engines', () => {
  it('require ↔ require: the download completes byte-identical, and neither direction carries the protocol string or the data in clear', async () => {
    const seed = await engine('require');
    await seed.add(torrent, { dir: work });
    const proxy = await recordingProxy(seed.port);
    const leech = await engine('require');
    const t = await leech.add(torrent, { dir: join(work, 'rr'), peers: [{ host: '127.0.0.1', port: proxy.port }] });
    await t.completed;
    expect(sha(await readFile(join(work, 'rr', 'data.bin')))).toBe(sha(data));
    const up = proxy.up();
    const down = proxy.down();
    // The data went down the wire, encrypted: not one 64-byte sample of it appears.
    expect(down.length).toBeGreaterThan(data.length);
    const samples = [0, 100_000, 300_000, 700_000].map((at) => data.subarray(at, at + 64));
    expect({
      pstrUp: up.includes(PSTR),
      pstrDown: down.includes(PSTR),
      dataDown: samples.some((s) => down.includes(s)),
      connections: proxy.conns.length,
    }).toEqual({ pstrUp: false, pstrDown: false, dataDown: false, connections: 1 });
    proxy.close();
  });

  it('prefer → plaintext engine: the key exchange happens (our handshake hidden in it), the payload is plaintext', async () => {
    const seed = await engine('plaintext');
    await seed.add(torrent, { dir: work });
    const proxy = await recordingProxy(seed.port);
    const leech = await engine(); // prefer, the default
    expect(leech.encryption).toBe('prefer');
    const t = await leech.add(torrent, { dir: join(work, 'pp'), peers: [{ host: '127.0.0.1', port: proxy.port }] });
    await t.completed;
    expect(sha(await readFile(join(work, 'pp', 'data.bin')))).toBe(sha(data));
    const up = proxy.up();
    const down = proxy.down();
    expect({
      // Our handshake travelled encrypted (as IA); the seeder's answer, after the exchange, in clear.
      pstrUp: up.includes(PSTR),
      pstrDown: down.includes(PSTR),
      dataDown: down.includes(data.subarray(300_000, 300_064)),
      connections: proxy.conns.length,
    }).toEqual({ pstrUp: false, pstrDown: true, dataDown: true, connections: 1 });
    proxy.close();
  });

  it('prefer → a peer without MSE: one failed key exchange, then a plaintext dial that downloads', async () => {
    const peer = await hostileSeeder(meta, data, {});
    try {
      const leech = await engine('prefer');
      const t = await leech.add(torrent, { dir: join(work, 'fb'), peers: [{ host: '127.0.0.1', port: peer.port }] });
      await t.completed;
      expect(sha(await readFile(join(work, 'fb', 'data.bin')))).toBe(sha(data));
      // The seeder saw the key exchange (dropped it), then one plaintext handshake.
      expect([peer.notBitTorrent, peer.connections]).toEqual([1, 1]);
      // Remembered as plaintext-only: the next run's dial goes straight to plaintext.
      await t.remove();
      const again = await leech.add(torrent, {
        dir: join(work, 'fb2'),
        peers: [{ host: '127.0.0.1', port: peer.port }],
      });
      await again.completed;
      expect([peer.notBitTorrent, peer.connections]).toEqual([1, 2]);
    } finally {
      await peer.stop();
    }
  });

  it('prefer → a peer that takes the key exchange and never answers: after 5 s a plaintext dial downloads', async () => {
    const peer = await hostileSeeder(meta, data, {});
    // The first connection is held open in silence; the next ones are passed to the seeder.
    let silent: Socket | undefined;
    const front = createServer((client) => {
      client.on('error', () => undefined);
      if (!silent) {
        silent = client;
        client.resume();
        return;
      }
      const upstream = connect(peer.port, '127.0.0.1');
      upstream.on('error', () => client.destroy());
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
    });
    servers.push(front);
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    try {
      const leech = await engine('prefer');
      const port = (front.address() as { port: number }).port;
      const started = Date.now();
      const t = await leech.add(torrent, { dir: join(work, 'silent'), peers: [{ host: '127.0.0.1', port }] });
      await t.completed;
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
      expect(sha(await readFile(join(work, 'silent', 'data.bin')))).toBe(sha(data));
      expect([peer.notBitTorrent, peer.connections, silent?.destroyed]).toEqual([0, 1, true]);
    } finally {
      await peer.stop();
    }
  });

  it('require → a peer without MSE: refused (no plaintext dial), the torrent gets nothing', async () => {
    const peer = await hostileSeeder(meta, data, {});
    try {
      const leech = await engine('require');
      const t = await leech.add(torrent, { dir: join(work, 'rq'), peers: [{ host: '127.0.0.1', port: peer.port }] });
      const closed = closes(t);
      expect(await waitFor(() => closed.length > 0, 10_000)).toBe(true);
      expect(closed[0]).toMatch(/BT_ERR_MSE_/);
      expect(peer.served.size).toBe(0);
      expect([peer.notBitTorrent, peer.connections]).toEqual([1, 0]);
      await t.remove();
    } finally {
      await peer.stop();
    }
  });

  it('a require engine refuses plaintext handshakes; setEncryption changes the policy of new connections', async () => {
    const seed = await engine('require');
    await seed.add(torrent, { dir: work });
    const leech = await engine('plaintext');
    const t = await leech.add(torrent, { dir: join(work, 'rp'), peers: [{ host: '127.0.0.1', port: seed.port }] });
    const closed = closes(t);
    expect(await waitFor(() => closed.length > 0, 10_000)).toBe(true);
    expect(t.progress.verifiedPieces).toBe(0);
    // Now the seeder takes plaintext too: a new dial downloads.
    seed.setEncryption('prefer');
    expect(seed.encryption).toBe('prefer');
    await t.remove();
    const again = await leech.add(torrent, { dir: join(work, 'rp'), peers: [{ host: '127.0.0.1', port: seed.port }] });
    await again.completed;
    expect(sha(await readFile(join(work, 'rp', 'data.bin')))).toBe(sha(data));
    expect(() => seed.setEncryption('rot13' as EncryptionPolicy)).toThrow(EngineError);
    await expect(Engine.create({ port: 0, encryption: 'always' as EncryptionPolicy })).rejects.toMatchObject({
      code: 'BT_ERR_ENCRYPTION_POLICY',
    });
  });
});
