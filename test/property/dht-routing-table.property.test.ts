/**
 * Properties of the DHT routing table (src/machines/dht/routing-table.ts) under any sequence of
 * answers, queries, timeouts, removals and time passing, from nodes near and far from our id:
 * - no bucket holds more than k nodes, and the table no more than maxNodes;
 * - our own id is never stored;
 * - every node sits in the bucket its id belongs to (bucket i < last: exactly i bits shared with our
 *   id; the last bucket: at least `last`);
 * - no id and no address appears twice;
 * - closest(target, n) is sorted by distance and equals a brute-force sort of the table's nodes that
 *   are not bad (good only, when asked);
 * - serialize → deserialize gives back the same nodes;
 * - any text, and any saved table with characters changed, inserted or cut, loads as a valid table or
 *   fails with a BtError `BT_ERR_DHT_TABLE`, never another exception.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { RoutingTable, deserializeRoutingTable } from '../../src/machines/dht/routing-table.js';
import { type NodeId, commonPrefixBits, compareDistance, idToHex } from '../../src/machines/dht/node-id.js';
import { isBtError } from '../../src/protocol/errors.js';
import { randomFrom } from '../../src/machines/random.js';
import { propertyOptions } from '../support/fc.js';

const ID = 20;
const idArb = fc.uint8Array({ minLength: ID, maxLength: ID });

/** An id sharing `prefix` leading bits with `own` (then the arbitrary `tail` bits), or our own id. */
function near(own: NodeId, prefix: number, tail: Uint8Array): NodeId {
  if (prefix >= 160) return Uint8Array.from(own);
  const id = Uint8Array.from(tail);
  for (let bit = 0; bit <= prefix; bit++) {
    const mask = 0x80 >> (bit & 7);
    const ownBit = own[bit >> 3]! & mask;
    const want = bit < prefix ? ownBit : ownBit ^ mask; // the bit after the prefix differs
    id[bit >> 3] = (id[bit >> 3]! & ~mask) | want;
  }
  return id;
}

// A small pool of addresses so that ids collide on addresses and public IPs collide on hosts.
const hostArb = fc.constantFrom('127.0.0.1', '10.0.0.1', '8.8.8.8', '1.1.1.1', '124.31.75.21', '2001:db8::1');
const portArb = fc.integer({ min: 1, max: 12 });

type Op =
  | { kind: 'response'; prefix: number; tail: Uint8Array; host: string; port: number }
  | { kind: 'query'; prefix: number; tail: Uint8Array; host: string; port: number }
  | { kind: 'timeout'; pick: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'wait'; ms: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('response' as const),
      prefix: fc.oneof(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 160 })),
      tail: idArb,
      host: hostArb,
      port: portArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('query' as const),
      prefix: fc.integer({ min: 0, max: 160 }),
      tail: idArb,
      host: hostArb,
      port: portArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('timeout' as const, 'remove' as const), pick: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 0, max: 40 * 60_000 }) }),
  },
);

