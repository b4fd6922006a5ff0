/**
 * The choker, walked by paths that xstate/graph generates from the machine itself: the events are
 * rounds with a few peer sets (rates, interest, snubs), fills, and the rechoke timer; the model's
 * state is the machine's state plus what decides the next verdict (the round within the optimistic
 * period, the optimistic peer, the verdict). Each path is replayed on a live choker under a parent
 * that records its reports, on a simulated clock, with the named invariants checked after every step.
 *
 * Invariants:
 * - at-most-slots-plus-one: a verdict unchokes at most `slots` + 1 peers;
 * - only-eligible: only interested, unsnubbed peers are unchoked;
 * - best-rates-in: after a round while downloading, every peer faster than the slowest regular slot is
 *   unchoked (a fill only adds to the verdict in force);
 * - no-queue-jumping: after a round while seeding, no peer newly unchoked has waited less than a
 *   candidate left out (never unchoked before comes first, then unchoked longest ago);
 * - turns-kept: after a round while seeding, a regular peer whose turn (`optimisticRounds` rounds) is not
 *   over keeps its slot when there are no more such peers than slots;
 * - matches-the-model: the live choker's context equals the fold of `transition()` over the same events
 *   (the machine is a pure function of snapshot and event, its randomness included).
 */
import { describe, expect, it } from 'vitest';
import {
  createActor,
  createMachine,
  initialTransition,
  setup,
  SimulatedClock,
  transition,
  type EventObject,
} from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import {
  chokerMachine,
  defaultChokerSettings,
  type ChokeCandidate,
  type ChokerReport,
} from '../../src/machines/choker/choker.machine.js';

const p = (key: string, down: number, o: Partial<ChokeCandidate> = {}): ChokeCandidate => ({
  key,
  peerInterested: true,
  snubbed: false,
  downRate: down,
  upRate: 10 - down,
  ...o,
});
const SETS: ChokeCandidate[][] = [
  [p('a', 5), p('b', 4), p('c', 3), p('d', 2), p('e', 1), p('f', 0), p('g', 0)],
  [p('a', 1), p('b', 2, { snubbed: true }), p('c', 3, { peerInterested: false }), p('d', 9), p('e', 1), p('f', 8)],
  [p('x', 1)],
  [],
];
const events: EventObject[] = [
  ...SETS.map((peers) => ({ type: 'choker.rechoke', peers, seeding: false })),
  { type: 'choker.rechoke', peers: SETS[0]!, seeding: true },
  { type: 'choker.rechoke', peers: SETS[1]!, seeding: true },
  ...SETS.slice(0, 2).map((peers) => ({ type: 'choker.fill', peers, seeding: false })),
  { type: 'xstate.after.rechokeInterval.choker.running' },
];

// A stand-in for the torrent the choker reports to (only the pure walk sees it).
const report = createActor(createMachine({}));
const input = { report, seed: 7 };

const TIMER = { type: 'xstate.after.rechokeInterval.choker.running' };
// The shortest path to each distinct state, and each of them followed by a timer round.
const shortest = getShortestPaths(chokerMachine, {
  input: input as never,
  events: events as never,
  serializeState: ((s: { value: unknown; context: { round: number; optimistic?: string; unchoked: string[] } }) =>
    JSON.stringify([
      s.value,
      s.context.round % defaultChokerSettings.optimisticRounds,
      s.context.round > 3,
      s.context.optimistic,
      s.context.unchoked,
    ])) as never,
});
const paths: EventObject[][] = shortest.flatMap((x) => {
  const evs = x.steps.slice(1).map((st) => st.event as EventObject);
  return [evs, [...evs, TIMER]];
});

interface Before {
  round: number;
  unchoked: string[];
  optimistic?: string | undefined;
  since: Record<string, number>;
  lastUnchoked: Record<string, number>;
  firstSeen: Record<string, number>;
}

