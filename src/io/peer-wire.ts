/**
 * The socket bridge of one peer connection: net.Socket → the wire framer → typed `wire.*` events for
 * the peer actor; `wire.send*` events from the actor → a write queue that honours backpressure. The
 * peer actor never touches the socket: it invokes {@link peerWireActor} and talks to it with events.
 */
import { Socket, type NetConnectOpts } from 'node:net';
import { fromCallback } from 'xstate';
import type { PeerWireCommand, PeerWireEvent, PeerWireInput, PieceBlock } from '../protocol/peer-wire-types.js';
import { encodeHandshake, encodeMessage, encodePieceHeader, type WireEvent } from '../protocol/wire.js';
import { WireFramer } from '../protocol/wire-framing.js';
import { BLOCK_LENGTH } from '../protocol/layout.js';
import { isAcceptedTransport } from './listener.js';

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

interface TcpHandle {
  reading: boolean;
  readStop(): number;
  useUserBuffer(buf: Uint8Array): void;
}

/**
 * Moves an accepted socket's TCP handle onto a new Socket that reads with `onread` (Node offers
 * `onread` only to sockets it creates, and an accepted socket's 64 KiB chunks cost an allocation and
 * garbage each: 1.5 CPU s/GiB more when a seeder dialled us, measured in docs/performance.md). Only a
 * plain TCP socket with nothing buffered either way is moved; otherwise undefined (keep the socket).
 * Nothing runs between the listener handing the socket over and this, so no read is missed.
 */
