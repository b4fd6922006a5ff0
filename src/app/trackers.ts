/**
 * Wiring of the tracker statecharts to the real transports (the peers they find as an RxJS stream:
 * announcer-peers.ts).
 */
import { createActor, type Actor } from 'xstate';
import { realRandom } from '../io/clock.js';
import type { TrackerClient } from '../io/tracker-client.js';
import type { TrackerSeam } from './runtime.js';
import { announceActor } from '../io/tracker-actors.js';
import { announcerMachine, type AnnouncerInput } from '../machines/tracker/announcer.machine.js';
import { trackerMachine } from '../machines/tracker/tracker.machine.js';

/**
 * The announcer machine with its trackers' announces going through `client` for `infoHash`, and for a
 * hybrid torrent (BEP 52) also for `hybridV2Hash`, its v2 hash cut to 20 bytes (two announces per tracker).
 */
export function announcerLogic(client: TrackerSeam, infoHash: Uint8Array, hybridV2Hash?: Uint8Array) {
  return announcerMachine.provide({
    actors: {
      tracker: trackerMachine.provide({ actors: { announce: announceActor(client, infoHash, hybridV2Hash) } }),
    },
  });
}

export type AnnouncerActor = Actor<ReturnType<typeof announcerLogic>>;

export interface CreateAnnouncerOptions extends Omit<AnnouncerInput, 'report'> {
  client: TrackerClient;
  infoHash: Uint8Array;
  /** BEP 52: a hybrid torrent's v2 hash cut to 20 bytes, announced too. */
  hybridV2Hash?: Uint8Array;
}

/** Creates (does not start) a standalone announcer actor. */
export function createAnnouncer(options: CreateAnnouncerOptions): AnnouncerActor {
  const { client, infoHash, hybridV2Hash, ...input } = options;
  return createActor(announcerLogic(client, infoHash, hybridV2Hash), { input });
}

/** BEP 12: the trackers of each tier are shuffled when a torrent is first loaded. */
export function shuffleTiers(tiers: string[][], random: () => number = realRandom): string[][] {
  return tiers.map((tier) => {
    const t = [...tier];
    for (let i = t.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [t[i], t[j]] = [t[j]!, t[i]!];
    }
    return t;
  });
}
