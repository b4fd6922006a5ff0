/**
 * KRPC codec (src/protocol/krpc.ts): the example messages of BEP 5, byte for byte, and one test per refusal.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_KRPC_LIMITS,
  KrpcError,
  KrpcErrorCode,
  decodeCompactPeer,
  decodeKrpc,
  decodeNodes,
  encodeKrpc,
  encodeNodes,
  readResponse,
  resolveKrpcLimits,
  type CompactNode,
  type KrpcMessage,
  type KrpcResponse,
} from '../../src/protocol/krpc.js';

const b = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'));
const s = (u: Uint8Array): string => Buffer.from(u).toString('latin1');
const aa = b('aa');
const ID1 = b('abcdefghij0123456789');
const ID2 = b('mnopqrstuvwxyz123456');

/** The decoded message, and that it re-encodes to exactly `wire`. */
function both(wire: string): KrpcMessage {
  const msg = decodeKrpc(b(wire));
  expect(s(encodeKrpc(msg))).toBe(wire);
  return msg;
}

/** The code of the KrpcError `f` throws (and that it throws one). */
function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(KrpcError);
    return (err as KrpcError).code;
  }
  return 'no error';
}
const refusal = (wire: string | Uint8Array, limits = {}): string =>
  codeOf(() => decodeKrpc(typeof wire === 'string' ? b(wire) : wire, limits));

/** A compact IPv4 node entry: id, address, port. */
const node4 = (id: Uint8Array, ip: number[], port: number): Uint8Array =>
  Uint8Array.from([...id, ...ip, port >> 8, port & 0xff]);

describe('BEP 5 example messages', () => {
  it('ping query and response', () => {
    expect(both('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe')).toEqual({
      y: 'q',
      q: 'ping',
      t: aa,
      id: ID1,
    });
    expect(both('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re')).toEqual({ y: 'r', t: aa, id: ID2 });
  });

  it('generic error', () => {
    expect(both('d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee')).toEqual({
      y: 'e',
      t: aa,
      code: KrpcErrorCode.generic,
      message: 'A Generic Error Ocurred',
    });
  });

  it('find_node query; its example response, whose nodes are a 9-byte placeholder, is refused', () => {
    expect(
      both('d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe'),
    ).toEqual({ y: 'q', q: 'find_node', t: aa, id: ID1, target: ID2 });
    expect(refusal('d1:rd2:id20:0123456789abcdefghij5:nodes9:def456...e1:t2:aa1:y1:re')).toBe('BT_ERR_KRPC_FIELD');
  });

  it('find_node response with real compact nodes', () => {
    const nodes = s(Uint8Array.from([...node4(ID1, [127, 0, 0, 1], 6881), ...node4(ID2, [10, 1, 2, 3], 65535)]));
    const msg = both(`d1:rd2:id20:0123456789abcdefghij5:nodes52:${nodes}e1:t2:aa1:y1:re`) as KrpcResponse;
    expect(msg.nodes).toEqual([
      { id: ID1, host: '127.0.0.1', port: 6881, family: 4 },
      { id: ID2, host: '10.1.2.3', port: 65535, family: 4 },
    ]);
    expect(readResponse('find_node', msg)).toEqual({ id: b('0123456789abcdefghij'), nodes: msg.nodes, nodes6: [] });
  });

  it('get_peers query and its response with peers', () => {
    expect(
      both('d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe'),
    ).toEqual({ y: 'q', q: 'get_peers', t: aa, id: ID1, infoHash: ID2 });
    const r = both(
      'd1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re',
    ) as KrpcResponse;
    expect(r).toEqual({
      y: 'r',
      t: aa,
      id: ID1,
      token: b('aoeusnth'),
      values: [
        { host: '97.120.106.101', port: 0x2e75, family: 4 },
        { host: '105.100.104.116', port: 0x6e6d, family: 4 },
      ],
    });
    expect(readResponse('get_peers', r)).toEqual({
      id: ID1,
      token: b('aoeusnth'),
      values: r.values,
      nodes: [],
      nodes6: [],
    });
  });

  it('announce_peer query with implied_port, and its response', () => {
    expect(
      both(
        'd1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe',
      ),
    ).toEqual({
      y: 'q',
      q: 'announce_peer',
      t: aa,
      id: ID1,
      infoHash: ID2,
      port: 6881,
      token: b('aoeusnth'),
      impliedPort: true,
    });
    expect(
      readResponse('announce_peer', decodeKrpc(b('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re')) as KrpcResponse),
    ).toEqual({
      id: ID2,
    });
  });
});

