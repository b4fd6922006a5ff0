/**
 * Properties of the iterative lookup (src/machines/dht/lookup.ts):
 * - in a network where every node answers with the true k closest nodes it knows of (all of them), the
 *   lookup, whatever the seeds and whatever order the answers come in, converges on the true k closest;
 * - under any mix of answers (with garbage: our own id, duplicates, port 0, wrong ids, long lists,
 *   peers), timeouts, slow queries and unsolicited answers: at most α queries in flight, nobody asked
 *   twice, never our own id, candidates sorted and unique, unasked nodes ≤ maxTracked, queries ≤
 *   maxQueries, peers unique and ≤ maxValues, nothing asked once done — and once every query has been
 *   answered or has timed out, the lookup is done.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  type LookupState,
  type LookupStep,
  lookupResponse,
  lookupResult,
  lookupSlow,
  lookupTimeout,
  startLookup,
} from '../../src/machines/dht/lookup.js';
import { type NodeContact, type NodeId, compareDistance, idToHex } from '../../src/machines/dht/node-id.js';
import { peerKey, type PeerAddress } from '../../src/protocol/peer-address.js';
import { propertyOptions } from '../support/fc.js';

const idArb = fc.uint8Array({ minLength: 20, maxLength: 20 });

function ok(cond: boolean, message: string): void {
  if (!cond) throw new Error(message);
}

const contactOf = (id: NodeId, i: number): NodeContact => ({ id, host: '127.0.0.1', port: 1 + i });

describe('DHT lookup properties', () => {
  it('with every node answering the true k closest, the lookup finds the true k closest, in any answer order', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(idArb, { minLength: 1, maxLength: 60, selector: (id) => idToHex(id) }),
        idArb,
        fc.array(fc.nat(), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 200 }),
        fc.integer({ min: 1, max: 8 }),
        (ids, target, seedPicks, order, k) => {
          const nodes = ids.map(contactOf);
          const sorted = [...nodes].sort((a, b) => compareDistance(target, a.id, b.id));
          const answer = (c: NodeContact) => ({ id: c.id, nodes: sorted.slice(0, k) });
          const seeds = seedPicks.map((p) => nodes[p % nodes.length]!);
          let step: LookupStep = startLookup(target, seeds, { k, maxQueries: 1000 });
          const pending = [...step.query];
          let o = 0;
          while (pending.length > 0) {
            const c = pending.splice((order[o++ % Math.max(1, order.length)] ?? 0) % pending.length, 1)[0]!;
            step = lookupResponse(step.state, c, answer(c));
            pending.push(...step.query);
          }
          const result = lookupResult(step.state);
          ok(result.done, 'not done');
          const got = result.closest.map((c) => idToHex(c.contact.id)).join();
          const want = sorted
            .slice(0, k)
            .map((c) => idToHex(c.id))
            .join();
          ok(got === want, `found ${got}, the closest are ${want}`);
        },
      ),
      propertyOptions,
    );
  });

  interface Answer {
    kind: 'answer';
    pick: number;
    wrongId: boolean;
    nodes: { id: Uint8Array; port: number; own: boolean }[];
    peers: number[];
  }
  type Event =
    Answer | { kind: 'timeout'; pick: number } | { kind: 'slow'; pick: number } | { kind: 'stray'; pick: number };

  const eventArb: fc.Arbitrary<Event> = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('answer' as const),
        pick: fc.nat(),
        wrongId: fc.boolean(),
        nodes: fc.array(
          fc.record({
            id: fc.oneof(idArb, fc.constant(new Uint8Array(20))),
            port: fc.integer({ min: 0, max: 40 }),
            own: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        peers: fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 20 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constantFrom('timeout' as const, 'slow' as const, 'stray' as const),
        pick: fc.nat(),
      }),
    },
  );

  function checkState(
    s: LookupState,
    own: NodeId,
    opts: { alpha: number; maxTracked: number; maxQueries: number; maxValues: number },
  ): void {
    let pending = 0;
    let waiting = 0;
    const ids = new Set<string>();
    const addresses = new Set<string>();
    s.candidates.forEach((c, i) => {
      if (c.state === 'pending') pending++;
      if (c.state === 'waiting') waiting++;
      ok(!ids.has(c.key) && !addresses.has(c.address), 'a node tracked twice');
      ids.add(c.key);
      addresses.add(c.address);
      ok(c.key !== idToHex(own), 'our own id tracked');
      ok(c.contact.port >= 1 && c.contact.port <= 0xffff, 'a node with an invalid port');
      if (i > 0)
        ok(compareDistance(s.target, s.candidates[i - 1]!.contact.id, c.contact.id) < 0, 'candidates not sorted');
    });
    ok(
      pending === s.inFlight && s.inFlight <= opts.alpha,
      `in flight ${s.inFlight}, pending ${pending}, α ${opts.alpha}`,
    );
    ok(waiting <= opts.maxTracked, `${waiting} unasked nodes tracked`);
    ok(s.queries <= opts.maxQueries, `${s.queries} queries`);
    ok(
      s.values.length <= opts.maxValues && new Set(s.values.map(peerKey)).size === s.values.length,
      'peers not bounded or not unique',
    );
  }

  it('under any answers, garbage, timeouts and slow queries the lookup stays bounded and consistent, and ends', () => {
    fc.assert(
      fc.property(
        idArb,
        idArb,
        fc.array(fc.record({ id: idArb, port: fc.integer({ min: 0, max: 40 }) }), { maxLength: 12 }),
        fc.array(eventArb, { maxLength: 60 }),
        fc.record({
          alpha: fc.integer({ min: 1, max: 4 }),
          k: fc.integer({ min: 1, max: 8 }),
          maxTracked: fc.integer({ min: 1, max: 30 }),
          maxQueries: fc.integer({ min: 1, max: 20 }),
          maxValues: fc.integer({ min: 0, max: 10 }),
          maxNodesPerResponse: fc.integer({ min: 0, max: 16 }),
        }),
        (own, target, seedSpecs, events, opts) => {
          const limits = { ...opts, maxTracked: Math.max(opts.k, opts.maxTracked) };
          const seeds = seedSpecs.map((s) => ({ id: s.id, host: '127.0.0.1', port: s.port }));
          let step = startLookup(target, seeds, { ...opts, ownId: own });
          const asked = new Set<string>();
          const outstanding: NodeContact[] = [];
          const take = (q: NodeContact[], wasDone: boolean) => {
            ok(!wasDone || q.length === 0, 'asked a node after being done');
            for (const c of q) {
              const key = `${c.host}|${c.port}`;
              ok(!asked.has(key), `asked ${key} twice`);
              ok(idToHex(c.id) !== idToHex(own), 'asked our own id');
              asked.add(key);
              outstanding.push(c);
            }
          };
          take(step.query, false);
          checkState(step.state, own, limits);
          const peer = (i: number): PeerAddress => ({ host: `10.0.0.${i}`, port: i, family: 4 });
          for (const e of events) {
            const wasDone = step.state.done;
            if (e.kind === 'stray') {
              const stray = { id: target, host: '127.0.0.2', port: 1 + (e.pick % 40) };
              const next = lookupResponse(step.state, stray, { id: stray.id, nodes: seeds });
              ok(next.state === step.state && next.query.length === 0, 'an unsolicited answer changed the lookup');
              continue;
            }
            if (outstanding.length === 0) break;
            const c = outstanding[e.pick % outstanding.length]!;
            if (e.kind === 'slow') {
              step = lookupSlow(step.state, c);
            } else {
              outstanding.splice(outstanding.indexOf(c), 1);
              if (e.kind === 'timeout') {
                step = lookupTimeout(step.state, c);
              } else {
                const nodes = e.nodes.map((n) => ({ id: n.own ? own : n.id, host: '127.0.0.1', port: n.port }));
                const id = e.wrongId ? Uint8Array.from(c.id, (b) => b ^ 1) : c.id;
                step = lookupResponse(step.state, c, { id, nodes, values: e.peers.map(peer) });
              }
            }
            take(step.query, wasDone);
            checkState(step.state, own, limits);
          }
          // Let every outstanding query time out: the lookup must then be done.
          while (outstanding.length > 0) {
            const c = outstanding.shift()!;
            const wasDone = step.state.done;
            step = lookupTimeout(step.state, c);
            take(step.query, wasDone);
            checkState(step.state, own, limits);
          }
          ok(step.state.done, 'not done with nothing outstanding');
        },
      ),
      propertyOptions,
    );
  });
});
