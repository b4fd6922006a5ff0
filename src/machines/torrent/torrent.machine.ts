/**
 * One torrent as an actor: checking → active (downloading → complete) → stopping → stopped, or (after a
 * storage failure) stopping → error.
 *
 * It owns its peer actors (spawned, at most `maxConnections`, no duplicates, reconnects with backoff),
 * its announcer (BEP 12 trackers), its choker, and the torrent's services — the piece picker, the piece
 * buffers and the peer book — which no other actor sees. Disk work goes through the invoked `storage`
 * actor (src/io/storage-actor.ts): it checks existing data first, then verifies and writes each piece.
 *
 * Transitions are pure. What a guard or a target decides on is context data (peers and what they
 * reported, counters, bans) or arrives in the event; the services change only in named actions — a live
 * actor runs them in order as it resolves the transition, `transition()` returns them unexecuted, and no
 * guard or assign reads what they change — and what they learn comes back as events (`torrent.dial`,
 * `torrent.struck`, `torrent.deliver`). Peers learn what to request from `peer.request` and tell what
 * they have and receive through their reports; nothing is shared.
 */
import {
  assign,
  enqueueActions,
  fromCallback,
  sendTo,
  setup,
  stopChild,
  type ActorRefFrom,
  type AnyActorRef,
} from 'xstate';
import { Bitfield } from '../../protocol/bitfield.js';
import { equalBytes, toHex } from '../../protocol/bytes.js';
import { pieceBytes, type PieceGeometry } from '../../protocol/layout.js';
import { peerKey, type PeerAddress } from '../../protocol/peer-address.js';
import type { PeerEncryption } from '../../protocol/peer-wire-types.js';
import type { StorageCommand, StorageEvent } from '../../protocol/storage-types.js';
import type { TransferStats } from '../../protocol/tracker-types.js';
import {
  chokerMachine,
  type ChokeCandidate,
  type ChokerReport,
  type ChokerSettings,
} from '../choker/choker.machine.js';
import { peerMachine } from '../peer/peer.machine.js';
import { addBytes, rateOf, rateWindow, type RateWindow } from '../peer/rate.js';
import {
  metadataPeerMachine,
  type MetadataPeerCommand,
  type MetadataPeerReport,
} from '../peer/metadata-peer.machine.js';
import { MetadataAssembler } from './metadata-assembler.js';
import { BtError } from '../../protocol/errors.js';
import { hybridV2Hash, parseMetainfo, type Metainfo } from '../../protocol/metainfo.js';
import { sha1 } from '../../protocol/sha1.js';
import { sha256 } from '../../protocol/merkle.js';
import { torrentFileOf } from '../../protocol/torrent-file.js';
import { MAX_METADATA_SIZE } from '../../protocol/ut-metadata.js';
import { addBan, banOf, sharesIp, type Bans } from './bans.js';
import { SmartBan } from './smart-ban.js';
import { BlockHashes, blockProofOf, type BlameFile } from './block-hashes.js';
import { hashTreesOf, type HashTrees } from '../../protocol/hash-tree.js';
import type { CloseReason, PeerCommand, PeerReport, PeerSettings, PeerTorrent, PeerView } from '../peer/types.js';
import { randomFrom, seedFrom } from '../random.js';
import { announcerMachine, type AnnouncerReport } from '../tracker/announcer.machine.js';
import type { TrackerSettings } from '../tracker/types.js';
import { PeerBook, type PeerRecord } from './peer-book.js';
import { DEFAULT_MAX_PENDING_BYTES, PieceBuffers } from './piece-buffers.js';
import { nextPexMessage, NO_PEX_SENT, pexDue, type PexSent } from './pex-state.js';
import { PexFlag, type PexPeer } from '../../protocol/ut-pex.js';
import { PiecePicker, type PickHints } from './piece-picker.js';
import { HashFetch, missingLayersOf, type FetchedLayer, type MissingLayer } from './hash-fetch.js';
import { FILE_PRIORITIES, piecePriorities, skippedFiles, type FilePriority } from './file-priority.js';
import {
  webSeedMachine,
  type WebSeedCommand,
  type WebSeedReport,
  type WebSeedSettings,
} from '../webseed/webseed.machine.js';
import { usableWebSeeds, webSeedKey, webSeedLayoutOf, type WebSeedLayout } from '../../protocol/webseed.js';

/** What the torrent actor needs to know of its metainfo (a subset of `Metainfo`). */

/** The seed of a torrent given neither `seed` nor `random` (tests): fixed, so runs repeat. */
const DEFAULT_SEED = 0x1badf00d;
export interface TorrentInfo {
  infoHash: Uint8Array;
  infoHashHex: string;
  /** BEP 52: a hybrid torrent's v2 info hash cut to 20 bytes (peers may name the torrent by it too). */
  hybridV2Hash?: Uint8Array;
  name: string;
  length: number;
  pieceLength: number;
  pieceCount: number;
  announce: string[][];
  /** BEP 27: a private torrent uses neither `ut_metadata` nor `ut_pex` (nor, later, the DHT). */
  private?: boolean;
  /** The bencoded info dictionary (`Metainfo.infoBytes`), served to peers over BEP 9 `ut_metadata`. */
  infoBytes?: Uint8Array;
  /**
   * The files in info-dictionary order (padding files marked): what file priorities map to pieces by;
   * with their BEP 52 `pieces root` (v2, hybrid): what block blame asks leaf hashes by (block-hashes.ts).
   */
  files?: readonly BlameFile[];
  /** BEP 19 web seeds (`url-list`, a magnet's `ws=`): used once the info dictionary is known. */
  webSeeds?: readonly string[];
  /** The files as a web seed serves them (their names as the torrent gives them), once known. */
  layout?: WebSeedLayout;
  /** BEP 52: the merkle trees of the files whose piece layers we hold, for peers' hash requests. */
  hashTrees?: HashTrees;
  /**
   * BEP 52: a v2-only torrent's files whose piece layers are missing: asked of peers (hash-fetch.ts);
   * their pieces are not picked until their layer is whole.
   */
  missingLayers?: readonly MissingLayer[];
  /**
   * BEP 52: added by a v2-only magnet link (`urn:btmh:`): `infoHash` is the v2 info hash cut to 20 bytes,
   * so the info dictionary fetched from peers is checked by its SHA-256, not its SHA-1.
   */
  v2Only?: true;
  /**
   * BEP 52: added by a hybrid magnet link (`urn:btih:` and `urn:btmh:`): its full v2 info hash. The info
   * dictionary fetched from peers (checked by its SHA-1 against `infoHash`) must also have this SHA-256.
   */
  infoHashV2?: Uint8Array;
}

export interface TorrentSettings {
  maxConnections: number;
  /** How often peers are (re)dialled and counters published. */
  tickMs: number;
  peer: Partial<PeerSettings>;
  tracker: Partial<TrackerSettings>;
  choker: Partial<ChokerSettings>;
  /** Time allowed for stopping (trackers' `completed` and `stopped`, flushing files). */
  stopTimeoutMs: number;
  /**
   * Bytes of the pieces not verified yet (blocks received, whole pieces waiting to be verified and
   * written, blocks requested and on their way) before peers stop asking for new blocks (a disk slower
   * than the network then slows the download instead of growing memory). It also bounds the bytes in
   * flight from all peers together.
   */
  writeBacklogBytes: number;
  /** How long a peer banned for bad data stays banned. */
  banMs: number;
  /**
   * Several peers may share one IP (a NAT): a ban then names the IP with the peer's id and port, not
   * the whole IP. Always so on loopback (src/machines/torrent/bans.ts).
   */
  multipleConnectionsPerIp: boolean;
  /** BEP 11 peer exchange (`--no-pex` turns it off); never for a private torrent. */
  pex: boolean;
  /** BEP 19 web seeds: strikes before one is dropped, backoff, how often an idle one asks again. */
  webSeed: Partial<WebSeedSettings>;
}

export const defaultTorrentSettings: TorrentSettings = {
  maxConnections: 50,
  tickMs: 1_000,
  peer: {},
  tracker: {},
  choker: {},
  stopTimeoutMs: 12_000,
  writeBacklogBytes: DEFAULT_MAX_PENDING_BYTES,
  banMs: 60 * 60_000,
  multipleConnectionsPerIp: false,
  pex: true,
  webSeed: {},
};

export interface TorrentInput {
  info: TorrentInfo;
  peerId: Uint8Array;
  /** Peers to dial besides those the trackers give (`--peer`). */
  peers?: PeerAddress[];
  settings?: Partial<TorrentSettings>;
  /** Seed of the picker's and the choker's random choices (default: from `random`, else a fixed seed). */
  seed?: number;
  /** Source of the default seed (tests inject a fixed one). */
  random?: () => number;
  /** Our own listening addresses (`host:port` keys): trackers list us too, and we never dial ourselves. */
  selfKeys?: string[];
  /** The port we listen on: `p` in our BEP 10 handshake. */
  listenPort?: number;
  /** BEP 5: our DHT node's UDP port, when the engine runs one (peers are told it; their `port` messages reported). */
  dhtPort?: number;
  /** Priority of each file that is not padding (as `bt-actor info` numbers them); missing: `normal`. */
  filePriorities?: readonly FilePriority[];
  /**
   * Priority of the files past the end of `filePriorities` once a magnet link's metadata tells how many
   * there are (default `normal`): `--select` of a magnet link skips the rest.
   */
  otherFiles?: FilePriority;
  /** New pieces in index order rather than rarest first (`--sequential`). */
  sequential?: boolean;
}

/**
 * Which files are wanted (context data, replaced whole on a change): the priority of each file, the
 * piece priorities they give (a piece takes the highest of its files'), their bytes, and the order.
 */
export interface TorrentSelection {
  files: readonly FilePriority[];
  /** One per piece: 0 skip, 1 low, 2 normal, 3 high. Never mutated. */
  pieces: Uint8Array;
  /** Bytes of the pieces that are not skipped: what `left` counts down from. */
  wanted: number;
  sequential: boolean;
  /** Counts the changes: a `torrent.selected` of an older version is stale. */
  version: number;
  /** Priority of the files `files` does not list, applied when a magnet's metadata arrives (default normal). */
  others?: FilePriority;
}

/** A snapshot-friendly summary, refreshed every tick and on every verified piece. */
export interface TorrentProgress {
  verifiedPieces: number;
  pieceCount: number;
  /** Bytes of the wanted (not skipped) pieces not verified yet: what trackers are told as `left`. */
  left: number;
  length: number;
  /** Bytes of the pieces that are not skipped (the whole `length` unless files are deselected). */
  wanted: number;
  downloaded: number;
  uploaded: number;
  wasted: number;
  hashFailures: number;
  peersConnected: number;
  peersKnown: number;
  checked: number;
  /** The disk is full: verified pieces wait in memory for room, and no new blocks are asked for meanwhile. */
  diskFull: boolean;
  /**
   * Bytes per second received from / sent to the connected peers: the sum of each peer's rate over its
   * sliding window (5 s of 1 s buckets, see src/machines/peer/rate.ts), as last reported — and, in
   * `downloadRate`, the web seeds' rates ({@link TorrentProgress.webseedRates}).
   */
  downloadRate: number;
  uploadRate: number;
  /** In the `metadata` state: metadata peers connected, and how many of them advertised the metadata. */
  metadata?: { peers: number; ready: number };
  /** BEP 19 web seeds in use (not dropped). */
  webseeds: number;
  /**
   * Bytes per second each web seed in use delivered, by URL: the bytes of its pieces as they arrived,
   * over the same 5 s window as a peer's (on the torrent's clock). Present while any web seed is in use.
   */
  webseedRates?: Readonly<Record<string, number>>;
}

export type TorrentReport =
  | { type: 'torrent.checking'; checked: number; total: number; valid: number }
  | { type: 'torrent.ready'; have: number; total: number }
  | { type: 'torrent.piece'; index: number }
  /** A piece failed its hash: who sent its blocks, and who was banned for it at once (a lone sender). */
  | { type: 'torrent.hashFailed'; index: number; peers: string[]; banned: BannedPeer[] }
  /**
   * Peers banned for bad data after the fact: smart ban (a copy of piece `index` verified, and these peers
   * had sent blocks that differ from it), BEP 52 hashes that do not prove (`index` -1), or — `kind`
   * `badBlock` — BEP 52 block blame: piece `index` failed and the leaf hashes a peer proved show these
   * peers sent its bad blocks (the piece has not verified yet).
   */
  | { type: 'torrent.banned'; index: number; banned: BannedPeer[]; kind?: 'badBlock' }
  /** A peer connected (its handshake was taken; `encryption`: how its connection is encrypted) or closed. */
  | {
      type: 'torrent.peer';
      key: string;
      event: 'connected' | 'closed';
      encryption?: PeerEncryption;
      reason?: CloseReason;
      detail?: string;
    }
  | { type: 'torrent.complete' }
  | { type: 'torrent.error'; code: string; message: string }
  /** The disk is full: the download waits (pieces kept in memory up to the write backlog) for room. */
  | { type: 'torrent.diskFull'; message: string }
  /** There is room again: the waiting pieces are written and the download goes on. */
  | { type: 'torrent.diskOk' }
  /** BEP 5: a peer's `port` message: a DHT node at the peer's IP and this UDP port (for the engine's DHT). */
  | { type: 'torrent.dhtNode'; host: string; port: number }
  /** A magnet's info dictionary arrived and hashed right (BEP 9): what it says. */
  | {
      type: 'torrent.metadata';
      /** The fetched torrent (its info dictionary as it hashed, the link's trackers). */
      meta: Metainfo;
      name: string;
      length: number;
      pieceLength: number;
      pieces: number;
      files: number;
      private: boolean;
    }
  /** An assembled info dictionary did not hash to the info hash: who sent its pieces, and who was banned (twice). */
  | { type: 'torrent.metadataFailed'; peers: string[]; banned: BannedPeer[] }
  /** A BEP 19 web seed failed a fetch or sent a piece that failed its hash (it backs off), or was dropped. */
  | { type: 'torrent.webseed'; url: string; event: 'failed' | 'dropped'; code: string; message: string }
  | AnnouncerReport;

