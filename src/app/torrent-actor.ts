/**
 * Wires a torrent statechart to the real effects: the storage actor on the download folder, the TCP
 * wire bridge for its peers, and the HTTP/UDP tracker transports for its announcer.
 */
import type { FilePriority } from '../machines/torrent/file-priority.js';
import { createActor, type Actor, type InspectionEvent, type Observer } from 'xstate';
import {
  isAcceptedTransport,
  type AcceptedTransport,
  type IncomingConnection,
  type PeerListener,
} from '../io/listener.js';
import { toHex } from '../protocol/bytes.js';
import { createPeerWireActor } from '../io/peer-wire.js';
import type { WireShaping } from '../io/rate-limit.js';
import { blockReaderActor, createStorageHandle, storageActor, type StorageActorOptions } from '../io/storage-actor.js';
import { TrackerClient } from '../io/tracker-client.js';
import { peerMachine } from '../machines/peer/peer.machine.js';
import { metadataPeerMachine } from '../machines/peer/metadata-peer.machine.js';
import {
  admitsIncoming,
  torrentMachine,
  type TorrentInfo,
  type TorrentSettings,
} from '../machines/torrent/torrent.machine.js';
import { hashTreesOf } from '../protocol/hash-tree.js';
import { missingLayersOf } from '../machines/torrent/hash-fetch.js';
import { magnetHybridV2Hash, type MagnetLink } from '../protocol/magnet.js';
import type { PeerEncryption } from '../protocol/peer-wire-types.js';
import type { EncryptionPolicy } from '../protocol/mse.js';
import { hybridV2Hash, type Metainfo } from '../protocol/metainfo.js';
import { peerKey, type PeerAddress } from '../protocol/peer-address.js';
import { generatePeerId } from '../protocol/peer-id.js';
import { seedFrom } from '../machines/random.js';
import { randomBytesOf, resolveRuntime, type EngineRuntime } from './runtime.js';
import { announcerLogic, shuffleTiers } from './trackers.js';
import { lazyLogic } from './lazy-logic.js';
import { usableWebSeeds, webSeedLayoutOf } from '../protocol/webseed.js';
import { WebSeedAgents, webSeedConnectionsActor, webSeedFetchActor } from '../io/webseed-http.js';
import { webSeedMachine } from '../machines/webseed/webseed.machine.js';

export interface TorrentActorOptions {
  /** The torrent; absent for a magnet link (then `magnet` is given and the info dictionary is fetched). */
  meta?: Metainfo;
  /** A magnet link whose info dictionary is not known yet: the torrent starts in its `metadata` state. */
  magnet?: MagnetLink;
  /** Download folder: the data lands at `<dir>/<name>` (single-file) or under `<dir>/<name>/`. */
  dir: string;
  /** Peers to dial besides the trackers' (`--peer`). */
  peers?: PeerAddress[];
  /** The port announced to trackers. */
  port?: number;
  /** BEP 5: the engine's DHT node's UDP port (peers are told it in `port` messages); absent: no DHT. */
  dhtPort?: number;
  peerId?: Uint8Array;
  settings?: Partial<TorrentSettings>;
  storage?: StorageActorOptions;
  /** Tracker transport knobs (tests shorten the UDP retransmission). */
  trackerClient?: TrackerClient;
  /** Our own listening addresses as peer keys (never dialled). */
  selfKeys?: string[];
  /** Priority of each file (padding left out), as `bt-actor info` numbers them; missing: `normal`. */
  filePriorities?: readonly FilePriority[];
  /** Priority of the files past the end of `filePriorities` (a magnet's, once its metadata came); default `normal`. */
  otherFiles?: FilePriority;
  /** New pieces in index order (`--sequential`). */
  sequential?: boolean;
  /**
   * XState inspection observer for the whole actor system (the torrent, its peers, trackers, choker):
   * see src/app/inspect. Absent (the default), no observer is attached and inspection costs nothing.
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Clock, transport, randomness, storage, trackers (the real ones where absent: src/app/runtime.ts). */
  runtime?: Partial<EngineRuntime>;
  /** The torrent's rate limiters (src/io/rate-limit.ts) its connections are shaped by; none when absent. */
  shaping?: WireShaping;
  /**
   * The encryption policy of outgoing connections (MSE/PE), read at each dial (default `prefer`):
   * see docs/wire.md.
   */
  encryption?: () => EncryptionPolicy;
}

