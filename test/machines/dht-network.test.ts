/**
 * A simulated DHT of 200 in-process nodes, each with its own routing table (src/machines/dht), joined
 * one by one through a seeded bootstrap (ping a random earlier node, then look up our own id), then
 * refreshed once as BEP 5 says. Queries are answered synchronously from the answering node's table;
 * a node that only queried another is pinged before it enters that node's table, as a real node would.
 * Pure and deterministic: one seeded generator (src/machines/random.ts) chooses everything.
 *
 * Then lookups for random targets from random nodes must converge in at most 6 rounds and find the
 * true 8 closest nodes, as a brute-force sort over all nodes gives them.
 */
import { describe, expect, it } from 'vitest';
import {
  type LookupResult,
  lookupResponse,
  lookupResult,
  lookupTimeout,
  startLookup,
} from '../../src/machines/dht/lookup.js';
import { type NodeContact, type NodeId, compareDistance, idToHex, randomId } from '../../src/machines/dht/node-id.js';
import { REFRESH_AFTER_MS, RoutingTable } from '../../src/machines/dht/routing-table.js';
import { randomFrom } from '../../src/machines/random.js';

interface SimNode {
  contact: NodeContact;
  table: RoutingTable;
}

const addr = (c: Pick<NodeContact, 'host' | 'port'>) => `${c.host}:${c.port}`;

class SimNetwork {
  readonly nodes: SimNode[] = [];
  private readonly byAddress = new Map<string, SimNode>();
  private readonly dead = new Set<string>();
  private readonly pings: [SimNode, NodeContact][] = [];
  now = 0;
  messages = 0;

  constructor(readonly random: () => number) {}

  add(): SimNode {
    const contact = { id: randomId(this.random), host: '127.0.0.1', port: 20_000 + this.nodes.length };
    const node = { contact, table: new RoutingTable(contact.id, {}, this.now) };
    this.nodes.push(node);
    this.byAddress.set(addr(contact), node);
    return node;
  }

  kill(node: SimNode): void {
    this.dead.add(addr(node.contact));
  }

  alive(node: SimNode): boolean {
    return !this.dead.has(addr(node.contact));
  }

  /** `from` asks `to` for the nodes closest to `target`; undefined when nobody answers. */
  query(from: SimNode, to: NodeContact, target: NodeId): { id: NodeId; nodes: NodeContact[] } | undefined {
    this.messages++;
    const node = this.byAddress.get(addr(to));
    if (!node || this.dead.has(addr(to))) {
      from.table.onTimeout(to.id, this.now);
      return undefined;
    }
    for (const p of node.table.onQuery(from.contact, this.now).ping) this.pings.push([node, p]);
    const nodes = node.table.closest(target, 8, this.now).map((n) => ({ id: n.id, host: n.host, port: n.port }));
    for (const p of from.table.onResponse(node.contact, this.now).ping) this.pings.push([from, p]);
    return { id: node.contact.id, nodes };
  }

  /** Runs the pings the tables asked for (and those they cause), one at a time. */
  drainPings(): void {
    while (this.pings.length > 0) {
      const [from, to] = this.pings.shift()!;
      this.messages++;
      const node = this.byAddress.get(addr(to));
      if (!node || this.dead.has(addr(to))) {
        from.table.onTimeout(to.id, this.now);
        continue;
      }
      for (const p of node.table.onQuery(from.contact, this.now).ping) this.pings.push([node, p]);
      // The answer carries the node's real id; a contact naming another id is a different node.
      for (const p of from.table.onResponse(node.contact, this.now).ping) this.pings.push([from, p]);
    }
  }

  /** An iterative lookup from `node`; answers come back in the order the queries went out. */
  lookup(node: SimNode, target: NodeId): LookupResult {
    let step = startLookup(target, node.table.closest(target, 8, this.now), { ownId: node.contact.id });
    const queue = [...step.query];
    while (queue.length > 0) {
      const c = queue.shift()!;
      const reply = this.query(node, c, target);
      step = reply ? lookupResponse(step.state, c, reply) : lookupTimeout(step.state, c);
      queue.push(...step.query);
      this.drainPings();
    }
    return lookupResult(step.state);
  }

