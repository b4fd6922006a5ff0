/**
 * Properties of the tracker codecs: every encoder/decoder pair round-trips, decode-then-re-encode
 * gives back the input bytes, and garbage (random bytes, mutated valid replies, random bencode
 * built from the reply vocabulary) only ever raises a BtError.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, it } from 'vitest';
import fc from 'fast-check';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { BtError } from '../../src/protocol/errors.js';
import {
  type PeerAddress,
  PeerAddressError,
  decodeCompactPeers4,
  decodeCompactPeers6,
  encodeCompactPeers4,
  encodeCompactPeers6,
  formatIPv4,
  formatIPv6,
  isIPv4Mapped,
} from '../../src/protocol/peer-address.js';
import {
  type AnnounceParams,
  type AnnounceResponse,
  type ScrapeResponse,
  TrackerError,
  buildAnnounceUrl,
  buildScrapeUrl,
  encodeAnnounceResponse,
  encodeScrapeResponse,
  parseAnnounceQuery,
  parseAnnounceResponse,
  parseScrapeQuery,
  parseScrapeResponse,
  percentDecodeBytes,
  percentEncodeBytes,
  scrapeUrlFor,
} from '../../src/protocol/tracker-http.js';
import * as udp from '../../src/protocol/tracker-udp.js';
import { propertyOptions } from '../support/fc.js';

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

const bytes20 = fc.uint8Array({ minLength: 20, maxLength: 20 });
const port = fc.integer({ min: 1, max: 0xffff });
const count = fc.oneof(fc.nat(1000), fc.nat());
// Cheap to generate, and covers what matters: multi-byte UTF-8 and characters special in URLs.
const text = fc.string({
  unit: fc.constantFrom(...'aZ09 ~-._%&=+?#/:'.split(''), 'é', '€', '\u{1F600}', '\u0000'),
  maxLength: 12,
});
const u32 = fc.nat({ max: 0xffffffff });

const host4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b));
const host6 = fc
  .tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(16))
  .map(([b, zeros]) => b.fill(0, 0, zeros)) // long zero runs exercise '::'
  .filter((b) => !isIPv4Mapped(b))
  .map((b) => formatIPv6(b));
const peer4: fc.Arbitrary<PeerAddress> = fc.record(
  { host: host4, port, family: fc.constant(4 as const) },
  { noNullPrototype: true },
);
const peer6: fc.Arbitrary<PeerAddress> = fc.record(
  { host: host6, port, family: fc.constant(6 as const) },
  { noNullPrototype: true },
);
const withId = (a: fc.Arbitrary<PeerAddress>): fc.Arbitrary<PeerAddress> =>
  fc.tuple(a, fc.option(bytes20, { nil: undefined })).map(([p, id]) => (id ? { ...p, peerId: id } : p));

const announceParams: fc.Arbitrary<AnnounceParams> = fc.record(
  {
    infoHash: bytes20,
    peerId: bytes20,
    port: fc.nat(0xffff),
    uploaded: fc.maxSafeNat(),
    downloaded: fc.maxSafeNat(),
    left: fc.maxSafeNat(),
    event: fc.constantFrom('started' as const, 'completed' as const, 'stopped' as const),
    numwant: fc.nat(500),
    key: text.filter((k) => k.length > 0),
    trackerId: text,
    compact: fc.boolean(),
    ip: fc.oneof(host4, host6),
  },
  { noNullPrototype: true, requiredKeys: ['infoHash', 'peerId', 'port', 'uploaded', 'downloaded', 'left'] },
);

const announceSuccess = fc.record(
  {
    type: fc.constant('success' as const),
    interval: count,
    minInterval: count,
    trackerId: text,
    warning: text,
    complete: count,
    incomplete: count,
    externalIp: fc.oneof(host4, host6),
    peers4: fc.array(withId(peer4), { maxLength: 4 }),
    peers6: fc.array(withId(peer6), { maxLength: 3 }),
  },
  { noNullPrototype: true, requiredKeys: ['type', 'interval', 'peers4', 'peers6'] },
);

const announceFailure = fc.record(
  { type: fc.constant('failure' as const), reason: text, retryIn: fc.oneof(count, fc.constant('never' as const)) },
  { noNullPrototype: true, requiredKeys: ['type', 'reason'] },
);

const scrapeSuccess: fc.Arbitrary<ScrapeResponse> = fc
  .record(
    {
      files: fc.array(
        fc.tuple(
          bytes20.map((b) => Buffer.from(b).toString('hex')),
          fc.record(
            { complete: count, downloaded: count, incomplete: count, name: text },
            { noNullPrototype: true, requiredKeys: ['complete', 'downloaded', 'incomplete'] },
          ),
        ),
        { maxLength: 4 },
      ),
      minRequestInterval: count,
    },
    { noNullPrototype: true, requiredKeys: ['files'] },
  )
  .map(({ files, ...rest }) => ({ type: 'success' as const, files: new Map(files), ...rest }));

const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });

const udpAnnounceRequest = fc.record(
  {
    connectionId: u64,
    transactionId: u32,
    infoHash: bytes20,
    peerId: bytes20,
    downloaded: u64,
    left: u64,
    uploaded: u64,
    event: fc.constantFrom(...(Object.keys(udp.UdpEvent) as udp.UdpEventName[])),
    ip: u32,
    key: u32,
    numWant: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
    port: fc.nat(0xffff),
    urlData: fc.uint8Array({ minLength: 1, maxLength: 300 }), // > 255: several options
  },
  {
    noNullPrototype: true,
    requiredKeys: [
      'connectionId',
      'transactionId',
      'infoHash',
      'peerId',
      'downloaded',
      'left',
      'uploaded',
      'event',
      'ip',
      'key',
      'numWant',
      'port',
    ],
  },
);

const udpRequestPacket = fc.oneof(
  u32.map((tx) => udp.encodeConnectRequest(tx)),
  udpAnnounceRequest.map((r) => udp.encodeAnnounceRequest(r)),
  fc
    .tuple(u64, u32, fc.array(bytes20, { minLength: 1, maxLength: 6 }))
    .map(([c, t, h]) => udp.encodeScrapeRequest(c, t, h)),
);

const scrapeStats = fc.record({ seeders: u32, completed: u32, leechers: u32 }, { noNullPrototype: true });
const udpReply = (peers: fc.Arbitrary<PeerAddress[]>) =>
  fc.record({ transactionId: u32, interval: u32, leechers: u32, seeders: u32, peers }, { noNullPrototype: true });

const udpResponsePacket = (family: 4 | 6): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.tuple(u32, u64).map(([t, c]) => udp.encodeConnectResponse(t, c)),
    udpReply(fc.array(family === 4 ? peer4 : fc.oneof(peer4, peer6), { maxLength: 5 })).map((r) =>
      udp.encodeAnnounceResponse(r, family),
    ),
    fc.tuple(u32, fc.array(scrapeStats, { maxLength: 5 })).map(([t, s]) => udp.encodeScrapeResponse(t, s)),
    fc.tuple(u32, text).map(([t, m]) => udp.encodeErrorResponse(t, m)),
  );

/** Byte-level damage: flip, insert, delete, truncate — up to four times. */
const mutation = fc.array(
  fc.tuple(fc.constantFrom('flip', 'insert', 'delete', 'truncate'), fc.nat(), fc.integer({ min: 0, max: 255 })),
  { minLength: 1, maxLength: 4 },
);
function mutate(input: Uint8Array, ops: Array<[string, number, number]>): Uint8Array {
  let b = Array.from(input);
  for (const [op, at, value] of ops) {
    const i = b.length === 0 ? 0 : at % (b.length + (op === 'insert' ? 1 : 0));
    if (op === 'flip' && b.length > 0) b[i] = value;
    else if (op === 'insert') b.splice(i, 0, value);
    else if (op === 'delete') b.splice(i, 1 + (value % 8));
    else if (op === 'truncate') b = b.slice(0, i);
  }
  return Uint8Array.from(b);
}

