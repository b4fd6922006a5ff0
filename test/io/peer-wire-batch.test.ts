/**
 * The upload path through the wire bridge (src/io/peer-wire.ts) over a fake transport: the consecutive
 * `request` messages of one socket read reach the peer actor as one `wire.requests` event (a lone one as
 * `wire.request`, in order with the other messages around it), and a `wire.sendBlocks` batch leaves as
 * `piece` messages, in order, each block after its 13-byte header without a copy, all under one cork
 * (one writev on a real socket).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AnyEventObject } from 'xstate';
import { encodeHandshake, encodeMessage, type WireMessage } from '../../src/protocol/wire.js';
import { fakeHandshake as handshake, stopWireBridges, wireBridge } from '../support/fake-wire.js';
import { ManualClock } from '../support/manual-clock.js';

afterEach(stopWireBridges);

const tick = () => new Promise((r) => process.nextTick(r));
const BLOCK = 16 * 1024;
const request = (index: number, begin: number): WireMessage => ({ type: 'request', index, begin, length: BLOCK });
const plain = ({ type, ...rest }: AnyEventObject) => ({ type, ...rest, at: undefined });

describe('wire bridge: requests in batches', () => {
  it('the requests of one read are one `wire.requests`; a lone one a `wire.request`; order kept', async () => {
    const { stream, events, read } = wireBridge(new ManualClock(), { pieceCount: 8 });
    stream.emit('connect');
    await tick();
    read(
      Buffer.concat([
        encodeHandshake(handshake),
        encodeMessage(request(0, 0)),
        encodeMessage(request(0, BLOCK)),
        encodeMessage(request(1, 0)),
        encodeMessage({ type: 'have', index: 2 }),
        encodeMessage(request(3, 0)),
        encodeMessage({ type: 'cancel', index: 0, begin: 0, length: BLOCK }),
      ]),
    );
    // The next read: two requests, the second cut in half (it completes in the read after).
    const split = encodeMessage(request(5, BLOCK));
    read(Buffer.concat([encodeMessage(request(4, 0)), split.subarray(0, 7)]));
    read(split.subarray(7));
    const wire = events.filter((e) => e.type !== 'wire.connected' && e.type !== 'wire.handshake').map(plain);
    expect(wire).toEqual(
      [
        {
          type: 'wire.requests',
          requests: [
            { index: 0, begin: 0, length: BLOCK },
            { index: 0, begin: BLOCK, length: BLOCK },
            { index: 1, begin: 0, length: BLOCK },
          ],
        },
        { type: 'wire.have', index: 2 },
        { type: 'wire.request', index: 3, begin: 0, length: BLOCK },
        { type: 'wire.cancel', index: 0, begin: 0, length: BLOCK },
        { type: 'wire.request', index: 4, begin: 0, length: BLOCK },
        { type: 'wire.request', index: 5, begin: BLOCK, length: BLOCK },
      ].map(plain),
    );
  });
});

describe('wire bridge: blocks in batches', () => {
  it('a `wire.sendBlocks` leaves as piece messages in order, under one cork, the blocks not copied', async () => {
    const { stream, send } = wireBridge(new ManualClock(), { pieceCount: 8 });
    stream.emit('connect');
    await tick();
    const before = stream.writes.length;
    const blocks = [
      { index: 2, begin: 0, block: new Uint8Array(BLOCK).fill(1) },
      { index: 2, begin: BLOCK, block: new Uint8Array(BLOCK).fill(2) },
      { index: 7, begin: 0, block: new Uint8Array(100).fill(3) },
    ];
    send({ type: 'wire.sendBlocks', blocks });
    send({ type: 'wire.send', message: { type: 'have', index: 1 } });
    await tick();
    const writes = stream.writes.slice(before);
    const bytes = Buffer.concat(writes.map((w) => w.bytes));
    expect(bytes).toEqual(
      Buffer.concat([
        ...blocks.map((b) => encodeMessage({ type: 'piece', ...b })),
        encodeMessage({ type: 'have', index: 1 }),
      ]),
    );
    // Header, block, header, block …: the blocks are written as given (no copy into a message).
    expect(writes.map((w) => w.bytes.length)).toEqual([13, BLOCK, 13, BLOCK, 13, 100, 9]);
    // Everything of the tick went under one cork: one system call on a real socket.
    expect(new Set(writes.map((w) => w.cork)).size).toBe(1);
    expect(writes[0]!.cork).toBeGreaterThan(0);
  });
});
