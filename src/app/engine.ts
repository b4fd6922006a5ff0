/**
 * The library API: an engine that holds many torrents, one listening port shared by all of them
 * (incoming connections routed by info hash), and typed RxJS observables of each torrent's progress,
 * events and peers. Each torrent is an XState actor of the torrent statechart; its ref is exposed for
 * those who want to look inside.
 *
 * @example
 * const engine = await Engine.create({ port: 6881 });
 * const t = await engine.add('ubuntu.torrent', { dir: '/downloads' });
 * t.progress$.pipe(throttleTime(1000)).subscribe((p) => console.log(`${p.verifiedPieces}/${p.pieceCount}`));
 * await t.completed;
 * await engine.close();
 * console.log(t.outcome); // { state: 'complete', progress: { … uploaded … } }
 *
 * There is one way a torrent stops: the handle's stop routine (`pause`, `remove` and `Engine.close`
 * all go through it). The `bt-actor run` and `demo` commands are an engine plus a renderer.
 */
import { type FileHandle, open, readFile, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { BehaviorSubject, Observable, Subject, distinctUntilChanged, map, switchMap, takeUntil } from 'rxjs';
import { PeerListener, selfKeys } from '../io/listener.js';
import { acquireLock, LockError, lockPath, type DirLock } from '../io/lock.js';
import { StorageError } from '../io/storage-error.js';
import {
  isReservedName,
  loadSelection,
  partsPath,
  RESERVED_NAME,
  resumePath,
  saveSelection,
  selectionPath,
  torrentFilePath,
} from '../io/resume.js';
import { deleteTorrentFiles } from '../io/storage.js';
import type { ByteStream, Transport } from '../io/transport.js';
import { TrackerClient } from '../io/tracker-client.js';
import {
  defaultTorrentSettings,
  type TorrentProgress,
  type TorrentReport,
  type TorrentSettings,
} from '../machines/torrent/torrent.machine.js';
import { BtError } from '../protocol/errors.js';
import { magnetHybridV2Hash, parseMagnet, type MagnetLink } from '../protocol/magnet.js';
import {
  checkTorrentFileSize,
  hybridV2Hash,
  MetainfoError,
  parseMetainfo,
  type Metainfo,
} from '../protocol/metainfo.js';
import { filesMissingPieceLayers } from '../protocol/piece-verify.js';
import { toHex } from '../protocol/bytes.js';
import { normaliseHost, type PeerAddress } from '../protocol/peer-address.js';
import { generatePeerId } from '../protocol/peer-id.js';
import type { DhtNode, DhtOptions } from './dht-node.js';
import {
  attachListener,
  connectedPeers,
  createTorrentActor,
  peerStates,
  type ConnectedPeer,
  type TorrentActor,
  type TorrentActorOptions,
} from './torrent-actor.js';
import { randomBytesOf, resolveRuntime, type EngineRuntime } from './runtime.js';
import { ENCRYPTION_POLICIES, type EncryptionPolicy } from '../protocol/mse.js';
import { sleep } from '../io/clock.js';
import { dnsModule } from '../io/lazy-builtins.js';
import { FILE_PRIORITIES, skippedFiles, type FilePriority } from '../machines/torrent/file-priority.js';
import { pieceBytes, type PieceGeometry } from '../protocol/layout.js';
import { isRate, RateLimiter, type RateLimits, type WireShaping } from '../io/rate-limit.js';

export type { RateLimits } from '../io/rate-limit.js';

/** Options of {@link Engine.create}. */
export interface EngineOptions {
  /** Port to accept peers on (the next free one if taken, unless `exactPort`; 0 = any). Default 6881. */
  port?: number;
  /** Accept peers on `port` exactly: `create` fails with `ListenError` `BT_ERR_PORT_IN_USE` when it is taken. */
  exactPort?: boolean;
  /**
   * Address to accept peers on (`127.0.0.1`, `::1`, an address of this machine). Default all interfaces,
   * IPv6 and IPv4: `::` (one dual-stack socket), or `0.0.0.0` where the system has no IPv6.
   */
  host?: string;
  /** Default download folder for `add`. Default the current folder. */
  dir?: string;
  /** Defaults for every torrent's statechart (`maxConnections`, timers, `stopTimeoutMs`…); `add` can override them. */
  settings?: Partial<TorrentSettings>;
  /**
   * Peer connections of all torrents together, past which incoming connections are refused (each
   * torrent also keeps its own `maxConnections`). Default {@link DEFAULT_ENGINE_MAX_CONNECTIONS}.
   */
  maxConnections?: number;
  /**
   * XState inspection observer attached to every torrent's actor system, e.g. `startInspection(…).inspect`
   * (src/app/inspect). Off by default: no observer, no cost.
   */
  inspect?: TorrentActorOptions['inspect'];
  /**
   * Rate limits of the whole engine in bytes per second (`down`: every byte read from peers; `up`: the
   * blocks sent to them), 0 or absent for none; changeable with {@link Engine.setLimits}. Each torrent
   * may have its own as well (`add`'s `limits`, `handle.setLimits`): both apply.
   */
  limits?: Partial<RateLimits>;
  /**
   * The DHT (BEP 5): one node for the engine, on the UDP port with the listener's port number, started
   * when the first torrent that may use it (not private) is added; `true` for the defaults (the usual
   * public routers, the table in the user's state folder). Off by default in the library (the CLI turns
   * it on): see docs/dht.md.
   */
  dht?: boolean | DhtOptions;
  /**
   * The seams to time, network, randomness, disk and trackers (src/app/runtime.ts): the real ones where
   * absent. The swarm simulator (src/sim) gives virtual ones.
   */
  runtime?: Partial<EngineRuntime>;
  /**
   * Encryption (MSE/PE) of peer connections, both ways (default `prefer`; changeable with
   * `setEncryption`): `prefer` dials with MSE offering RC4 and plaintext, falls back to one plaintext
   * dial, accepts both; `require` dials and accepts only MSE with an RC4 payload stream; `plaintext`
   * dials in plaintext and accepts MSE only with a plaintext payload stream. See docs/wire.md.
   */
  encryption?: EncryptionPolicy;
}

/** The engine-wide cap on peer connections (all torrents together) by default. */
export const DEFAULT_ENGINE_MAX_CONNECTIONS = 500;

/**
 * The engine-wide settings changeable while it runs ({@link Engine.settings}, {@link Engine.set}):
 * the cap on peer connections of all torrents together, the rate limits, the encryption policy.
 */
export interface EngineSettings {
  /** Peer connections of all torrents together: past it, no new dial and no new accepted connection. */
  maxConnections: number;
  /** Engine-wide rate limits in bytes per second (0: none). */
  limits: RateLimits;
  /** The encryption policy (MSE/PE) of new connections. */
  encryption: EncryptionPolicy;
}

/** What {@link Engine.set} takes: any of the settings, the limits each on its own. */
export interface EngineSettingsChange {
  maxConnections?: number;
  limits?: Partial<RateLimits>;
  encryption?: EncryptionPolicy;
}

/** Options of {@link Engine.remove}. */
export interface RemoveOptions {
  /**
   * Delete the torrent's own files in its folder (each file of the torrent, and the torrent's folders
   * left empty — never another path), its part file and its resume data (resume file, selection, a
   * magnet's saved .torrent).
   */
  deleteFiles?: boolean;
}

function checkedMaxConnections(n: unknown): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1)
    throw new EngineError(
      'BT_ERR_MAX_CONNECTIONS',
      `maxConnections must be an integer ≥ 1 (peer connections of all torrents), not ${String(n)}`,
    );
  return n;
}