function adoptOnSharedBuffer(old: Socket, onread: object): Socket | undefined {
  const internal = old as unknown as { _handle: Partial<TcpHandle> | null };
  const handle = internal._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || typeof handle.readStop !== 'function') return undefined;
  if (old.destroyed || old.connecting || old.readableLength > 0 || old.writableLength > 0) return undefined;
  handle.readStop();
  handle.reading = false;
  let adopted: Socket;
  try {
    adopted = new Socket({ handle, onread, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
  } catch {
    old.read(0); // reading again on the old socket
    return undefined;
  }
  old.removeAllListeners();
  internal._handle = null; // the old Socket no longer owns (nor closes) the handle
  old.destroy();
  return adopted;
}

/** Bytes queued for writing past which the socket counts as congested (`wire.drain` follows). */
const HIGH_WATER = 1 << 20;

/**
 * The bridge as an XState callback actor. Provide it as the peer machine's `wire` actor.
 *
 * Every inbound message becomes one event, except that the consecutive blocks of one socket read come
 * as one `wire.pieces` event (their bytes views of the socket chunk, never copied here); commands
 * written in one tick leave in one system call. Errors never throw: they become `wire.protocolError` or
 * `wire.closed`. Stopping the actor destroys the socket.
 */
export const peerWireActor = fromCallback<PeerWireCommand, PeerWireInput>(({ input, sendBack, receive }) => {
  const now = () => Date.now();
  const send = (e: PeerWireEvent) => sendBack(e);
  const accepted = isAcceptedTransport(input.transport) ? input.transport : undefined;
  const framer = new WireFramer({
    handshake: true,
    limits: {
      ...(input.pieceCount !== undefined && { pieceCount: input.pieceCount }),
      maxMessageLength: (input.maxBlockLength ?? BLOCK_LENGTH) + 13,
    },
  });
  // Reads land in the buffer shared by every connection (see READ_BUFFER_SIZE), not in a new 64 KiB
  // chunk per read: an outgoing socket is created so; an accepted one is moved onto such a socket
  // when it can be (otherwise it keeps its 'data' events).
  const onread = {
    buffer: () => (sharedReadBuffer ??= Buffer.allocUnsafe(READ_BUFFER_SIZE)),
    callback: (n: number, buf: Uint8Array) => {
      onData(buf.subarray(0, n), true);
      return true;
    },
  };
  const socket = accepted
    ? (adoptOnSharedBuffer(accepted.socket, onread) ?? accepted.socket)
    : new Socket({ onread } as ConstructorParameters<typeof Socket>[0]); // @types/node lists `onread` for net.connect only
  let closed = false;
  let congested = false;

  // Consecutive blocks go to the actor as one `wire.pieces` event: those of one read of the shared
  // buffer at once (it is reused by the next read), those of the 64 KiB chunks of an accepted socket
  // once per event-loop turn (the chunks are the socket's own: their views stay valid), so a turn's
  // worth of reads costs one machine event, not one per chunk.
  let blocks: PieceBlock[] = [];
  let flushTimer: NodeJS.Immediate | undefined;
  const flushBlocks = () => {
    if (flushTimer) {
      clearImmediate(flushTimer);
      flushTimer = undefined;
    }
    if (blocks.length === 0) return;
    const at = now();
    if (blocks.length === 1) send({ type: 'wire.piece', ...blocks[0]!, at });
    else send({ type: 'wire.pieces', blocks, at });
    blocks = [];
  };
  // Whether the chunk being framed is the shared read buffer (see READ_BUFFER_SIZE).
  let sharedChunk = false;
  const emit = (e: WireEvent) => {
    if (e.type === 'piece') {
      blocks.push({ index: e.index, begin: e.begin, block: e.block });
      return;
    }
    flushBlocks();
    // Blocks are consumed (copied into their piece) before the read returns; other payloads are
    // small and rare, and an actor may keep them: they get their own bytes.
    if (sharedChunk) {
      if (e.type === 'bitfield') e.bytes = e.bytes.slice();
      else if (e.type === 'extended' || e.type === 'unknown') e.payload = e.payload.slice();
    }
    // The decoded message is a fresh object: it becomes the event (no copy per message).
    const ev = e as unknown as { type: string; at: number };
    ev.type = wireType(e.type);
    ev.at = now();
    send(ev as PeerWireEvent);
  };
  const onData = (chunk: Uint8Array, shared = false) => {
    if (closed) return;
    sharedChunk = shared;
    try {
      framer.push(chunk, emit);
      if (shared) flushBlocks();
      else if (blocks.length > 0 && !flushTimer) flushTimer = setImmediate(flushBlocks);
    } catch (err) {
      flushBlocks();
      const e = err as { code?: string; message?: string };
      send({ type: 'wire.protocolError', code: e.code ?? 'BT_ERR_WIRE', message: e.message ?? String(err), at: now() });
      finish();
    }
  };
  const finish = (error?: { code: string; message: string }) => {
    if (closed) return;
    flushBlocks(); // what arrived before the end is delivered first
    closed = true;
    socket.destroy();
    send({ type: 'wire.closed', ...(error && { error }), at: now() });
  };
  // Writes made in one tick go out together: the socket is corked at the first and uncorked on the
  // next tick, so a burst of small messages (a pipeline of requests, haves) is one system call.
  let corked = false;
  const uncork = () => {
    corked = false;
    if (closed || socket.destroyed) return;
    socket.uncork();
    if (!congested && socket.writableLength > HIGH_WATER) {
      congested = true;
      send({ type: 'wire.congested', at: now() });
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

  socket.setNoDelay(true);
  socket.on('data', (chunk: Buffer) => onData(chunk));
  socket.on('drain', () => {
    if (congested) {
      congested = false;
      send({ type: 'wire.drain', at: now() });
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => finish({ code: err.code ?? 'BT_ERR_SOCKET', message: err.message }));
  socket.on('close', () => finish());
  socket.on('end', () => finish());

  if (accepted) {
    queueMicrotask(() => send({ type: 'wire.connected', at: now() }));
    if (accepted.initialBytes.length > 0) queueMicrotask(() => onData(accepted.initialBytes));
  } else if (input.connect) {
    const opts: NetConnectOpts = { host: input.connect.host, port: input.connect.port };
    socket.connect(opts, () => {
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
        write(encodePieceHeader(cmd.index, cmd.begin, cmd.block.length));
        write(cmd.block);
        break;
      case 'wire.sendHandshake':
        write(encodeHandshake(input.handshake));
        break;
      case 'wire.close':
        if (!closed) {
          closed = true;
          if (corked) socket.uncork();
          socket.end();
          // Give the kernel a moment to flush, then make sure the socket is gone.
          setTimeout(() => socket.destroy(), 1000).unref();
        }
        break;
    }
  });

  return () => {
    closed = true;
    if (flushTimer) clearImmediate(flushTimer);
    socket.destroy();
  };
});