/**
 * An incoming connection the torrent did not take (full, banned, a duplicate address, not active): the
 * app that routed it closes its transport. Emitted beside the {@link TorrentReport}s.
 */
export interface TorrentRefused {
  type: 'torrent.refused';
  address: PeerAddress;
  transport: unknown;
}

/** Events from and commands to the storage actor (src/io/storage-actor.ts). */
export type { StorageCommand, StorageEvent } from '../../protocol/storage-types.js';

export type TorrentEvent =
  | StorageEvent
  | PeerReport
  | AnnouncerReport
  | ChokerReport
  | MetadataPeerReport
  | WebSeedReport
  | { type: 'torrent.addPeers'; peers: PeerAddress[] }
  /** Internal: the info dictionary hashed right and parses (`torrent` is a .torrent file of it). */
  | { type: 'torrent.metadata'; meta: Metainfo; torrent: Uint8Array }
  /** Internal: an assembled info dictionary failed its hash; `peers` sent its pieces. */
  | { type: 'torrent.metadataCorrupt'; peers: string[] }
  /** Internal: the info dictionary hashed right but is not a valid one (the torrent cannot go on). */
  | { type: 'torrent.metadataInvalid'; code: string; message: string }
  /** An accepted connection for this torrent (its handshake named our info hash); `transport` is opaque. */
  | { type: 'torrent.incoming'; address: PeerAddress; transport: unknown }
  | { type: 'torrent.stop' }
  /**
   * A file's priority (`index` as `bt-actor info` numbers files, padding left out): `skip` deselects it,
   * `low` / `normal` / `high` select it. Any time; while active the picker follows at once.
   */
  | { type: 'torrent.setFilePriority'; index: number; priority: FilePriority }
  /** New pieces in index order (true) or rarest first (false). */
  | { type: 'torrent.setSequential'; sequential: boolean }
  /** Pieces a reader waits for (a stream), soonest first: requested before any other. `[]` clears. */
  | { type: 'torrent.setDeadlines'; pieces: number[] }
  /**
   * Internal: the picker took selection `version`; `left` is the wanted bytes it lacked when it had
   * `verified` pieces (a piece verified since makes the figure stale: it is asked again).
   */
  | { type: 'torrent.selected'; left: number; version: number; verified: number }
  /** Ask the tracker in use for peers now (as soon as its min interval allows). */
  | { type: 'torrent.reannounce' }
  /** Internal: a piece was verified (raised; `downloading` checks whether that completed the torrent). */
  | { type: 'torrent.verified' }
  /** Internal: addresses the peer book chose to dial now, and how many it knows. */
  | { type: 'torrent.dial'; peers: PeerAddress[]; known: number }
  /** Internal: a piece failed its hash; the peer book's verdict on who sent it. */
  | {
      type: 'torrent.struck';
      kind: 'hashFailed' | 'smartBan' | 'badHashes' | 'badBlock';
      index: number;
      peers: string[];
      guilty: Guilty[];
    }
  /** Internal: the commands a named action decided on (see `Outbox`), sent by this event's transition. */
  | { type: 'torrent.deliver'; out: Outgoing[] }
  /** Internal: BEP 52 piece layers fetched from peers and proven (new connections are served them). */
  | { type: 'torrent.layers'; layers: FetchedLayer[] };

/** A connection banned for bad data: its address (`ip:port`) and why. */
export interface BannedPeer {
  peer: string;
  reason: string;
}

/** A peer found guilty of bad data, as a named action hands it to the transition that bans it. */
export interface Guilty {
  key: string;
  address: PeerAddress;
  peerId: string | undefined;
  reason: string;
}

type PeerRef = ActorRefFrom<typeof peerMachine>;
type MetaPeerRef = ActorRefFrom<typeof metadataPeerMachine>;

/** A connection of the `metadata` state (src/machines/peer/metadata-peer.machine.ts). */
export interface MetaPeerEntry {
  ref: MetaPeerRef;
  address: PeerAddress;
  /** Hex peer id, once its handshake arrived. */
  peerId: string | undefined;
  /** The `metadata_size` it advertised (then it may be asked), once its extension handshake came. */
  size: number | undefined;
}

/** What the torrent knows while it fetches its info dictionary (context data; the assembler is a service). */
export interface MetadataPhase {
  peers: Readonly<Record<string, MetaPeerEntry>>;
  /**
   * Assemblies that failed their hash with a piece from this peer. One strike: asked again only alone
   * (so a second failure names it alone); two: banned for this torrent.
   */
  strikes: Readonly<Record<string, number>>;
}

/** What the torrent knows of one peer actor: its ref, and what the peer reported. */
export interface PeerEntry {
  ref: PeerRef;
  address: PeerAddress;
  direction: 'outgoing' | 'incoming';
  /** Hex peer id, once its handshake arrived. */
  peerId: string | undefined;
  /** How the connection is encrypted (MSE/PE), once its handshake arrived. */
  encryption: PeerEncryption | undefined;
  /** BEP 52: the peer may be asked for hashes ({@link speaksV2}), once its handshake arrived. */
  hashes?: boolean;
  view: PeerView;
  downloaded: number;
  uploaded: number;
  downRate: number;
  upRate: number;
  /** The torrent's clock when the connection began (a young connection is not evicted). */
  since: number;
  /** The port the peer listens on, from its extension handshake (`p`): how an incoming peer is named in PEX. */
  listenPort: number | undefined;
  /** BEP 11: what the peer was told by our `ut_pex` messages, and when last; undefined: it takes none. */
  pex: { sent: PexSent; at: number | undefined } | undefined;
}

/**
 * The torrent's services: plain mutable modules, owned by this actor alone and touched only by its
 * named actions (never by a guard, an `assign` or an `enqueueActions` callback).
 */
export interface TorrentServices {
  book: PeerBook;
  /** Made when checking is done (it starts from the verified pieces). */
  picker: PiecePicker<string> | undefined;
  buffers: PieceBuffers | undefined;
  /** What each peer was last told of our interest in it. */
  interest: Map<string, boolean>;
  /** Peers whose top-up waited because pieces were backed up for the disk. */
  heldBack: Set<string>;
  /**
   * Our `have`s: the verified pieces not yet announced to the peers. They ride on the next tick's
   * `peer.tick` (or go at completion, {@link announceHaves}): one event per peer per second, however
   * many pieces, instead of one per piece.
   */
  haves: { pending: number[] };
  /** Failed pieces: who sent which block, to blame only the liars once a good copy verifies. */
  smartBan: SmartBan;
  /** BEP 52: failed v2 pieces whose leaf hashes are asked of peers, to blame the bad blocks' senders at once. */
  blockHashes: BlockHashes;
  /** The `metadata` state's BEP 9 assembler (made when a peer first advertises a size), and its lone suspect. */
  assembler: MetadataAssembler | undefined;
  solo: string | undefined;
  /** Pieces a web seed's bytes completed, awaiting their hash: the web seed hears the verdict. */
  webPending: Map<number, string>;
  /** BEP 52: the piece layers still asked of peers (v2-only torrents missing some); undefined: none. */
  hashes: HashFetch | undefined;
}

/** A BEP 19 web seed the torrent uses (src/machines/webseed), by its key (`ws:` + URL). */
export interface WebSeedEntry {
  ref: ActorRefFrom<typeof webSeedMachine>;
  url: string;
  /** The bytes it delivered, stamped with the torrent's clock: its download rate. */
  down: RateWindow;
}

export interface TorrentContext {
  info: TorrentInfo;
  peerId: Uint8Array;
  settings: TorrentSettings;
  seed: number;
  svc: TorrentServices;
  /** Peer actors by address key. */
  peers: Readonly<Record<string, PeerEntry>>;
  /** Peers banned for bad data (src/machines/torrent/bans.ts). */
  bans: Bans;
  /** Time (ms) since the torrent started, advanced by its tick: what bans expire by. */
  clock: number;
  selfKeys: ReadonlySet<string>;
  /** The port we listen on (input `listenPort`), told to peers in our extension handshake. */
  listenPort: number | undefined;
  /** BEP 5: our DHT node's UDP port (input `dhtPort`); undefined: no DHT. */
  dhtPort: number | undefined;
  spawned: number;
  tally: TorrentTally;
  progress: TorrentProgress;
  error: { code: string; message: string } | undefined;
  /** The announcer child exists (it is spawned once checking is done). */
  announcing: boolean;
  /** Shutdown steps still running (announcer, storage). */
  stopsPending: number;
  /** Counters as last sent to the announcer. */
  announced: TransferStats | undefined;
  /** While the info dictionary is fetched (added by magnet link): its peers and strikes; else undefined. */
  metadata: MetadataPhase | undefined;
  /** Which files are wanted (file priorities, the piece priorities they give), and in which order. */
  selection: TorrentSelection;
  /** BEP 19 web seed actors by key (`ws:` + URL); a dropped one leaves. */
  webseeds: Readonly<Record<string, WebSeedEntry>>;
}

/**
 * The torrent's counters (one value: a machine's context keeps few top-level fields, see
 * docs/architecture.md). Byte counts of live peers are in their entries.
 */
export interface TorrentTally {
  verifiedPieces: number;
  left: number;
  /** Pieces checked so far while checking. */
  checked: number;
  /** Bytes that peers no longer connected downloaded and uploaded. */
  downloadedGone: number;
  uploadedGone: number;
  /** Bytes of pieces that failed their hash. */
  wasted: number;
  /** Bytes of the pieces downloaded and verified in this run: a floor for `downloaded`, exact at once. */
  fetched: number;
  hashFailures: number;
  /** Addresses the peer book knows. */
  known: number;
  /** Writes wait for room on the disk (`storage.diskFull` until `storage.diskOk`). */
  diskFull: boolean;
}

const storageNotProvided = fromCallback<StorageCommand>(() => {
  throw new Error('torrent machine: no storage actor provided (provide storageActor from src/io)');
});

/** Close reasons after which an address is never dialled again. */
const FATAL: ReadonlySet<CloseReason> = new Set(['self', 'info-hash-mismatch', 'bad-data', 'not-useful']);

/** Requests kept outstanding per peer once the picker is in endgame (deep pipelines would fetch the tail twice). */
const ENDGAME_DEPTH = 4;

const geometryOf = (info: TorrentInfo): PieceGeometry => ({
  length: info.length,
  pieceLength: info.pieceLength,
  pieceCount: info.pieceCount,
});

function totals(c: TorrentContext): { downloaded: number; uploaded: number } {
  let downloaded = c.tally.downloadedGone;
  let uploaded = c.tally.uploadedGone;
  for (const e of Object.values(c.peers)) {
    downloaded += e.downloaded;
    uploaded += e.uploaded;
  }
  // Peers report their counters about once a second; the pieces verified (and failed) since are
  // bytes downloaded too, so a fast download never shows (or tells a tracker) less than it has.
  return { downloaded: Math.max(downloaded, c.tally.fetched + c.tally.wasted), uploaded };
}

function progressOf(c: TorrentContext): TorrentProgress {
  const { downloaded, uploaded } = totals(c);
  let downloadRate = 0;
  let uploadRate = 0;
  for (const e of Object.values(c.peers)) {
    downloadRate += e.downRate;
    uploadRate += e.upRate;
  }
  const webEntries = Object.values(c.webseeds);
  let webseedRates: Record<string, number> | undefined;
  if (webEntries.length > 0) {
    webseedRates = {};
    for (const e of webEntries) {
      const rate = rateOf(e.down, c.clock);
      webseedRates[e.url] = rate;
      downloadRate += rate;
    }
  }
  return {
    verifiedPieces: c.tally.verifiedPieces,
    pieceCount: c.info.pieceCount,
    left: c.tally.left,
    length: c.info.length,
    wanted: c.selection.wanted,
    downloaded,
    uploaded,
    wasted: c.tally.wasted,
    hashFailures: c.tally.hashFailures,
    peersConnected: Object.keys(c.peers).length,
    peersKnown: c.tally.known,
    checked: c.tally.checked,
    diskFull: c.tally.diskFull,
    downloadRate,
    uploadRate,
    ...(c.metadata && {
      metadata: {
        peers: Object.keys(c.metadata.peers).length,
        ready: Object.values(c.metadata.peers).filter((e) => e.size !== undefined).length,
      },
    }),
    webseeds: webEntries.length,
    ...(webseedRates && { webseedRates }),
  };
}

function statsOf(c: TorrentContext): TransferStats {
  const { downloaded, uploaded } = totals(c);
  return { downloaded, uploaded, left: c.tally.left };
}

function chokeCandidates(c: TorrentContext): ChokeCandidate[] {
  return Object.entries(c.peers)
    .filter(([, e]) => e.peerId !== undefined)
    .map(([key, e]) => ({
      key,
      peerInterested: e.view.peerInterested,
      snubbed: e.view.snubbed,
      downRate: e.downRate,
      upRate: e.upRate,
    }));
}

/** Every wanted piece is verified (the whole torrent unless files are skipped): the `complete` state. */
const isComplete = (c: TorrentContext) => c.tally.left <= 0;
/** Every piece of the torrent is verified (trackers hear `completed` only then). */
const hasEverything = (c: TorrentContext) => c.tally.verifiedPieces >= c.info.pieceCount;

/** The selection of `files` on `info` (piece priorities only once the info dictionary is known). */
export function selectionOf(
  info: TorrentInfo,
  files: readonly FilePriority[],
  sequential: boolean,
  version = 0,
): TorrentSelection {
  const pieces =
    info.files && info.pieceCount > 0
      ? piecePriorities(info.files, files, info.pieceLength)
      : new Uint8Array(info.pieceCount).fill(2);
  const g = geometryOf(info);
  let wanted = 0;
  for (let i = 0; i < pieces.length; i++) if (pieces[i]! > 0) wanted += pieceBytes(g, i);
  return { files, pieces, wanted, sequential, version };
}

/** Files (padding left out) the torrent has, when its info dictionary is known. */
const fileCountOf = (info: TorrentInfo): number | undefined => info.files?.filter((f) => !f.padding).length;

