/**
 * Properties of magnet links (src/protocol/magnet.ts):
 * - parseMagnet(formatMagnet(link)) is the link, for every link the format can carry;
 * - the same hash written in hex (any case) or base32 (any case) gives the same link;
 * - the order of the parameters changes only the order of the lists, never what is read;
 * - a name escaped in any valid way (each byte raw or %XX in either case, a space as + or %20) reads back;
 * - random strings, and valid links mutated or cut short, give a MagnetError or a bounded link,
 *   never another exception.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_IGNORED_VALUE,
  MAX_MAGNET_ENTRIES,
  MAX_MAGNET_NAME_BYTES,
  MagnetError,
  formatMagnet,
  parseMagnet,
  type MagnetLink,
  type MagnetPeer,
} from '../../src/protocol/magnet.js';
import { formatIPv6, isIPv4Mapped } from '../../src/protocol/peer-address.js';
import { propertyOptions } from '../support/fc.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

const byteLength = (s: string): number => Buffer.byteLength(s);
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** RFC 4648 base32, written independently of the parser. */
function base32(bytes: Uint8Array): string {
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

const hashArb = fc.uint8Array({ minLength: 20, maxLength: 20 });

/** Names of any code points (controls, reserved characters, emoji), at most MAX_MAGNET_NAME_BYTES. */
const nameArb = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
    fc.string({
      unit: fc.constantFrom('+', ' ', '%', '&', '=', '#', '?', '/', '.', 'é', '😀', 'a', '\n'),
      minLength: 1,
    }),
    fc.constant('é'.repeat(MAX_MAGNET_NAME_BYTES / 2)),
  )
  .filter((s) => byteLength(s) <= MAX_MAGNET_NAME_BYTES);

const hostArb = fc.oneof(
  fc.constantFrom('127.0.0.1', 'tracker.example.org', '[::1]', 'xn--caf-dma.example', 't.example'),
  fc.domain(),
);
const pathArb = fc.string({
  unit: fc.constantFrom('a', 'Z', '0', '/', '-', '_', '.', '~', '+', '&', '=', '?', '%20', ';', ',', '!', '*', "'"),
  maxLength: 20,
});
const urlArb = (schemes: string[]): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...schemes), hostArb, fc.option(fc.integer({ min: 1, max: 65535 })), pathArb)
    .map(([s, h, p, path]) => `${s}://${h}${p === null ? '' : `:${p}`}/${path}`);

const ipv6Arb = fc
  .uint8Array({ minLength: 16, maxLength: 16 })
  .filter((b) => !isIPv4Mapped(b))
  .map((b) => formatIPv6(b));
const peerArb: fc.Arbitrary<MagnetPeer> = fc.record({
  host: fc.oneof(
    fc.ipV4(),
    ipv6Arb,
    fc.domain().map((d) => d.toLowerCase()),
  ),
  port: fc.integer({ min: 1, max: 65535 }),
});
const peerKey = (p: MagnetPeer) => `${p.host}|${p.port}`;

/** A link as parseMagnet returns it for a formatted link (nothing ignored). */
const linkArb: fc.Arbitrary<MagnetLink> = fc
  .record(
    {
      infoHash: hashArb,
      name: nameArb,
      exactLength: fc.maxSafeNat(),
      trackers: fc.uniqueArray(urlArb(['http', 'https', 'udp', 'HTTP']), { maxLength: 6 }),
      webSeeds: fc.uniqueArray(urlArb(['http', 'https']), { maxLength: 3 }),
      peers: fc.uniqueArray(peerArb, { maxLength: 6, selector: peerKey }),
    },
    { requiredKeys: ['infoHash', 'trackers', 'webSeeds', 'peers'] },
  )
  .map((l) => ({ ...l, infoHashHex: toHex(l.infoHash), ignored: [] }));

/** The `key=value` parts of a formatted link. */
const partsOf = (uri: string): string[] => uri.slice('magnet:?'.length).split('&');

/** Edits of a link's text: overwrite, delete or insert characters, or cut it short. */
type Edit =
  | { t: 'set'; at: number; ch: string }
  | { t: 'delete'; at: number; n: number }
  | { t: 'insert'; at: number; s: string }
  | { t: 'truncate'; at: number };