/** Random bencode built from the reply vocabulary, so parsers see plausible but wrong structures. */
const replyKey = fc.constantFrom(
  'interval',
  'min interval',
  'peers',
  'peers6',
  'failure reason',
  'retry in',
  'tracker id',
  'warning message',
  'complete',
  'incomplete',
  'downloaded',
  'external ip',
  'files',
  'flags',
  'min_request_interval',
  'ip',
  'port',
  'peer id',
  'name',
  '__proto__',
  'constructor',
  'x',
);
const { bvalue } = fc.letrec((tie) => ({
  bvalue: fc.oneof(
    { depthSize: 'small', maxDepth: 3 },
    fc.oneof(fc.integer({ min: -3, max: 70_000 }), fc.integer(), fc.constantFrom(2 ** 53, -(2 ** 60), 2 ** 70)),
    fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      host4.map((h) => new TextEncoder().encode(h)),
      fc.constantFrom('never', '::1', 'a.b'),
    ),
    fc.array(tie('bvalue'), { maxLength: 4 }),
    fc.dictionary(replyKey, tie('bvalue'), { maxKeys: 5 }),
  ),
}));
const bencodeReply = fc.dictionary(replyKey, bvalue, { maxKeys: 6 }).map((d) => encodeBencode(d));

/** Runs `fn`; any exception must be a BtError (and of `kind`, when given). */
function onlyTypedErrors(fn: () => unknown, kind: new (...args: never[]) => BtError = BtError): true {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof BtError) || !(err instanceof kind)) throw err;
  }
  return true;
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

