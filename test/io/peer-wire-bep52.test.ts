/**
 * BEP 52 hash messages through the wire bridge (src/io/peer-wire.ts) over a fake transport: a `hash
 * request` and a `hashes` read into the buffer every connection shares reach the peer actor as
 * `wire.hash-request` / `wire.hashes` whose root and hashes are their own bytes — the next read, which
 * overwrites that buffer, does not change them (the peer statechart echoes the root in its answer), nor
 * a bitfield's bytes or an extended payload; and the statechart's answer goes out as the codec writes it.
 */
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, setup, type AnyActorRef, type AnyEventObject } from 'xstate';
import { createPeerWireActor } from '../../src/io/peer-wire.js';
import type { ByteStream, ReadInto, Transport } from '../../src/io/transport.js';
import { encodeHandshake, encodeMessage, type Handshake, type HashRange } from '../../src/protocol/wire.js';
import { ManualClock } from '../support/manual-clock.js';

class FakeStream extends EventEmitter {
  destroyed = false;
  connecting = false;
  readableLength = 0;
  writableLength = 0;
  writes: Uint8Array[] = [];
  write(data: Uint8Array): boolean {
    this.writes.push(Uint8Array.from(data));
    return true;
  }
  end() {}
  destroy() {
    this.destroyed = true;
  }
  cork() {}
  uncork() {}
  setNoDelay() {}
  pause() {}
  resume() {}
}

const handshake: Handshake = {
  reserved: new Uint8Array(8),
  infoHash: new Uint8Array(20).fill(1),
  peerId: new Uint8Array(20).fill(2),
};

const actors: AnyActorRef[] = [];
afterEach(() => {
  for (const a of actors.splice(0)) a.stop();
});

function bridge() {
  const clock = new ManualClock();
  const stream = new FakeStream();
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
  const events: AnyEventObject[] = [];
  const parent = setup({ actors: { wire: createPeerWireActor(transport, clock) } }).createMachine({
    invoke: { id: 'wire', src: 'wire', input: { connect: { host: '127.0.0.1', port: 1 }, handshake, pieceCount: 8 } },
    on: { '*': { actions: ({ event }) => void events.push(event) } },
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
  return { stream, events, read, send: (e: unknown) => wire().send(e as never) };
}

const tick = () => new Promise((r) => process.nextTick(r));

describe('wire bridge: BEP 52 hash messages', () => {
  it('roots and hashes of the shared read buffer become their own bytes; answers leave as the codec writes them', async () => {
    const { stream, events, read, send } = bridge();
    stream.emit('connect');
    await tick();
    const range: HashRange = {
      piecesRoot: new Uint8Array(32).fill(0x5a),
      baseLayer: 1,
      index: 0,
      length: 2,
      proofLayers: 3,
    };
    const hashes = new Uint8Array(5 * 32).fill(0x77);
    read(
      Buffer.concat([
        encodeHandshake(handshake),
        encodeMessage({ type: 'hash-request', ...range }),
        encodeMessage({ type: 'hashes', ...range, hashes }),
        encodeMessage({ type: 'bitfield', bytes: Uint8Array.of(0xf0) }),
        encodeMessage({ type: 'extended', id: 3, payload: Uint8Array.of(1, 2, 3) }),
      ]),
    );
    // The next read overwrites the shared buffer.
    read(new Uint8Array(1024).fill(0));
    const request = events.find((e) => e.type === 'wire.hash-request') as AnyEventObject & HashRange;
    const answer = events.find((e) => e.type === 'wire.hashes') as AnyEventObject & HashRange & { hashes: Uint8Array };
    expect(request).toMatchObject({ ...range });
    expect(request.piecesRoot).toEqual(range.piecesRoot);
    expect(answer.hashes).toEqual(hashes);
    expect(answer.piecesRoot).toEqual(range.piecesRoot);
    // So are a bitfield's bytes and an extended message's payload (an actor may keep them).
    expect(events.find((e) => e.type === 'wire.bitfield')).toMatchObject({ bytes: Uint8Array.of(0xf0) });
    expect(events.find((e) => e.type === 'wire.extended')).toMatchObject({ id: 3, payload: Uint8Array.of(1, 2, 3) });
    const reject = { type: 'hash-reject' as const, ...range };
    send({ type: 'wire.send', message: reject });
    await tick();
    expect(stream.writes.some((w) => Buffer.from(w).equals(encodeMessage(reject)))).toBe(true);
  });
});