const charArb = fc.oneof(
  fc.constantFrom('%', '&', '=', '+', '#', '.', ':', '[', ']', '1', 'x', 'é', '\uD800', '\n', '%C3', '%FF', 'btmh'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 3 }),
);
const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ t: fc.constant('set' as const), at: fc.nat(), ch: charArb }),
  fc.record({ t: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ t: fc.constant('insert' as const), at: fc.nat(), s: charArb }),
  fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
);
function applyEdit(s: string, e: Edit): string {
  const at = e.at % (s.length + 1);
  switch (e.t) {
    case 'set':
      return s.length === 0 ? s : s.slice(0, e.at % s.length) + e.ch + s.slice((e.at % s.length) + 1);
    case 'delete':
      return s.slice(0, at) + s.slice(at + e.n);
    case 'insert':
      return s.slice(0, at) + e.s + s.slice(at);
    case 'truncate':
      return s.slice(0, at);
  }
}

// ---------------------------------------------------------------------------------------------
// Checks

const SCHEME = /^(https?|udp):\/\//i;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Everything a parsed link promises, whatever the input was. */
function expectBounded(l: MagnetLink): void {
  const ok =
    l.infoHash instanceof Uint8Array &&
    l.infoHash.length === 20 &&
    l.infoHashHex === toHex(l.infoHash) &&
    (l.name === undefined || (l.name !== '' && byteLength(l.name) <= MAX_MAGNET_NAME_BYTES)) &&
    (l.exactLength === undefined || Number.isSafeInteger(l.exactLength)) &&
    l.trackers.length <= MAX_MAGNET_ENTRIES &&
    new Set(l.trackers).size === l.trackers.length &&
    l.trackers.every((t) => SCHEME.test(t) && ['http:', 'https:', 'udp:'].includes(new URL(t).protocol)) &&
    l.webSeeds.length <= MAX_MAGNET_ENTRIES &&
    new Set(l.webSeeds).size === l.webSeeds.length &&
    l.webSeeds.every((t) => /^https?:\/\//i.test(t) && ['http:', 'https:'].includes(new URL(t).protocol)) &&
    l.peers.length <= MAX_MAGNET_ENTRIES &&
    new Set(l.peers.map(peerKey)).size === l.peers.length &&
    l.peers.every((p) => Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535 && p.host.length > 0) &&
    l.ignored.length <= MAX_MAGNET_ENTRIES &&
    l.ignored.every((i) => i.value.length <= MAX_IGNORED_VALUE && i.key.length <= MAX_IGNORED_VALUE) &&
    [l.name ?? '', ...l.trackers, ...l.webSeeds, ...l.ignored.flatMap((i) => [i.key, i.value, i.reason])].every(
      (t) => !LONE_SURROGATE.test(t),
    );
  if (!ok) expect(l).toBe('a bounded link');
}

/** Parses, requiring a bounded link or a MagnetError. */
function parseOrRefuse(uri: string): MagnetLink | 'refused' {
  let l: MagnetLink;
  try {
    l = parseMagnet(uri);
  } catch (err) {
    if (!(err instanceof MagnetError) || !err.code.startsWith('BT_ERR_MAGNET_')) throw err;
    return 'refused';
  }
  expectBounded(l);
  return l;
}

/** What does not depend on the order of the parameters. */
const unordered = (l: MagnetLink) => ({
  ...l,
  trackers: [...l.trackers].sort(),
  webSeeds: [...l.webSeeds].sort(),
  peers: l.peers.map(peerKey).sort(),
});

/** Escapes UTF-8 bytes: each byte raw (when unreserved) or %XX in either case, a space as + or %20. */
function escapeWith(text: string, choices: number[]): string {
  let out = '';
  [...Buffer.from(text, 'utf8')].forEach((b, i) => {
    const c = choices[i % choices.length]!;
    const ch = String.fromCharCode(b);
    if (b === 0x20 && c % 3 === 0) out += '+';
    else if (/[A-Za-z0-9._~-]/.test(ch) && c % 2 === 0) out += ch;
    else {
      const hex = b.toString(16).padStart(2, '0');
      out += `%${c % 4 < 2 ? hex.toUpperCase() : hex}`;
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Properties

describe('magnet link properties', () => {
  it('round-trips: parseMagnet(formatMagnet(link)) is the link', () => {
    fc.assert(
      fc.property(linkArb, (link) => {
        const back = parseMagnet(formatMagnet(link));
        expect(back).toEqual(link);
        expectBounded(back);
        expect(formatMagnet(back)).toBe(formatMagnet(link));
      }),
      propertyOptions,
    );
  });

  it('the same hash in hex or base32, in any letter case, gives the same link', () => {
    fc.assert(
      fc.property(linkArb, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (link, upper) => {
        const formatted = formatMagnet(link);
        const flip = (s: string) => [...s].map((c, i) => (upper[i] ? c.toUpperCase() : c.toLowerCase())).join('');
        const rest = formatted.slice(`magnet:?xt=urn:btih:${link.infoHashHex}`.length);
        const hex = parseMagnet(`magnet:?xt=urn:btih:${flip(link.infoHashHex)}${rest}`);
        const b32 = parseMagnet(`magnet:?xt=urn:btih:${flip(base32(link.infoHash))}${rest}`);
        expect(hex).toEqual(link);
        expect(b32).toEqual(link);
      }),
      propertyOptions,
    );
  });

  it('the order of the parameters does not change what is read (hybrid v2 hash anywhere)', () => {
    fc.assert(
      fc.property(
        linkArb,
        fc.array(fc.double({ noNaN: true }), { minLength: 30, maxLength: 30 }),
        fc.boolean(),
        (link, keys, hybrid) => {
          const parts = partsOf(formatMagnet(link));
          if (hybrid) parts.push(`xt=urn:btmh:1220${'ab'.repeat(32)}`);
          const shuffled = parts
            .map((p, i) => [keys[i % keys.length]! + i / 1000, p] as const)
            .sort((a, b) => a[0] - b[0])
            .map(([, p]) => p);
          const back = parseMagnet(`magnet:?${shuffled.join('&')}`);
          expect(back.ignored).toHaveLength(0);
          expect(back.infoHashV2Hex).toBe(hybrid ? 'ab'.repeat(32) : undefined);
          const { infoHashV2: _v2, infoHashV2Hex: _v2hex, ...v1 } = back;
          expect(unordered(v1)).toEqual(unordered(link));
        },
      ),
      propertyOptions,
    );
  });

  it('a name escaped in any valid way reads back to the same name', () => {
    fc.assert(
      fc.property(hashArb, nameArb, fc.array(fc.nat(), { minLength: 1, maxLength: 16 }), (hash, name, choices) => {
        const uri = `magnet:?xt=urn:btih:${toHex(hash)}&dn=${escapeWith(name, choices)}`;
        expect(parseMagnet(uri).name).toBe(name);
      }),
      propertyOptions,
    );
  });

  it('random strings give a MagnetError or a bounded link, never another exception', () => {
    const alphabet = fc.constantFrom(
      'magnet:?',
      'xt=urn:btih:',
      'xt=urn:btmh:',
      'dn=',
      'tr=',
      'tr.1=',
      'ws=',
      'x.pe=',
      'xl=',
      '&',
      '=',
      '%',
      '+',
      '#',
      'http%3A%2F%2F',
      'udp://',
      '[::1]:1',
      ':',
      '%E2%82',
      'c12fe1c06bba254a9dc9f519b335aa7c1367a88a',
      'YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 80 }),
          fc.string({ unit: alphabet, maxLength: 16 }),
          fc.string({ unit: alphabet, maxLength: 16 }).map((s) => `magnet:?${s}`),
        ),
        (s) => {
          parseOrRefuse(s);
        },
      ),
      propertyOptions,
    );
  });

  it('valid links mutated or cut short give a MagnetError or a bounded link, never another exception', () => {
    fc.assert(
      fc.property(linkArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), (link, edits) => {
        parseOrRefuse(edits.reduce(applyEdit, formatMagnet(link)));
      }),
      propertyOptions,
    );
  });
});
