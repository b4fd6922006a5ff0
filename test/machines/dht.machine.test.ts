/**
 * The DHT node statechart with no network: its socket is a fake on an in-memory network (dht-harness.ts),
 * time a simulated clock. Bootstrap, answers to every query, timeouts, matching answers by transaction id
 * and address, the rate limit, lookups and announce_peer with tokens between real node actors, and the
 * routing table saved and loaded.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dhtLookupMachine } from '../../src/machines/dht/dht-lookup.machine.js';
import { type DhtReport } from '../../src/machines/dht/dht.machine.js';
import { idToHex, randomId } from '../../src/machines/dht/node-id.js';
import { randomFrom } from '../../src/machines/random.js';
import { type KrpcMessage } from '../../src/protocol/krpc.js';
import { createActor, setup } from 'xstate';
import { FakeNet, flush, run, startNode, state, SimulatedClock, type NodeHandle } from './dht-harness.js';

const started: NodeHandle[] = [];
afterEach(() => {
  for (const n of started.splice(0)) n.actor.stop();
});
function node(...args: Parameters<typeof startNode>): NodeHandle {
  const n = startNode(...args);
  started.push(n);
  return n;
}
const ctx = (n: NodeHandle) => n.actor.getSnapshot().context;
const id = (byte: number) => new Uint8Array(20).fill(byte);
const t = (s: string) => new TextEncoder().encode(s);
const ofType = <T extends DhtReport['type']>(n: NodeHandle, type: T) =>
  n.reports.filter((r): r is Extract<DhtReport, { type: T }> => r.type === type);

describe('dht node: bootstrap', () => {
  it('asks its bootstrap node for its own id, looks itself up, and is ready; both tables learn the other', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const a = node(net, clock, 7000);
    await flush();
    expect(state(a)).toBe('{"active":"ready"}'); // no bootstrap nodes: ready at once, with an empty table
    const b = node(net, clock, 7001, { bootstrap: ['127.0.0.1:7000'] });
    await flush();
    expect(ofType(b, 'dht.started')[0]).toMatchObject({ port: 7001, routers: [{ host: '127.0.0.1', port: 7000 }] });
    await run(clock, 2000);
    expect(state(b)).toBe('{"active":"ready"}');
    // The first datagram B sent: find_node for its own id to the bootstrap node.
    const first = net.log.find((d) => d.from.port === 7001)!;
    expect(first.msg).toMatchObject({ y: 'q', q: 'find_node', target: ctx(b).ownId });
    expect(ctx(b).svc.table.get(ctx(a).ownId)).toMatchObject({ host: '127.0.0.1', port: 7000 });
    // A heard B's query, pinged it (a querier is verified before it enters), and took it in on its answer.
    expect(net.log.some((d) => d.from.port === 7000 && d.msg.y === 'q' && d.msg.q === 'ping')).toBe(true);
    expect(ctx(a).svc.table.get(ctx(b).ownId)).toMatchObject({ port: 7001 });
    expect(ofType(b, 'dht.lookupDone')[0]).toMatchObject({ purpose: 'self', closest: [idToHex(ctx(a).ownId)] });
  });

  it('a silent bootstrap node: the query is slow, then times out; the node is ready with an empty table', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const silent = net.raw({ host: '127.0.0.1', port: 7100 });
    const b = node(net, clock, 7001, { bootstrap: ['127.0.0.1:7100'], settings: { bootstrapTimeoutMs: 60_000 } });
    await run(clock, 1000);
    expect(silent.inbox).toHaveLength(1);
    expect(state(b)).toBe('{"active":{"bootstrapping":"contacting"}}');
    expect(ctx(b).stats.inFlight).toBe(1);
    await run(clock, 4100); // queryTimeoutMs 5 s
    expect(ctx(b).stats.inFlight).toBe(0);
    expect(state(b)).toBe('{"active":"ready"}');
    expect(ctx(b).svc.table.size).toBe(0);
  });

  it('bootstrapping gives up after bootstrapTimeoutMs even with a query still out', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    net.raw({ host: '127.0.0.1', port: 7100 });
    const b = node(net, clock, 7001, {
      bootstrap: ['127.0.0.1:7100'],
      settings: { bootstrapTimeoutMs: 500, queryTimeoutMs: 10_000, querySlowMs: 5_000 },
    });
    await run(clock, 600);
    expect(state(b)).toBe('{"active":"ready"}');
    expect(ctx(b).stats.inFlight).toBe(1);
  });

  it('an answer with our transaction id from another address is dropped; the right one is taken', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const router = net.raw({ host: '127.0.0.1', port: 7100 });
    const liar = net.raw({ host: '127.0.0.1', port: 7666 });
    const b = node(net, clock, 7001, { bootstrap: ['127.0.0.1:7100'] });
    await run(clock, 200);
    const q = router.inbox[0]!.msg as Extract<KrpcMessage, { y: 'q' }>;
    liar.send({ host: '127.0.0.1', port: 7001 }, { y: 'r', t: q.t, id: id(9), nodes: [] });
    await flush();
    expect(ctx(b).stats.dropped).toBe(1);
    expect(state(b)).toBe('{"active":{"bootstrapping":"contacting"}}');
    expect(ctx(b).svc.table.size).toBe(0);
    // An unknown transaction id from the right address: dropped too.
    router.send({ host: '127.0.0.1', port: 7001 }, { y: 'r', t: t('zz'), id: id(7), nodes: [] });
    await flush();
    expect(ctx(b).stats.dropped).toBe(2);
    router.send({ host: '127.0.0.1', port: 7001 }, { y: 'r', t: q.t, id: id(7), nodes: [] });
    await flush();
    expect(ctx(b).svc.table.get(id(7))).toMatchObject({ port: 7100 });
    expect(ctx(b).stats.received).toBe(1);
    // The lookup of its own id asks that node (now known as id 7): it answers, and B is ready.
    await flush();
    const self = router.inbox.filter((d) => d.msg.y === 'q' && d.msg.q === 'find_node')[1]!.msg;
    router.send({ host: '127.0.0.1', port: 7001 }, { y: 'r', t: self.t, id: id(7), nodes: [] });
    await flush();
    expect(state(b)).toBe('{"active":"ready"}');
    // Asked again (get_peers for a torrent), the node answers under another id: it fails, the id is not taken.
    await run(clock, 1000);
    b.actor.send({ type: 'dht.add', infoHash: id(0x33) });
    await run(clock, 1100);
    const gp = router.inbox.find((d) => d.msg.y === 'q' && d.msg.q === 'get_peers')!.msg;
    router.send({ host: '127.0.0.1', port: 7001 }, { y: 'r', t: gp.t, id: id(8), token: t('tk'), nodes: [] });
    await flush();
    expect(ctx(b).svc.table.get(id(8))).toBeUndefined();
    expect(ctx(b).svc.table.get(id(7))!.failures).toBe(1);
    expect(ofType(b, 'dht.lookupDone').find((r) => r.purpose === 'torrent')).toMatchObject({
      closest: [],
      announced: 0,
    });
  });
});

describe('dht node: answering', () => {
  it('answers ping, find_node, get_peers (token), announce_peer (stored, then handed out), 203 and 204', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const n = node(net, clock, 7000, { version: t('BA01') });
    const me = { host: '127.0.0.1', port: 7200 };
    const q = net.raw(me);
    const to = n.at;
    await flush();
    const ih = id(0x42);
    q.send(to, { y: 'q', q: 'ping', t: t('p1'), id: id(1) });
    q.send(to, { y: 'q', q: 'find_node', t: t('f1'), id: id(1), target: id(3) });
    q.send(to, { y: 'q', q: 'get_peers', t: t('g1'), id: id(1), infoHash: ih });
    await flush();
    const byT = (s: string) => q.inbox.find((d) => new TextDecoder().decode(d.msg.t) === s)!.msg;
    expect(byT('p1')).toMatchObject({ y: 'r', id: ctx(n).ownId, v: t('BA01'), ip: { host: '127.0.0.1', port: 7200 } });
    expect(byT('f1')).toMatchObject({ y: 'r', nodes: [] });
    const token = (byT('g1') as Extract<KrpcMessage, { y: 'r' }>).token!;
    expect(token.length).toBeGreaterThan(0);
    q.send(to, { y: 'q', q: 'announce_peer', t: t('a1'), id: id(1), infoHash: ih, port: 6881, token });
    q.send(to, { y: 'q', q: 'announce_peer', t: t('a2'), id: id(1), infoHash: ih, port: 6882, token: t('nope') });
    q.send(to, { y: 'q', q: 'other', method: 'vote', t: t('o1'), id: id(1) });
    await flush();
    expect(byT('a1')).toMatchObject({ y: 'r', id: ctx(n).ownId });
    expect(byT('a2')).toMatchObject({ y: 'e', code: 203, message: 'bad token' });
    expect(byT('o1')).toMatchObject({ y: 'e', code: 204 });
    q.send(to, { y: 'q', q: 'get_peers', t: t('g2'), id: id(1), infoHash: ih });
    await flush();
    expect(byT('g2')).toMatchObject({ y: 'r', values: [{ host: '127.0.0.1', port: 6881, family: 4 }] });
    // A malformed query whose t is readable: 203; a malformed response: nothing.
    net.deliver(me, to, t('d1:ad2:id3:abce1:q4:ping1:t2:m11:y1:qe'));
    net.deliver(me, to, t('d1:rd2:id3:abce1:t2:m21:y1:re'));
    await flush();
    expect(byT('m1')).toMatchObject({ y: 'e', code: 203, message: 'invalid query' });
    expect(q.inbox.some((d) => new TextDecoder().decode(d.msg.t) === 'm2')).toBe(false);
    expect(ctx(n).stats.answered).toBe(8);
  });

  it('rate limit: a burst of 60 queries from one address gets 40 answers; a tick later some more', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const n = node(net, clock, 7000);
    const q = net.raw({ host: '127.0.0.1', port: 7200 });
    await flush();
    for (let i = 0; i < 60; i++) q.send(n.at, { y: 'q', q: 'ping', t: Uint8Array.of(i + 1), id: id(1) });
    net.deliver({ host: '127.0.0.1', port: 7200 }, n.at, t('d1:ad2:id3:abce1:q4:ping1:t2:m11:y1:qe'));
    await flush();
    const replies = () => q.inbox.filter((d) => d.msg.y !== 'q');
    expect(replies()).toHaveLength(40);
    expect(ctx(n).stats.limited).toBe(21);
    // The unverified querier is pinged once (one ping at a time per address), not once per query.
    expect(q.inbox.filter((d) => d.msg.y === 'q')).toHaveLength(1);
    // Another source is not limited by this one.
    const other = net.raw({ host: '127.0.0.2', port: 7200 });
    other.send(n.at, { y: 'q', q: 'ping', t: t('x'), id: id(2) });
    await flush();
    expect(other.inbox.filter((d) => d.msg.y === 'r')).toHaveLength(1);
    await run(clock, 1000); // one tick: 20 more allowed
    for (let i = 0; i < 30; i++) q.send(n.at, { y: 'q', q: 'ping', t: Uint8Array.of(100 + i), id: id(1) });
    await flush();
    expect(replies()).toHaveLength(60);
  });
});

describe('dht node: lookups and announces', () => {
  /** A network of `count` nodes, each bootstrapped from a random earlier one. */
  async function network(net: FakeNet, clock: SimulatedClock, count: number, base = 8000) {
    const random = randomFrom(20261206);
    const nodes: NodeHandle[] = [node(net, clock, base)];
    await flush();
    for (let i = 1; i < count; i++) {
      const from = nodes[Math.floor(random() * i)]!;
      nodes.push(node(net, clock, base + i, { bootstrap: [`127.0.0.1:${from.at.port}`] }));
      await run(clock, 300);
    }
    await run(clock, 2000);
    return nodes;
  }

  it('a node announces a torrent to the closest nodes (with their tokens); another finds it by get_peers', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const nodes = await network(net, clock, 16);
    for (const n of nodes) expect(state(n)).toBe('{"active":"ready"}');
    const ih = randomId(randomFrom(5));
    const seeder = nodes[3]!;
    const leecher = nodes[12]!;
    seeder.actor.send({ type: 'dht.add', infoHash: ih, port: 51413 });
    await run(clock, 3000);
    const done = ofType(seeder, 'dht.lookupDone').find((r) => r.purpose === 'torrent')!;
    expect(done.announced).toBeGreaterThan(0);
    const announces = net.log.filter(
      (d) => d.from.port === seeder.at.port && d.msg.y === 'q' && d.msg.q === 'announce_peer',
    );
    expect(announces).toHaveLength(done.announced);
    for (const a of announces) expect(a.msg).toMatchObject({ port: 51413, impliedPort: true, infoHash: ih });
    // Every announce was accepted (a valid token): the nodes store the seeder under its UDP source port.
    await flush();
    const stored = nodes.filter((n) => ctx(n).svc.store.countFor(ih) > 0);
    expect(stored.length).toBe(done.announced);
    leecher.actor.send({ type: 'dht.add', infoHash: ih });
    await run(clock, 3000);
    const peers = ofType(leecher, 'dht.peers').flatMap((r) => r.peers);
    expect(peers).toContainEqual({ host: '127.0.0.1', port: seeder.at.port, family: 4 });
    const ldone = ofType(leecher, 'dht.lookupDone').find((r) => r.purpose === 'torrent')!;
    expect(ldone).toMatchObject({ announced: 0, target: idToHex(ih) });
    expect(ldone.peers).toBeGreaterThan(0);
    // Found peers: the next lookup comes in 15–30 min, not sooner.
    const before = ofType(leecher, 'dht.lookupDone').length;
    await run(clock, 60_000, 1000);
    expect(ofType(leecher, 'dht.lookupDone').filter((r) => r.purpose === 'torrent')).toHaveLength(1);
    expect(ofType(leecher, 'dht.lookupDone').length).toBeGreaterThanOrEqual(before);
    const entry = Object.values(ctx(leecher).torrents)[0]!;
    expect(entry.nextAt).toBeGreaterThanOrEqual(15 * 60_000);
    expect(entry.nextAt).toBeLessThanOrEqual(30 * 60_000 + 10_000);
  }, 60_000);

  it('a torrent is looked up at once: added while ready, or added before and looked up as the node gets ready', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const nodes = await network(net, clock, 4, 8200);
    const n = nodes[2]!;
    const getPeers = (from: NodeHandle) =>
      net.log.filter((d) => d.from.port === from.at.port && d.msg.y === 'q' && d.msg.q === 'get_peers');
    // Ready: the get_peers go out with no clock advance (before the next tick).
    n.actor.send({ type: 'dht.add', infoHash: id(0x55) });
    await flush();
    expect(getPeers(n).length).toBeGreaterThan(0);
    // Added while starting, and another while bootstrapping: their lookups start when the node is
    // ready, not a tick after.
    const late = node(net, clock, 8290, { bootstrap: [`127.0.0.1:${nodes[0]!.at.port}`] });
    late.actor.send({ type: 'dht.add', infoHash: id(0x56) });
    for (let i = 0; i < 20 && !state(late).includes('bootstrapping'); i++) await flush(1);
    expect(state(late)).toContain('bootstrapping');
    late.actor.send({ type: 'dht.add', infoHash: id(0x57) });
    for (let i = 0; i < 50 && state(late) !== '{"active":"ready"}'; i++) await run(clock, 20, 20);
    expect(state(late)).toBe('{"active":"ready"}');
    await flush();
    const asked = new Set(getPeers(late).map((d) => idToHex((d.msg as { infoHash: Uint8Array }).infoHash)));
    expect(asked).toEqual(new Set([idToHex(id(0x56)), idToHex(id(0x57))]));
  }, 30_000);

  it('a lookup that finds nobody is retried sooner (10 s, then 20 s); dht.remove stops it', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const nodes = await network(net, clock, 4, 8100);
    const n = nodes[1]!;
    const ih = id(0x77);
    n.actor.send({ type: 'dht.add', infoHash: ih });
    await run(clock, 2000, 500);
    const count = () => ofType(n, 'dht.lookupDone').filter((r) => r.purpose === 'torrent').length;
    expect(count()).toBe(1);
    await run(clock, 10_000, 500);
    expect(count()).toBe(2);
    await run(clock, 20_000, 500);
    expect(count()).toBe(3);
    n.actor.send({ type: 'dht.remove', infoHash: ih });
    await run(clock, 60_000, 1000);
    expect(count()).toBe(3);
    expect(ctx(n).torrents).toEqual({});
  }, 30_000);

  it('a query of a lookup that is slow lets another node be asked; one that times out fails that node', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const nodes = await network(net, clock, 6, 8200);
    const n = nodes[0]!;
    // Every other node goes silent.
    net.drop = (d) => d.to.port !== n.at.port && d.from.port === n.at.port;
    n.actor.send({ type: 'dht.add', infoHash: id(0x10) });
    await run(clock, 1200, 100);
    const sent = () =>
      net.log.filter((d) => d.from.port === n.at.port && d.msg.y === 'q' && d.msg.q === 'get_peers').length;
    const atStart = sent();
    expect(atStart).toBe(Math.min(3, ctx(n).svc.table.size));
    await run(clock, 1000, 100); // past querySlowMs (1.5 s): more are asked
    expect(sent()).toBeGreaterThan(atStart);
    await run(clock, 6000, 500); // past queryTimeoutMs: they failed; the lookup ends empty
    const done = ofType(n, 'dht.lookupDone').find((r) => r.purpose === 'torrent')!;
    expect(done).toMatchObject({ peers: 0, closest: [] });
    expect(ctx(n).stats.inFlight).toBe(0);
    for (const other of nodes.slice(1))
      expect(ctx(n).svc.table.get(ctx(other).ownId)?.failures ?? 1).toBeGreaterThan(0);
  }, 30_000);

  it('queries in flight never exceed maxPending: a lookup is told at once of the queries that did not fit', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const nodes = await network(net, clock, 8, 8300);
    const n = node(net, clock, 8399, {
      bootstrap: nodes.map((x) => `127.0.0.1:${x.at.port}`),
      settings: { maxPending: 2 },
    });
    let most = 0;
    n.actor.subscribe((snap) => (most = Math.max(most, Object.keys(snap.context.pending).length)));
    await run(clock, 4000);
    expect(most).toBe(2);
    expect(state(n)).toBe('{"active":"ready"}');
  }, 30_000);

  it('dht.addNode (a BEP 5 port message): the node is asked for nodes and, answering, enters the table', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const a = node(net, clock, 7000);
    const b = node(net, clock, 7001);
    await flush();
    b.actor.send({ type: 'dht.addNode', host: '127.0.0.1', port: 7000 });
    b.actor.send({ type: 'dht.addNode', host: '127.0.0.1', port: 0 }); // not a port: ignored
    await run(clock, 200);
    expect(ctx(b).svc.table.get(ctx(a).ownId)).toMatchObject({ port: 7000 });
    expect(ctx(b).stats.sent).toBe(1);
  });
});

