/**
 * The socket bridge of one peer connection: net.Socket → the wire framer → typed `wire.*` events for
 * the peer actor; `wire.send*` events from the actor → a write queue that honours backpressure. The
 * peer actor never touches the socket: it invokes {@link peerWireActor} and talks to it with events.
 */
import { Socket, type NetConnectOpts } from 'node:net';
import { fromCallback } from 'xstate';
import { encodeHandshake, encodeMessage, encodePieceHeader, type Handshake, type WireMessage } from '../protocol/wire.js';
import { WireFramer } from '../protocol/wire-framing.js';

type Distribute<T> = T extends { type: infer K extends string } ? Omit<T, 'type'> & { type: `wire.${K}`; at: number } : never;

/** A wire message as an actor event: `{ type: 'wire.piece', index, begin, block, at }` … */
export type WireMessageEvent = Distribute<WireMessage>;

/** Events the bridge sends to the peer actor. `at` is a wall-clock timestamp (ms) taken in src/io. */
export type PeerWireEvent =
  | { type: 'wire.connected'; at: number }
  | { type: 'wire.handshake'; handshake: Handshake; at: number }
  | WireMessageEvent
  /** Malformed input from the peer (framing or message errors): the connection is unusable. */
  | { type: 'wire.protocolError'; code: string; message: string; at: number }
  /** The socket closed or failed; `error` is absent for a clean end. */
  | { type: 'wire.closed'; error?: { code: string; message: string }; at: number }
  /** The write queue filled past its high-water mark: stop producing until `wire.drain`. */
  | { type: 'wire.congested'; at: number }
  /** The write queue drained (after it had filled up). */
  | { type: 'wire.drain'; at: number };

/** Events the peer actor sends to the bridge. */
export type PeerWireCommand =
  | { type: 'wire.send'; message: WireMessage }
  /** A `piece` message: the block follows its 13-byte header without being copied. */
  | { type: 'wire.sendBlock'; index: number; begin: number; block: Uint8Array }
  | { type: 'wire.sendHandshake' }
  | { type: 'wire.close' };

export interface PeerWireInput {
  /** Dial this address (outgoing connection)… */
  connect?: { host: string; port: number };
  /** …or adopt an accepted socket (incoming connection), with bytes already read from it. */
  socket?: Socket;
  initialBytes?: Uint8Array;
  /** Our handshake; sent at once on an outgoing connection, on `wire.sendHandshake` on an incoming one. */
  handshake: Handshake;
  /** Bounds the bitfield message (BEP 3: ⌈pieces / 8⌉ bytes). */
  pieceCount?: number;
  /** Largest block we accept in a `piece` message (default 16 KiB; BEP 3 peers send 16 KiB). */
  maxBlockLength?: number;
}

/** Bytes queued for writing past which the socket counts as congested (`wire.drain` follows). */
const HIGH_WATER = 1 << 20;

/**
 * The bridge as an XState callback actor. Provide it as the peer machine's `wire` actor.
 *
 * Every inbound message becomes exactly one event (a 16 KiB block costs one event, its bytes a view of
 * the socket chunk, never copied here). Errors never throw: they become `wire.protocolError` or
 * `wire.closed`. Stopping the actor destroys the socket.
 */
export const peerWireActor = fromCallback<PeerWireCommand, PeerWireInput>(({ input, sendBack, receive }) => {
  const now = () => Date.now();
  const send = (e: PeerWireEvent) => sendBack(e as never);
  const framer = new WireFramer({
    handshake: true,
    limits: {
      ...(input.pieceCount !== undefined && { pieceCount: input.pieceCount }),
      maxMessageLength: (input.maxBlockLength ?? 16384) + 13,
    },
  });
  const socket = input.socket ?? new Socket();
  let closed = false;
  let congested = false;

  const emit = (ev: ReturnType<typeof toEvent>) => send(ev);
  const toEvent = (e: Parameters<Parameters<WireFramer['push']>[1]>[0]): PeerWireEvent => {
    const at = now();
    if (e.type === 'handshake') return { type: 'wire.handshake', handshake: e.handshake, at };
    return { ...e, type: `wire.${e.type}`, at } as PeerWireEvent;
  };
  const onData = (chunk: Uint8Array) => {
    if (closed) return;
    try {
      framer.push(chunk, (e) => emit(toEvent(e)));
    } catch (err) {
      const e = err as { code?: string; message?: string };
      send({ type: 'wire.protocolError', code: e.code ?? 'BT_ERR_WIRE', message: e.message ?? String(err), at: now() });
      finish();
    }
  };
  const finish = (error?: { code: string; message: string }) => {
    if (closed) return;
    closed = true;
    socket.destroy();
    send({ type: 'wire.closed', ...(error && { error }), at: now() });
  };
  const write = (data: Uint8Array) => {
    if (closed || socket.destroyed) return;
    const ok = socket.write(data);
    if (!ok && !congested && socket.writableLength > HIGH_WATER) {
      congested = true;
      send({ type: 'wire.congested', at: now() });
    }
  };

  socket.setNoDelay(true);
  socket.on('data', onData);
  socket.on('drain', () => {
    if (congested) {
      congested = false;
      send({ type: 'wire.drain', at: now() });
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => finish({ code: err.code ?? 'BT_ERR_SOCKET', message: err.message }));
  socket.on('close', () => finish());
  socket.on('end', () => finish());

  if (input.socket) {
    queueMicrotask(() => send({ type: 'wire.connected', at: now() }));
    if (input.initialBytes && input.initialBytes.length > 0) queueMicrotask(() => onData(input.initialBytes!));
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
          socket.end();
          // Give the kernel a moment to flush, then make sure the socket is gone.
          setTimeout(() => socket.destroy(), 1000).unref();
        }
        break;
    }
  });

  return () => {
    closed = true;
    socket.destroy();
  };
});
