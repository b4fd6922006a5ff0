/** The peer statechart's input, settings, and the events it exchanges with the torrent that owns it. */
import type { AnyActorRef } from 'xstate';
import type { HashTrees } from '../../protocol/hash-tree.js';
import type { HashRange } from '../../protocol/wire.js';
import type { BlockRequest, PieceGeometry } from '../../protocol/layout.js';
import type { PeerAddress } from '../../protocol/peer-address.js';
import type { PeerEncryption, PieceBlock } from '../../protocol/peer-wire-types.js';
import type { UtPexMessage } from '../../protocol/ut-pex.js';

/** Why a peer connection ended. */
export type CloseReason =
  | 'timeout'
  | 'protocol-error'
  | 'bad-data'
  | 'info-hash-mismatch'
  | 'self'
  | 'duplicate'
  | 'socket-error'
  | 'closed-by-peer'
  | 'not-useful'
  | 'shutdown';

export interface PeerSettings {
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** BEP 3: keep-alives every two minutes. */
  keepAliveIntervalMs: number;
  /** A peer that sends nothing for this long is dropped. */
  silenceLimitMs: number;
  /** A peer that sends no block for this long while we wait for some is snubbed. */
  snubTimeoutMs: number;
  /** Request queue depth: seconds of the peer's rate, and the bounds. */
  queueSeconds: number;
  minQueue: number;
  maxQueue: number;
  /** Longest block we serve (BEP 3 peers ask for 16 KiB; at most 128 KiB). */
  maxRequestLength: number;
  /** Requests a peer may have queued with us; past this it is flooding and is dropped. */
  maxQueuedRequests: number;
  /**
   * BEP 6: pieces of our allowed-fast set for a fast peer (computed from its address, announced for
   * the pieces we have, served while we choke it); 0 sends none. Default 5, as libtorrent.
   */
  allowedFastSetSize: number;
}

export const defaultPeerSettings: PeerSettings = {
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  keepAliveIntervalMs: 120_000,
  silenceLimitMs: 180_000,
  snubTimeoutMs: 60_000,
  queueSeconds: 3,
  minQueue: 8,
  maxQueue: 500,
  maxRequestLength: 16 * 1024,
  maxQueuedRequests: 2000,
  allowedFastSetSize: 5,
};

/** What a peer needs to know of its torrent (immutable data, copied into the peer's input). */
export interface PeerTorrent {
  infoHash: Uint8Array;
  /**
   * BEP 52: a hybrid torrent's v2 info hash as handshakes carry it (its SHA-256 cut to 20 bytes). A peer
   * may name the torrent by it instead of `infoHash`; an incoming one is answered with the hash it named.
   */
  hybridV2Hash?: Uint8Array;
  /** Our peer id (a connection to it is a connection to ourselves). */
  peerId: Uint8Array;
  geometry: PieceGeometry;
  /** BEP 27: a private torrent offers neither `ut_metadata` nor `ut_pex`, and ignores both. */
  private?: boolean;
  /** The torrent's info dictionary (bencoded), served over BEP 9 `ut_metadata`; absent: not offered. */
  metadata?: Uint8Array;
  /** BEP 11 `ut_pex` is offered (the torrent sends `peer.sendPex` and takes `peer.pexPeers`). */
  pex?: boolean;
  /** Our listening port, sent as `p` in our BEP 10 handshake (how a peer we dial can name us in PEX). */
  listenPort?: number;
  /**
   * BEP 5: our DHT node's UDP port when the torrent may use the DHT (not private): the handshake says we
   * run a DHT, a peer that says so too is sent a `port` message, and the `port` messages peers send are
   * reported (`peer.dhtNode`). Absent: no DHT, `port` messages ignored.
   */
  dhtPort?: number;
  /**
   * BEP 52: the merkle trees of the files whose piece layers we hold (src/protocol/hash-tree.ts), from
   * which peers' `hash request`s are answered; absent: every hash request is rejected.
   */
  hashTrees?: HashTrees;
  /**
   * BEP 52: the torrent has a v2 half (v2-only or hybrid): our handshake sets the v2 bit (reserved[7] &
   * 0x10), so a hybrid peer that supports v2 may answer with the v2 hash (libtorrent does).
   */
  v2?: true;
}

