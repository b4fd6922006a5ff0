/**
 * 200 DHT node actors on the in-memory network (dht-harness.ts), each bootstrapped from a random earlier
 * one (find_node for its own id to it, then a lookup of its own id): get_peers lookups run by the node
 * actors — queries as `dhtQuery` children, matched answers, the `dhtLookup` reducer — converge in ≤ 6
 * rounds on the true 8 closest nodes (brute force over all 200 ids).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type DhtReport } from '../../src/machines/dht/dht.machine.js';
import { compareDistance, idToHex, randomId } from '../../src/machines/dht/node-id.js';
import { randomFrom } from '../../src/machines/random.js';
import { FakeNet, flush, run, startNode, SimulatedClock, type NodeHandle } from './dht-harness.js';

const NODES = 200;
const LOOKUPS = 60;
const nodes: NodeHandle[] = [];
afterAll(() => {
  for (const n of nodes) n.actor.stop();
});

describe('dht node actors: a simulated network of 200 nodes', () => {
  it('lookups converge in ≤ 6 rounds on the true 8 closest nodes', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const random = randomFrom(20261206);
    nodes.push(startNode(net, clock, 10_000));
    await flush();
    for (let i = 1; i < NODES; i++) {
      const from = nodes[Math.floor(random() * i)]!;
      nodes.push(startNode(net, clock, 10_000 + i, { bootstrap: [`127.0.0.1:${from.at.port}`] }));
      if (i % 10 === 0) await run(clock, 500);
    }
    await run(clock, 5000, 250);
    for (const n of nodes) expect(n.actor.getSnapshot().value).toEqual({ active: 'ready' });
    const sizes = nodes.map((n) => n.actor.getSnapshot().context.svc.table.size);
    const ids = nodes.map((n) => n.actor.getSnapshot().context.ownId);

    const asked: { node: NodeHandle; target: Uint8Array }[] = [];
    for (let i = 0; i < LOOKUPS; i++) {
      const node = nodes[Math.floor(random() * NODES)]!;
      const target = randomId(random);
      asked.push({ node, target });
      node.actor.send({ type: 'dht.add', infoHash: target });
    }
    await run(clock, 8000, 250);
    const rounds: number[] = [];
    let exact = 0;
    for (const { node, target } of asked) {
      const done = node.reports.find(
        (r): r is Extract<DhtReport, { type: 'dht.lookupDone' }> =>
          r.type === 'dht.lookupDone' && r.purpose === 'torrent' && r.target === idToHex(target),
      );
      expect(done, idToHex(target)).toBeDefined();
      rounds.push(done!.rounds);
      const truth = ids
        .filter((id) => idToHex(id) !== idToHex(node.actor.getSnapshot().context.ownId))
        .sort((a, b) => compareDistance(target, a, b))
        .slice(0, 8)
        .map(idToHex);
      if (JSON.stringify(done!.closest) === JSON.stringify(truth)) exact++;
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `200 node actors: tables ${Math.min(...sizes)}–${Math.max(...sizes)} nodes (mean ${mean(sizes).toFixed(1)}); ` +
        `${LOOKUPS} lookups: rounds ${Math.min(...rounds)}–${Math.max(...rounds)} (mean ${mean(rounds).toFixed(2)}), ` +
        `${exact} found exactly the true 8 closest`,
    );
    expect(Math.max(...rounds)).toBeLessThanOrEqual(6);
    expect(exact).toBe(LOOKUPS);
  }, 120_000);
});