export function torrentLogic(options: TorrentActorOptions, peerId: Uint8Array) {
  const { meta } = options;
  const infoHash = meta?.infoHash ?? options.magnet!.infoHash;
  const runtime = resolveRuntime(options.runtime);
  const client =
    runtime.tracker ??
    options.trackerClient ??
    new TrackerClient({ peerId, port: options.port ?? 6881, clock: runtime.clock });
  const storageOptions = { ...options.storage, clock: runtime.clock };
  // A storage seam (the simulator's) takes torrents with their metainfo: a magnet link uses the disk.
  const handle = createStorageHandle();
  const { storage, reader } =
    runtime.storage && meta
      ? runtime.storage.actors(meta, options.dir, storageOptions)
      : { storage: storageActor(meta, options.dir, storageOptions, handle), reader: blockReaderActor(handle) };
  const wire = createPeerWireActor(runtime.transport, runtime.clock, {
    encryption: options.encryption ?? (() => 'prefer'),
    random: randomBytesOf(runtime),
    ...(options.shaping && { shaping: options.shaping }),
  });
  // Each web seed's kept-alive HTTP connections, closed when its actor stops (its `connections` actor).
  const webSeedAgents = new WebSeedAgents();
  // The peer, metadata-peer and web-seed statecharts are built with these effects at the first peer or
  // web seed, not before the torrent's first announce (src/app/lazy-logic.ts).
  return torrentMachine.provide({
    actors: {
      storage,
      peer: lazyLogic(() => peerMachine.provide({ actors: { wire, reader } })),
      metaPeer: lazyLogic(() => metadataPeerMachine.provide({ actors: { wire } })),
      webseed: lazyLogic(() =>
        webSeedMachine.provide({
          actors: {
            fetch: webSeedFetchActor(runtime.clock, {
              ...(options.shaping && { down: options.shaping.down }),
              agents: webSeedAgents,
            }),
            connections: webSeedConnectionsActor(webSeedAgents),
          },
        }),
      ),
      announcer: announcerLogic(client, infoHash, meta ? hybridV2Hash(meta) : magnetHybridV2Hash(options.magnet!)),
    },
  });
}

/** What the statechart knows of a torrent before its info dictionary: the magnet link's hash, name and trackers. */
function magnetInfo(link: MagnetLink, random: () => number): TorrentInfo {
  return {
    infoHash: link.infoHash,
    infoHashHex: link.infoHashHex,
    name: link.name ?? link.infoHashHex,
    length: 0,
    pieceLength: 0,
    pieceCount: 0,
    // BEP 19: the link's `ws=` web seeds, used once the info dictionary is known.
    webSeeds: link.webSeeds,
    // BEP 52: a v2-only link: the info dictionary is checked by its SHA-256.
    ...(link.v2Only && { v2Only: true as const }),
    // BEP 52: a hybrid link: peers may name it by its v2 hash too, and the info dictionary's SHA-256
    // must be the link's v2 hash (its SHA-1 is checked against the v1 hash).
    ...(magnetHybridV2Hash(link) && { hybridV2Hash: magnetHybridV2Hash(link)!, infoHashV2: link.infoHashV2! }),
    // Each tracker of a link is a tier of its own (as libtorrent reads `tr`), in random order (BEP 12).
    announce: shuffleTiers(
      link.trackers.map((t) => [t]),
      random,
    ),
  };
}

export type TorrentActor = Actor<ReturnType<typeof torrentLogic>>;

/** Creates (does not start) the actor of one torrent. */
export function createTorrentActor(options: TorrentActorOptions): TorrentActor {
  const runtime = resolveRuntime(options.runtime);
  const peerId = options.peerId ?? generatePeerId(randomBytesOf(runtime));
  const { meta } = options;
  return createActor(torrentLogic(options, peerId), {
    input: {
      info: meta
        ? {
            infoHash: meta.infoHash,
            infoHashHex: meta.infoHashHex,
            ...(hybridV2Hash(meta) && { hybridV2Hash: hybridV2Hash(meta)! }),
            name: meta.name,
            length: meta.length,
            pieceLength: meta.pieceLength,
            pieceCount: meta.pieceCount,
            announce: shuffleTiers(meta.announce, runtime.random),
            private: meta.private,
            infoBytes: meta.infoBytes,
            files: meta.files.map((f) => ({ length: f.length, padding: f.padding, piecesRoot: f.piecesRoot })),
            webSeeds: usableWebSeeds(meta.urlList),
            layout: webSeedLayoutOf(meta),
            // BEP 52: peers' hash requests are answered from the piece layers we hold.
            ...(meta.kind !== 'v1' && { hashTrees: hashTreesOf(meta) }),
            // BEP 52: a v2-only torrent asks its peers for the piece layers it lacks.
            ...(meta.kind === 'v2' && { missingLayers: missingLayersOf(meta) }),
          }
        : magnetInfo(options.magnet!, runtime.random),
      peerId,
      seed: seedFrom(runtime.random),
      peers: options.peers ?? [],
      settings: options.settings ?? {},
      selfKeys: options.selfKeys ?? [],
      ...(options.port !== undefined && { listenPort: options.port }),
      ...(options.dhtPort !== undefined && { dhtPort: options.dhtPort }),
      ...(options.filePriorities !== undefined && { filePriorities: options.filePriorities }),
      ...(options.otherFiles !== undefined && { otherFiles: options.otherFiles }),
      ...(options.sequential !== undefined && { sequential: options.sequential }),
    },
    ...(options.inspect && { inspect: options.inspect }),
    clock: runtime.clock,
  });
}

