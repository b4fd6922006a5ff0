import { describe, expect, it } from 'vitest';
import { addBan, banOf, isLoopback, MAX_BANS, type Bans } from '../../src/machines/torrent/bans.js';
import { MAX_SUSPECT_PIECES, SmartBan } from '../../src/machines/torrent/smart-ban.js';

const at = (host: string, port: number) => ({ host, port, family: host.includes(':') ? 6 : 4 }) as const;
const settings = { banMs: 60_000, multipleConnectionsPerIp: false };
const h = (n: number) => new Uint8Array(20).fill(n);

describe('bans', () => {
  it('a ban on a public IP covers every port of it, and expires', () => {
    const bans = addBan([], { address: at('10.0.0.1', 6881), peerId: 'aa', reason: 'bad data' }, 0, settings);
    expect(bans).toMatchObject([{ address: '10.0.0.1:6881', scope: 'ip', reason: 'bad data', until: 60_000 }]);
    expect(banOf(bans, at('10.0.0.1', 50_000), undefined, 1_000)).toBe(bans[0]);
    expect(banOf(bans, at('10.0.0.2', 6881), 'aa', 1_000)).toBeUndefined();
    expect(banOf(bans, at('10.0.0.1', 6881), undefined, 60_000)).toBeUndefined();
  });

  it('on loopback (or with multipleConnectionsPerIp) a ban names the peer id and port, not the whole IP', () => {
    const bans = addBan([], { address: at('127.0.0.1', 7001), peerId: 'bad', reason: 'r' }, 0, settings);
    expect(bans[0]!.scope).toBe('peer');
    // Back from another port with the same id: banned. The same port: banned. Others on 127.0.0.1: not.
    expect(banOf(bans, at('127.0.0.1', 40_000), 'bad', 1)).toBeDefined();
    expect(banOf(bans, at('127.0.0.1', 7001), undefined, 1)).toBeDefined();
    expect(banOf(bans, at('127.0.0.1', 7002), 'good', 1)).toBeUndefined();
    expect(banOf(bans, at('127.0.0.1', 40_001), undefined, 1)).toBeUndefined();
    const nat = addBan([], { address: at('10.0.0.9', 1), peerId: 'x', reason: 'r' }, 0, {
      ...settings,
      multipleConnectionsPerIp: true,
    });
    expect(banOf(nat, at('10.0.0.9', 2), 'y', 1)).toBeUndefined();
    expect(isLoopback('127.3.4.5')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('::ffff:127.0.0.1')).toBe(true);
    expect(isLoopback('10.0.0.1')).toBe(false);
  });

  it('renewing a ban replaces it; the list is bounded', () => {
    let bans: Bans = [];
    bans = addBan(bans, { address: at('10.0.0.1', 1), peerId: 'a', reason: 'first' }, 0, settings);
    bans = addBan(bans, { address: at('10.0.0.1', 1), peerId: 'a', reason: 'again' }, 10, settings);
    expect(bans).toHaveLength(1);
    expect(bans[0]).toMatchObject({ reason: 'again', until: 60_010 });
    for (let i = 0; i < MAX_BANS + 50; i++)
      bans = addBan(
        bans,
        { address: at(`10.1.${i >> 8}.${i & 255}`, 1), peerId: undefined, reason: 'r' },
        20,
        settings,
      );
    expect(bans).toHaveLength(MAX_BANS);
  });
});

describe('smart ban', () => {
  it('blames only the peers whose blocks differ from the verified copy', () => {
    const s = new SmartBan();
    s.failed(3, ['A', 'B', 'A', 'C'], [h(1), h(9), h(3), h(4)]);
    expect(s.has(3)).toBe(true);
    expect(s.verified(3, [h(1), h(2), h(3), h(4)])).toEqual(['B']);
    expect(s.has(3)).toBe(false);
  });

  it('every failed copy on record is compared; a block nobody is known to have sent blames nobody', () => {
    const s = new SmartBan();
    s.failed(0, ['A', 'B'], [h(1), h(2)]);
    s.failed(0, ['C', undefined], [h(7), h(8)]);
    expect(s.verified(0, [h(1), h(5)])).toEqual(['B', 'C']);
    expect(s.verified(0, [h(1), h(5)])).toEqual([]);
  });

  it('remembers a bounded number of pieces', () => {
    const s = new SmartBan();
    for (let i = 0; i < MAX_SUSPECT_PIECES + 10; i++) s.failed(i, ['A'], [h(1)]);
    expect(s.size).toBe(MAX_SUSPECT_PIECES);
    expect(s.has(0)).toBe(false);
    expect(s.has(MAX_SUSPECT_PIECES + 9)).toBe(true);
  });
});
