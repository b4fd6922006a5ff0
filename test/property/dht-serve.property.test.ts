/**
 * Properties of the DHT node's answering side (src/machines/dht/{tokens,peer-store,rate-limit,answer}.ts):
 * - tokens: under any sequence of issues and checks at non-decreasing times, a token is valid exactly while
 *   the secret has rotated at most once since it was issued (5 to 10 minutes), and never from another IP;
 * - peer store: under any sequence of announces, samples and expiries, it never holds more than its caps
 *   (info hashes, peers per info hash, peers in all), its count is the sum of its swarms, and a sample is
 *   at most `max` distinct, live peers of the family asked;
 * - rate limiter: it never tracks more than maxSources, and never allows one source more than
 *   burst + rate × elapsed, nor all sources together more than the global bucket;
 * - answerQuery: for any query from any address, against any table and store, the answer encodes with
 *   krpc.ts, is ≤ 1,000 bytes (≤ max(400, 4 × the query) to an unverified sender), decodes back, echoes
 *   `t`, and has the shape of its kind (error codes 203/204 only where due).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TOKEN_ROTATE_MS, TokenIssuer } from '../../src/machines/dht/tokens.js';
import { PeerStore } from '../../src/machines/dht/peer-store.js';
import { RateLimiter } from '../../src/machines/dht/rate-limit.js';
import { answerQuery } from '../../src/machines/dht/answer.js';
import { RoutingTable } from '../../src/machines/dht/routing-table.js';
import { randomFrom } from '../../src/machines/random.js';
import { type KrpcQuery, type KrpcResponse, decodeKrpc, encodeKrpc } from '../../src/protocol/krpc.js';
import { type PeerAddress, peerKey } from '../../src/protocol/peer-address.js';
import { numRuns, propertyOptions } from '../support/fc.js';

const sha1 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha1').update(b).digest());
const secrets = (seed: number) => {
  const rnd = randomFrom(seed);
  return () => Uint8Array.from({ length: 16 }, () => Math.floor(rnd() * 256));
};
/** Fewer runs for the heavier properties (each builds a table). */
const heavy = { numRuns: Math.max(1_000, Math.floor(numRuns / 10)) } as const;

const idArb = fc.uint8Array({ minLength: 20, maxLength: 20 });
const v4Arb = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
const v6Arb = fc
  .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
  .filter((g) => !(g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff)) // not IPv4-mapped
  .map((g) => g.map((x) => x.toString(16)).join(':'));
const hostArb = fc.oneof(v4Arb, v6Arb);
const portArb = fc.integer({ min: 1, max: 0xffff });

describe('tokens (property)', () => {
  it('valid exactly until the second rotation after issue, and only from the same IP', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3), fc.nat(4 * TOKEN_ROTATE_MS), fc.boolean()), {
          minLength: 1,
          maxLength: 20,
          size: 'medium',
        }),
        fc.nat(),
        (steps, seed) => {
          const ips = ['10.0.0.1', '10.0.0.2', '2001:db8::1', '192.168.1.1'];
          const tokens = new TokenIssuer({ hash: sha1, secret: secrets(seed) }, 0);
          const issued: { token: Uint8Array; ip: string; at: number }[] = [];
          let now = 0;
          for (const [ipIndex, dt, issue] of steps) {
            now += dt;
            const ip = ips[ipIndex]!;
            if (issue) issued.push({ token: tokens.tokenFor(ip, now), ip, at: now });
            for (const t of issued) {
              const fresh = Math.floor(now / TOKEN_ROTATE_MS) - Math.floor(t.at / TOKEN_ROTATE_MS) <= 1;
              if (tokens.validToken(t.token, t.ip, now) !== fresh) return false;
              if (tokens.validToken(t.token, ips[(ips.indexOf(t.ip) + 1) % 4]!, now)) return false;
            }
          }
          return true;
        },
      ),
      propertyOptions,
    );
  });
});

type StoreOp =
  | { op: 'add'; hash: number; host: string; port: number; dt: number }
  | { op: 'get'; hash: number; max: number; family: 4 | 6 | undefined; dt: number }
  | { op: 'expire'; dt: number };

const storeOpArb: fc.Arbitrary<StoreOp> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant('add' as const),
      hash: fc.nat(7),
      host: fc.oneof(
        fc.nat(15).map((i) => `10.0.0.${i}`),
        fc.nat(3).map((i) => `::ffff:10.0.0.${i}`),
        fc.nat(3).map((i) => `2001:db8::${i}`),
        fc.constant('not-an-ip'),
      ),
      port: fc.integer({ min: 0, max: 3 }),
      dt: fc.nat(10 * 60_000),
    }),
  },
  fc.record({
    op: fc.constant('get' as const),
    hash: fc.nat(7),
    max: fc.integer({ min: 0, max: 10 }),
    family: fc.constantFrom(4 as const, 6 as const, undefined),
    dt: fc.nat(10 * 60_000),
  }),
  fc.record({ op: fc.constant('expire' as const), dt: fc.nat(30 * 60_000) }),
);

