/**
 * Properties of the BEP 11 ut_pex codec (src/protocol/ut-pex.ts) and of the per-peer PEX diff
 * (src/machines/torrent/pex-state.ts):
 * - decode(encode(m)) is m (IPv4 before IPv6), and re-encoding gives the same bytes;
 * - random bytes and mutated or truncated encodings decode to a bounded message or fail with a
 *   UtPexError `BT_ERR_UT_PEX_…`, never another exception;
 * - hostile dictionaries are judged exactly as a model says (types, list lengths, flags lengths,
 *   a peer both added and dropped), and at most maxAdded/maxDropped peers are kept, the rest counted;
 * - the encoder refuses more than 50 added or 50 dropped, a peer twice, bad flags or ports;
 * - the diff sends at most 50 + 50 per message, always encodable, and a receiver applying the messages
 *   ends up knowing exactly our current peers.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeBencode } from '../../src/protocol/bencode.js';
import {
  encodeCompactPeers4,
  encodeCompactPeers6,
  formatIPv4,
  formatIPv6,
  isIPv4Mapped,
  peerKey,
  type PeerAddress,
} from '../../src/protocol/peer-address.js';
import {
  PEX_DECODE_MAX_ENTRIES,
  PEX_MAX_ADDED,
  PEX_MAX_DROPPED,
  UtPexError,
  decodeUtPex,
  encodeUtPex,
  type PexPeer,
  type UtPexDecoded,
  type UtPexErrorCode,
  type UtPexLimits,
  type UtPexMessage,
} from '../../src/protocol/ut-pex.js';
import { NO_PEX_SENT, nextPexMessage, pexDue, type PexSent } from '../../src/machines/torrent/pex-state.js';
import { propertyOptions } from '../support/fc.js';
import { applyEdit, byteEdit } from '../support/byte-edits.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

const port = fc.integer({ min: 1, max: 0xffff });
const flags = fc.oneof(fc.constantFrom(0, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f), fc.nat(255));
/** IPv4 hosts from a small space, so that collisions (duplicates, conflicts) happen. */
const host4 = fc.oneof(
  fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b)),
  fc.integer({ min: 1, max: 6 }).map((n) => `10.0.0.${n}`),
);
const host6 = fc.oneof(
  fc
    .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(16))
    .map(([b, zeros]) => b.fill(0, 0, zeros))
    .filter((b) => !isIPv4Mapped(b))
    .map((b) => formatIPv6(b)),
  fc.integer({ min: 1, max: 6 }).map((n) => `2001:db8::${n}`),
);
const addr4: fc.Arbitrary<PeerAddress> = fc.record({ host: host4, port, family: fc.constant(4 as const) });
const addr6: fc.Arbitrary<PeerAddress> = fc.record({ host: host6, port, family: fc.constant(6 as const) });
const addr = fc.oneof(addr4, addr6);

/** A message the encoder takes: distinct peers, at most 50 added and 50 dropped. */
const messageArb: fc.Arbitrary<UtPexMessage> = fc
  .uniqueArray(fc.tuple(addr, flags, fc.boolean()), {
    selector: ([a]) => peerKey(a),
    maxLength: PEX_MAX_ADDED + PEX_MAX_DROPPED,
  })
  .map((list) => {
    const added: PexPeer[] = [];
    const dropped: PeerAddress[] = [];
    for (const [a, f, isAdded] of list) {
      if (isAdded && added.length < PEX_MAX_ADDED) added.push({ ...a, flags: f });
      else if (dropped.length < PEX_MAX_DROPPED) dropped.push(a);
    }
    return { added, dropped };
  });

/** IPv4 entries first, then IPv6: the order the decoder returns. */
const byFamily = <T extends PeerAddress>(list: T[]): T[] => [
  ...list.filter((p) => p.family === 4),
  ...list.filter((p) => p.family === 6),
];

const editArb = byteEdit([0x30, 0x31, 0x36, 0x39, 0x3a, 0x64, 0x65, 0x69, 0x6c, 0x2d]);

const limitsArb: fc.Arbitrary<UtPexLimits> = fc.record(
  { maxAdded: fc.nat(120), maxDropped: fc.nat(120) },
  { requiredKeys: [] },
);

