/**
 * bt-actor downloading from a magnet link (BEP 9), on 127.0.0.1 with no tracker and no DHT: the link
 * names the info hash and a peer (`x.pe`); bt-actor fetches the info dictionary over `ut_metadata`, saves
 * it as `<out>/.bt-actor/<hash>.torrent`, then downloads and verifies the data.
 * - from a libtorrent seeder; then a second run with the same link and folder does not fetch it again;
 * - from a WebTorrent seeder (`dht: false`), named by `x.pe` or by the link's tracker (`tr`);
 * - beside a hostile peer that answers every metadata request with wrong bytes: its assemblies fail
 *   their hash, it is struck (then banned), and the right metadata still arrives from libtorrent.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { startLocalTracker } from '../../src/io/local-tracker.js';
import { decodeBencode, encodeBencode, get, isDict } from '../../src/protocol/bencode.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { encodeUtMetadata, metadataPieceLength } from '../../src/protocol/ut-metadata.js';
import { runBtActor } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { freePort, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';
import { startWebTorrentSeeder } from '../support/webtorrent-seeder.js';

let work: string;
let src: string;
let torrentFile: string;
let torrentBytes: Uint8Array;
let meta: Metainfo;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-magnet-interop-'));
  src = join(work, 'src');
  await writeRandom(join(src, 'data.bin'), 16 * 1024 * 1024);
  // 16 KiB pieces: 1024 piece hashes make an info dictionary of two ut_metadata pieces.
  const { torrent } = await createTorrent(join(src, 'data.bin'), { pieceLength: 16 * 1024, announce: [] });
  torrentBytes = torrent;
  torrentFile = join(work, 'data.torrent');
  await writeFile(torrentFile, torrent);
  meta = parseMetainfo(torrent);
  expect(meta.infoBytes.length).toBeGreaterThan(16 * 1024);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await rm(work, { recursive: true, force: true });
});

const magnetOf = (...peers: number[]) =>
  `magnet:?xt=urn:btih:${meta.infoHashHex}&dn=magnet-test${peers.map((p) => `&x.pe=127.0.0.1:${p}`).join('')}`;

async function btActor(magnet: string, out: string, timeoutMs = 90_000) {
  const port = await freePort();
  return runBtActor([magnet, '--out', out, '--port', String(port), '--bind', '127.0.0.1'], timeoutMs);
}

describe('bt-actor run with a magnet link (BEP 9 metadata, then the data)', () => {
  it('from a libtorrent seeder; a second run with the same link and folder fetches nothing again', async () => {
    const port = await freePort();
    const seeder: Seeder = await libtorrentSeeder(torrentFile, src, port, { workDir: work });
    try {
      const out = join(work, 'out-lt');
      const r = await btActor(magnetOf(port), out);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines.find((l) => l.event === 'listening')).toMatchObject({ name: 'magnet-test' });
      expect(r.lines.filter((l) => l.event === 'metadata')).toEqual([
        expect.objectContaining({ name: 'data.bin', size: meta.length, pieces: meta.pieceCount }),
      ]);
      expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true, length: meta.length });
      await expectSameData(meta, src, out);
      // The fetched torrent is kept beside the resume data: its info dictionary byte for byte.
      const saved = parseMetainfo(await readFile(join(out, '.bt-actor', `${meta.infoHashHex}.torrent`)));
      expect(Buffer.from(saved.infoBytes).equals(Buffer.from(meta.infoBytes))).toBe(true);

      // Again, with no peer at all: the saved torrent is read, the data found complete, no metadata phase.
      const again = await btActor(`magnet:?xt=urn:btih:${meta.infoHashHex}`, out, 30_000);
      expect(again.code, again.stderr).toBe(0);
      expect(again.lines.filter((l) => l.event === 'metadata')).toEqual([]);
      expect(again.lines.find((l) => l.event === 'listening')).toMatchObject({ name: 'data.bin' });
      expect(again.lines.at(-1)).toMatchObject({ event: 'done', complete: true, downloaded: 0 });
    } finally {
      await seeder.stop();
    }
  }, 150_000);

  it('from a WebTorrent seeder (x.pe)', async () => {
    const seeder = await startWebTorrentSeeder({ torrents: [{ torrent: torrentBytes, dataDir: src }] });
    try {
      const out = join(work, 'out-wt');
      const r = await btActor(magnetOf(seeder.port), out);
      expect(r.code, `${r.stderr}\n${seeder.warnings.join('\n')}`).toBe(0);
      expect(r.lines.filter((l) => l.event === 'metadata')).toHaveLength(1);
      await expectSameData(meta, src, out);
    } finally {
      await seeder.stop();
    }
  }, 150_000);

  it('from the peers its tracker gives (tr, no x.pe): a WebTorrent seeder announced to a local tracker', async () => {
    const tracker = await startLocalTracker();
    const { torrent } = await createTorrent(join(src, 'data.bin'), {
      pieceLength: 16 * 1024,
      announce: [[tracker.url]],
    });
    const tracked = parseMetainfo(torrent);
    const seeder = await startWebTorrentSeeder({ torrents: [{ torrent, dataDir: src }] });
    try {
      const out = join(work, 'out-tracker');
      const link = `magnet:?xt=urn:btih:${tracked.infoHashHex}&tr=${encodeURIComponent(tracker.url)}`;
      const r = await btActor(link, out);
      expect(r.code, `${r.stderr}\n${seeder.warnings.join('\n')}`).toBe(0);
      expect(r.lines.find((l) => l.event === 'peers')).toMatchObject({ tracker: tracker.url });
      expect(r.lines.filter((l) => l.event === 'metadata')).toHaveLength(1);
      await expectSameData(tracked, src, out);
      // The saved torrent keeps the link's tracker.
      const saved = parseMetainfo(await readFile(join(out, '.bt-actor', `${tracked.infoHashHex}.torrent`)));
      expect(saved.announce).toEqual([[tracker.url]]);
    } finally {
      await seeder.stop();
      await tracker.close();
    }
  }, 150_000);

  it('beside a peer that sends wrong metadata: it is struck and banned, the right metadata still arrives', async () => {
    const liar = await hostileMetadataPeer(meta);
    const ltPort = await freePort();
    let seeder: Seeder | undefined;
    try {
      const out = join(work, 'out-hostile');
      // The honest seeder comes up only once the liar has answered: its lies are fetched first.
      const run = btActor(magnetOf(liar.port, ltPort), out, 120_000);
      const deadline = Date.now() + 30_000;
      while (liar.served() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(liar.served()).toBeGreaterThan(0);
      seeder = await libtorrentSeeder(torrentFile, src, ltPort, { workDir: work });
      const r = await run;
      expect(r.code, r.stderr).toBe(0);
      const failed = r.lines.filter((l) => l.event === 'metadata-failed');
      const liarKey = `127.0.0.1:${liar.port}`;
      expect(failed.length).toBeGreaterThanOrEqual(2);
      for (const f of failed) expect(f.peers).toEqual([liarKey]);
      expect(failed.at(-1)!.banned).toEqual([expect.objectContaining({ peer: liarKey })]);
      expect(r.lines.filter((l) => l.event === 'metadata')).toHaveLength(1);
      await expectSameData(meta, src, out);
      expect(existsSync(join(out, '.bt-actor', `${meta.infoHashHex}.torrent`))).toBe(true);
    } finally {
      await seeder?.stop();
      await liar.stop();
    }
  }, 180_000);
});

/**
 * A peer on 127.0.0.1 that speaks the BitTorrent handshake and BEP 10, advertises the right
 * `metadata_size`, and answers every `ut_metadata` request with random bytes of the right length.
 */
