import fc from 'fast-check';
import { createActor, setup, SimulatedClock, type ActorRefFrom } from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chokerMachine,
  chooseUnchoked,
  defaultChokerSettings,
  type ChokerContext,
  type ChokerReport,
  type ChokerSettings,
} from '../../src/machines/choker/choker.machine.js';
import type { ChokeView } from '../../src/machines/peer/types.js';
import { propertyOptions } from '../support/fc.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** A peer's choke view whose rates the test sets directly (`p.down`, `p.up`). */
type TestView = ChokeView & { down: number; up: number };

function peer(
  key: string,
  o: { interested?: boolean; snubbed?: boolean; down?: number; up?: number; firstRound?: number } = {},
): TestView {
  const v: TestView = {
    key,
    peerInterested: o.interested ?? true,
    amChoking: true,
    snubbed: o.snubbed ?? false,
    down: o.down ?? 0,
    up: o.up ?? 0,
    downRate: () => v.down,
    upRate: () => v.up,
    ...(o.firstRound !== undefined && { firstRound: o.firstRound }),
  };
  return v;
}

const registryOf = (...views: ChokeView[]) => new Map(views.map((v) => [v.key, v]));

/** mulberry32: a small seeded PRNG, so every "random" run here is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Plays back `values`, then `fallback` forever. */
function sequence(values: number[], fallback = 0.5): () => number {
  let i = 0;
  return () => (i < values.length ? values[i++]! : fallback);
}

function context(
  registry: Map<string, ChokeView>,
  o: Partial<Omit<ChokerContext, 'settings'>> & { settings?: Partial<ChokerSettings> } = {},
): ChokerContext {
  return {
    registry,
    seeding: () => false,
    random: () => 0.5,
    round: 0,
    optimistic: undefined,
    unchoked: [],
    ...o,
    settings: { ...defaultChokerSettings, ...o.settings },
  };
}

const sorted = (keys: string[]) => [...keys].sort();

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(what);
}

// ---------------------------------------------------------------------------------------------
// The pure ranking

