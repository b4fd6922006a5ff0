/**
 * An in-process tracker for the simulation, reached through the engine's tracker seam
 * (`runtime.tracker`, src/app/runtime.ts) rather than HTTP: an announce to one of its URLs is answered
 * after the link's round trip with a seeded random sample of the swarm (BEP 3 semantics: `numwant`
 * peers, the requester left out, `stopped` removes it). URLs marked dead fail after a timeout, as an
 * unreachable tracker would.
 */
import { TrackerTransportError, type AnnounceRequest } from '../io/tracker-client.js';
import { toHex } from '../protocol/bytes.js';
import type { PeerAddress } from '../protocol/peer-address.js';
import type { AnnounceResult } from '../protocol/tracker-types.js';
import type { TrackerSeam } from '../app/runtime.js';
import type { Prng } from './prng.js';
import type { VirtualClock } from './scheduler.js';
import type { Trace } from './trace.js';

export interface SimTrackerOptions {
  /** Seconds between regular announces told to clients (default 300). */
  interval?: number;
  /** Round trip of an announce in ms (default 50). */
  rttMs?: number;
  /** Time an announce to a dead URL takes to fail, in ms (default 15 000). */
  deadTimeoutMs?: number;
}

export class SimTracker {
  /** Per info hash: peers by `host:port`. */
  private readonly swarms = new Map<string, Map<string, PeerAddress & { left: number }>>();
  readonly dead = new Set<string>();
  /** Announces answered, per URL. */
  readonly announces = new Map<string, number>();
  private readonly interval: number;
  private readonly rttMs: number;
  private readonly deadTimeoutMs: number;

  constructor(
    private readonly clock: VirtualClock,
    private readonly prng: Prng,
    private readonly trace: Trace,
    options: SimTrackerOptions = {},
  ) {
    this.interval = options.interval ?? 300;
    this.rttMs = options.rttMs ?? 50;
    this.deadTimeoutMs = options.deadTimeoutMs ?? 15_000;
  }

  /** The tracker seam of the node at `host` listening on `port`. */
  seamFor(host: string, port: number): TrackerSeam {
    return { announce: (req, signal) => this.announce(host, port, req, signal) };
  }

  private announce(host: string, port: number, req: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResult> {
    return new Promise((resolve, reject) => {
      const dead = this.dead.has(req.url);
      const timer = this.clock.setTimeout(
        () => {
          signal?.removeEventListener('abort', onAbort);
          this.trace.record(this.clock.now(), dead ? 'announce-timeout' : 'announce', `${host}:${port} ${req.url}`);
          if (dead) {
            reject(new TrackerTransportError('BT_ERR_TRACKER_TIMEOUT', `${req.url}: no reply in time`, req.url));
            return;
          }
          resolve(this.answer(host, port, req));
        },
        dead ? this.deadTimeoutMs : this.rttMs,
      );
      const onAbort = () => {
        this.clock.clearTimeout(timer);
        reject(new TrackerTransportError('BT_ERR_TRACKER_ABORTED', `${req.url}: aborted`, req.url));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private answer(host: string, port: number, req: AnnounceRequest): AnnounceResult {
    this.announces.set(req.url, (this.announces.get(req.url) ?? 0) + 1);
    const key = toHex(req.infoHash);
    let swarm = this.swarms.get(key);
    if (!swarm) this.swarms.set(key, (swarm = new Map()));
    const self = `${host}:${port}`;
    if (req.event === 'stopped') swarm.delete(self);
    else swarm.set(self, { host, port, family: 4, left: req.stats.left });
    const others = [...swarm.entries()].filter(([k]) => k !== self).map(([, p]) => p);
    const peers = this.prng
      .shuffle(others)
      .slice(0, Math.max(0, req.numwant))
      .map(({ host: h, port: p, family }) => ({ host: h, port: p, family }));
    const complete = [...swarm.values()].filter((p) => p.left === 0).length;
    return { interval: this.interval, complete, incomplete: swarm.size - complete, peers };
  }
}
