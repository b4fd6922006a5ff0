/**
 * The socket bridge of one peer connection: net.Socket reads → an Observable of chunks → `frameWire`
 * (RxJS) → typed `wire.*` events for the peer actor; `wire.send*` commands from the actor → a write
 * queue that honours backpressure. The peer actor never touches the socket: it invokes
 * {@link peerWireActor} and talks to it with the events of src/protocol/peer-wire-types.ts.
 *
 * Encryption (MSE/PE, src/protocol/mse.ts): a dial runs the MSE initiator first when the policy asks for
 * it (our handshake travels as its IA), and falls back to one plaintext dial under `prefer`; an
 * accepted connection arrives with the listener's ciphers when its payload stream is RC4. With RC4 every
 * read is decrypted in place (the shared read buffer is ours) before framing, every write encrypted; a
 * plaintext connection takes the same path as before, untouched.
 */
import { fromCallback, type CallbackLogicFunction, type EventObject } from 'xstate';
import type {
  PeerEncryption,
  PeerWireCommand,
  PeerWireEvent,
  PeerWireInput,
  PieceBlock,
} from '../protocol/peer-wire-types.js';
import { Observable, type Subscriber } from 'rxjs';
import { encodeHandshake, encodeMessage, encodePieceHeaders, PIECE_HEADER_LENGTH } from '../protocol/wire.js';
import { frameWire, type FramedEvent } from '../protocol/wire-framing-rx.js';
import { BLOCK_LENGTH } from '../protocol/layout.js';
import { isAcceptedTransport } from './listener.js';
import { randomBytes } from 'node:crypto';
import { CRYPTO_PLAINTEXT, CRYPTO_RC4, MseInitiator, type EncryptionPolicy, type Rc4 } from '../protocol/mse.js';
import { realClock, type Clock } from './clock.js';
import { tcpTransport, type ByteStream, type Transport } from './transport.js';
import type { WireShaping } from './rate-limit.js';

export type { PeerWireCommand, PeerWireEvent, PeerWireInput, PieceBlock };

/** `wire.<type>` for each message type, so no string is built per message. */
const WIRE_TYPES = new Map<string, string>();
const wireType = (type: string): string => {
  let t = WIRE_TYPES.get(type);
  if (t === undefined) WIRE_TYPES.set(type, (t = `wire.${type}`));
  return t;
};

/**
 * Size of the read buffer of peer connections. One buffer serves them all: a read is framed and its
 * events delivered synchronously (the peer actor copies each block into its piece while handling the
 * event; other payloads are copied here), so the buffer is free again before the next read of any
 * socket. Larger reads mean fewer system calls and fewer events; no garbage per read.
 */
const READ_BUFFER_SIZE = 256 * 1024;
let sharedReadBuffer: Buffer | undefined;

/** Bytes queued for writing past which the socket counts as congested (`wire.drain` follows). */
const HIGH_WATER = 1 << 20;

/**
 * The bridge as an XState callback actor over `transport` and `clock` (the engine's runtime, or the
 * simulator's). Provide it as the peer machine's `wire` actor.
 *
 * With `shaping` (a torrent's rate limiters, src/io/rate-limit.ts), every read is charged to the
 * download limiters and the socket pauses while they are in debt (a limited socket reads at most a
 * burst at a time); blocks (`wire.sendBlocks`) are charged to the upload limiters and held, in order,
 * while those are in debt — the actor is told `wire.congested` then (no more block reads start) and
 * `wire.drain` once they are sent. Other messages are never held back.
 *
 * A connection's bytes are an Observable of chunks (reads of the shared buffer, or an accepted
 * socket's own chunks) piped through `frameWire` — one subscription per connection — and every framed
 * message becomes one event, except that the consecutive blocks of one read come as one `wire.pieces`
 * event (views of the read, never copied here), and so do its consecutive requests (one `wire.requests`)
 * and haves (one `wire.haves`: a peer's batch of announcements).
 * Commands written in one tick leave in one system call (a batch of blocks: one corked writev).
 * Errors never throw: they become `wire.protocolError` or `wire.closed`. Stopping the actor destroys
 * the socket.
 */
