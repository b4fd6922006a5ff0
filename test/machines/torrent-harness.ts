/**
 * Drives the real torrent statechart — its real peer actors, picker, buffers, choker and announcer —
 * with no network and no disk, on a simulated clock: every peer's `wire` actor is a fake the test
 * scripts (push `wire.*` events, read the commands it got), the `storage` actor is a fake that records
 * writes and verifies them against the torrent's data (at once, or when the test says), and trackers
 * (none unless asked for) answer through a scripted transport. Everything but the trackers runs
 * synchronously: a `push` returns once every actor has handled what followed from it.
 */
import type { FilePriority } from '../../src/machines/torrent/file-priority.js';
import { randomBytes } from 'node:crypto';
import { afterEach, expect } from 'vitest';
import {
  createActor,
  fromCallback,
  SimulatedClock,
  type AnyActorRef,
  type AnyEventObject,
  type InspectionEvent,
} from 'xstate';
import { blockHashes } from '../../src/io/storage-actor.js';
import { peerMachine } from '../../src/machines/peer/peer.machine.js';
import { metadataPeerMachine } from '../../src/machines/peer/metadata-peer.machine.js';
import { sha1 } from '../../src/protocol/sha1.js';
import type { PeerSettings } from '../../src/machines/peer/types.js';
import {
  torrentMachine,
  type TorrentInfo,
  type TorrentRefused,
  type TorrentReport,
  type TorrentSettings,
} from '../../src/machines/torrent/torrent.machine.js';
import { announcerMachine } from '../../src/machines/tracker/announcer.machine.js';
import { trackerMachine } from '../../src/machines/tracker/tracker.machine.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { hashTreesOf } from '../../src/protocol/hash-tree.js';
import { blockHashes as merkleBlockHashes, pieceLayer, rootFromPieceLayer } from '../../src/protocol/merkle.js';
import { pieceBytes } from '../../src/protocol/layout.js';
import type { PeerAddress } from '../../src/protocol/peer-address.js';
import type { PeerWireCommand, PeerWireInput } from '../../src/protocol/peer-wire-types.js';
import type { StorageCommand, StorageEvent } from '../../src/protocol/storage-types.js';
import type { BlockRequest } from '../../src/protocol/layout.js';
import type { WireMessage } from '../../src/protocol/wire.js';
import { FAST, INFO_HASH, NO_EXT, OUR_ID, testSettings, type WireIn } from './peer-harness.js';
import { scriptedTransport } from './tracker-harness.js';
import { webSeedMachine } from '../../src/machines/webseed/webseed.machine.js';
import { scriptedFetch } from './webseed-harness.js';

/** A `storage.write` the harness's storage received (the bytes copied: the buffer is reused). */
interface Write {
  index: number;
  data: Uint8Array;
  /** The torrent asked for block hashes (the piece failed before: smart ban). */
  blockHashes: boolean;
}
export const T_PIECE = 32 * 1024;
export const T_BLOCK = 16 * 1024;

