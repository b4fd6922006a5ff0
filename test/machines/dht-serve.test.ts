import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TOKEN_ROTATE_MS, TokenIssuer } from '../../src/machines/dht/tokens.js';
import { PeerStore } from '../../src/machines/dht/peer-store.js';
import { RateLimiter } from '../../src/machines/dht/rate-limit.js';
import { MAX_REPLY_BYTES, answerMalformed, answerQuery, type AnswerContext } from '../../src/machines/dht/answer.js';
import { RoutingTable } from '../../src/machines/dht/routing-table.js';
import { type NodeId, compareDistance, idToHex, randomId } from '../../src/machines/dht/node-id.js';
import { randomFrom } from '../../src/machines/random.js';
import {
  KrpcError,
  type KrpcErrorReply,
  type KrpcMessage,
  type KrpcQuery,
  type KrpcResponse,
  decodeKrpc,
  encodeKrpc,
} from '../../src/protocol/krpc.js';
import type { PeerAddress } from '../../src/protocol/peer-address.js';

const MIN = 60_000;
const sha1 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha1').update(b).digest());
/** Secrets from a seeded generator: 16 bytes each. */
const secrets = (seed: number) => {
  const rnd = randomFrom(seed);
  return () => Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256));
};
const ih = (n: number): NodeId => {
  const id = new Uint8Array(20);
  id[0] = n >> 8;
  id[1] = n & 0xff;
  return id;
};
const peer = (i: number, port = 6881): PeerAddress => ({
  host: `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`,
  port,
  family: 4,
});

describe('tokens', () => {
  it('a token is valid from its IP for 5 to 10 minutes, then not', () => {
    const tokens = new TokenIssuer({ hash: sha1, secret: secrets(1) }, 0);
    const t = tokens.tokenFor('10.0.0.1', 0); // issued at the start of a period: valid 10 min
    expect(t).toHaveLength(8);
    expect(tokens.validToken(t, '10.0.0.1', 0)).toBe(true);
    expect(tokens.validToken(t, '10.0.0.1', 5 * MIN - 1)).toBe(true);
    expect(tokens.validToken(t, '10.0.0.1', 5 * MIN)).toBe(true);
    expect(tokens.validToken(t, '10.0.0.1', 10 * MIN - 1)).toBe(true);
    expect(tokens.validToken(t, '10.0.0.1', 10 * MIN)).toBe(false);
    // Issued just before a rotation: still valid 5 minutes later, never past 10.
    const late = tokens.tokenFor('10.0.0.1', 15 * MIN - 1);
    expect(tokens.validToken(late, '10.0.0.1', 20 * MIN - 1)).toBe(true);
    expect(tokens.validToken(late, '10.0.0.1', 20 * MIN)).toBe(false);
  });

  it('a token is not valid from another IP, and a changed or cut token is not valid', () => {
    const tokens = new TokenIssuer({ hash: sha1, secret: secrets(2) }, 0);
    const t = tokens.tokenFor('10.0.0.1', 0);
    expect(tokens.validToken(t, '10.0.0.2', 0)).toBe(false);
    expect(tokens.validToken(t, '::1', 0)).toBe(false);
    const flipped = Uint8Array.from(t);
    flipped[3]! ^= 1;
    expect(tokens.validToken(flipped, '10.0.0.1', 0)).toBe(false);
    expect(tokens.validToken(t.subarray(0, 7), '10.0.0.1', 0)).toBe(false);
    expect(tokens.validToken(new Uint8Array(0), '10.0.0.1', 0)).toBe(false);
    // The same IP written another way is the same requester.
    expect(tokens.validToken(t, '::ffff:10.0.0.1', 0)).toBe(true);
    expect(tokens.tokenFor('2001:DB8::1', 0)).toEqual(tokens.tokenFor('2001:db8:0::1', 0));
  });

  it('the secret rotates: tokens of one period differ from the next, and a long silence forgets both', () => {
    let calls = 0;
    const gen = secrets(3);
    const tokens = new TokenIssuer({ hash: sha1, secret: () => (calls++, gen()) }, 0);
    const a = tokens.tokenFor('10.0.0.1', 0);
    const b = tokens.tokenFor('10.0.0.1', TOKEN_ROTATE_MS);
    expect(a).not.toEqual(b);
    expect(calls).toBe(2);
    tokens.tokenFor('10.0.0.1', TOKEN_ROTATE_MS + 1); // no rotation within a period
    expect(calls).toBe(2);
    expect(tokens.validToken(b, '10.0.0.1', 100 * MIN)).toBe(false);
    expect(calls).toBe(3); // one new secret for a long silence, not one per period
    // A clock going back rotates nothing and keeps the current token valid.
    const c = tokens.tokenFor('10.0.0.1', 100 * MIN);
    expect(tokens.validToken(c, '10.0.0.1', 50 * MIN)).toBe(true);
  });

  it('refuses options it cannot honour', () => {
    expect(() => new TokenIssuer({ hash: () => new Uint8Array(4), secret: secrets(1) })).toThrow(RangeError);
    expect(() => new TokenIssuer({ hash: sha1, secret: () => new Uint8Array(2) })).toThrow(RangeError);
    expect(() => new TokenIssuer({ hash: sha1, secret: secrets(1), rotateMs: 0 })).toThrow(RangeError);
    expect(() => new TokenIssuer({ hash: sha1, secret: secrets(1), tokenBytes: 21 })).toThrow(RangeError);
  });
});

