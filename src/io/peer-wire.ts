/**
 * The socket bridge of one peer connection: net.Socket reads → an Observable of chunks → `frameWire`
 * (RxJS) → typed `wire.*` events for the peer actor; `wire.send*` commands from the actor → a write
 * queue that honours backpressure. The peer actor never touches the socket: it invokes
 * {@link peerWireActor} and talks to it with the events of src/protocol/peer-wire-types.ts.
 */
import { fromCallback, type CallbackLogicFunction, type EventObject } from 'xstate';
import type { PeerWireCommand, PeerWireEvent, PeerWireInput, PieceBlock } from '../protocol/peer-wire-types.js';
import { Observable, type Subscriber } from 'rxjs';
import { encodeHandshake, encodeMessage, encodePieceHeader, type WireEvent } from '../protocol/wire.js';
import { frameWire, type PiecesEvent } from '../protocol/wire-framing-rx.js';
import { BLOCK_LENGTH } from '../protocol/layout.js';
import { isAcceptedTransport } from './listener.js';
import { realClock, type Clock } from './clock.js';
import { tcpTransport, type Transport } from './transport.js';
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
 * burst at a time); blocks (`wire.sendBlock`) are charged to the upload limiters and held, in order,
 * while those are in debt — the actor is told `wire.congested` then (no more block reads start) and
 * `wire.drain` once they are sent. Other messages are never held back.
 *
 * A connection's bytes are an Observable of chunks (reads of the shared buffer, or an accepted
 * socket's own chunks) piped through `frameWire` — one subscription per connection — and every framed
 * message becomes one event, except that the consecutive blocks of one read come as one `wire.pieces`
 * event (views of the read, never copied here). Commands written in one tick leave in one system call.
 * Errors never throw: they become `wire.protocolError` or `wire.closed`. Stopping the actor destroys
 * the socket.
 */
export function createPeerWireActor(transport: Transport, clock: Clock, shaping?: WireShaping) {
  return fromCallback<PeerWireCommand, PeerWireInput>((args) => wireBridge(args, transport, clock, shaping));
}

/** The bridge over TCP and the real clock (the engine's defaults). */
export const peerWireActor = createPeerWireActor(tcpTransport, realClock);

type WireArgs = Parameters<CallbackLogicFunction<PeerWireCommand, EventObject, PeerWireInput>>[0];

function wireBridge({ input, sendBack, receive }: WireArgs, transport: Transport, clock: Clock, shaping?: WireShaping) {
  const now = () => clock.now();
  const send = (e: PeerWireEvent) => sendBack(e);
  const accepted = isAcceptedTransport(input.transport) ? input.transport : undefined;
  // The socket's reads, as the Observable the framing operator consumes (subscribed to below, before
  // the socket can read anything).
  let inbound: Subscriber<Uint8Array> | undefined;
  const chunks$ = new Observable<Uint8Array>((subscriber) => {
    inbound = subscriber;
    return () => void (inbound = undefined);
  });
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
      if (!closed) inbound?.next(buf.subarray(0, n));
      shapeRead(n);
      return true;
    },
  };
  const dialling = accepted ? undefined : input.connect;
  const socket = accepted
    ? (transport.adopt(accepted.socket, onread) ?? accepted.socket)
    : dialling && transport.dial(dialling.host, dialling.port, onread);
  if (!socket) {
    const error = { code: 'BT_ERR_WIRE', message: 'nothing to connect to' };
    queueMicrotask(() => send({ type: 'wire.closed', error, at: now() }));
    return () => undefined;
  }
  let closed = false;
  /** The socket's write queue is past HIGH_WATER. */
  let backedUp = false;
  /** What the actor was last told: `wire.congested` (true) or `wire.drain` (false). */
  let congested = false;
  /** Blocks held back by the upload limiters (in order), and whether they are being waited for. */
  const held: { index: number; begin: number; block: Uint8Array }[] = [];
  let upHeld = false;
  let cancelUpWait: (() => void) | undefined;
  /** The socket is paused for the download limiters. */
  let readPaused = false;
  let cancelReadWait: (() => void) | undefined;
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
  const deliver = (e: WireEvent | PiecesEvent) => {
    if (e.type === 'pieces') return send({ type: 'wire.pieces', blocks: e.blocks, at: now() });
    if (e.type === 'bitfield' && isShared(e.bytes)) e.bytes = e.bytes.slice();
    else if ((e.type === 'extended' || e.type === 'unknown') && isShared(e.payload)) e.payload = e.payload.slice();
    // The decoded message is a fresh object: it becomes the event (no copy per message).
    const ev = e as unknown as { type: string; at: number };
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
    socket.destroy();
    send({ type: 'wire.closed', ...(error && { error }), at: now() });
  };
  const subscription = chunks$
    .pipe(
      frameWire({
        handshake: true,
        batchBlocks: true,
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
  const write = (data: Uint8Array) => {
    if (closed || socket.destroyed) return;
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    socket.write(data);
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
  // Upload limit: a block leaves when no limiter is in debt, and is charged as it leaves.
  const up = shaping?.up;
  const writeBlock = (b: { index: number; begin: number; block: Uint8Array }) => {
    write(encodePieceHeader(b.index, b.begin, b.block.length));
    write(b.block);
    up?.charge(13 + b.block.length);
  };
  const flushHeld = () => {
    cancelUpWait = undefined;
    if (closed) return;
    while (held.length > 0 && !up!.blocked) writeBlock(held.shift()!);
    if (up!.blocked) {
      upHeld = true;
      cancelUpWait = up!.wait(flushHeld, 13 + BLOCK_LENGTH);
    } else upHeld = false;
    tellCongestion();
  };
  const sendBlock = (b: { index: number; begin: number; block: Uint8Array }) => {
    if (!up?.limited && held.length === 0) return writeBlock(b);
    if (held.length === 0 && !up!.blocked) writeBlock(b);
    else held.push(b);
    if (cancelUpWait === undefined && up!.blocked) flushHeld();
  };

  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => {
    if (!closed) inbound?.next(chunk);
    shapeRead(chunk.length);
  });
  socket.on('drain', () => {
    backedUp = false;
    tellCongestion();
  });
  socket.on('error', (err: NodeJS.ErrnoException) =>
    finish({ code: err.code ?? 'BT_ERR_SOCKET', message: err.message }),
  );
  socket.on('close', () => finish());
  socket.on('end', () => finish());

  if (accepted) {
    queueMicrotask(() => send({ type: 'wire.connected', at: now() }));
    if (accepted.initialBytes.length > 0) queueMicrotask(() => !closed && inbound?.next(accepted.initialBytes));
  } else {
    socket.on('connect', () => {
      send({ type: 'wire.connected', at: now() });
      write(encodeHandshake(input.handshake));
    });
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
      case 'wire.sendBlock':
        sendBlock(cmd);
        break;
      case 'wire.sendHandshake':
        write(encodeHandshake(input.handshake));
        break;
      case 'wire.close':
        if (!closed) {
          closed = true;
          stopShaping(); // held blocks are dropped with the connection
          if (corked) socket.uncork();
          socket.end();
          // Give the kernel a moment to flush, then make sure the socket is gone.
          clock.setBackgroundTimeout(() => socket.destroy(), 1000);
        }
        break;
    }
  });

  return () => {
    closed = true;
    stopShaping();
    subscription.unsubscribe();
    socket.destroy();
  };
}