export interface PeerInput {
  /** The peer's address key (`peerKey`), also its key in the torrent's picker. */
  key: string;
  address: PeerAddress;
  direction: 'outgoing' | 'incoming';
  torrent: PeerTorrent;
  /** The actor that receives the peer's {@link PeerReport}s (its torrent). */
  report: AnyActorRef;
  settings?: Partial<PeerSettings>;
  /**
   * For an incoming connection: the transport's handle of the accepted connection, passed through to
   * the `wire` actor untouched (the machine never looks inside it).
   */
  transport?: unknown;
}

/** What the peer says about itself to the torrent (and so to the choker): `peer.state`. */
export interface PeerView {
  /** The peer is interested in our pieces. */
  peerInterested: boolean;
  /** We are choking the peer. */
  amChoking: boolean;
  /** The peer sits on our requests and sends nothing. */
  snubbed: boolean;
}

/**
 * BEP 6 hints with a request for blocks (`peer.wants`, `peer.blocks`): `only` — the peer chokes us, so
 * pick only blocks of these pieces (its allowed-fast set); `prefer` — pieces it suggested, to take
 * before others of the same priority. Absent when empty.
 */
export interface PickHints {
  only?: readonly number[];
  prefer?: readonly number[];
}

/**
 * `have`s the peer received and had not yet told the torrent, riding on a report it sends anyway
 * (`peer.wants`, `peer.blocks`, `peer.stats`): the torrent takes them before anything else the report
 * says. Absent when none wait.
 */
export interface NewHaves {
  haves?: readonly number[];
}

/**
 * `have`s of pieces we already have that a peer holds back before it sends them as one `peer.have`;
 * fewer wait for the next report, at most one tick.
 */
export const HAVE_BATCH = 32;

/** Events the peer actor sends to its parent (the torrent actor). */
export type PeerReport =
  /** The peer's handshake named our torrent: admit it (`peer.admit`) or close it (a duplicate). */
  | {
      type: 'peer.handshake';
      key: string;
      peerId: Uint8Array;
      fast: boolean;
      extended: boolean;
      /** BEP 52: the peer set the v2 bit. */
      v2: boolean;
      /** The info hash the connection runs under: the one the peer named (incoming) or answered with (outgoing). */
      infoHash: Uint8Array;
      /** How the connection is encrypted (MSE/PE), as its wire actor said with the handshake. */
      encryption: PeerEncryption;
    }
  /** What the peer has, as it first says it: a validated bitfield, or BEP 6 have-all / have-none. */
  | { type: 'peer.bitfield'; key: string; pieces: Uint8Array | 'all' | 'none' }
  /**
   * The peer's `have`s (indices checked), in the order received, that no other report carried
   * ({@link NewHaves}): sent at once for a piece we lack (a have may make the peer interesting, its
   * blocks can be asked for), otherwise when {@link HAVE_BATCH} are waiting.
   */
  | { type: 'peer.have'; key: string; pieces: readonly number[] }
  /**
   * The request pipeline has `count` free slots: pick blocks for it (answered with `peer.request`).
   * {@link PickHints}: while the peer chokes us, only its allowed-fast pieces; suggested pieces first.
   */
  | ({ type: 'peer.wants'; key: string; count: number } & PickHints & NewHaves)
  /**
   * Blocks the peer delivered that were outstanding to it, in order (their bytes are views of the
   * socket's buffer: copy them while handling the event). `want` free slots follow; a top-up smaller
   * than `batch` may wait (outside endgame).
   */
  | ({
      type: 'peer.blocks';
      key: string;
      blocks: readonly PieceBlock[];
      want: number;
      batch: number;
    } & PickHints &
      NewHaves)
  /**
   * Requests the peer will not answer (choked without BEP 6, rejected, or snubbed): back to the picker.
   * After a reject while requesting, `want` free slots to top up (as `peer.wants`).
   */
  | ({ type: 'peer.returned'; key: string; requests: readonly BlockRequest[]; want?: number } & PickHints & NewHaves)
  | ({ type: 'peer.state'; key: string } & PeerView)
  /**
   * The liveness check's report, at most one per check interval: counters and rates (sent while they
   * change, and once more when the rates fall to zero), `want` free slots of a requesting pipeline to
   * top up (blocks may have become wanted with no event of this peer: another one closed), and the
   * `have`s no other report carried. Sent only when one of the three has something to say.
   */
  | ({
      type: 'peer.stats';
      key: string;
      downloaded: number;
      uploaded: number;
      downRate: number;
      upRate: number;
      want?: number;
    } & PickHints &
      NewHaves)
  | { type: 'peer.closed'; key: string; reason: CloseReason; detail?: string; downloaded: number; uploaded: number }
  /**
   * The peer's BEP 10 handshake (each time it comes): whether it takes our `ut_pex` messages (it
   * advertised `ut_pex` and we offer it), and the port it listens on (`p`), if it said.
   */
  | { type: 'peer.extensions'; key: string; pex: boolean; port: number | undefined }
  /** Peers a `ut_pex` message of the peer added (honoured at most once a minute, never when private). */
  | { type: 'peer.pexPeers'; key: string; peers: PeerAddress[] }
  /** BEP 5: the peer's `port` message: its DHT node listens on that UDP port at the peer's IP. */
  | { type: 'peer.dhtNode'; key: string; port: number }
  /** BEP 52: the peer's `hashes` answer (its range and hashes; the torrent checks it asked and that they prove). */
  | { type: 'peer.hashes'; key: string; range: HashRange; hashes: Uint8Array }
  /** BEP 52: the peer's `hash reject` of a range. */
  | { type: 'peer.hashReject'; key: string; range: HashRange };