/** A command a named action decided on, for a peer (by key), a metadata peer, or the storage actor. */
export type Outgoing =
  | { to: 'peer'; key: string; event: PeerCommand }
  | { to: 'meta'; key: string; event: MetadataPeerCommand }
  | { to: 'storage'; event: StorageCommand }
  | { to: 'webseed'; key: string; event: WebSeedCommand };

/** BEP 6 suggestions a seed keeps pending with each peer it unchokes (topped up every choker verdict). */
const SUGGEST_AHEAD = 8;

/**
 * The commands of one named action. Named actions never run another actor: what they decide leaves
 * after the transition as one `torrent.deliver` event, whose transition sends each command.
 */
class Outbox {
  readonly out: Outgoing[] = [];
  peer(key: string, event: PeerCommand): void {
    this.out.push({ to: 'peer', key, event });
  }
  storage(event: StorageCommand): void {
    this.out.push({ to: 'storage', event });
  }
  meta(key: string, event: MetadataPeerCommand): void {
    this.out.push({ to: 'meta', key, event });
  }
  webseed(key: string, event: WebSeedCommand): void {
    this.out.push({ to: 'webseed', key, event });
  }
  flush(self: AnyActorRef): void {
    if (this.out.length > 0) self.send({ type: 'torrent.deliver', out: this.out } satisfies TorrentEvent);
  }
}

// ---------------------------------------------------------------------------------------------
// Named actions' bodies: the only code that touches the services.

/** `info`'s merkle trees with those of the fetched `layers` added (pure: one SHA-256 per piece). */
function withFetchedTrees(info: TorrentInfo, layers: readonly FetchedLayer[]): HashTrees {
  const files = layers.flatMap(({ file, layer }) => {
    const m = info.missingLayers?.find((x) => x.file === file);
    return m
      ? [
          {
            length: m.pieces * info.pieceLength,
            piecesRoot: m.root,
            pieceLayer: layer,
            offset: m.firstPiece * info.pieceLength,
          },
        ]
      : [];
  });
  const added = hashTreesOf({ pieceLength: info.pieceLength, files });
  const old = info.hashTrees;
  if (!old) return added;
  return { byRoot: new Map([...old.byRoot, ...added.byRoot]), chunks: old.chunks + added.chunks };
}

/**
 * The pieces a `storage.layerChecked` found on disk: only those of the file it names (as the torrent's
 * `missingLayers` lays it out), each once.
 */
function foundOnDisk(info: TorrentInfo, event: { file: number; have: readonly number[] }): number[] {
  const m = info.missingLayers?.find((x) => x.file === event.file);
  if (!m) return [];
  const inFile = (i: number) => Number.isInteger(i) && i >= m.firstPiece && i < m.firstPiece + m.pieces;
  return [...new Set(event.have.filter(inFile))];
}

/** A hash request unanswered this long (ms of the torrent's clock) is asked of another peer. */
const HASH_REQUEST_TIMEOUT_MS = 10_000;

/** The selection's piece priorities, with the pieces whose piece layer is still missing skipped. */
function pickablePriorities(c: TorrentContext): Uint8Array {
  const hashes = c.svc.hashes;
  if (!hashes || hashes.isDone) return c.selection.pieces;
  const out = Uint8Array.from(c.selection.pieces);
  for (const p of hashes.blockedPieces()) out[p] = 0;
  return out;
}

/** Bytes of selected, unverified pieces the picker skips only because their layer is missing. */
function blockedLeft(c: TorrentContext, picker: PiecePicker<string>): number {
  const hashes = c.svc.hashes;
  if (!hashes || hashes.isDone) return 0;
  let bytes = 0;
  for (const p of hashes.blockedPieces())
    if (c.selection.pieces[p]! > 0 && !picker.hasPiece(p)) bytes += picker.pieceBytes(p);
  return bytes;
}

/** Hash requests for the missing piece layers, to the admitted peers (those past their handshake). */
function askForHashes(c: TorrentContext, out: Outbox): void {
  const hashes = c.svc.hashes;
  if (!hashes || hashes.isDone) return;
  const peers = Object.keys(c.peers).filter((k) => c.peers[k]!.peerId !== undefined);
  for (const { key, range } of hashes.assign(peers, c.clock)) out.peer(key, { type: 'peer.hashRequest', range });
}

/**
 * BEP 52: whether a peer whose handshake is `h` can be asked for hashes. Of a v2-only torrent, every
 * peer (it named the v2 hash); of a hybrid, one that set the v2 bit or whose connection runs under the
 * v2 hash (libtorrent 2.0.8 answers a dial that set our v2 bit with the v2 hash, and sets no bit itself);
 * a v1 peer of a hybrid would let the request time out.
 */
function speaksV2(info: TorrentInfo, h: { v2: boolean; infoHash: Uint8Array }): boolean {
  return info.hybridV2Hash === undefined || h.v2 || equalBytes(h.infoHash, info.hybridV2Hash);
}

/** BEP 52 block blame: layer-0 hash requests for the failed pieces, to admitted v2 peers that have them. */
function askForBlockHashes(c: TorrentContext, out: Outbox): void {
  const { blockHashes, picker } = c.svc;
  if (blockHashes.size === 0 || !picker) return;
  const admitted = Object.keys(c.peers).filter((k) => c.peers[k]!.peerId !== undefined && c.peers[k]!.hashes);
  const candidates = (index: number) => admitted.filter((k) => picker.peerHas(k, index));
  for (const { key, range } of blockHashes.assign(candidates, c.clock))
    out.peer(key, { type: 'peer.hashRequest', range });
}

/** Tells the peer whether it has pieces we lack, when that changed. */
function updateInterest(c: TorrentContext, out: Outbox, key: string): void {
  const picker = c.svc.picker!;
  const want = picker.isInterestedIn(key);
  if (c.svc.interest.get(key) === want) return;
  c.svc.interest.set(key, want);
  out.peer(key, { type: 'peer.interest', interested: want });
}

/**
 * The pending verified pieces and our pieces as of now (one copy for all: none of them changes it), for
 * `peer.tick` or `peer.announce` (`have` messages); none pending: undefined. Batched by the tick: a
 * swarm's peers hear of a new piece at most a tick late, and a fast download sends each peer one batch
 * of haves per tick (one write, one event on each side) instead of one per piece.
 */
function ourNewPieces(c: TorrentContext): { pieces: number[]; have: Uint8Array } | undefined {
  const haves = c.svc.haves;
  if (haves.pending.length === 0) return undefined;
  const pieces = haves.pending;
  haves.pending = [];
  return { pieces, have: c.svc.picker!.bitfield().toBytes() };
}

/** Completion: the pending pieces go to every peer now (`peer.announce`), not at the next tick. */
function announceHaves(c: TorrentContext, out: Outbox): void {
  const news = ourNewPieces(c);
  if (news === undefined) return;
  for (const key of Object.keys(c.peers)) out.peer(key, { type: 'peer.announce', ...news });
}

/** Both sides have everything: the connection is of no use to either. */
function closeIfUseless(c: TorrentContext, out: Outbox, key: string): void {
  const picker = c.svc.picker!;
  if (picker.isComplete && picker.isSeed(key))
    out.peer(key, { type: 'peer.close', reason: 'not-useful', detail: 'both sides have everything' });
}

/**
 * Picks up to `count` blocks for `key` and sends them as one `peer.request`; `hints` are the peer's BEP 6
 * allowed-fast (`only`, while it chokes us) and suggested (`prefer`) pieces.
 */
function pickFor(c: TorrentContext, out: Outbox, key: string, count: number, batch?: number, hints?: PickHints): void {
  const { picker, buffers } = c.svc;
  if (!picker || !buffers) return;
  let n = count;
  // In endgame every remaining block is already out: duplicates are only worth it for a peer about to
  // run dry, so its pipeline stays short (and bring no new bytes to hold). Otherwise the requests are
  // bounded by the write backlog's room, and a small top-up waits to leave in one write.
  if (picker.inEndgame) n = Math.min(n, ENDGAME_DEPTH - picker.outstandingCount(key));
  else {
    n = Math.min(n, requestBudget(c));
    if (n < count && n < (batch ?? 1)) {
      // Pieces waiting for the disk and blocks on their way fill the backlog: asked again once it drains.
      c.svc.heldBack.add(key);
      return;
    }
    if (batch !== undefined && n < batch) return;
  }
  if (n <= 0) return;
  const requests = picker.pick(key, n, hints);
  if (requests.length > 0) out.peer(key, { type: 'peer.request', requests });
}

/**
 * Blocks that may be requested now without the write backlog — the pieces not verified yet: blocks
 * received, waiting for the disk, or on their way — passing its cap.
 */
function requestBudget(c: TorrentContext): number {
  const { picker, buffers } = c.svc;
  return Math.floor(buffers!.room(picker!.committedCount * picker!.blockLength) / picker!.blockLength);
}

/**
 * Peers held back by a full backlog ask again once a quarter of it is free (not at every block, which
 * would wake them all for a block's room).
 */
function releaseHeldBack(c: TorrentContext, out: Outbox): void {
  const { heldBack, buffers } = c.svc;
  if (heldBack.size === 0 || requestBudget(c) * c.svc.picker!.blockLength < buffers!.limit / 4) return;
  for (const key of heldBack) refill(c, out, key);
  heldBack.clear();
}

/**
 * Asks a peer to top up (blocks became wanted again) — only one we are interested in: no other is
 * requesting (its request region is idle), so it would drop the `peer.refill`.
 */
function refill(c: TorrentContext, out: Outbox, key: string): void {
  if (c.svc.interest.get(key) === true) out.peer(key, { type: 'peer.refill' });
}

/** Asks every other peer to top up (blocks became wanted again). */
function refillOthers(c: TorrentContext, out: Outbox, except?: string): void {
  for (const key of Object.keys(c.peers)) if (key !== except) refill(c, out, key);
}

/**
 * A peer's `have`s (a `peer.have`, or riding on another report): the picker counts them; a peer we were
 * not interested in may be now (a have only ever makes a peer more interesting), and a seed may be of no
 * use to a complete torrent.
 */
function takeHaves(c: TorrentContext, out: Outbox, key: string, pieces: readonly number[] | undefined): void {
  const picker = c.svc.picker;
  if (!picker || !pieces || pieces.length === 0) return;
  for (const index of pieces) picker.have(key, index);
  if (c.svc.interest.get(key) !== true) updateInterest(c, out, key);
  closeIfUseless(c, out, key);
}

/**
 * One connection per IP address (libtorrent's rule): a host cannot fill the torrent's slots from many
 * ports. Where peers share an IP — loopback, or `multipleConnectionsPerIp` — there is no such limit.
 * `more` are addresses about to be dialled in the same step.
 */
function ipFull(c: TorrentContext, address: PeerAddress, more: readonly PeerAddress[] = []): boolean {
  if (sharesIp(address.host, c.settings.multipleConnectionsPerIp)) return false;
  for (const e of Object.values(c.peers)) if (e.address.host === address.host) return true;
  return more.some((a) => a.host === address.host);
}

/** A connection younger than this is never evicted: it has not had the time to show its use. */
const EVICT_AFTER_MS = 60_000;

/**
 * The peer to evict when the torrent is full and a connection comes in: an admitted peer, connected for a
 * minute at least, that moves no data either way and does not want ours — the one that exchanged least —
 * unless an eviction is already under way (at most one connection over the limit, for a moment).
 */
function evictable(c: TorrentContext): string | undefined {
  const keys = Object.keys(c.peers);
  if (keys.length > c.settings.maxConnections) return undefined;
  let best: string | undefined;
  let bestBytes = Infinity;
  for (const key of keys) {
    const e = c.peers[key]!;
    if (e.peerId === undefined || c.clock - e.since < EVICT_AFTER_MS) continue;
    if (e.view.peerInterested || e.downRate > 0 || e.upRate > 0) continue;
    const bytes = e.downloaded + e.uploaded;
    if (bytes < bestBytes) {
      best = key;
      bestBytes = bytes;
    }
  }
  return best;
}

/**
 * Whether the torrent takes an incoming connection from `address` now: not already connected, not
 * banned, not a second connection from its IP (unless shared), and a free slot or an idle peer to evict.
 * The guard `canAdmitIncoming`, and the app before it hands the socket over (src/app/torrent-actor.ts).
 */
export function admitsIncoming(c: TorrentContext, address: PeerAddress): boolean {
  return (
    !c.peers[peerKey(address)] &&
    !banOf(c.bans, address, undefined, c.clock) &&
    !ipFull(c, address) &&
    (Object.keys(c.peers).length < c.settings.maxConnections || evictable(c) !== undefined)
  );
}

/** What a ban needs to know of peer `key`: its address and id, from its connection or the peer book. */
function guiltyOf(c: TorrentContext, key: string, reason: string): Guilty | undefined {
  const e = c.peers[key];
  if (e) return { key, address: e.address, peerId: e.peerId, reason };
  const r = c.svc.book.get(key);
  return r ? { key, address: r.address, peerId: r.peerId, reason } : undefined;
}

/** BEP 11 peer exchange is on for this torrent (BEP 27: never for a private one). */
const usesPex = (c: TorrentContext): boolean => c.settings.pex && c.info.private !== true;

/**
 * The address a peer listens on: the one we dialled, or for an incoming peer its IP with the port its
 * extension handshake gave (`p`); undefined when we do not know one.
 */
function listenAddressOf(e: PeerEntry): PeerAddress | undefined {
  if (e.direction === 'outgoing') return e.address;
  return e.listenPort === undefined ? undefined : { ...e.address, port: e.listenPort };
}

/** Our connected peers as a PEX message names them (only admitted connections, with a listen address). */
function pexPeersOf(c: TorrentContext): PexPeer[] {
  const out: PexPeer[] = [];
  for (const e of Object.values(c.peers)) {
    const a = e.peerId === undefined ? undefined : listenAddressOf(e);
    if (a) out.push({ ...a, flags: e.direction === 'outgoing' ? PexFlag.reachable : 0 });
  }
  return out;
}