describe('peer store', () => {
  it('stores announces per info hash, refreshes a repeated one and expires after the TTL', () => {
    const store = new PeerStore({ ttlMs: 30 * MIN });
    expect(store.add(ih(1), peer(1), 0)).toBe('added');
    expect(store.add(ih(1), peer(2), 10 * MIN)).toBe('added');
    expect(store.add(ih(1), { host: '::ffff:10.0.0.1', port: 6881, family: 6 }, 20 * MIN)).toBe('refreshed');
    expect(store.peerCount).toBe(2);
    expect(
      store
        .get(ih(1), 20 * MIN)
        .map((p) => p.host)
        .sort(),
    ).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(store.get(ih(2), 0)).toEqual([]);
    // 10.0.0.2 was announced at 10 min: gone at 40; 10.0.0.1 refreshed at 20: gone at 50.
    expect(store.get(ih(1), 40 * MIN)).toEqual([peer(1)]);
    expect(store.expire(50 * MIN)).toBe(1);
    expect(store.peerCount).toBe(0);
    expect(store.infoHashCount).toBe(0);
  });

  it('keeps at most M peers per info hash, the oldest announce going first', () => {
    const store = new PeerStore({ maxPeersPerInfoHash: 3 });
    for (let i = 1; i <= 5; i++) store.add(ih(1), peer(i), i);
    expect(store.countFor(ih(1))).toBe(3);
    expect(
      store
        .get(ih(1), 10)
        .map((p) => p.host)
        .sort(),
    ).toEqual(['10.0.0.3', '10.0.0.4', '10.0.0.5']);
  });

  it('keeps at most N info hashes, the least recently announced going first, and a total cap', () => {
    const store = new PeerStore({ maxInfoHashes: 3, maxPeers: 5 });
    store.add(ih(1), peer(1), 0);
    store.add(ih(2), peer(1), 1);
    store.add(ih(3), peer(1), 2);
    store.add(ih(1), peer(2), 3); // ih(1) is now the most recent
    store.add(ih(4), peer(1), 4); // evicts ih(2)
    expect(store.infoHashCount).toBe(3);
    expect(store.get(ih(2), 5)).toEqual([]);
    expect(store.countFor(ih(1))).toBe(2);
    store.add(ih(4), peer(2), 5);
    store.add(ih(4), peer(3), 6); // 6 peers > 5: the oldest of the least recent swarm (ih(3)) goes
    expect(store.peerCount).toBe(5);
    expect(store.countFor(ih(3))).toBe(0);
    expect(store.infoHashCount).toBe(2);
  });

  it('samples at most max peers, of the family asked, deterministically for a seed', () => {
    const fill = (seed: number) => {
      const s = new PeerStore({ seed });
      for (let i = 1; i <= 100; i++) s.add(ih(1), peer(i), 0);
      s.add(ih(1), { host: '2001:db8::1', port: 1, family: 6 }, 0);
      return s;
    };
    const a = fill(7).get(ih(1), 0, 20, 4);
    expect(a).toHaveLength(20);
    expect(new Set(a.map((p) => p.host)).size).toBe(20);
    expect(a.every((p) => p.family === 4)).toBe(true);
    expect(fill(7).get(ih(1), 0, 20, 4)).toEqual(a);
    expect(fill(8).get(ih(1), 0, 20, 4)).not.toEqual(a);
    expect(fill(7).get(ih(1), 0, 20, 6)).toEqual([{ host: '2001:db8::1', port: 1, family: 6 }]);
    expect(fill(7).get(ih(1), 0, 500)).toHaveLength(101);
  });

  it('rejects what is not a peer', () => {
    const store = new PeerStore();
    expect(store.add(new Uint8Array(19), peer(1), 0)).toBe('rejected');
    expect(store.add(ih(1), { host: 'example.org', port: 1, family: 4 }, 0)).toBe('rejected');
    expect(store.add(ih(1), { host: '10.0.0.1', port: 0, family: 4 }, 0)).toBe('rejected');
    expect(store.add(ih(1), { host: '10.0.0.1', port: 65536, family: 4 }, 0)).toBe('rejected');
    expect(store.peerCount).toBe(0);
  });
});

