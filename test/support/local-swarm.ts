/**
 * A loopback swarm for the inspector's tests: a random dataset and its torrent (announcing to an
 * embedded HTTP tracker), and N in-process bt-actor seeders. With `throttle`, each seeder is reached
 * through a {@link throttleProxy} and only the proxies are announced to the tracker (the seeders do
 * not announce), so a leecher downloads at a known pace and the inspector has time to watch.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachListener, createTorrentActor, type TorrentActor } from '../../src/app/torrent-actor.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { PeerListener, selfKeys } from '../../src/io/listener.js';
import { startLocalTracker, type LocalTracker } from '../../src/io/local-tracker.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { writeRandom } from './data.js';
import { throttleProxy, type ThrottleProxy } from './throttle-proxy.js';

export interface LocalSwarm {
  work: string;
  meta: Metainfo;
  /** The .torrent (announcing to the tracker) and one without trackers (for seeders that must not announce). */
  torrentPath: string;
  quietTorrentPath: string;
  /** Holds the data at `seedDir/<name>`. */
  seedDir: string;
  tracker: LocalTracker;
  seeders: { actor: TorrentActor; listener: PeerListener }[];
  proxies: ThrottleProxy[];
  /** Tells the tracker about a peer at 127.0.0.1:port (a seeder behind a proxy, another client …). */
  announce(port: number): Promise<void>;
  close(): Promise<void>;
}

export interface LocalSwarmOptions {
  sizeMiB: number;
  seeders: number;
  pieceLength?: number;
  /** Bytes/s each seeder's proxy lets through (one entry per seeder); no proxies when absent. */
  throttle?: number[];
  /** Per seeder: its proxy cuts each connection this long after it opened. */
  dropAfterMs?: (number | undefined)[];
}

const pct = (b: Uint8Array) => [...b].map((x) => `%${x.toString(16).padStart(2, '0')}`).join('');

export async function startLocalSwarm(o: LocalSwarmOptions): Promise<LocalSwarm> {
  const work = await mkdtemp(join(tmpdir(), 'bt-actor-inspect-'));
  const tracker = await startLocalTracker();
  const seeders: LocalSwarm['seeders'] = [];
  const proxies: ThrottleProxy[] = [];
  const seedDir = join(work, 'seed');
  const name = 'inspected swarm.bin';
  await writeRandom(join(seedDir, name), o.sizeMiB * 1024 * 1024);
  const pieceLength = o.pieceLength ?? 256 * 1024;
  const { torrent } = await createTorrent(join(seedDir, name), {
    announce: [[tracker.url]],
    pieceLength,
    creationDate: null,
  });
  const quiet = await createTorrent(join(seedDir, name), { announce: [], pieceLength, creationDate: null });
  const meta = parseMetainfo(torrent);
  if (parseMetainfo(quiet.torrent).infoHashHex !== meta.infoHashHex)
    throw new Error('the torrents without trackers differs');
  const torrentPath = join(work, 'swarm.torrent');
  const quietTorrentPath = join(work, 'swarm-no-trackers.torrent');
  await writeFile(torrentPath, torrent);
  await writeFile(quietTorrentPath, quiet.torrent);

  const announce = async (port: number) => {
    const peerId = Buffer.concat([Buffer.from('-XX0001-'), randomBytes(12)]);
    const q = `info_hash=${pct(meta.infoHash)}&peer_id=${pct(peerId)}&port=${port}&uploaded=0&downloaded=0&left=0&compact=1&event=started`;
    const res = await fetch(`${tracker.url}?${q}`);
    await res.arrayBuffer();
  };

  const swarm: LocalSwarm = {
    work,
    meta,
    torrentPath,
    quietTorrentPath,
    seedDir,
    tracker,
    seeders,
    proxies,
    announce,
    close: async () => {
      for (const p of proxies) await p.close();
      await Promise.all(
        seeders.map(async (s) => {
          if (s.actor.getSnapshot().status === 'active') {
            const done = new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, 8000);
              s.actor.subscribe({
                complete: () => (clearTimeout(timer), resolve()),
                error: () => (clearTimeout(timer), resolve()),
              });
            });
            s.actor.send({ type: 'torrent.stop' });
            await done;
          }
          await s.listener.close();
        }),
      );
      await tracker.close();
      await rm(work, { recursive: true, force: true });
    },
  };
  try {
    for (let i = 0; i < o.seeders; i++) {
      const listener = await PeerListener.listen({ port: 0, host: '127.0.0.1' });
      // Behind a proxy a seeder must not announce its own port (the leecher would bypass the proxy).
      const seedMeta = o.throttle ? { ...meta, announce: [] } : meta;
      const actor = createTorrentActor({
        meta: seedMeta,
        dir: seedDir,
        port: listener.port,
        selfKeys: selfKeys(listener.port),
      });
      attachListener(actor, listener, meta);
      seeders.push({ actor, listener });
      actor.start();
    }
    await Promise.all(
      seeders.map(
        (s) =>
          new Promise<void>((resolve) =>
            s.actor.subscribe((snap) => snap.matches({ active: 'complete' }) && resolve()),
          ),
      ),
    );
    if (o.throttle) {
      for (let i = 0; i < seeders.length; i++) {
        const dropAfterMs = o.dropAfterMs?.[i];
        const proxy = await throttleProxy(seeders[i]!.listener.port, {
          bytesPerSecond: o.throttle[i] ?? o.throttle[0]!,
          ...(dropAfterMs !== undefined && { dropAfterMs }),
        });
        proxies.push(proxy);
        await announce(proxy.port);
      }
    }
  } catch (err) {
    await swarm.close();
    throw err;
  }
  return swarm;
}
