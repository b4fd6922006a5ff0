/**
 * Assembles a torrent's info dictionary from BEP 9 `ut_metadata` pieces fetched from several peers.
 *
 * Each 16 KiB piece is in exactly one of three states: wanted, requested (from one peer, at a time),
 * received (from one peer). {@link MetadataAssembler.next} gives a peer the lowest wanted piece — so
 * peers asked in turn fetch different pieces at once — up to `maxRequestsPerPeer` in flight each. A
 * reject or a timeout puts the piece back to wanted and keeps that peer idle for `backoffMs`; a peer
 * that leaves gives its requests back. When the last piece arrives the whole buffer is hashed: the
 * info hash → the info dictionary's bytes; anything else → every peer that sent a piece is struck
 * (never asked again; the caller disconnects or bans them) and all pieces are wanted again.
 *
 * Pure and bounded: no I/O, no clock (time comes in as `now`, in ms), SHA-1 passed in as a function.
 * One buffer of exactly `metadataSize` bytes, allocated at construction and only under the cap
 * (`maxMetadataSize`, default 16 MiB); per-piece state in arrays of at most 1024 entries; at most
 * {@link MAX_STRUCK} struck peers remembered. The caller uses only peers whose handshake advertised
 * this `metadata_size` (BEP 9), never a private torrent's peers for metadata it lacks (BEP 27: a
 * private torrent comes from its .torrent), and a data piece only after {@link decodeUtMetadata} has
 * checked it against that size.
 */
import { equalBytes } from '../../protocol/bytes.js';
import {
  MAX_METADATA_SIZE,
  METADATA_PIECE_SIZE,
  UtMetadataError,
  metadataPieceCount,
  metadataPieceLength,
} from '../../protocol/ut-metadata.js';

/** Default time a request may stay unanswered before its piece is wanted again. */
export const METADATA_REQUEST_TIMEOUT_MS = 15_000;
/** Default time a peer that rejected a request, or let one time out, is left alone. */
export const METADATA_BACKOFF_MS = 10_000;
/** Default number of requests in flight to one peer. */
export const METADATA_REQUESTS_PER_PEER = 2;
/** Most struck peers remembered (the oldest are forgotten first). */
export const MAX_STRUCK = 4096;

export interface MetadataAssemblerOptions {
  /** The v1 info hash (20 bytes) the assembled dictionary must hash to. */
  infoHash: Uint8Array;
  /** Size of the info dictionary in bytes, as peers advertised it (`metadata_size`). */
  metadataSize: number;
  /** SHA-1 of some bytes (20 bytes), e.g. `(b) => createHash('sha1').update(b).digest()` at the boundary. */
  sha1: (bytes: Uint8Array) => Uint8Array;
  /** Largest metadata accepted (default {@link MAX_METADATA_SIZE}). */
  maxMetadataSize?: number;
  requestTimeoutMs?: number;
  backoffMs?: number;
  maxRequestsPerPeer?: number;
}

/** What {@link MetadataAssembler.received} made of a piece. */
export type MetadataReceived =
  /** Not asked of this peer, already received, struck peer, or done: nothing changed. */
  | { kind: 'ignored' }
  /** An index out of range or bytes of the wrong length: the peer sent nonsense. */
  | { kind: 'invalid' }
  /** Kept; `received` of `total` pieces are in. */
  | { kind: 'accepted'; received: number; total: number }
  /** The last piece: the info dictionary hashes to the info hash. `info` is the assembler's buffer. */
  | { kind: 'complete'; info: Uint8Array }
  /** The last piece, but the hash is wrong: `peers` sent pieces and are struck; all pieces are wanted again. */
  | { kind: 'corrupt'; peers: string[] };

/** A request that timed out. */
export interface MetadataTimeout {
  peer: string;
  piece: number;
}

const WANTED = 0;
const REQUESTED = 1;
const RECEIVED = 2;

/**
 * @example
 * const asm = new MetadataAssembler({ infoHash, metadataSize: hs.metadataSize, sha1 });
 * const piece = asm.next('peer-a', now); // 0
 * if (piece !== null) send(encodeUtMetadata({ type: 'request', piece }));
 * // on a data message from peer-a:
 * const r = asm.received('peer-a', msg.piece, msg.data, now);
 * if (r.kind === 'complete') start(parseInfo(r.info)); else if (r.kind === 'corrupt') r.peers.forEach(strike);
 */