describe('rate limiter', () => {
  it('allows a burst, then the rate, per IP', () => {
    const limiter = new RateLimiter({ ratePerSecond: 20, burst: 40 });
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (limiter.allow('10.0.0.1', 0)) allowed++;
    expect(allowed).toBe(40);
    expect(limiter.allow('10.0.0.2', 0)).toBe(true); // another source has its own bucket
    expect(limiter.allow('10.0.0.1', 49)).toBe(false); // 0.98 of a token
    expect(limiter.allow('10.0.0.1', 50)).toBe(true);
    allowed = 0;
    for (let ms = 51; ms <= 10_050; ms++) if (limiter.allow('::ffff:10.0.0.1', ms)) allowed++;
    expect(allowed).toBe(200); // 20 a second for 10 s
    expect(limiter.allow('10.0.0.1', 0)).toBe(false); // a clock going back refills nothing
  });

  it('tracks at most maxSources, least recently seen dropped first', () => {
    const limiter = new RateLimiter({ maxSources: 3, burst: 1 });
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) expect(limiter.allow(ip, 0)).toBe(true);
    expect(limiter.allow('10.0.0.1', 0)).toBe(false); // seen again: now most recent
    expect(limiter.allow('10.0.0.4', 0)).toBe(true); // drops 10.0.0.2
    expect(limiter.size).toBe(3);
    expect(limiter.allow('10.0.0.1', 0)).toBe(false); // still tracked, still empty
    expect(limiter.allow('10.0.0.2', 0)).toBe(true); // forgotten: a new bucket
    expect(limiter.size).toBe(3);
  });

  it('the global bucket bounds many sources together', () => {
    const limiter = new RateLimiter({ globalRatePerSecond: 10, globalBurst: 10 });
    let allowed = 0;
    for (let i = 0; i < 1000; i++) if (limiter.allow(`10.0.${i >> 8}.${i & 0xff}`, 0)) allowed++;
    expect(allowed).toBe(10);
    expect(limiter.size).toBe(1000);
  });
});

// ---------------------------------------------------------------------------------------------

const own: NodeId = new Uint8Array(20).fill(0x80);
const t = Uint8Array.of(0x61, 0x62);
const querier = randomId(randomFrom(99));
const from = { host: '10.1.2.3', port: 4000 };

function context(seed = 1): AnswerContext & { table: RoutingTable; store: PeerStore; tokens: TokenIssuer } {
  const rnd = randomFrom(seed);
  const table = new RoutingTable(own);
  for (let i = 0; i < 80; i++) {
    table.onResponse({ id: randomId(rnd), host: `127.0.${i}.1`, port: 7000 + i }, 0);
    table.onResponse({ id: randomId(rnd), host: `2001:db8::${i + 1}`, port: 8000 + i }, 0);
  }
  return {
    ownId: own,
    table,
    store: new PeerStore({ seed }),
    tokens: new TokenIssuer({ hash: sha1, secret: secrets(seed) }, 0),
    now: 1000,
  };
}

/** Encodes the answer (≤ 1,000 bytes) and decodes it back, as it goes on the wire. */
function wire(msg: KrpcResponse | KrpcErrorReply | undefined): KrpcMessage {
  expect(msg).toBeDefined();
  const bytes = encodeKrpc(msg!);
  expect(bytes.length).toBeLessThanOrEqual(MAX_REPLY_BYTES);
  return decodeKrpc(bytes);
}
/** A query as it arrives: encoded and decoded. */
function arrive(q: KrpcQuery): KrpcQuery {
  return decodeKrpc(encodeKrpc(q)) as KrpcQuery;
}

