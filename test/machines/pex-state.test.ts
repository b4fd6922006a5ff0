import { describe, expect, it } from 'vitest';
import { NO_PEX_SENT, PEX_INTERVAL_MS, nextPexMessage, pexDue } from '../../src/machines/torrent/pex-state.js';
import { PexFlag, decodeUtPex, encodeUtPex, type PexPeer } from '../../src/protocol/ut-pex.js';

const v4 = (n: number, flags = 0): PexPeer => ({ host: `10.0.${n >> 8}.${n & 0xff}`, port: 6881, family: 4, flags });

describe('PEX diff for one remote peer', () => {
  it('first tells everything (50 at a time), then only changes, then nothing', () => {
    const ours = Array.from({ length: 120 }, (_, i) => v4(i + 1));
    const first = nextPexMessage(ours, NO_PEX_SENT);
    expect(first.message!.added.map((p) => p.host)).toEqual(ours.slice(0, 50).map((p) => p.host));
    expect(first.message!.dropped).toEqual([]);
    const second = nextPexMessage(ours, first.sent);
    expect(second.message!.added.map((p) => p.host)).toEqual(ours.slice(50, 100).map((p) => p.host));
    const third = nextPexMessage(ours, second.sent);
    expect(third.message!.added).toHaveLength(20);
    expect(third.sent.size).toBe(120);
    const quiet = nextPexMessage(ours, third.sent);
    expect(quiet).toEqual({ message: null, sent: third.sent });

    // Peers 1..60 leave, 200..209 come: dropped 50 then 10, added 10 at once.
    const now = [...ours.slice(60), ...Array.from({ length: 10 }, (_, i) => v4(200 + i))];
    const a = nextPexMessage(now, third.sent);
    expect(a.message!.dropped).toHaveLength(50);
    expect(a.message!.added.map((p) => p.host)).toEqual(now.slice(60).map((p) => p.host));
    const b = nextPexMessage(now, a.sent);
    expect(b.message).toEqual({ added: [], dropped: ours.slice(50, 60).map(({ flags: _f, ...p }) => p) });
    expect(nextPexMessage(now, b.sent).message).toBeNull();
    expect([...b.sent.keys()].sort()).toEqual(now.map((p) => `${p.host}:6881`).sort());
  });

  it('never tells a peer about itself, nor about what the message cannot carry; keeps the flags', () => {
    const remote = { host: '10.0.0.1', port: 6881 };
    const ours: PexPeer[] = [
      v4(1), // the remote itself
      { host: '::ffff:10.0.0.2', port: 7000, family: 6, flags: PexFlag.seed }, // IPv4-mapped: an IPv4 peer
      { host: '10.0.0.2', port: 7000, family: 4, flags: 0 }, // the same peer again
      { host: 'example.org', port: 6881, family: 4, flags: 0 }, // not an IP address
      { host: '10.0.0.3', port: 0, family: 4, flags: 0 }, // no port
      { host: '10.0.0.4', port: 6881, family: 4, flags: 300 }, // flags not a byte
      { host: '2001:db8::1', port: 6881, family: 6, flags: PexFlag.utp | PexFlag.reachable },
    ];
    const { message } = nextPexMessage(ours, NO_PEX_SENT, { to: remote });
    expect(message).toEqual({
      added: [
        { host: '10.0.0.2', port: 7000, family: 4, flags: PexFlag.seed },
        { host: '2001:db8::1', port: 6881, family: 6, flags: 0x14 },
      ],
      dropped: [],
    });
    expect(decodeUtPex(encodeUtPex(message!))).toEqual({ ...message, skipped: 0 });
  });

  it('honours smaller limits, never larger than BEP 11 wants', () => {
    const ours = Array.from({ length: 80 }, (_, i) => v4(i + 1));
    expect(nextPexMessage(ours, NO_PEX_SENT, { maxAdded: 5 }).message!.added).toHaveLength(5);
    expect(nextPexMessage(ours, NO_PEX_SENT, { maxAdded: 500 }).message!.added).toHaveLength(50);
    const all = nextPexMessage(ours.slice(0, 30), NO_PEX_SENT).sent;
    expect(nextPexMessage([], all, { maxDropped: 7 }).message!.dropped).toHaveLength(7);
  });

  it('is due when never sent, and a minute after the last message', () => {
    expect(pexDue(0, undefined)).toBe(true);
    expect(pexDue(1_000 + PEX_INTERVAL_MS - 1, 1_000)).toBe(false);
    expect(pexDue(1_000 + PEX_INTERVAL_MS, 1_000)).toBe(true);
    expect(pexDue(5_000, 1_000, 4_000)).toBe(true);
  });
});