// ---------------------------------------------------------------------------------------------
// Checks

const CODES: readonly string[] = [
  'BT_ERR_UT_PEX_MESSAGE',
  'BT_ERR_UT_PEX_LENGTH',
  'BT_ERR_UT_PEX_FLAGS',
  'BT_ERR_UT_PEX_CONFLICT',
];

/** Decodes, requiring a bounded message or a UtPexError with one of the decoder's codes. */
function decodeOrRefuse(payload: Uint8Array, limits: UtPexLimits = {}): UtPexDecoded | UtPexErrorCode {
  let msg: UtPexDecoded;
  try {
    msg = decodeUtPex(payload, limits);
  } catch (err) {
    if (!(err instanceof UtPexError) || !CODES.includes(err.code)) throw err;
    return err.code;
  }
  const addedKeys = new Set(msg.added.map(peerKey));
  const droppedKeys = new Set(msg.dropped.map(peerKey));
  const ok =
    msg.added.length <= (limits.maxAdded ?? PEX_DECODE_MAX_ENTRIES) &&
    msg.dropped.length <= (limits.maxDropped ?? PEX_DECODE_MAX_ENTRIES) &&
    Number.isSafeInteger(msg.skipped) &&
    msg.skipped >= 0 &&
    addedKeys.size === msg.added.length &&
    droppedKeys.size === msg.dropped.length &&
    [...addedKeys].every((k) => !droppedKeys.has(k)) &&
    msg.added.every((p) => Number.isInteger(p.flags) && p.flags >= 0 && p.flags <= 255) &&
    [...msg.added, ...msg.dropped].every((p) => p.port >= 1 && p.port <= 0xffff && (p.family === 4 || p.family === 6));
  if (!ok) expect(msg).toBe('a bounded ut_pex message');
  return msg;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---------------------------------------------------------------------------------------------
// Properties

describe('ut_pex codec properties', () => {
  it('round-trips every message it can carry, byte for byte', () => {
    fc.assert(
      fc.property(messageArb, (msg) => {
        const bytes = encodeUtPex(msg);
        const back = decodeUtPex(bytes);
        expect(back).toEqual({ added: byFamily(msg.added), dropped: byFamily(msg.dropped), skipped: 0 });
        expect(hex(encodeUtPex(back))).toBe(hex(bytes));
      }),
      propertyOptions,
    );
  });

  it('turns random bytes into a bounded message or a BT_ERR_UT_PEX_… error, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), limitsArb, (bytes, limits) => {
        decodeOrRefuse(bytes, limits);
      }),
      propertyOptions,
    );
  });

  it('turns mutated and truncated encodings into a bounded message or a BT_ERR_UT_PEX_… error', () => {
    fc.assert(
      fc.property(messageArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), limitsArb, (msg, edits, limits) => {
        let bytes = encodeUtPex(msg);
        for (const e of edits) bytes = applyEdit(bytes, e);
        decodeOrRefuse(bytes, limits);
      }),
      propertyOptions,
    );
  });

  it('judges hostile dictionaries exactly as BEP 11 and the limits say', () => {
    // Each list: a whole number of entries (often), a few bytes off (sometimes), or not bytes at all.
    const list = (a: fc.Arbitrary<PeerAddress>, size: number) =>
      fc.oneof(
        { weight: 6, arbitrary: fc.array(a, { maxLength: 30 }) },
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2 * size + 1 }) },
        { weight: 1, arbitrary: fc.constantFrom<unknown>(1, [], { a: 1 }) },
      );
    const flagsValue = fc.oneof(
      { weight: 6, arbitrary: fc.constant('match' as const) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4 }) },
      { weight: 1, arbitrary: fc.constantFrom<unknown>(0, ['x']) },
    );
    const hostileArb = fc.record(
      {
        added: list(addr4, 6),
        'added.f': flagsValue,
        added6: list(addr6, 18),
        'added6.f': flagsValue,
        dropped: list(addr4, 6),
        dropped6: list(addr6, 18),
        other: fc.uint8Array({ maxLength: 3 }),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(hostileArb, fc.nat(255), limitsArb, (h, flagSeed, limits) => {
        // Build the payload, and the model's verdict alongside.
        const dict: Record<string, unknown> = {};
        const peersOf: Record<string, PeerAddress[]> = {};
        let verdict: UtPexErrorCode | 'ok' = 'ok';
        const worst = (code: UtPexErrorCode): void => {
          const order: UtPexErrorCode[] = [
            'BT_ERR_UT_PEX_MESSAGE',
            'BT_ERR_UT_PEX_LENGTH',
            'BT_ERR_UT_PEX_FLAGS',
            'BT_ERR_UT_PEX_CONFLICT',
          ];
          if (verdict === 'ok' || order.indexOf(code) < order.indexOf(verdict)) verdict = code;
        };
        for (const [key, size] of [
          ['added', 6],
          ['added6', 18],
          ['dropped', 6],
          ['dropped6', 18],
        ] as const) {
          const v = h[key];
          if (v === undefined) continue;
          if (Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null && 'host' in x)) {
            const peers = v as PeerAddress[];
            dict[key] = size === 6 ? encodeCompactPeers4(peers) : encodeCompactPeers6(peers);
            peersOf[key] = peers;
          } else if (v instanceof Uint8Array) {
            dict[key] = v;
            if (v.length % size !== 0) worst('BT_ERR_UT_PEX_LENGTH');
            else peersOf[key] = []; // zero-filled entries (port 0) only: nothing
            if (v.some((b) => b !== 0)) {
              // Random bytes that happen to be whole entries: leave the model out of it.
              dict[key] = new Uint8Array(v.length);
            }
          } else {
            dict[key] = v;
            worst('BT_ERR_UT_PEX_MESSAGE');
          }
        }
        for (const [key, list, size] of [
          ['added.f', 'added', 6],
          ['added6.f', 'added6', 18],
        ] as const) {
          const f = h[key];
          if (f === undefined) continue;
          const count = dict[list] instanceof Uint8Array ? (dict[list] as Uint8Array).length / size : 0;
          if (f === 'match') {
            dict[key] = Uint8Array.from(
              { length: Number.isInteger(count) ? count : 0 },
              (_, i) => (flagSeed + i) & 0xff,
            );
            if (!Number.isInteger(count)) worst('BT_ERR_UT_PEX_FLAGS');
          } else if (f instanceof Uint8Array) {
            dict[key] = f;
            if (f.length !== count) worst('BT_ERR_UT_PEX_FLAGS');
          } else {
            dict[key] = f;
            worst('BT_ERR_UT_PEX_MESSAGE');
          }
        }
        if (h.other !== undefined) dict.other = h.other;
        const addedPeers = [...(peersOf.added ?? []), ...(peersOf.added6 ?? [])];
        const droppedPeers = [...(peersOf.dropped ?? []), ...(peersOf.dropped6 ?? [])];
        const addedKeys = new Set(addedPeers.map(peerKey));
        const droppedKeys = new Set(droppedPeers.map(peerKey));
        if ([...droppedKeys].some((k) => addedKeys.has(k))) worst('BT_ERR_UT_PEX_CONFLICT');

        const got = decodeOrRefuse(encodeBencode(dict), limits);
        if (typeof got === 'string') {
          expect(got).toBe(verdict);
          return;
        }
        expect(verdict).toBe('ok');
        const maxAdded = limits.maxAdded ?? PEX_DECODE_MAX_ENTRIES;
        const maxDropped = limits.maxDropped ?? PEX_DECODE_MAX_ENTRIES;
        // The first distinct peers, up to the caps, with their flags; the rest counted.
        const firstOf = (peers: PeerAddress[]): PeerAddress[] => {
          const seen = new Set<string>();
          return peers.filter((p) => !seen.has(peerKey(p)) && seen.add(peerKey(p)));
        };
        const added = firstOf(addedPeers);
        const dropped = firstOf(droppedPeers);
        expect(got.added.map(peerKey)).toEqual(added.slice(0, maxAdded).map(peerKey));
        expect(got.dropped.map(peerKey)).toEqual(dropped.slice(0, maxDropped).map(peerKey));
        expect(got.skipped).toBe(Math.max(0, added.length - maxAdded) + Math.max(0, dropped.length - maxDropped));
        for (const p of got.added) {
          const [list, size, fkey] =
            p.family === 4 ? (['added', 6, 'added.f'] as const) : (['added6', 18, 'added6.f'] as const);
          const i = (peersOf[list] ?? []).findIndex((q) => peerKey(q) === peerKey(p));
          const f = dict[fkey];
          expect(p.flags).toBe(
            f instanceof Uint8Array && f.length * size === (dict[list] as Uint8Array).length ? f[i] : 0,
          );
        }
      }),
      propertyOptions,
    );
  });

  it('keeps at most maxAdded and maxDropped peers however many are sent, and counts the rest', () => {
    const manyArb = fc.record({
      added: fc.integer({ min: 0, max: 400 }),
      dropped: fc.integer({ min: 0, max: 400 }),
      limits: limitsArb,
    });
    fc.assert(
      fc.property(manyArb, ({ added, dropped, limits }) => {
        const peer = (n: number): PeerAddress => ({
          host: formatIPv4(Uint8Array.of(10, 1, n >> 8, n & 0xff)),
          port: 6881,
          family: 4,
        });
        const a = Array.from({ length: added }, (_, i) => peer(i));
        const d = Array.from({ length: dropped }, (_, i) => peer(1000 + i));
        const payload = encodeBencode({
          added: encodeCompactPeers4(a),
          'added.f': new Uint8Array(added).fill(2),
          dropped: encodeCompactPeers4(d),
        });
        const got = decodeOrRefuse(payload, limits);
        if (typeof got === 'string') throw new Error(got);
        const maxAdded = limits.maxAdded ?? PEX_DECODE_MAX_ENTRIES;
        const maxDropped = limits.maxDropped ?? PEX_DECODE_MAX_ENTRIES;
        expect(got.added).toHaveLength(Math.min(added, maxAdded));
        expect(got.dropped).toHaveLength(Math.min(dropped, maxDropped));
        expect(got.skipped).toBe(added - got.added.length + dropped - got.dropped.length);
        expect(got.added.every((p) => p.flags === 2)).toBe(true);
      }),
      { numRuns: Math.min(propertyOptions.numRuns, 2000) },
    );
  });

  it('refuses to encode more than 50 added or dropped, a peer twice, bad flags or ports', () => {
    const badArb = fc.record({
      added: fc.array(fc.tuple(addr, fc.oneof(flags, fc.constantFrom(-1, 256, 0.5))), { maxLength: 60 }),
      dropped: fc.array(addr, { maxLength: 60 }),
      badPort: fc.option(fc.constantFrom(0, 65536, -1, 1.5), { nil: undefined }),
    });
    fc.assert(
      fc.property(badArb, ({ added, dropped, badPort }) => {
        const msg: UtPexMessage = { added: added.map(([a, f]) => ({ ...a, flags: f })), dropped };
        if (badPort !== undefined && msg.dropped.length > 0) msg.dropped[0] = { ...msg.dropped[0]!, port: badPort };
        const keys = [...msg.added, ...msg.dropped].map(peerKey);
        const valid =
          msg.added.length <= PEX_MAX_ADDED &&
          msg.dropped.length <= PEX_MAX_DROPPED &&
          new Set(keys).size === keys.length &&
          msg.added.every((p) => Number.isInteger(p.flags) && p.flags >= 0 && p.flags <= 255) &&
          [...msg.added, ...msg.dropped].every((p) => Number.isInteger(p.port) && p.port >= 1 && p.port <= 0xffff);
        let bytes: Uint8Array;
        try {
          bytes = encodeUtPex(msg);
        } catch (err) {
          if (!(err instanceof UtPexError)) throw err;
          expect(valid).toBe(false);
          return;
        }
        expect(valid).toBe(true);
        expect(decodeUtPex(bytes)).toEqual({ added: byFamily(msg.added), dropped: byFamily(msg.dropped), skipped: 0 });
      }),
      propertyOptions,
    );
  });
});