export interface TorrentHarnessOptions {
  pieces?: number;
  pieceLength?: number;
  /** Bytes of the last piece (default a full piece). */
  lastPiece?: number;
  /** Pieces already verified when storage is ready. */
  have?: number[];
  /** Addresses (`host:port`) to dial from the start. */
  peers?: string[];
  settings?: Partial<TorrentSettings>;
  peerSettings?: Partial<PeerSettings>;
  seed?: number;
  /** `auto`: writes are verified at once against the data; `manual`: the test answers them. */
  storage?: 'auto' | 'manual';
  /** Send `storage.ready` at start (default true). */
  ready?: boolean;
  /** Tracker URLs (one tier), announced to through a scripted transport (`h.trackers.calls`). */
  trackers?: string[];
  /** Answer `storage.close` (default true; false: the storage never confirms, stopping times out). */
  closes?: boolean;
  /** Events the actor system processes, by receiving actor id (`@xstate.event` inspection). */
  onEvent?: (actorId: string, event: AnyEventObject) => void;
  /** Called with each command a peer's wire receives (when it receives it). */
  onCommand?: (wire: FakeWire, cmd: PeerWireCommand) => void;
  /** BEP 27: the torrent is private. */
  private?: boolean;
  /** The torrent's info dictionary (served over BEP 9 `ut_metadata`). */
  infoBytes?: Uint8Array;
  /** Our listening port (`p` in our extension handshake). */
  listenPort?: number;
  /** BEP 5: our DHT node's UDP port (told to peers in `port` messages). */
  dhtPort?: number;
  /**
   * Added from a magnet link whose info dictionary is these bytes: the info hash is their SHA-1, the
   * torrent starts in `metadata` (and storage is not ready until the test says).
   */
  magnet?: Uint8Array;
  /** File lengths of the torrent (they must add up to its length): file priorities map to pieces by them. */
  files?: number[];
  /** Priority of each file (input `filePriorities`). */
  filePriorities?: FilePriority[];
  /** Input `otherFiles`: the priority of the files past `filePriorities`' end (a magnet's). */
  otherFiles?: FilePriority;
  /** Input `sequential`. */
  sequential?: boolean;
  /** BEP 19 web seeds (the torrent is laid out as one file, so a range's `start` is the torrent offset). */
  webSeeds?: string[];
  /** BEP 52: the torrent is a hybrid whose truncated v2 hash is this. */
  hybridV2Hash?: Uint8Array;
  /**
   * BEP 52: with `magnet`, a hybrid link's v2 hash (32 bytes): the torrent is known by its first 20
   * bytes too, and the fetched info dictionary's SHA-256 must be it.
   */
  magnetV2?: Uint8Array;
  /**
   * BEP 52: the torrent is one v2 file whose piece layer is missing (input `missingLayers`): asked of
   * peers. `h.hashTrees` is its full tree (what an honest peer answers from).
   */
  missingLayer?: boolean;
  /**
   * BEP 52 with `missingLayer`: pieces whose bytes are on disk but unverified at start (the layer was
   * unknown); the storage finds them when the layer comes (`storage.layerChecked`).
   */
  onDisk?: number[];
  /** `auto`: `storage.layer` is answered at once with `storage.layerChecked`; `manual`: when the test says. */
  layerCheck?: 'auto' | 'manual';
  /**
   * BEP 52: the torrent is one v2 file with its piece layer known (`info.files` with its `pieces root`,
   * `info.hashTrees` its tree); the storage reports SHA-256 leaves as `blockHashes`, as for a v2 torrent.
   */
  v2?: boolean;
}

/** One fake socket bridge, as the torrent's peer actor drives it. */
export interface FakeWire {
  key: string;
  input: PeerWireInput;
  commands: PeerWireCommand[];
  sendBack: (e: AnyEventObject) => void;
  stopped: boolean;
  /** Blocks the test delivered on this connection. */
  delivered: BlockRequest[];
}

const keyOf = (input: PeerWireInput) =>
  input.connect
    ? `${input.connect.host}:${input.connect.port}`
    : String((input.transport as { key?: string } | undefined)?.key);

export function address(key: string): PeerAddress {
  const i = key.lastIndexOf(':');
  return { host: key.slice(0, i), port: Number(key.slice(i + 1)), family: 4 };
}

/**
 * {@link startTorrent} for one test file: every harness it starts is checked after each test — no error
 * reported, the picker's invariants hold (once it has a picker) — and stopped.
 *
 * @example
 * const start = trackedStart(); // at the top of the file
 * const h = start({ peers: [A] });
 */
export function trackedStart(): typeof startTorrent {
  let current: TorrentHarness[] = [];
  afterEach(() => {
    for (const h of current) {
      expect(h.errors).toEqual([]);
      if (h.actor.getSnapshot().context.svc.picker) h.picker().checkInvariants();
      h.actor.stop();
    }
    current = [];
  });
  return (...args) => {
    const h = startTorrent(...args);
    current.push(h);
    return h;
  };
}