/**
 * The stream of a dial the engine's connection cap refused: it fails at once with
 * `BT_ERR_CONNECTION_CAP`, as a refused socket would (the peer book tries the address again later).
 */
class CappedDial {
  private readonly listeners = new Map<string, ((...args: unknown[]) => void)[]>();
  destroyed = false;
  readonly connecting = true;
  readonly readableLength = 0;
  readonly writableLength = 0;
  constructor(clock: EngineRuntime['clock']) {
    clock.setTimeout(() => {
      if (this.destroyed) return;
      const err = Object.assign(new Error('the engine has reached its connection cap (maxConnections)'), {
        code: 'BT_ERR_CONNECTION_CAP',
      });
      this.emit('error', err);
      this.destroy();
    }, 0);
  }
  private emit(event: string, ...args: unknown[]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) fn(...args);
  }
  write(): boolean {
    return false;
  }
  end(): void {
    this.destroy();
  }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
  cork(): void {}
  uncork(): void {}
  setNoDelay(): void {}
  on(event: string, fn: (...args: never[]) => void): this {
    const list = this.listeners.get(event) ?? [];
    list.push(fn as (...args: unknown[]) => void);
    this.listeners.set(event, list);
    return this;
  }
  off(event: string, fn: (...args: never[]) => void): this {
    const list = this.listeners.get(event) ?? [];
    this.listeners.set(
      event,
      list.filter((f) => f !== fn),
    );
    return this;
  }
  removeAllListeners(): this {
    this.listeners.clear();
    return this;
  }
}

/**
 * The codes of {@link EngineError}: `BT_ERR_ENGINE_CLOSED` (`add` on a closed engine),
 * `BT_ERR_TORRENT_DUPLICATE` (the torrent is already in the engine), `BT_ERR_PEER_ADDRESS` (a peer of
 * `add`'s `peers` whose host does not resolve or whose port is not 1..65535), `BT_ERR_ENCRYPTION_POLICY` (an
 * encryption policy that is not prefer, require or plaintext), `BT_ERR_FILE_PRIORITY` (a file
 * priority that is not skip, low, normal or high), `BT_ERR_RATE_LIMIT` (a rate limit that is not a finite
 * number ≥ 0), `BT_ERR_STREAM_READ` (a read stream found a verified piece's bytes missing from the file),
 * `BT_ERR_MAX_CONNECTIONS` (an engine-wide connection cap that is not an integer ≥ 1),
 * `BT_ERR_TORRENT_UNKNOWN` (`engine.remove` of a torrent that is not in the engine).
 */
export type EngineErrorCode =
  | 'BT_ERR_ENGINE_CLOSED'
  | 'BT_ERR_TORRENT_DUPLICATE'
  | 'BT_ERR_PEER_ADDRESS'
  | 'BT_ERR_FILE_PRIORITY'
  | 'BT_ERR_ENCRYPTION_POLICY'
  | 'BT_ERR_STREAM_READ'
  | 'BT_ERR_RATE_LIMIT'
  | 'BT_ERR_MAX_CONNECTIONS'
  | 'BT_ERR_TORRENT_UNKNOWN';