/** The listen addresses (`host:port`) of our incoming peers that told us theirs (BEP 10 `p`). */
function incomingListenKeys(c: TorrentContext): Set<string> {
  const keys = new Set<string>();
  for (const e of Object.values(c.peers)) {
    if (e.direction === 'incoming' && e.listenPort !== undefined)
      keys.add(peerKey({ ...e.address, port: e.listenPort }));
  }
  return keys;
}

/** Lets the peer book choose addresses to dial, up to the connection limit (spawned on `torrent.dial`). */
function dialMore(c: TorrentContext, self: AnyActorRef): void {
  const { book } = c.svc;
  const free = c.settings.maxConnections - Object.keys(c.peers).length - metaCount(c);
  const peers: PeerAddress[] = [];
  // Not the banned, nor a second connection to an IP (those would only be skipped by `torrent.dial`),
  // nor a peer already connected to us from it (an incoming peer whose extension handshake named this
  // listen address: both sides learn each other by PEX and dial at once; the other side keeps one).
  let reached: Set<string> | undefined;
  const skip = (r: PeerRecord) =>
    banOf(c.bans, r.address, r.peerId, c.clock) !== undefined ||
    ipFull(c, r.address) ||
    (reached ??= incomingListenKeys(c)).has(r.key);
  for (const rec of book.candidates(free, skip)) {
    if (c.selfKeys.has(rec.key)) {
      book.markDead(rec.key);
      continue;
    }
    book.markConnecting(rec.key);
    peers.push(book.dialAddress(rec));
  }
  if (peers.length > 0 || book.size !== c.tally.known) self.send({ type: 'torrent.dial', peers, known: book.size });
}

/**
 * Of the addresses the peer book chose (`torrent.dial`), those to dial now and the keys handed back to
 * it: not one already connected (`connected`), chosen twice, banned, a second connection to an IP when
 * `perIp` (full peers: {@link ipFull}), or past the connection limit (`count` connections already).
 */
function chooseDials(
  c: TorrentContext,
  peers: readonly PeerAddress[],
  count: number,
  connected: (key: string) => boolean,
  perIp = false,
): { dial: PeerAddress[]; skip: string[] } {
  const dial: PeerAddress[] = [];
  const skip: string[] = [];
  const chosen = new Set<string>();
  for (const address of peers) {
    const key = peerKey(address);
    if (
      connected(key) ||
      chosen.has(key) ||
      banOf(c.bans, address, undefined, c.clock) ||
      (perIp && ipFull(c, address, dial)) ||
      count >= c.settings.maxConnections
    )
      skip.push(key);
    else {
      dial.push(address);
      chosen.add(key);
      count++;
    }
  }
  return { dial, skip };
}

/** An address without its `viaV2` mark (what a peer entry keeps). */
function plainAddress(address: PeerAddress): PeerAddress {
  if (!address.viaV2) return address;
  const { viaV2, ...plain } = address;
  void viaV2;
  return plain;
}

/**
 * The hashes a dial to `address` names, first the one its handshake carries, then the other one a
 * hybrid's peer may answer with (BEP 52). An address only the v2 lookup found (`viaV2`) is dialled with
 * the truncated v2 hash (that peer may know no other); every other with the v1 hash.
 */
function dialHashes(c: TorrentContext, address: PeerAddress): { infoHash: Uint8Array; other?: Uint8Array } {
  const v2 = c.info.hybridV2Hash;
  if (!v2) return { infoHash: c.info.infoHash };
  return address.viaV2 ? { infoHash: v2, other: c.info.infoHash } : { infoHash: c.info.infoHash, other: v2 };
}

/** The torrent as a peer actor dialling `address` sees it: {@link dialHashes} decides its two hashes. */
function dialTorrent(c: TorrentContext, address: PeerAddress): PeerTorrent {
  const { infoHash, other } = dialHashes(c, address);
  return { ...peerTorrent(c), infoHash, ...(other && { hybridV2Hash: other }) };
}

const metaCount = (c: TorrentContext): number => (c.metadata ? Object.keys(c.metadata.peers).length : 0);

/** The torrent as the statechart knows it, from a fetched info dictionary (the magnet's trackers kept). */
function infoOf(meta: Metainfo, announce: string[][], webSeeds: readonly string[]): TorrentInfo {
  const v2 = hybridV2Hash(meta);
  return {
    infoHash: meta.infoHash,
    infoHashHex: meta.infoHashHex,
    ...(v2 && { hybridV2Hash: v2 }),
    name: meta.name,
    length: meta.length,
    pieceLength: meta.pieceLength,
    pieceCount: meta.pieceCount,
    announce,
    private: meta.private,
    infoBytes: meta.infoBytes,
    files: meta.files.map((f) => ({ length: f.length, padding: f.padding, piecesRoot: f.piecesRoot })),
    webSeeds: usableWebSeeds([...webSeeds, ...meta.urlList]),
    layout: webSeedLayoutOf(meta),
    // BEP 52: an info dictionary from peers has no piece layers: a v2-only torrent asks its peers for them.
    ...(meta.kind === 'v2' && { missingLayers: missingLayersOf(meta) }),
  };
}

/** The v2 info hash cut to 20 bytes: how a v2-only magnet link's info dictionary is checked. */
const truncatedSha256 = (bytes: Uint8Array): Uint8Array => sha256(bytes).subarray(0, 20);

/**
 * Asks the metadata peers for pieces, as the assembler picks them. Peers never struck are asked freely,
 * several at once; when none is left, one struck once is asked alone (the next failure is then its
 * own). Only peers that advertised the assembler's size are asked (the first asked sets it).
 */
function askMetadata(c: TorrentContext, out: Outbox): void {
  const phase = c.metadata;
  if (!phase) return;
  const svc = c.svc;
  const ready = Object.entries(phase.peers).filter(([, e]) => e.size !== undefined);
  const clean = ready.filter(([key]) => !phase.strikes[key]);
  let ask = clean;
  if (clean.length === 0) {
    if (svc.solo === undefined || !phase.peers[svc.solo]) {
      svc.solo = undefined;
      if (svc.assembler && svc.assembler.receivedPieces > 0) svc.assembler = undefined; // mixed: start over
      const first = ready.find(([key]) => (phase.strikes[key] ?? 0) < 2);
      svc.solo = first?.[0];
    }
    ask = ready.filter(([key]) => key === svc.solo);
  }
  for (const [key, e] of ask) {
    if (!svc.assembler) {
      try {
        svc.assembler = new MetadataAssembler({
          infoHash: c.info.infoHash,
          metadataSize: e.size!,
          sha1: c.info.v2Only ? truncatedSha256 : sha1,
          maxMetadataSize: MAX_METADATA_SIZE,
        });
      } catch {
        continue; // a size the assembler refuses: this peer is not asked
      }
    }
    const asm = svc.assembler;
    if (asm.size !== e.size) continue;
    const pieces: number[] = [];
    for (let p = asm.next(key, c.clock); p !== null; p = asm.next(key, c.clock)) pieces.push(p);
    if (pieces.length > 0) out.meta(key, { type: 'meta.request', pieces });
  }
}