  /** The true `n` closest live nodes to `target`, leaving out `except`. */
  bruteForce(target: NodeId, n: number, except: SimNode): string[] {
    return this.nodes
      .filter((x) => x !== except && this.alive(x))
      .map((x) => x.contact.id)
      .sort((a, b) => compareDistance(target, a, b))
      .slice(0, n)
      .map(idToHex);
  }
}

/** Builds the network: each node pings a random earlier one, looks itself up; then one refresh round. */
function buildNetwork(seed: number, size: number): SimNetwork {
  const net = new SimNetwork(randomFrom(seed));
  net.add();
  for (let i = 1; i < size; i++) {
    net.now += 1_000;
    const node = net.add();
    const bootstrap = net.nodes[Math.floor(net.random() * i)]!;
    net.query(node, bootstrap.contact, node.contact.id);
    net.drainPings();
    net.lookup(node, node.contact.id);
  }
  net.now += REFRESH_AFTER_MS;
  for (const node of net.nodes) {
    for (const { target } of node.table.refreshDue(net.now, net.random)) net.lookup(node, target);
  }
  return net;
}

describe('simulated DHT of 200 nodes', () => {
  const net = buildNetwork(20261206, 200);

  it('every node has a table of k-buckets holding a good part of the network, none holding itself', () => {
    for (const node of net.nodes) {
      expect(node.table.get(node.contact.id)).toBeUndefined();
      expect(node.table.size).toBeGreaterThanOrEqual(16);
      for (let b = 0; b < node.table.bucketCount; b++) expect(node.table.bucket(b).nodes.length).toBeLessThanOrEqual(8);
    }
  });

  it('lookups for random targets converge in at most 6 rounds and find the true 8 closest nodes', () => {
    const rounds: number[] = [];
    for (let i = 0; i < 200; i++) {
      const target = randomId(net.random);
      const from = net.nodes[Math.floor(net.random() * net.nodes.length)]!;
      const result = net.lookup(from, target);
      expect(result.done).toBe(true);
      expect(result.rounds).toBeLessThanOrEqual(6);
      expect(result.closest.map((c) => idToHex(c.contact.id))).toEqual(net.bruteForce(target, 8, from));
      rounds.push(result.rounds);
    }
    // Not a bound the test depends on, but a sanity check of the measure: most lookups need several hops.
    expect(Math.max(...rounds)).toBeGreaterThanOrEqual(2);
  });

  it('a node looking up an existing node id finds that node first', () => {
    for (let i = 0; i < 50; i++) {
      const from = net.nodes[i]!;
      const wanted = net.nodes[199 - i]!;
      const result = net.lookup(from, wanted.contact.id);
      expect(idToHex(result.closest[0]!.contact.id)).toBe(idToHex(wanted.contact.id));
    }
  });

  it('with a tenth of the nodes gone silent, after one refresh round lookups still converge in at most 6 rounds on the true 8 closest live nodes', () => {
    const churned = buildNetwork(7, 200);
    for (let i = 0; i < 20; i++) churned.kill(churned.nodes[10 * i + 5]!);
    // The survivors refresh their buckets 15 minutes later (BEP 5) and so learn who stopped answering.
    churned.now += REFRESH_AFTER_MS;
    for (const node of churned.nodes) {
      if (!churned.alive(node)) continue;
      for (const { target } of node.table.refreshDue(churned.now, churned.random)) churned.lookup(node, target);
    }
    for (let i = 0; i < 100; i++) {
      const target = randomId(churned.random);
      let from = churned.nodes[Math.floor(churned.random() * churned.nodes.length)]!;
      if (!churned.alive(from)) from = churned.nodes[0]!;
      const result = churned.lookup(from, target);
      expect(result.done).toBe(true);
      expect(result.rounds).toBeLessThanOrEqual(6);
      const want = churned.bruteForce(target, 8, from);
      expect(result.closest.map((c) => idToHex(c.contact.id))).toEqual(want);
    }
  });
});
