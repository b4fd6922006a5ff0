/**
 * The library API: an engine that holds many torrents, one listening port shared by all of them
 * (incoming connections routed by info hash), and typed RxJS observables of each torrent's progress,
 * events and peers. Each torrent is an XState actor of the torrent statechart; its ref is exposed for
 * those who want to look inside.
 *
 * @example
 * const engine = await Engine.create({ port: 6881 });
 * const t = await engine.add('ubuntu.torrent', { dir: '/downloads' });
 * t.progress$.subscribe((p) => console.log(`${p.verifiedPieces}/${p.pieceCount}`));
 * await t.completed;
 * await engine.close();
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BehaviorSubject, Observable, Subject, distinctUntilChanged, map, switchMap, takeUntil } from 'rxjs';
import { PeerListener, selfKeys } from '../io/listener.js';
import { resumePath } from '../io/resume.js';
import { TrackerClient } from '../io/tracker-client.js';
import type { TorrentProgress, TorrentReport, TorrentSettings } from '../machines/torrent/torrent.machine.js';
import { parseMetainfo, type Metainfo } from '../protocol/metainfo.js';
import type { PeerAddress } from '../protocol/peer-address.js';
import { generatePeerId } from '../protocol/peer-id.js';
import { attachListener, createTorrentActor, peerStates, type TorrentActor, type TorrentActorOptions } from './torrent-actor.js';

export interface EngineOptions {
  /** Port to accept peers on (the next free one if taken; 0 = any). Default 6881. */
  port?: number;
  /** Address to accept peers on. Default all interfaces. */
  host?: string;
  /** Default download folder for `add`. Default the current folder. */
  dir?: string;
  /** Defaults for every torrent's statechart (connections, timers…). */
  settings?: Partial<TorrentSettings>;
  /**
   * XState inspection observer attached to every torrent's actor system, e.g. `startInspection(…).inspect`
   * (src/app/inspect). Off by default: no observer, no cost.
   */
  inspect?: TorrentActorOptions['inspect'];
}

export interface AddOptions {
  /** Download folder: the data lands at `<dir>/<name>` (single-file) or under `<dir>/<name>/`. */
  dir?: string;
  /** Peers to dial besides the trackers'. */
  peers?: PeerAddress[];
  /** Ignore the resume file and check the data by hash. */
  check?: boolean;
  /** Add without starting (call `resume()`). */
  paused?: boolean;
  settings?: Partial<TorrentSettings>;
}

/** An event of any torrent of the engine, tagged with its info hash. */
export interface EngineEvent {
  infoHash: string;
  event: TorrentReport;
}

/** One torrent in the engine. */
export interface TorrentHandle {
  readonly infoHash: string;
  readonly name: string;
  readonly meta: Metainfo;
  readonly dir: string;
  /** The running actor (a new one after each `resume()`), or undefined while paused or removed. */
  readonly actor: TorrentActor | undefined;
  /** Progress, published by the statechart (every tick and every verified piece). */
  readonly progress$: Observable<TorrentProgress>;
  /** The statechart's events: checking, ready, piece, hashFailed, peer, complete, error, tracker events. */
  readonly events$: Observable<TorrentReport>;
  /** How many peer actors stand in each state, sampled with each progress update. */
  readonly peerStates$: Observable<Record<string, number>>;
  /** Resolves once every piece is verified and written; rejects if the torrent fails. */
  readonly completed: Promise<void>;
  /** Stops the torrent (trackers told `stopped`, files closed); the handle stays in the engine. */
  pause(): Promise<void>;
  /** Starts it again (verified pieces are found through the resume file). */
  resume(): void;
  /** Stops it and removes it from the engine. */
  remove(): Promise<void>;
}

async function stopActor(actor: TorrentActor): Promise<void> {
  if (actor.getSnapshot().status !== 'active') return;
  await new Promise<void>((done) => {
    const timer = setTimeout(done, 10_000);
    actor.subscribe({ complete: () => (clearTimeout(timer), done()), error: () => (clearTimeout(timer), done()) });
    actor.send({ type: 'torrent.stop' });
  });
}

export class Engine {
  private readonly handles = new Map<string, TorrentHandle>();
  private readonly events = new Subject<EngineEvent>();
  private closed = false;

  private constructor(
    private readonly listener: PeerListener,
    private readonly client: TrackerClient,
    readonly peerId: Uint8Array,
    private readonly options: EngineOptions,
  ) {}

