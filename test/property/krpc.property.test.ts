/**
 * Properties of the KRPC codec (src/protocol/krpc.ts):
 * - decode(encode(m)) is m for every message kind, the encoding is canonical bencode, and re-encoding the
 *   decoded message gives the same bytes; with the default limits, encoding succeeds exactly when the
 *   message fits maxMessageBytes;
 * - random bytes, KRPC-shaped dictionaries with hostile values, and valid encodings with unknown keys added,
 *   mutated or truncated decode to a message within the caps or fail with a KrpcError, never another
 *   exception; whatever decodes re-encodes to a message that decodes the same, and to the input bytes
 *   themselves when the input holds only the keys the codec models;
 * - the caps on nodes, values, tokens, t and the message size hold exactly at their bounds.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DEFAULT_KRPC_LIMITS,
  KrpcError,
  MAX_ERROR_TEXT_BYTES,
  MAX_METHOD_BYTES,
  MAX_VERSION_BYTES,
  decodeKrpc,
  decodeNodes,
  encodeCompactPeer,
  encodeKrpc,
  encodeNodes,
  type CompactNode,
  type KrpcLimits,
  type KrpcMessage,
  type KrpcQuery,
  type KrpcResponse,
} from '../../src/protocol/krpc.js';
import {
  type BencodeDict,
  type BencodeValue,
  decodeBencode,
  encodeBencode,
  isBytes,
  isDict,
  scanBencode,
} from '../../src/protocol/bencode.js';
import { formatIPv4, formatIPv6, isIPv4Mapped, type PeerAddress } from '../../src/protocol/peer-address.js';
import { propertyOptions } from '../support/fc.js';
import { applyEdit, byteEdit } from '../support/byte-edits.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries

/** Limits large enough that any message of the arbitraries fits (the caps are tested on their own). */
const ROOMY: Partial<KrpcLimits> = { maxMessageBytes: 1 << 16 };
/** Limits nothing in these tests reaches. */
const UNCAPPED: Partial<KrpcLimits> = {
  maxMessageBytes: 1 << 16,
  maxNodes: 1000,
  maxValues: 1000,
  maxTokenBytes: 1000,
  maxTransactionIdBytes: 1000,
};

const id20 = fc.uint8Array({ minLength: 20, maxLength: 20 });
const tArb = fc.uint8Array({ minLength: 1, maxLength: DEFAULT_KRPC_LIMITS.maxTransactionIdBytes });
const tokenArb = fc.uint8Array({ maxLength: DEFAULT_KRPC_LIMITS.maxTokenBytes });
const portArb = fc.oneof(fc.constantFrom(1, 6881, 65535), fc.integer({ min: 1, max: 65535 }));
const host4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b));
const host6 = fc
  .oneof(
    fc.uint8Array({ minLength: 16, maxLength: 16 }),
    // Mostly zeros, so `::` compression and its edge cases come up.
    fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 }).map((a) => Uint8Array.from(a)),
  )
  .filter((b) => !isIPv4Mapped(b))
  .map((b) => formatIPv6(b));

const node = (family: 4 | 6): fc.Arbitrary<CompactNode> =>
  fc.record({ id: id20, host: family === 4 ? host4 : host6, port: portArb, family: fc.constant(family) });
const peerArb: fc.Arbitrary<PeerAddress> = fc.oneof(
  fc.record({ host: host4, port: portArb, family: fc.constant(4 as const) }),
  fc.record({ host: host6, port: portArb, family: fc.constant(6 as const) }),
);
const wantArb = fc.array(fc.constantFrom('n4' as const, 'n6' as const), { maxLength: 2 });
const utf8Length = (s: string): number => Buffer.byteLength(s);
const methodArb = fc
  .oneof(
    fc.constantFrom('get', 'put', 'sample_infohashes', 'vote', '', 'ping ', 'PING'),
    fc.string({ unit: 'binary', maxLength: 16 }),
  )
  .filter((m) => utf8Length(m) <= MAX_METHOD_BYTES && !['ping', 'find_node', 'get_peers', 'announce_peer'].includes(m));