describe('peer store (property)', () => {
  it('never exceeds its caps, counts truly, and samples live distinct peers of the family asked', () => {
    fc.assert(
      fc.property(
        fc.array(storeOpArb, { maxLength: 60, size: 'max' }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 12 }),
        fc.nat(),
        (ops, maxInfoHashes, maxPeersPerInfoHash, maxPeers, seed) => {
          const ttlMs = 30 * 60_000;
          const store = new PeerStore({ maxInfoHashes, maxPeersPerInfoHash, maxPeers, ttlMs, seed });
          const hash = (n: number) => Uint8Array.from({ length: 20 }, (_, i) => (i === 0 ? n : 0));
          /** When each peer key was last announced per hash (a model of liveness only). */
          const lastSeen = new Map<string, number>();
          let now = 0;
          for (const o of ops) {
            now += o.dt;
            if (o.op === 'add') {
              const peer: PeerAddress = { host: o.host, port: o.port, family: o.host.includes(':') ? 6 : 4 };
              const outcome = store.add(hash(o.hash), peer, now);
              if ((o.host === 'not-an-ip' || o.port === 0) !== (outcome === 'rejected')) return false;
              if (outcome !== 'rejected') lastSeen.set(`${o.hash}|${peerKey(peer)}`, now);
            } else if (o.op === 'get') {
              const got = store.get(hash(o.hash), now, o.max, o.family);
              if (got.length > o.max) return false;
              const keys = got.map((p) => peerKey(p));
              if (new Set(keys).size !== keys.length) return false;
              for (const p of got) {
                if (o.family !== undefined && p.family !== o.family) return false;
                const seen = lastSeen.get(`${o.hash}|${peerKey(p)}`);
                if (seen === undefined || now - seen >= ttlMs) return false;
              }
            } else {
              store.expire(now);
              if (store.get(hash(0), now, 1000).length !== store.countFor(hash(0))) return false;
            }
            let sum = 0;
            for (let h = 0; h < 8; h++) {
              const n = store.countFor(hash(h));
              if (n > maxPeersPerInfoHash) return false;
              sum += n;
            }
            if (sum !== store.peerCount) return false;
            if (store.peerCount > maxPeers || store.infoHashCount > maxInfoHashes) return false;
          }
          return true;
        },
      ),
      propertyOptions,
    );
  });
});

describe('rate limiter (property)', () => {
  it('bounds the sources tracked and what each source and all together are allowed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(9), fc.nat(200)), { maxLength: 300, size: 'max' }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 100 }),
        (steps, rate, burst, maxSources, globalBurst) => {
          const globalRate = 5 * rate;
          const limiter = new RateLimiter({
            ratePerSecond: rate,
            burst,
            maxSources,
            globalRatePerSecond: globalRate,
            globalBurst,
          });
          const allowed = new Map<string, number>();
          /** The first time each source was seen since it was last (possibly) forgotten: only while none is forgotten. */
          let now = 0;
          let total = 0;
          const seen = new Set<string>();
          for (const [src, dt] of steps) {
            now += dt;
            const ip = `10.0.0.${src}`;
            seen.add(ip);
            if (limiter.allow(ip, now)) {
              allowed.set(ip, (allowed.get(ip) ?? 0) + 1);
              total++;
            }
            if (limiter.size > maxSources) return false;
            if (total > globalBurst + (globalRate * now) / 1000 + 1e-9) return false;
            if (seen.size <= maxSources) {
              // Nothing forgotten yet: each source within its own bucket since time 0.
              for (const n of allowed.values()) if (n > burst + (rate * now) / 1000 + 1e-9) return false;
            }
          }
          return true;
        },
      ),
      propertyOptions,
    );
  });
});

const sharedTable = (() => {
  const rnd = randomFrom(2026);
  const own = new Uint8Array(20).fill(0x55);
  const table = new RoutingTable(own);
  for (let i = 0; i < 200; i++) {
    const id = Uint8Array.from({ length: 20 }, () => Math.floor(rnd() * 256));
    table.onResponse({ id, host: `127.0.${i}.1`, port: 1000 + i }, 0);
    const id6 = Uint8Array.from({ length: 20 }, () => Math.floor(rnd() * 256));
    table.onResponse({ id: id6, host: `fd00::${(i + 1).toString(16)}`, port: 2000 + i }, 0);
  }
  return { own, table };
})();

