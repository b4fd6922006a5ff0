/**
 * Framing of a peer connection's byte stream into {@link WireEvent}s: an optional 68-byte handshake,
 * then length-prefixed messages. {@link WireFramer} is the stateful core (usable without RxJS);
 * `frameWire` (wire-framing-rx.ts) is the RxJS operator over it, in a module of its own so that the
 * engine's socket bridge, which uses the framer directly, does not load RxJS at start-up.
 *
 * Correct for any chunking. The cost model, since this is the hot path:
 * - A message wholly inside one chunk is decoded in place: its payload is a `subarray` of the chunk
 *   (zero copy). **Emitted messages may therefore reference the input chunk**: the producer must not
 *   reuse a chunk's memory after pushing it (Node sockets don't), or the consumer must copy.
 * - A message spanning chunks is copied once into a buffer of exactly its size, allocated as soon as
 *   its first 5 bytes (length prefix + id) are known and have passed the caps. Fewer than 5 bytes of
 *   a header wait in a 5-byte scratch. There is no concatenation of a backlog.
 * - Nothing is allocated for a length prefix above its cap: the error is raised from the prefix (and
 *   id) alone, before the body arrives.
 */
import {
  HANDSHAKE_LENGTH,
  WireError,
  checkLimit,
  decodeHandshake,
  decodeMessage,
  resolveLimits,
  type WireEvent,
  type WireLimits,
} from './wire.js';

export interface FrameWireOptions {
  /** The first 68 bytes are a BEP 3 handshake (default true). */
  handshake?: boolean;
  /** Caps; defaults as in {@link resolveLimits}. */
  limits?: Partial<WireLimits>;
}

/**
 * Incremental framer: push chunks in stream order, receive events through `emit`.
 *
 * @example
 * ```ts
 * const framer = new WireFramer({ handshake: true });
 * socket.on('data', (chunk) => {
 *   try {
 *     framer.push(chunk, (event) => peer.send(event));
 *   } catch (err) {
 *     socket.destroy(err as WireError); // err.code: BT_ERR_FRAME_TOO_LARGE, BT_ERR_HANDSHAKE, …
 *   }
 * });
 * ```
 */
export class WireFramer {
  private readonly limits: WireLimits;
  private expectHandshake: boolean;
  /** The handshake being received, when it spans chunks. */
  private hs: Uint8Array | null = null;
  private hsFilled = 0;
  /** Up to 5 bytes (length prefix + id) of a message header that spans chunks. */
  private readonly head = new Uint8Array(5);
  private headLen = 0;
  /** The exact-size buffer of a message that spans chunks, once its header is known. */
  private body: Uint8Array | null = null;
  private bodyFilled = 0;
  private failure: WireError | null = null;

  constructor(options: FrameWireOptions = {}) {
    this.limits = resolveLimits(options.limits); // throws BT_ERR_LIMITS for invalid caps
    this.expectHandshake = options.handshake ?? true;
  }

  /**
   * Tightens (or sets) the bitfield bound once the piece count is known, e.g. after BEP 9 metadata.
   * Throws `BT_ERR_LIMITS` for a value that is not a non-negative integer.
   */
  setPieceCount(pieceCount: number): void {
    this.limits.pieceCount = checkLimit('pieceCount', pieceCount);
  }

  /** Bytes held of an incomplete handshake or message (non-zero at end of stream = truncated). */
  get buffered(): number {
    return this.hsFilled + this.headLen + this.bodyFilled;
  }

  /** The error the framer failed with, if any; once failed, every `push` throws it again. */
  get error(): WireError | null {
    return this.failure;
  }