const common = { t: tArb, v: fc.uint8Array({ maxLength: MAX_VERSION_BYTES }), ip: peerArb };
const commonKeys = ['t'] as const;
const queryCommon = { ...common, y: fc.constant('q' as const), id: id20, readOnly: fc.boolean() };

const queryArb: fc.Arbitrary<KrpcQuery> = fc.oneof(
  fc.record({ ...queryCommon, q: fc.constant('ping' as const) }, { requiredKeys: [...commonKeys, 'y', 'id', 'q'] }),
  fc.record(
    { ...queryCommon, q: fc.constant('find_node' as const), target: id20, want: wantArb },
    { requiredKeys: [...commonKeys, 'y', 'id', 'q', 'target'] },
  ),
  fc.record(
    { ...queryCommon, q: fc.constant('get_peers' as const), infoHash: id20, want: wantArb },
    { requiredKeys: [...commonKeys, 'y', 'id', 'q', 'infoHash'] },
  ),
  fc
    .record(
      {
        ...queryCommon,
        q: fc.constant('announce_peer' as const),
        infoHash: id20,
        port: fc.integer({ min: 0, max: 65535 }),
        token: tokenArb,
        impliedPort: fc.boolean(),
      },
      // port optional: absent, like 0, only with implied_port 1.
      { requiredKeys: [...commonKeys, 'y', 'id', 'q', 'infoHash', 'token'] },
    )
    .filter((q) => (q.port !== undefined && q.port !== 0) || q.impliedPort === true),
  fc.record(
    { ...queryCommon, q: fc.constant('other' as const), method: methodArb },
    { requiredKeys: [...commonKeys, 'y', 'id', 'q', 'method'] },
  ),
);

const responseArb: fc.Arbitrary<KrpcResponse> = fc.record(
  {
    ...common,
    y: fc.constant('r' as const),
    id: id20,
    nodes: fc.array(node(4), { maxLength: DEFAULT_KRPC_LIMITS.maxNodes }),
    nodes6: fc.array(node(6), { maxLength: DEFAULT_KRPC_LIMITS.maxNodes }),
    values: fc.array(peerArb, { maxLength: DEFAULT_KRPC_LIMITS.maxValues }),
    token: tokenArb,
  },
  { requiredKeys: [...commonKeys, 'y', 'id'] },
);

const errorArb = fc.record(
  {
    ...common,
    y: fc.constant('e' as const),
    code: fc.oneof(fc.constantFrom(201, 202, 203, 204), fc.maxSafeInteger(), fc.integer()),
    message: fc
      .oneof(
        fc.constantFrom('A Generic Error Ocurred', 'Method Unknown', ''),
        fc.string({ unit: 'binary', maxLength: 120 }),
      )
      .filter((m) => utf8Length(m) <= MAX_ERROR_TEXT_BYTES),
  },
  { requiredKeys: [...commonKeys, 'y', 'code', 'message'] },
);

const messageArb: fc.Arbitrary<KrpcMessage> = fc.oneof(queryArb, responseArb, errorArb);
/** Responses around the default size cap: many values and nodes of both families. */
const bigResponseArb: fc.Arbitrary<KrpcResponse> = fc.record({
  y: fc.constant('r' as const),
  t: tArb,
  id: id20,
  nodes: fc.array(node(4), { minLength: 8, maxLength: DEFAULT_KRPC_LIMITS.maxNodes, size: 'max' }),
  nodes6: fc.array(node(6), { minLength: 8, maxLength: DEFAULT_KRPC_LIMITS.maxNodes, size: 'max' }),
  values: fc.array(peerArb, { minLength: 10, maxLength: 60, size: 'max' }),
});