async function hostileMetadataPeer(m: Metainfo) {
  let served = 0;
  const sockets = new Set<Socket>();
  const OUR_UT = 2;
  const frame = (id: number, payload: Uint8Array) => {
    const b = Buffer.alloc(5 + payload.length);
    b.writeUInt32BE(1 + payload.length, 0);
    b[4] = id;
    Buffer.from(payload).copy(b, 5);
    return b;
  };
  const extended = (extId: number, payload: Uint8Array) => frame(20, Buffer.concat([Buffer.of(extId), payload]));
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    let shook = false;
    let theirUt: number | undefined;
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!shook) {
        if (buf.length < 68) return;
        shook = true;
        const reserved = Buffer.alloc(8);
        reserved[5] = 0x10;
        socket.write(
          Buffer.concat([Buffer.of(19), Buffer.from('BitTorrent protocol'), reserved, m.infoHash, randomBytes(20)]),
        );
        socket.write(
          extended(0, encodeBencode({ m: { ut_metadata: OUR_UT }, metadata_size: m.infoBytes.length, v: 'liar' })),
        );
        buf = buf.subarray(68);
      }
      while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
        const len = buf.readUInt32BE(0);
        const msg = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (len < 2 || msg[0] !== 20) continue;
        const body = msg.subarray(2);
        const { value } = decodeBencode(body, { allowTrailing: true });
        if (!isDict(value)) continue;
        if (msg[1] === 0) {
          const mm = get(value, 'm');
          const ut = isDict(mm) ? get(mm, 'ut_metadata') : undefined;
          if (typeof ut === 'number') theirUt = ut;
        } else if (msg[1] === OUR_UT && get(value, 'msg_type') === 0 && theirUt !== undefined) {
          const piece = get(value, 'piece') as number;
          const data = randomBytes(metadataPieceLength(m.infoBytes.length, piece));
          socket.write(
            extended(theirUt, encodeUtMetadata({ type: 'data', piece, totalSize: m.infoBytes.length, data })),
          );
          served++;
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    served: () => served,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
