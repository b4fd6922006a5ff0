/**
 * The wire bridge (src/io/peer-wire.ts) over a fake transport, for tests of what it reads and writes
 * with no socket: `wireBridge()` dials a {@link FakeStream}, records every event the bridge sends its
 * parent (with the manual clock's time), and lets the test play the kernel — `read(bytes)` puts bytes
 * into the shared read buffer as one socket read.
 *
 * @example
 * const { stream, events, read, send } = wireBridge(new ManualClock());
 * stream.emit('connect');
 * read(encodeHandshake(handshake));
 */
import { EventEmitter } from 'node:events';
import { createActor, setup, type AnyActorRef, type AnyEventObject } from 'xstate';
import { createPeerWireActor } from '../../src/io/peer-wire.js';
import type { WireShaping } from '../../src/io/rate-limit.js';
import type { ByteStream, ReadInto, Transport } from '../../src/io/transport.js';
import type { Handshake } from '../../src/protocol/wire.js';
import type { ManualClock } from './manual-clock.js';

/**
 * A socket that keeps what is written (with the clock's time and the cork it went under: writes of one
 * `cork` number leave as one writev on a real socket) and counts pauses.
 */
export class FakeStream extends EventEmitter {
  destroyed = false;
  connecting = false;
  readableLength = 0;
  writableLength = 0;
  paused = false;
  pauses = 0;
  writes: { at: number; bytes: Uint8Array; cork: number }[] = [];
  /** Corks so far; `corked` while one is open. */
  corks = 0;
  corked = false;
  constructor(private readonly clock: ManualClock) {
    super();
  }
  write(data: Uint8Array): boolean {
    this.writes.push({ at: this.clock.now(), bytes: Uint8Array.from(data), cork: this.corked ? this.corks : 0 });
    return true;
  }
  end() {}
  destroy() {
    this.destroyed = true;
  }
  cork() {
    this.corks++;
    this.corked = true;
  }
  uncork() {
    this.corked = false;
  }
  setNoDelay() {}
  pause() {
    this.paused = true;
    this.pauses++;
  }
  resume() {
    this.paused = false;
  }
}

/** The handshake the fake connection dials with (info hash 01…, peer id 02…). */
export const fakeHandshake: Handshake = {
  reserved: new Uint8Array(8),
  infoHash: new Uint8Array(20).fill(1),
  peerId: new Uint8Array(20).fill(2),
};

const actors: AnyActorRef[] = [];

/** Stops every bridge {@link wireBridge} started (call it in `afterEach`). */
export function stopWireBridges(): void {
  for (const a of actors.splice(0)) a.stop();
}

/** A wire bridge dialled over a {@link FakeStream}, under `shaping` if given, for a torrent of `pieceCount` pieces. */
export function wireBridge(clock: ManualClock, options: { shaping?: WireShaping; pieceCount?: number } = {}) {
  const stream = new FakeStream(clock);
  let readInto: ReadInto | undefined;
  const transport: Transport = {
    dial: (_h, _p, r) => {
      readInto = r;
      return stream as unknown as ByteStream;
    },
    adopt: () => undefined,
    createServer: () => {
      throw new Error('not used');
    },
    localAddresses: () => [],
    isStream: (s): s is ByteStream => s === stream,
  };
  // Each event with `at`, the clock's time when it came.
  const events: AnyEventObject[] = [];
  const wireActor = createPeerWireActor(transport, clock, { ...(options.shaping && { shaping: options.shaping }) });
  const parent = setup({ actors: { wire: wireActor } }).createMachine({
    invoke: {
      id: 'wire',
      src: 'wire',
      input: {
        connect: { host: '127.0.0.1', port: 1 },
        handshake: fakeHandshake,
        pieceCount: options.pieceCount ?? 100,
      },
    },
    on: { '*': { actions: ({ event }) => void events.push({ ...event, at: clock.now() }) } },
  });
  const actor = createActor(parent, { clock });
  actors.push(actor);
  actor.start();
  const wire = () => actor.getSnapshot().children.wire as AnyActorRef;
  /** The kernel: one read of `bytes` into the shared buffer. */
  const read = (bytes: Uint8Array) => {
    const buf = readInto!.buffer();
    buf.set(bytes);
    readInto!.callback(bytes.length, buf);
  };
  return {
    stream,
    events,
    read,
    send: (e: unknown) => wire().send(e as never),
    readInto: () => readInto!,
  };
}
