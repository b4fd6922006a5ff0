/**
 * A real WebTorrent 3 client in the test process, seeding existing data over TCP on loopback.
 *
 * Everything that would reach past 127.0.0.1 is off: DHT, LSD (multicast), uTP, web seeds, UPnP and
 * NAT-PMP; trackers are only those of the torrent (on 127.0.0.1 in the tests). WebTorrent has no
 * option for its listening address: its TCP server binds the wildcard address on `port`, and the
 * peers the tests give it are all 127.0.0.1. WebRTC is stubbed (package.json "overrides").
 */
import WebTorrent, { type Torrent } from 'webtorrent';

export interface SeededTorrent {
  /** The .torrent file's bytes. */
  torrent: Uint8Array;
  /** Folder holding the data: `<dataDir>/<name>` (a file, or the folder of a multi-file torrent). */
  dataDir: string;
}

export interface SeederOptions {
  /** Torrents to seed, all from the one client and its one listening port. */
  torrents: SeededTorrent[];
  /** TCP port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Bound on each start-up step: listening, verifying a torrent's data, its first tracker announce (default 15 s). */
  timeoutMs?: number;
}

export interface WebTorrentSeeder {
  client: WebTorrent;
  /** In the order of `options.torrents`. */
  torrents: Torrent[];
  /** The TCP port WebTorrent listens on. */
  port: number;
  /** Warnings WebTorrent reported (tracker failures and the like), for diagnostics. */
  warnings: string[];
  /** Destroys the client (torrents, connections, listening socket); bounded in time, never rejects. */
  stop: () => Promise<void>;
}

function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`WebTorrent seeder: ${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const asError = (e: Error | string) => (typeof e === 'string' ? new Error(e) : e);

/**
 * Starts a WebTorrent client seeding every torrent from its folder; resolves once each one has
 * verified every piece of its data and (when it lists trackers) announced to one of them, so a
 * leecher that announces next is given the seeder's address.
 */
export async function startWebTorrentSeeder(options: SeederOptions): Promise<WebTorrentSeeder> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const warnings: string[] = [];
  const client = new WebTorrent({
    torrentPort: options.port ?? 0,
    dht: false,
    lsd: false,
    utp: false,
    utPex: false,
    webSeeds: false,
    natUpnp: false,
    natPmp: false,
    tracker: {},
    // A seeder waits to be dialled: it does not dial the leechers the tracker lists.
    seedOutgoingConnections: false,
  });

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= bounded(
      new Promise<void>((resolve) => {
        if (client.destroyed) return resolve();
        client.destroy(() => resolve());
      }),
      5_000,
      'destroy',
    ).catch(() => {});
    return stopped;
  };

  // Any client or torrent error from now on fails the start-up; later ones are kept as warnings.
  let fail: (err: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => {});
  client.on('error', (e) => {
    warnings.push(`client error: ${asError(e).message}`);
    fail(asError(e));
  });

  try {
    const listening = new Promise<void>((resolve) => client.once('listening', () => resolve()));
    await bounded(Promise.race([listening, failed]), timeoutMs, 'listening');
    const port = client.address()?.port ?? 0;

    const torrents = await Promise.all(
      options.torrents.map(async ({ torrent: bytes, dataDir }) => {
        const torrent = client.add(bytes, { path: dataDir });
        torrent.on('warning', (e) => warnings.push(asError(e).message));
        torrent.on('error', (e) => {
          warnings.push(`torrent error: ${asError(e).message}`);
          fail(asError(e));
        });
        // Discovery starts once the data is verified; the announce comes after that.
        const announced = new Promise<void>((resolve) => torrent.once('trackerAnnounce', () => resolve()));
        const done = new Promise<void>((resolve) => {
          if (torrent.done) resolve();
          else torrent.once('done', () => resolve());
        });
        await bounded(Promise.race([done, failed]), timeoutMs, `verifying the data in ${dataDir} (is it all there?)`);
        if (torrent.announce.length > 0) {
          await bounded(
            Promise.race([announced, failed]),
            timeoutMs,
            `an announce to ${torrent.announce.join(', ')} (warnings: ${warnings.join('; ')})`,
          );
        }
        return torrent;
      }),
    );
    return { client, torrents, port, warnings, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