/** An error of the engine itself, with a stable `code` (see {@link EngineErrorCode}). */
export class EngineError extends BtError {
  override readonly name = 'EngineError';
  constructor(
    override readonly code: EngineErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/**
 * A peer to dial: `host` is an IP address (`10.0.0.2`, `::1`) or a host name, resolved when the
 * torrent is added. `family` may be left out: it is derived from the address (a {@link PeerAddress},
 * as trackers report them, fits as it is).
 */
export interface PeerInput {
  host: string;
  port: number;
  family?: 4 | 6;
}

/** Options of {@link Engine.add}. */
export interface AddOptions {
  /** Download folder: the data lands at `<dir>/<name>` (single-file) or under `<dir>/<name>/`. */
  dir?: string;
  /** Peers to dial besides the trackers': `{ host, port }`, the host an IP address or a name. */
  peers?: readonly PeerInput[];
  /** Ignore the resume file and check the data by hash. */
  check?: boolean;
  /**
   * Add without starting (call `resume()`): subscribe to the handle's observables first to see every
   * event from the first one on.
   */
  paused?: boolean;
  /** This torrent's statechart settings (e.g. `maxConnections`), over the engine's `settings`. */
  settings?: Partial<TorrentSettings>;
  /**
   * Priority of each file (`skip`, `low`, `normal`, `high`), indexed as `bt-actor info` lists files
   * (padding files left out); missing entries are `normal`. Skipped files are not downloaded.
   */
  filePriorities?: readonly FilePriority[];
  /**
   * Priority of the files past the end of `filePriorities` (default `normal`). For a magnet link, whose
   * files are not known yet, it applies once the metadata arrives: `{ filePriorities: ['skip', 'normal'],
   * otherFiles: 'skip' }` downloads only file 1.
   */
  otherFiles?: FilePriority;
  /** Fetch new pieces in index order rather than rarest first (endgame still applies). */
  sequential?: boolean;
  /** This torrent's own rate limits in bytes per second (0 or absent: none), under the engine's. */
  limits?: Partial<RateLimits>;
}

/**
 * One file of a torrent (`handle.files[i]`, as `bt-actor info` numbers them, padding left out). Its
 * figures are read live from the torrent; the setters work while it runs, paused, or before its
 * metadata is known.
 *
 * @example
 * ```ts
 * const t = await engine.add('show.torrent', { dir: '/tv', filePriorities: ['skip'] });
 * t.files[1].setPriority('high');
 * t.files[0].deselect();
 * console.log(t.files.map((f) => `${f.path} ${Math.round(f.progress * 100)}% ${f.priority}`));
 * ```
 */
export interface TorrentFileHandle {
  readonly index: number;
  /** Path inside the torrent, elements joined with `/` (the name of a single-file torrent). */
  readonly path: string;
  readonly length: number;
  /** Byte offset of the file in the torrent's data. */
  readonly offset: number;
  /** Bytes of the file in verified pieces. */
  readonly downloaded: number;
  /** `downloaded / length` (1 for an empty file). */
  readonly progress: number;
  readonly priority: FilePriority;
  /** Wanted again at `normal` priority (a file already selected keeps its priority). */
  select(): void;
  /** Not wanted: its pieces are not fetched unless another wanted file shares them. */
  deselect(): void;
  setPriority(priority: FilePriority): void;
  /**
   * The file's bytes `start`..`end` (inclusive, as `fs.createReadStream`; default the whole file) as a
   * Node Readable that yields them as their pieces verify — never a byte that did not — in order. The
   * pieces it waits for are asked for before any other (deadlines, soonest first); the file is selected
   * if it was skipped. Waits while the torrent is paused.
   */
  createReadStream(options?: { start?: number; end?: number }): Readable;
}

/**
 * How a run of a torrent ended (its actor reached a final state or was stopped), with its progress
 * then (the byte counts include every peer's last report):
 * - `complete`: every piece (of the selected files, when some are skipped) verified and written (it may have been seeding when stopped);
 * - `stopped`: stopped before completion;
 * - `error`: the torrent failed on its own, with a stable `code` (`BT_ERR_STORAGE_…` from the storage,
 *   `BT_ERR_INTERNAL` when the actor threw, the message then holding the stack).
 */
export type TorrentOutcome =
  | { state: 'complete'; progress: TorrentProgress }
  | { state: 'stopped'; progress: TorrentProgress }
  | { state: 'error'; code: string; message: string; progress: TorrentProgress };

/** An event of any torrent of the engine, tagged with its info hash. */
export interface EngineEvent {
  infoHash: string;
  event: TorrentReport;
}

/** One torrent in the engine. */
export interface TorrentHandle {
  readonly infoHash: string;
  /** The torrent's name; for a magnet link the link's `dn` (else the info hash) until the metadata is known. */
  readonly name: string;
  /** The metainfo; undefined while a torrent added by magnet link fetches its info dictionary. */
  readonly meta: Metainfo | undefined;
  /** The magnet link it was added from, if it was. */
  readonly magnet: MagnetLink | undefined;
  /**
   * Whether the torrent may use the DHT and PEX: not private (BEP 27). While a magnet's metadata is
   * fetched it is not known, and counts as true.
   */
  readonly mayUseDht: boolean;
  readonly dir: string;
  /** The running actor (a new one after each `resume()`; it stays while stopping), or undefined while paused or removed. */
  readonly actor: TorrentActor | undefined;
  /** Progress, published by the statechart (every tick and every verified piece, and once more when it stops). */
  readonly progress$: Observable<TorrentProgress>;
  /**
   * The latest progress: read from the running actor, else the final progress of the last run (kept
   * after `pause`, `remove` and `Engine.close`); zeros before the first start.
   */
  readonly progress: TorrentProgress;
  /** How the last run ended; undefined while the torrent runs or before it first started. */
  readonly outcome: TorrentOutcome | undefined;
  /**
   * Each run's end, whoever ended it (`pause`, `remove`, `Engine.close`, or the torrent itself on an
   * error); completes when the torrent is removed.
   */
  readonly ended$: Observable<TorrentOutcome>;
  /** The statechart's events: checking, ready, piece, hashFailed, peer, complete, error, tracker events. */
  readonly events$: Observable<TorrentReport>;
  /** How many peer actors stand in each state, sampled with each progress update. */
  readonly peerStates$: Observable<Record<string, number>>;
  /**
   * The connected peers now (handshake taken): address, direction, peer id, `encryption` (`rc4`,
   * `plaintext` after MSE, `none`), bytes and rates; empty while paused.
   */
  readonly peers: readonly ConnectedPeer[];
  /** Resolves once every piece (of the selected files, when some are skipped) is verified and written; rejects if the torrent fails. */
  readonly completed: Promise<void>;
  /**
   * Stops the torrent (trackers told `stopped`, peers closed, files closed; bounded in time); the handle
   * stays in the engine. Resolves to how the run ended (the last one's when not running).
   */
  pause(): Promise<TorrentOutcome | undefined>;
  /** Starts it again (verified pieces are found through the resume file). */
  resume(): void;
  /**
   * Peers to dial (from the DHT, or anyone who knows some): given to the running torrent, in its
   * metadata phase too; ignored while paused.
   */
  addPeers(peers: readonly PeerAddress[]): void;
  /**
   * Asks the tracker in use for peers now (BEP 3 regular announce), as soon as its `min interval`
   * allows; does nothing while paused.
   */
  reannounce(): void;
  /** Stops it (as `pause`) and removes it from the engine; its observables complete. */
  remove(): Promise<TorrentOutcome | undefined>;
  /** The torrent's files (padding left out); empty while a magnet link's metadata is fetched. */
  readonly files: readonly TorrentFileHandle[];
  /** Whether new pieces are fetched in index order. */
  readonly sequential: boolean;
  /** Fetch new pieces in index order (true) or rarest first (false); changeable while running. */
  setSequential(on: boolean): void;
  /** This torrent's own rate limits in bytes per second (0: none); the engine's apply as well. */
  readonly limits: RateLimits;
  /**
   * Changes this torrent's rate limits (the ones given; 0 lifts one), at once while it runs; they stay
   * across `pause`/`resume`. Throws an {@link EngineError} `BT_ERR_RATE_LIMIT` for a rate that is not a
   * finite number ≥ 0.
   *
   * @example
   * t.setLimits({ down: 2 * 1024 * 1024 }); // 2 MiB/s for this torrent, whatever the others do
   */
  setLimits(limits: Partial<RateLimits>): void;
}

/** Throws `BT_ERR_RATE_LIMIT` unless each rate given is a finite number ≥ 0. */
function checkLimits(limits: Partial<RateLimits> | undefined): void {
  for (const key of ['down', 'up'] as const) {
    const v = limits?.[key];
    if (v !== undefined && !isRate(v))
      throw new EngineError(
        'BT_ERR_RATE_LIMIT',
        `the ${key} rate limit must be a finite number of bytes per second ≥ 0 (0: none), not ${String(v)}`,
      );
  }
}

/** Sets the rates given of a pair of limiters. */
function applyLimits(shaping: WireShaping, limits: Partial<RateLimits> | undefined): void {
  if (limits?.down !== undefined) shaping.down.setRate(limits.down);
  if (limits?.up !== undefined) shaping.up.setRate(limits.up);
}

/** Time a stopping torrent is given beyond its own `stopTimeoutMs` before its actor is stopped outright. */
const STOP_SLACK_MS = 5_000;

/** One run of a torrent: its actor from `resume()` (or `add`) until it ends. */
interface Run {
  actor: TorrentActor;
  unroute: () => void;
  ended: Promise<TorrentOutcome>;
  stopping?: Promise<TorrentOutcome>;
}

/**
 * A peer of `add` as the statechart takes it: the host normalised, its family known. A host name
 * stands for every address it resolves to (`localhost`: 127.0.0.1 and ::1), each one a peer to dial.
 */
async function peerAddresses(peer: PeerInput): Promise<PeerAddress[]> {
  const { host, port } = peer;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new EngineError('BT_ERR_PEER_ADDRESS', `peer ${host}:${String(port)}: the port is not 1..65535`);
  const ip = normaliseHost(host);
  if (ip) return [{ host: ip.host, port, family: ip.family }];
  let found: { address: string }[];
  try {
    found = await dnsModule().lookup(host, { all: true });
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new EngineError('BT_ERR_PEER_ADDRESS', `peer ${host}:${port}: the host does not resolve (${why})`);
  }
  const addresses = found.flatMap((a) => normaliseHost(a.address) ?? []).map((a) => ({ ...a, port }));
  if (addresses.length === 0)
    throw new EngineError('BT_ERR_PEER_ADDRESS', `peer ${host}:${port}: the host does not resolve`);
  return addresses;
}

/** A .torrent file's bytes; one larger than any .torrent (the data itself, given by mistake) is not read. */
async function readTorrentFile(path: string): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    checkTorrentFileSize((await fh.stat()).size);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * The .torrent file a magnet link's earlier run saved in `dir` (`<dir>/.bt-actor/<hash>.torrent`), when
 * it is there, parses, and is of this info hash; otherwise undefined (the metadata is fetched).
 */
async function savedTorrent(dir: string, infoHashHex: string): Promise<Metainfo | undefined> {
  try {
    const meta = parseMetainfo(await readFile(torrentFilePath(dir, infoHashHex)));
    return meta.infoHashHex === infoHashHex ? meta : undefined;
  } catch {
    return undefined;
  }
}

/**
 * BEP 52: `meta` (a v2-only torrent without some piece layers) with the layers an earlier run fetched from
 * peers and saved in `dir`'s .torrent of the same info hash (already checked against each file's root
 * when that file was parsed); `meta` itself when there is nothing to add. Never changes `meta`.
 */
async function withSavedLayers(dir: string, meta: Metainfo): Promise<Metainfo> {
  if (meta.kind !== 'v2' || filesMissingPieceLayers(meta).length === 0) return meta;
  const saved = await savedTorrent(dir, meta.infoHashHex);
  if (!saved || saved.files.length !== meta.files.length) return meta;
  return {
    ...meta,
    files: meta.files.map((f, i) => {
      const layer = saved.files[i]!.pieceLayer;
      return f.pieceLayer === undefined && layer !== undefined ? { ...f, pieceLayer: layer } : f;
    }),
  };
}

function outcomeOf(actor: TorrentActor): TorrentOutcome {
  const snap = actor.getSnapshot();
  const progress = snap.context.progress;
  if (snap.value === 'error') {
    const e = snap.context.error ?? { code: 'BT_ERR_INTERNAL', message: 'the torrent failed' };
    return { state: 'error', code: e.code, message: e.message, progress };
  }
  // A magnet link stopped before its metadata came has `left` 0 of an unknown size: not complete.
  return { state: progress.left === 0 && !progress.metadata ? 'complete' : 'stopped', progress };
}

function initialProgress(meta: Metainfo | undefined): TorrentProgress {
  return {
    verifiedPieces: 0,
    pieceCount: meta?.pieceCount ?? 0,
    left: meta?.length ?? 0,
    length: meta?.length ?? 0,
    wanted: meta?.length ?? 0,
    downloaded: 0,
    uploaded: 0,
    wasted: 0,
    hashFailures: 0,
    peersConnected: 0,
    peersKnown: 0,
    checked: 0,
    diskFull: false,
    webseeds: 0,
    downloadRate: 0,
    uploadRate: 0,
  };
}

function checkedEncryption(policy: unknown): EncryptionPolicy {
  if (!ENCRYPTION_POLICIES.includes(policy as EncryptionPolicy))
    throw new EngineError(
      'BT_ERR_ENCRYPTION_POLICY',
      `encryption ${JSON.stringify(policy)} is not one of ${ENCRYPTION_POLICIES.join(', ')}`,
    );
  return policy as EncryptionPolicy;
}

export class Engine {
  private readonly handles = new Map<string, TorrentHandle>();
  /** BEP 52: a hybrid torrent's truncated v2 hash (hex) → its handle's key, for the DHT's peers. */
  private readonly v2Keys = new Map<string, string>();
  private encryptionPolicy: EncryptionPolicy = 'prefer';

  /** The engine-wide cap on peer connections (changeable with {@link set}). */
  private maxConnections: number;
  /** Per torrent, what `remove(t, { deleteFiles })` deletes (kept after the handle left the engine). */
  private readonly deleters = new WeakMap<TorrentHandle, () => Promise<void>>();

  /** Peer connections of every torrent (peer actors: connecting, handshaking or connected). */
  private connections(): number {
    let total = 0;
    for (const h of this.handles.values()) {
      const c = h.actor?.getSnapshot().context;
      if (c) total += Object.keys(c.peers).length + Object.keys(c.metadata?.peers ?? {}).length;
    }
    return total;
  }

  /** Whether the torrents' peer connections together stay under the engine's cap with one more. */
  private hasRoom(): boolean {
    return this.connections() < this.maxConnections;
  }

  /** The streams the torrents dialled (through {@link cappedTransport}), pruned once destroyed. */
  private readonly dialled = new Set<ByteStream>();

  /**
   * Connections for a new dial to count against the cap: the dials not closed yet (those still
   * connecting too — several peers may be dialled in one step) and the accepted peers of every torrent.
   */
  private dialCount(): number {
    for (const s of this.dialled) if (s.destroyed) this.dialled.delete(s);
    let total = this.dialled.size;
    for (const h of this.handles.values()) {
      const c = h.actor?.getSnapshot().context;
      for (const p of Object.values(c?.peers ?? {})) if (p.direction === 'incoming') total++;
    }
    return total;
  }

  /**
   * The transport the torrents dial with: the runtime's, but a dial that would pass the engine's cap
   * fails at once (as a refused connection would; the peer book retries the address later).
   */
  private cappedTransport(t: Transport): Transport {
    return {
      dial: (host, port, readInto) => {
        if (this.dialCount() >= this.maxConnections) return new CappedDial(this.runtime.clock) as unknown as ByteStream;
        const s = t.dial(host, port, readInto);
        this.dialled.add(s);
        return s;
      },
      adopt: (stream, readInto) => t.adopt(stream, readInto),
      createServer: () => t.createServer(),
      localAddresses: () => t.localAddresses(),
      isStream: (x: unknown): x is ByteStream => t.isStream(x),
    };
  }
  /** The runtime of the torrents: the engine's, dials under the connection cap. */
  private readonly torrentRuntime: EngineRuntime;
  private readonly events = new Subject<EngineEvent>();
  private closing: Promise<void> | undefined;
  /** The engine's DHT node (undefined when the DHT is off); started with the first public torrent. */
  readonly dht: DhtNode | undefined;
  /** The engine-wide rate limiters: every torrent's limiters have these as parents. */
  private readonly shaping: WireShaping;

  private constructor(
    private readonly listener: PeerListener,
    private readonly client: TrackerClient,
    /** Our peer id, the same for every torrent of the engine. */
    readonly peerId: Uint8Array,
    private readonly options: EngineOptions,
    private readonly runtime: EngineRuntime,
    dht: DhtNode | undefined,
  ) {
    this.maxConnections = options.maxConnections ?? DEFAULT_ENGINE_MAX_CONNECTIONS;
    this.torrentRuntime = { ...runtime, transport: this.cappedTransport(runtime.transport) };
    this.shaping = {
      down: new RateLimiter(runtime.clock, options.limits?.down ?? 0),
      up: new RateLimiter(runtime.clock, options.limits?.up ?? 0),
    };
    this.dht = dht;
    if (this.dht) {
      // Peers the DHT finds go to their torrent as tracker peers do (the peer book's caps apply).
      // BEP 52: those found under a hybrid's v2 hash are marked (`viaV2`: dialled with that hash).
      this.dht.peers$.subscribe(({ infoHash, peers }) => {
        const v1 = this.v2Keys.get(infoHash);
        const actor = this.handles.get(v1 ?? infoHash)?.actor;
        if (actor && actor.getSnapshot().status === 'active')
          actor.send({
            type: 'torrent.addPeers',
            peers: v1 ? peers.map((p) => ({ ...p, viaV2: true as const })) : peers,
          });
      });
    }
  }

  /**
   * Opens the listening port (`port`, `host`) and the tracker client. Throws `ListenError` when it
   * cannot listen: `BT_ERR_LISTEN_ADDRESS` (`host` is not an address of this machine),
   * `BT_ERR_PORT_IN_USE` (with `exactPort`), `BT_ERR_LISTEN`.
   */
  static async create(options: EngineOptions = {}): Promise<Engine> {
    checkLimits(options.limits);
    if (options.maxConnections !== undefined) checkedMaxConnections(options.maxConnections);
    const runtime = resolveRuntime(options.runtime);
    const encryption = checkedEncryption(options.encryption ?? 'prefer');
    // The listener asks the engine for its policy at each connection (the engine is made below).
    const made: { engine?: Engine } = {};
    const listener = await PeerListener.listen({
      transport: runtime.transport,
      clock: runtime.clock,
      encryption: () => made.engine?.encryption ?? encryption,
      random: randomBytesOf(runtime),
      port: options.port ?? 6881,
      ...(options.exactPort && { exactPort: true }),
      ...(options.host !== undefined && { host: options.host }),
    });
    const peerId = generatePeerId(randomBytesOf(runtime));
    const client = new TrackerClient({ peerId, port: listener.port, clock: runtime.clock });
    // The DHT's code (its statecharts, its UDP socket) is loaded only when the DHT is on: a start-up
    // without it does not build them (docs/performance.md, Profiles, start-up).
    const dht = options.dht
      ? new (await import('./dht-node.js')).DhtNode({
          ...(options.dht === true ? {} : options.dht),
          port: listener.port,
          ...(options.host !== undefined && { host: options.host }),
          ...(options.inspect && { inspect: options.inspect }),
        })
      : undefined;
    const engine = new Engine(listener, client, peerId, options, runtime, dht);
    engine.encryptionPolicy = encryption;
    return (made.engine = engine);
  }

  /** The encryption policy (MSE/PE) of new connections, both ways. */
  get encryption(): EncryptionPolicy {
    return this.encryptionPolicy;
  }

  /**
   * Changes the encryption policy while running: connections dialled or accepted from now on follow it
   * (those open stay as they are). Throws `EngineError` `BT_ERR_ENCRYPTION_POLICY` for another value.
   */
  setEncryption(policy: EncryptionPolicy): void {
    this.encryptionPolicy = checkedEncryption(policy);
  }

  /** The engine-wide rate limits in bytes per second (0: none). */
  get limits(): RateLimits {
    return { down: this.shaping.down.rate, up: this.shaping.up.rate };
  }

  /**
   * Changes the engine-wide rate limits (the ones given; 0 lifts one), at once for every connection.
   * Throws an {@link EngineError} `BT_ERR_RATE_LIMIT` for a rate that is not a finite number ≥ 0.
   *
   * @example
   * engine.setLimits({ down: 4 * 1024 * 1024, up: 512 * 1024 }); // 4 MiB/s down, 512 KiB/s up
   * engine.setLimits({ up: 0 }); // no upload limit any more
   */
  setLimits(limits: Partial<RateLimits>): void {
    checkLimits(limits);
    applyLimits(this.shaping, limits);
  }

  /**
   * The engine-wide settings now: the connection cap of all torrents together, the rate limits and the
   * encryption policy (a copy: change them with {@link set}).
   */
  get settings(): EngineSettings {
    return { maxConnections: this.maxConnections, limits: this.limits, encryption: this.encryption };
  }

  /**
   * Changes engine-wide settings while it runs (those given; the rest stay): `maxConnections` applies
   * to every dial and accepted connection from then on (connections open past a lowered cap stay until
   * they close), `limits` at once to every connection (as {@link setLimits}), `encryption` to
   * connections dialled or accepted from then on (as {@link setEncryption}). Everything is checked
   * before anything changes: an {@link EngineError} (`BT_ERR_MAX_CONNECTIONS`, `BT_ERR_RATE_LIMIT`,
   * `BT_ERR_ENCRYPTION_POLICY`) leaves every setting as it was.
   *
   * @example
   * engine.set({ maxConnections: 50, limits: { down: 2 * 1024 * 1024 }, encryption: 'require' });
   */
  set(change: EngineSettingsChange): void {
    const max = change.maxConnections === undefined ? undefined : checkedMaxConnections(change.maxConnections);
    checkLimits(change.limits);
    const encryption = change.encryption === undefined ? undefined : checkedEncryption(change.encryption);
    if (max !== undefined) this.maxConnections = max;
    applyLimits(this.shaping, change.limits);
    if (encryption !== undefined) this.encryptionPolicy = encryption;
  }

  /**
   * Removes a torrent (its handle or info hash) as `handle.remove()` does — stopped through its stop
   * routine, taken out of the engine — and with `deleteFiles` then deletes its data: each of the
   * torrent's own files in its folder and the torrent's folders left empty (never a path outside the
   * folder, never a symlink's target, never a folder with other files in it), its part file and its
   * resume data. Works while the torrent runs, is paused, or was removed already (then only deletes).
   * Throws an {@link EngineError} `BT_ERR_TORRENT_UNKNOWN` for a torrent this engine never had.
   *
   * @example
   * await engine.remove(t, { deleteFiles: true }); // stopped, gone, and its files with it
   */
  async remove(torrent: TorrentHandle | string, options: RemoveOptions = {}): Promise<TorrentOutcome | undefined> {
    const handle = typeof torrent === 'string' ? this.handles.get(torrent) : torrent;
    const deleteData = handle && this.deleters.get(handle);
    if (!handle || !deleteData)
      throw new EngineError(
        'BT_ERR_TORRENT_UNKNOWN',
        `torrent ${typeof torrent === 'string' ? torrent : torrent.infoHash} is not in the engine`,
      );
    const outcome = await handle.remove();
    if (options.deleteFiles) await deleteData();
    return outcome;
  }

  /** The port peers can reach this engine on. */
  get port(): number {
    return this.listener.port;
  }

  /** The address the engine accepts peers on: `host`, else `::` (IPv6 and IPv4) or `0.0.0.0` (no IPv6). */
  get host(): string {
    return this.listener.host;
  }

  /** Every event of every torrent; completes when the engine is closed. */
  get events$(): Observable<EngineEvent> {
    return this.events.asObservable();
  }

  /** The torrents in the engine (paused ones included, removed ones not). */
  get torrents(): TorrentHandle[] {
    return [...this.handles.values()];
  }

  /** The torrent with this info hash (40 lowercase hex digits), if it is in the engine. */
  get(infoHash: string): TorrentHandle | undefined {
    return this.handles.get(infoHash);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Adds a torrent from a .torrent path, its bytes, parsed metainfo, or a magnet link (`'magnet:?…'`
   * or a parsed `MagnetLink`), and starts it (unless `paused`). A magnet link's torrent first fetches
   * its info dictionary from peers (its `metadata` phase: `progress.metadata`, then a `torrent.metadata`
   * event) and saves it as `<dir>/.bt-actor/<info hash>.torrent`; a later `add` of the same link and
   * folder reads that file and skips the phase. The link's `x.pe` peers are dialled like `peers`.
   * A v2-only torrent without its piece layers (or a v2-only `urn:btmh:` link) asks its peers for them.
   * Throws a `MagnetError` for a malformed link, a `MetainfoError` for an invalid torrent, an {@link EngineError} for a duplicate,
   * a closed engine or a peer that does not resolve, `LockError` (`code` `BT_ERR_LOCKED`) when another
   * bt-actor process uses the folder for this torrent (engines of one process share the folder's lock;
   * it is released by `remove` and `close`), and Node's error (`ENOENT`, `EISDIR` …) for a path it cannot
   * read — each with its `code`.
   */
  async add(source: string | Uint8Array | Metainfo | MagnetLink, options: AddOptions = {}): Promise<TorrentHandle> {
    if (this.closed) throw new EngineError('BT_ERR_ENGINE_CLOSED', 'the engine is closed');
    const magnet =
      typeof source === 'string' && /^magnet:/i.test(source)
        ? parseMagnet(source, { v2Only: true })
        : typeof source === 'object' && 'ignored' in source
          ? source
          : undefined;
    const dir = resolve(options.dir ?? this.options.dir ?? '.');
    const priorities: FilePriority[] = [...(options.filePriorities ?? [])];
    checkLimits(options.limits);
    for (const p of [...priorities, options.otherFiles ?? 'normal'])
      if (!FILE_PRIORITIES.includes(p)) throw new EngineError('BT_ERR_FILE_PRIORITY', `unknown file priority '${p}'`);
    let meta: Metainfo | undefined = magnet
      ? await savedTorrent(dir, magnet.infoHashHex)
      : typeof source === 'string'
        ? parseMetainfo(await readTorrentFile(source))
        : source instanceof Uint8Array
          ? parseMetainfo(source)
          : (source as Metainfo);
    // BEP 52: piece layers an earlier run fetched from peers (saved with the .torrent in `dir`).
    if (meta && !magnet) meta = await withSavedLayers(dir, meta);
    const infoHashHex = meta?.infoHashHex ?? magnet!.infoHashHex;
    const infoHash = meta?.infoHash ?? magnet!.infoHash;
    // BEP 52: a hybrid (a .torrent, or a link with both urn:btih: and urn:btmh:) is also routed, looked up
    // and announced under its truncated v2 hash.
    const v2Hash = meta ? hybridV2Hash(meta) : magnetHybridV2Hash(magnet!);
    const peers = (await Promise.all((options.peers ?? []).map(peerAddresses))).flat();
    // The link's peers (x.pe): a host name that does not resolve is left out, not an error.
    for (const p of magnet?.peers ?? []) peers.push(...(await peerAddresses(p).catch(() => [])));
    if (this.closed) throw new EngineError('BT_ERR_ENGINE_CLOSED', 'the engine is closed');
    if (this.handles.has(infoHashHex))
      throw new EngineError('BT_ERR_TORRENT_DUPLICATE', `torrent ${infoHashHex} is already in the engine`);
    if (meta && isReservedName(meta.name))
      throw new MetainfoError(
        'BT_ERR_METAINFO_PATH',
        'info.name',
        `'${meta.name}' is where bt-actor keeps resume data in a download folder: this torrent's files would overwrite it`,
      );
    // A storage seam owns its folder (the simulator's is in memory): no lock file then.
    const lock = this.runtime.storage && meta ? { release: () => undefined } : await this.lock(dir, { infoHashHex });
    if (this.closed || this.handles.has(infoHashHex)) {
      lock.release();
      if (this.closed) throw new EngineError('BT_ERR_ENGINE_CLOSED', 'the engine is closed');
      throw new EngineError('BT_ERR_TORRENT_DUPLICATE', `torrent ${infoHashHex} is already in the engine`);
    }
    // The selection of the last run (saved by the engine) when none is given; a given one is saved.
    const selPath = selectionPath(dir, infoHashHex);
    const onDisk = !this.runtime.storage;
    if (options.filePriorities === undefined && options.otherFiles === undefined && onDisk)
      priorities.push(...((await loadSelection(selPath, infoHashHex)) ?? []));
    /** Every file gets a priority once the files are known (those not given: `otherFiles`). */
    const padPriorities = (m: Metainfo) => {
      const count = m.files.filter((f) => !f.padding).length;
      if (priorities.length > count) priorities.length = count;
      while (priorities.length < count) priorities.push(options.otherFiles ?? 'normal');
    };
    if (meta && options.otherFiles !== undefined) padPriorities(meta);
    let saving: Promise<void> = Promise.resolve();
    const saveFileSelection = () => {
      if (!onDisk) return;
      const files = [...priorities];
      saving = saving.then(() => saveSelection(selPath, infoHashHex, files)).catch(() => undefined);
    };
    if (options.filePriorities !== undefined || options.otherFiles !== undefined) saveFileSelection();
    const settings = { ...this.options.settings, ...options.settings };
    let sequential = options.sequential ?? false;
    // The torrent's own limiters (kept across runs), under the engine's.
    const shaping: WireShaping = {
      down: new RateLimiter(this.runtime.clock, 0, this.shaping.down),
      up: new RateLimiter(this.runtime.clock, 0, this.shaping.up),
    };
    applyLimits(shaping, options.limits);
    /** The last actor run (its snapshot's picker tells which pieces are verified, after it stopped too). */
    let lastActor: TorrentActor | undefined;
    const stopBoundMs = (settings.stopTimeoutMs ?? defaultTorrentSettings.stopTimeoutMs) + STOP_SLACK_MS;
    const actors = new BehaviorSubject<TorrentActor | undefined>(undefined);
    const ended = new Subject<TorrentOutcome>();
    const removed = new Subject<void>();
    let run: Run | undefined;
    let last: TorrentOutcome | undefined;
    let settle: { resolve: () => void; reject: (e: Error) => void };
    const completed = new Promise<void>((res, rej) => (settle = { resolve: res, reject: rej }));
    completed.catch(() => undefined); // observed through the handle; never an unhandled rejection

    const start = () => {
      const actor = createTorrentActor({
        ...(meta ? { meta } : { magnet: magnet! }),
        dir,
        peers,
        port: this.listener.port,
        ...(this.dht && { dhtPort: this.listener.port }),
        peerId: this.peerId,
        trackerClient: this.client,
        selfKeys: selfKeys(this.listener.port, this.runtime.transport),
        settings,
        filePriorities: [...priorities],
        ...(options.otherFiles !== undefined && { otherFiles: options.otherFiles }),
        sequential,
        storage: {
          resumePath: resumePath(dir, { infoHashHex }),
          forceCheck: options.check ?? false,
          // A magnet's fetched .torrent is saved there, and (BEP 52) a .torrent with the layers fetched from peers.
          ...((!meta || filesMissingPieceLayers(meta).length > 0) && {
            torrentPath: torrentFilePath(dir, infoHashHex),
          }),
          // Unselected files are not created; bytes of theirs in shared pieces go to the part file.
          partPath: partsPath(dir, infoHashHex),
          ...(meta && { skippedFiles: skippedFiles(meta.files, priorities) }),
        },
        ...(this.options.inspect && { inspect: this.options.inspect }),
        runtime: this.torrentRuntime,
        shaping,
        encryption: () => this.encryptionPolicy,
      });
      actor.on('*', (e) => {
        if (e.type === 'torrent.refused') return; // the routing closed it; not a report
        // BEP 5: a peer's `port` message names a DHT node: our node pings it (and may keep it).
        if (e.type === 'torrent.dhtNode') this.dht?.addNode(e.host, e.port);
        // The fetched info dictionary: the handle has its metainfo now, and a restart needs no fetch.
        if (e.type === 'torrent.metadata') {
          meta = e.meta;
          if (options.otherFiles !== undefined) {
            padPriorities(e.meta);
            saveFileSelection();
          }
          if (meta.private) this.dht?.remove(infoHash);
          if (meta.private && v2Hash) this.dht?.remove(v2Hash);
        }
        this.events.next({ infoHash: infoHashHex, event: e as TorrentReport });
        if (e.type === 'torrent.complete') settle.resolve();
      });
      let unrouted = false;
      const unrouteListener = attachListener(
        actor,
        this.listener,
        meta ?? {
          infoHashHex,
          ...(v2Hash && { kind: 'hybrid' as const, infoHashV2: magnet!.infoHashV2! }),
        },
        () => this.hasRoom(),
      );
      let done!: (o: TorrentOutcome) => void;
      const current: Run = {
        actor,
        unroute: () => {
          if (!unrouted) unrouteListener();
          unrouted = true;
        },
        ended: new Promise<TorrentOutcome>((r) => (done = r)),
      };
      // However the actor ends (stopped, failed, or stopped outright at the bound), this records it.
      const finish = (outcome: TorrentOutcome) => {
        current.unroute();
        if (run === current) {
          run = undefined;
          if (actors.value === actor) actors.next(undefined);
        }
        last = outcome;
        if (outcome.state === 'error') settle.reject(Object.assign(new Error(outcome.message), { code: outcome.code }));
        ended.next(outcome);
        done(outcome);
      };
      actor.subscribe({
        complete: () => finish(outcomeOf(actor)),
        error: (err) => {
          const progress = actor.getSnapshot().context.progress;
          finish({ state: 'error', code: 'BT_ERR_INTERNAL', message: (err as Error)?.stack ?? String(err), progress });
        },
      });
      run = current;
      lastActor = actor;
      actors.next(actor); // before start: subscribers see the first snapshot and every event
      actor.start();
    };

    /**
     * The one stop routine (pause, remove and Engine.close): no more incoming connections for the
     * torrent, `torrent.stop` (trackers told `stopped`, peers and files closed within the statechart's
     * `stopTimeoutMs`), and at a bound beyond that the actor is stopped outright.
     */
    const stop = (): Promise<TorrentOutcome | undefined> => {
      const current = run;
      if (!current) return Promise.resolve(last);
      current.stopping ??= (async () => {
        current.unroute();
        const clock = this.runtime.clock;
        const timer = clock.setTimeout(() => current.actor.stop(), stopBoundMs);
        current.actor.send({ type: 'torrent.stop' });
        try {
          return await current.ended;
        } finally {
          clock.clearTimeout(timer);
        }
      })();
      return current.stopping;
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
    const send = (
      e:
        | { type: 'torrent.setFilePriority'; index: number; priority: FilePriority }
        | { type: 'torrent.setSequential'; sequential: boolean },
    ) => {
      const a = actors.value;
      if (a && a.getSnapshot().status === 'active') a.send(e);
    };
    const setPriority = (index: number, priority: FilePriority) => {
      if (!FILE_PRIORITIES.includes(priority))
        throw new EngineError('BT_ERR_FILE_PRIORITY', `unknown file priority '${String(priority)}'`);
      while (priorities.length < index) priorities.push('normal');
      priorities[index] = priority;
      saveFileSelection();
      send({ type: 'torrent.setFilePriority', index, priority });
    };
    /** Pieces each open stream waits for, soonest first: their union goes to the picker as deadlines. */
    const streamDeadlines = new Map<object, number[]>();
    const sendDeadlines = () => {
      const a = actors.value;
      if (a && a.getSnapshot().status === 'active')
        a.send({ type: 'torrent.setDeadlines', pieces: [...streamDeadlines.values()].flat() });
    };
    const pieceVerified = (p: number) => lastActor?.getSnapshot().context.svc.picker?.hasPiece(p) === true;
    const readStream = (
      m: Metainfo,
      f: Metainfo['files'][number],
      index: number,
      o: { start?: number; end?: number },
    ) => {
      const start = o.start ?? 0;
      const end = Math.min(o.end ?? f.length - 1, f.length - 1);
      if (!Number.isSafeInteger(start) || start < 0 || !Number.isSafeInteger(end))
        throw new RangeError(`createReadStream: invalid range ${String(o.start)}..${String(o.end)}`);
      if ((priorities[index] ?? 'normal') === 'skip') setPriority(index, 'normal');
      const path = m.multiFile ? join(dir, m.name, ...f.path) : join(dir, m.name);
      const key = {};
      let pos = start;
      let fh: FileHandle | undefined;
      let busy = false;
      let stopWaiting: (() => void) | undefined;
      /** Resolves once piece `p` is verified (or the stream is destroyed). */
      const waitFor = (p: number) =>
        new Promise<void>((res) => {
          const sub = this.events.subscribe((e) => {
            if (e.infoHash !== infoHashHex) return;
            if (e.event.type === 'torrent.ready') sendDeadlines(); // a new run: its picker hears them
            if (pieceVerified(p)) done();
          });
          const timer = this.runtime.clock.setInterval(() => pieceVerified(p) && done(), 1000);
          const done = () => {
            sub.unsubscribe();
            this.runtime.clock.clearInterval(timer);
            stopWaiting = undefined;
            res();
          };
          stopWaiting = done;
          if (pieceVerified(p)) done();
        });
      /** Reads `n` bytes at `at` of the file; the bytes of a piece verified a moment ago may still be moving from the part file. */
      const readAt = async (n: number, at: number): Promise<Buffer> => {
        for (let attempt = 0; ; attempt++) {
          try {
            fh ??= await open(path, 'r');
            const buf = Buffer.allocUnsafe(n);
            const { bytesRead } = await fh.read(buf, 0, n, at);
            if (bytesRead === n) return buf;
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          }
          if (attempt >= 50) throw new EngineError('BT_ERR_STREAM_READ', `'${path}' lacks verified bytes at ${at}`);
          await sleep(this.runtime.clock, 100);
        }
      };
      const lastPiece = Math.floor((f.offset + Math.max(end, start)) / m.pieceLength);
      const pump = async (stream: Readable) => {
        if (busy) return;
        busy = true;
        try {
          while (pos <= end && !stream.destroyed) {
            const p = Math.floor((f.offset + pos) / m.pieceLength);
            if (!pieceVerified(p)) {
              const ahead: number[] = [];
              for (let i = p; i <= lastPiece && ahead.length < 4; i++) if (!pieceVerified(i)) ahead.push(i);
              streamDeadlines.set(key, ahead);
              sendDeadlines();
              await waitFor(p);
              continue;
            }
            const n = Math.min((p + 1) * m.pieceLength - f.offset - pos, end - pos + 1, 256 * 1024);
            const buf = await readAt(n, pos);
            pos += n;
            if (!stream.push(buf)) return;
          }
          if (pos > end) {
            if (streamDeadlines.delete(key)) sendDeadlines();
            stream.push(null);
          }
        } catch (err) {
          stream.destroy(err as Error);
        } finally {
          busy = false;
        }
      };
      const stream: Readable = new Readable({
        read: () => void pump(stream),
        destroy: (err, cb) => {
          stopWaiting?.();
          if (streamDeadlines.delete(key)) sendDeadlines();
          const h = fh;
          fh = undefined;
          void (h ? h.close().catch(() => undefined) : Promise.resolve()).then(() => cb(err));
        },
      });
      return stream;
    };
    let filesOf: { meta: Metainfo; files: TorrentFileHandle[] } | undefined;
    const files = (): TorrentFileHandle[] => {
      if (!meta) return [];
      if (filesOf?.meta === meta) return filesOf.files;
      const m = meta;
      const g: PieceGeometry = { length: m.length, pieceLength: m.pieceLength, pieceCount: m.pieceCount };
      const list = m.files
        .filter((f) => !f.padding)
        .map((f, index): TorrentFileHandle => {
          const downloaded = () => {
            const picker = lastActor?.getSnapshot().context.svc.picker;
            if (!picker || f.length === 0) return 0;
            let n = 0;
            const end = f.offset + f.length;
            for (let i = Math.floor(f.offset / m.pieceLength); i * m.pieceLength < end; i++) {
              if (!picker.hasPiece(i)) continue;
              const start = i * m.pieceLength;
              n += Math.min(end, start + pieceBytes(g, i)) - Math.max(f.offset, start);
            }
            return n;
          };
          return {
            index,
            path: f.pathString,
            length: f.length,
            offset: f.offset,
            get downloaded() {
              return downloaded();
            },
            get progress() {
              return f.length === 0 ? 1 : downloaded() / f.length;
            },
            get priority() {
              return priorities[index] ?? 'normal';
            },
            select: () => {
              if ((priorities[index] ?? 'normal') === 'skip') setPriority(index, 'normal');
            },
            deselect: () => setPriority(index, 'skip'),
            setPriority: (p) => setPriority(index, p),
            createReadStream: (o = {}) => readStream(m, f, index, o),
          };
        });
      filesOf = { meta: m, files: list };
      return list;
    };
    const handle: TorrentHandle = {
      infoHash: infoHashHex,
      get files() {
        return files();
      },
      get sequential() {
        return sequential;
      },
      setSequential: (on) => {
        sequential = on;
        send({ type: 'torrent.setSequential', sequential: on });
      },
      get limits() {
        return { down: shaping.down.rate, up: shaping.up.rate };
      },
      setLimits: (limits) => {
        checkLimits(limits);
        applyLimits(shaping, limits);
      },
      get name() {
        return meta?.name ?? magnet?.name ?? infoHashHex;
      },
      get meta() {
        return meta;
      },
      magnet,
      get mayUseDht() {
        return meta?.private !== true;
      },
      dir,
      get actor() {
        return actors.value;
      },
      get progress() {
        return run ? run.actor.getSnapshot().context.progress : (last?.progress ?? initialProgress(meta));
      },
      get outcome() {
        return run ? undefined : last;
      },
      progress$,
      events$,
      ended$: ended.pipe(takeUntil(removed)),
      peerStates$: progress$.pipe(map(() => (actors.value ? peerStates(actors.value) : {}))),
      get peers() {
        return actors.value ? connectedPeers(actors.value) : [];
      },
      completed,
      pause: stop,
      reannounce: () => {
        const a = actors.value;
        if (a && a.getSnapshot().status === 'active') a.send({ type: 'torrent.reannounce' });
      },
      resume: () => {
        if (!run && !this.closed && this.handles.get(infoHashHex) === handle) start();
      },
      addPeers: (list) => {
        const a = actors.value;
        if (a && a.getSnapshot().status === 'active' && list.length > 0)
          a.send({ type: 'torrent.addPeers', peers: [...list] });
      },
      remove: async () => {
        this.dht?.remove(infoHash);
        if (v2Hash) this.dht?.remove(v2Hash);
        const outcome = await stop();
        if (this.handles.get(infoHashHex) === handle) {
          this.handles.delete(infoHashHex);
          if (v2Hash) this.v2Keys.delete(toHex(v2Hash));
          lock.release();
        }
        removed.next();
        removed.complete();
        actors.complete();
        ended.complete();
        return outcome;
      },
    };
    this.handles.set(infoHashHex, handle);
    if (v2Hash) this.v2Keys.set(toHex(v2Hash), infoHashHex);
    this.deleters.set(handle, async () => {
      await saving;
      if (!onDisk) return;
      if (meta) await deleteTorrentFiles(meta, dir);
      const own = [
        resumePath(dir, { infoHashHex }),
        partsPath(dir, infoHashHex),
        torrentFilePath(dir, infoHashHex),
        selPath,
      ];
      for (const p of own) await rm(p, { force: true });
      await rmdir(join(dir, RESERVED_NAME)).catch(() => undefined); // only when nothing else is in it
    });
    if (!options.paused) start();
    // BEP 27: a private torrent never touches the DHT. A magnet link's torrent may, until its fetched
    // info dictionary says it is private (then it leaves the DHT: see the `torrent.metadata` report).
    if (this.dht && meta?.private !== true) await this.dht.add(infoHash, this.listener.port);
    if (this.dht && v2Hash && meta?.private !== true) await this.dht.add(v2Hash, this.listener.port);
    return handle;
  }

  /**
   * The torrent's lock in its folder (`<dir>/.bt-actor/<info hash>.lock`): another live bt-actor
   * process using the folder for this torrent is a `LockError` (`BT_ERR_LOCKED`); a folder where the
   * lock cannot be written is a `StorageError` (`BT_ERR_STORAGE_IO`), as the download would be.
   */
  private async lock(dir: string, meta: Pick<Metainfo, 'infoHashHex'>): Promise<DirLock> {
    try {
      return await acquireLock(lockPath(dir, meta.infoHashHex), dir);
    } catch (err) {
      if (err instanceof LockError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new StorageError('BT_ERR_STORAGE_IO', `cannot write in ${dir}: ${e.message}`, e.path ?? dir, err);
    }
  }

  /**
   * Stops every torrent through its stop routine (bounded in time), then closes the listening port.
   * Calling it again (even while closing) returns the same promise; the handles keep their final
   * `progress` and `outcome`.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.torrents.map((t) => t.remove()));
      await this.dht?.close();
      await this.listener.close();
      this.events.complete();
    })();
    return this.closing;
  }
}