/** Bencode values at most `depth` levels deep (1: a leaf). */
const valueArb = (depth: number): fc.Arbitrary<BencodeValue> => {
  const leaf = fc.oneof(
    fc.integer({ min: -2, max: 70_000 }),
    fc.constantFrom(0, 1, 2, 65_536, Number.MAX_SAFE_INTEGER),
    fc.uint8Array({ maxLength: 40 }),
    // Strings of the lengths that matter, all ones (port 257) or all zeros (port 0, address 0).
    fc
      .tuple(fc.constantFrom(6, 18, 19, 20, 21, 26, 38, 52), fc.constantFrom(0, 1))
      .map(([n, f]) => new Uint8Array(n).fill(f)),
  );
  if (depth <= 1) return leaf;
  const inner = valueArb(depth - 1);
  return fc.oneof(
    { weight: 4, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(inner, { maxLength: 3 }) },
    {
      weight: 1,
      arbitrary: fc
        .uniqueArray(fc.tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 5 }), inner), {
          selector: ([k]) => k,
          maxLength: 3,
        })
        .map((entries) => Object.fromEntries(entries.filter(([k]) => k !== '__proto__')) as BencodeDict),
    },
  );
};

/** Dictionaries with unknown keys (none the codec models at any level, so they are ignored). */
const MODELLED_NAMES = new Set([
  't',
  'y',
  'q',
  'a',
  'r',
  'e',
  'v',
  'ip',
  'ro',
  'id',
  'target',
  'info_hash',
  'port',
  'token',
  'implied_port',
  'want',
  'nodes',
  'nodes6',
  'values',
]);
const extraArb = fc
  .uniqueArray(fc.tuple(fc.string({ unit: 'grapheme-ascii', maxLength: 8 }), valueArb(3)), {
    selector: ([k]) => k,
    maxLength: 3,
  })
  .map((entries) => entries.filter(([k]) => !MODELLED_NAMES.has(k) && k !== '__proto__'));

const editArb = byteEdit([0x30, 0x31, 0x32, 0x36, 0x39, 0x3a, 0x64, 0x65, 0x69, 0x6c, 0x2d, 0x00, 0xff]);

// ---------------------------------------------------------------------------------------------
// Checks

/** What every decoded message promises, whatever its input was (a test fails with the message shown). */
function expectBounded(m: KrpcMessage, lim: KrpcLimits): void {
  const bytesIn = (v: unknown, min: number, max: number): boolean =>
    v instanceof Uint8Array && v.length >= min && v.length <= max;
  const port = (p: number, min = 1): boolean => Number.isInteger(p) && p >= min && p <= 65535;
  const nodesOk = (ns: CompactNode[] | undefined, family: 4 | 6): boolean =>
    ns === undefined ||
    (ns.length <= lim.maxNodes && ns.every((n) => bytesIn(n.id, 20, 20) && n.family === family && port(n.port)));
  let ok =
    bytesIn(m.t, 1, lim.maxTransactionIdBytes) &&
    (m.v === undefined || bytesIn(m.v, 0, MAX_VERSION_BYTES)) &&
    (m.ip === undefined || port(m.ip.port));
  switch (m.y) {
    case 'q':
      ok &&= bytesIn(m.id, 20, 20);
      if (m.q === 'find_node') ok &&= bytesIn(m.target, 20, 20);
      if (m.q === 'get_peers') ok &&= bytesIn(m.infoHash, 20, 20);
      if (m.q === 'announce_peer')
        ok &&=
          bytesIn(m.infoHash, 20, 20) &&
          bytesIn(m.token, 0, lim.maxTokenBytes) &&
          (m.port === undefined ? m.impliedPort === true : port(m.port, m.impliedPort === true ? 0 : 1));
      if (m.q === 'other') ok &&= utf8Length(m.method) <= MAX_METHOD_BYTES;
      break;
    case 'r':
      ok &&=
        bytesIn(m.id, 20, 20) &&
        nodesOk(m.nodes, 4) &&
        nodesOk(m.nodes6, 6) &&
        (m.values === undefined || (m.values.length <= lim.maxValues && m.values.every((p) => port(p.port)))) &&
        (m.token === undefined || bytesIn(m.token, 0, lim.maxTokenBytes));
      break;
    case 'e':
      ok &&= Number.isSafeInteger(m.code) && utf8Length(m.message) <= MAX_ERROR_TEXT_BYTES;
      break;
    default:
      ok = false;
  }
  if (!ok) expect(m).toBe('a message within the caps');
}