export const torrentMachine = setup({
  types: {
    input: {} as TorrentInput,
    context: {} as TorrentContext,
    events: {} as TorrentEvent,
    emitted: {} as TorrentReport | TorrentRefused,
  },
  actors: {
    storage: storageNotProvided,
    peer: peerMachine,
    metaPeer: metadataPeerMachine,
    webseed: webSeedMachine,
    announcer: announcerMachine,
    choker: chokerMachine,
  },
  delays: {
    tick: ({ context }) => context.settings.tickMs,
    stopTimeout: ({ context }) => context.settings.stopTimeoutMs,
  },
  guards: {
    isComplete: ({ context }) => isComplete(context),
    isStaleSelection: ({ context, event }) =>
      event.type === 'torrent.selected' &&
      (event.version !== context.selection.version || event.verified !== context.tally.verifiedPieces),
    selectionDone: ({ event }) => event.type === 'torrent.selected' && event.left <= 0,
    selectionPending: ({ event }) => event.type === 'torrent.selected' && event.left > 0,
    /** The event names a file the torrent has (any index while the file list is unknown: a magnet). */
    isFileIndex: ({ context, event }) => {
      if (event.type !== 'torrent.setFilePriority') return false;
      const n = fileCountOf(context.info);
      return (
        Number.isSafeInteger(event.index) &&
        event.index >= 0 &&
        (n === undefined ? event.index < 1_000_000 : event.index < n) &&
        FILE_PRIORITIES.includes(event.priority)
      );
    },
    usesPex: ({ context }) => usesPex(context),
    isDuplicate: ({ context, event }) => {
      if (event.type !== 'peer.handshake') return false;
      const id = toHex(event.peerId);
      return Object.entries(context.peers).some(([key, e]) => key !== event.key && e.peerId === id);
    },
    canAdmitIncoming: ({ context, event }) =>
      event.type === 'torrent.incoming' && admitsIncoming(context, event.address),
    canAdmitMetaPeer: ({ context, event }) =>
      event.type === 'torrent.incoming' &&
      !context.metadata?.peers[peerKey(event.address)] &&
      !banOf(context.bans, event.address, undefined, context.clock) &&
      metaCount(context) < context.settings.maxConnections,
    /** The peer's id (now known) or its address is under a ban. */
    isBanned: ({ context, event }) => {
      if (event.type !== 'peer.handshake') return false;
      const e = context.peers[event.key];
      return e !== undefined && banOf(context.bans, e.address, toHex(event.peerId), context.clock) !== undefined;
    },
    allStopped: ({ context }) => context.stopsPending <= 0,
    allStoppedAfterError: ({ context }) => context.stopsPending <= 0 && context.error !== undefined,
    hasFailed: ({ context }) => context.error !== undefined,
    isFirstFailure: ({ context }) => context.error === undefined,
  },
  actions: {
    publish: assign(({ context }) => ({ progress: progressOf(context) })),
    /** The wanted bytes still lacking, as the picker counted them for the current selection. */
    takeLeft: assign(({ context, event }) =>
      event.type === 'torrent.selected' ? { tally: { ...context.tally, left: event.left } } : {},
    ),
    /** The picker serves these pieces first (a stream waits for them); every peer tops up. */
    applyDeadlines: ({ context, event, self }) => {
      const picker = context.svc.picker;
      if (!picker || event.type !== 'torrent.setDeadlines') return;
      picker.setDeadlines(event.pieces);
      const out = new Outbox();
      refillOthers(context, out);
      out.flush(self);
    },
    /** The storage hears which files are skipped now (it creates none of them; see src/io/part-file.ts). */
    tellStorage: enqueueActions(({ context, enqueue }) => {
      const files = context.info.files;
      if (!files) return;
      enqueue.sendTo('storage', { type: 'storage.select', skippedFiles: skippedFiles(files, context.selection.files) });
    }),
    /** A new file priority or order (the picker follows in the named action `applySelection`). */
    select: assign(({ context, event }) => {
      const { selection, info } = context;
      if (event.type === 'torrent.setSequential')
        return { selection: { ...selection, sequential: event.sequential, version: selection.version + 1 } };
      if (event.type !== 'torrent.setFilePriority') return {};
      const files = [...selection.files];
      while (files.length < event.index) files.push('normal');
      files[event.index] = event.priority;
      return { selection: selectionOf(info, files, selection.sequential, selection.version + 1) };
    }),
    advanceClock: assign(({ context }) => ({ clock: context.clock + context.settings.tickMs })),
    /** A web seed's piece arrived: its bytes, at the torrent's clock, count in its download rate. */
    countWebSeedBytes: assign(({ context, event }) => {
      if (event.type !== 'webseed.data') return {};
      const e = context.webseeds[event.key];
      if (!e) return {};
      const down = addBytes(e.down, event.data.length, context.clock);
      return { webseeds: { ...context.webseeds, [event.key]: { ...e, down } } };
    }),
    /** One web seed actor per usable URL (once: a torrent back from `complete` keeps its own). */
    spawnWebSeeds: assign(({ context, spawn, self }) => {
      const { info } = context;
      if (!info.layout || info.pieceCount === 0 || Object.keys(context.webseeds).length > 0) return {};
      const webseeds: Record<string, WebSeedEntry> = {};
      for (const url of usableWebSeeds(info.webSeeds ?? [])) {
        const key = webSeedKey(url);
        const ref = spawn('webseed', {
          id: `webseed:${url}`,
          input: {
            key,
            url,
            layout: info.layout,
            geometry: geometryOf(info),
            report: self,
            settings: context.settings.webSeed,
          },
        });
        webseeds[key] = { ref, url, down: rateWindow() };
      }
      return { webseeds };
    }),
    emitReport: enqueueActions(({ enqueue }, report: TorrentReport) => {
      enqueue.emit(report);
    }),
    /** Sends the announcer fresh counters when they changed (trackers read them at their next announce). */
    updateAnnouncer: enqueueActions(({ context, enqueue }) => {
      if (!context.announcing) return;
      const stats = statsOf(context);
      const a = context.announced;
      if (a && a.downloaded === stats.downloaded && a.uploaded === stats.uploaded && a.left === stats.left) return;
      enqueue.sendTo('announcer', { type: 'announcer.stats', stats });
      enqueue.assign({ announced: stats });
    }),
    /**
     * BEP 11: each peer that takes `ut_pex` is told, at most once a minute (the torrent's clock), which
     * peers we connected to and dropped since its last round. Nothing new: no message (the round counts).
     */
    sendPex: enqueueActions(({ context, enqueue }) => {
      if (!usesPex(context)) return;
      let current: PexPeer[] | undefined;
      let peers: Record<string, PeerEntry> | undefined;
      for (const [key, e] of Object.entries(context.peers)) {
        if (!e.pex || e.peerId === undefined || !pexDue(context.clock, e.pex.at)) continue;
        current ??= pexPeersOf(context);
        const to = listenAddressOf(e) ?? e.address;
        const { message, sent } = nextPexMessage(current, e.pex.sent, { to });
        if (message) enqueue.sendTo(e.ref, { type: 'peer.sendPex', message });
        // A round with nothing to say still counts (as libtorrent's per-connection minute does): a peer
        // hears of a newcomer at its next round, while the newcomer hears of it at once — so the two do
        // not dial each other at the same moment (two libtorrent peers doing so drop both connections).
        peers ??= { ...context.peers };
        peers[key] = { ...e, pex: { sent, at: context.clock } };
      }
      if (peers) enqueue.assign({ peers });
    }),

    // Named actions on the services (returned unexecuted by transition(); run in order by a live actor).
    createPicker: ({ context, event }) => {
      if (event.type !== 'storage.ready') return;
      const have = Bitfield.fromBytes(event.have, context.info.pieceCount);
      const picker = new PiecePicker<string>({
        pieceLength: context.info.pieceLength,
        length: context.info.length,
        have,
        random: randomFrom(context.seed),
        priorities: pickablePriorities(context),
        sequential: context.selection.sequential,
      });
      context.svc.picker = picker;
      context.svc.buffers = new PieceBuffers((i) => picker.pieceBytes(i), {
        maxPendingBytes: context.settings.writeBacklogBytes,
      });
    },
    learnPeers: ({ context, event, self }) => {
      if (event.type !== 'announcer.peers' && event.type !== 'torrent.addPeers' && event.type !== 'peer.pexPeers')
        return;
      context.svc.book.addAll(event.peers);
      dialMore(context, self);
    },
    /** Addresses given before the torrent is active: remembered, dialled once it is. */
    rememberPeers: ({ context, event }) => {
      if (event.type === 'torrent.addPeers') context.svc.book.addAll(event.peers);
    },
    dialMore: ({ context, self }) => dialMore(context, self),
    /** Web seeds have every piece: the picker counts them as seeds. */
    addWebSeeds: ({ context }) => {
      for (const key of Object.keys(context.webseeds)) context.svc.picker?.addPeer(key, 'all');
    },
    /** A whole piece for the web seed that asks (the picker reserves every block of it), or none. */
    pickForWebSeed: ({ context, event, self }) => {
      if (event.type !== 'webseed.wants') return;
      const { picker, buffers } = context.svc;
      const out = new Outbox();
      const got = picker && buffers && requestBudget(context) > 0 ? picker.pickPiece(event.key) : undefined;
      out.webseed(event.key, got ? { type: 'webseed.assign', index: got.index } : { type: 'webseed.none' });
      out.flush(self);
    },
    /**
     * A web seed's piece: each block goes to the picker and the piece buffer as a peer's would; a piece
     * its bytes complete is written and hashed, and the web seed hears the verdict.
     */
    acceptWebSeedPiece: ({ context, event, self }) => {
      if (event.type !== 'webseed.data') return;
      const { picker, buffers } = context.svc;
      const out = new Outbox();
      let completed = false;
      if (picker && buffers && event.data.length === picker.pieceBytes(event.index)) {
        const blocks = picker.blockCount(event.index);
        for (let b = 0; b < blocks; b++) {
          const begin = b * picker.blockLength;
          const len = picker.blockBytes(event.index, b);
          const r = picker.blockReceived(event.key, event.index, begin, len);
          if (r.status !== 'accepted') continue;
          buffers.addBlock(event.index, begin, event.data.subarray(begin, begin + len));
          for (const other of r.cancel)
            out.peer(other, { type: 'peer.cancel', index: event.index, begin, length: len });
          if (!r.pieceComplete) continue;
          const data = buffers.take(event.index);
          if (!data) continue;
          completed = true;
          context.svc.webPending.set(event.index, event.key);
          out.storage({
            type: 'storage.write',
            index: event.index,
            data,
            ...(context.svc.smartBan.has(event.index) && { blockHashes: true }),
          });
        }
        // Blocks it was asked for that it did not complete (endgame duplicates) are its no longer.
        picker.releasePeer(event.key);
      }
      if (!completed) out.webseed(event.key, { type: 'webseed.taken', index: event.index });
      out.flush(self);
    },
    /** A web seed failed or left: what was reserved for it is wanted again, and the peers top up. */
    releaseWebSeed: ({ context, event, self }) => {
      if (event.type !== 'webseed.failed' && event.type !== 'webseed.dropped') return;
      const picker = context.svc.picker;
      if (!picker) return;
      if (event.type === 'webseed.dropped') picker.removePeer(event.key);
      else picker.releasePeer(event.key);
      const out = new Outbox();
      refillOthers(context, out);
      out.flush(self);
    },
    /**
     * The picker takes the context's selection; interest in each peer is told again, every peer tops up
     * (newly wanted pieces), and the wanted bytes still lacking come back as `torrent.selected`.
     */
    applySelection: ({ context, self }) => {
      const picker = context.svc.picker;
      if (!picker) return;
      picker.setPriorities(pickablePriorities(context));
      picker.setSequential(context.selection.sequential);
      const out = new Outbox();
      for (const key of Object.keys(context.peers)) {
        if (context.peers[key]!.peerId === undefined) continue;
        updateInterest(context, out, key);
        refill(context, out, key);
      }
      out.flush(self);
      self.send({
        type: 'torrent.selected',
        left: picker.wantedLeft + blockedLeft(context, picker),
        version: context.selection.version,
        verified: picker.verifiedCount,
      } satisfies TorrentEvent);
    },
    undial: ({ context }, params: { keys: string[] }) => {
      for (const key of params.keys) context.svc.book.release(key);
    },
    noteIncoming: ({ context, event }) => {
      if (event.type !== 'torrent.incoming') return;
      const rec = context.svc.book.add(event.address, { dialable: false });
      context.svc.book.markConnecting(rec.key);
    },
    admit: ({ context, event, self }) => {
      if (event.type !== 'peer.handshake') return;
      const picker = context.svc.picker!;
      // Until it says otherwise, the peer has nothing (BEP 3: the bitfield may be omitted).
      picker.addPeer(event.key, 'none');
      context.svc.book.setPeerId(event.key, toHex(event.peerId));
      const out = new Outbox();
      out.peer(event.key, { type: 'peer.admit', have: picker.bitfield().toBytes() });
      askForHashes(context, out);
      out.flush(self);
    },
    peerBitfield: ({ context, event, self }) => {
      if (event.type !== 'peer.bitfield') return;
      const pieces =
        event.pieces === 'all' || event.pieces === 'none'
          ? event.pieces
          : Bitfield.fromBytes(event.pieces, context.info.pieceCount);
      context.svc.picker!.addPeer(event.key, pieces);
      const out = new Outbox();
      updateInterest(context, out, event.key);
      closeIfUseless(context, out, event.key);
      out.flush(self);
    },
    peerHave: ({ context, event, self }) => {
      if (event.type !== 'peer.have') return;
      const out = new Outbox();
      takeHaves(context, out, event.key, event.pieces);
      out.flush(self);
    },
    /** Seeding: the peers we unchoke get BEP 6 suggestions of the pieces with the fewest copies (piece-picker.md). */
    suggestPieces: ({ context, event, self }) => {
      if (event.type !== 'choker.unchoke') return;
      const picker = context.svc.picker;
      if (!picker?.isComplete) return;
      const out = new Outbox();
      for (const key of event.keys) {
        const pieces = picker.suggestFor(key, SUGGEST_AHEAD);
        if (pieces.length > 0) out.peer(key, { type: 'peer.suggest', pieces });
      }
      out.flush(self);
    },
    pick: ({ context, event, self }) => {
      if (event.type !== 'peer.wants') return;
      const out = new Outbox();
      takeHaves(context, out, event.key, event.haves);
      pickFor(context, out, event.key, event.count, undefined, event);
      out.flush(self);
    },
    /** The liveness check's report: its haves, then a top-up of the free slots it names. */
    checkReport: ({ context, event, self }) => {
      if (event.type !== 'peer.stats') return;
      const out = new Outbox();
      takeHaves(context, out, event.key, event.haves);
      if (event.want !== undefined && event.want > 0) pickFor(context, out, event.key, event.want, undefined, event);
      out.flush(self);
    },
    acceptBlocks: ({ context, event, self }) => {
      if (event.type !== 'peer.blocks') return;
      const { picker, buffers } = context.svc;
      if (!picker || !buffers) return;
      const out = new Outbox();
      takeHaves(context, out, event.key, event.haves);
      for (const b of event.blocks) {
        const len = b.block.length;
        const r = picker.blockReceived(event.key, b.index, b.begin, len);
        if (r.status !== 'accepted') continue;
        // The block's bytes are a view of the socket's read buffer: copied into its piece now.
        buffers.addBlock(b.index, b.begin, b.block);
        for (const other of r.cancel)
          out.peer(other, { type: 'peer.cancel', index: b.index, begin: b.begin, length: len });
        if (r.pieceComplete) {
          const data = buffers.take(b.index);
          // A piece that failed before is hashed block by block too: smart ban compares the copies.
          if (data)
            out.storage({
              type: 'storage.write',
              index: b.index,
              data,
              ...(context.svc.smartBan.has(b.index) && { blockHashes: true }),
            });
        }
      }
      if (event.want > 0) pickFor(context, out, event.key, event.want, event.batch, event);
      releaseHeldBack(context, out);
      out.flush(self);
    },
    /** Requests a peer gave back; after a reject, the top-up it asks for (and the haves riding along). */
    takeBack: ({ context, event, self }) => {
      if (event.type !== 'peer.returned') return;
      for (const r of event.requests) context.svc.picker?.rejected(event.key, r.index, r.begin);
      const out = new Outbox();
      takeHaves(context, out, event.key, event.haves);
      if (event.want !== undefined && event.want > 0) pickFor(context, out, event.key, event.want, undefined, event);
      if (context.svc.picker) releaseHeldBack(context, out);
      out.flush(self);
    },
    peerGone: ({ context, event, self }) => {
      if (event.type !== 'peer.closed') return;
      const { svc } = context;
      // Whatever was requested from it goes back to wanted; let the others take it.
      svc.picker?.removePeer(event.key);
      svc.interest.delete(event.key);
      svc.heldBack.delete(event.key);
      svc.book.markClosed(event.key, { useful: event.downloaded > 0, retry: !FATAL.has(event.reason) });
      svc.hashes?.peerGone(event.key);
      svc.blockHashes.peerGone(event.key);
      const out = new Outbox();
      refillOthers(context, out, event.key);
      askForHashes(context, out);
      askForBlockHashes(context, out);
      out.flush(self);
      dialMore(context, self);
    },
    pieceVerified: ({ context, event, self }) => {
      if (event.type !== 'storage.verified') return;
      const { picker, buffers } = context.svc;
      buffers!.done(event.index);
      const { smartBan } = context.svc;
      context.svc.blockHashes.forget(event.index);
      if (smartBan.has(event.index)) {
        const liars = event.blockHashes ? smartBan.verified(event.index, event.blockHashes) : [];
        if (!event.blockHashes) smartBan.forget(event.index);
        const guilty = liars.flatMap(
          (key) =>
            guiltyOf(context, key, `sent blocks of piece ${event.index} that differ from its verified copy`) ?? [],
        );
        if (guilty.length > 0)
          self.send({ type: 'torrent.struck', kind: 'smartBan', index: event.index, peers: liars, guilty });
      }
      const out = new Outbox();
      const web = context.svc.webPending.get(event.index);
      if (web !== undefined) {
        context.svc.webPending.delete(event.index);
        out.webseed(web, { type: 'webseed.verified', index: event.index });
      }
      for (const { peer, request } of picker!.pieceVerified(event.index))
        out.peer(peer, { type: 'peer.cancel', ...request });
      // Announced at the next tick (`peer.tick`), with the others verified by then.
      context.svc.haves.pending.push(event.index);
      // Our new piece may leave a peer with nothing we lack.
      for (const key of Object.keys(context.peers))
        if (context.svc.interest.get(key) === true) updateInterest(context, out, key);
      // A piece left the write backlog: the requests held back for it may go out now.
      releaseHeldBack(context, out);
      out.flush(self);
    },
    pieceFailed: ({ context, event, self }) => {
      if (event.type !== 'storage.hashFailed') return;
      const { picker, buffers, smartBan } = context.svc;
      buffers!.done(event.index);
      const senders = picker!.sendersOf(event.index);
      const peers = picker!.pieceFailed(event.index);
      const guilty: Guilty[] = [];
      if (peers.length === 1) {
        // Every block came from one peer: nobody else can be to blame.
        const g = guiltyOf(context, peers[0]!, `sent every block of piece ${event.index}, which failed its hash`);
        if (g) guilty.push(g);
      } else {
        smartBan.failed(event.index, senders, event.blockHashes);
        // BEP 52: the piece's leaves, proven by a peer, will name the bad blocks' senders at once.
        const proof = blockProofOf(context.info.files, context.info.pieceLength, context.info.hashTrees, event.index);
        if (proof) context.svc.blockHashes.failed(event.index, senders, event.blockHashes, proof);
      }
      self.send({ type: 'torrent.struck', kind: 'hashFailed', index: event.index, peers, guilty });
      // The piece's blocks are wanted again.
      const out = new Outbox();
      askForBlockHashes(context, out);
      const web = context.svc.webPending.get(event.index);
      if (web !== undefined) {
        context.svc.webPending.delete(event.index);
        out.webseed(web, { type: 'webseed.bad', index: event.index });
      }
      refillOthers(context, out);
      out.flush(self);
    },
    closeSeeds: ({ context, self }) => {
      const out = new Outbox();
      for (const key of Object.keys(context.peers)) closeIfUseless(context, out, key);
      out.flush(self);
    },
    /** Hash requests timed out or never sent (no peer was free) go out now. */
    askForHashes: ({ context, self }) => {
      const out = new Outbox();
      askForHashes(context, out);
      out.flush(self);
    },
    /**
     * A peer's `hashes`: a proven range is kept; a layer made whole goes to the storage actor (its pieces
     * can be verified now; those on disk are checked first: `takeCheckedLayer`); hashes that do not prove
     * get the peer banned.
     */
    acceptHashes: ({ context, event, self }) => {
      if (event.type !== 'peer.hashes') return;
      const hashes = context.svc.hashes;
      if (!hashes) return;
      const verdict = hashes.received(event.key, event.range, event.hashes, context.clock);
      if (verdict === 'unasked') return;
      const out = new Outbox();
      if (verdict === 'bad') {
        const g = guiltyOf(context, event.key, 'sent BEP 52 hashes that do not prove against the pieces root');
        self.send({ type: 'torrent.struck', kind: 'badHashes', index: -1, peers: [event.key], guilty: g ? [g] : [] });
      }
      const whole = hashes.takeCompleted();
      for (const { file, layer } of whole) out.storage({ type: 'storage.layer', file, layer });
      if (whole.length > 0) self.send({ type: 'torrent.layers', layers: whole } satisfies TorrentEvent);
      askForHashes(context, out);
      out.flush(self);
    },
    /**
     * A fetched layer's file was checked on disk (`storage.layerChecked`): the pieces found there are ours
     * (the picker marks them, peers hear `have`), the file's other pieces are picked from now on.
     */
    takeCheckedLayer: ({ context, event, self }) => {
      if (event.type !== 'storage.layerChecked') return;
      const picker = context.svc.picker;
      if (!picker || !context.svc.hashes?.layerChecked(event.file)) return;
      const out = new Outbox();
      const found = foundOnDisk(context.info, event);
      for (const index of found)
        for (const { peer, request } of picker.pieceVerified(index))
          out.peer(peer, { type: 'peer.cancel', ...request });
      if (found.length > 0) {
        const have = picker.bitfield().toBytes();
        for (const key of Object.keys(context.peers)) out.peer(key, { type: 'peer.announce', pieces: found, have });
      }
      picker.setPriorities(pickablePriorities(context));
      for (const key of Object.keys(context.peers)) {
        if (context.peers[key]!.peerId === undefined) continue;
        updateInterest(context, out, key);
        refill(context, out, key);
      }
      out.flush(self);
    },
    /** A peer's `hash reject`: the range is asked of another peer. */
    hashRejected: ({ context, event, self }) => {
      if (event.type !== 'peer.hashReject' || !context.svc.hashes?.rejected(event.key, event.range, context.clock))
        return;
      const out = new Outbox();
      askForHashes(context, out);
      out.flush(self);
    },
    /** BEP 52 block blame: layer-0 requests timed out or never sent (no peer had the piece) go out now. */
    askForBlockHashes: ({ context, self }) => {
      const out = new Outbox();
      askForBlockHashes(context, out);
      out.flush(self);
    },
    /**
     * A peer's `hashes` of layer 0 for a failed piece: the senders of the blocks whose leaf differs from
     * the proven one are struck (`badBlock`), and only they; hashes that do not prove are the answering
     * peer's fault. Answers not asked by block blame are left to `acceptHashes`.
     */
    acceptBlockHashes: ({ context, event, self }) => {
      if (event.type !== 'peer.hashes') return;
      const verdict = context.svc.blockHashes.received(event.key, event.range, event.hashes);
      if (verdict === 'unasked') return;
      if (verdict === 'bad') {
        const g = guiltyOf(context, event.key, 'sent BEP 52 block hashes that do not prove against the piece hash');
        self.send({ type: 'torrent.struck', kind: 'badHashes', index: -1, peers: [event.key], guilty: g ? [g] : [] });
      } else if (verdict.guilty.length > 0) {
        // The smart ban's copies are those just judged: no second verdict on them when a copy verifies.
        context.svc.smartBan.forget(verdict.index);
        const reason = `sent blocks of piece ${verdict.index} whose SHA-256 differs from the leaf hash a peer proved (BEP 52)`;
        const guilty = verdict.guilty.flatMap((key) => guiltyOf(context, key, reason) ?? []);
        if (guilty.length > 0)
          self.send({ type: 'torrent.struck', kind: 'badBlock', index: verdict.index, peers: verdict.guilty, guilty });
      }
      const out = new Outbox();
      askForBlockHashes(context, out);
      out.flush(self);
    },
    /** A peer's `hash reject` of a block-blame request: another peer is asked. */
    blockHashRejected: ({ context, event, self }) => {
      if (event.type !== 'peer.hashReject' || !context.svc.blockHashes.rejected(event.key, event.range)) return;
      const out = new Outbox();
      askForBlockHashes(context, out);
      out.flush(self);
    },
    tickBook: ({ context, self }) => {
      context.svc.book.tick(context.settings.tickMs);
      dialMore(context, self);
    },
    /**
     * The tick, for every peer: `peer.tick` (its liveness check and counters), carrying the pieces verified
     * since the last tick (see ourNewPieces), one object shared by all.
     */
    tickPeers: ({ context, self }) => {
      const out = new Outbox();
      const tick = { type: 'peer.tick' as const, elapsedMs: context.settings.tickMs, ...ourNewPieces(context) };
      for (const key of Object.keys(context.peers)) out.peer(key, tick);
      out.flush(self);
    },
    /** Complete: every verified piece is announced now (peers learn at once that we are a seed). */
    flushHaves: ({ context, self }) => {
      const out = new Outbox();
      announceHaves(context, out);
      out.flush(self);
    },
    /** Complete: the free piece buffers go (a seed needs none; a new selection allocates again). */
    freeBuffers: ({ context }) => context.svc.buffers?.trim(),

    // The `metadata` state's named actions: the assembler (a service) is touched only here.
    askMetadata: ({ context, self }) => {
      const out = new Outbox();
      askMetadata(context, out);
      out.flush(self);
    },
    /** Requests older than the assembler's timeout: their pieces go to other peers (or the same, later). */
    expireMetadata: ({ context, self }) => {
      context.svc.assembler?.expire(context.clock);
      const out = new Outbox();
      askMetadata(context, out);
      out.flush(self);
    },
    metadataPiece: ({ context, event, self }) => {
      if (event.type !== 'meta.data') return;
      const asm = context.svc.assembler;
      if (!asm) return;
      const r = asm.received(event.key, event.piece, event.data, context.clock);
      const out = new Outbox();
      if (r.kind === 'invalid')
        out.meta(event.key, {
          type: 'meta.close',
          reason: 'protocol-error',
          detail: 'a metadata piece of the wrong length',
        });
      if (r.kind === 'accepted') askMetadata(context, out);
      out.flush(self);
      if (r.kind === 'corrupt') {
        context.svc.assembler = undefined;
        context.svc.solo = undefined;
        self.send({ type: 'torrent.metadataCorrupt', peers: r.peers } satisfies TorrentEvent);
      }
      if (r.kind === 'complete') {
        const torrent = torrentFileOf(r.info, context.info.announce);
        const v2 = context.info.infoHashV2;
        if (v2 && !equalBytes(sha256(r.info), v2)) {
          // The dictionary the v1 hash names is not the one the v2 hash names: the link's halves disagree.
          self.send({
            type: 'torrent.metadataInvalid',
            code: 'BT_ERR_MAGNET_HYBRID_MISMATCH',
            message: `the magnet link's hashes disagree: the info dictionary of its v1 hash ${context.info.infoHashHex} has SHA-256 ${toHex(sha256(r.info))}, not its v2 hash ${toHex(v2)}`,
          } satisfies TorrentEvent);
          return;
        }
        try {
          self.send({ type: 'torrent.metadata', meta: parseMetainfo(torrent), torrent } satisfies TorrentEvent);
        } catch (err) {
          const code = err instanceof BtError ? err.code : 'BT_ERR_METAINFO';
          self.send({
            type: 'torrent.metadataInvalid',
            code,
            message: `the info dictionary from the peers is invalid: ${(err as Error).message}`,
          } satisfies TorrentEvent);
        }
      }
    },
    metadataRejected: ({ context, event, self }) => {
      if (event.type !== 'meta.reject') return;
      context.svc.assembler?.rejected(event.key, event.piece, context.clock);
      const out = new Outbox();
      askMetadata(context, out);
      out.flush(self);
    },
    metaPeerGone: ({ context, event, self }) => {
      if (event.type !== 'meta.closed') return;
      const { svc } = context;
      svc.assembler?.peerGone(event.key);
      if (svc.solo === event.key) svc.solo = undefined;
      // A peer without the metadata may have it later, and serves data once we know it: not dead.
      const fatal = event.reason === 'self' || event.reason === 'info-hash-mismatch' || event.reason === 'bad-data';
      svc.book.markClosed(event.key, { useful: false, retry: !fatal });
      const out = new Outbox();
      askMetadata(context, out);
      out.flush(self);
      dialMore(context, self);
    },
    /**
     * The info dictionary is known: the addresses of the metadata phase are dialled again from the next
     * tick on (the peers have seen the metadata connections close by then, and do not refuse the new
     * ones as duplicates of them).
     */
    metadataDone: ({ context }) => {
      const missing = context.info.missingLayers;
      if (missing && missing.length > 0)
        context.svc.hashes = new HashFetch(missing, context.info.pieceLength, HASH_REQUEST_TIMEOUT_MS);
      context.svc.assembler = undefined;
      context.svc.solo = undefined;
      context.svc.book.retryAllAfter(0);
    },
  },
}).createMachine({
  id: 'torrent',
  context: ({ input }) => {
    const settings = { ...defaultTorrentSettings, ...input.settings };
    const selection = {
      ...selectionOf(input.info, input.filePriorities ?? [], input.sequential ?? false),
      ...(input.otherFiles && { others: input.otherFiles }),
    };
    const book = new PeerBook();
    for (const p of input.peers ?? []) book.add(p);
    const c: TorrentContext = {
      info: input.info,
      peerId: input.peerId,
      settings,
      // No seed and no source: a fixed one (the engine always gives one, from its runtime's randomness).
      seed: input.seed ?? (input.random ? seedFrom(input.random) : DEFAULT_SEED),
      svc: {
        book,
        picker: undefined,
        buffers: undefined,
        interest: new Map(),
        heldBack: new Set(),
        haves: { pending: [] },
        smartBan: new SmartBan(),
        blockHashes: new BlockHashes(HASH_REQUEST_TIMEOUT_MS),
        assembler: undefined,
        solo: undefined,
        webPending: new Map(),
        hashes:
          input.info.missingLayers && input.info.missingLayers.length > 0
            ? new HashFetch(input.info.missingLayers, input.info.pieceLength, HASH_REQUEST_TIMEOUT_MS)
            : undefined,
      },
      peers: {},
      bans: [],
      clock: 0,
      selfKeys: new Set(input.selfKeys ?? []),
      listenPort: input.listenPort,
      dhtPort: input.dhtPort,
      spawned: 0,
      tally: {
        verifiedPieces: 0,
        left: selection.wanted,
        checked: 0,
        downloadedGone: 0,
        uploadedGone: 0,
        wasted: 0,
        fetched: 0,
        hashFailures: 0,
        known: book.size,
        diskFull: false,
      },
      progress: undefined as unknown as TorrentProgress,
      error: undefined,
      announcing: false,
      stopsPending: 0,
      announced: undefined,
      metadata: undefined,
      selection,
      webseeds: {},
    };
    c.progress = progressOf(c);
    return c;
  },
  invoke: { id: 'storage', src: 'storage' },
  initial: 'checking',
  on: {
    // File priorities and the order change in any state; the picker (once made) follows at once.
    'torrent.setFilePriority': { guard: 'isFileIndex', actions: ['select', 'applySelection', 'tellStorage'] },
    'torrent.setSequential': { actions: ['select', 'applySelection'] },
    'torrent.setDeadlines': { actions: 'applyDeadlines' },
    // A failed storage ends the torrent, but as any stop does: peers closed, trackers told `stopped`
    // (BEP 3: a tracker must not keep a dead port in its list), then `error`.
    'storage.error': {
      target: '.stopping',
      actions: [
        assign(({ event }) => ({ error: { code: event.code, message: event.message } })),
        {
          type: 'emitReport',
          params: ({ event }) => ({ type: 'torrent.error' as const, code: event.code, message: event.message }),
        },
      ],
    },
    'storage.diskFull': {
      actions: [
        assign(({ context }) => ({ tally: { ...context.tally, diskFull: true } })),
        'publish',
        {
          type: 'emitReport',
          params: ({ event }) => ({ type: 'torrent.diskFull' as const, message: event.message }),
        },
      ],
    },
    'storage.diskOk': {
      actions: [
        assign(({ context }) => ({ tally: { ...context.tally, diskFull: false } })),
        'publish',
        { type: 'emitReport', params: { type: 'torrent.diskOk' as const } },
      ],
    },
    'torrent.deliver': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        for (const m of event.out) {
          if (m.to === 'storage') enqueue.sendTo('storage', m.event);
          else if (m.to === 'webseed') {
            const e = context.webseeds[m.key];
            if (e) enqueue.sendTo(e.ref, m.event);
          } else if (m.to === 'meta') {
            const e = context.metadata?.peers[m.key];
            if (e) enqueue.sendTo(e.ref, m.event);
          } else {
            // A peer that closed meanwhile is gone from the table (its report came first).
            const e = context.peers[m.key];
            if (e) enqueue.sendTo(e.ref, m.event);
          }
        }
      }),
    },
    'torrent.addPeers': { actions: 'rememberPeers' },
    // A connection routed to us while we do not take peers (checking, stopping) is refused.
    'torrent.incoming': {
      actions: enqueueActions(({ event, enqueue }) =>
        enqueue.emit({ type: 'torrent.refused', address: event.address, transport: event.transport }),
      ),
    },
  },
  states: {
    /**
     * Only the info hash is known (a magnet link): peers from the link, the trackers, incoming connections
     * and `torrent.addPeers` are dialled as metadata peers, and the info dictionary is fetched from those
     * that advertise `metadata_size` (BEP 9) through the assembler. Trackers are told `left` 0 (unknown).
     */
    metadata: {
      entry: [
        enqueueActions(({ context, enqueue, self }) => {
          const stats = statsOf(context);
          enqueue.spawnChild('announcer', {
            id: 'announcer',
            input: { tiers: context.info.announce, stats, settings: context.settings.tracker, report: self },
          });
          enqueue.sendTo('announcer', { type: 'announcer.start' });
          enqueue.assign({ announcing: true, announced: stats });
        }),
        'dialMore',
        'publish',
      ],
      initial: 'fetching',
      states: {
        fetching: {
          after: {
            tick: {
              target: 'fetching',
              reenter: true,
              actions: ['tickBook', 'advanceClock', 'expireMetadata', 'publish'],
            },
          },
        },
      },
      on: {
        'announcer.peers': { actions: [{ type: 'emitReport', params: ({ event }) => event }, 'learnPeers'] },
        'announcer.tracker': { actions: { type: 'emitReport', params: ({ event }) => event } },
        'torrent.addPeers': { actions: 'learnPeers' },
        'torrent.dial': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const phase = context.metadata!;
            const { dial, skip } = chooseDials(context, event.peers, metaCount(context), (key) => !!phase.peers[key]);
            enqueue.assign(({ context: c, spawn, self }) => {
              const peers = { ...c.metadata!.peers };
              let spawned = c.spawned;
              for (const address of dial) {
                const key = peerKey(address);
                const { infoHash, other } = dialHashes(c, address);
                const ref = spawn('metaPeer', {
                  id: `meta:${key}#${++spawned}`,
                  input: {
                    key,
                    address: plainAddress(address),
                    direction: 'outgoing',
                    infoHash,
                    ...(other && { altInfoHash: other }),
                    peerId: c.peerId,
                    report: self,
                    settings: c.settings.peer,
                    ...(c.listenPort !== undefined && { listenPort: c.listenPort }),
                  },
                });
                peers[key] = { ref, address: plainAddress(address), peerId: undefined, size: undefined };
              }
              return { metadata: { ...c.metadata!, peers }, spawned, tally: { ...c.tally, known: event.known } };
            });
            if (skip.length > 0) enqueue({ type: 'undial', params: { keys: skip } });
          }),
        },
        'torrent.incoming': {
          guard: 'canAdmitMetaPeer',
          actions: [
            assign(({ context, event, spawn, self }) => {
              const key = peerKey(event.address);
              const spawned = context.spawned + 1;
              const ref = spawn('metaPeer', {
                id: `meta:${key}#${spawned}`,
                input: {
                  key,
                  address: event.address,
                  direction: 'incoming',
                  infoHash: context.info.infoHash,
                  ...(context.info.hybridV2Hash && { altInfoHash: context.info.hybridV2Hash }),
                  peerId: context.peerId,
                  report: self,
                  settings: context.settings.peer,
                  transport: event.transport,
                  ...(context.listenPort !== undefined && { listenPort: context.listenPort }),
                },
              });
              const entry: MetaPeerEntry = { ref, address: event.address, peerId: undefined, size: undefined };
              return {
                metadata: { ...context.metadata!, peers: { ...context.metadata!.peers, [key]: entry } },
                spawned,
              };
            }),
            'noteIncoming',
          ],
        },
        'meta.handshake': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const phase = context.metadata!;
            const e = phase.peers[event.key];
            if (!e) return;
            // A banned peer back from another port (its peer id gives it away).
            if (banOf(context.bans, e.address, event.peerId, context.clock)) {
              enqueue.sendTo(e.ref, { type: 'meta.close', reason: 'bad-data', detail: 'banned for bad data' });
              return;
            }
            enqueue.assign({
              metadata: { ...phase, peers: { ...phase.peers, [event.key]: { ...e, peerId: event.peerId } } },
            });
            enqueue.emit({ type: 'torrent.peer', key: event.key, event: 'connected' });
          }),
        },
        'meta.ready': {
          actions: [
            assign(({ context, event }) => {
              const phase = context.metadata!;
              const e = phase.peers[event.key];
              if (!e) return {};
              return {
                metadata: { ...phase, peers: { ...phase.peers, [event.key]: { ...e, size: event.metadataSize } } },
              };
            }),
            'askMetadata',
            'publish',
          ],
        },
        'meta.data': { actions: 'metadataPiece' },
        'meta.reject': { actions: 'metadataRejected' },
        'meta.closed': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              const phase = context.metadata!;
              const e = phase.peers[event.key];
              const peers = { ...phase.peers };
              delete peers[event.key];
              enqueue.assign({ metadata: { ...phase, peers } });
              if (e) enqueue(stopChild(e.ref));
              enqueue.emit({
                type: 'torrent.peer',
                key: event.key,
                event: 'closed',
                reason: event.reason,
                ...(event.detail !== undefined && { detail: event.detail }),
              });
            }),
            'metaPeerGone',
            'publish',
          ],
        },
        // Every sender of a bad assembly is struck; one struck twice is banned (and closed).
        'torrent.metadataCorrupt': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              const phase = context.metadata!;
              const strikes = { ...phase.strikes };
              let bans = context.bans;
              const banned: BannedPeer[] = [];
              for (const key of event.peers) {
                strikes[key] = (strikes[key] ?? 0) + 1;
                const e = phase.peers[key];
                if (strikes[key]! < 2 || !e) continue;
                const reason = 'sent metadata that failed its hash, twice';
                bans = addBan(bans, { address: e.address, peerId: e.peerId, reason }, context.clock, context.settings);
                banned.push({ peer: key, reason });
                enqueue.sendTo(e.ref, { type: 'meta.close', reason: 'bad-data', detail: reason });
              }
              enqueue.assign({ metadata: { ...phase, strikes }, bans });
              enqueue.emit({ type: 'torrent.metadataFailed', peers: event.peers, banned });
            }),
            'askMetadata',
          ],
        },
        'torrent.metadata': {
          target: 'checking',
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              // The metadata connections end; the full peer machine dials the same addresses once checked.
              for (const e of Object.values(context.metadata!.peers)) enqueue(stopChild(e.ref));
              // The announcer of this phase told the trackers `left` 0; the next one tells them the truth.
              enqueue(stopChild('announcer'));
              const info = infoOf(event.meta, context.info.announce, context.info.webSeeds ?? []);
              const { files, sequential, others } = context.selection;
              // Priorities given for files the torrent does not have are dropped; those not given are `others`.
              const count = fileCountOf(info) ?? files.length;
              const given = [...files.slice(0, count)];
              while (others && given.length < count) given.push(others);
              const selection = selectionOf(info, given, sequential);
              enqueue.assign({
                info,
                metadata: undefined,
                announcing: false,
                announced: undefined,
                selection,
                tally: { ...context.tally, left: selection.wanted },
              });
              enqueue.sendTo('storage', { type: 'storage.open', meta: event.meta, torrent: event.torrent });
              const skipped = skippedFiles(info.files ?? [], selection.files);
              if (skipped.length > 0) enqueue.sendTo('storage', { type: 'storage.select', skippedFiles: skipped });
            }),
            'metadataDone',
            'publish',
            {
              type: 'emitReport',
              params: ({ event }) => ({
                type: 'torrent.metadata' as const,
                meta: event.meta,
                name: event.meta.name,
                length: event.meta.length,
                pieceLength: event.meta.pieceLength,
                pieces: event.meta.pieceCount,
                files: event.meta.files.filter((f) => !f.padding).length,
                private: event.meta.private,
              }),
            },
          ],
        },
        'torrent.metadataInvalid': {
          target: 'stopping',
          actions: [
            assign(({ event }) => ({ error: { code: event.code, message: event.message } })),
            {
              type: 'emitReport',
              params: ({ event }) => ({ type: 'torrent.error' as const, code: event.code, message: event.message }),
            },
          ],
        },
        'torrent.stop': 'stopping',
      },
    },
    checking: {
      on: {
        // A torrent added from a magnet link: the storage has nothing to check until the info
        // dictionary is fetched (only the info hash, the link's name and trackers are known).
        'storage.needMetadata': {
          target: 'metadata',
          actions: assign({ metadata: { peers: {}, strikes: {} } }),
        },
        'storage.checkProgress': {
          actions: [
            assign({ tally: ({ context, event }) => ({ ...context.tally, checked: event.checked }) }),
            'publish',
            {
              type: 'emitReport',
              params: ({ event }) => ({
                type: 'torrent.checking' as const,
                checked: event.checked,
                total: event.total,
                valid: event.valid,
              }),
            },
          ],
        },
        'storage.ready': {
          target: 'active',
          actions: [
            assign(({ context, event }) => {
              const have = Bitfield.fromBytes(event.have, context.info.pieceCount);
              const g = geometryOf(context.info);
              const { pieces, wanted } = context.selection;
              let left = wanted;
              have.forEach((i) => {
                if (pieces[i]! > 0) left -= pieceBytes(g, i);
              });
              return { tally: { ...context.tally, verifiedPieces: have.count, left } };
            }),
            'createPicker',
            'publish',
            {
              type: 'emitReport',
              params: ({ context }) => ({
                type: 'torrent.ready' as const,
                have: context.tally.verifiedPieces,
                total: context.info.pieceCount,
              }),
            },
          ],
        },
        'torrent.stop': 'stopping',
      },
    },
    active: {
      initial: 'routing',
      entry: [
        enqueueActions(({ context, enqueue, self }) => {
          const stats = statsOf(context);
          enqueue.spawnChild('announcer', {
            id: 'announcer',
            input: { tiers: context.info.announce, stats, settings: context.settings.tracker, report: self },
          });
          enqueue.sendTo('announcer', { type: 'announcer.start' });
          enqueue.spawnChild('choker', {
            id: 'choker',
            input: { settings: context.settings.choker, seed: context.seed ^ 0x5bd1e995, report: self },
          });
          enqueue.assign({ announcing: true, announced: stats });
        }),
        'spawnWebSeeds',
        'addWebSeeds',
        'publish',
        'dialMore',
      ],
      on: {
        // BEP 19 web seeds: a whole piece for each that asks; its bytes go the way of a peer's blocks.
        'webseed.wants': { actions: 'pickForWebSeed' },
        'webseed.data': { actions: ['countWebSeedBytes', 'acceptWebSeedPiece'] },
        'webseed.failed': {
          actions: [
            'releaseWebSeed',
            {
              type: 'emitReport',
              params: ({ context, event }) => ({
                type: 'torrent.webseed' as const,
                url: context.webseeds[event.key]?.url ?? event.key,
                event: 'failed' as const,
                code: event.code,
                message: event.message,
              }),
            },
          ],
        },
        'webseed.dropped': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              const e = context.webseeds[event.key];
              const webseeds = { ...context.webseeds };
              delete webseeds[event.key];
              enqueue.assign({ webseeds });
              if (e) enqueue(stopChild(e.ref));
            }),
            'releaseWebSeed',
            'publish',
            {
              type: 'emitReport',
              params: ({ event }) => ({
                type: 'torrent.webseed' as const,
                url: event.url,
                event: 'dropped' as const,
                code: event.code,
                message: event.message,
              }),
            },
          ],
        },
        'announcer.peers': { actions: [{ type: 'emitReport', params: ({ event }) => event }, 'learnPeers'] },
        'announcer.tracker': { actions: { type: 'emitReport', params: ({ event }) => event } },
        'torrent.addPeers': { actions: 'learnPeers' },
        'torrent.reannounce': { actions: sendTo('announcer', { type: 'announcer.reannounce' }) },
        'torrent.dial': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              const { dial, skip } = chooseDials(
                context,
                event.peers,
                Object.keys(context.peers).length,
                (key) => !!context.peers[key],
                true,
              );
              enqueue.assign(({ context: c, spawn, self }) => {
                const peers = { ...c.peers };
                let spawned = c.spawned;
                for (const address of dial) {
                  const key = peerKey(address);
                  const ref = spawn('peer', {
                    id: `peer:${key}#${++spawned}`,
                    input: {
                      key,
                      address: plainAddress(address),
                      direction: 'outgoing',
                      torrent: dialTorrent(c, address),
                      report: self,
                      settings: c.settings.peer,
                    },
                  });
                  peers[key] = newEntry(ref, plainAddress(address), 'outgoing', c.clock);
                }
                return { peers, spawned, tally: { ...c.tally, known: event.known } };
              });
              if (skip.length > 0) enqueue({ type: 'undial', params: { keys: skip } });
            }),
            // The peers dialled and the peers known are in the progress at once (not a tick later).
            'publish',
          ],
        },
        'torrent.incoming': [
          {
            guard: 'canAdmitIncoming',
            actions: [
              // Full: the least useful peer makes room (it closes; the newcomer is taken now).
              enqueueActions(({ context, enqueue }) => {
                if (Object.keys(context.peers).length < context.settings.maxConnections) return;
                const victim = evictable(context);
                if (victim)
                  enqueue.sendTo(context.peers[victim]!.ref, {
                    type: 'peer.close',
                    reason: 'not-useful',
                    detail: 'idle: evicted for a new connection',
                  });
              }),
              assign(({ context, event, spawn, self }) => {
                const key = peerKey(event.address);
                const spawned = context.spawned + 1;
                const ref = spawn('peer', {
                  id: `peer:${key}#${spawned}`,
                  input: {
                    key,
                    address: event.address,
                    direction: 'incoming',
                    torrent: peerTorrent(context),
                    report: self,
                    settings: context.settings.peer,
                    transport: event.transport,
                  },
                });
                return {
                  peers: { ...context.peers, [key]: newEntry(ref, event.address, 'incoming', context.clock) },
                  spawned,
                };
              }),
              'noteIncoming',
            ],
          },
          {
            actions: enqueueActions(({ event, enqueue }) =>
              enqueue.emit({ type: 'torrent.refused', address: event.address, transport: event.transport }),
            ),
          },
        ],
        'peer.handshake': [
          {
            // A banned peer back from another port (its peer id gives it away).
            guard: 'isBanned',
            actions: enqueueActions(({ context, event, enqueue }) => {
              const e = context.peers[event.key];
              if (e) enqueue.sendTo(e.ref, { type: 'peer.close', reason: 'bad-data', detail: 'banned for bad data' });
            }),
          },
          {
            guard: 'isDuplicate',
            actions: enqueueActions(({ context, event, enqueue }) => {
              const e = context.peers[event.key];
              if (e) enqueue.sendTo(e.ref, { type: 'peer.close', reason: 'duplicate' });
            }),
          },
          {
            actions: [
              assign(({ context, event }) => {
                const e = context.peers[event.key];
                if (!e) return {};
                const entry = {
                  ...e,
                  peerId: toHex(event.peerId),
                  encryption: event.encryption,
                  hashes: speaksV2(context.info, event),
                };
                return { peers: { ...context.peers, [event.key]: entry } };
              }),
              {
                type: 'emitReport',
                params: ({ event }) => ({
                  type: 'torrent.peer' as const,
                  key: event.key,
                  event: 'connected' as const,
                  encryption: event.encryption,
                }),
              },
              'admit',
            ],
          },
        ],
        'peer.bitfield': { actions: 'peerBitfield' },
        'peer.have': { actions: 'peerHave' },
        'peer.wants': { actions: 'pick' },
        'peer.blocks': { actions: 'acceptBlocks' },
        'peer.returned': { actions: 'takeBack' },
        'peer.hashes': { actions: ['acceptHashes', 'acceptBlockHashes'] },
        // The fetched layers' trees join ours: peers connecting from now on are answered from them, and
        // every live peer (admitted or not yet) is given them.
        'torrent.layers': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const hashTrees = withFetchedTrees(context.info, event.layers);
            enqueue.assign({ info: { ...context.info, hashTrees } });
            for (const e of Object.values(context.peers)) enqueue.sendTo(e.ref, { type: 'peer.hashTrees', hashTrees });
          }),
        },
        'peer.hashReject': { actions: ['hashRejected', 'blockHashRejected'] },
        // BEP 52: a fetched layer's file checked on disk: what is there is verified without a download.
        'storage.layerChecked': {
          actions: [
            assign(({ context, event }) => {
              const g = geometryOf(context.info);
              const found = foundOnDisk(context.info, event);
              let left = context.tally.left;
              for (const i of found) if (context.selection.pieces[i]! > 0) left -= pieceBytes(g, i);
              return { tally: { ...context.tally, verifiedPieces: context.tally.verifiedPieces + found.length, left } };
            }),
            'takeCheckedLayer',
            'publish',
            enqueueActions(({ context, event, enqueue }) => {
              for (const index of foundOnDisk(context.info, event)) enqueue.emit({ type: 'torrent.piece', index });
              enqueue.raise({ type: 'torrent.verified' });
            }),
          ],
        },
        'peer.state': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const e = context.peers[event.key];
            if (!e) return;
            const view: PeerView = {
              peerInterested: event.peerInterested,
              amChoking: event.amChoking,
              snubbed: event.snubbed,
            };
            const peers = { ...context.peers, [event.key]: { ...e, view } };
            enqueue.assign({ peers });
            // A newly interested peer may have a free slot at once.
            if (view.peerInterested && !e.view.peerInterested) {
              enqueue.sendTo('choker', {
                type: 'choker.fill',
                peers: chokeCandidates({ ...context, peers }),
                seeding: isComplete(context),
              });
            }
          }),
        },
        'peer.stats': {
          actions: [
            assign(({ context, event }) => {
              const e = context.peers[event.key];
              const { downloaded, uploaded, downRate, upRate } = event;
              // A report for its haves or a top-up only: the entry stays as it is.
              if (
                !e ||
                (e.downloaded === downloaded &&
                  e.uploaded === uploaded &&
                  e.downRate === downRate &&
                  e.upRate === upRate)
              )
                return {};
              return { peers: { ...context.peers, [event.key]: { ...e, downloaded, uploaded, downRate, upRate } } };
            }),
            'checkReport',
          ],
        },
        'peer.extensions': {
          actions: assign(({ context, event }) => {
            const e = context.peers[event.key];
            if (!e) return {};
            const pex = event.pex ? (e.pex ?? { sent: NO_PEX_SENT, at: undefined }) : undefined;
            return { peers: { ...context.peers, [event.key]: { ...e, listenPort: event.port, pex } } };
          }),
        },
        // Peers a peer told us of go to the peer book, as a tracker's do (its caps bound them).
        'peer.pexPeers': { guard: 'usesPex', actions: 'learnPeers' },
        // BEP 5: a peer's DHT node, for the engine's DHT (reported; the torrent keeps nothing of it).
        'peer.dhtNode': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const e = context.peers[event.key];
            if (e)
              enqueue({
                type: 'emitReport',
                params: { type: 'torrent.dhtNode', host: e.address.host, port: event.port },
              });
          }),
        },
        'peer.closed': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              const e = context.peers[event.key];
              const peers = { ...context.peers };
              delete peers[event.key];
              enqueue.assign({
                peers,
                tally: {
                  ...context.tally,
                  downloadedGone: context.tally.downloadedGone + event.downloaded,
                  uploadedGone: context.tally.uploadedGone + event.uploaded,
                },
              });
              if (e) enqueue(stopChild(e.ref));
              enqueue.emit({
                type: 'torrent.peer',
                key: event.key,
                event: 'closed',
                reason: event.reason,
                ...(event.detail !== undefined && { detail: event.detail }),
              });
            }),
            'peerGone',
            'publish',
          ],
        },
        'choker.due': {
          actions: enqueueActions(({ context, enqueue }) => {
            enqueue.sendTo('choker', {
              type: 'choker.rechoke',
              peers: chokeCandidates(context),
              seeding: isComplete(context),
            });
          }),
        },
        'choker.unchoke': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              const unchoke = new Set(event.keys);
              for (const [key, e] of Object.entries(context.peers)) {
                if (e.peerId === undefined) continue;
                if (unchoke.has(key) && e.view.amChoking) enqueue.sendTo(e.ref, { type: 'peer.unchoke' });
                else if (!unchoke.has(key) && !e.view.amChoking) enqueue.sendTo(e.ref, { type: 'peer.choke' });
              }
            }),
            'suggestPieces',
          ],
        },
        'storage.verified': {
          actions: [
            assign(({ context, event }) => ({
              tally: {
                ...context.tally,
                verifiedPieces: context.tally.verifiedPieces + 1,
                left:
                  context.tally.left -
                  (context.selection.pieces[event.index]! > 0 ? pieceBytes(geometryOf(context.info), event.index) : 0),
                fetched: context.tally.fetched + pieceBytes(geometryOf(context.info), event.index),
              },
            })),
            'pieceVerified',
            'publish',
            { type: 'emitReport', params: ({ event }) => ({ type: 'torrent.piece' as const, index: event.index }) },
            enqueueActions(({ enqueue }) => enqueue.raise({ type: 'torrent.verified' })),
          ],
        },
        'storage.hashFailed': {
          actions: [
            assign(({ context, event }) => ({
              tally: {
                ...context.tally,
                hashFailures: context.tally.hashFailures + 1,
                wasted: context.tally.wasted + pieceBytes(geometryOf(context.info), event.index),
              },
            })),
            'pieceFailed',
          ],
        },
        'torrent.struck': {
          actions: [
            enqueueActions(({ context, event, enqueue }) => {
              if (event.guilty.length === 0) return;
              let bans = context.bans;
              const settings = context.settings;
              for (const g of event.guilty)
                bans = addBan(
                  bans,
                  { address: g.address, peerId: g.peerId, reason: g.reason },
                  context.clock,
                  settings,
                );
              // The guilty connections, and any other the new bans cover (the same IP, or the same peer id).
              for (const [key, e] of Object.entries(context.peers)) {
                const ban = banOf(bans, e.address, e.peerId, context.clock);
                if (ban)
                  enqueue.sendTo(e.ref, {
                    type: 'peer.close',
                    reason: 'bad-data',
                    detail: key === ban.address ? ban.reason : `banned with ${ban.address}: ${ban.reason}`,
                  });
              }
              enqueue.assign({ bans });
            }),
            'publish',
            {
              type: 'emitReport',
              params: ({ event }): TorrentReport => {
                const banned = event.guilty.map((g) => ({ peer: g.key, reason: g.reason }));
                return event.kind === 'hashFailed'
                  ? { type: 'torrent.hashFailed', index: event.index, peers: event.peers, banned }
                  : {
                      type: 'torrent.banned',
                      index: event.index,
                      banned,
                      ...(event.kind === 'badBlock' && { kind: 'badBlock' }),
                    };
              },
            },
          ],
        },
        'torrent.stop': '#torrent.stopping',
      },
      states: {
        routing: {
          always: [{ guard: 'isComplete', target: 'complete' }, { target: 'downloading' }],
        },
        downloading: {
          // A verified piece completes the torrent, or a selection that leaves nothing wanted to fetch.
          on: {
            'torrent.verified': { guard: 'isComplete', target: 'complete' },
            'torrent.selected': [
              { guard: 'isStaleSelection', actions: 'applySelection' },
              { guard: 'selectionDone', target: 'complete', actions: 'takeLeft' },
              { actions: ['takeLeft', 'publish', 'updateAnnouncer'] },
            ],
          },
          after: {
            tick: {
              target: 'downloading',
              reenter: true,
              actions: [
                'tickBook',
                'tickPeers',
                'advanceClock',
                'askForHashes',
                'askForBlockHashes',
                'publish',
                'updateAnnouncer',
                'sendPex',
              ],
            },
          },
        },
        complete: {
          entry: [
            'flushHaves',
            'freeBuffers',
            'publish',
            // Trackers hear `completed` with nothing left — once the whole torrent is here (a selection
            // that is done only tells them `left` 0).
            'updateAnnouncer',
            enqueueActions(({ context, enqueue }) => {
              if (hasEverything(context)) enqueue.sendTo('announcer', { type: 'announcer.completed' });
            }),
            // Seeds have nothing to give us and want nothing from us; leechers stay to be served.
            'closeSeeds',
            { type: 'emitReport', params: { type: 'torrent.complete' } },
          ],
          // Files selected since: back to downloading them.
          on: {
            'torrent.selected': [
              { guard: 'isStaleSelection', actions: 'applySelection' },
              { guard: 'selectionPending', target: 'downloading', actions: ['takeLeft', 'publish', 'updateAnnouncer'] },
              { actions: ['takeLeft', 'publish'] },
            ],
          },
          initial: 'seeding',
          states: {
            seeding: {
              // Complete torrents dial too: some leechers (Transmission on loopback) only get data when dialled.
              after: {
                tick: {
                  target: 'seeding',
                  reenter: true,
                  actions: ['tickBook', 'tickPeers', 'advanceClock', 'publish', 'updateAnnouncer', 'sendPex'],
                },
              },
            },
          },
        },
      },
    },
    stopping: {
      entry: [
        'updateAnnouncer',
        assign(({ context }) => ({ stopsPending: context.announcing ? 2 : 1 })),
        enqueueActions(({ context, enqueue }) => {
          for (const e of Object.values(context.peers))
            enqueue.sendTo(e.ref, { type: 'peer.close', reason: 'shutdown' });
          // Metadata connections and web seeds have nothing to finish: they end now.
          for (const e of Object.values(context.metadata?.peers ?? {})) enqueue(stopChild(e.ref));
          for (const e of Object.values(context.webseeds)) enqueue(stopChild(e.ref));
          enqueue.assign({ webseeds: {} });
          if (context.announcing) {
            enqueue.sendTo('announcer', { type: 'announcer.stop' });
            enqueue(stopChild('choker'));
          }
          enqueue.sendTo('storage', { type: 'storage.close' });
        }),
      ],
      always: [
        { guard: 'allStoppedAfterError', target: 'error' },
        { guard: 'allStopped', target: 'stopped' },
      ],
      after: { stopTimeout: [{ guard: 'hasFailed', target: 'error' }, { target: 'stopped' }] },
      on: {
        // Already stopping: the failure is recorded (the outcome is `error`), the stop goes on.
        'storage.error': [
          {
            guard: 'isFirstFailure',
            actions: [
              assign(({ event }) => ({ error: { code: event.code, message: event.message } })),
              {
                type: 'emitReport',
                params: ({ event }) => ({ type: 'torrent.error' as const, code: event.code, message: event.message }),
              },
            ],
          },
          {},
        ],
        'storage.closed': { actions: assign({ stopsPending: ({ context }) => context.stopsPending - 1 }) },
        'xstate.done.actor.announcer': { actions: assign({ stopsPending: ({ context }) => context.stopsPending - 1 }) },
        'announcer.tracker': { actions: { type: 'emitReport', params: ({ event }) => event } },
        'peer.closed': {
          actions: assign(({ context, event }) => {
            const peers = { ...context.peers };
            delete peers[event.key];
            const t = context.tally;
            return {
              peers,
              tally: {
                ...t,
                downloadedGone: t.downloadedGone + event.downloaded,
                uploadedGone: t.uploadedGone + event.uploaded,
              },
            };
          }),
        },
      },
    },
    stopped: { type: 'final', entry: 'publish' },
    error: { type: 'final', entry: 'publish' },
  },
});