describe('the optional fields of BEP 32, 42 and 43', () => {
  const v6 = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1]);
  const node6 = Uint8Array.from([...ID2, ...v6, 0x1a, 0xe1]);

  it('nodes6 and want', () => {
    const q = both(
      'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n42:n6ee1:q9:find_node1:t2:aa1:y1:qe',
    );
    expect(q).toMatchObject({ q: 'find_node', want: ['n4', 'n6'] });
    const r = both(`d1:rd2:id20:abcdefghij01234567896:nodes638:${s(node6)}e1:t2:aa1:y1:re`) as KrpcResponse;
    expect(r.nodes6).toEqual([{ id: ID2, host: '2001:db8::1', port: 6881, family: 6 }]);
    expect(readResponse('find_node', r).nodes6).toHaveLength(1);
    const peer6 = s(Uint8Array.from([...v6, 0, 80]));
    const gp = both(`d1:rd2:id20:abcdefghij01234567895:token1:x6:valuesl18:${peer6}ee1:t2:aa1:y1:re`) as KrpcResponse;
    expect(gp.values).toEqual([{ host: '2001:db8::1', port: 80, family: 6 }]);
    expect(
      refusal(
        'd1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz1234564:wantl2:n5ee1:q9:find_node1:t2:aa1:y1:qe',
      ),
    ).toBe('BT_ERR_KRPC_FIELD');
  });

  it('ip (BEP 42), ro (BEP 43) and v', () => {
    const ip = s(Uint8Array.of(192, 0, 2, 7, 0x1a, 0xe1));
    expect(both(`d2:ip6:${ip}1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:v4:LT\x01\x021:y1:re`)).toEqual({
      y: 'r',
      t: aa,
      id: ID2,
      ip: { host: '192.0.2.7', port: 6881, family: 4 },
      v: b('LT\x01\x02'),
    });
    expect(both('d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi1e1:t2:aa1:y1:qe')).toMatchObject({ readOnly: true });
    expect(both('d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi0e1:t2:aa1:y1:qe')).toMatchObject({ readOnly: false });
    expect(refusal('d1:ad2:id20:abcdefghij0123456789e1:q4:ping2:roi2e1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(`d2:ip5:${ip.slice(0, 5)}1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re`)).toBe('BT_ERR_KRPC_FIELD');
  });

  it('unknown keys are ignored', () => {
    const msg = decodeKrpc(b('d1:ad2:id20:abcdefghij01234567896:noseedi1ee1:q4:ping1:t2:aa1:y1:q1:zli1eee'));
    expect(msg).toEqual({ y: 'q', q: 'ping', t: aa, id: ID1 });
  });

  it('an unknown method decodes as an other query, so a node can answer 204', () => {
    const q = both('d1:ad2:id20:abcdefghij0123456789e1:q3:get1:t2:aa1:y1:qe');
    expect(q).toEqual({ y: 'q', q: 'other', method: 'get', t: aa, id: ID1 });
    const reply = encodeKrpc({ y: 'e', t: q.t, code: KrpcErrorCode.methodUnknown, message: 'Method Unknown' });
    expect(s(reply)).toBe('d1:eli204e14:Method Unknowne1:t2:aa1:y1:ee');
    expect(codeOf(() => encodeKrpc({ y: 'q', q: 'other', method: 'ping', t: aa, id: ID1 }))).toBe('BT_ERR_KRPC_ENCODE');
  });
});