const queryArb: fc.Arbitrary<KrpcQuery> = (() => {
  const base = {
    y: fc.constant('q' as const),
    t: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    id: idArb,
  };
  const opt = { requiredKeys: ['y', 't', 'id', 'q'] as ('y' | 't' | 'id' | 'q')[] };
  const extra = {
    v: fc.uint8Array({ maxLength: 32 }),
    readOnly: fc.boolean(),
  };
  const want = fc.subarray(['n4', 'n6'] as ('n4' | 'n6')[]);
  const hashArb = fc.oneof(
    idArb,
    fc.nat(3).map((n) => Uint8Array.from({ length: 20 }, (_, i) => (i === 0 ? n : 0))),
  );
  return fc.oneof(
    fc.record({ ...base, ...extra, q: fc.constant('ping' as const) }, opt),
    fc.record(
      { ...base, ...extra, q: fc.constant('find_node' as const), target: idArb, want },
      { requiredKeys: [...opt.requiredKeys, 'target'] },
    ),
    fc.record(
      { ...base, ...extra, q: fc.constant('get_peers' as const), infoHash: hashArb, want },
      { requiredKeys: [...opt.requiredKeys, 'infoHash'] },
    ),
    fc
      .record(
        {
          ...base,
          ...extra,
          q: fc.constant('announce_peer' as const),
          infoHash: hashArb,
          token: fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(new Uint8Array(0))),
          impliedPort: fc.boolean(),
          port: fc.integer({ min: 0, max: 0xffff }),
          useToken: fc.boolean(),
        },
        { requiredKeys: [...opt.requiredKeys, 'infoHash', 'token', 'port', 'useToken'] },
      )
      .filter((q) => q.port !== 0 || q.impliedPort === true) as fc.Arbitrary<KrpcQuery & { useToken: boolean }>,
    fc.record(
      {
        ...base,
        ...extra,
        q: fc.constant('other' as const),
        method: fc.constantFrom('get', 'put', 'sample_infohashes', 'vote'),
      },
      { requiredKeys: [...opt.requiredKeys, 'method'] },
    ),
  );
})();

describe('answerQuery (property)', () => {
  it('any query from anyone: an answer that encodes within the size bounds, decodes, echoes t and fits its kind', () => {
    fc.assert(
      fc.property(
        queryArb,
        hostArb,
        portArb,
        fc.array(fc.tuple(fc.nat(3), hostArb, portArb), { maxLength: 300, size: 'medium' }),
        fc.boolean(),
        fc.nat(),
        (q0, host, port, announces, measure, seed) => {
          const { own, table } = sharedTable;
          const store = new PeerStore({ seed });
          for (const [h, ph, pp] of announces)
            store.add(
              Uint8Array.from({ length: 20 }, (_, i) => (i === 0 ? h : 0)),
              { host: ph, port: pp, family: ph.includes(':') ? 6 : 4 },
              0,
            );
          const tokens = new TokenIssuer({ hash: sha1, secret: secrets(seed) }, 0);
          const { useToken, ...rest } = q0 as KrpcQuery & { useToken?: boolean };
          const sent: KrpcQuery =
            rest.q === 'announce_peer' && useToken ? { ...rest, token: tokens.tokenFor(host, 0) } : rest;
          const bytes = encodeKrpc(sent);
          const query = decodeKrpc(bytes) as KrpcQuery;
          const queryBytes = measure ? bytes.length : undefined;
          const { reply, remember } = answerQuery(
            query,
            { host, port },
            { ownId: own, table, store, tokens, now: 1, queryBytes },
          );
          expect(reply).toBeDefined();
          const out = encodeKrpc(reply!);
          const verified = table.get(query.id)?.host === host;
          const cap = queryBytes !== undefined && !verified ? Math.max(400, 4 * queryBytes) : 1000;
          expect(out.length).toBeLessThanOrEqual(Math.min(1000, cap));
          const back = decodeKrpc(out);
          expect(back.t).toEqual(query.t);
          expect(remember === undefined).toBe(query.readOnly === true);
          if (query.q === 'other') expect(back).toMatchObject({ y: 'e', code: 204 });
          else if (query.q === 'announce_peer') {
            const ok = useToken === true;
            expect(back.y).toBe(ok ? 'r' : 'e');
            if (!ok) expect(back).toMatchObject({ code: 203 });
          } else {
            expect(back).toMatchObject({ y: 'r', id: own });
            const r = back as KrpcResponse;
            if (query.q === 'get_peers') expect(r.token).toBeDefined();
            if (query.q === 'find_node') expect((r.nodes?.length ?? 0) + (r.nodes6?.length ?? 0)).toBeGreaterThan(0);
          }
        },
      ),
      heavy,
    );
  });
});