describe('dht node: start, stop, the saved table', () => {
  it('saves its table at stop; a node started from it has the same id and nodes', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const a = node(net, clock, 7000);
    await flush();
    const b = node(net, clock, 7001, { bootstrap: ['127.0.0.1:7000'] });
    await run(clock, 1000);
    b.actor.send({ type: 'dht.stop' });
    await flush();
    expect(b.actor.getSnapshot().status).toBe('done');
    expect(b.saved).toHaveLength(1);
    const saved = JSON.parse(b.saved[0]!) as { id: string; nodes: [string, string, number][] };
    expect(saved.id).toBe(idToHex(ctx(b).ownId));
    expect(saved.nodes).toEqual([[idToHex(ctx(a).ownId), '127.0.0.1', 7000]]);
    const c = node(net, clock, 7002, { saved: b.saved[0]! });
    await flush();
    expect(idToHex(ctx(c).ownId)).toBe(saved.id);
    expect(ofType(c, 'dht.started')[0]).toMatchObject({ nodes: 1 });
    // A saved table that is not valid is ignored: a fresh id, no nodes.
    const d = node(net, clock, 7003, { saved: '{"v":2}' });
    await flush();
    expect(ctx(d).svc.table.size).toBe(0);
    expect(idToHex(ctx(d).ownId)).not.toBe(saved.id);
  });

  it('stops even when saving fails or hangs (bounded by saveTimeoutMs), and when stopped while starting', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const failing = node(net, clock, 7000, {}, () => Promise.reject(new Error('EACCES')));
    const hanging = node(net, clock, 7001, { settings: { saveTimeoutMs: 2000 } }, () => new Promise(() => undefined));
    await flush();
    failing.actor.send({ type: 'dht.stop' });
    hanging.actor.send({ type: 'dht.stop' });
    await flush();
    expect(failing.actor.getSnapshot().value).toBe('stopped');
    expect(hanging.actor.getSnapshot().value).toEqual({ stopping: 'saving' });
    await run(clock, 2100);
    expect(hanging.actor.getSnapshot().value).toBe('stopped');
    // Stopped before the socket was ready (torrents added and removed meanwhile are kept/forgotten).
    const early = node(net, clock, 7002);
    early.actor.send({ type: 'dht.add', infoHash: id(1), port: 6881 });
    early.actor.send({ type: 'dht.add', infoHash: id(2) });
    early.actor.send({ type: 'dht.remove', infoHash: id(2) });
    expect(Object.keys(ctx(early).torrents)).toEqual([idToHex(id(1))]);
    early.actor.send({ type: 'dht.stop' });
    await flush();
    expect(early.actor.getSnapshot().value).toBe('stopped');
    expect(early.saved).toHaveLength(1);
  });

  it('a socket that cannot be bound: failed, with dht.error', async () => {
    const net = new FakeNet();
    net.failPorts.add(7000);
    const clock = new SimulatedClock();
    const n = node(net, clock, 7000);
    await flush();
    expect(n.actor.getSnapshot().value).toBe('failed');
    expect(ofType(n, 'dht.error')[0]!.message).toMatch(/EADDRINUSE/);
  });

  it('the lookup actor alone: seeds queried α at a time, and done at once without seeds', () => {
    const reports: unknown[] = [];
    const report = createActor(
      setup({}).createMachine({ on: { '*': { actions: ({ event }) => void reports.push(event) } } }),
    ).start();
    const empty = createActor(dhtLookupMachine, { input: { id: 'lookup:1', target: id(1), seeds: [], report } });
    empty.start();
    expect(empty.getSnapshot().status).toBe('done');
    expect(reports).toEqual([
      { type: 'lookup.done', lookup: 'lookup:1', result: expect.objectContaining({ done: true, queries: 0 }) },
    ]);
  });
});