/** Decodes, requiring a message within the caps or a KrpcError. */
function decodeOrRefuse(bytes: Uint8Array, limits: Partial<KrpcLimits> = {}): KrpcMessage | KrpcError {
  let m: KrpcMessage;
  try {
    m = decodeKrpc(bytes, limits);
  } catch (err) {
    if (!(err instanceof KrpcError) || !err.code.startsWith('BT_ERR_KRPC_')) throw err;
    return err;
  }
  expectBounded(m, { ...DEFAULT_KRPC_LIMITS, ...limits });
  return m;
}

/** The keys the codec models, by level (an independent statement of docs/dht.md). */
const ARGS: Record<string, string[]> = {
  ping: ['id'],
  find_node: ['id', 'target', 'want'],
  get_peers: ['id', 'info_hash', 'want'],
  announce_peer: ['id', 'info_hash', 'port', 'token', 'implied_port'],
};
function onlyModelledKeys(v: BencodeValue): boolean {
  if (!isDict(v)) return false;
  const y = v.y;
  const kind = isBytes(y) ? Buffer.from(y).toString('latin1') : '';
  const top = ['t', 'y', 'v', 'ip', ...(kind === 'q' ? ['q', 'a', 'ro'] : kind === 'r' ? ['r'] : ['e'])];
  if (!Object.keys(v).every((k) => top.includes(k))) return false;
  if (kind === 'q') {
    const q = isBytes(v.q) ? Buffer.from(v.q).toString('utf8') : '';
    const allowed = Object.hasOwn(ARGS, q) ? ARGS[q]! : ['id'];
    return isDict(v.a) && Object.keys(v.a).every((k) => allowed.includes(k));
  }
  if (kind === 'r')
    return isDict(v.r) && Object.keys(v.r).every((k) => ['id', 'nodes', 'nodes6', 'values', 'token'].includes(k));
  return true;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/**
 * Deep equality as `toEqual` sees it (absent and undefined fields alike, bytes by content), through a
 * canonical text form: `toEqual` on a full response costs milliseconds, and the properties run it 10^4 times.
 */
function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x instanceof Uint8Array) return `bytes:${hex(x)}`;
    if (x !== null && typeof x === 'object' && !Array.isArray(x))
      return Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return x;
  });
}
function expectSame(actual: unknown, expected: unknown): void {
  const a = canon(actual);
  const e = canon(expected);
  if (a !== e) expect(actual).toEqual(expected);
}

/**
 * For input that decoded: the re-encoding decodes to the same message, and is the input itself when the
 * input holds only modelled keys (the strict reader has already refused non-canonical bencode).
 */
function expectReencodes(input: Uint8Array, m: KrpcMessage, limits: Partial<KrpcLimits> = {}): void {
  const again = encodeKrpc(m, limits);
  expectSame(decodeKrpc(again, limits), m);
  if (onlyModelledKeys(decodeBencode(input).value)) expect(hex(again)).toBe(hex(input));
  else expect(again.length).toBeLessThan(input.length);
}

// ---------------------------------------------------------------------------------------------
// Properties

