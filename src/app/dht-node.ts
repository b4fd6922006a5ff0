/**
 * The engine's DHT node (BEP 5): one `dht` statechart actor per engine, shared by all torrents, on the
 * UDP port with the number of the peer listener's TCP port. Started only when the first torrent that
 * may use the DHT (not private) is added; its routing table is loaded from and saved to the state folder
 * (`dht.json`). The peers it finds for a torrent go to that torrent as `torrent.addPeers` (the engine
 * routes them), the path tracker and PEX peers take.
 *
 * @example
 * const dht = new DhtNode({ port: 6881, bootstrap: ['127.0.0.1:7000'], stateDir: '/tmp/state' });
 * dht.peers$.subscribe(({ infoHash, peers }) => …);
 * await dht.add(infoHash, 6881); // a lookup now and every 15–30 min, announce_peer after each
 * await dht.close();              // the table saved
 */
import { createHash, randomBytes } from 'node:crypto';
import { Subject, type Observable } from 'rxjs';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import { realClock } from '../io/clock.js';
import { DEFAULT_DHT_BOOTSTRAP, dhtSocketActor, type DhtSocketOptions } from '../io/dht-socket.js';
import { defaultStateDir, loadDhtTable, saveDhtTableActor } from '../io/dht-state.js';
import { dhtMachine, type DhtReport, type DhtSettings, type DhtStats } from '../machines/dht/dht.machine.js';
import type { PeerAddress } from '../protocol/peer-address.js';

/** The DHT part of {@link EngineOptions}: `true` for the defaults. */
export interface DhtOptions {
  /** Bootstrap nodes `HOST:PORT` (names resolved at start). Default the usual public routers, by name. */
  bootstrap?: string[];
  /** Where `dht.json` (the routing table) is kept. Default `$XDG_STATE_HOME/bt-actor` or `~/.local/state/bt-actor`. */
  stateDir?: string;
  /** The node's timers and bounds (tests shorten them). */
  settings?: Partial<DhtSettings>;
  /** Called for every datagram sent, and for each bootstrap name resolved (tracing). */
  trace?: Pick<DhtSocketOptions, 'onSend' | 'onResolve'>;
}

export interface DhtNodeOptions extends DhtOptions {
  /** The UDP port: the peer listener's port number. */
  port: number;
  /** Address to bind (the listener's `--bind`), default all interfaces. */
  host?: string;
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** Our client version in KRPC `v`: "BA" and the version 0.1. */
const VERSION = Uint8Array.of(0x42, 0x41, 0x00, 0x01);

/** Time given to save the table at close beyond the node's own bound. */
const CLOSE_SLACK_MS = 2_000;

type DhtActor = Actor<typeof dhtMachine>;

export class DhtNode {
  private actor: DhtActor | undefined;
  private starting: Promise<DhtActor | undefined> | undefined;
  private closed = false;
  private readonly peers = new Subject<{ infoHash: string; peers: PeerAddress[] }>();
  private readonly reports = new Subject<DhtReport>();
  /** The state folder in use. */
  readonly stateDir: string;

  constructor(private readonly options: DhtNodeOptions) {
    this.stateDir = options.stateDir ?? defaultStateDir();
  }

  /** Peers found for a torrent (`infoHash` in lowercase hex), as each lookup finds them. */
  get peers$(): Observable<{ infoHash: string; peers: PeerAddress[] }> {
    return this.peers.asObservable();
  }

  /** The node's reports: `dht.started`, `dht.ready`, `dht.lookupDone`, `dht.error` (and `dht.peers`). */
  get events$(): Observable<DhtReport> {
    return this.reports.asObservable();
  }

  /** Whether the node has been started (a torrent that may use it was added). */
  get started(): boolean {
    return this.starting !== undefined;
  }

  /** The node's counters (table size, good and questionable nodes, queries in flight, lookups). */
  get stats(): DhtStats | undefined {
    return this.actor?.getSnapshot().context.stats;
  }

  /** The node's actor, once started. */
  get ref(): DhtActor | undefined {
    return this.actor;
  }

  private start(): Promise<DhtActor | undefined> {
    this.starting ??= (async () => {
      const saved = await loadDhtTable(this.stateDir);
      if (this.closed) return undefined;
      const logic = dhtMachine.provide({
        actors: {
          socket: dhtSocketActor(this.options.trace ?? {}),
          saveTable: saveDhtTableActor(this.stateDir),
        },
      });
      const actor = createActor(logic, {
        input: {
          seed: randomBytes(4).readInt32LE(0),
          hash: (b) => createHash('sha1').update(b).digest(),
          secret: () => randomBytes(16),
          ...(saved !== undefined && { saved }),
          bootstrap: [...(this.options.bootstrap ?? DEFAULT_DHT_BOOTSTRAP)],
          bind: { port: this.options.port, ...(this.options.host !== undefined && { host: this.options.host }) },
          ...(this.options.settings && { settings: this.options.settings }),
          version: VERSION,
        },
        ...(this.options.inspect && { inspect: this.options.inspect }),
      });
      actor.on('*', (e) => {
        const r = e as DhtReport;
        if (r.type === 'dht.peers') this.peers.next({ infoHash: r.infoHash, peers: r.peers });
        this.reports.next(r);
      });
      // An error inside the node must not crash the engine: it is reported, and the node is gone.
      actor.subscribe({
        error: (err) => this.reports.next({ type: 'dht.error', message: (err as Error)?.message ?? String(err) }),
      });
      this.actor = actor;
      actor.start();
      return actor;
    })();
    return this.starting;
  }

  /**
   * Looks up peers for `infoHash` now and every 15–30 min, and announces `port` (TCP) to the closest
   * nodes after each lookup (none when `port` is undefined). Starts the node on first use.
   */
  async add(infoHash: Uint8Array, port?: number): Promise<void> {
    if (this.closed) return;
    const actor = await this.start();
    if (actor && actor.getSnapshot().status === 'active')
      actor.send({ type: 'dht.add', infoHash, ...(port !== undefined && { port }) });
  }

  /**
   * A DHT node a peer named in its BEP 5 `port` message: pinged, and kept in the table if it answers.
   * Only once the node runs (a `port` message never starts it).
   */
  addNode(host: string, port: number): void {
    const actor = this.actor;
    if (actor && actor.getSnapshot().status === 'active') actor.send({ type: 'dht.addNode', host, port });
  }

  /** Stops looking up `infoHash`. */
  remove(infoHash: Uint8Array): void {
    const actor = this.actor;
    if (actor && actor.getSnapshot().status === 'active') actor.send({ type: 'dht.remove', infoHash });
  }

  /** Saves the routing table and closes the socket (bounded in time). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const actor = await this.starting;
    if (actor && actor.getSnapshot().status === 'active') {
      const bound = (actor.getSnapshot().context.settings.saveTimeoutMs ?? 5_000) + CLOSE_SLACK_MS;
      await new Promise<void>((resolve) => {
        const timer = realClock.setTimeout(() => {
          actor.stop();
          resolve();
        }, bound);
        actor.subscribe({
          complete: () => {
            realClock.clearTimeout(timer);
            resolve();
          },
          error: () => {
            realClock.clearTimeout(timer);
            resolve();
          },
        });
        actor.send({ type: 'dht.stop' });
      });
    }
    this.peers.complete();
    this.reports.complete();
  }
}