describe('answering queries', () => {
  it('ping → our id, the transaction id echoed, the querier seen (BEP 42 ip) and offered to the table', () => {
    const ctx = context();
    const a = answerQuery(arrive({ y: 'q', q: 'ping', t, id: querier }), from, ctx);
    const r = wire(a.reply) as KrpcResponse;
    expect(r).toMatchObject({ y: 'r', t, id: own, ip: { host: '10.1.2.3', port: 4000, family: 4 } });
    expect(a.remember).toEqual({ id: querier, host: '10.1.2.3', port: 4000 });
  });

  it('find_node → the 8 closest nodes of the querier’s family; nodes6 and both with want', () => {
    const ctx = context();
    const target = randomId(randomFrom(5));
    const r = wire(
      answerQuery(arrive({ y: 'q', q: 'find_node', t, id: querier, target }), from, ctx).reply,
    ) as KrpcResponse;
    const closestOf = (v6: boolean) =>
      [...ctx.table.nodes()]
        .filter((n) => n.host.includes(':') === v6)
        .sort((a, b) => compareDistance(target, a.id, b.id))
        .slice(0, 8)
        .map((n) => idToHex(n.id));
    expect(closestOf(false)).toHaveLength(8);
    expect(closestOf(true)).toHaveLength(8);
    expect(r.nodes!.map((n) => idToHex(n.id))).toEqual(closestOf(false));
    expect(r.nodes6).toBeUndefined();
    const r6 = wire(
      answerQuery(arrive({ y: 'q', q: 'find_node', t, id: querier, target }), { host: '::99', port: 1 }, ctx).reply,
    ) as KrpcResponse;
    expect(r6.nodes).toBeUndefined();
    expect(r6.nodes6!.map((n) => idToHex(n.id))).toEqual(closestOf(true));
    const both = wire(
      answerQuery(arrive({ y: 'q', q: 'find_node', t, id: querier, target, want: ['n4', 'n6'] }), from, ctx).reply,
    ) as KrpcResponse;
    expect(both.nodes).toHaveLength(8);
    expect(both.nodes6).toHaveLength(8);
  });

  it('get_peers → nodes and a token when no peers are known, then values after an announce with that token', () => {
    const ctx = context();
    const infoHash = ih(42);
    const gp = arrive({ y: 'q', q: 'get_peers', t, id: querier, infoHash });
    const first = wire(answerQuery(gp, from, ctx).reply) as KrpcResponse;
    expect(first.values).toBeUndefined();
    expect(first.nodes).toHaveLength(8);
    expect(first.token).toHaveLength(8);
    const ann = arrive({ y: 'q', q: 'announce_peer', t, id: querier, infoHash, port: 51413, token: first.token! });
    const a = answerQuery(ann, from, { ...ctx, now: 2000 });
    expect(wire(a.reply)).toMatchObject({ y: 'r', id: own });
    expect(a.stored).toBe('added');
    const second = wire(answerQuery(gp, { host: '10.9.9.9', port: 1 }, { ...ctx, now: 3000 }).reply) as KrpcResponse;
    expect(second.values).toEqual([{ host: '10.1.2.3', port: 51413, family: 4 }]);
    expect(second.nodes).toBeUndefined();
    expect(second.token).not.toEqual(first.token); // another requester, another token
  });

  it('announce_peer with implied_port stores the source port; without a port or with port 0 too', () => {
    const ctx = context();
    const infoHash = ih(7);
    const token = ctx.tokens.tokenFor(from.host, 0);
    for (const q of [{ impliedPort: true, port: 0 }, { impliedPort: true }, { impliedPort: true, port: 9999 }]) {
      const a = answerQuery(arrive({ y: 'q', q: 'announce_peer', t, id: querier, infoHash, token, ...q }), from, ctx);
      expect(wire(a.reply).y).toBe('r');
    }
    expect(ctx.store.get(infoHash, ctx.now)).toEqual([{ host: '10.1.2.3', port: 4000, family: 4 }]);
    const explicit = arrive({
      y: 'q',
      q: 'announce_peer',
      t,
      id: querier,
      infoHash,
      token,
      port: 9999,
      impliedPort: false,
    });
    answerQuery(explicit, from, ctx);
    expect(ctx.store.countFor(infoHash)).toBe(2);
  });

  it('announce_peer with a bad token → 203, nothing stored: another IP’s token, an old one, garbage', () => {
    const ctx = context();
    const infoHash = ih(8);
    const cases: [Uint8Array, number][] = [
      [ctx.tokens.tokenFor('10.1.2.4', 0), 1000], // another requester's
      [ctx.tokens.tokenFor(from.host, 0), 10 * MIN + 1], // too old
      [Uint8Array.of(1, 2, 3), 1000],
    ];
    for (const [token, now] of cases) {
      const q = arrive({ y: 'q', q: 'announce_peer', t, id: querier, infoHash, port: 1, token });
      const a = answerQuery(q, from, { ...ctx, now });
      expect(wire(a.reply)).toMatchObject({ y: 'e', code: 203, message: 'bad token' });
      expect(a.stored).toBeUndefined();
    }
    expect(ctx.store.countFor(infoHash)).toBe(0);
  });

  it('an unknown method → 204; a malformed query whose t could be read → 203; other refusals unanswered', () => {
    const ctx = context();
    const a = answerQuery(arrive({ y: 'q', q: 'other', method: 'sample_infohashes', t, id: querier }), from, ctx);
    expect(wire(a.reply)).toMatchObject({ y: 'e', t, code: 204 });
    let err: KrpcError | undefined;
    try {
      decodeKrpc(new TextEncoder().encode('d1:ad2:id3:abce1:q4:ping1:t2:xy1:y1:qe'));
    } catch (e) {
      err = e as KrpcError;
    }
    expect(err).toBeInstanceOf(KrpcError);
    expect(wire(answerMalformed(err!))).toMatchObject({ y: 'e', t: Uint8Array.of(0x78, 0x79), code: 203 });
    const resp = new KrpcError('BT_ERR_KRPC_FIELD', 'x', t, 'r');
    expect(answerMalformed(resp)).toBeUndefined();
    expect(answerMalformed(new KrpcError('BT_ERR_KRPC_BENCODE', 'x'))).toBeUndefined();
  });

  it('BEP 43: a read-only querier is answered but not remembered; as a read-only node we answer nothing', () => {
    const ctx = context();
    const q = arrive({ y: 'q', q: 'ping', t, id: querier, readOnly: true });
    const a = answerQuery(q, from, ctx);
    expect(wire(a.reply).y).toBe('r');
    expect(a.remember).toBeUndefined();
    expect(answerQuery(arrive({ y: 'q', q: 'ping', t, id: own }), from, ctx).remember).toBeUndefined();
    const ro = answerQuery(arrive({ y: 'q', q: 'ping', t, id: querier }), from, { ...ctx, readOnlyNode: true });
    expect(ro.reply).toBeUndefined();
    expect(ro.remember).toBeDefined();
  });

  it('answers stay ≤ 1,000 bytes with a full store, and ≤ max(400, 4 × query) to an unverified sender', () => {
    const ctx = context();
    const infoHash = ih(9);
    for (let i = 1; i <= 200; i++) ctx.store.add(infoHash, peer(i), 0);
    const long = new Uint8Array(16).fill(0x74);
    const gp = { y: 'q' as const, q: 'get_peers' as const, t: long, id: querier, infoHash, v: new Uint8Array(32) };
    const full = answerQuery(arrive(gp), from, { ...ctx, version: new Uint8Array(32) }).reply as KrpcResponse;
    expect(full.values).toHaveLength(50);
    expect(encodeKrpc(full).length).toBeLessThanOrEqual(1000);
    // A plain get_peers (2-byte t, no v) is ~95 bytes: an unverified sender gets at most 400.
    const plain = { y: 'q' as const, q: 'get_peers' as const, t, id: querier, infoHash };
    const queryBytes = encodeKrpc(plain).length;
    expect(queryBytes).toBeLessThan(100);
    const small = answerQuery(arrive(plain), from, { ...ctx, queryBytes }).reply as KrpcResponse;
    expect(encodeKrpc(small).length).toBeLessThanOrEqual(Math.max(400, 4 * queryBytes));
    expect(small.values!.length).toBeGreaterThan(0);
    expect(small.values!.length).toBeLessThan(50);
    // A node in our table at that address that answered us is verified: the full answer.
    const known = [...ctx.table.nodes()].find((n) => !n.host.includes(':'))!;
    const asKnown = arrive({ ...plain, id: known.id });
    const verified = answerQuery(asKnown, known, { ...ctx, queryBytes }).reply as KrpcResponse;
    expect(verified.values).toHaveLength(50);
    // IPv6 peers are larger: 50 of them still fit.
    for (let i = 1; i <= 60; i++)
      ctx.store.add(infoHash, { host: `2001:db8::${i.toString(16)}`, port: 1, family: 6 }, 0);
    const v6 = wire(answerQuery(arrive(gp), { host: '2001:db8::ffff', port: 5 }, ctx).reply) as KrpcResponse;
    expect(v6.values!.length).toBeGreaterThan(30);
    expect(v6.values!.every((p) => p.family === 6)).toBe(true);
  });
});
