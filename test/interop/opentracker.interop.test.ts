/**
 * Against opentracker (Debian package), started by the test on 127.0.0.1 and stopped by PID:
 * announces over HTTP and UDP receive the peer that a second client announced; the announcer
 * statechart finds peers through it; `bt-actor info --scrape` reads its counts; a plain `bt-actor run`
 * (no --seed) is counted among its completed downloads (BEP 3 `completed`, sent before `stopped`).
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { TrackerClient } from '../../src/io/tracker-client.js';
import { runBtActor } from '../support/bt-actor-run.js';
import { announcerPeers } from '../../src/app/announcer-peers.js';
import { createAnnouncer } from '../../src/app/trackers.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { freePort, type Proc } from '../support/proc.js';
import { startOpentracker } from '../support/opentracker.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

// A small torrent whose info hash goes on opentracker's whitelist.
const torrentBytes = encodeTorrent({
  name: 'ot.bin',
  multiFile: false,
  files: [{ path: ['ot.bin'], length: 100 }],
  pieceLength: 16384,
  pieces: randomBytes(20),
});
const meta = parseMetainfo(torrentBytes);
const stats = { uploaded: 0, downloaded: 0, left: 100 };
const client = (port: number) =>
  new TrackerClient({
    peerId: randomBytes(20),
    port,
    httpTimeoutMs: 5000,
    udpRetransmitBaseMs: 1000,
    udpMaxRetransmits: 2,
  });

let dir: string;
let tracker: Proc;
let port: number;
/** A real dataset and its torrent announcing to opentracker (HTTP), for a real download. */
let real: { torrent: string; infoHash: Uint8Array; infoHashHex: string; seedDir: string };

