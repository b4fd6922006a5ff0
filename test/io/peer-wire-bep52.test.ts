/**
 * BEP 52 hash messages through the wire bridge (src/io/peer-wire.ts) over a fake transport: a `hash
 * request` and a `hashes` read into the buffer every connection shares reach the peer actor as
 * `wire.hash-request` / `wire.hashes` whose root and hashes are their own bytes — the next read, which
 * overwrites that buffer, does not change them (the peer statechart echoes the root in its answer), nor
 * a bitfield's bytes or an extended payload; and the statechart's answer goes out as the codec writes it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyEventObject } from 'xstate';
import { encodeHandshake, encodeMessage, type HashRange } from '../../src/protocol/wire.js';
import { fakeHandshake as handshake, stopWireBridges, wireBridge } from '../support/fake-wire.js';
import { ManualClock } from '../support/manual-clock.js';

afterEach(stopWireBridges);
const bridge = () => wireBridge(new ManualClock(), { pieceCount: 8 });

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
    expect(stream.writes.some((w) => Buffer.from(w.bytes).equals(encodeMessage(reject)))).toBe(true);
  });
});