describe('ut_pex codec examples', () => {
  it('decodes what libtorrent sends: all six keys, empty ones included', () => {
    const payload = Buffer.from(
      'd5:added12:\x0a\x00\x00\x02\x1a\xe1\x7f\x00\x00\x01\x1b\x587:added.f2:\x12\x006:added60:8:added6.f0:7:dropped6:\x0a\x00\x00\x03\x00\x508:dropped60:e',
      'latin1',
    );
    expect(decodeUtPex(payload)).toEqual({
      added: [
        { host: '10.0.0.2', port: 6881, family: 4, flags: 0x12 },
        { host: '127.0.0.1', port: 7000, family: 4, flags: 0 },
      ],
      dropped: [{ host: '10.0.0.3', port: 80, family: 4 }],
      skipped: 0,
    });
  });

  it('encodes by the address, not the family label, and refuses a host name', () => {
    const mapped = encodeUtPex({ added: [{ host: '::ffff:10.0.0.9', port: 1, family: 6, flags: 0 }], dropped: [] });
    expect(decodeUtPex(mapped).added).toEqual([{ host: '10.0.0.9', port: 1, family: 4, flags: 0 }]);
    expect(Buffer.from(mapped).toString('latin1')).toContain('5:added6:');
    expect(() => encodeUtPex({ added: [], dropped: [{ host: 'example.org', port: 1, family: 4 }] })).toThrow(
      expect.objectContaining({ code: 'BT_ERR_UT_PEX_ADDRESS' }),
    );
    expect(Buffer.from(encodeUtPex({ added: [], dropped: [] })).toString()).toBe('de');
  });
});