/** Whether the torrent would take an incoming connection from `address` now (read from its snapshot). */
export function canAccept(actor: TorrentActor, address: PeerAddress): boolean {
  const snap = actor.getSnapshot();
  // Only the `active` and `metadata` states take `torrent.incoming`: while checking or stopping it is refused.
  if (snap.status !== 'active') return false;
  if (snap.matches('metadata')) {
    const c = snap.context;
    const peers = c.metadata?.peers ?? {};
    return !peers[peerKey(address)] && Object.keys(peers).length < c.settings.maxConnections;
  }
  if (!snap.matches('active')) return false;
  return admitsIncoming(snap.context, address);
}

/**
 * Routes the listener's connections for this torrent (by the info hash of their handshake) to the
 * actor as `torrent.incoming`; one it would not take now (see {@link canAccept}) is closed at once, and
 * so is one the torrent refuses after all (`torrent.refused`). Returns the function that unregisters
 * the route.
 */
export function attachListener(
  actor: TorrentActor,
  listener: PeerListener,
  meta: Pick<Metainfo, 'infoHashHex'> & Partial<Pick<Metainfo, 'kind' | 'infoHashV2'>>,
  /** The engine has room for one more connection (its cap over all torrents). */
  engineRoom: () => boolean = () => true,
): () => void {
  const refused = actor.on('torrent.refused', (e) => {
    if (isAcceptedTransport(e.transport)) e.transport.socket.destroy();
  });
  const route = (c: IncomingConnection) => {
    if (!engineRoom() || !canAccept(actor, c.address)) {
      c.socket.destroy();
      return;
    }
    const transport: AcceptedTransport = {
      socket: c.socket,
      initialBytes: c.initialBytes,
      ...(c.ciphers && { ciphers: c.ciphers }),
      ...(c.encryption && { encryption: c.encryption }),
    };
    actor.send({ type: 'torrent.incoming', address: c.address, transport });
  };
  // BEP 52: a hybrid torrent is reached by either hash (libtorrent dials a hybrid it knows as v2 by its
  // truncated v2 hash); the peer actor answers with the hash the peer named.
  const v2 = meta.kind !== undefined ? hybridV2Hash({ kind: meta.kind, infoHashV2: meta.infoHashV2 }) : undefined;
  const unregister = [meta.infoHashHex, ...(v2 ? [toHex(v2)] : [])].map((hex) => listener.register(hex, route));
  return () => {
    for (const u of unregister) u();
    refused.unsubscribe();
  };
}

/** A connected peer (its handshake taken), as {@link connectedPeers} lists it. */
export interface ConnectedPeer {
  /** `host:port` (IPv6 in brackets). */
  key: string;
  address: PeerAddress;
  direction: 'outgoing' | 'incoming';
  /** 40 hex digits. */
  peerId: string;
  /** `rc4` (MSE/PE, RC4 after the key exchange), `plaintext` (MSE/PE, plaintext after it), `none` (plain BitTorrent). */
  encryption: PeerEncryption;
  /** Payload bytes and bytes per second (5 s window), as the peer last reported them (about once a second). */
  downloaded: number;
  uploaded: number;
  downloadRate: number;
  uploadRate: number;
}

/** The torrent's connected peers (handshake taken), read from its snapshot. */
export function connectedPeers(actor: TorrentActor): ConnectedPeer[] {
  const out: ConnectedPeer[] = [];
  for (const [key, e] of Object.entries(actor.getSnapshot().context.peers)) {
    if (e.peerId === undefined) continue;
    out.push({
      key,
      address: e.address,
      direction: e.direction,
      peerId: e.peerId,
      encryption: e.encryption ?? 'none',
      downloaded: e.downloaded,
      uploaded: e.uploaded,
      downloadRate: e.downRate,
      uploadRate: e.upRate,
    });
  }
  return out;
}

/**
 * How many peer actors stand in each state, read from the torrent actor's children: connecting,
 * handshaking, and for connected peers: choked (by them), downloading (unchoked and requesting),
 * snubbed, and uploading (unchoked by us).
 */
export function peerStates(actor: TorrentActor): Record<string, number> {
  const counts = { connecting: 0, handshaking: 0, choked: 0, downloading: 0, snubbed: 0, idle: 0, uploading: 0 };
  const children = actor.getSnapshot().children as Record<
    string,
    { getSnapshot(): { status: string; value: unknown } } | undefined
  >;
  for (const [id, child] of Object.entries(children)) {
    if (!id.startsWith('peer:') || !child) continue;
    const snap = child.getSnapshot();
    if (snap.status !== 'active') continue;
    const v = snap.value as string | Record<string, Record<string, string>>;
    if (v === 'connecting' || v === 'handshaking') {
      counts[v]++;
      continue;
    }
    const c = typeof v === 'object' ? v.connected : undefined;
    if (!c) continue;
    if (c.requests === 'snubbed') counts.snubbed++;
    else if (c.peerChoking === 'choked') counts.choked++;
    else if (c.requests === 'active') counts.downloading++;
    else counts.idle++;
    if (c.amChoking === 'unchoked') counts.uploading++;
  }
  return counts;
}