export class MetadataAssembler {
  readonly size: number;
  readonly pieceCount: number;
  private readonly infoHash: Uint8Array;
  private readonly sha1: (bytes: Uint8Array) => Uint8Array;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly perPeer: number;
  private readonly buffer: Uint8Array;
  private readonly state: Uint8Array;
  /** Requested: who was asked, and when. Received: who sent it. */
  private readonly peerOf: (string | undefined)[];
  private readonly askedAt: Float64Array;
  /** The peer whose request for the piece timed out: its late answer is still taken. */
  private readonly lateFrom: (string | undefined)[];
  private readonly inFlight = new Map<string, number>();
  private readonly idleUntil = new Map<string, number>();
  private readonly struck = new Set<string>();
  private receivedCount = 0;
  private done = false;

  constructor(options: MetadataAssemblerOptions) {
    const max = options.maxMetadataSize ?? MAX_METADATA_SIZE;
    const size = options.metadataSize;
    if (!Number.isSafeInteger(size) || size < 1)
      throw new UtMetadataError('BT_ERR_UT_METADATA_SIZE', `metadata size ${String(size)} is not a positive integer`);
    if (size > max)
      throw new UtMetadataError(
        'BT_ERR_UT_METADATA_TOO_LARGE',
        `metadata size ${size} is over the cap of ${max} bytes`,
      );
    if (options.infoHash.length !== 20)
      throw new UtMetadataError('BT_ERR_UT_METADATA_OPTIONS', `info hash of ${options.infoHash.length} bytes, not 20`);
    const positive = (v: number | undefined, d: number, name: string): number => {
      const x = v ?? d;
      if (!(x > 0) || !Number.isFinite(x))
        throw new UtMetadataError('BT_ERR_UT_METADATA_OPTIONS', `${name} ${String(x)} is not a positive number`);
      return x;
    };
    this.timeoutMs = positive(options.requestTimeoutMs, METADATA_REQUEST_TIMEOUT_MS, 'requestTimeoutMs');
    this.backoffMs = positive(options.backoffMs, METADATA_BACKOFF_MS, 'backoffMs');
    this.perPeer = Math.floor(positive(options.maxRequestsPerPeer, METADATA_REQUESTS_PER_PEER, 'maxRequestsPerPeer'));
    this.size = size;
    this.pieceCount = metadataPieceCount(size);
    this.infoHash = options.infoHash.slice();
    this.sha1 = options.sha1;
    this.buffer = new Uint8Array(size);
    this.state = new Uint8Array(this.pieceCount);
    this.peerOf = new Array<string | undefined>(this.pieceCount).fill(undefined);
    this.askedAt = new Float64Array(this.pieceCount);
    this.lateFrom = new Array<string | undefined>(this.pieceCount).fill(undefined);
  }

  /** Pieces received so far. */
  get receivedPieces(): number {
    return this.receivedCount;
  }

  /** True once the info dictionary has been assembled and verified. */
  get complete(): boolean {
    return this.done;
  }

  /** Requests in flight to `peer`. */
  requestsOf(peer: string): number {
    return this.inFlight.get(peer) ?? 0;
  }

  /** True when `peer` sent a piece of metadata that did not hash right. */
  isStruck(peer: string): boolean {
    return this.struck.has(peer);
  }

  /**
   * The piece to request from `peer` now, marked requested; null when there is none for it (all
   * pieces requested or received, the peer busy, idle after a reject or timeout, or struck). Call it
   * again while it returns a piece to fill the peer's requests.
   */
  next(peer: string, now: number): number | null {
    if (this.done || this.struck.has(peer)) return null;
    const until = this.idleUntil.get(peer);
    if (until !== undefined) {
      if (now < until) return null;
      this.idleUntil.delete(peer);
    }
    const busy = this.inFlight.get(peer) ?? 0;
    if (busy >= this.perPeer) return null;
    const piece = this.state.indexOf(WANTED);
    if (piece < 0) return null;
    this.state[piece] = REQUESTED;
    this.peerOf[piece] = peer;
    this.askedAt[piece] = now;
    this.inFlight.set(peer, busy + 1);
    return piece;
  }

  /** `peer` answered a request with a BEP 9 reject: the piece is wanted again, the peer left alone a while. */
  rejected(peer: string, piece: number, now: number): boolean {
    if (!this.isRequestedFrom(peer, piece)) return false;
    this.release(piece);
    this.idleUntil.set(peer, now + this.backoffMs);
    return true;
  }

