/** Types shared by the peer statechart and the torrent statechart that owns it. */
import type { Bitfield } from '../../protocol/bitfield.js';
import type { PeerAddress } from '../../protocol/peer-address.js';
import type { Handshake, WireMessage } from '../../protocol/wire.js';
import type { PieceBuffers } from '../torrent/piece-buffers.js';
import type { PiecePicker } from '../torrent/piece-picker.js';

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

/**
 * The torrent's shared structures a peer actor works on, held by reference (never copied into
 * context): the picker decides what to request, the piece buffers take the blocks.
 */
export interface PeerServices {
  infoHash: Uint8Array;
  /** Our peer id (a connection to it is a connection to ourselves). */
  peerId: Uint8Array;
  pieceCount: number;
  picker: PiecePicker<string>;
  buffers: PieceBuffers;
  /** The torrent's byte counters, bumped per block (a plain object, not context). */
  counters: { downloaded: number; uploaded: number };
  /** Connected peers' live state, by key, for the choker (each peer adds itself while connected). */
  registry: Map<string, ChokeView>;
}

/** What the choker reads of a connected peer (a plain object the peer actor keeps current). */
export interface ChokeView {
  key: string;
  /** The peer is interested in our pieces. */
  peerInterested: boolean;
  /** We are choking the peer. */
  amChoking: boolean;
  snubbed: boolean;
  /** Bytes/s from the peer and to the peer, as of the latest wire event. */
  downRate: () => number;
  upRate: () => number;
  /** The choker round in which the choker first saw this peer (set by the choker). */
  firstRound?: number;
}

export interface PeerSettings {
  connectTimeoutMs: number;
  handshakeTimeoutMs: number;
  /** BEP 3: keep-alives every two minutes. */
  keepAliveIntervalMs: number;
  /** A peer that sends nothing for this long is dropped. */
  silenceLimitMs: number;
  /** A peer that sends no block for this long while we wait for some is snubbed. */
  snubTimeoutMs: number;
  /** How often the liveness and snub checks run. */
  checkIntervalMs: number;
  /** Request queue depth: seconds of the peer's rate, and the bounds. */
  queueSeconds: number;
  minQueue: number;
  maxQueue: number;
  /** Longest block we serve (BEP 3 peers ask for 16 KiB; at most 128 KiB). */
  maxRequestLength: number;
  /** Requests a peer may have queued with us; past this it is flooding and is dropped. */
  maxQueuedRequests: number;
}

export const defaultPeerSettings: PeerSettings = {
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  keepAliveIntervalMs: 120_000,
  silenceLimitMs: 180_000,
  snubTimeoutMs: 60_000,
  checkIntervalMs: 5_000,
  queueSeconds: 3,
  minQueue: 8,
  maxQueue: 500,
  maxRequestLength: 16 * 1024,
  maxQueuedRequests: 2000,
};

export interface PeerInput {
  /** The peer's address key (`peerKey`), also its key in the picker. */
  key: string;
  address: PeerAddress;
  direction: 'outgoing' | 'incoming';
  services: PeerServices;
  settings?: Partial<PeerSettings>;
  /**
   * For an incoming connection: the transport's handle of the accepted connection, passed through to
   * the `wire` actor untouched (the machine never looks inside it).
   */
  transport?: unknown;
}

/** Events the peer actor sends to its parent (the torrent actor). */
export type PeerReport =
  | { type: 'peer.handshake'; key: string; peerId: Uint8Array }
  | { type: 'peer.pieceComplete'; key: string; index: number }
  /** The peer became interested in our pieces (the choker may give it a free slot now). */
  | { type: 'peer.interested'; key: string }
  /** Endgame: the block arrived from `key`; the torrent sends `cancel` to these other peers. */
  | { type: 'peer.cancelElsewhere'; key: string; peers: string[]; index: number; begin: number; length: number }
  | { type: 'peer.closed'; key: string; reason: CloseReason; detail?: string; downloaded: number; uploaded: number };

/** Commands the torrent sends a peer actor. */
export type PeerCommand =
  /** We verified piece `index`: tell the peer (`have`) and re-evaluate interest. */
  | { type: 'peer.have'; index: number }
  /** Another peer delivered this block first (endgame): cancel our request for it. */
  | { type: 'peer.cancel'; index: number; begin: number; length: number }
  /** Ask for blocks now (e.g. after a failed piece returned blocks to wanted). */
  | { type: 'peer.refill' }
  /** The choker's verdict: let the peer download from us, or stop it. */
  | { type: 'peer.unchoke' }
  | { type: 'peer.choke' }
  | { type: 'peer.close'; reason: CloseReason; detail?: string };

export type { Bitfield, Handshake, WireMessage };
