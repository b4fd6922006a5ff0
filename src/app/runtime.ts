/**
 * The engine's runtime: the seams through which it reaches time, the network, randomness, the disk
 * and the trackers. {@link realRuntime} (node timers, TCP, `Math.random`, files, HTTP/UDP trackers) is
 * the default; the swarm simulator (src/sim, docs/simulation.md) swaps each for a virtual one.
 *
 * @example
 * const engine = await Engine.create({ runtime: { clock: myClock } }); // the rest stays real
 */
import { randomBytes } from 'node:crypto';
import { realClock, realRandom, type Clock, type Random } from '../io/clock.js';
import type { blockReaderActor, StorageActorOptions, storageActor } from '../io/storage-actor.js';
import type { AnnounceRequest } from '../io/tracker-client.js';
import { tcpTransport, type Transport } from '../io/transport.js';
import type { Metainfo } from '../protocol/metainfo.js';
import type { AnnounceResult } from '../protocol/tracker-types.js';

/** The storage of one torrent: its `storage` actor and the `reader` actor its peers read blocks with. */
export interface TorrentStorageActors {
  storage: ReturnType<typeof storageActor>;
  reader: ReturnType<typeof blockReaderActor>;
}

/** Where torrents keep their data (the real one: files under the download folder, with a lock). */
export interface StorageSeam {
  actors(meta: Metainfo, dir: string, options: StorageActorOptions): TorrentStorageActors;
}

/** How announces reach trackers (the real one: {@link TrackerClient}, HTTP and UDP). */
export interface TrackerSeam {
  announce(req: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResult>;
}

export interface EngineRuntime {
  clock: Clock;
  transport: Transport;
  /** Every random choice of the engine: peer id, tracker order, the picker's and choker's seeds. */
  random: Random;
  /** Files under the download folder when absent (and the folder's lock). */
  storage?: StorageSeam;
  /** HTTP/UDP trackers ({@link TrackerClient}) when absent. */
  tracker?: TrackerSeam;
}

/** The real world: node timers, TCP, `Math.random` (crypto for peer ids), files, HTTP/UDP trackers. */
export const realRuntime: EngineRuntime = { clock: realClock, transport: tcpTransport, random: realRandom };

/** The runtime with the real seams where `partial` gives none. */
export function resolveRuntime(partial: Partial<EngineRuntime> = {}): EngineRuntime {
  return { ...realRuntime, ...partial };
}

/** `n` random bytes: from crypto for the real runtime, from its generator for another. */
export function randomBytesOf(runtime: EngineRuntime): (n: number) => Uint8Array {
  if (runtime.random === realRandom) return (n) => randomBytes(n);
  return (n) => Uint8Array.from({ length: n }, () => Math.floor(runtime.random() * 256));
}