export function createPeerWireActor(transport: Transport, clock: Clock, options: PeerWireOptions = {}) {
  let plaintextPeers = plaintextPeersOf.get(transport);
  if (!plaintextPeers) plaintextPeersOf.set(transport, (plaintextPeers = new PlaintextPeers()));
  return fromCallback<PeerWireCommand, PeerWireInput>((args) =>
    wireBridge(args, transport, clock, options, plaintextPeers),
  );
}

export interface PeerWireOptions {
  /**
   * The encryption policy, read at each dial (default `plaintext`): `prefer` dials with MSE offering
   * RC4 and plaintext and dials once more in plaintext when the key exchange fails (the peer is then
   * remembered as plaintext-only); `require` dials only with MSE offering RC4 only.
   */
  encryption?: () => EncryptionPolicy;
  /** Random bytes for the MSE keys and pads (default node:crypto's). */
  random?: (n: number) => Uint8Array;
  /** Time the MSE key exchange of a dial may take before it counts as failed (default 5 s). */
  mseTimeoutMs?: number;
  /** The torrent's rate limiters (src/io/rate-limit.ts); none: unlimited. */
  shaping?: WireShaping;
}

/**
 * Peers (`host:port`) whose MSE handshake failed: `prefer` dials them in plaintext. Bounded, oldest
 * out; one per transport (every torrent of an engine shares it: it is a fact about the peer).
 */
class PlaintextPeers {
  private readonly keys = new Set<string>();
  constructor(private readonly cap = 4096) {}
  has(key: string): boolean {
    return this.keys.has(key);
  }
  add(key: string): void {
    this.keys.delete(key);
    this.keys.add(key);
    if (this.keys.size > this.cap) this.keys.delete(this.keys.values().next().value!);
  }
}

const plaintextPeersOf = new WeakMap<Transport, PlaintextPeers>();

/** The bridge over TCP and the real clock (the engine's defaults), dialling in plaintext. */
export const peerWireActor = createPeerWireActor(tcpTransport, realClock);

type WireArgs = Parameters<CallbackLogicFunction<PeerWireCommand, EventObject, PeerWireInput>>[0];

