/**
 * The wire bridge under rate limits (src/io/peer-wire.ts with src/io/rate-limit.ts), over a fake
 * transport and a manual clock: blocks leave at the upload rate while every other message goes out at
 * once, the peer actor is told `wire.congested` / `wire.drain` around the held blocks; reads are
 * charged, at most a burst at a time, and the socket pauses while the download limiters are in debt.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { burstOf, MIN_BURST, RateLimiter, type WireShaping } from '../../src/io/rate-limit.js';
import { encodeHandshake, encodeMessage } from '../../src/protocol/wire.js';
import { fakeHandshake as handshake, stopWireBridges, wireBridge } from '../support/fake-wire.js';
import { ManualClock } from '../support/manual-clock.js';

const bridge = (shaping: WireShaping, clock: ManualClock) => wireBridge(clock, { shaping });

afterEach(stopWireBridges);

const tick = () => new Promise((r) => process.nextTick(r));

function limiters(clock: ManualClock, down: number, up: number): WireShaping {
  const engine = { down: new RateLimiter(clock, down), up: new RateLimiter(clock, up) };
  return { down: new RateLimiter(clock, 0, engine.down), up: new RateLimiter(clock, 0, engine.up) };
}

describe('wire bridge: upload limit', () => {
  it('blocks leave at the rate, a have goes out at once, congested then drain', async () => {
    const clock = new ManualClock();
    const rate = 64 * 1024;
    const shaping = limiters(clock, 0, rate);
    const { stream, events, send } = bridge(shaping, clock);
    stream.emit('connect');
    const block = new Uint8Array(16 * 1024).fill(7);
    const blocks = Array.from({ length: 10 }, (_, i) => ({ index: 0, begin: i * block.length, block }));
    send({ type: 'wire.sendBlocks', blocks });
    send({ type: 'wire.send', message: { type: 'have', index: 3 } });
    await tick();
    const isBlock = (b: Uint8Array) => b.length === block.length;
    const have = encodeMessage({ type: 'have', index: 3 });
    // The have is written while most blocks are still held.
    const haveAt = stream.writes.findIndex((w) => Buffer.from(w.bytes).equals(have));
    expect(haveAt).toBeGreaterThan(0);
    expect(stream.writes.slice(0, haveAt).filter((w) => isBlock(w.bytes)).length).toBeLessThanOrEqual(2);
    expect(events.map((e) => e.type)).toContain('wire.congested');
    expect(events.map((e) => e.type)).not.toContain('wire.drain');
    for (let t = 100; t <= 4000; t += 100) {
      clock.advanceTo(t);
      const sent = stream.writes.filter((w) => isBlock(w.bytes)).length * (block.length + 13);
      expect(sent).toBeLessThanOrEqual(burstOf(rate) + (rate * t) / 1000 + block.length + 13);
    }
    const written = stream.writes.filter((w) => isBlock(w.bytes));
    expect(written).toHaveLength(10);
    // 10 blocks at 64 KiB/s: the last leaves after about (10 × 16 KiB − burst) / rate.
    const expected = ((10 * (block.length + 13) - MIN_BURST - (block.length + 13)) * 1000) / rate;
    expect(written.at(-1)!.at).toBeGreaterThanOrEqual(expected * 0.95);
    expect(written.at(-1)!.at).toBeLessThanOrEqual(expected * 1.1);
    expect(events.at(-1)!.type).toBe('wire.drain');
  });

  it('lifting the limit sends the held blocks at once', async () => {
    const clock = new ManualClock();
    const shaping = limiters(clock, 0, 16 * 1024);
    const { stream, events, send } = bridge(shaping, clock);
    stream.emit('connect');
    const block = new Uint8Array(16 * 1024);
    send({
      type: 'wire.sendBlocks',
      blocks: Array.from({ length: 5 }, (_, i) => ({ index: 1, begin: i * block.length, block })),
    });
    await tick();
    expect(stream.writes.filter((w) => w.bytes.length === block.length).length).toBeLessThan(5);
    shaping.up.parent!.setRate(0);
    await tick();
    expect(stream.writes.filter((w) => w.bytes.length === block.length)).toHaveLength(5);
    expect(events.at(-1)!.type).toBe('wire.drain');
  });
});

describe('wire bridge: download limit', () => {
  it('reads at most a burst at a time and pauses the socket while in debt', async () => {
    const clock = new ManualClock();
    const rate = 200 * 1024;
    const shaping = limiters(clock, rate, 0);
    const { stream, events, readInto } = bridge(shaping, clock);
    stream.emit('connect');
    await tick();
    const r = readInto();
    // What the peer sends: the handshake, then 16 KiB extended messages.
    const message = encodeMessage({ type: 'extended', id: 0, payload: new Uint8Array(16_000).fill(9) });
    const wireBytes = Buffer.concat([encodeHandshake(handshake), ...Array<Uint8Array>(330).fill(message)]);
    let total = 0;
    /** The kernel: a read whenever the socket reads. */
    const read = () => {
      const buf = r.buffer();
      expect(buf.length).toBeLessThanOrEqual(Math.max(MIN_BURST, rate / 10) + 1);
      buf.set(wireBytes.subarray(total, total + buf.length));
      total += buf.length;
      r.callback(buf.length, buf);
    };
    for (let t = 0; t <= 20_000; t += 10) {
      clock.advanceTo(t);
      for (let i = 0; i < 10 && !stream.paused; i++) read();
      expect(total).toBeLessThanOrEqual(burstOf(rate) + (rate * t) / 1000 + burstOf(rate) + 1);
    }
    // 20 s at 200 KiB/s: the whole rate, not less.
    expect(total).toBeGreaterThanOrEqual(rate * 20 * 0.97);
    expect(stream.pauses).toBeGreaterThan(10);
    expect(events.filter((e) => e.type === 'wire.extended').length).toBeGreaterThan(200);
    expect(events.some((e) => e.type === 'wire.protocolError' || e.type === 'wire.closed')).toBe(false);
  });

  it('unlimited: full-size reads, never paused', async () => {
    const clock = new ManualClock();
    const { stream, readInto } = bridge(limiters(clock, 0, 0), clock);
    stream.emit('connect');
    await tick();
    const buf = readInto().buffer();
    expect(buf.length).toBe(256 * 1024);
    buf.fill(0);
    buf.set(encodeHandshake(handshake));
    readInto().callback(buf.length, buf);
    expect(stream.pauses).toBe(0);
  });
});