describe('chooseUnchoked', () => {
  it('ranks by their upload to us (downRate) while leeching', () => {
    const reg = registryOf(
      peer('a', { down: 10, up: 0 }),
      peer('b', { down: 50, up: 0 }),
      peer('c', { down: 30, up: 0 }),
      peer('d', { down: 40, up: 0 }),
      peer('e', { down: 20, up: 100 }),
      peer('f', { down: 5, up: 100 }),
    );
    const r = chooseUnchoked(context(reg), true);
    expect(r.keys.slice(0, 4)).toEqual(['b', 'd', 'c', 'e']);
    expect(r.keys).toHaveLength(5);
    expect(['a', 'f']).toContain(r.optimistic);
    expect(r.keys[4]).toBe(r.optimistic);
  });

  it('ranks by our upload to them (upRate) while seeding', () => {
    const reg = registryOf(
      peer('a', { down: 100, up: 1 }),
      peer('b', { down: 90, up: 7 }),
      peer('c', { down: 80, up: 3 }),
      peer('d', { down: 0, up: 9 }),
      peer('e', { down: 0, up: 5 }),
    );
    const r = chooseUnchoked(context(reg, { seeding: () => true }), true);
    expect(r.keys.slice(0, 4)).toEqual(['d', 'b', 'e', 'c']);
    expect(r.optimistic).toBe('a');
  });

  it('breaks ties with the injected random', () => {
    const reg = () =>
      registryOf(peer('a', { down: 5 }), peer('b', { down: 5 }), peer('c', { down: 5 }), peer('d', { down: 9 }));
    const settings = { slots: 2 };
    // One tie-breaker per candidate in registry order (a, b, c, d); the smallest wins among equals.
    const first = chooseUnchoked(context(reg(), { settings, random: sequence([0.9, 0.1, 0.5, 0.7], 0) }), true);
    expect(first.keys.slice(0, 2)).toEqual(['d', 'b']);
    const second = chooseUnchoked(context(reg(), { settings, random: sequence([0.2, 0.8, 0.1, 0.7], 0) }), true);
    expect(second.keys.slice(0, 2)).toEqual(['d', 'c']);
  });

  it('never unchokes snubbed or uninterested peers, even optimistically', () => {
    const reg = registryOf(
      peer('fast-snub', { down: 1000, snubbed: true }),
      peer('fast-bored', { down: 900, interested: false }),
      peer('a', { down: 3 }),
      peer('b', { down: 2 }),
      peer('c', { down: 1 }),
    );
    for (let seed = 0; seed < 50; seed++) {
      const r = chooseUnchoked(context(reg, { settings: { slots: 1 }, random: prng(seed) }), true);
      expect(r.keys).not.toContain('fast-snub');
      expect(r.keys).not.toContain('fast-bored');
      expect(r.keys[0]).toBe('a');
      expect(['b', 'c']).toContain(r.optimistic);
    }
  });

  it('chooses the optimistic unchoke only among peers outside the regular slots', () => {
    const reg = registryOf(
      peer('a', { down: 4 }),
      peer('b', { down: 3 }),
      peer('c', { down: 2 }),
      peer('d', { down: 1 }),
    );
    for (let seed = 0; seed < 50; seed++) {
      const r = chooseUnchoked(context(reg, { settings: { slots: 2 }, random: prng(seed) }), true);
      expect(r.keys.slice(0, 2)).toEqual(['a', 'b']);
      expect(['c', 'd']).toContain(r.optimistic);
    }
  });

  it('unchokes everyone, with no optimistic, when there are no more candidates than slots', () => {
    const reg = registryOf(
      peer('a', { down: 1 }),
      peer('b'),
      peer('c', { interested: false }),
      peer('d', { snubbed: true }),
    );
    const r = chooseUnchoked(context(reg), true);
    expect(sorted(r.keys)).toEqual(['a', 'b']);
    expect(r.optimistic).toBeUndefined();
    // Exactly slots + 1 candidates: the last one is the optimistic unchoke.
    const five = registryOf(
      peer('a', { down: 5 }),
      peer('b', { down: 4 }),
      peer('c', { down: 3 }),
      peer('d', { down: 2 }),
      peer('e', { down: 1 }),
    );
    expect(chooseUnchoked(context(five), true)).toEqual({ keys: ['a', 'b', 'c', 'd', 'e'], optimistic: 'e' });
    expect(chooseUnchoked(context(new Map()), true)).toEqual({ keys: [], optimistic: undefined });
  });

  it('keeps the optimistic unchoke between rotations while it stays eligible', () => {
    const reg = registryOf(peer('a', { down: 9 }), peer('b'), peer('c'), peer('d'));
    const r = chooseUnchoked(context(reg, { settings: { slots: 1 }, optimistic: 'c', random: prng(1) }), false);
    expect(r).toEqual({ keys: ['a', 'c'], optimistic: 'c' });
    // No longer eligible (it lost interest): a new one is drawn even without rotation.
    reg.get('c')!.peerInterested = false;
    const s = chooseUnchoked(context(reg, { settings: { slots: 1 }, optimistic: 'c', random: prng(1) }), false);
    expect(['b', 'd']).toContain(s.optimistic);
    // Promoted to a regular slot: likewise.
    reg.get('c')!.peerInterested = true;
    (reg.get('c') as TestView).down = 100;
    const t = chooseUnchoked(context(reg, { settings: { slots: 1 }, optimistic: 'c', random: prng(1) }), false);
    expect(t.keys[0]).toBe('c');
    expect(['a', 'b', 'd']).toContain(t.optimistic);
  });

  it('a rotation moves the optimistic unchoke to another peer when there is one', () => {
    for (let seed = 0; seed < 200; seed++) {
      const reg = registryOf(peer('a', { down: 9 }), peer('b'), peer('c'));
      const r = chooseUnchoked(context(reg, { settings: { slots: 1 }, optimistic: 'b', random: prng(seed) }), true);
      expect(r.optimistic).toBe('c');
    }
    // The only one left keeps it.
    const reg = registryOf(peer('a', { down: 9 }), peer('b'));
    expect(chooseUnchoked(context(reg, { settings: { slots: 1 }, optimistic: 'b' }), true).optimistic).toBe('b');
  });

  it('records the round in which it first saw each peer', () => {
    const reg = registryOf(peer('a'), peer('b', { interested: false }), peer('c', { firstRound: 2 }));
    chooseUnchoked(context(reg, { round: 7 }), true);
    expect([...reg.values()].map((v) => v.firstRound)).toEqual([7, 7, 2]);
  });

  it('weights new peers (seen fewer than newRounds rounds ago) three times: deterministic draw', () => {
    // round 10, newRounds 3: firstRound 8 is new (age 2), firstRound 7 is old (age 3).
    const reg = () =>
      registryOf(
        peer('top', { down: 9, firstRound: 0 }),
        peer('old', { firstRound: 7 }),
        peer('new', { firstRound: 8 }),
      );
    const draw = (x: number) =>
      // three tie-breakers (top, old, new), then the draw over weights [old 1, new 3]
      chooseUnchoked(context(reg(), { round: 10, settings: { slots: 1 }, random: sequence([0, 0, 0, x]) }), true)
        .optimistic;
    expect(draw(0)).toBe('old');
    expect(draw(0.249)).toBe('old');
    expect(draw(0.25)).toBe('new');
    expect(draw(0.999)).toBe('new');
  });

  it('weights new peers three times: statistically, with a seeded PRNG', () => {
    const random = prng(0xc0ffee);
    const counts = new Map<string, number>();
    const runs = 20_000;
    const reg = registryOf(
      peer('top', { down: 9, firstRound: 0 }),
      peer('old1', { firstRound: 0 }),
      peer('old2', { firstRound: 5 }),
      peer('new1', { firstRound: 8 }),
      peer('new2', { firstRound: 10 }),
    );
    const ctx = context(reg, { round: 10, settings: { slots: 1 }, random });
    for (let i = 0; i < runs; i++) {
      const { optimistic } = chooseUnchoked(ctx, true);
      counts.set(optimistic!, (counts.get(optimistic!) ?? 0) + 1);
    }
    const n = (k: string) => counts.get(k) ?? 0;
    expect(n('top')).toBe(0);
    const old = n('old1') + n('old2');
    const young = n('new1') + n('new2');
    expect(old + young).toBe(runs);
    // Expected 3:1 (a new peer 3/8 each, an old one 1/8). The PRNG is seeded, so this cannot flake;
    // the band is still ±10 %, some six standard deviations wide.
    expect(young / old).toBeGreaterThan(2.7);
    expect(young / old).toBeLessThan(3.3);
    for (const k of ['old1', 'old2']) expect(n(k) / runs).toBeCloseTo(1 / 8, 1);
    for (const k of ['new1', 'new2']) expect(n(k) / runs).toBeCloseTo(3 / 8, 1);
  });

  it('property: only eligible peers, at most slots + 1, no duplicates, the top slots by rate always in', () => {
    const arbPeer = fc.record({
      interested: fc.boolean(),
      snubbed: fc.boolean(),
      down: fc.integer({ min: 0, max: 4 }),
      up: fc.integer({ min: 0, max: 4 }),
      age: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(arbPeer, { maxLength: 9 }),
        fc.integer({ min: 0, max: 5 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 10 }),
        fc.integer(),
        fc.integer({ min: -1, max: 9 }),
        (peers, slots, seeding, rotate, round, seed, previous) => {
          const views = peers.map((p, i) =>
            peer(`p${i}`, { ...p, ...(p.age !== undefined && { firstRound: Math.max(0, round - p.age) }) }),
          );
          const reg = registryOf(...views);
          const optimistic = previous >= 0 && previous < views.length ? `p${previous}` : undefined;
          const r = chooseUnchoked(
            context(reg, { settings: { slots }, seeding: () => seeding, round, optimistic, random: prng(seed) }),
            rotate,
          );

          // Plain checks, not expect(): this body runs 10,000 times.
          const eligible = new Set(views.filter((v) => v.peerInterested && !v.snubbed).map((v) => v.key));
          const rate = (k: string) => (seeding ? (reg.get(k) as TestView).up : (reg.get(k) as TestView).down);
          check(new Set(r.keys).size === r.keys.length, 'duplicate keys');
          check(
            r.keys.every((k) => eligible.has(k)),
            'an uninterested or snubbed peer is unchoked',
          );
          check(r.keys.length === Math.min(eligible.size, slots + 1), 'not min(eligible, slots + 1) keys');
          check(
            r.optimistic === undefined ? eligible.size <= slots : r.keys.at(-1) === r.optimistic,
            'optimistic missing or misplaced',
          );
          // The top `slots` by rate are in (ties at the boundary aside): anyone strictly faster than
          // the slots-th best is unchoked, and the regular slots hold exactly the best rates.
          if (slots > 0 && eligible.size > slots) {
            const rates = [...eligible].map(rate).sort((x, y) => y - x);
            const bar = rates[slots - 1]!;
            check(
              [...eligible].every((k) => rate(k) <= bar || r.keys.includes(k)),
              'a top peer is choked',
            );
            check(
              r.keys.slice(0, slots).map(rate).join() === rates.slice(0, slots).join(),
              'the regular slots are not the best rates',
            );
          }
          // The optimistic unchoke holds between rotations and passes on at one (when it can).
          const regular = new Set(r.optimistic === undefined ? r.keys : r.keys.slice(0, -1));
          if (optimistic !== undefined && eligible.has(optimistic) && !regular.has(optimistic)) {
            if (!rotate) check(r.optimistic === optimistic, 'the optimistic unchoke changed without a rotation');
            else if (eligible.size > slots + 1)
              check(r.optimistic !== optimistic, 'a rotation kept the optimistic unchoke');
          }
          check(
            views.every((v) => typeof v.firstRound === 'number'),
            'a peer without firstRound',
          );
        },
      ),
      { ...propertyOptions, seed: 0x5eed },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The statechart, as a child of a parent that records its verdicts

function start(
  registry: Map<string, ChokeView>,
  o: { settings?: Partial<ChokerSettings>; seed?: number; seeding?: () => boolean } = {},
) {
  const clock = new SimulatedClock();
  const reports: string[][] = [];
  const parent = setup({
    types: { events: {} as ChokerReport },
    actors: { choker: chokerMachine },
  }).createMachine({
    invoke: {
      id: 'choker',
      src: 'choker',
      input: { registry, seeding: o.seeding ?? (() => false), settings: o.settings ?? {}, random: prng(o.seed ?? 1) },
    },
    on: { 'choker.unchoke': { actions: ({ event }) => void reports.push(event.keys) } },
  });
  const actor = createActor(parent, { clock });
  actor.start();
  const choker = actor.getSnapshot().children.choker as ActorRefFrom<typeof chokerMachine>;
  const emitted: string[][] = [];
  choker.on('choker.unchoke', (e) => void emitted.push(e.keys));
  started.push(actor);
  const ctx = () => choker.getSnapshot().context;
  return { clock, actor, choker, reports, emitted, ctx };
}

const started: { stop(): void }[] = [];
afterEach(() => {
  for (const a of started.splice(0)) a.stop();
});

describe('choker statechart', () => {
  it('rechokes at start and every rechoke interval, reporting to its parent and emitting', () => {
    const reg = registryOf(peer('a', { down: 2 }), peer('b', { down: 1 }));
    const { clock, reports, emitted, choker, actor } = start(reg);
    expect(reports).toEqual([['a', 'b']]);
    clock.increment(9_999);
    expect(reports).toHaveLength(1);
    clock.increment(1);
    expect(reports).toHaveLength(2);
    clock.increment(10_000);
    expect(reports).toHaveLength(3);
    // (One step per interval: SimulatedClock fires a timer set during a jump only once it is due.)
    clock.increment(10_000);
    clock.increment(10_000);
    expect(reports).toHaveLength(5);
    expect(choker.getSnapshot().context.round).toBe(5);
    // The first verdict went out before the test could subscribe; the rest were emitted too.
    expect(emitted).toEqual(reports.slice(1));
    // Stopping it stops the timer.
    actor.stop();
    clock.increment(100_000);
    expect(reports).toHaveLength(5);
  });

  it('honours a configured interval', () => {
    const { clock, reports } = start(registryOf(peer('a')), { settings: { rechokeIntervalMs: 1_000 } });
    clock.increment(999);
    expect(reports).toHaveLength(1);
    clock.increment(1);
    expect(reports).toHaveLength(2);
  });

  it('keeps the optimistic unchoke for three rounds and rotates it on the third', () => {
    const reg = registryOf(peer('fast', { down: 100 }), peer('b'), peer('c'), peer('d'), peer('e'), peer('f'));
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { clock, reports, ctx, actor } = start(reg, { settings: { slots: 1 }, seed });
      const optimistic: string[] = [];
      for (let round = 0; round < 12; round++) {
        if (round > 0) clock.increment(10_000);
        expect(reports).toHaveLength(round + 1);
        expect(reports[round]![0]).toBe('fast');
        expect(reports[round]!).toHaveLength(2);
        expect(reports[round]![1]).toBe(ctx().optimistic);
        optimistic.push(ctx().optimistic!);
      }
      for (let round = 1; round < 12; round++) {
        if (round % 3 === 0) expect(optimistic[round], `seed ${seed} round ${round}`).not.toBe(optimistic[round - 1]);
        else expect(optimistic[round], `seed ${seed} round ${round}`).toBe(optimistic[round - 1]);
      }
      actor.stop();
    }
  });

  it('a peer that becomes snubbed loses its slot at the next round', () => {
    const reg = registryOf(
      peer('a', { down: 50 }),
      peer('b', { down: 40 }),
      peer('c', { down: 30 }),
      peer('d', { down: 20 }),
      peer('e', { down: 10 }),
    );
    const { clock, reports } = start(reg, { settings: { slots: 2 } });
    expect(reports[0]!.slice(0, 2)).toEqual(['a', 'b']);
    reg.get('a')!.snubbed = true;
    expect(reports).toHaveLength(1); // nothing until the next round
    clock.increment(10_000);
    expect(reports[1]!).not.toContain('a');
    expect(reports[1]!.slice(0, 2)).toEqual(['b', 'c']);
    expect(reports[1]!).toHaveLength(3);
    // Delivering again (no longer snubbed) earns it back.
    reg.get('a')!.snubbed = false;
    clock.increment(10_000);
    expect(reports[2]!.slice(0, 2)).toEqual(['a', 'b']);
  });

  it('choker.fill unchokes a newly interested peer at once, keeping the others, and does nothing when full', () => {
    const reg = registryOf(
      peer('a', { down: 5 }),
      peer('b', { down: 3 }),
      peer('c', { interested: false }),
      peer('d', { interested: false }),
    );
    const { clock, reports, choker, ctx } = start(reg, { settings: { slots: 1 } });
    expect(reports).toEqual([['a', 'b']]); // a regular, b optimistic: slots + 1 = 2, all taken
    reg.get('c')!.peerInterested = true;
    choker.send({ type: 'choker.fill' });
    expect(reports).toHaveLength(1); // full: nothing changes, nobody is choked
    expect(ctx().unchoked).toEqual(['a', 'b']);

    // b loses interest: its slot is free for the next interested peer, without waiting for a round
    // (b, no longer in the verdict, is choked by the torrent; no interested peer is).
    reg.get('b')!.peerInterested = false;
    reg.get('d')!.peerInterested = true;
    choker.send({ type: 'choker.fill' });
    expect(reports).toHaveLength(2);
    expect(reports[1]![0]).toBe('a');
    expect(reports[1]!).toHaveLength(2);
    expect(['c', 'd']).toContain(reports[1]![1]);
    expect(ctx().unchoked).toEqual(reports[1]);
    expect(ctx().round).toBe(1); // a fill is not a round
    clock.increment(9_999);
    expect(reports).toHaveLength(2);
  });

  it('choker.fill with free slots adds the newly interested peer to those already unchoked', () => {
    const reg = registryOf(peer('a', { down: 1 }), peer('b', { down: 9 }), peer('c', { interested: false, down: 100 }));
    const { reports, choker, emitted } = start(reg);
    expect(sorted(reports[0]!)).toEqual(['a', 'b']);
    reg.get('c')!.peerInterested = true;
    choker.send({ type: 'choker.fill' });
    expect(reports).toHaveLength(2);
    expect(sorted(reports[1]!)).toEqual(['a', 'b', 'c']);
    expect(emitted).toEqual([reports[1]]);
    // A fill with nothing new to add reports nothing.
    choker.send({ type: 'choker.fill' });
    expect(reports).toHaveLength(2);
  });

  it('choker.fill never unchokes a snubbed peer', () => {
    const reg = registryOf(peer('a', { down: 1 }), peer('s', { interested: false, snubbed: true, down: 100 }));
    const { reports, choker } = start(reg);
    reg.get('s')!.peerInterested = true;
    choker.send({ type: 'choker.fill' });
    expect(reports).toEqual([['a']]);
  });

  it('rates changing between rounds change the regular set', () => {
    const reg = registryOf(
      peer('a', { down: 10 }),
      peer('b', { down: 9 }),
      peer('c', { down: 1 }),
      peer('d'),
      peer('e'),
    );
    const { clock, reports, ctx } = start(reg, { settings: { slots: 2 } });
    const regular = (i: number) => sorted(reports[i]!.filter((k) => k !== ctx().optimistic));
    expect(regular(0)).toEqual(['a', 'b']);
    (reg.get('c') as TestView).down = 20;
    (reg.get('b') as TestView).down = 0;
    clock.increment(10_000);
    expect(regular(1)).toEqual(['a', 'c']);
    expect(reports[1]!).toHaveLength(3);
  });

  it('ranks by our upload once the torrent is seeding', () => {
    let seeding = false;
    const reg = registryOf(peer('a', { down: 10, up: 0 }), peer('b', { down: 0, up: 10 }));
    const { clock, reports } = start(reg, { settings: { slots: 1 }, seeding: () => seeding });
    expect(reports[0]).toEqual(['a', 'b']);
    seeding = true;
    clock.increment(10_000);
    expect(reports[1]).toEqual(['b', 'a']);
  });

  it('new and departed peers are picked up at the next round', () => {
    const reg = registryOf(peer('a', { down: 1 }));
    const { clock, reports } = start(reg);
    reg.set('b', peer('b', { down: 2 }));
    reg.delete('a');
    clock.increment(10_000);
    expect(reports).toEqual([['a'], ['b']]);
    expect(reg.get('b')!.firstRound).toBe(1);
  });
});