describe('PEX diff properties', () => {
  it('sends at most 50 + 50 encodable peers a message, and the receiver ends up knowing our peers', () => {
    // A sequence of our peer sets; between them, the diff is sent (if due) and applied by the receiver.
    const peerSetArb = fc.uniqueArray(fc.tuple(addr, flags), { selector: ([a]) => peerKey(a), maxLength: 140 });
    const remote: PeerAddress = { host: '10.0.0.1', port: 6881, family: 4 };
    fc.assert(
      fc.property(fc.array(peerSetArb, { minLength: 1, maxLength: 6 }), (sets) => {
        let sent: PexSent = NO_PEX_SENT;
        const known = new Map<string, PeerAddress>(); // the receiver's view
        const apply = (current: PexPeer[]): boolean => {
          const { message, sent: next } = nextPexMessage(current, sent, { to: remote });
          if (message === null) {
            expect(next).toBe(sent);
            return false;
          }
          expect(message.added.length).toBeLessThanOrEqual(PEX_MAX_ADDED);
          expect(message.dropped.length).toBeLessThanOrEqual(PEX_MAX_DROPPED);
          expect(message.added.length + message.dropped.length).toBeGreaterThan(0);
          const got = decodeUtPex(encodeUtPex(message)); // never throws: always encodable
          for (const p of got.dropped) {
            expect(known.has(peerKey(p))).toBe(true); // only what it was told
            known.delete(peerKey(p));
          }
          for (const p of got.added) {
            expect(known.has(peerKey(p))).toBe(false); // never twice
            expect(peerKey(p)).not.toBe(peerKey(remote)); // never itself
            known.set(peerKey(p), p);
          }
          sent = next;
          expect([...sent.keys()].sort()).toEqual([...known.keys()].sort());
          return true;
        };
        for (const set of sets) {
          const current = set.map(([a, f]) => ({ ...a, flags: f }));
          apply(current);
          // Unchanged, it converges within ceil(n / 50) + 1 more messages, then stays silent.
          let rounds = 0;
          while (apply(current)) expect(++rounds).toBeLessThanOrEqual(4);
          const want = current.map(peerKey).filter((k) => k !== peerKey(remote));
          expect([...known.keys()].sort()).toEqual([...new Set(want)].sort());
        }
      }),
      { numRuns: Math.min(propertyOptions.numRuns, 3000) },
    );
  });

  it('is due once a minute', () => {
    fc.assert(
      fc.property(fc.nat(10 ** 9), fc.nat(10 ** 9), (last, now) => {
        expect(pexDue(now, undefined)).toBe(true);
        expect(pexDue(now, last)).toBe(now - last >= 60_000);
      }),
      propertyOptions,
    );
  });
});
