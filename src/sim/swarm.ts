/**
 * A simulated swarm: real {@link Engine}s (the real statecharts, picker, choker, codecs and wire
 * framing) on a {@link SimNetwork}, a {@link SimTracker} and in-memory storage, all on one
 * {@link VirtualClock} and one seed. Only the runtime seams (src/app/runtime.ts) are swapped.
 *
 * @example
 * const sim = new Sim({ seed: 7 });
 * const t = sim.torrent({ length: 4 << 20, pieceLength: 256 << 10 });
 * await sim.node(t, { complete: true, upBps: 1 << 20 });
 * await sim.node(t, { complete: false, upBps: 1 << 20 });
 * await sim.run(() => sim.nodes.every((n) => n.completedAt !== undefined), 600_000);
 * await sim.close();
 */
import { Engine, type TorrentHandle } from '../app/engine.js';
import type { TorrentSettings } from '../machines/torrent/torrent.machine.js';
import { seedFrom } from '../machines/random.js';
import { parseMetainfo, type Metainfo } from '../protocol/metainfo.js';
import { encodeTorrent } from '../protocol/metainfo-encode.js';
import { SimNetwork, type NetworkOptions } from './network.js';
import { Prng } from './prng.js';
import { VirtualClock } from './scheduler.js';
import { Content, simStorage, type SimStorageStats } from './storage.js';
import { Trace } from './trace.js';
import { SimTracker, type SimTrackerOptions } from './tracker.js';

export interface SimOptions {
  seed: number;
  network?: NetworkOptions;
  tracker?: SimTrackerOptions;
  /** Default statechart settings of every node. */
  settings?: Partial<TorrentSettings>;
}

export interface SimTorrent {
  meta: Metainfo;
  content: Content;
}

export interface NodeOptions {
  /** Starts with every piece. */
  complete: boolean;
  /** Upload capacity, bytes per second. */
  upBps: number;
  /** Disk write speed (bytes per second); default instant. */
  writeBps?: number;
  /** Serve corrupt data for these blocks. */
  corrupt?: (index: number, begin: number) => boolean;
  settings?: Partial<TorrentSettings>;
  /** A name for the figures (default the host). */
  label?: string;
}

export interface SimNode {
  index: number;
  host: string;
  label: string;
  port: number;
  engine: Engine;
  handle: TorrentHandle;
  storage: SimStorageStats;
  startedAt: number;
  completedAt: number | undefined;
  /** (time, verified pieces) at every verified piece. */
  progress: [number, number][];
  /** Its engine was closed (or is closing): it left the swarm. */
  closed: boolean;
}

export const SIM_PORT = 6881;

export class Sim {
  readonly clock = new VirtualClock();
  readonly prng: Prng;
  readonly trace = new Trace(20);
  readonly net: SimNetwork;
  readonly tracker: SimTracker;
  readonly nodes: SimNode[] = [];
  /** Errors an engine reported (torrent errors): a scenario fails on any. */
  readonly errors: string[] = [];

  constructor(readonly options: SimOptions) {
    this.prng = new Prng(options.seed);
    this.net = new SimNetwork(this.clock, this.prng.fork('network'), this.trace, options.network);
    this.tracker = new SimTracker(this.clock, this.prng.fork('tracker'), this.trace, options.tracker);
  }

  /** A torrent whose content is a function of the seed; announced to `announce` (tiers). */
  torrent(spec: { length: number; pieceLength: number; announce?: string[][]; name?: string }): SimTorrent {
    const content = new Content(seedFrom(this.prng.fork('content').random), spec.length);
    const name = spec.name ?? 'sim.bin';
    const bytes = encodeTorrent({
      name,
      files: [{ path: [name], length: spec.length }],
      multiFile: false,
      pieceLength: spec.pieceLength,
      pieces: content.pieceHashes(spec.pieceLength),
      announce: spec.announce ?? [['http://tracker.sim/announce']],
    });
    return { meta: parseMetainfo(bytes), content };
  }

  /**
   * The address of node `index`: 10.x.y.1, each node in its own /24 (as the peers of a real swarm are,
   * mostly): BEP 6 derives a peer's allowed-fast set from its /24, so hosts sharing one would all get
   * the same set — see docs/simulation.md.
   */
  static hostOf(index: number): string {
    return `10.${1 + Math.floor(index / 250)}.${index % 250}.1`;
  }

  /** Starts a node (a real Engine on the simulated runtime) with the torrent added. */
  async node(t: SimTorrent, options: NodeOptions): Promise<SimNode> {
    const index = this.nodes.length;
    const host = Sim.hostOf(index);
    this.net.addHost(host, { upBps: options.upBps });
    const storage = simStorage({
      clock: this.clock,
      content: t.content,
      complete: options.complete,
      ...(options.writeBps !== undefined && { writeBps: options.writeBps }),
      ...(options.corrupt && { corrupt: options.corrupt }),
    });
    const engine = await Engine.create({
      port: SIM_PORT,
      exactPort: true,
      host,
      settings: { ...this.options.settings, ...options.settings },
      runtime: {
        clock: this.clock,
        transport: this.net.transportFor(host),
        random: this.prng.fork(`node:${index}`).random,
        storage,
        tracker: this.tracker.seamFor(host, SIM_PORT),
      },
    });
    const handle = await engine.add(t.meta, { dir: `/sim/${host}`, paused: true });
    const node: SimNode = {
      index,
      host,
      label: options.label ?? host,
      port: SIM_PORT,
      engine,
      handle,
      storage: storage.stats,
      startedAt: this.clock.now(),
      completedAt: options.complete ? this.clock.now() : undefined,
      progress: [],
      closed: false,
    };
    handle.events$.subscribe((e) => {
      if (e.type === 'torrent.piece') node.progress.push([this.clock.now(), handle.progress.verifiedPieces]);
      if (e.type === 'torrent.complete') node.completedAt ??= this.clock.now();
      if (e.type === 'torrent.error') this.errors.push(`${host}: ${JSON.stringify(e)}`);
    });
    this.nodes.push(node);
    handle.resume();
    return node;
  }

  /** Runs virtual time until `done()` or `maxTime` (ms). */
  run(done: () => boolean, maxTime: number): Promise<'done' | 'timeout' | 'idle'> {
    return this.clock.run(done, maxTime);
  }

  /** Lets time pass for `ms`. */
  async advance(ms: number): Promise<void> {
    const until = this.clock.now() + ms;
    await this.clock.run(() => false, until);
  }

  /** Closes one node's engine (gracefully: trackers told, peers closed), in virtual time. */
  async closeNode(node: SimNode): Promise<void> {
    if (node.closed) return;
    node.closed = true;
    let done = false;
    void node.engine.close().then(() => (done = true));
    await this.clock.run(() => done, this.clock.now() + 60_000);
  }

  /** Closes every engine, in virtual time. */
  async close(): Promise<void> {
    let left = 0;
    for (const n of this.nodes) {
      if (n.closed) continue;
      n.closed = true;
      left++;
      void n.engine.close().then(() => left--);
    }
    await this.clock.run(() => left === 0, this.clock.now() + 120_000);
  }
}