function wireBridge(
  { input, sendBack, receive }: WireArgs,
  transport: Transport,
  clock: Clock,
  options: PeerWireOptions,
  plaintextPeers: PlaintextPeers,
) {
  const now = () => clock.now();
  const send = (e: PeerWireEvent) => sendBack(e);
  const shaping = options.shaping;
  const accepted = isAcceptedTransport(input.transport) ? input.transport : undefined;
  // The socket's reads, as the Observable the framing operator consumes (subscribed to below, before
  // the socket can read anything).
  let inbound: Subscriber<Uint8Array> | undefined;
  const chunks$ = new Observable<Uint8Array>((subscriber) => {
    inbound = subscriber;
    return () => void (inbound = undefined);
  });
  // An RC4 payload stream's ciphers (from the listener's MSE responder, or our initiator's).
  let cipherIn: Rc4 | undefined = accepted?.ciphers?.decrypt;
  let cipherOut: Rc4 | undefined = accepted?.ciphers?.encrypt;
  // What the peer's handshake event tells: the listener's verdict, or the outcome of our dial's MSE.
  let encryption: PeerEncryption = accepted ? (accepted.encryption ?? (accepted.ciphers ? 'rc4' : 'none')) : 'none';
  // The MSE initiator while a dial's key exchange runs: reads go to it, writes wait in `pending`.
  let mse: MseInitiator | undefined;
  let mseTimer: unknown;
  let pending: Uint8Array[] = [];
  const received = (view: Uint8Array, shared: boolean) => {
    if (closed) return;
    // The initiator keeps what it is given: a view of the shared buffer is copied first.
    if (mse) return mseRead(shared ? view.slice() : view);
    if (cipherIn) cipherIn.processInPlace(view);
    inbound?.next(view);
  };
  // Reads land in the buffer shared by every connection (see READ_BUFFER_SIZE), not in a new 64 KiB
  // chunk per read: an outgoing socket is created so; an accepted one is moved onto such a socket
  // when it can be (otherwise it keeps its 'data' events).
  // Under a download limit a read takes at most the limiter's burst (Node asks for a buffer per read).
  const down = shaping?.down;
  const onread = {
    buffer: () => {
      const buf = (sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_SIZE));
      return down?.limited ? buf.subarray(0, Math.min(READ_BUFFER_SIZE, down.chunk)) : buf;
    },
    callback: (n: number, buf: Uint8Array) => {
      received(buf.subarray(0, n), true);
      shapeRead(n);
      return true;
    },
  };
  const dialling = accepted ? undefined : input.connect;
  const policy: EncryptionPolicy = options.encryption?.() ?? 'plaintext';
  const dialKey = dialling && `${dialling.host}:${dialling.port}`;
  const dialMse =
    dialling !== undefined && (policy === 'require' || (policy === 'prefer' && !plaintextPeers.has(dialKey!)));
  const first = accepted
    ? (transport.adopt(accepted.socket, onread) ?? accepted.socket)
    : dialling && transport.dial(dialling.host, dialling.port, onread);
  if (!first) {
    const error = { code: 'BT_ERR_WIRE', message: 'nothing to connect to' };
    queueMicrotask(() => send({ type: 'wire.closed', error, at: now() }));
    return () => undefined;
  }
  let socket: ByteStream = first;
  let closed = false;
  /** The socket's write queue is past HIGH_WATER. */
  let backedUp = false;
  /** What the actor was last told: `wire.congested` (true) or `wire.drain` (false). */
  let congested = false;
  /** Blocks held back by the upload limiters (in order), and whether they are being waited for. */
  const held: { header: Uint8Array; block: Uint8Array }[] = [];
  let upHeld = false;
  let cancelUpWait: (() => void) | undefined;
  /** The socket is paused for the download limiters. */
  let readPaused = false;
  let cancelReadWait: (() => void) | undefined;
  /** The current socket is connected (a dial's error before that is not an MSE failure). */
  let up = accepted !== undefined;
  let announced = false;
  let fellBack = false;
  const tellCongestion = () => {
    const now = backedUp || upHeld;
    if (now === congested || closed) return;
    congested = now;
    send({ type: now ? 'wire.congested' : 'wire.drain', at: clock.now() });
  };

  // A framed message as the actor's event. Blocks are consumed (copied into their piece) while their
  // event is handled, before the read returns; other payloads are small and rare, and an actor may
  // keep them: those that are views of the shared buffer get their own bytes.
  const isShared = (b: Uint8Array) => sharedReadBuffer !== undefined && b.buffer === sharedReadBuffer.buffer;
  // A copy: the views are Buffers, whose `slice()` is a view too (Node's Buffer#slice shares memory).
  const own = (b: Uint8Array) => new Uint8Array(b);
  const deliver = (e: FramedEvent) => {
    if (e.type === 'pieces') return send({ type: 'wire.pieces', blocks: e.blocks, at: now() });
    if (e.type === 'requests') return send({ type: 'wire.requests', requests: e.requests, at: now() });
    if (e.type === 'haves') return send({ type: 'wire.haves', indices: e.indices, at: now() });
    if (e.type === 'bitfield' && isShared(e.bytes)) e.bytes = own(e.bytes);
    else if ((e.type === 'extended' || e.type === 'unknown') && isShared(e.payload)) e.payload = own(e.payload);
    else if (e.type === 'hash-request' || e.type === 'hashes' || e.type === 'hash-reject') {
      // BEP 52: the root (and hashes) may be kept, e.g. echoed in the answer.
      if (isShared(e.piecesRoot)) e.piecesRoot = own(e.piecesRoot);
      if (e.type === 'hashes' && isShared(e.hashes)) e.hashes = own(e.hashes);
    }
    // The decoded message is a fresh object: it becomes the event (no copy per message).
    const ev = e as unknown as { type: string; at: number; encryption?: PeerEncryption };
    if (e.type === 'handshake') ev.encryption = encryption;
    ev.type = wireType(e.type);
    ev.at = now();
    send(ev as PeerWireEvent);
  };
  const stopShaping = () => {
    cancelReadWait?.();
    cancelUpWait?.();
    held.length = 0;
  };
  const finish = (error?: { code: string; message: string }) => {
    if (closed) return;
    inbound?.complete(); // what arrived before the end is delivered first
    closed = true;
    stopShaping();
    stopMse();
    socket.destroy();
    send({ type: 'wire.closed', ...(error && { error }), at: now() });
  };
  const subscription = chunks$
    .pipe(
      frameWire({
        handshake: true,
        batchBlocks: true,
        batchRequests: true,
        batchHaves: true,
        limits: {
          ...(input.pieceCount !== undefined && { pieceCount: input.pieceCount }),
          maxMessageLength: (input.maxBlockLength ?? BLOCK_LENGTH) + 13,
        },
      }),
    )
    .subscribe({
      next: deliver,
      error: (err: unknown) => {
        const e = err as { code?: string; message?: string };
        send({
          type: 'wire.protocolError',
          code: e.code ?? 'BT_ERR_WIRE',
          message: e.message ?? String(err),
          at: now(),
        });
        finish();
      },
    });
  // Writes made in one tick go out together: the socket is corked at the first and uncorked on the
  // next tick, so a burst of small messages (a pipeline of requests, haves) is one system call.
  let corked = false;
  const uncork = () => {
    corked = false;
    if (closed || socket.destroyed) return;
    socket.uncork();
    if (!backedUp && socket.writableLength > HIGH_WATER) {
      backedUp = true;
      tellCongestion();
    }
  };
  const writeRaw = (data: Uint8Array) => {
    if (closed || socket.destroyed) return;
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    socket.write(data);
  };
  const write = (data: Uint8Array) => {
    if (closed) return;
    // During the key exchange nothing of the payload may leave yet (its encryption is not known).
    if (mse) pending.push(data.slice());
    else writeRaw(cipherOut ? cipherOut.process(data) : data);
  };

  // Download limit: the read is charged; while a limiter is in debt the socket reads nothing more.
  function shapeRead(n: number): void {
    if (!down?.limited || closed) return;
    down.charge(n);
    if (readPaused || !down.blocked || !socket?.pause) return;
    readPaused = true;
    socket.pause();
    cancelReadWait = down.wait(() => {
      readPaused = false;
      cancelReadWait = undefined;
      if (!closed && !socket.destroyed) socket.resume?.();
    }, down.chunk);
  }
  // Upload limit: a block leaves when no limiter is in debt, and is charged as it leaves. A block goes
  // with its header (a view of the batch's one header buffer).
  type OutBlock = { header: Uint8Array; block: Uint8Array };
  const upLimit = shaping?.up;
  const writeBlock = (b: OutBlock) => {
    write(b.header);
    write(b.block);
    upLimit?.charge(PIECE_HEADER_LENGTH + b.block.length);
  };
  const flushHeld = () => {
    cancelUpWait = undefined;
    if (closed) return;
    while (held.length > 0 && !upLimit!.blocked) writeBlock(held.shift()!);
    if (upLimit!.blocked) {
      upHeld = true;
      cancelUpWait = upLimit!.wait(flushHeld, PIECE_HEADER_LENGTH + BLOCK_LENGTH);
    } else upHeld = false;
    tellCongestion();
  };
  const sendBlock = (b: OutBlock) => {
    if (!upLimit?.limited && held.length === 0) return writeBlock(b);
    if (held.length === 0 && !upLimit!.blocked) writeBlock(b);
    else held.push(b);
    if (cancelUpWait === undefined && upLimit!.blocked) flushHeld();
  };
  // A batch of blocks: written in this tick, so one corked write (one writev) carries them all.
  const sendBlocks = (blocks: readonly PieceBlock[]) => {
    const headers = encodePieceHeaders(blocks);
    for (let i = 0; i < blocks.length; i++) {
      const at = i * PIECE_HEADER_LENGTH;
      sendBlock({ header: headers.subarray(at, at + PIECE_HEADER_LENGTH), block: blocks[i]!.block });
    }
  };

  // MSE as initiator: Ya and PadA at once, step 3 (with our handshake as IA) once Yb is here.
  const startMse = () => {
    mse = new MseInitiator({
      infoHash: input.handshake.infoHash,
      random: options.random ?? ((n) => randomBytes(n)),
      provide: policy === 'require' ? CRYPTO_RC4 : CRYPTO_RC4 | CRYPTO_PLAINTEXT,
      initialPayload: encodeHandshake(input.handshake),
    });
    mseTimer = clock.setTimeout(
      () => mseFailed({ code: 'BT_ERR_MSE_TIMEOUT', message: 'the MSE handshake took too long' }),
      options.mseTimeoutMs ?? 5_000,
    );
    writeRaw(mse.start());
  };
  const stopMse = () => {
    if (mseTimer !== undefined) clock.clearTimeout(mseTimer as ReturnType<Clock['setTimeout']>);
    mseTimer = undefined;
    mse = undefined;
  };
  const mseRead = (chunk: Uint8Array) => {
    const step = mse!.push(chunk);
    for (const bytes of step.send ?? []) writeRaw(bytes);
    if (step.error) return mseFailed(step.error);
    if (!step.done) return;
    stopMse();
    if (step.done.ciphers) ({ decrypt: cipherIn, encrypt: cipherOut } = step.done.ciphers);
    encryption = step.done.ciphers ? 'rc4' : 'plaintext';
    const queued = pending;
    pending = [];
    for (const data of queued) write(data);
    if (step.done.initialPayload.length > 0) inbound?.next(step.done.initialPayload);
  };
  // The key exchange failed (refused, closed, garbage, too slow): under `prefer` the peer is dialled
  // once more in plaintext and remembered so; under `require` the connection ends.
  const mseFailed = (error: { code: string; message: string }) => {
    stopMse();
    if (closed) return;
    if (policy !== 'prefer' || fellBack || !dialling) return finish(error);
    fellBack = true;
    pending = [];
    plaintextPeers.add(dialKey!);
    const old = socket;
    old.removeAllListeners();
    old.on('error', () => undefined);
    old.destroy();
    corked = false;
    up = false;
    socket = transport.dial(dialling.host, dialling.port, onread);
    attach(socket);
  };

  const attach = (s: ByteStream) => {
    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      received(chunk, false);
      shapeRead(chunk.length);
    });
    s.on('drain', () => {
      backedUp = false;
      tellCongestion();
    });
    const ended = (error?: { code: string; message: string }) => {
      if (mse && up) mseFailed(error ?? { code: 'BT_ERR_MSE_CLOSED', message: 'closed during the MSE handshake' });
      else finish(error);
    };
    s.on('error', (err: NodeJS.ErrnoException) => ended({ code: err.code ?? 'BT_ERR_SOCKET', message: err.message }));
    s.on('close', () => ended());
    s.on('end', () => ended());
    if (accepted) return;
    s.on('connect', () => {
      up = true;
      if (!announced) {
        announced = true;
        send({ type: 'wire.connected', at: now() });
      }
      if (dialMse && !fellBack) startMse();
      else write(encodeHandshake(input.handshake));
    });
  };
  attach(socket);

  if (accepted) {
    queueMicrotask(() => send({ type: 'wire.connected', at: now() }));
    if (accepted.initialBytes.length > 0) queueMicrotask(() => !closed && inbound?.next(accepted.initialBytes));
  }

  receive((cmd) => {
    switch (cmd.type) {
      case 'wire.send':
        write(encodeMessage(cmd.message));
        break;
      case 'wire.sendMany': {
        // One buffer for the batch (a pipeline of 17-byte requests), not one small write each.
        const parts = cmd.messages.map(encodeMessage);
        write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
        break;
      }
      case 'wire.sendBlocks':
        sendBlocks(cmd.blocks);
        break;
      case 'wire.sendHandshake':
        write(encodeHandshake(cmd.infoHash ? { ...input.handshake, infoHash: cmd.infoHash } : input.handshake));
        break;
      case 'wire.close':
        if (!closed) {
          closed = true;
          stopShaping(); // held blocks are dropped with the connection
          stopMse();
          if (corked) socket.uncork();
          socket.end();
          // Give the kernel a moment to flush, then make sure the socket is gone.
          const last = socket;
          clock.setBackgroundTimeout(() => last.destroy(), 1000);
        }
        break;
    }
  });

  return () => {
    closed = true;
    stopShaping();
    stopMse();
    subscription.unsubscribe();
    socket.destroy();
  };
}