  /**
   * Consumes `chunk`, calling `emit` for each complete event in order. Throws the {@link WireError}
   * (codes `BT_ERR_HANDSHAKE`, `BT_ERR_FRAME_TOO_LARGE`, `BT_ERR_MESSAGE_LENGTH`,
   * `BT_ERR_BITFIELD_TOO_LARGE`) at the first invalid byte; events before it have been emitted.
   */
  push(chunk: Uint8Array, emit: (event: WireEvent) => void): void {
    if (this.failure) throw this.failure;
    const n = chunk.length;
    let off = 0;
    if (this.expectHandshake) {
      off = this.pushHandshake(chunk, emit);
      if (this.expectHandshake) return;
    }
    const limits = this.limits;
    while (off < n) {
      if (this.body !== null) {
        // Continue a message that spans chunks.
        const body = this.body;
        const take = Math.min(body.length - this.bodyFilled, n - off);
        body.set(chunk.subarray(off, off + take), this.bodyFilled);
        this.bodyFilled += take;
        off += take;
        if (this.bodyFilled < body.length) return;
        this.body = null;
        this.bodyFilled = 0;
        const r = decodeMessage(body, 0, limits);
        if (r.kind !== 'message')
          this.fail(r.kind === 'error' ? r.error : new WireError('BT_ERR_MESSAGE_LENGTH', 'incomplete message'));
        emit(r.message);
        continue;
      }
      if (this.headLen > 0) {
        // Complete a header that spans chunks: 4 bytes first (0 means keep-alive), then the id.
        const want = (this.headLen < 4 ? 4 : 5) - this.headLen;
        const take = Math.min(want, n - off);
        this.head.set(chunk.subarray(off, off + take), this.headLen);
        this.headLen += take;
        off += take;
        if (this.headLen < 4) return;
        const r = decodeMessage(this.head.subarray(0, this.headLen), 0, limits);
        if (r.kind === 'message') {
          // A keep-alive or an id-only message: no payload refers to the scratch.
          this.headLen = 0;
          emit(r.message);
        } else if (r.kind === 'error') {
          this.fail(r.error);
        } else if (this.headLen === 5) {
          // Header checked against the caps: allocate exactly this message once.
          const body = new Uint8Array(5 + r.bytes);
          body.set(this.head, 0);
          this.body = body;
          this.bodyFilled = 5;
          this.headLen = 0;
        }
        continue;
      }
      const r = decodeMessage(chunk, off, limits);
      if (r.kind === 'message') {
        off += r.consumed;
        emit(r.message);
        continue;
      }
      if (r.kind === 'error') this.fail(r.error);
      // 'need': keep the tail. With 5+ bytes the header has passed the caps in decodeMessage.
      const tail = n - off;
      if (tail >= 5) {
        const body = new Uint8Array(tail + r.bytes);
        body.set(chunk.subarray(off), 0);
        this.body = body;
        this.bodyFilled = tail;
      } else {
        this.head.set(chunk.subarray(off), 0);
        this.headLen = tail;
      }
      return;
    }
  }

  /** Returns the offset in `chunk` after the handshake bytes it supplied. */
  private pushHandshake(chunk: Uint8Array, emit: (event: WireEvent) => void): number {
    let buf: Uint8Array;
    let used: number;
    if (this.hs === null && chunk.length >= HANDSHAKE_LENGTH) {
      buf = chunk;
      used = HANDSHAKE_LENGTH;
    } else {
      const hs = (this.hs ??= new Uint8Array(HANDSHAKE_LENGTH));
      used = Math.min(HANDSHAKE_LENGTH - this.hsFilled, chunk.length);
      hs.set(chunk.subarray(0, used), this.hsFilled);
      this.hsFilled += used;
      buf = hs.subarray(0, this.hsFilled);
    }
    const r = decodeHandshake(buf, 0);
    if (r.kind === 'error') this.fail(r.error);
    if (r.kind === 'handshake') {
      this.expectHandshake = false;
      this.hs = null;
      this.hsFilled = 0;
      emit({ type: 'handshake', handshake: r.handshake });
    }
    return used;
  }

  private fail(error: WireError): never {
    this.failure = error;
    this.body = null;
    this.hs = null;
    throw error;
  }
}