function ok(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

function checkInvariants(table: RoutingTable, maxNodes: number, now: number, targets: NodeId[]): void {
  const k = table.k;
  const last = table.bucketCount - 1;
  const ids = new Set<string>();
  const addresses = new Set<string>();
  const own = idToHex(table.ownId);
  let total = 0;
  for (let b = 0; b <= last; b++) {
    const { nodes, replacements } = table.bucket(b);
    ok(nodes.length <= k, `bucket ${b} holds ${nodes.length} > k`);
    for (const n of [...nodes, ...replacements]) {
      const shared = commonPrefixBits(table.ownId, n.id);
      ok(b === last ? shared >= last : shared === b, `node sharing ${shared} bits in bucket ${b} of ${last + 1}`);
      ok(n.key !== own, 'our own id stored');
    }
    for (const n of nodes) {
      ok(!ids.has(n.key), `id ${n.key} twice`);
      ids.add(n.key);
      const address = `${n.host}|${n.port}`;
      ok(!addresses.has(address), `address ${address} twice`);
      addresses.add(address);
      ok(table.get(n.id) === n, 'index out of step');
      total++;
    }
  }
  ok(total === table.size && total <= maxNodes, `size ${table.size}, counted ${total}, cap ${maxNodes}`);
  const all = [...table.nodes()];
  for (const target of targets) {
    for (const goodOnly of [false, true]) {
      for (const n of [1, 8, 30]) {
        const got = table.closest(target, n, now, { goodOnly }).map((x) => x.key);
        const want = all
          .filter((x) => {
            const s = table.status(x, now);
            return s === 'good' || (!goodOnly && s === 'questionable');
          })
          .sort((a, b) => compareDistance(target, a.id, b.id))
          .slice(0, n)
          .map((x) => x.key);
        ok(got.join() === want.join(), `closest(${n}, goodOnly ${goodOnly}) differs from a brute-force sort`);
      }
    }
  }
}

describe('DHT routing table properties', () => {
  it('bucket sizes, own id, bucket placement, uniqueness, caps and closest() hold after any sequence of events', () => {
    fc.assert(
      fc.property(
        idArb,
        fc.array(opArb, { maxLength: 120 }),
        fc.array(idArb, { minLength: 1, maxLength: 2 }),
        fc.record({
          k: fc.integer({ min: 1, max: 8 }),
          maxNodes: fc.integer({ min: 1, max: 60 }),
          onePerIp: fc.boolean(),
        }),
        (own, ops, targets, opts) => {
          const table = new RoutingTable(own, {
            k: opts.k,
            maxNodes: opts.maxNodes,
            onePerIp: opts.onePerIp,
            maxReplacements: 3,
          });
          const maxNodes = Math.max(opts.k, opts.maxNodes);
          let now = 0;
          const seen: NodeId[] = [];
          for (const op of ops) {
            if (op.kind === 'response' || op.kind === 'query') {
              const id = near(own, op.prefix, op.tail);
              seen.push(id);
              const contact = { id, host: op.host, port: op.port };
              const result = op.kind === 'response' ? table.onResponse(contact, now) : table.onQuery(contact, now);
              for (const p of result.ping) ok(idToHex(p.id) !== idToHex(own), 'asked to ping ourselves');
            } else if (op.kind === 'wait') {
              now += op.ms;
            } else {
              const id = seen[op.pick % Math.max(1, seen.length)];
              if (!id) continue;
              if (op.kind === 'timeout') table.onTimeout(id, now);
              else table.remove(id);
            }
          }
          checkInvariants(table, maxNodes, now, [...targets, own]);
          const loaded = deserializeRoutingTable(table.serialize(), {
            k: opts.k,
            maxNodes: opts.maxNodes,
            onePerIp: opts.onePerIp,
          });
          const before = [...table.nodes()].map((n) => n.key).sort();
          const after = [...loaded.nodes()].map((n) => n.key).sort();
          ok(before.join() === after.join(), 'a saved table loads back with other nodes');
          checkInvariants(loaded, maxNodes, now, targets);
        },
      ),
      propertyOptions,
    );
  });

  it('a saved table read back from any text: a table holding the invariants, or BT_ERR_DHT_TABLE', () => {
    const rnd = randomFrom(1);
    const own = new Uint8Array(20).map(() => Math.floor(rnd() * 256));
    const table = new RoutingTable(own);
    for (let i = 0; i < 40; i++) {
      const id = new Uint8Array(20).map(() => Math.floor(rnd() * 256));
      table.onResponse({ id, host: i % 2 ? `10.0.0.${i}` : '::1', port: 1 + i }, 0);
    }
    const saved = table.serialize();
    const textArb = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json(),
      fc
        .record({ at: fc.nat(), cut: fc.nat({ max: 50 }), insert: fc.string({ maxLength: 20 }) })
        .map(({ at, cut, insert }) => {
          const i = at % (saved.length + 1);
          return saved.slice(0, i) + insert + saved.slice(i + cut);
        }),
    );
    fc.assert(
      fc.property(textArb, (text) => {
        let loaded: RoutingTable;
        try {
          loaded = deserializeRoutingTable(text, { now: 0 });
        } catch (error) {
          ok(isBtError(error, 'BT_ERR_DHT_TABLE'), `threw ${String(error)}`);
          return;
        }
        checkInvariants(loaded, 1_024, 0, [own]);
      }),
      propertyOptions,
    );
  });
});