describe('round trips', () => {
  it('percent-encoding decodes back to the same bytes and uses only unreserved characters and %XX', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        const s = percentEncodeBytes(b);
        return /^(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})*$/.test(s) && sameBytes(percentDecodeBytes(s), b);
      }),
      propertyOptions,
    );
  });

  it('buildAnnounceUrl → parseAnnounceQuery gives back the parameters; an existing query is kept', () => {
    fc.assert(
      fc.property(announceParams, fc.constantFrom('', '?passkey=abc', '?a=1&', '?'), (p, query) => {
        const url = buildAnnounceUrl(`http://tracker.example:6969/announce${query}`, p);
        return (
          url.startsWith(`http://tracker.example:6969/announce${query}`) &&
          isDeepStrictEqual(parseAnnounceQuery(url), { ...p, compact: p.compact ?? true })
        );
      }),
      propertyOptions,
    );
  });

  it('buildScrapeUrl → parseScrapeQuery gives back the hashes', () => {
    fc.assert(
      fc.property(fc.array(bytes20, { maxLength: 10 }), (hashes) => {
        const back = parseScrapeQuery(buildScrapeUrl('http://t/scrape?k=v', hashes));
        return back.length === hashes.length && back.every((h, i) => sameBytes(h, hashes[i]!));
      }),
      propertyOptions,
    );
  });

  it('scrapeUrlFor replaces a last segment starting with announce and keeps the rest', () => {
    const segment = fc.string({ unit: fc.constantFrom(...'abcnoue.%_-0'.split('')), maxLength: 8 });
    fc.assert(
      fc.property(
        fc.array(segment, { maxLength: 3 }),
        segment,
        fc.constantFrom('', '?k=1', '?x=/announce'),
        (dirs, last, query) => {
          const prefix = `http://h.example/${dirs.map((d) => `${d}/`).join('')}`;
          const got = scrapeUrlFor(`${prefix}${last}${query}#frag`);
          const want = last.startsWith('announce') ? `${prefix}scrape${last.slice(8)}${query}` : null;
          const direct = scrapeUrlFor(`${prefix}announce${last}${query}`);
          return got === want && direct === `${prefix}scrape${last}${query}`;
        },
      ),
      propertyOptions,
    );
  });

  it('announce reply: encode → parse gives the reply (compact and dictionary model), and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.oneof(announceSuccess, announceFailure), fc.boolean(), (gen, compact) => {
        let res: AnnounceResponse;
        let want: AnnounceResponse;
        if (gen.type === 'failure') {
          res = want = gen;
        } else {
          const { peers4, peers6, ...rest } = gen;
          const peers = [...peers4, ...peers6];
          res = { ...rest, peers };
          want = { ...rest, peers: compact ? peers.map(({ peerId: _id, ...p }) => p) : peers };
        }
        const body = encodeAnnounceResponse(res, { compact });
        const parsed = parseAnnounceResponse(body);
        return isDeepStrictEqual(parsed, want) && sameBytes(encodeAnnounceResponse(parsed, { compact }), body);
      }),
      propertyOptions,
    );
  });

  it('scrape reply: encode → parse gives the reply and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          scrapeSuccess,
          text.map((reason): ScrapeResponse => ({ type: 'failure', reason })),
        ),
        (res) => {
          const body = encodeScrapeResponse(res);
          const parsed = parseScrapeResponse(body);
          return isDeepStrictEqual(parsed, res) && sameBytes(encodeScrapeResponse(parsed), body);
        },
      ),
      propertyOptions,
    );
  });

  it('compact peers: decode(encode(peers)) = peers, and decode-then-re-encode gives back the bytes', () => {
    fc.assert(
      fc.property(fc.array(peer4, { maxLength: 6 }), fc.array(fc.oneof(peer4, peer6), { maxLength: 6 }), (p4, p6) => {
        return (
          isDeepStrictEqual(decodeCompactPeers4(encodeCompactPeers4(p4)), p4) &&
          isDeepStrictEqual(decodeCompactPeers6(encodeCompactPeers6(p6)), p6)
        );
      }),
      propertyOptions,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 18 * 4 }), (raw) => {
        const b4 = raw.subarray(0, raw.length - (raw.length % 6));
        const b6 = raw.subarray(0, raw.length - (raw.length % 18));
        const hasPort0 = (b: Uint8Array, size: number): boolean => {
          for (let o = 0; o < b.length; o += size) if (b[o + size - 2] === 0 && b[o + size - 1] === 0) return true;
          return false;
        };
        return (
          (hasPort0(b4, 6) || sameBytes(encodeCompactPeers4(decodeCompactPeers4(b4)), b4)) &&
          (hasPort0(b6, 18) || sameBytes(encodeCompactPeers6(decodeCompactPeers6(b6)), b6))
        );
      }),
      propertyOptions,
    );
  });

  it('UDP requests: decode(encode(request)) and decode-then-re-encode gives back the bytes', () => {
    fc.assert(
      fc.property(udpAnnounceRequest, (req) => {
        const packet = udp.encodeAnnounceRequest(req);
        const back = udp.decodeUdpRequest(packet);
        return (
          isDeepStrictEqual(back, { action: 'announce', ...req }) &&
          back.action === 'announce' &&
          sameBytes(udp.encodeAnnounceRequest(back), packet)
        );
      }),
      propertyOptions,
    );
    fc.assert(
      fc.property(udpRequestPacket, (packet) => {
        const req = udp.decodeUdpRequest(packet);
        const again =
          req.action === 'connect'
            ? udp.encodeConnectRequest(req.transactionId)
            : req.action === 'announce'
              ? udp.encodeAnnounceRequest(req)
              : udp.encodeScrapeRequest(req.connectionId, req.transactionId, req.infoHashes);
        return sameBytes(again, packet);
      }),
      propertyOptions,
    );
  });

  it('UDP responses: decode-then-re-encode gives back the bytes, for both address families', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4 as const, 6 as const).chain((f) => fc.tuple(fc.constant(f), udpResponsePacket(f))),
        ([family, packet]) => {
          const res = udp.expectTransaction(
            udp.decodeUdpResponse(packet, family),
            new DataView(packet.buffer, packet.byteOffset).getUint32(4),
          );
          let again: Uint8Array;
          if (res.action === 'connect') again = udp.encodeConnectResponse(res.transactionId, res.connectionId);
          else if (res.action === 'announce') again = udp.encodeAnnounceResponse(res, family);
          else if (res.action === 'scrape') again = udp.encodeScrapeResponse(res.transactionId, res.stats);
          else again = udp.encodeErrorResponse(res.transactionId, res.message);
          return sameBytes(again, packet);
        },
      ),
      propertyOptions,
    );
  });

  it('UDP announce replies: decode(encode(reply)) = reply', () => {
    fc.assert(
      fc.property(
        udpReply(fc.array(peer4, { maxLength: 6 })),
        udpReply(fc.array(fc.oneof(peer4, peer6), { maxLength: 6 })),
        (r4, r6) => {
          return (
            isDeepStrictEqual(udp.decodeUdpResponse(udp.encodeAnnounceResponse(r4, 4), 4), {
              action: 'announce',
              ...r4,
            }) &&
            isDeepStrictEqual(udp.decodeUdpResponse(udp.encodeAnnounceResponse(r6, 6), 6), {
              action: 'announce',
              ...r6,
            })
          );
        },
      ),
      propertyOptions,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Garbage in: typed errors out
// ---------------------------------------------------------------------------------------------

describe('hostile input raises only typed errors', () => {
  // Nearly every case here throws on purpose; capturing 10,000s of stack traces would dominate the
  // run time. An unexpected error still fails the property with its message and counterexample.
  let stackTraceLimit: number;
  beforeAll(() => {
    stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  });
  afterAll(() => {
    Error.stackTraceLimit = stackTraceLimit;
  });

  const anyBytes = fc.uint8Array({ maxLength: 120 });

  it('random bytes into every decoder', () => {
    fc.assert(
      fc.property(anyBytes, (b) => {
        onlyTypedErrors(() => parseAnnounceResponse(b), TrackerError);
        onlyTypedErrors(() => parseScrapeResponse(b), TrackerError);
        onlyTypedErrors(() => udp.decodeUdpRequest(b), TrackerError);
        onlyTypedErrors(() => udp.decodeUdpResponse(b, 4), TrackerError);
        onlyTypedErrors(() => udp.decodeUdpResponse(b, 6), TrackerError);
        onlyTypedErrors(() => decodeCompactPeers4(b), PeerAddressError);
        onlyTypedErrors(() => decodeCompactPeers6(b), PeerAddressError);
        return true;
      }),
      propertyOptions,
    );
  });

  it('random query strings into the server-side query parsers', () => {
    const queryChar = fc.constantFrom(...'%&=+?#_abcdefinhspoert0123456789AF'.split(''), 'é', '\u{1F600}');
    fc.assert(
      fc.property(fc.string({ unit: queryChar, maxLength: 80 }), (q) => {
        onlyTypedErrors(() => parseAnnounceQuery(q), TrackerError);
        onlyTypedErrors(() => parseScrapeQuery(q), TrackerError);
        onlyTypedErrors(() => percentDecodeBytes(q), TrackerError);
        return true;
      }),
      propertyOptions,
    );
  });

  it('random bencode built from the reply vocabulary', () => {
    fc.assert(
      fc.property(bencodeReply, (b) => {
        onlyTypedErrors(() => parseAnnounceResponse(b), TrackerError);
        onlyTypedErrors(() => parseScrapeResponse(b), TrackerError);
        return true;
      }),
      propertyOptions,
    );
  });

  it('mutated valid HTTP replies', () => {
    const validReply = fc.oneof(
      fc.tuple(fc.oneof(announceSuccess, announceFailure), fc.boolean()).map(([gen, compact]) =>
        encodeAnnounceResponse(gen.type === 'failure' ? gen : { ...gen, peers: [...gen.peers4, ...gen.peers6] }, {
          compact,
        }),
      ),
      scrapeSuccess.map((r) => encodeScrapeResponse(r)),
    );
    fc.assert(
      fc.property(validReply, mutation, (body, ops) => {
        const bad = mutate(body, ops);
        onlyTypedErrors(() => parseAnnounceResponse(bad), TrackerError);
        onlyTypedErrors(() => parseScrapeResponse(bad), TrackerError);
        return true;
      }),
      propertyOptions,
    );
  });

  it('mutated valid UDP packets', () => {
    fc.assert(
      fc.property(fc.oneof(udpRequestPacket, udpResponsePacket(4), udpResponsePacket(6)), mutation, (packet, ops) => {
        const bad = mutate(packet, ops);
        onlyTypedErrors(() => udp.decodeUdpRequest(bad), TrackerError);
        onlyTypedErrors(() => udp.decodeUdpResponse(bad, 4), TrackerError);
        onlyTypedErrors(() => udp.decodeUdpResponse(bad, 6), TrackerError);
        return true;
      }),
      propertyOptions,
    );
  });
});