describe('refusals', () => {
  it('not bencode, not a dictionary, non-canonical', () => {
    expect(refusal('')).toBe('BT_ERR_KRPC_BENCODE');
    expect(refusal('d1:t2:aa')).toBe('BT_ERR_KRPC_BENCODE');
    expect(refusal('d1:t2:aa1:t2:bbe')).toBe('BT_ERR_KRPC_BENCODE');
    expect(refusal('li1ee')).toBe('BT_ERR_KRPC_MESSAGE');
    const unsorted = 'd1:t2:aa1:ad2:id20:abcdefghij0123456789e1:q4:ping1:y1:qe';
    expect(refusal(unsorted)).toBe('BT_ERR_KRPC_NONCANONICAL');
    // A reader that allows unsorted keys reads it; re-encoding sorts them.
    const m = decodeKrpc(b(unsorted), { requireCanonical: false });
    expect(s(encodeKrpc(m))).toBe('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe');
  });

  it('a key that reads as another (BOM + key) or an integer past 2^53', () => {
    const huge = `i${'9'.repeat(400)}e`; // Infinity as a JavaScript number
    expect(refusal(`d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q1:z${huge}e`)).toBe(
      'BT_ERR_KRPC_NONCANONICAL',
    );
    expect(refusal(`d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q1:zl${huge}i-${'9'.repeat(30)}eee`)).toBe(
      'BT_ERR_KRPC_NONCANONICAL',
    );
    expect(refusal('d1:ad5:\xef\xbb\xbfid20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe')).toBe(
      'BT_ERR_KRPC_NONCANONICAL',
    );
    expect(refusal('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:q1:zi9007199254740993ee')).toBe(
      'BT_ERR_KRPC_NONCANONICAL',
    );
  });

  it('t and y', () => {
    expect(refusal('d1:rd2:id20:mnopqrstuvwxyz123456e1:y1:re')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:rd2:id20:mnopqrstuvwxyz123456e1:t0:1:y1:re')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:rd2:id20:mnopqrstuvwxyz123456e1:ti1e1:y1:re')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:rd2:id20:mnopqrstuvwxyz123456e1:t17:aaaaaaaaaaaaaaaaa1:y1:re')).toBe('BT_ERR_KRPC_LIMIT');
    expect(refusal('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aae')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:xe')).toBe('BT_ERR_KRPC_TYPE');
    expect(refusal('d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y2:rre')).toBe('BT_ERR_KRPC_TYPE');
  });

  it('a malformed query names its transaction id, so the node can answer 203', () => {
    try {
      decodeKrpc(b('d1:ad2:id19:abcdefghij012345678e1:q4:ping1:t2:aa1:y1:qe'));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(KrpcError);
      expect((err as KrpcError).code).toBe('BT_ERR_KRPC_FIELD');
      expect((err as KrpcError).transactionId).toEqual(aa);
      expect((err as KrpcError).kind).toBe('q');
      expect((err as KrpcError).message).toMatch(/a\.id is 19 bytes/);
    }
  });

  it('queries: missing or wrong a, q, ids, ports, tokens', () => {
    expect(refusal('d1:q4:ping1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:ali1ee1:q4:ping1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:ad2:id20:abcdefghij0123456789e1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:ade1:q4:ping1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal('d1:ad2:idi5ee1:q4:ping1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal('d1:ad2:id20:abcdefghij0123456789e1:q2:\xff\xfe1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal('d1:ad2:id20:abcdefghij0123456789e1:q9:find_node1:t2:aa1:y1:qe')).toBe('BT_ERR_KRPC_FIELD');
    const announce = (args: string): string =>
      `d1:ad2:id20:abcdefghij0123456789${args}9:info_hash20:mnopqrstuvwxyz123456${''}e1:q13:announce_peer1:t2:aa1:y1:qe`;
    const withPort = (port: string, token = '5:token8:aoeusnth', implied = ''): string =>
      `d1:ad2:id20:abcdefghij0123456789${implied}9:info_hash20:mnopqrstuvwxyz1234564:port${port}${token}e1:q13:announce_peer1:t2:aa1:y1:qe`;
    expect(refusal(announce(''))).toBe('BT_ERR_KRPC_FIELD'); // no port, no token
    expect(refusal(withPort('i0e'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(withPort('i65536e'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(withPort('i-1e'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(withPort('2:ab'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(withPort('i6881e', ''))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(withPort('i6881e', `5:token65:${'x'.repeat(65)}`))).toBe('BT_ERR_KRPC_LIMIT');
    expect(refusal(withPort('i6881e', '5:token8:aoeusnth', '12:implied_porti2e'))).toBe('BT_ERR_KRPC_FIELD');
    // Port 0 is allowed when implied_port says to use the datagram's source port.
    expect(decodeKrpc(b(withPort('i0e', '5:token8:aoeusnth', '12:implied_porti1e')))).toMatchObject({
      port: 0,
      impliedPort: true,
    });
    expect(refusal(withPort('i0e', '5:token8:aoeusnth', '12:implied_porti0e'))).toBe('BT_ERR_KRPC_FIELD');
    // bittorrent-dht announcing with no port of its own sends implied_port 1 and no port at all.
    const noPort = (implied: string): string =>
      `d1:ad2:id20:abcdefghij0123456789${implied}9:info_hash20:mnopqrstuvwxyz1234565:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe`;
    const q = both(noPort('12:implied_porti1e'));
    expect(q).toMatchObject({ q: 'announce_peer', impliedPort: true });
    expect('port' in q).toBe(false);
    expect(refusal(noPort('12:implied_porti0e'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(noPort(''))).toBe('BT_ERR_KRPC_FIELD');
  });

  it('responses: missing r or id, bad nodes, values and tokens', () => {
    const resp = (body: string): string => `d1:rd2:id20:mnopqrstuvwxyz123456${body}e1:t2:aa1:y1:re`;
    expect(refusal('d1:t2:aa1:y1:re')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal('d1:rd5:token1:xe1:t2:aa1:y1:re')).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp('5:nodes25:' + 'x'.repeat(25)))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp('5:nodes26:' + s(node4(ID1, [1, 2, 3, 4], 0))))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp('5:nodesi1e'))).toBe('BT_ERR_KRPC_FIELD');
    const mapped = Uint8Array.from([...ID1, ...new Array<number>(10).fill(0), 0xff, 0xff, 1, 2, 3, 4, 0, 1]);
    expect(refusal(resp(`6:nodes638:${s(mapped)}`))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp('6:valuesl5:abcdee'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp('6:valuesl6:abcd\x00\x00e'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp('6:values6:abcdef'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp('6:valuesli1ee'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(resp(`5:token65:${'x'.repeat(65)}`))).toBe('BT_ERR_KRPC_LIMIT');
    const many = (n: number): string => `6:valuesl${'6:abcdef'.repeat(n)}e`;
    expect(decodeKrpc(b(resp(many(3))), { maxValues: 3 })).toMatchObject({ values: { length: 3 } });
    expect(refusal(resp(many(4)), { maxValues: 3 })).toBe('BT_ERR_KRPC_LIMIT');
    const nodes = (n: number): string => {
      const one = s(node4(ID1, [1, 2, 3, 4], 1));
      return `5:nodes${26 * n}:${one.repeat(n)}`;
    };
    expect(decodeKrpc(b(resp(nodes(16))))).toMatchObject({ nodes: { length: 16 } });
    expect(refusal(resp(nodes(17)))).toBe('BT_ERR_KRPC_LIMIT');
  });

  it('errors: e must be [integer, UTF-8 text]', () => {
    const err = (e: string): string => `d1:e${e}1:t2:aa1:y1:ee`;
    expect(refusal('d1:t2:aa1:y1:ee')).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal(err('li201ee'))).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal(err('li201e1:x1:ye'))).toBe('BT_ERR_KRPC_MESSAGE');
    expect(refusal(err('l1:x1:ye'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(err('li201e2:\xff\xfee'))).toBe('BT_ERR_KRPC_FIELD');
    expect(refusal(err('li201ei5ee'))).toBe('BT_ERR_KRPC_FIELD');
  });

  it('the size cap comes before anything is read', () => {
    const big = new Uint8Array(DEFAULT_KRPC_LIMITS.maxMessageBytes + 1).fill(0x64);
    expect(refusal(big)).toBe('BT_ERR_KRPC_TOO_LARGE');
    expect(refusal('d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe', { maxMessageBytes: 50 })).toBe(
      'BT_ERR_KRPC_TOO_LARGE',
    );
    expect(codeOf(() => resolveKrpcLimits({ maxNodes: 0 }))).toBe('BT_ERR_KRPC_LIMITS');
    expect(codeOf(() => resolveKrpcLimits({ maxValues: 1.5 }))).toBe('BT_ERR_KRPC_LIMITS');
  });
});

describe('readResponse', () => {
  const r: KrpcResponse = { y: 'r', t: aa, id: ID1 };
  it('refuses a response that lacks what its query needs', () => {
    expect(codeOf(() => readResponse('find_node', r))).toBe('BT_ERR_KRPC_RESPONSE');
    expect(codeOf(() => readResponse('get_peers', { ...r, nodes: [] }))).toBe('BT_ERR_KRPC_RESPONSE');
    expect(readResponse('get_peers', { ...r, token: b('tk') })).toEqual({
      id: ID1,
      token: b('tk'),
      values: [],
      nodes: [],
      nodes6: [],
    });
    expect(readResponse('find_node', { ...r, nodes6: [] })).toEqual({ id: ID1, nodes: [], nodes6: [] });
    expect(readResponse('ping', { ...r, token: b('tk') })).toEqual({ id: ID1 });
  });
});

describe('compact nodes and peers', () => {
  const n4: CompactNode = { id: ID1, host: '10.0.0.1', port: 6881, family: 4 };
  const n6: CompactNode = { id: ID2, host: '2001:db8::1', port: 1, family: 6 };
  it('encodes and decodes both families', () => {
    expect(encodeNodes([n4], 4)).toEqual(node4(ID1, [10, 0, 0, 1], 6881));
    expect(decodeNodes(encodeNodes([n4, n4], 4), 4)).toEqual([n4, n4]);
    expect(encodeNodes([n6], 6)).toHaveLength(38);
    expect(decodeNodes(encodeNodes([n6], 6), 6)).toEqual([n6]);
    expect(decodeNodes(new Uint8Array(0), 6)).toEqual([]);
  });
  it('refuses what it cannot write', () => {
    expect(codeOf(() => encodeNodes([n6], 4))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeNodes([n4], 6))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeNodes([{ ...n6, host: '::ffff:1.2.3.4' }], 6))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeNodes([{ ...n4, port: 0 }], 4))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeNodes([{ ...n4, id: ID1.subarray(1) }], 4))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeNodes([{ ...n4, host: 'example.com' }], 4))).toBe('BT_ERR_KRPC_ENCODE');
  });
  it('decodes single compact peers of 6 and 18 bytes', () => {
    expect(decodeCompactPeer(Uint8Array.of(1, 2, 3, 4, 0, 1))).toEqual({ host: '1.2.3.4', port: 1, family: 4 });
    expect(codeOf(() => decodeCompactPeer(new Uint8Array(7)))).toBe('BT_ERR_KRPC_FIELD');
  });
});

describe('encodeKrpc refuses what decodeKrpc would', () => {
  it('ids, t, tokens, counts and the size cap', () => {
    expect(codeOf(() => encodeKrpc({ y: 'q', q: 'ping', t: aa, id: ID1.subarray(2) }))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeKrpc({ y: 'q', q: 'ping', t: new Uint8Array(0), id: ID1 }))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeKrpc({ y: 'q', q: 'ping', t: new Uint8Array(17), id: ID1 }))).toBe('BT_ERR_KRPC_ENCODE');
    expect(
      codeOf(() => encodeKrpc({ y: 'q', q: 'announce_peer', t: aa, id: ID1, infoHash: ID2, port: 0, token: b('x') })),
    ).toBe('BT_ERR_KRPC_ENCODE');
    const values = Array.from({ length: 201 }, () => ({ host: '1.2.3.4', port: 1, family: 4 as const }));
    expect(codeOf(() => encodeKrpc({ y: 'r', t: aa, id: ID1, values }))).toBe('BT_ERR_KRPC_ENCODE');
    // 200 values are within the count but not within 1500 bytes.
    expect(codeOf(() => encodeKrpc({ y: 'r', t: aa, id: ID1, values: values.slice(1) }))).toBe('BT_ERR_KRPC_TOO_LARGE');
    expect(codeOf(() => encodeKrpc({ y: 'e', t: aa, code: 201, message: '\ud800' }))).toBe('BT_ERR_KRPC_ENCODE');
    expect(codeOf(() => encodeKrpc({ y: 'e', t: aa, code: 2.5, message: 'x' }))).toBe('BT_ERR_KRPC_ENCODE');
  });
});

describe('messages as bittorrent-dht 11 writes them (k-rpc-socket encodes with its own bencode 2)', () => {
  // The very encoder WebTorrent's DHT puts on the wire, resolved from k-rpc-socket itself.
  const require = createRequire(createRequire(import.meta.url).resolve('k-rpc-socket'));
  const kbencode = require('bencode') as { encode(v: unknown): Buffer };
  const t = Buffer.from([0x12, 0x34]);
  const id = Buffer.alloc(20, 0x61);
  const ih = Buffer.alloc(20, 0x62);

  it('decodes each kind and re-encodes it byte for byte', () => {
    const sent = [
      { t, y: 'q', q: 'get_peers', a: { id, info_hash: ih } },
      { t, y: 'q', q: 'find_node', a: { id, target: ih } },
      {
        t,
        y: 'q',
        q: 'announce_peer',
        a: { id, token: Buffer.from('tokn'), info_hash: ih, port: 6881, implied_port: 0 },
      },
      {
        t,
        y: 'q',
        q: 'announce_peer',
        a: { id, token: Buffer.from('tokn'), info_hash: ih, port: undefined, implied_port: 1 },
      },
      { t, y: 'r', r: { id, token: Buffer.from('tokn'), values: [Buffer.from([127, 0, 0, 1, 0x1a, 0xe1])] } },
      { t, y: 'r', r: { id, token: Buffer.from('tokn'), nodes: Buffer.from(node4(ID1, [127, 0, 0, 1], 20000)) } },
      { t, y: 'e', e: [203, 'cannot `announce_peer` with bad token'] },
    ];
    const kinds = sent.map((m) => {
      const wire = Uint8Array.from(kbencode.encode(m));
      const msg = decodeKrpc(wire);
      expect(s(encodeKrpc(msg))).toBe(s(wire));
      return msg.y === 'q' ? msg.q : msg.y;
    });
    expect(kinds).toEqual(['get_peers', 'find_node', 'announce_peer', 'announce_peer', 'r', 'r', 'e']);
  });
});