export function startTorrent(o: TorrentHarnessOptions = {}) {
  const pieceLength = o.pieceLength ?? T_PIECE;
  const pieceCount = o.pieces ?? 4;
  const length = pieceLength * (pieceCount - 1) + (o.lastPiece ?? pieceLength);
  const data = randomBytes(length);
  const infoHash = o.magnet ? sha1(o.magnet) : INFO_HASH;
  const info: TorrentInfo = {
    infoHash,
    infoHashHex: Buffer.from(infoHash).toString('hex'),
    name: 'harness',
    length,
    pieceLength,
    pieceCount,
    announce: o.trackers ? [o.trackers] : [],
    ...(o.private !== undefined && { private: o.private }),
    ...(o.hybridV2Hash !== undefined && { hybridV2Hash: o.hybridV2Hash }),
    ...(o.magnetV2 !== undefined && { hybridV2Hash: o.magnetV2.slice(0, 20), infoHashV2: o.magnetV2 }),
    ...(o.infoBytes !== undefined && { infoBytes: o.infoBytes }),
    ...(o.files !== undefined && { files: o.files.map((length) => ({ length })) }),
    ...(o.webSeeds !== undefined && {
      webSeeds: o.webSeeds,
      layout: { name: 'harness', multiFile: false, files: [{ path: ['harness'], length, padding: false }] },
    }),
  };
  // BEP 52: the file's merkle tree over the harness's data (one file: piece space = file).
  const merkle = o.missingLayer === true || o.v2 === true;
  const layer = merkle ? pieceLayer(merkleBlockHashes(data), pieceLength) : [];
  const root = merkle ? rootFromPieceLayer(layer, pieceLength) : new Uint8Array(32);
  const hashTrees = hashTreesOf({
    pieceLength,
    files: merkle ? [{ length, piecesRoot: root, pieceLayer: Uint8Array.from(Buffer.concat(layer)), offset: 0 }] : [],
  });
  if (o.missingLayer) info.missingLayers = [{ file: 0, root, firstPiece: 0, pieces: pieceCount }];
  if (o.v2) {
    info.files = [{ length, piecesRoot: root }];
    info.hashTrees = hashTrees;
  }
  /** What the storage reports as a copy's block hashes: SHA-1 per block, or (v2) the SHA-256 leaves. */
  const blockHashesOf = (piece: Uint8Array) => (o.v2 ? merkleBlockHashes(piece) : blockHashes(piece));
  const clock = new SimulatedClock();

  const wires = new Map<string, FakeWire>();
  /** Every wire ever started, in order (a key may be dialled again). */
  const allWires: FakeWire[] = [];
  const fakeWire = fromCallback<PeerWireCommand, PeerWireInput>(({ input, sendBack, receive }) => {
    const w: FakeWire = { key: keyOf(input), input, commands: [], sendBack, stopped: false, delivered: [] };
    wires.set(w.key, w);
    allWires.push(w);
    receive((cmd) => {
      w.commands.push(cmd);
      o.onCommand?.(w, cmd);
    });
    return () => void (w.stopped = true);
  });

  const storage = {
    writes: [] as Write[],
    /** Writes not yet answered (manual mode). */
    pending: [] as Write[],
    closes: 0,
    /** `storage.open` commands (a magnet's metadata arrived). */
    opened: [] as Extract<StorageCommand, { type: 'storage.open' }>[],
    /** `storage.layer` commands (BEP 52 piece layers fetched from peers). */
    layers: [] as Extract<StorageCommand, { type: 'storage.layer' }>[],
    /** `storage.layer` commands not answered yet (`layerCheck: 'manual'`). */
    pendingChecks: [] as Extract<StorageCommand, { type: 'storage.layer' }>[],
    sendBack: undefined as ((e: StorageEvent) => void) | undefined,
    /** Pieces the harness's storage holds verified. */
    have: new Set<number>(o.have ?? []),
    alive: false,
  };
  const verdict = (w: Write): StorageEvent => {
    const start = w.index * pieceLength;
    const ok = Buffer.from(w.data).equals(data.subarray(start, start + pieceBytes(info, w.index)));
    if (ok) storage.have.add(w.index);
    if (!ok) return { type: 'storage.hashFailed', index: w.index, blockHashes: blockHashesOf(w.data) };
    return { type: 'storage.verified', index: w.index, ...(w.blockHashes && { blockHashes: blockHashesOf(w.data) }) };
  };
  /** The storage's answer to a layer: the pieces of `onDisk` it did not hold verified, found good now. */
  const layerChecked = (file: number): StorageEvent => {
    const found = (o.onDisk ?? []).filter((i) => !storage.have.has(i));
    for (const i of found) storage.have.add(i);
    return { type: 'storage.layerChecked', file, have: found };
  };
  const fakeStorage = fromCallback<StorageCommand>(({ sendBack, receive }) => {
    storage.sendBack = sendBack;
    storage.alive = true;
    // A magnet link: no metainfo to check until the info dictionary is fetched (as storageActor says).
    if (o.magnet) sendBack({ type: 'storage.needMetadata' });
    receive((cmd) => {
      if (cmd.type === 'storage.write') {
        // The piece buffer is reused once verified: keep a copy.
        const w: Write = { index: cmd.index, data: Uint8Array.from(cmd.data), blockHashes: cmd.blockHashes === true };
        storage.writes.push(w);
        if ((o.storage ?? 'auto') === 'auto') sendBack(verdict(w));
        else storage.pending.push(w);
      } else if (cmd.type === 'storage.open') {
        storage.opened.push(cmd);
      } else if (cmd.type === 'storage.layer') {
        storage.layers.push(cmd);
        if ((o.layerCheck ?? 'auto') === 'auto') sendBack(layerChecked(cmd.file));
        else storage.pendingChecks.push(cmd);
      } else if (cmd.type === 'storage.close') {
        storage.closes++;
        if (o.closes ?? true) sendBack({ type: 'storage.closed' });
      }
    });
    return () => void (storage.alive = false);
  });

  const trackers = scriptedTransport();
  const web = scriptedFetch();
  const logic = torrentMachine.provide({
    actors: {
      storage: fakeStorage,
      peer: peerMachine.provide({ actors: { wire: fakeWire } }),
      metaPeer: metadataPeerMachine.provide({ actors: { wire: fakeWire } }),
      webseed: webSeedMachine.provide({ actors: { fetch: web.logic } }),
      announcer: announcerMachine.provide({
        actors: { tracker: trackerMachine.provide({ actors: { announce: trackers.logic } }) },
      }),
    },
  });
  const events: (TorrentReport | TorrentRefused)[] = [];
  const answered = new Set<unknown>();
  const onEvent = o.onEvent;
  const actor = createActor(logic, {
    clock,
    ...(onEvent && {
      inspect: (e: InspectionEvent) => {
        if (e.type === '@xstate.event') onEvent((e.actorRef as AnyActorRef).id, e.event);
      },
    }),
    input: {
      // A magnet link says nothing of the torrent's size: its geometry comes with the info dictionary.
      info: o.magnet ? { ...info, length: 0, pieceLength: 0, pieceCount: 0 } : info,
      peerId: OUR_ID,
      peers: (o.peers ?? []).map(address),
      settings: { tickMs: 1000, ...o.settings, peer: { ...testSettings, ...o.settings?.peer, ...o.peerSettings } },
      seed: o.seed ?? 1,
      ...(o.listenPort !== undefined && { listenPort: o.listenPort }),
      ...(o.dhtPort !== undefined && { dhtPort: o.dhtPort }),
      ...(o.filePriorities !== undefined && { filePriorities: o.filePriorities }),
      ...(o.otherFiles !== undefined && { otherFiles: o.otherFiles }),
      ...(o.sequential !== undefined && { sequential: o.sequential }),
    },
  });
  actor.on('*', (e) => void events.push(e as TorrentReport | TorrentRefused));
  const errors: unknown[] = [];
  actor.subscribe({ error: (err) => void errors.push(err) });
  actor.start();

  const h = {
    clock,
    actor,
    info,
    data,
    hashTrees,
    root,
    events,
    errors,
    storage,
    trackers,
    wires,
    allWires,
    context: () => actor.getSnapshot().context,
    value: () => actor.getSnapshot().value,
    picker: () => actor.getSnapshot().context.svc.picker!,
    buffers: () => actor.getSnapshot().context.svc.buffers!,
    book: () => actor.getSnapshot().context.svc.book,
    /** `storage.ready` with the pieces of `have` (already sent at start unless `ready: false`). */
    ready(have: number[] = o.have ?? []) {
      const b = new Bitfield(pieceCount);
      for (const i of have) b.set(i);
      storage.sendBack!({ type: 'storage.ready', have: b.toBytes() });
    },
    /** Answers the oldest pending write (manual storage): verified if its bytes are right. */
    answerWrite(fail = false) {
      const w = storage.pending.shift();
      if (!w) return undefined;
      storage.sendBack!(
        fail ? { type: 'storage.hashFailed', index: w.index, blockHashes: blockHashesOf(w.data) } : verdict(w),
      );
      return w.index;
    },
    /** Answers the oldest `storage.layer` not answered yet (`layerCheck: 'manual'`). */
    answerLayerCheck() {
      const cmd = storage.pendingChecks.shift();
      if (cmd) storage.sendBack!(layerChecked(cmd.file));
    },
    /** Any event from the storage actor (e.g. `storage.checkProgress`). */
    storageEvent(e: StorageEvent) {
      storage.sendBack!(e);
    },
    /** Web seed fetches under way (not answered, not aborted), by URL. */
    webCalls(url?: string) {
      return web.calls.filter(
        (c) => !c.aborted && !answered.has(c) && (url === undefined || c.input.ranges[0]?.url === url),
      );
    },
    /** Answers the web seed fetches under way: the right bytes, wrong ones, or an error. */
    serveWeb(how: 'ok' | 'corrupt' | Error = 'ok', url?: string) {
      const calls = h.webCalls(url);
      for (const c of calls) {
        answered.add(c);
        if (how instanceof Error) {
          c.reject(how);
          continue;
        }
        const r = c.input.ranges[0]!;
        const bytes = Uint8Array.from(data.subarray(r.start, r.start + c.input.length));
        if (how === 'corrupt') bytes[0] = bytes[0]! ^ 0xff;
        c.resolve(bytes);
      }
      return calls.map((c) => c.input.ranges[0]!.start / pieceLength);
    },
    storageError(code = 'BT_ERR_STORAGE_IO', message = 'disk on fire') {
      storage.sendBack!({ type: 'storage.error', code, message });
    },
    addPeers(...keys: string[]) {
      actor.send({ type: 'torrent.addPeers', peers: keys.map(address) });
    },
    incoming(key: string) {
      actor.send({ type: 'torrent.incoming', address: address(key), transport: { key } });
    },
    advance(ms: number, step = 1000) {
      for (let t = 0; t < ms; t += step) clock.increment(Math.min(step, ms - t));
    },
    stop() {
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'torrent.stop' });
    },
    /** The scripted peer at `key` (its wire must have been started by a dial or an incoming connection). */
    peer(key: string) {
      const w = () => {
        const x = wires.get(key);
        if (!x) throw new Error(`no wire for ${key}`);
        return x;
      };
      const p = {
        key,
        wire: w,
        push(e: WireIn) {
          w().sendBack({ ...e, at: clock.now() });
        },
        /** The peer actor's snapshot, while it is a child of the torrent. */
        actor() {
          return actor.getSnapshot().context.peers[key]?.ref;
        },
        /** The metadata peer actor, while the torrent fetches its info dictionary. */
        metaActor() {
          return actor.getSnapshot().context.metadata?.peers[key]?.ref;
        },
        connected() {
          const v = p.actor()?.getSnapshot().value as { connected?: Record<string, string> } | undefined;
          return v?.connected;
        },
        /** TCP up, its handshake (peer id filled with `id`; naming `hash`, the torrent's v1 hash by default). */
        connect(reserved: Uint8Array = NO_EXT, id = 0x70, hash: Uint8Array = infoHash) {
          p.push({ type: 'wire.connected' });
          p.push({
            type: 'wire.handshake',
            handshake: { reserved, infoHash: hash, peerId: new Uint8Array(20).fill(id) },
          });
        },
        bitfield(pieces: number[]) {
          const b = new Bitfield(pieceCount);
          for (const i of pieces) b.set(i);
          p.push({ type: 'wire.bitfield', bytes: b.toBytes() });
        },
        /** Connected, with every piece, unchoking us: a seeder. */
        seed(reserved: Uint8Array = FAST, id?: number) {
          p.connect(reserved, id);
          p.push({ type: 'wire.have-all' });
          p.push({ type: 'wire.unchoke' });
        },
        messages<T extends WireMessage['type']>(type?: T): Extract<WireMessage, { type: T }>[] {
          const all = w().commands.flatMap((c) =>
            c.type === 'wire.send' ? [c.message] : c.type === 'wire.sendMany' ? c.messages : [],
          );
          return (type ? all.filter((m) => m.type === type) : all) as Extract<WireMessage, { type: T }>[];
        },
        /** Requests sent to this peer and neither answered (by `deliver`) nor cancelled, oldest first. */
        open(): BlockRequest[] {
          const open: BlockRequest[] = [];
          const same = (a: BlockRequest, b: BlockRequest) =>
            a.index === b.index && a.begin === b.begin && a.length === b.length;
          for (const m of p.messages()) {
            if (m.type === 'request') open.push({ index: m.index, begin: m.begin, length: m.length });
            else if (m.type === 'cancel') {
              const i = open.findIndex((r) => same(r, m));
              if (i >= 0) open.splice(i, 1);
            }
          }
          for (const d of w().delivered) {
            const i = open.findIndex((r) => same(r, d));
            if (i >= 0) open.splice(i, 1);
          }
          return open;
        },
        /** Sends the block of `r` (the right bytes, or wrong ones). */
        deliver(r: BlockRequest, corrupt = false) {
          const start = r.index * pieceLength + r.begin;
          const block = Buffer.from(data.subarray(start, start + r.length));
          if (corrupt) block[0] = block[0]! ^ 0xff;
          w().delivered.push(r);
          p.push({ type: 'wire.piece', index: r.index, begin: r.begin, block });
        },
        /** Delivers every open request, as one socket read (`wire.pieces`). */
        serve(corrupt = false) {
          const open = p.open();
          if (open.length === 0) return 0;
          const blocks = open.map((r) => {
            const start = r.index * pieceLength + r.begin;
            const block = Buffer.from(data.subarray(start, start + r.length));
            if (corrupt) block[0] = block[0]! ^ 0xff;
            return { index: r.index, begin: r.begin, block };
          });
          w().delivered.push(...open);
          if (blocks.length === 1) p.push({ type: 'wire.piece', ...blocks[0]! });
          else p.push({ type: 'wire.pieces', blocks });
          return open.length;
        },
      };
      return p;
    },
  };
  if (o.ready ?? !o.magnet) h.ready();
  return h;
}

export type TorrentHarness = ReturnType<typeof startTorrent>;
export { FAST, NO_EXT };
