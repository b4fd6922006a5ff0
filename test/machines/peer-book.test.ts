import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_KNOWN, PeerBook } from '../../src/machines/torrent/peer-book.js';
import type { PeerAddress } from '../../src/protocol/peer-address.js';

const addr = (i: number): PeerAddress => ({
  host: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
  port: 6881,
  family: 4,
});
const key = (i: number) => `${addr(i).host}:6881`;

describe('peer book', () => {
  it('one huge tracker reply adds at most maxPerBatch new addresses; the book never holds more than maxKnown', () => {
    const book = new PeerBook();
    const reply = Array.from({ length: 349_000 }, (_, i) => addr(i));
    expect(book.addAll(reply)).toBe(200);
    expect(book.size).toBe(200);
    for (let round = 1; round < 20; round++) book.addAll(reply.slice(round * 1000));
    expect(book.size).toBe(DEFAULT_MAX_KNOWN);
  });

  it('past the cap the least useful record goes: dead first, then undialable, then the most failed; never a connected one', () => {
    const book = new PeerBook({ maxKnown: 4 });
    for (let i = 0; i < 4; i++) book.add(addr(i));
    book.markConnecting(key(0));
    book.markDead(key(1));
    book.add(addr(4));
    expect(book.get(key(1))).toBeUndefined();
    book.add(addr(5), { dialable: false });
    book.add(addr(6)); // the undialable one goes next
    expect(book.get(key(5))).toBeUndefined();
    book.markConnecting(key(2));
    book.markClosed(key(2), { useful: false, retry: true });
    book.add(addr(7)); // then the one that failed
    expect(book.get(key(2))).toBeUndefined();
    expect(book.get(key(0))?.connected).toBe(true);
    expect(book.size).toBe(4);
  });

  it('candidates: least failed first, in the order learned, without the connected, dead, waiting or skipped', () => {
    const book = new PeerBook({ retryBaseMs: 1000 });
    for (let i = 0; i < 6; i++) book.add(addr(i));
    book.markConnecting(key(0));
    book.markConnecting(key(1));
    book.markClosed(key(1), { useful: false, retry: true }); // 1 failure, waits 1 s
    book.markDead(key(2));
    expect(book.candidates(10).map((r) => r.key)).toEqual([key(3), key(4), key(5)]);
    book.tick(1000);
    expect(book.candidates(10).map((r) => r.key)).toEqual([key(3), key(4), key(5), key(1)]);
    expect(book.candidates(2).map((r) => r.key)).toEqual([key(3), key(4)]);
    expect(book.candidates(10, (r) => r.key === key(4)).map((r) => r.key)).toEqual([key(3), key(5), key(1)]);
  });
});