beforeAll(async () => {
  try {
    execFileSync('sh', ['-c', 'command -v opentracker'], { stdio: 'ignore' });
  } catch {
    throw new Error('opentracker is not installed: apt-get install opentracker (.ci/run does)');
  }
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-opentracker-'));
  await chmod(dir, 0o755);
  // Debian's opentracker is built with a whitelist and chroots to -d: the list lives inside it.
  port = await freePort(true);
  const seedDir = join(dir, 'seed');
  await mkdir(seedDir);
  await writeFile(join(seedDir, 'real.bin'), randomBytes(512 * 1024));
  const made = await createTorrent(join(seedDir, 'real.bin'), {
    announce: [[`http://127.0.0.1:${port}/announce`]],
    pieceLength: 32 * 1024,
    creationDate: null,
  });
  const realMeta = parseMetainfo(made.torrent);
  real = {
    torrent: join(dir, 'real.torrent'),
    infoHash: realMeta.infoHash,
    infoHashHex: realMeta.infoHashHex,
    seedDir,
  };
  await writeFile(real.torrent, made.torrent);
  tracker = await startOpentracker(dir, port, [meta.infoHashHex, realMeta.infoHashHex]);
});
afterAll(async () => {
  await tracker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('opentracker', () => {
  for (const proto of ['http', 'udp'] as const) {
    it(`${proto}: a second client receives the peer that the first announced`, async () => {
      const url = proto === 'http' ? `http://127.0.0.1:${port}/announce` : `udp://127.0.0.1:${port}`;
      const [pa, pb] = proto === 'http' ? [42001, 42002] : [42011, 42012];
      const a = await client(pa).announce({ url, infoHash: meta.infoHash, event: 'started', numwant: 50, stats });
      expect(a.interval).toBeGreaterThan(0);
      const b = await client(pb).announce({ url, infoHash: meta.infoHash, event: 'started', numwant: 50, stats });
      expect(b.peers).toContainEqual(expect.objectContaining({ host: '127.0.0.1', port: pa, family: 4 }));
      const scrape = await client(pb).scrape(url, [meta.infoHash]);
      expect(scrape.get(meta.infoHashHex)?.incomplete).toBeGreaterThanOrEqual(2);
    });
  }

  it('refuses a torrent that is not on its whitelist with a typed failure', async () => {
    const err = await client(42021)
      .announce({
        url: `http://127.0.0.1:${port}/announce`,
        infoHash: randomBytes(20),
        event: 'started',
        numwant: 5,
        stats,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BT_ERR_TRACKER_FAILURE' });
  });

  it('the announcer statechart gets peers over UDP after a dead HTTP tracker, and stops cleanly', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/announce`;
    await client(42031).announce({
      url: `udp://127.0.0.1:${port}`,
      infoHash: meta.infoHash,
      event: 'started',
      numwant: 5,
      stats,
    });
    const announcer = createAnnouncer({
      client: client(42032),
      infoHash: meta.infoHash,
      tiers: [[dead], [`udp://127.0.0.1:${port}`]],
      stats: stats,
    });
    const peers = firstValueFrom(
      announcerPeers(announcer).pipe(
        filter((p) => p.port === 42031),
        take(1),
        toArray(),
      ),
    );
    announcer.start();
    announcer.send({ type: 'announcer.start' });
    expect((await peers)[0]).toMatchObject({ host: '127.0.0.1', port: 42031 });
    announcer.send({ type: 'announcer.stop' });
    await new Promise<void>((resolve) => announcer.subscribe({ complete: resolve }));
    // The stopped announce reached the tracker: a scrape no longer counts peer 42032.
    const after = await client(42033).announce({
      url: `http://127.0.0.1:${port}/announce`,
      infoHash: meta.infoHash,
      numwant: 200,
      stats,
    });
    expect(after.peers.some((p) => p.port === 42032)).toBe(false);
  });

  it('bt-actor info --scrape shows seeders, leechers and completed', async () => {
    const file = join(dir, 'ot.torrent');
    await writeFile(file, encodeTorrentWithAnnounce());
    const { stdout } = await run(process.execPath, [BIN, 'info', '--scrape', '--json', file]);
    const json = JSON.parse(stdout) as { scrape: { url: string; incomplete?: number; error?: unknown }[] };
    expect(json.scrape).toHaveLength(2);
    for (const s of json.scrape) {
      expect(s.error).toBeUndefined();
      expect(s.incomplete).toBeGreaterThanOrEqual(2);
    }
    const human = await run(process.execPath, [BIN, 'info', '--scrape', file]);
    expect(human.stdout).toMatch(/seeders, \d+ leechers, \d+ completed/);
  });

  it('a plain bt-actor run (no --seed) counts among the completed downloads, and leaves the swarm', async () => {
    const url = `http://127.0.0.1:${port}/announce`;
    // A seeder found through the tracker only.
    const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      const s = await seeder.add(real.torrent, { dir: real.seedDir });
      await s.completed;
      // Its `started` announce (left 0) follows the check: wait until the tracker counts the seeder.
      let before: { complete: number; downloaded: number } | undefined;
      for (let i = 0; i < 100 && !(before && before.complete >= 1); i++) {
        before = (await client(42041).scrape(url, [real.infoHash])).get(real.infoHashHex);
        if (!(before && before.complete >= 1)) await new Promise((r) => setTimeout(r, 100));
      }
      expect(before?.complete).toBeGreaterThanOrEqual(1);
      const leechPort = await freePort();
      const r = await runBtActor(
        [real.torrent, '--out', join(dir, 'leech'), '--bind', '127.0.0.1', '--port', String(leechPort)],
        60_000,
      );
      expect(r.code, r.stderr).toBe(0);
      const after = (await client(42042).scrape(url, [real.infoHash])).get(real.infoHashHex);
      expect(after?.downloaded).toBe((before?.downloaded ?? 0) + 1);
      // It said `stopped` too: the tracker no longer hands out its port.
      const peers = await client(42043).announce({
        url,
        infoHash: real.infoHash,
        numwant: 200,
        stats: { uploaded: 0, downloaded: 0, left: 100 },
      });
      expect(peers.peers.some((p) => p.port === leechPort)).toBe(false);
      const human = await run(process.execPath, [BIN, 'info', '--scrape', real.torrent]);
      expect(human.stdout).toMatch(new RegExp(`${after!.downloaded} completed`));
    } finally {
      await seeder.close();
    }
  });
});

function encodeTorrentWithAnnounce(): Uint8Array {
  // Same info dictionary (same info hash), now with both trackers in the announce-list.
  const head = Buffer.from(
    `d8:announce${`http://127.0.0.1:${port}/announce`.length}:http://127.0.0.1:${port}/announce13:announce-listll${`http://127.0.0.1:${port}/announce`.length}:http://127.0.0.1:${port}/announceel${`udp://127.0.0.1:${port}`.length}:udp://127.0.0.1:${port}ee4:info`,
  );
  return Buffer.concat([head, meta.infoBytes, Buffer.from('e')]);
}