describe('KRPC properties', () => {
  it('round-trips every message kind, as canonical bencode, byte for byte', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        const bytes = encodeKrpc(m, ROOMY);
        expect(scanBencode(bytes).canonical).toBe(true);
        const back = decodeKrpc(bytes, ROOMY);
        expectSame(back, m);
        expect(hex(encodeKrpc(back, ROOMY))).toBe(hex(bytes));
      }),
      propertyOptions,
    );
  });

  it('with the default limits, encodes exactly the messages that fit maxMessageBytes', () => {
    let fits = 0;
    let overflows = 0;
    fc.assert(
      fc.property(fc.oneof(messageArb, bigResponseArb), (m) => {
        const size = encodeKrpc(m, ROOMY).length;
        if (size <= DEFAULT_KRPC_LIMITS.maxMessageBytes) {
          fits++;
          expectSame(decodeKrpc(encodeKrpc(m)), m);
        } else {
          overflows++;
          expect(() => encodeKrpc(m)).toThrow(expect.objectContaining({ code: 'BT_ERR_KRPC_TOO_LARGE' }));
          expect(decodeOrRefuse(encodeKrpc(m, ROOMY))).toMatchObject({ code: 'BT_ERR_KRPC_TOO_LARGE' });
        }
      }),
      propertyOptions,
    );
    // Both sides of the cap were exercised.
    expect(fits).toBeGreaterThan(0);
    expect(overflows).toBeGreaterThan(0);
  });

  it('ignores unknown keys at every level', () => {
    fc.assert(
      fc.property(messageArb, extraArb, extraArb, (m, extraTop, extraInner) => {
        const plain = encodeKrpc(m, ROOMY);
        const dict = decodeBencode(plain).value as BencodeDict;
        const inner = (dict.a ?? dict.r) as BencodeDict | undefined;
        const withExtra = encodeBencode({
          ...Object.fromEntries(extraTop),
          ...dict,
          ...(inner && m.y === 'q' ? { a: { ...Object.fromEntries(extraInner), ...inner } } : {}),
          ...(inner && m.y === 'r' ? { r: { ...Object.fromEntries(extraInner), ...inner } } : {}),
        });
        const back = decodeKrpc(withExtra, ROOMY);
        expectSame(back, m);
        expectReencodes(withExtra, back, ROOMY);
      }),
      propertyOptions,
    );
  });

  it('turns random bytes into a message or a KrpcError, never another exception', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const m = decodeOrRefuse(bytes);
        if (!(m instanceof KrpcError)) expectReencodes(bytes, m);
      }),
      propertyOptions,
    );
  });

  it('turns mutated and truncated encodings into a message that re-encodes, or a KrpcError', () => {
    let decoded = 0;
    let refused = 0;
    fc.assert(
      fc.property(messageArb, extraArb, fc.array(editArb, { minLength: 1, maxLength: 4 }), (m, extra, edits) => {
        let bytes = encodeKrpc(m, ROOMY);
        if (extra.length > 0)
          bytes = encodeBencode({ ...Object.fromEntries(extra), ...(decodeBencode(bytes).value as BencodeDict) });
        for (const e of edits) bytes = applyEdit(bytes, e);
        const back = decodeOrRefuse(bytes, ROOMY);
        if (back instanceof KrpcError) refused++;
        else {
          decoded++;
          expectReencodes(bytes, back, ROOMY);
        }
      }),
      propertyOptions,
    );
    expect(decoded).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('decodes KRPC-shaped dictionaries with hostile values to a message within the caps, or refuses them', () => {
    const decoded = new Set<string>();
    const refused = new Set<string>();
    /** Mostly a value the field may hold, sometimes anything (one hostile field refuses the message). */
    const mostly = (valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
      fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: valueArb(3) });
    const compactPeers = fc.array(
      fc.oneof(
        peerArb.map((p) => encodeCompactPeer(p)),
        fc.uint8Array({ minLength: 6, maxLength: 6 }),
        fc.uint8Array({ minLength: 18, maxLength: 18 }),
        fc.uint8Array({ maxLength: 20 }),
      ),
      { maxLength: 4 },
    );
    const innerArb = fc.record(
      {
        id: mostly(id20),
        target: mostly(id20),
        info_hash: mostly(id20),
        port: mostly(fc.oneof(portArb, fc.constantFrom(0, 65536))),
        token: mostly(fc.uint8Array({ maxLength: 70 })),
        implied_port: mostly(fc.constantFrom(0, 1)),
        want: mostly(
          fc.array(fc.constantFrom('n4', 'n6', 'n5'), { maxLength: 3 }).map((a) => a.map((w) => Buffer.from(w))),
        ),
        nodes: mostly(
          fc.oneof(
            fc.array(node(4), { maxLength: 3 }).map((ns) => encodeNodes(ns, 4)),
            fc.uint8Array({ maxLength: 60 }),
          ),
        ),
        nodes6: mostly(
          fc.oneof(
            fc.array(node(6), { maxLength: 2 }).map((ns) => encodeNodes(ns, 6)),
            fc.uint8Array({ maxLength: 80 }),
          ),
        ),
        values: mostly(compactPeers),
      },
      { requiredKeys: [] },
    );
    const topArb = fc.record(
      {
        t: mostly(fc.uint8Array({ maxLength: 20 })),
        y: mostly(fc.constantFrom('q', 'r', 'e', 'x', 'qq').map((w) => Buffer.from(w))),
        q: mostly(fc.constantFrom('ping', 'find_node', 'get_peers', 'announce_peer', 'get').map((w) => Buffer.from(w))),
        a: mostly(innerArb),
        r: mostly(innerArb),
        e: mostly(
          fc
            .tuple(
              fc.oneof(fc.integer(), fc.constant(Number.MAX_SAFE_INTEGER)),
              fc.oneof(
                fc.string({ maxLength: 20 }).map((w) => Buffer.from(w)),
                fc.uint8Array({ maxLength: 8 }),
              ),
            )
            .map((p) => [...p]),
        ),
        v: mostly(fc.uint8Array({ maxLength: 40 })),
        ip: mostly(
          fc.oneof(
            peerArb.map((p) => encodeCompactPeer(p)),
            fc.uint8Array({ maxLength: 20 }),
          ),
        ),
        ro: mostly(fc.constantFrom(0, 1, 2)),
      },
      { requiredKeys: ['t', 'y'] },
    );
    fc.assert(
      fc.property(topArb, (top) => {
        const bytes = encodeBencode(top);
        const back = decodeOrRefuse(bytes, ROOMY);
        if (back instanceof KrpcError) refused.add(back.code);
        else {
          decoded.add(back.y);
          expectReencodes(bytes, back, ROOMY);
        }
      }),
      propertyOptions,
    );
    // Every kind got through, and every refusal a well-formed canonical dictionary can earn was met.
    expect([...decoded].sort()).toEqual(['e', 'q', 'r']);
    expect([...refused].sort()).toEqual([
      'BT_ERR_KRPC_FIELD',
      'BT_ERR_KRPC_LIMIT',
      'BT_ERR_KRPC_MESSAGE',
      'BT_ERR_KRPC_TYPE',
    ]);
  });

  it('refuses every strict prefix of an encoding, and an encoding with bytes after it', () => {
    fc.assert(
      fc.property(messageArb, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (m, cut, tail) => {
        const bytes = encodeKrpc(m, ROOMY);
        expect(decodeOrRefuse(bytes.subarray(0, cut % bytes.length), ROOMY)).toBeInstanceOf(KrpcError);
        expect(decodeOrRefuse(Uint8Array.from([...bytes, ...tail]), ROOMY)).toBeInstanceOf(KrpcError);
      }),
      propertyOptions,
    );
  });

  it('holds every cap exactly at its bound', () => {
    const capsArb = fc.record({
      maxNodes: fc.integer({ min: 1, max: 20 }),
      maxValues: fc.integer({ min: 1, max: 40 }),
      maxTokenBytes: fc.integer({ min: 1, max: 80 }),
      maxTransactionIdBytes: fc.integer({ min: 1, max: 20 }),
    });
    fc.assert(
      fc.property(
        capsArb,
        fc.record({
          nodes: fc.integer({ min: 0, max: 22 }),
          nodes6: fc.integer({ min: 0, max: 22 }),
          values: fc.integer({ min: 0, max: 42 }),
          token: fc.integer({ min: 0, max: 82 }),
          t: fc.integer({ min: 1, max: 22 }),
        }),
        node(4),
        node(6),
        peerArb,
        (caps, n, n4, n6, peer) => {
          const m: KrpcResponse = {
            y: 'r',
            t: new Uint8Array(n.t).fill(0x74),
            id: new Uint8Array(20),
            nodes: new Array<CompactNode>(n.nodes).fill(n4),
            nodes6: new Array<CompactNode>(n.nodes6).fill(n6),
            values: new Array<PeerAddress>(n.values).fill(peer),
            token: new Uint8Array(n.token),
          };
          const bytes = encodeKrpc(m, UNCAPPED);
          const limits = { ...caps, maxMessageBytes: 1 << 16 };
          const within =
            n.nodes <= caps.maxNodes &&
            n.nodes6 <= caps.maxNodes &&
            n.values <= caps.maxValues &&
            n.token <= caps.maxTokenBytes &&
            n.t <= caps.maxTransactionIdBytes;
          const back = decodeOrRefuse(bytes, limits);
          if (within) expectSame(back, m);
          else expect(back).toMatchObject({ code: 'BT_ERR_KRPC_LIMIT' });
          // The encoder keeps to the same caps.
          if (within) expect(hex(encodeKrpc(m, limits))).toBe(hex(bytes));
          else expect(() => encodeKrpc(m, limits)).toThrow(KrpcError);
        },
      ),
      propertyOptions,
    );
  });

  it('refuses any input longer than maxMessageBytes before reading it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 3000 }), fc.uint8Array({ maxLength: 64 }), (cap, head) => {
        const input = new Uint8Array(cap + 1);
        input.set(head.subarray(0, cap + 1));
        expect(decodeOrRefuse(input, { maxMessageBytes: cap })).toMatchObject({ code: 'BT_ERR_KRPC_TOO_LARGE' });
      }),
      propertyOptions,
    );
  });

  it('round-trips compact node lists of both families; other lengths are refused', () => {
    fc.assert(
      fc.property(
        fc
          .constantFrom(4 as const, 6 as const)
          .chain((family) =>
            fc.tuple(fc.constant(family), fc.array(node(family), { maxLength: DEFAULT_KRPC_LIMITS.maxNodes })),
          ),
        fc.integer({ min: 1, max: 37 }),
        ([family, nodes], extra) => {
          const bytes = encodeNodes(nodes, family);
          expect(bytes.length).toBe(nodes.length * (family === 4 ? 26 : 38));
          expectSame(decodeNodes(bytes, family), nodes);
          const longer = Uint8Array.from([...bytes, ...new Uint8Array(extra % (family === 4 ? 26 : 38) || 1).fill(1)]);
          expect(() => decodeNodes(longer, family)).toThrow(KrpcError);
        },
      ),
      propertyOptions,
    );
  });

  it('names the transaction id and kind of a refused message whenever they were readable', () => {
    fc.assert(
      fc.property(queryArb, fc.integer({ min: 0, max: 19 }), (q, idLength) => {
        // The same query with a wrong-length node id: a node answers it with 203 under the same t.
        const dict = decodeBencode(encodeKrpc(q, ROOMY)).value as BencodeDict;
        const bad = encodeBencode({ ...dict, a: { ...(dict.a as BencodeDict), id: new Uint8Array(idLength) } });
        const err = decodeOrRefuse(bad, ROOMY);
        expect(err).toBeInstanceOf(KrpcError);
        expect(err).toMatchObject({ code: 'BT_ERR_KRPC_FIELD', transactionId: q.t, kind: 'q' });
      }),
      propertyOptions,
    );
  });
});
