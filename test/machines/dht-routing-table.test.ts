import { describe, expect, it } from 'vitest';
import {
  GOOD_FOR_MS,
  REFRESH_AFTER_MS,
  RoutingTable,
  deserializeRoutingTable,
} from '../../src/machines/dht/routing-table.js';
import {
  type NodeContact,
  type NodeId,
  bep42NodeId,
  commonPrefixBits,
  idToHex,
  randomId,
  randomIdInRange,
} from '../../src/machines/dht/node-id.js';
import { randomFrom } from '../../src/machines/random.js';
import { isBtError } from '../../src/protocol/errors.js';

const MIN = 60_000;
const own: NodeId = new Uint8Array(20); // all zeros: bucket i holds ids whose first set bit is bit i
let port = 1000;
const at = (id: NodeId, host = '127.0.0.1'): NodeContact => ({ id, host, port: port++ });
/** An id sharing exactly `prefix` leading bits with `own`. */
const idIn = (prefix: number, rnd: () => number) => randomIdInRange(own, prefix, false, rnd);
const keys = (nodes: Iterable<{ id: NodeId }>) => [...nodes].map((n) => idToHex(n.id)).sort();

describe('routing table', () => {
  it('never stores our own id', () => {
    const table = new RoutingTable(own);
    expect(table.onResponse(at(own), 0)).toMatchObject({ outcome: 'rejected', reason: 'self' });
    expect(table.onQuery(at(own), 0)).toMatchObject({ outcome: 'rejected', reason: 'self' });
    expect(table.size).toBe(0);
  });

  it('splits only the bucket holding our id: a far bucket stays at k and caches the rest', () => {
    const rnd = randomFrom(1);
    const table = new RoutingTable(own);
    for (let i = 0; i < 8; i++) expect(table.onResponse(at(idIn(0, rnd)), 0).outcome).toBe('added');
    expect(table.bucketCount).toBe(1);
    // The 9th node: the one bucket holds our id, so it splits into bucket 0 (far half) and 1 (ours).
    expect(table.onResponse(at(idIn(3, rnd)), 0).outcome).toBe('added');
    expect(table.bucketCount).toBe(2);
    expect(table.bucket(0).nodes).toHaveLength(8);
    // Bucket 0 is full of good nodes and does not hold our id: a newcomer waits as a replacement, nobody is pinged.
    const r = table.onResponse(at(idIn(0, rnd)), 0);
    expect(r).toEqual({ outcome: 'cached', ping: [] });
    expect(table.bucket(0).nodes).toHaveLength(8);
    expect(table.bucket(0).replacements).toHaveLength(1);
    // Nodes near our id keep splitting the last bucket.
    for (let p = 1; p < 20; p++) for (let i = 0; i < 3; i++) table.onResponse(at(idIn(p, rnd)), 0);
    expect(table.bucketCount).toBeGreaterThan(10);
    for (let b = 0; b < table.bucketCount; b++) expect(table.bucket(b).nodes.length).toBeLessThanOrEqual(8);
  });

  it('liveness: good for 15 min after an answer, kept good by its queries, questionable after, bad after 2 timeouts', () => {
    const table = new RoutingTable(own);
    const c = at(idIn(0, randomFrom(2)));
    table.onResponse(c, 0);
    const node = () => table.get(c.id)!;
    expect(table.status(node(), GOOD_FOR_MS - 1)).toBe('good');
    expect(table.status(node(), GOOD_FOR_MS)).toBe('questionable');
    table.onQuery(c, 10 * MIN);
    expect(table.status(node(), 20 * MIN)).toBe('good'); // responded once, queried us within 15 min
    expect(table.status(node(), 25 * MIN)).toBe('questionable');
    table.onTimeout(c.id, 26 * MIN);
    expect(table.status(node(), 26 * MIN)).toBe('questionable');
    table.onTimeout(c.id, 27 * MIN);
    expect(table.status(node(), 27 * MIN)).toBe('bad');
    table.onResponse(c, 28 * MIN); // an answer clears the failures
    expect(table.status(node(), 28 * MIN)).toBe('good');
  });

  it('a full bucket: a bad node is replaced by a newcomer; else the least recently seen questionable one is to be pinged, once per interval', () => {
    const rnd = randomFrom(3);
    const table = new RoutingTable(own, { pingIntervalMs: 30_000 });
    table.onResponse(at(idIn(5, rnd)), 0); // keeps bucket 0 from being the last
    const far: NodeContact[] = [];
    for (let i = 0; i < 8; i++) {
      far.push(at(idIn(0, rnd)));
      table.onResponse(far[i]!, i * 1000);
    }
    expect(table.bucket(0).nodes).toHaveLength(8);
    const t = 20 * MIN; // all questionable now; far[0] seen least recently
    const first = table.onResponse(at(idIn(0, rnd)), t);
    expect(first.outcome).toBe('cached');
    expect(keys(first.ping)).toEqual(keys([far[0]!]));
    // The next newcomer asks for the next questionable node, not far[0] again.
    expect(keys(table.onResponse(at(idIn(0, rnd)), t + 1).ping)).toEqual(keys([far[1]!]));
    // far[0] answers the ping: good again.
    table.onResponse(far[0]!, t + 2);
    expect(table.status(table.get(far[0]!.id)!, t + 2)).toBe('good');
    // With no replacement waiting, a node that fails to answer twice is bad, and a newcomer takes its place.
    const noReplacements = new RoutingTable(own, { maxReplacements: 0 });
    noReplacements.onResponse(at(idIn(5, rnd)), 0);
    const n: NodeContact[] = [];
    for (let i = 0; i < 8; i++) {
      n.push(at(idIn(0, rnd)));
      noReplacements.onResponse(n[i]!, 0);
    }
    noReplacements.onTimeout(n[3]!.id, 1);
    expect(noReplacements.onTimeout(n[3]!.id, 2)).toBeUndefined();
    const newcomer = at(idIn(0, rnd));
    const r = noReplacements.onResponse(newcomer, 3);
    expect(r.outcome).toBe('replaced');
    expect(idToHex(r.evicted!.id)).toBe(idToHex(n[3]!.id));
    expect(noReplacements.get(newcomer.id)).toBeDefined();
    expect(noReplacements.get(n[3]!.id)).toBeUndefined();
  });

  it('a node that stops answering while a replacement waits is replaced at once, by the newest replacement', () => {
    const rnd = randomFrom(4);
    const table = new RoutingTable(own);
    table.onResponse(at(idIn(5, rnd)), 0);
    const far: NodeContact[] = [];
    for (let i = 0; i < 8; i++) {
      far.push(at(idIn(0, rnd)));
      table.onResponse(far[i]!, 0);
    }
    const older = at(idIn(0, rnd));
    const newer = at(idIn(0, rnd));
    table.onResponse(older, 1);
    table.onResponse(newer, 2);
    const replacement = table.onTimeout(far[2]!.id, 3);
    expect(idToHex(replacement!.id)).toBe(idToHex(newer.id));
    expect(table.get(far[2]!.id)).toBeUndefined();
    expect(table.bucket(0).replacements.map((r) => r.key)).toEqual([idToHex(older.id)]);
  });

  it('a query from an unknown node is not taken on its word: it is to be pinged when the table would take it', () => {
    const rnd = randomFrom(5);
    const table = new RoutingTable(own);
    const c = at(idIn(0, rnd));
    const r = table.onQuery(c, 0);
    expect(r.outcome).toBe('unverified');
    expect(keys(r.ping)).toEqual(keys([c]));
    expect(table.size).toBe(0);
    table.onResponse(c, 1);
    expect(table.onQuery(c, 2)).toEqual({ outcome: 'updated', ping: [] });
    // A full far bucket of good nodes would not take it: no ping.
    table.onResponse(at(idIn(5, rnd)), 0);
    for (let i = 0; i < 7; i++) table.onResponse(at(idIn(0, rnd)), 0);
    expect(table.onQuery(at(idIn(0, rnd)), 3)).toEqual({ outcome: 'unverified', ping: [] });
  });

  it('one id, one address: another address for a known good id is refused; an address whose node changed id is re-keyed', () => {
    const rnd = randomFrom(6);
    const table = new RoutingTable(own);
    const c = at(idIn(0, rnd));
    table.onResponse(c, 0);
    expect(table.onResponse({ ...c, port: c.port + 1 }, 1)).toMatchObject({
      outcome: 'rejected',
      reason: 'id-conflict',
    });
    expect(table.onQuery({ ...c, port: c.port + 1 }, 1)).toMatchObject({ outcome: 'rejected', reason: 'id-conflict' });
    const restarted = { ...c, id: idIn(1, rnd) };
    expect(table.onResponse(restarted, 2).outcome).toBe('added');
    expect(table.get(c.id)).toBeUndefined();
    expect(table.size).toBe(1);
  });

  it('one node per public IP address (loopback and private exempt); BEP 42 enforced on request', () => {
    const rnd = randomFrom(7);
    const table = new RoutingTable(own);
    expect(table.onResponse(at(idIn(0, rnd), '8.8.8.8'), 0).outcome).toBe('added');
    expect(table.onResponse(at(idIn(1, rnd), '8.8.8.8'), 0)).toMatchObject({ outcome: 'rejected', reason: 'ip-taken' });
    expect(table.onResponse(at(idIn(1, rnd), '10.0.0.1'), 0).outcome).toBe('added');
    expect(table.onResponse(at(idIn(2, rnd), '10.0.0.1'), 0).outcome).toBe('added');
    const strict = new RoutingTable(own, { requireBep42: true });
    expect(strict.onResponse(at(idIn(0, rnd), '124.31.75.21'), 0)).toMatchObject({
      outcome: 'rejected',
      reason: 'bep42',
    });
    expect(strict.onResponse(at(bep42NodeId('124.31.75.21', 1, rnd), '124.31.75.21'), 0).outcome).toBe('added');
    expect(strict.onResponse(at(idIn(0, rnd), '127.0.0.1'), 0).outcome).toBe('added');
  });

  it('holds at most maxNodes nodes', () => {
    const rnd = randomFrom(8);
    const table = new RoutingTable(randomId(rnd), { maxNodes: 20 });
    for (let i = 0; i < 2000; i++) table.onResponse(at(randomId(rnd)), i);
    expect(table.size).toBe(20);
    for (let p = 0; p < 40; p++) table.onResponse(at(randomIdInRange(table.ownId, p, false, rnd)), 3000);
    expect(table.size).toBe(20);
  });

  it('closest: sorted by distance, without bad nodes, and only good ones when asked', () => {
    const rnd = randomFrom(9);
    const table = new RoutingTable(randomId(rnd));
    const contacts = Array.from({ length: 300 }, () => at(randomId(rnd)));
    contacts.forEach((c, i) => table.onResponse(c, i < 150 ? 0 : 20 * MIN));
    const target = randomId(rnd);
    const now = 21 * MIN;
    const all = [...table.nodes()];
    const brute = (filter: (n: (typeof all)[number]) => boolean) =>
      all
        .filter(filter)
        .sort((a, b) => {
          for (let i = 0; i < 20; i++) {
            const d = (a.id[i]! ^ target[i]!) - (b.id[i]! ^ target[i]!);
            if (d) return d;
          }
          return 0;
        })
        .slice(0, 8)
        .map((n) => n.key);
    expect(table.closest(target, 8, now).map((n) => n.key)).toEqual(brute(() => true));
    expect(table.closest(target, 8, now, { goodOnly: true }).map((n) => n.key)).toEqual(
      brute((n) => table.status(n, now) === 'good'),
    );
    const victim = table.closest(target, 1, now)[0]!;
    table.onTimeout(victim.id, now);
    table.onTimeout(victim.id, now);
    if (table.get(victim.id)) expect(table.status(table.get(victim.id)!, now)).toBe('bad');
    expect(table.closest(target, 8, now).map((n) => n.key)).not.toContain(victim.key);
  });

  it('refreshDue: buckets unchanged for 15 min, each with a target in its range, then not again for 15 min', () => {
    const rnd = randomFrom(10);
    const table = new RoutingTable(own);
    for (let p = 0; p < 6; p++) for (let i = 0; i < 4; i++) table.onResponse(at(idIn(p, rnd)), 0);
    expect(table.refreshDue(REFRESH_AFTER_MS - 1, rnd)).toEqual([]);
    table.onResponse(at(idIn(0, rnd)), 5 * MIN); // bucket 0 changed at 5 min
    const due = table.refreshDue(REFRESH_AFTER_MS, rnd);
    const last = table.bucketCount - 1;
    expect(due.map((d) => d.bucket)).toEqual(Array.from({ length: table.bucketCount - 1 }, (_, i) => i + 1));
    for (const d of due) {
      const shared = commonPrefixBits(own, d.target);
      if (d.bucket === last) expect(shared).toBeGreaterThanOrEqual(last);
      else expect(shared).toBe(d.bucket);
    }
    expect(table.refreshDue(REFRESH_AFTER_MS + 1, rnd).map((d) => d.bucket)).toEqual([]);
    expect(table.refreshDue(20 * MIN, rnd).map((d) => d.bucket)).toEqual([0]);
  });

  it('serialize / deserialize: the same nodes at the same places, questionable until they answer', () => {
    const rnd = randomFrom(11);
    const table = new RoutingTable(randomId(rnd));
    for (let i = 0; i < 500; i++) table.onResponse(at(randomId(rnd), `10.0.${i >> 8}.${i & 255}`), 0);
    const text = table.serialize();
    const loaded = deserializeRoutingTable(text, { now: 1000 });
    expect(idToHex(loaded.ownId)).toBe(idToHex(table.ownId));
    expect(keys(loaded.nodes())).toEqual(keys(table.nodes()));
    expect(loaded.bucketCount).toBe(table.bucketCount);
    for (const n of loaded.nodes()) expect(loaded.status(n, 1000)).toBe('questionable');
    expect(loaded.serialize()).toBe(text);
    const other = randomId(rnd);
    expect(idToHex(deserializeRoutingTable(text, { ownId: other }).ownId)).toBe(idToHex(other));
  });

  it('deserialize refuses anything but the exact saved shape with BT_ERR_DHT_TABLE', () => {
    const id = 'ab'.repeat(20);
    const node = (h: unknown, host: unknown, p: unknown) => JSON.stringify({ v: 1, id, nodes: [[h, host, p]] });
    const bad = [
      '',
      'null',
      '[]',
      '{"v":1}',
      JSON.stringify({ v: 2, id, nodes: [] }),
      JSON.stringify({ v: 1, id: 'AB'.repeat(20), nodes: [] }),
      JSON.stringify({ v: 1, id, nodes: {} }),
      JSON.stringify({ v: 1, id, nodes: [], extra: 1 }),
      node('cd'.repeat(20), '127.0.0.1', 0),
      node('cd'.repeat(20), '127.0.0.1', 65536),
      node('cd'.repeat(20), '127.0.0.1', 1.5),
      node('cd'.repeat(20), 'localhost', 1),
      node('cd'.repeat(20), '127.000.0.1', 1),
      node('cd'.repeat(20), '2001:DB8::1', 1),
      node('CD'.repeat(20), '127.0.0.1', 1),
      node('cd'.repeat(19), '127.0.0.1', 1),
      JSON.stringify({ v: 1, id, nodes: [['cd'.repeat(20), '127.0.0.1', 1, 2]] }),
      JSON.stringify({
        v: 1,
        id,
        nodes: [
          ['cd'.repeat(20), '127.0.0.1', 1],
          ['cd'.repeat(20), '127.0.0.1', 2],
        ],
      }),
      JSON.stringify({
        v: 1,
        id,
        nodes: Array.from({ length: 1025 }, (_, i) => [i.toString(16).padStart(40, '0'), '127.0.0.1', 1]),
      }),
      ' '.repeat((1 << 20) + 1),
    ];
    for (const text of bad) {
      let error: unknown;
      try {
        deserializeRoutingTable(text);
      } catch (e) {
        error = e;
      }
      expect(isBtError(error, 'BT_ERR_DHT_TABLE'), text.slice(0, 80)).toBe(true);
    }
    expect(deserializeRoutingTable(node('cd'.repeat(20), '2001:db8::1', 1)).size).toBe(1);
  });
});
