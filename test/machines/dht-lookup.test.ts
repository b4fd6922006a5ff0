import { describe, expect, it } from 'vitest';
import {
  type LookupState,
  type LookupStep,
  MAX_TOKEN_LENGTH,
  lookupResponse,
  lookupResult,
  lookupSlow,
  lookupTimeout,
  startLookup,
} from '../../src/machines/dht/lookup.js';
import { type NodeContact, type NodeId, compareDistance, idToHex, randomId } from '../../src/machines/dht/node-id.js';
import { randomFrom } from '../../src/machines/random.js';
import type { PeerAddress } from '../../src/protocol/peer-address.js';

const target: NodeId = new Uint8Array(20);
/** A contact whose id is at distance `d` (as a big-endian number in the last two bytes) from the zero target. */
const node = (d: number): NodeContact => {
  const id = new Uint8Array(20);
  id[18] = d >> 8;
  id[19] = d & 0xff;
  return { id, host: '127.0.0.1', port: 10_000 + d };
};
const names = (cs: readonly NodeContact[]) => cs.map((c) => c.port - 10_000);
const peer = (i: number): PeerAddress => ({ host: `10.0.0.${i}`, port: 6881, family: 4 });

describe('iterative lookup', () => {
  it('asks the α = 3 closest seeds first, then one more for each answer, closest first', () => {
    const step = startLookup(target, [node(50), node(10), node(40), node(30), node(20)]);
    expect(names(step.query)).toEqual([10, 20, 30]);
    expect(step.state.inFlight).toBe(3);
    const next = lookupResponse(step.state, node(10), { id: node(10).id, nodes: [] });
    expect(names(next.query)).toEqual([40]);
    expect(next.state.inFlight).toBe(3);
  });

  it('converges when the k closest have all answered, finding closer nodes round by round', () => {
    // Each node names the two nodes at half its distance: 64 → 32, 33 → 16, 17 … → 1.
    const answer = (d: number) => ({ id: node(d).id, nodes: [node(d >> 1), node((d >> 1) + 1)] });
    let step: LookupStep = startLookup(target, [node(64), node(65), node(66)], { k: 2 });
    const asked: number[] = [];
    const queue = [...step.query];
    while (queue.length > 0) {
      const c = queue.shift()!;
      asked.push(c.port - 10_000);
      step = lookupResponse(step.state, c, answer(c.port - 10_000));
      queue.push(...step.query);
    }
    const result = lookupResult(step.state);
    expect(result.done).toBe(true);
    expect(names(result.closest.map((c) => c.contact))).toEqual([0, 1]); // node 0 is the target's own id
    expect(new Set(asked).size).toBe(asked.length); // nobody asked twice
    expect(result.rounds).toBe(8); // 64 → 32 → 16 → 8 → 4 → 2 → 1 → 0
    expect(result.queries).toBe(asked.length);
  });

  it('a timeout frees the slot for the next node; the failed node is not in the result', () => {
    let step = startLookup(target, [node(1), node(2), node(3), node(4)], { k: 3 });
    step = lookupTimeout(step.state, node(1));
    expect(names(step.query)).toEqual([4]);
    for (const d of [2, 3, 4]) step = lookupResponse(step.state, node(d), { id: node(d).id });
    const result = lookupResult(step.state);
    expect(result.done).toBe(true);
    expect(names(result.closest.map((c) => c.contact))).toEqual([2, 3, 4]);
  });

  it('a slow query frees its slot but its answer still counts until it times out', () => {
    let step = startLookup(target, [node(1), node(2), node(3), node(4)], { k: 4 });
    step = lookupSlow(step.state, node(1));
    expect(names(step.query)).toEqual([4]);
    expect(step.state.inFlight).toBe(3);
    step = lookupResponse(step.state, node(1), { id: node(1).id, nodes: [node(0x100)] });
    expect(step.state.inFlight).toBe(3);
    for (const d of [2, 3, 4]) step = lookupResponse(step.state, node(d), { id: node(d).id });
    expect(step.state.done).toBe(true);
    expect(names(lookupResult(step.state).closest.map((c) => c.contact))).toEqual([1, 2, 3, 4]);
    // A slow query that then times out fails as usual.
    let other = startLookup(target, [node(1), node(2)], { k: 2 });
    other = lookupSlow(other.state, node(1));
    other = lookupTimeout(other.state, node(1));
    other = lookupResponse(other.state, node(2), { id: node(2).id });
    expect(names(lookupResult(other.state).closest.map((c) => c.contact))).toEqual([2]);
    expect(other.state.done).toBe(true);
  });

  it('an answer with another id than the one asked fails that node and its nodes are not used', () => {
    let step = startLookup(target, [node(5)], { k: 1 });
    step = lookupResponse(step.state, node(5), { id: node(6).id, nodes: [node(1)] });
    expect(step.query).toEqual([]);
    expect(step.state.done).toBe(true);
    expect(lookupResult(step.state).closest).toEqual([]);
  });

  it('an answer from a node not asked, or a second answer, changes nothing', () => {
    const step = startLookup(target, [node(5)], { k: 1 });
    expect(lookupResponse(step.state, node(9), { id: node(9).id, nodes: [node(1)] }).state).toBe(step.state);
    const answered = lookupResponse(step.state, node(5), { id: node(5).id, nodes: [node(7)] }).state;
    expect(lookupResponse(answered, node(5), { id: node(5).id, nodes: [node(1)] }).state).toBe(answered);
    expect(lookupTimeout(answered, node(5)).state).toBe(answered);
  });

  it('peers: deduplicated, invalid ports dropped, at most maxValues; tokens kept per node, long ones dropped', () => {
    let step = startLookup(target, [node(1), node(2), node(3)], { maxValues: 4 });
    const token = Uint8Array.of(1, 2, 3, 4);
    step = lookupResponse(step.state, node(1), {
      id: node(1).id,
      values: [peer(1), peer(1), peer(2), { ...peer(9), port: 0 }],
      token,
    });
    step = lookupResponse(step.state, node(2), {
      id: node(2).id,
      values: [{ host: '10.0.0.2', port: 6881, family: 4 }, peer(3), peer(4), peer(5)],
      token: new Uint8Array(MAX_TOKEN_LENGTH + 1),
    });
    step = lookupResponse(step.state, node(3), { id: node(3).id });
    const result = lookupResult(step.state);
    expect(result.values.map((p) => p.host)).toEqual(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']);
    expect(result.closest.map((c) => c.token)).toEqual([token, undefined, undefined]);
  });

  it('bounded: nodes per answer, unasked nodes tracked, and the query budget', () => {
    const rnd = randomFrom(1);
    const many = Array.from({ length: 500 }, (_, i) => ({ id: randomId(rnd), host: '127.0.0.1', port: 20_000 + i }));
    let step = startLookup(target, [node(0x8000)], { maxNodesPerResponse: 16, maxTracked: 20, maxQueries: 10 });
    step = lookupResponse(step.state, node(0x8000), { id: node(0x8000).id, nodes: many });
    expect(step.state.candidates.length).toBe(17);
    let queries = 1;
    const queue = [...step.query];
    while (queue.length > 0) {
      const c = queue.shift()!;
      queries++;
      const off = (queries * 16) % 480;
      step = lookupResponse(step.state, c, { id: c.id, nodes: many.slice(off, off + 40) });
      expect(step.state.candidates.filter((x) => x.state === 'waiting').length).toBeLessThanOrEqual(20);
      queue.push(...step.query);
    }
    expect(step.state.queries).toBe(10);
    expect(step.state.done).toBe(true);
  });

  it('never asks our own id, a node twice (by id or by address), or a node with port 0', () => {
    const own = node(3).id;
    const step = startLookup(
      target,
      [node(3), node(4), { ...node(5), port: 0 }, node(4), { ...node(6), port: node(4).port }, node(7)],
      { ownId: own },
    );
    expect(names(step.query)).toEqual([4, 7]);
  });

  it('with no seeds, or every seed failing, it is done with nothing', () => {
    expect(startLookup(target, []).state.done).toBe(true);
    let step = startLookup(target, [node(1)]);
    step = lookupTimeout(step.state, node(1));
    expect(step.state.done).toBe(true);
    expect(lookupResult(step.state).closest).toEqual([]);
  });

  it('the state is never changed in place', () => {
    const rnd = randomFrom(2);
    const seeds = Array.from({ length: 10 }, (_, i) => ({ id: randomId(rnd), host: '127.0.0.1', port: 30_000 + i }));
    const first = startLookup(target, seeds);
    const snapshot = (s: LookupState) => JSON.stringify({ ...s, valueKeys: [...s.valueKeys] });
    const before = snapshot(first.state);
    const c = first.query[0]!;
    lookupResponse(first.state, c, { id: c.id, nodes: seeds.slice(0, 2), values: [peer(1)] });
    lookupTimeout(first.state, first.query[1]!);
    expect(snapshot(first.state)).toBe(before);
    const sorted = [...first.state.candidates].sort((a, b) => compareDistance(target, a.contact.id, b.contact.id));
    expect(sorted.map((x) => idToHex(x.contact.id))).toEqual(first.state.candidates.map((x) => idToHex(x.contact.id)));
  });
});