  /**
   * Requests older than the timeout: their pieces are wanted again and their peers left alone a while
   * (a late answer is still taken). Call it when {@link nextDeadline} has passed.
   */
  expire(now: number): MetadataTimeout[] {
    const out: MetadataTimeout[] = [];
    for (let i = 0; i < this.pieceCount; i++) {
      if (this.state[i] !== REQUESTED || this.askedAt[i]! + this.timeoutMs > now) continue;
      const peer = this.peerOf[i]!;
      this.release(i);
      this.lateFrom[i] = peer;
      this.idleUntil.set(peer, now + this.backoffMs);
      out.push({ peer, piece: i });
    }
    return out;
  }

  /** When the oldest request in flight times out (undefined: none in flight). */
  nextDeadline(): number | undefined {
    let first: number | undefined;
    for (let i = 0; i < this.pieceCount; i++) {
      if (this.state[i] !== REQUESTED) continue;
      const t = this.askedAt[i]! + this.timeoutMs;
      if (first === undefined || t < first) first = t;
    }
    return first;
  }

  /** `peer` disconnected: its requests are wanted again (pieces it sent stay, with its name on them). */
  peerGone(peer: string): void {
    for (let i = 0; i < this.pieceCount; i++) {
      if (this.isRequestedFrom(peer, i)) this.release(i);
      if (this.lateFrom[i] === peer) this.lateFrom[i] = undefined;
    }
    this.inFlight.delete(peer);
    this.idleUntil.delete(peer);
  }

  /**
   * `peer` sent piece `piece`. The bytes are copied into the buffer (the view may be released after).
   * Only a piece requested from this peer (or whose request to it timed out) and not yet received is
   * taken.
   */
  received(peer: string, piece: number, bytes: Uint8Array, _now: number): MetadataReceived {
    if (!Number.isSafeInteger(piece) || piece < 0 || piece >= this.pieceCount) return { kind: 'invalid' };
    if (bytes.length !== metadataPieceLength(this.size, piece)) return { kind: 'invalid' };
    if (this.done || this.struck.has(peer) || this.state[piece] === RECEIVED) return { kind: 'ignored' };
    const asked = this.isRequestedFrom(peer, piece);
    if (!asked && this.lateFrom[piece] !== peer) return { kind: 'ignored' };
    if (this.state[piece] === REQUESTED) this.release(piece); // asked of it, or of another after it timed out
    this.buffer.set(bytes, piece * METADATA_PIECE_SIZE);
    this.state[piece] = RECEIVED;
    this.peerOf[piece] = peer;
    this.lateFrom[piece] = undefined;
    this.receivedCount++;
    if (this.receivedCount < this.pieceCount) {
      return { kind: 'accepted', received: this.receivedCount, total: this.pieceCount };
    }
    if (equalBytes(this.sha1(this.buffer), this.infoHash)) {
      this.done = true;
      this.inFlight.clear();
      this.idleUntil.clear();
      return { kind: 'complete', info: this.buffer };
    }
    return { kind: 'corrupt', peers: this.reset() };
  }

  private isRequestedFrom(peer: string, piece: number): boolean {
    return (
      Number.isSafeInteger(piece) &&
      piece >= 0 &&
      piece < this.pieceCount &&
      this.state[piece] === REQUESTED &&
      this.peerOf[piece] === peer
    );
  }

  /** A requested piece back to wanted, its peer's count of requests down by one. */
  private release(piece: number): void {
    const peer = this.peerOf[piece]!;
    const n = (this.inFlight.get(peer) ?? 1) - 1;
    if (n > 0) this.inFlight.set(peer, n);
    else this.inFlight.delete(peer);
    this.state[piece] = WANTED;
    this.peerOf[piece] = undefined;
  }

  /** The hash failed: strikes every contributor, wants every piece again; returns the contributors. */
  private reset(): string[] {
    const contributors = new Set<string>();
    for (const p of this.peerOf) if (p !== undefined) contributors.add(p);
    const peers = [...contributors];
    for (const p of peers) {
      this.struck.delete(p);
      this.struck.add(p);
      this.inFlight.delete(p);
      this.idleUntil.delete(p);
    }
    while (this.struck.size > MAX_STRUCK) this.struck.delete(this.struck.values().next().value as string);
    this.state.fill(WANTED);
    this.peerOf.fill(undefined);
    this.lateFrom.fill(undefined);
    this.buffer.fill(0);
    this.receivedCount = 0;
    return peers;
  }
}
