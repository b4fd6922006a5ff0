// The simulated network's reads: a stream dialled (or adopted) with a lent buffer gets its bytes read
// into it, as many reads as the buffer's size takes; other streams get `data` events. Either way the
// bytes arrive whole and in order, whatever the writes' sizes, and the trace is the same.
import type { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { ByteStream, ReadInto } from '../../src/io/transport.js';
import { SimNetwork } from '../../src/sim/network.js';
import { Prng } from '../../src/sim/prng.js';
import { VirtualClock } from '../../src/sim/scheduler.js';
import { Trace } from '../../src/sim/trace.js';

/** Host a listens, host b dials it; `lend` (bytes) gives the dialler a lent buffer of that size. */
async function pair(lend: number | undefined, adoptSize?: number) {
  const clock = new VirtualClock();
  const trace = new Trace();
  const net = new SimNetwork(clock, new Prng(1), trace, { latencyMs: 10 });
  net.addHost('a', { upBps: 1 << 20 });
  net.addHost('b', { upBps: 1 << 20 });
  const ta = net.transportFor('a');
  const tb = net.transportFor('b');
  const server = ta.createServer();
  const reads: { side: string; kind: 'into' | 'data'; bytes: Buffer }[] = [];
  const lender = (side: string, size: number): ReadInto => {
    const buf = Buffer.alloc(size);
    return {
      buffer: () => buf,
      callback: (n, b) => {
        expect(b).toBe(buf);
        reads.push({ side, kind: 'into', bytes: Buffer.from(b.subarray(0, n)) });
        return true;
      },
    };
  };
  let accepted: ByteStream | undefined;
  server.on('connection', (s) => {
    // A listener's own handler, there before the adoption (which must take it away).
    s.on('data', (d) => reads.push({ side: 'a', kind: 'data', bytes: Buffer.from(d) }));
    accepted = adoptSize === undefined ? s : ta.adopt(s, lender('a', adoptSize));
  });
  server.listen(6881, 'a');
  await clock.run(() => false, 1);
  const dialled = tb.dial('a', 6881, lend === undefined ? undefined : lender('b', lend));
  if (lend === undefined) dialled.on('data', (d) => reads.push({ side: 'b', kind: 'data', bytes: Buffer.from(d) }));
  await clock.run(() => accepted !== undefined && !dialled.connecting, 1000);
  return { clock, trace, dialled, accepted: accepted!, reads };
}

const received = (reads: { side: string; bytes: Buffer }[], side: string) =>
  Buffer.concat(reads.filter((r) => r.side === side).map((r) => r.bytes));

describe('sim network reads', () => {
  it('bytes arrive whole and in order into a lent buffer of any size, or as data events, with one trace', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 40 }),
        fc.option(fc.integer({ min: 1, max: 70_000 }), { nil: undefined }),
        async (writes, lend) => {
          const digests: string[] = [];
          for (const size of [lend, undefined]) {
            const { clock, trace, dialled, accepted, reads } = await pair(size);
            for (const w of writes) accepted.write(w);
            await clock.run(() => false, 10_000);
            expect(received(reads, 'b').equals(Buffer.concat(writes))).toBe(true);
            const kinds = new Set(reads.filter((r) => r.side === 'b').map((r) => r.kind));
            expect([...kinds]).toEqual([size === undefined ? 'data' : 'into']);
            if (size !== undefined) for (const r of reads) expect(r.bytes.length).toBeLessThanOrEqual(size);
            digests.push(trace.digest());
            dialled.destroy();
          }
          // How the reader reads does not change what was delivered when.
          expect(digests[0]).toBe(digests[1]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('an accepted stream adopted onto a lent buffer reads into it, and its old listeners are gone', async () => {
    const { clock, dialled, accepted, reads } = await pair(undefined, 100);
    expect((accepted as unknown as EventEmitter).listenerCount('data')).toBe(0);
    const payload = Buffer.from('x'.repeat(250));
    dialled.write(payload);
    await clock.run(() => false, 10_000);
    const a = reads.filter((r) => r.side === 'a');
    expect(a.map((r) => [r.kind, r.bytes.length])).toEqual([
      ['into', 100],
      ['into', 100],
      ['into', 50],
    ]);
    expect(received(reads, 'a').equals(payload)).toBe(true);
  });

  it('a stream with bytes still queued is not adopted (it keeps its data events)', async () => {
    const clock = new VirtualClock();
    const net = new SimNetwork(clock, new Prng(1), new Trace(), { latencyMs: 10 });
    net.addHost('a', { upBps: 1000 });
    net.addHost('b', { upBps: 1000 });
    const ta = net.transportFor('a');
    const server = ta.createServer();
    let verdict: ByteStream | undefined | 'none' = 'none';
    server.on('connection', (s) => {
      s.write(new Uint8Array(200_000)); // more than the uplink takes at once (one 64 KiB chunk): still queued
      verdict = ta.adopt(s, { buffer: () => new Uint8Array(10), callback: () => true });
    });
    server.listen(1, 'a');
    await clock.run(() => false, 1);
    net.transportFor('b').dial('a', 1);
    await clock.run(() => verdict !== 'none', 1000);
    expect(verdict).toBeUndefined();
  });
});