  /** Opens the listening port and the tracker client. */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    const listener = await PeerListener.listen({ port: options.port ?? 6881, ...(options.host !== undefined && { host: options.host }) });
    const peerId = generatePeerId((n) => randomBytes(n));
    const client = new TrackerClient({ peerId, port: listener.port });
    return new Engine(listener, client, peerId, options);
  }

  /** The port peers can reach this engine on. */
  get port(): number {
    return this.listener.port;
  }

  /** Every event of every torrent. */
  get events$(): Observable<EngineEvent> {
    return this.events.asObservable();
  }

  get torrents(): TorrentHandle[] {
    return [...this.handles.values()];
  }

  get(infoHash: string): TorrentHandle | undefined {
    return this.handles.get(infoHash);
  }

  /**
   * Adds a torrent from a .torrent path, its bytes, or parsed metainfo, and starts it (unless
   * `paused`). Throws `MetainfoError` for an invalid torrent and an Error for a duplicate.
   */
  async add(source: string | Uint8Array | Metainfo, options: AddOptions = {}): Promise<TorrentHandle> {
    if (this.closed) throw new Error('the engine is closed');
    const meta = typeof source === 'string' ? parseMetainfo(await readFile(source)) : source instanceof Uint8Array ? parseMetainfo(source) : source;
    if (this.handles.has(meta.infoHashHex)) throw new Error(`torrent ${meta.infoHashHex} is already in the engine`);
    const dir = resolve(options.dir ?? this.options.dir ?? '.');
    const actors = new BehaviorSubject<TorrentActor | undefined>(undefined);
    const removed = new Subject<void>();
    let unroute: (() => void) | undefined;
    let settle: { resolve: () => void; reject: (e: Error) => void };
    const completed = new Promise<void>((res, rej) => (settle = { resolve: res, reject: rej }));
    completed.catch(() => undefined); // observed through the handle; never an unhandled rejection

    const start = () => {
      const actor = createTorrentActor({
        meta,
        dir,
        peers: options.peers ?? [],
        port: this.listener.port,
        peerId: this.peerId,
        trackerClient: this.client,
        selfKeys: selfKeys(this.listener.port),
        settings: { ...this.options.settings, ...options.settings },
        storage: { resumePath: resumePath(dir, meta), forceCheck: options.check ?? false },
        ...(this.options.inspect && { inspect: this.options.inspect }),
      });
      actor.on('*', (e) => {
        if (e.type === 'torrent.refused') return; // the routing closed it; not a report
        this.events.next({ infoHash: meta.infoHashHex, event: e as TorrentReport });
        if (e.type === 'torrent.complete') settle.resolve();
        if (e.type === 'torrent.error') settle.reject(Object.assign(new Error((e as { message: string }).message), { code: (e as { code: string }).code }));
      });
      unroute = attachListener(actor, this.listener, meta);
      actor.start();
      actors.next(actor);
    };
    const stop = async () => {
      const actor = actors.value;
      actors.next(undefined);
      unroute?.();
      unroute = undefined;
      if (actor) await stopActor(actor);
    };

    const progress$ = actors.pipe(
      switchMap((a) =>
        a
          ? new Observable<TorrentProgress>((sub) => {
              const s = a.subscribe((snap) => sub.next(snap.context.progress));
              return () => s.unsubscribe();
            })
          : new Observable<TorrentProgress>(),
      ),
      distinctUntilChanged(),
      takeUntil(removed),
    );
    const events$ = actors.pipe(
      switchMap((a) =>
        a
          ? new Observable<TorrentReport>((sub) => {
              const s = a.on('*', (e) => e.type !== 'torrent.refused' && sub.next(e));
              return () => s.unsubscribe();
            })
          : new Observable<TorrentReport>(),
      ),
      takeUntil(removed),
    );
    const handle: TorrentHandle = {
      infoHash: meta.infoHashHex,
      name: meta.name,
      meta,
      dir,
      get actor() {
        return actors.value;
      },
      progress$,
      events$,
      peerStates$: progress$.pipe(map(() => (actors.value ? peerStates(actors.value) : {}))),
      completed,
      pause: stop,
      resume: () => {
        if (!actors.value && this.handles.has(meta.infoHashHex)) start();
      },
      remove: async () => {
        await stop();
        this.handles.delete(meta.infoHashHex);
        removed.next();
        removed.complete();
        actors.complete();
      },
    };
    this.handles.set(meta.infoHashHex, handle);
    if (!options.paused) start();
    return handle;
  }

  /** Stops every torrent (bounded), then the listener. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.torrents.map((t) => t.remove()));
    await this.listener.close();
    this.events.complete();
  }
}