function check(keys: string[], peers: ChokeCandidate[], seeding: boolean, round: boolean, prev: Before): string[] {
  const v: string[] = [];
  const { slots } = defaultChokerSettings;
  if (keys.length > slots + 1) v.push(`at-most-slots-plus-one: ${keys.length}`);
  const eligible = peers.filter((q) => q.peerInterested && !q.snubbed);
  for (const k of keys) if (!eligible.some((q) => q.key === k)) v.push(`only-eligible: ${k}`);
  const rate = (q: ChokeCandidate) => (seeding ? q.upRate : q.downRate);
  const rates = eligible.map(rate).sort((x, y) => y - x);
  if (round && seeding) {
    const wait = (k: string) => [prev.lastUnchoked[k] ?? -1, prev.firstSeen[k] ?? prev.round] as const;
    const before = (a: readonly [number, number], b: readonly [number, number]) => a[0] - b[0] || a[1] - b[1];
    const added = keys.filter((k) => !prev.unchoked.includes(k));
    for (const c of eligible.filter((q) => !keys.includes(q.key)))
      for (const n of added) if (before(wait(c.key), wait(n)) < 0) v.push(`no-queue-jumping: ${n} before ${c.key}`);
    const inTurn = eligible.filter(
      (q) =>
        q.key !== prev.optimistic &&
        prev.unchoked.includes(q.key) &&
        prev.since[q.key] !== undefined &&
        prev.round - prev.since[q.key]! < defaultChokerSettings.optimisticRounds,
    );
    if (inTurn.length <= slots) for (const q of inTurn) if (!keys.includes(q.key)) v.push(`turns-kept: ${q.key}`);
  }
  if (round && !seeding && rates.length > slots) {
    const bar = rates[slots - 1]!;
    for (const q of eligible) if (rate(q) > bar && !keys.includes(q.key)) v.push(`best-rates-in: ${q.key}`);
  }
  return v;
}

async function replay(path: EventObject[]) {
  const clock = new SimulatedClock();
  const verdicts: string[][] = [];
  const parent = setup({ types: { events: {} as ChokerReport }, actors: { choker: chokerMachine } }).createMachine({
    invoke: { id: 'choker', src: 'choker', input: ({ self }) => ({ report: self, seed: input.seed }) },
    on: { 'choker.unchoke': { actions: ({ event }) => void verdicts.push(event.keys) } },
  });
  const actor = createActor(parent, { clock });
  actor.start();
  const choker = actor.getSnapshot().children.choker!;
  const violations: string[] = [];
  let last: { peers: ChokeCandidate[]; seeding: boolean } = { peers: [], seeding: false };
  let model = initialTransition(chokerMachine, input as never)[0];
  for (const event of path) {
    const e = event as EventObject & { peers?: ChokeCandidate[]; seeding?: boolean };
    const prev = model.context as unknown as Before;
    model = transition(chokerMachine, model, e as never)[0];
    const before = verdicts.length;
    if (e.type.startsWith('xstate.after.')) clock.increment(defaultChokerSettings.rechokeIntervalMs);
    else {
      choker.send(e as never);
      last = { peers: e.peers!, seeding: e.seeding! };
    }
    for (const keys of verdicts.slice(before))
      violations.push(...check(keys, last.peers, last.seeding, e.type === 'choker.rechoke', prev));
    const live = choker.getSnapshot() as { context: unknown };
    const { report: _a, ...ctx } = live.context as Record<string, unknown>;
    const { report: _b, ...want } = model.context as unknown as Record<string, unknown>;
    if (JSON.stringify(ctx) !== JSON.stringify(want)) {
      violations.push(`matches-the-model: after ${e.type}: live ${JSON.stringify(ctx)} model ${JSON.stringify(want)}`);
    }
  }
  actor.stop();
  expect(violations).toEqual([]);
}

describe('choker statechart, walked by generated paths (xstate/graph)', () => {
  it('the paths cover every round of the optimistic period and every kind of event', () => {
    expect(paths.length).toBeGreaterThan(20);
    const types = new Set(paths.flatMap((x) => x.map((e) => e.type)));
    for (const t of ['choker.rechoke', 'choker.fill', 'xstate.after.rechokeInterval.choker.running'])
      expect(types).toContain(t);
  });
  it.each(paths.map((x, i) => [i, x.length, x] as const))('path %i (%i steps)', async (_i, _n, path) => replay(path));
});
