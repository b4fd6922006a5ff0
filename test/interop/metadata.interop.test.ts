/**
 * bt-actor serving BEP 9 `ut_metadata`: a libtorrent magnet leecher that knows only the info hash and
 * bt-actor's address (`x.pe`) — no .torrent, no tracker, no DHT — gets the metadata (two 16 KiB
 * metadata pieces) and then the data from a bt-actor seeder on 127.0.0.1. The same torrent made private
 * (BEP 27): bt-actor does not offer `ut_metadata`, so the leecher never gets the metadata. A WebTorrent
 * magnet leecher (in this process, `x.pe` only) gets the metadata and the data as well.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebTorrent from 'webtorrent';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { freePort, startProcess, stopAll, waitForPort } from '../support/proc.js';
import { startBtActorSeed } from '../support/bt-actor-run.js';

const HELPERS = join(import.meta.dirname, 'helpers');
let work: string;

/** Starts `bt-actor run --seed` on data already in `dataDir`; resolves once it is seeding. */
async function btActorSeed(torrent: string, dataDir: string, port: number) {
  return startBtActorSeed(torrent, dataDir, port);
}

/** libtorrent fetching `magnet` (metadata from its `x.pe` peer); resolves with its exit code and log. */
async function libtorrentMagnet(magnet: string, outDir: string, timeoutS: number) {
  const port = await freePort();
  const proc = startProcess('/usr/bin/python3', [
    join(HELPERS, 'lt_magnet.py'),
    magnet,
    outDir,
    String(port),
    '--timeout',
    String(timeoutS),
  ]);
  try {
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), (timeoutS + 10) * 1000);
      proc.child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    return { code, output: proc.output() };
  } finally {
    await proc.stop();
  }
}

async function makeTorrent(src: string, isPrivate: boolean): Promise<{ file: string; meta: Metainfo }> {
  // 16 KiB pieces: 1024 piece hashes make an info dictionary of two ut_metadata pieces.
  const { torrent } = await createTorrent(src, {
    pieceLength: 16 * 1024,
    creationDate: null,
    announce: [],
    ...(isPrivate && { private: true }),
  });
  const file = join(work, `${isPrivate ? 'private' : 'public'}.torrent`);
  await writeFile(file, torrent);
  return { file, meta: parseMetainfo(torrent) };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-metadata-interop-'));
  await writeRandom(join(work, 'src', 'data.bin'), 16 * 1024 * 1024);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await rm(work, { recursive: true, force: true });
});

describe('bt-actor serves ut_metadata (BEP 9)', () => {
  it('a libtorrent magnet leecher gets the metadata, then the data, from a bt-actor seeder', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src', 'data.bin'), false);
    expect(meta.infoBytes.length).toBeGreaterThan(16 * 1024);
    expect(meta.private).toBe(false);
    const port = await freePort();
    const seed = await btActorSeed(file, join(work, 'src'), port);
    try {
      await waitForPort(port);
      const out = join(work, 'out-public');
      const r = await libtorrentMagnet(`magnet:?xt=urn:btih:${meta.infoHashHex}&x.pe=127.0.0.1:${port}`, out, 60);
      expect(r.output).toContain(`metadata ${meta.infoBytes.length} bytes`);
      expect(r.code, r.output).toBe(0);
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      expect(await seed.stop()).toBe(0);
    }
  }, 120_000);

  it('a WebTorrent magnet leecher (x.pe) gets the metadata, then the data, from a bt-actor seeder', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src', 'data.bin'), false);
    const port = await freePort();
    const seed = await btActorSeed(file, join(work, 'src'), port);
    // WebTorrent in this process, with nothing but the link: no DHT, no trackers, no PEX, no LSD.
    const client = new WebTorrent({
      torrentPort: 0,
      dht: false,
      lsd: false,
      utp: false,
      utPex: false,
      webSeeds: false,
      natUpnp: false,
      natPmp: false,
      tracker: {},
    });
    try {
      await waitForPort(port);
      const out = join(work, 'out-webtorrent');
      const t = client.add(`magnet:?xt=urn:btih:${meta.infoHashHex}&x.pe=127.0.0.1:${port}`, { path: out });
      const got = await new Promise<{ metadata: number; done: boolean }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('WebTorrent: no metadata and data within 60 s')), 60_000);
        let metadata = 0;
        t.on('metadata', () => (metadata = t.length));
        t.on('done', () => {
          clearTimeout(timer);
          resolve({ metadata, done: true });
        });
        t.on('error', (e) => {
          clearTimeout(timer);
          reject(typeof e === 'string' ? new Error(e) : e);
        });
      });
      expect(got).toEqual({ metadata: meta.length, done: true });
      expect(t.infoHash).toBe(meta.infoHashHex);
      await expectSameData(meta, join(work, 'src'), out);
    } finally {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 5000);
        client.destroy(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      expect(await seed.stop()).toBe(0);
    }
  }, 120_000);

  it('a private torrent (BEP 27): no metadata for the magnet leecher', async () => {
    const { file, meta } = await makeTorrent(join(work, 'src', 'data.bin'), true);
    expect(meta.private).toBe(true);
    const port = await freePort();
    const seed = await btActorSeed(file, join(work, 'src'), port);
    try {
      await waitForPort(port);
      const r = await libtorrentMagnet(
        `magnet:?xt=urn:btih:${meta.infoHashHex}&x.pe=127.0.0.1:${port}`,
        join(work, 'out-private'),
        10,
      );
      expect(r.code, r.output).toBe(4);
      expect(r.output).toMatch(/timeout: metadata False/);
    } finally {
      expect(await seed.stop()).toBe(0);
    }
  }, 120_000);
});