function peerTorrent(c: TorrentContext): PeerTorrent {
  return {
    infoHash: c.info.infoHash,
    ...(c.info.hybridV2Hash && { hybridV2Hash: c.info.hybridV2Hash }),
    peerId: c.peerId,
    geometry: geometryOf(c.info),
    ...(c.info.private === true && { private: true }),
    ...(c.info.private !== true && c.info.infoBytes !== undefined && { metadata: c.info.infoBytes }),
    ...(usesPex(c) && { pex: true }),
    ...(c.listenPort !== undefined && { listenPort: c.listenPort }),
    // BEP 27: a private torrent says nothing of a DHT.
    ...(c.dhtPort !== undefined && c.info.private !== true && { dhtPort: c.dhtPort }),
    ...(c.info.hashTrees !== undefined && { hashTrees: c.info.hashTrees }),
    ...(hasV2(c.info) && { v2: true as const }),
  };
}

/** BEP 52: the torrent has a v2 half (a hybrid, or v2-only: its files have `pieces root`s). */
const hasV2 = (info: TorrentInfo): boolean =>
  info.hybridV2Hash !== undefined ||
  info.v2Only === true ||
  info.files?.some((f) => f.piecesRoot !== undefined) === true;

function newEntry(ref: PeerRef, address: PeerAddress, direction: 'outgoing' | 'incoming', since: number): PeerEntry {
  return {
    since,
    ref,
    address,
    direction,
    peerId: undefined,
    encryption: undefined,
    view: { peerInterested: false, amChoking: true, snubbed: false },
    downloaded: 0,
    uploaded: 0,
    downRate: 0,
    upRate: 0,
    listenPort: undefined,
    pex: undefined,
  };
}

export type TorrentMachine = typeof torrentMachine;
export { peerKey };