/** Commands the torrent sends a peer actor. */
export type PeerCommand =
  /**
   * The torrent takes the peer after its handshake (not a duplicate): `have` is our verified pieces
   * (bitfield bytes) at this moment; pieces verified later arrive on `peer.tick` (or `peer.announce`).
   */
  | { type: 'peer.admit'; have: Uint8Array }
  /** Blocks picked for this peer (after `peer.wants` or `peer.blocks`): send the requests. */
  | { type: 'peer.request'; requests: BlockRequest[] }
  /** Another peer delivered this block first, or its piece was verified: cancel our request. */
  | { type: 'peer.cancel'; index: number; begin: number; length: number }
  /**
   * We verified `pieces` (one, or those a check found at once): tell the peer (`have`s, one write);
   * `have` is our pieces (bitfield bytes) with them, a fresh copy the peer keeps but never changes
   * (whether a peer's have is of a piece we lack). Ignored before the peer is admitted.
   */
  | { type: 'peer.announce'; pieces: readonly number[]; have: Uint8Array }
  /**
   * The torrent's tick (every second: its `tickMs`), `elapsedMs` since the last: the peer's liveness
   * check runs on it (silence, snubbing, keep-alive, its counters reported as `peer.stats`). The pieces
   * verified since the last announcement ride on it (`pieces` and `have` as in `peer.announce`): one
   * event per peer per second, whatever the torrent has to say. Ignored before the peer is admitted.
   */
  | { type: 'peer.tick'; elapsedMs: number; pieces?: readonly number[]; have?: Uint8Array }
  /** Whether the peer has pieces we lack (the torrent's picker decides): `interested` / `not interested`. */
  | { type: 'peer.interest'; interested: boolean }
  /**
   * Blocks may be wanted again (a peer left, a piece failed): ask for them if the pipeline has room.
   * Sent only to peers the torrent is interested in (no other is requesting).
   */
  | { type: 'peer.refill' }
  /** BEP 6: send `suggest` for these pieces (ignored unless the peer speaks the fast extension). */
  | { type: 'peer.suggest'; pieces: readonly number[] }
  /** The choker's verdict: let the peer download from us, or stop it. */
  | { type: 'peer.unchoke' }
  | { type: 'peer.choke' }
  | { type: 'peer.close'; reason: CloseReason; detail?: string }
  /** BEP 11: send this `ut_pex` message (ignored unless the peer advertised `ut_pex` and we offer it). */
  | { type: 'peer.sendPex'; message: UtPexMessage }
  /** BEP 52: send a `hash request` for this range of a file's merkle tree (ignored before admission). */
  | { type: 'peer.hashRequest'; range: HashRange }
  /**
   * BEP 52: the torrent's merkle trees grew (piece layers fetched from peers and proven): the peer's
   * `hash request`s are answered from these from now on. Taken in any state.
   */
  | { type: 'peer.hashTrees'; hashTrees: HashTrees };

export type { BlockRequest, PieceBlock };
