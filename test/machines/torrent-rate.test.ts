/**
 * The torrent's transfer rates (`progress.downloadRate` / `uploadRate`): the one figure the CLI's
 * progress line, its `--json` progress lines and library users read. It is the sum of the connected
 * peers' sliding-window rates, published every tick: steady from one tick to the next for a steady
 * transfer (no alternation between double the rate and zero), back to zero once nothing moves.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FAST, startTorrent, T_BLOCK, type TorrentHarness } from './torrent-harness.js';

let current: TorrentHarness | undefined;
afterEach(() => {
  expect(current?.errors).toEqual([]);
  current?.actor.stop();
  current = undefined;
});

const A = '10.0.0.1:1';
const B = '10.0.0.2:1';

describe('torrent statechart: transfer rates', () => {
  it('downloadRate is the sum of the peers’ windowed rates, steady tick after tick, and falls to 0 when nothing moves', () => {
    // 4 MiB in 128 pieces: far more than the test downloads.
    const h = (current = startTorrent({
      peers: [A, B],
      pieces: 128,
      peerSettings: { minQueue: 4, maxQueue: 8 },
    }));
    const a = h.peer(A);
    const b = h.peer(B);
    a.seed(FAST, 0x71);
    b.seed(FAST, 0x72);
    // A sends 2 blocks a second, B 1: 48 KiB/s together, delivered spread over each second.
    const sendOne = (p: typeof a) => {
      const r = p.open()[0];
      expect(r).toBeDefined();
      p.deliver(r!);
    };
    const rates: number[] = [];
    for (let s = 0; s < 12; s++) {
      sendOne(a);
      h.advance(250, 250);
      sendOne(b);
      h.advance(250, 250);
      sendOne(a);
      h.advance(500, 250);
      rates.push(h.context().progress.downloadRate);
    }
    // One figure: the rates the peers reported, summed when the tick publishes (the peers report on
    // their own timers: just before or just after it).
    const sums = () => {
      const peers = Object.values(h.context().peers);
      return [peers.reduce((n, e) => n + e.downRate, 0), peers.reduce((n, e) => n + e.upRate, 0)] as const;
    };
    const before = sums();
    h.advance(1_000);
    const after = sums();
    const p = h.context().progress;
    expect(p.downloadRate).toBeGreaterThan(0);
    expect([before[0], after[0]]).toContain(p.downloadRate);
    expect([before[1], after[1]]).toContain(p.uploadRate);
    // Once the 5 s windows are full, every tick reads 48 KiB/s within 20 %.
    for (const r of rates.slice(6)) {
      expect(r).toBeGreaterThan(0.8 * 3 * T_BLOCK);
      expect(r).toBeLessThan(1.2 * 3 * T_BLOCK);
    }
    // Nothing moves: the windows empty and the rate falls to 0.
    h.advance(7_000);
    expect(h.context().progress.downloadRate).toBe(0);
    expect(h.context().progress.downloaded).toBe(12 * 3 * T_BLOCK);
  });
});
