/**
 * What a peer actor (src/machines/peer) and the effects it invokes (src/io: the socket bridge and the
 * block reader) say to each other, declared once. Both layers import these shapes from here, the
 * lowest layer, so neither imports the other and no event is cast on its way across.
 */
import type { BlockRequest } from './layout.js';
import type { Handshake, HashRange, WireMessage } from './wire.js';

type Distribute<T> = T extends { type: infer K extends string }
  ? Omit<T, 'type'> & { type: `wire.${K}`; at: number }
  : never;

/** A decoded wire message as an actor event: `{ type: 'wire.have', index, at }` … */
export type WireMessageEvent = Distribute<WireMessage>;

/** One received block of a `wire.pieces` batch. */
export interface PieceBlock {
  index: number;
  begin: number;
  /**
   * The block's bytes: a view of the socket's read buffer, valid only while the event is handled (the
   * buffer is reused by the next read). Whoever keeps them copies them, synchronously.
   */
  block: Uint8Array;
}

/**
 * How a connection's payload travels: `rc4` after an MSE/PE key exchange that chose RC4, `plaintext`
 * after one that chose plaintext (the handshake was obfuscated, the rest is not), `none` for a plain
 * BitTorrent connection (no MSE at all).
 */
export type PeerEncryption = 'rc4' | 'plaintext' | 'none';

/**
 * Events the socket bridge sends to the peer actor. `at` is a wall-clock timestamp (ms) taken in src/io
 * (machines never read a clock). A bridge never sends an event synchronously from inside a command's
 * handling: bytes arrive from socket callbacks, so a block's view is consumed before the next read.
 */
export type PeerWireEvent =
  | { type: 'wire.connected'; at: number }
  /** The peer's handshake, and how the connection is encrypted (known by then). */
  | { type: 'wire.handshake'; handshake: Handshake; encryption?: PeerEncryption; at: number }
  | WireMessageEvent
  /** Consecutive `piece` messages decoded from one socket read, in order (a lone block comes as `wire.piece`). */
  | { type: 'wire.pieces'; blocks: PieceBlock[]; at: number }
  /** Consecutive `request` messages decoded from one socket read, in order (a lone one comes as `wire.request`). */
  | { type: 'wire.requests'; requests: BlockRequest[]; at: number }
  /** Consecutive `have` messages decoded from one socket read, in order (a lone one comes as `wire.have`). */
  | { type: 'wire.haves'; indices: number[]; at: number }
  /** Malformed input from the peer (framing or message errors): the connection is unusable. */
  | { type: 'wire.protocolError'; code: string; message: string; at: number }
  /** The socket closed or failed; `error` is absent for a clean end. */
  | { type: 'wire.closed'; error?: { code: string; message: string }; at: number }
  /** The write queue filled past its high-water mark: stop producing until `wire.drain`. */
  | { type: 'wire.congested'; at: number }
  /** The write queue drained (after it had filled up). */
  | { type: 'wire.drain'; at: number };

/** Commands the peer actor sends to the socket bridge. */
export type PeerWireCommand =
  | { type: 'wire.send'; message: WireMessage }
  /** Several messages written together (one socket write), e.g. a pipeline of requests. */
  | { type: 'wire.sendMany'; messages: WireMessage[] }
  /**
   * `piece` messages, in order, written together (one corked write): each block follows its 13-byte
   * header without being copied. Each is charged to the upload limiters as it leaves.
   */
  | { type: 'wire.sendBlocks'; blocks: PieceBlock[] }
  /**
   * Our handshake, on an incoming connection; `infoHash` replaces its info hash (BEP 52: a hybrid torrent
   * answers with the hash the peer named, its v1 or its truncated v2 hash).
   */
  | { type: 'wire.sendHandshake'; infoHash?: Uint8Array }
  | { type: 'wire.close' };

/** What the peer actor gives its `wire` actor when it invokes it. */
export interface PeerWireInput {
  /** Dial this address (outgoing connection)… */
  connect?: { host: string; port: number };
  /**
   * …or take over an accepted connection (incoming): the listener's handle, passed through the
   * machines untouched (only src/io looks inside).
   */
  transport?: unknown;
  /** Our handshake; sent at once on an outgoing connection, on `wire.sendHandshake` on an incoming one. */
  handshake: Handshake;
  /** Bounds the bitfield message (BEP 3: ⌈pieces / 8⌉ bytes). */
  pieceCount?: number;
  /** Largest block we accept in a `piece` message (default 16 KiB; BEP 3 peers send 16 KiB). */
  maxBlockLength?: number;
}

/**
 * Blocks to read from storage for the upload of the peer's requests, in the order asked: one command
 * per batch (the reader reads adjacent blocks of a piece with one positional read).
 */
export interface BlockReadCommand {
  type: 'upload.read';
  blocks: BlockRequest[];
}

/** BEP 52: read piece `index` and give the SHA-256 leaves of its file blocks, to answer `range` (base layer 0). */
export interface LeafReadCommand {
  type: 'hash.leaves';
  index: number;
  range: HashRange;
}

/** What the block reader is told: an upload's block, or a piece's leaves. */
export type ReaderCommand = BlockReadCommand | LeafReadCommand;

/** A block read for an upload: `data` is `length` bytes (possibly a view of a larger read, not to be changed). */
export interface ReadBlock extends BlockRequest {
  data: Uint8Array;
}

/** A block that could not be read (not verified, storage closed, an I/O error): the peer rejects it. */
export interface ReadFailure extends BlockRequest {
  code: string;
  message: string;
}

/** The block reader's answers (src/io/storage-actor.ts `blockReaderActor`). */
export type BlockReadEvent =
  /** The answer to one `upload.read`: every block of it, either read or failed. */
  | { type: 'upload.blocks'; blocks: ReadBlock[]; failed: ReadFailure[] }
  /** BEP 52: the leaves of the piece asked by `hash.leaves` (one per block holding file bytes), or none. */
  | { type: 'hash.leaves'; range: HashRange; leaves: Uint8Array[] }
  | { type: 'hash.leavesFailed'; range: HashRange; code: string; message: string };
