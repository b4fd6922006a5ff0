import fc from 'fast-check';
import {
  createActor,
  createMachine,
  enqueueActions,
  initialTransition,
  setup,
  SimulatedClock,
  transition,
  type ActorRefFrom,
  type AnyActorRef,
  type ExecutableActionObject,
} from 'xstate';
import { afterEach, describe, expect, it } from 'vitest';
import {
  chokerMachine,
  chooseUnchoked,
  defaultChokerSettings,
  type ChokeCandidate,
  type ChokeChoice,
  type ChokerContext,
  type ChokerEvent,
  type ChokerReport,
  type ChokerSettings,
} from '../../src/machines/choker/choker.machine.js';
import { nextRandom, randomFrom } from '../../src/machines/random.js';
import { propertyOptions } from '../support/fc.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** A candidate as the torrent would report it: interested, not snubbed and idle unless told otherwise. */
function peer(
  key: string,
  o: { interested?: boolean; snubbed?: boolean; down?: number; up?: number } = {},
): ChokeCandidate {
  return {
    key,
    peerInterested: o.interested ?? true,
    snubbed: o.snubbed ?? false,
    downRate: o.down ?? 0,
    upRate: o.up ?? 0,
  };
}

/** Changes a candidate in the test's list in place (the parent sends copies, so the choker never sees this). */
function patch(peers: ChokeCandidate[], key: string, changes: Partial<Omit<ChokeCandidate, 'key'>>): void {
  Object.assign(
    peers.find((p) => p.key === key)!,
    changes,
  );
}

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

/** Stands in for the torrent where nothing is sent (the pure ranking); never started. */
const nobody = createActor(createMachine({}));

function context(
  o: Partial<Omit<ChokerContext, 'settings'>> & { settings?: Partial<ChokerSettings> } = {},
): ChokerContext {
  return {
    report: nobody,
    rng: 0,
    round: 0,
    optimistic: undefined,
    unchoked: [],
    firstSeen: {},
    since: {},
    lastUnchoked: {},
    ...o,
    settings: { ...defaultChokerSettings, ...o.settings },
  };
}

/** The verdict part of a choice. */
const verdict = (c: ChokeChoice) => ({ keys: c.keys, optimistic: c.optimistic });

const sorted = (keys: string[]) => [...keys].sort();

/** The generator state `n` steps after `state`. */
function stepped(state: number, n: number): number {
  for (let i = 0; i < n; i++) state = nextRandom(state)[1];
  return state;
}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new Error(what);
}

// ---------------------------------------------------------------------------------------------
// The pure ranking

describe('chooseUnchoked', () => {
  it('ranks by their upload to us (downRate) while leeching', () => {
    const peers = [
      peer('a', { down: 10, up: 0 }),
      peer('b', { down: 50, up: 0 }),
      peer('c', { down: 30, up: 0 }),
      peer('d', { down: 40, up: 0 }),
      peer('e', { down: 20, up: 100 }),
      peer('f', { down: 5, up: 100 }),
    ];
    const r = chooseUnchoked(context(), peers, false, true);
    expect(r.keys.slice(0, 4)).toEqual(['b', 'd', 'c', 'e']);
    expect(r.keys).toHaveLength(5);
    expect(['a', 'f']).toContain(r.optimistic);
    expect(r.keys[4]).toBe(r.optimistic);
  });

  it('while seeding, goes round robin: a turn of optimisticRounds rounds, then the longest waiting', () => {
    const peers = [
      peer('a', { down: 100, up: 1 }),
      peer('b', { down: 90, up: 7 }),
      peer('c', { down: 80, up: 3 }),
      peer('d', { down: 0, up: 9 }),
      peer('e', { down: 0, up: 5 }),
      peer('f', { up: 2 }),
    ];
    // Nobody unchoked yet, all first seen now: the order is the draw (a–f in order with these draws).
    const first = chooseUnchoked(
      context({ settings: { slots: 2 } }),
      peers,
      true,
      true,
      sequence([0, 0.1, 0.2, 0.3, 0.4, 0.5]),
    );
    expect(verdict(first)).toEqual({ keys: ['a', 'b', 'c'], optimistic: 'c' });
    // Round 2: a and b hold since round 0 (their turn is not over), the fastest first; c is optimistic.
    const held = context({
      round: 2,
      settings: { slots: 2 },
      unchoked: ['a', 'b', 'c'],
      optimistic: 'c',
      since: { a: 0, b: 0, c: 0 },
      lastUnchoked: { a: 1, b: 1, c: 1 },
      firstSeen: { a: 0, b: 0, c: 0, d: 0, e: 0, f: 0 },
    });
    expect(chooseUnchoked(held, peers, true, false, sequence([])).keys).toEqual(['b', 'a', 'c']);
    // Round 3: their turn is over. The two never unchoked (d, e, first seen earliest; f later) take the
    // regular slots, and the optimistic rotation goes to f (never unchoked) before a, b, c.
    const turn = { ...held, round: 3, firstSeen: { ...held.firstSeen, f: 2 } };
    expect(verdict(chooseUnchoked(turn, peers, true, true, sequence([])))).toEqual({
      keys: ['d', 'e', 'f'],
      optimistic: 'f',
    });
    // Three holders in turn for two slots: the fastest two keep theirs.
    const crowded = { ...held, optimistic: undefined };
    expect(chooseUnchoked(crowded, peers, true, false, sequence([])).keys.slice(0, 2)).toEqual(['b', 'c']);
    // since and lastUnchoked: a stretch continues, a new one starts now; everyone in the verdict is stamped.
    const r = chooseUnchoked(turn, peers, true, true, sequence([]));
    expect(r.since).toEqual({ d: 3, e: 3, f: 3 });
    expect(r.lastUnchoked).toEqual({ a: 1, b: 1, c: 1, d: 3, e: 3, f: 3 });
    expect(chooseUnchoked(held, peers, true, false, sequence([])).since).toEqual({ a: 0, b: 0, c: 0 });
  });

  it('breaks ties with the scripted draws', () => {
    const peers = [peer('a', { down: 5 }), peer('b', { down: 5 }), peer('c', { down: 5 }), peer('d', { down: 9 })];
    const ctx = context({ settings: { slots: 2 } });
    // One tie-breaker per candidate in the given order (a, b, c, d); the smallest wins among equals.
    const first = chooseUnchoked(ctx, peers, false, true, sequence([0.9, 0.1, 0.5, 0.7], 0));
    expect(first.keys.slice(0, 2)).toEqual(['d', 'b']);
    const second = chooseUnchoked(ctx, peers, false, true, sequence([0.2, 0.8, 0.1, 0.7], 0));
    expect(second.keys.slice(0, 2)).toEqual(['d', 'c']);
  });

  it('without scripted draws, draws from the context generator and returns its next state', () => {
    const peers = [peer('a'), peer('b'), peer('c'), peer('d')];
    const ctx = context({ rng: 1234, settings: { slots: 1 } });
    const r = chooseUnchoked(ctx, peers, false, true);
    // The same draws scripted from the same state give the same verdict.
    const scripted = chooseUnchoked(ctx, peers, false, true, randomFrom(1234));
    expect(verdict(r)).toEqual(verdict(scripted));
    // Four tie-breakers (the optimistic choice draws nothing): four steps on. Scripted draws leave it alone.
    expect(r.rng).toBe(stepped(1234, 4));
    expect(scripted.rng).toBe(1234);
    // Pure: the same context gives the same choice, and is left as it was.
    expect(chooseUnchoked(ctx, peers, false, true)).toEqual(r);
    expect(ctx.rng).toBe(1234);
    // No rotation and the optimistic unchoke still eligible: only the four tie-breakers.
    const kept = chooseUnchoked({ ...ctx, optimistic: r.optimistic, unchoked: r.keys }, peers, false, false);
    expect(kept.optimistic).toBe(r.optimistic);
    expect(kept.rng).toBe(stepped(1234, 4));
    // Threading the state through gives fresh tie-breaks: equal peers take turns.
    let c = ctx;
    const regulars = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const next = chooseUnchoked(c, peers, false, true);
      regulars.add(next.keys[0]!);
      c = { ...c, rng: next.rng };
    }
    expect(sorted([...regulars])).toEqual(['a', 'b', 'c', 'd']);
  });

  it('never unchokes snubbed or uninterested peers, even optimistically', () => {
    const peers = [
      peer('fast-snub', { down: 1000, snubbed: true }),
      peer('fast-bored', { down: 900, interested: false }),
      peer('a', { down: 3 }),
      peer('b', { down: 2 }),
      peer('c', { down: 1 }),
    ];
    for (let seed = 0; seed < 50; seed++) {
      const r = chooseUnchoked(context({ settings: { slots: 1 } }), peers, false, true, prng(seed));
      expect(r.keys).not.toContain('fast-snub');
      expect(r.keys).not.toContain('fast-bored');
      expect(r.keys[0]).toBe('a');
      expect(['b', 'c']).toContain(r.optimistic);
    }
  });

  it('chooses the optimistic unchoke only among peers outside the regular slots', () => {
    const peers = [peer('a', { down: 4 }), peer('b', { down: 3 }), peer('c', { down: 2 }), peer('d', { down: 1 })];
    for (let seed = 0; seed < 50; seed++) {
      const r = chooseUnchoked(context({ settings: { slots: 2 } }), peers, false, true, prng(seed));
      expect(r.keys.slice(0, 2)).toEqual(['a', 'b']);
      expect(['c', 'd']).toContain(r.optimistic);
    }
  });

  it('unchokes everyone, with no optimistic, when there are no more candidates than slots', () => {
    const peers = [peer('a', { down: 1 }), peer('b'), peer('c', { interested: false }), peer('d', { snubbed: true })];
    const r = chooseUnchoked(context(), peers, false, true);
    expect(sorted(r.keys)).toEqual(['a', 'b']);
    expect(r.optimistic).toBeUndefined();
    // Exactly slots + 1 candidates: the last one is the optimistic unchoke.
    const five = [
      peer('a', { down: 5 }),
      peer('b', { down: 4 }),
      peer('c', { down: 3 }),
      peer('d', { down: 2 }),
      peer('e', { down: 1 }),
    ];
    expect(verdict(chooseUnchoked(context(), five, false, true))).toEqual({
      keys: ['a', 'b', 'c', 'd', 'e'],
      optimistic: 'e',
    });
    expect(verdict(chooseUnchoked(context(), [], false, true))).toEqual({ keys: [], optimistic: undefined });
  });

  it('with slots 0 unchokes nobody, not even optimistically, leeching or seeding', () => {
    const peers = [peer('a', { down: 5, up: 5 }), peer('b')];
    for (const seeding of [false, true])
      expect(verdict(chooseUnchoked(context({ settings: { slots: 0 } }), peers, seeding, true))).toEqual({
        keys: [],
        optimistic: undefined,
      });
  });

  it('keeps the optimistic unchoke between rotations while it stays eligible', () => {
    const peers = [peer('a', { down: 9 }), peer('b'), peer('c'), peer('d')];
    const ctx = context({ settings: { slots: 1 }, optimistic: 'c', unchoked: ['a', 'c'] });
    expect(verdict(chooseUnchoked(ctx, peers, false, false, prng(1)))).toEqual({ keys: ['a', 'c'], optimistic: 'c' });
    // No longer eligible (it lost interest): a new one is drawn even without rotation.
    patch(peers, 'c', { peerInterested: false });
    expect(['b', 'd']).toContain(chooseUnchoked(ctx, peers, false, false, prng(1)).optimistic);
    // Promoted to a regular slot: likewise.
    patch(peers, 'c', { peerInterested: true, downRate: 100 });
    const t = chooseUnchoked(ctx, peers, false, false, prng(1));
    expect(t.keys[0]).toBe('c');
    expect(['a', 'b', 'd']).toContain(t.optimistic);
    // Gone altogether: likewise.
    const u = chooseUnchoked(ctx, [peer('a', { down: 9 }), peer('b'), peer('d')], false, false, prng(1));
    expect(['b', 'd']).toContain(u.optimistic);
    // Dropped from the verdict in force (a fill left it out): not holding any more, a new one is chosen.
    const dropped = { ...ctx, unchoked: ['a'] };
    expect(
      chooseUnchoked(dropped, [peer('a', { down: 9 }), peer('b'), peer('c')], false, false, sequence([0, 0, 0.5]))
        .optimistic,
    ).toBe('b');
  });

  it('a rotation moves the optimistic unchoke to another peer when there is one', () => {
    const ctx = context({ settings: { slots: 1 }, optimistic: 'b', unchoked: ['a', 'b'] });
    for (let seed = 0; seed < 200; seed++) {
      const r = chooseUnchoked(ctx, [peer('a', { down: 9 }), peer('b'), peer('c')], false, true, prng(seed));
      expect(r.optimistic).toBe('c');
    }
    // The only one left keeps it.
    expect(chooseUnchoked(ctx, [peer('a', { down: 9 }), peer('b')], false, true).optimistic).toBe('b');
  });

  it('records the round in which it first saw each peer, and forgets departed peers', () => {
    const peers = [peer('a'), peer('b', { interested: false }), peer('c')];
    const ctx = context({ round: 7, firstSeen: { c: 2, gone: 1 } });
    expect(chooseUnchoked(ctx, peers, false, true).firstSeen).toEqual({ a: 7, b: 7, c: 2 });
    expect(ctx.firstSeen).toEqual({ c: 2, gone: 1 }); // a new record, not a mutation
  });

  it('gives the optimistic unchoke to the longest waiting: never unchoked first, then unchoked longest ago', () => {
    const peers = [peer('top', { down: 9 }), peer('was2'), peer('was5'), peer('never8'), peer('never6')];
    const ctx = context({
      round: 10,
      settings: { slots: 1 },
      firstSeen: { top: 0, was2: 0, was5: 0, never8: 8, never6: 6 },
      lastUnchoked: { top: 9, was2: 2, was5: 5 },
    });
    const order: string[] = [];
    let c = ctx;
    for (let i = 0; i < 4; i++) {
      const r = chooseUnchoked(c, peers, false, true);
      order.push(r.optimistic!);
      const { keys, ...rest } = r;
      c = { ...c, ...rest, round: c.round + 1, unchoked: keys };
    }
    // Each rotation serves the longest waiting of the others: nobody waits more than one lap.
    expect(order).toEqual(['never6', 'never8', 'was2', 'was5']);
    // A peer never seen before is first seen now: after the earlier never-unchoked ones, before the rest.
    const fresh = [...peers, peer('unseen')];
    expect(
      chooseUnchoked({ ...ctx, firstSeen: { ...ctx.firstSeen, never6: 11, never8: 12 } }, fresh, false, true)
        .optimistic,
    ).toBe('unseen');
    // Equal waits: the tie-breaker draws decide (smallest wins), so equal peers take turns.
    const twins = [peer('top', { down: 9 }), peer('x'), peer('y')];
    expect(
      chooseUnchoked(context({ settings: { slots: 1 } }), twins, false, true, sequence([0, 0.9, 0.1])).optimistic,
    ).toBe('y');
    expect(
      chooseUnchoked(context({ settings: { slots: 1 } }), twins, false, true, sequence([0, 0.1, 0.9])).optimistic,
    ).toBe('x');
  });

  it('property: only eligible peers, at most slots + 1, no duplicates, top rates (downloading), turns and queue (seeding)', () => {
    const arbPeer = fc.record({
      interested: fc.boolean(),
      snubbed: fc.boolean(),
      down: fc.integer({ min: 0, max: 4 }),
      up: fc.integer({ min: 0, max: 4 }),
      age: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
      // In the verdict in force, for this many rounds; else unchoked this many rounds ago (or never).
      held: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
      ago: fc.option(fc.integer({ min: 2, max: 9 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(arbPeer, { maxLength: 9 }),
        // slots 0 (nobody unchoked) has its own test.
        fc.integer({ min: 1, max: 5 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 10 }),
        fc.integer(),
        fc.integer({ min: -1, max: 9 }),
        fc.boolean(),
        (arbs, slots, seeding, rotate, round, seed, previous, scripted) => {
          const peers = arbs.map((p, i) => Object.freeze(peer(`p${i}`, p)));
          const firstSeen: Record<string, number> = {};
          arbs.forEach((p, i) => {
            if (p.age !== undefined) firstSeen[`p${i}`] = Math.max(0, round - p.age);
          });
          const optimistic = previous >= 0 && previous < peers.length ? `p${previous}` : undefined;
          // A context as rounds leave it: the verdict in force was stamped last round.
          const unchoked: string[] = [];
          const since: Record<string, number> = {};
          const lastUnchoked: Record<string, number> = {};
          arbs.forEach((p, i) => {
            const k = `p${i}`;
            if (p.held !== undefined || k === optimistic) {
              unchoked.push(k);
              since[k] = Math.max(0, round - (p.held ?? 1));
              lastUnchoked[k] = round - 1;
            } else if (p.ago !== undefined) lastUnchoked[k] = Math.max(0, round - p.ago);
          });
          // Frozen throughout: any mutation of the inputs throws (test modules run in strict mode).
          const ctx = Object.freeze(
            context({
              settings: { slots },
              round,
              optimistic,
              rng: seed,
              firstSeen: Object.freeze(firstSeen),
              unchoked: Object.freeze(unchoked) as string[],
              since: Object.freeze(since),
              lastUnchoked: Object.freeze(lastUnchoked),
            }),
          );
          Object.freeze(ctx.settings);
          const r = chooseUnchoked(ctx, Object.freeze(peers), seeding, rotate, scripted ? prng(seed) : undefined);

          // Plain checks, not expect(): this body runs 10,000 times.
          const byKey = new Map(peers.map((p) => [p.key, p]));
          const eligible = new Set(peers.filter((p) => p.peerInterested && !p.snubbed).map((p) => p.key));
          const rate = (k: string) => (seeding ? byKey.get(k)!.upRate : byKey.get(k)!.downRate);
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
          if (!seeding && slots > 0 && eligible.size > slots) {
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
          // Seeding: a regular peer whose turn is not over keeps its slot (when they fit), and nobody newly
          // unchoked jumps a candidate left out that waited longer (never unchoked first, then longest ago).
          const wait = (k: string) => [lastUnchoked[k] ?? -1, firstSeen[k] ?? round] as const;
          const waitedLonger = (a: string, b: string) => {
            const [x, y] = [wait(a), wait(b)];
            return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
          };
          const added = r.keys.filter((k) => !unchoked.includes(k));
          const out = [...eligible].filter((k) => !r.keys.includes(k) && !unchoked.includes(k));
          if (seeding) {
            const inTurn = [...eligible].filter(
              (k) =>
                k !== optimistic && unchoked.includes(k) && round - since[k]! < defaultChokerSettings.optimisticRounds,
            );
            if (inTurn.length <= slots)
              check(
                inTurn.every((k) => r.keys.includes(k)),
                'a turn was cut short',
              );
            for (const n of added) check(!out.some((c) => waitedLonger(c, n)), 'a seeding slot jumped the queue');
          } else if (r.optimistic !== undefined && added.includes(r.optimistic))
            check(!out.some((c) => waitedLonger(c, r.optimistic!)), 'the optimistic unchoke jumped the queue');
          // The optimistic unchoke holds between rotations and passes on at one (when it can).
          const regular = new Set(r.optimistic === undefined ? r.keys : r.keys.slice(0, -1));
          if (optimistic !== undefined && eligible.has(optimistic) && !regular.has(optimistic)) {
            if (!rotate) check(r.optimistic === optimistic, 'the optimistic unchoke changed without a rotation');
            else if (eligible.size > slots + 1)
              check(r.optimistic !== optimistic, 'a rotation kept the optimistic unchoke');
          }
          // Every current peer, and only those, has a first-seen round: the recorded one, else this one.
          check(
            Object.keys(r.firstSeen).length === peers.length &&
              peers.every((p) => r.firstSeen[p.key] === (firstSeen[p.key] ?? round)),
            'first-seen rounds wrong',
          );
          // Scripted draws leave the generator alone; its own draws make the choice a function of the context.
          if (scripted) check(r.rng === seed, 'scripted draws moved the generator state');
          else
            check(
              JSON.stringify(chooseUnchoked(ctx, peers, seeding, rotate)) === JSON.stringify(r),
              'the same context gave another choice',
            );
        },
      ),
      { ...propertyOptions, seed: 0x5eed },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// The statechart, as a child of a parent that answers its calls and records its verdicts

/** The torrent's side, as the test sets it between rounds. */
interface World {
  peers: ChokeCandidate[];
  seeding: boolean;
  /** The parent answers `choker.due` with the peers (false: it ignores the call). */
  answering: boolean;
}

function start(
  peers: ChokeCandidate[],
  o: { settings?: Partial<ChokerSettings>; seed?: number; seeding?: boolean; answering?: boolean } = {},
) {
  const world: World = { peers, seeding: o.seeding ?? false, answering: o.answering ?? true };
  const clock = new SimulatedClock();
  const reports: string[][] = [];
  /** Every report the parent received, in order. */
  const log: ChokerReport['type'][] = [];
  const parent = setup({
    types: { events: {} as ChokerReport },
    actors: { choker: chokerMachine },
  }).createMachine({
    invoke: {
      id: 'choker',
      src: 'choker',
      input: ({ self }) => ({
        report: self,
        settings: o.settings ?? {},
        ...(o.seed !== undefined && { seed: o.seed }),
      }),
    },
    on: {
      'choker.due': {
        actions: enqueueActions(({ enqueue }) => {
          log.push('choker.due');
          if (!world.answering) return;
          // Copies, as the torrent's own reports would be: the test may change its list afterwards.
          const answer: ChokerEvent = {
            type: 'choker.rechoke',
            peers: world.peers.map((p) => ({ ...p })),
            seeding: world.seeding,
          };
          enqueue.sendTo('choker', answer);
        }),
      },
      'choker.unchoke': {
        actions: ({ event }) => {
          log.push('choker.unchoke');
          reports.push(event.keys);
        },
      },
    },
  });
  const actor = createActor(parent, { clock });
  actor.start();
  const choker = actor.getSnapshot().children.choker as ActorRefFrom<typeof chokerMachine>;
  const emitted: string[][] = [];
  choker.on('choker.unchoke', (e) => void emitted.push(e.keys));
  started.push(actor);
  const ctx = () => choker.getSnapshot().context;
  /** A peer became interested: the torrent sends the choker `choker.fill` with the peers now. */
  const fill = () =>
    choker.send({ type: 'choker.fill', peers: world.peers.map((p) => ({ ...p })), seeding: world.seeding });
  return { clock, actor, choker, reports, emitted, log, ctx, fill, world };
}

const started: { stop(): void }[] = [];
afterEach(() => {
  for (const a of started.splice(0)) a.stop();
});

/** Actions as types and params, with the actor a `sendTo` goes to named rather than compared as an object. */
const described = (actions: readonly ExecutableActionObject[], report: AnyActorRef) =>
  actions.map(({ type, params }) => {
    const p = { ...(params as Record<string, unknown>) };
    if ('to' in p) p.to = p.to === report ? 'report' : 'another actor';
    return { type, params: p };
  });

/** A context without its `report` ref (an actor, not data), to compare and to clone. */
const data = ({ report: _, ...rest }: ChokerContext) => rest;

describe('choker statechart', () => {
  it('rechokes at start and every rechoke interval, asking its parent first, reporting and emitting', () => {
    const { clock, reports, emitted, log, choker, actor } = start([peer('a', { down: 2 }), peer('b', { down: 1 })]);
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
    // Each round: the call for peers, then (given them) the verdict.
    expect(log).toEqual(Array.from({ length: 5 }, () => ['choker.due', 'choker.unchoke']).flat());
    // The first verdict went out before the test could subscribe; the rest were emitted too.
    expect(emitted).toEqual(reports.slice(1));
    // Stopping it stops the timer.
    actor.stop();
    clock.increment(100_000);
    expect(reports).toHaveLength(5);
    expect(log).toHaveLength(10);
  });

  it('ranks only when the parent answers: a round is a call for peers and the answer', () => {
    const { clock, reports, log, ctx, world } = start([peer('a', { down: 1 })], { answering: false });
    clock.increment(10_000);
    expect(log).toEqual(['choker.due', 'choker.due']);
    expect(reports).toEqual([]);
    expect(ctx().round).toBe(0);
    expect(ctx().unchoked).toEqual([]);
    world.answering = true;
    clock.increment(10_000);
    expect(reports).toEqual([['a']]);
    expect(ctx().round).toBe(1);
  });

  it('honours a configured interval', () => {
    const { clock, reports } = start([peer('a')], { settings: { rechokeIntervalMs: 1_000 } });
    clock.increment(999);
    expect(reports).toHaveLength(1);
    clock.increment(1);
    expect(reports).toHaveLength(2);
  });

  it('keeps the optimistic unchoke for three rounds and rotates it on the third', () => {
    const peers = [peer('fast', { down: 100 }), peer('b'), peer('c'), peer('d'), peer('e'), peer('f')];
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { clock, reports, ctx, actor } = start(peers, { settings: { slots: 1 }, seed });
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
    const peers = [
      peer('a', { down: 50 }),
      peer('b', { down: 40 }),
      peer('c', { down: 30 }),
      peer('d', { down: 20 }),
      peer('e', { down: 10 }),
    ];
    const { clock, reports } = start(peers, { settings: { slots: 2 } });
    expect(reports[0]!.slice(0, 2)).toEqual(['a', 'b']);
    patch(peers, 'a', { snubbed: true });
    expect(reports).toHaveLength(1); // nothing until the next round
    clock.increment(10_000);
    expect(reports[1]!).not.toContain('a');
    expect(reports[1]!.slice(0, 2)).toEqual(['b', 'c']);
    expect(reports[1]!).toHaveLength(3);
    // Delivering again (no longer snubbed) earns it back.
    patch(peers, 'a', { snubbed: false });
    clock.increment(10_000);
    expect(reports[2]!.slice(0, 2)).toEqual(['a', 'b']);
  });

  it('choker.fill unchokes a newly interested peer at once, keeping the others, and does nothing when full', () => {
    const peers = [
      peer('a', { down: 5 }),
      peer('b', { down: 3 }),
      peer('c', { interested: false }),
      peer('d', { interested: false }),
    ];
    const { clock, reports, ctx, fill } = start(peers, { settings: { slots: 1 } });
    expect(reports).toEqual([['a', 'b']]); // a regular, b optimistic: slots + 1 = 2, all taken
    patch(peers, 'c', { peerInterested: true });
    fill();
    expect(reports).toHaveLength(1); // full: nothing changes, nobody is choked
    expect(ctx().unchoked).toEqual(['a', 'b']);

    // b loses interest: its slot is free for the next interested peer, without waiting for a round
    // (b, no longer in the verdict, is choked by the torrent; no interested peer is).
    patch(peers, 'b', { peerInterested: false });
    patch(peers, 'd', { peerInterested: true });
    fill();
    expect(reports).toHaveLength(2);
    expect(reports[1]![0]).toBe('a');
    expect(reports[1]!).toHaveLength(2);
    expect(['c', 'd']).toContain(reports[1]![1]);
    expect(ctx().unchoked).toEqual(reports[1]);
    // A fill is not a round: the counter and the optimistic holder stay.
    expect(ctx().round).toBe(1);
    expect(ctx().optimistic).toBe('b');
    clock.increment(9_999);
    expect(reports).toHaveLength(2);
  });

  it('choker.fill with free slots adds the newly interested peer to those already unchoked', () => {
    const peers = [peer('a', { down: 1 }), peer('b', { down: 9 }), peer('c', { interested: false, down: 100 })];
    const { reports, emitted, ctx, fill } = start(peers);
    expect(sorted(reports[0]!)).toEqual(['a', 'b']);
    patch(peers, 'c', { peerInterested: true });
    fill();
    expect(reports).toHaveLength(2);
    expect(sorted(reports[1]!)).toEqual(['a', 'b', 'c']);
    expect(emitted).toEqual([reports[1]]);
    // A peer first seen at a fill is first seen in the round under way.
    expect(ctx().firstSeen).toEqual({ a: 0, b: 0, c: 0 });
    peers.push(peer('n'));
    fill();
    expect(sorted(reports[2]!)).toEqual(['a', 'b', 'c', 'n']);
    expect(ctx().firstSeen).toEqual({ a: 0, b: 0, c: 0, n: 1 });
    // A fill with nothing new to add reports nothing.
    fill();
    expect(reports).toHaveLength(3);
  });

  it('choker.fill never unchokes a snubbed peer', () => {
    const peers = [peer('a', { down: 1 }), peer('s', { interested: false, snubbed: true, down: 100 })];
    const { reports, fill } = start(peers);
    patch(peers, 's', { peerInterested: true });
    fill();
    expect(reports).toEqual([['a']]);
  });

  it('rates changing between rounds change the regular set', () => {
    const peers = [peer('a', { down: 10 }), peer('b', { down: 9 }), peer('c', { down: 1 }), peer('d'), peer('e')];
    const { clock, reports, ctx } = start(peers, { settings: { slots: 2 } });
    const regular = (i: number) => sorted(reports[i]!.filter((k) => k !== ctx().optimistic));
    expect(regular(0)).toEqual(['a', 'b']);
    patch(peers, 'c', { downRate: 20 });
    patch(peers, 'b', { downRate: 0 });
    clock.increment(10_000);
    expect(regular(1)).toEqual(['a', 'c']);
    expect(reports[1]!).toHaveLength(3);
  });

  it('goes round robin once the torrent is seeding: nobody holds a regular slot for more than a turn', () => {
    const peers = [peer('a', { down: 10 }), peer('b', { up: 10 }), peer('c', { up: 5 }), peer('d', { up: 1 })];
    const { clock, reports, world } = start(peers, { settings: { slots: 1 } });
    expect(reports[0]![0]).toBe('a'); // downloading: a gives the most, so it keeps the regular slot
    world.seeding = true;
    for (let round = 1; round <= 12; round++) clock.increment(10_000);
    const regulars = reports.slice(1).map((keys) => keys[0]!);
    // The regular slot changes hands (b, the fastest downloader, would take it for good by rate alone).
    expect(new Set(regulars).size).toBeGreaterThan(1);
    // A turn is 3 rounds: a holder keeps the slot at most 3 rounds in a row (a's turn began at round 0).
    let run = 1;
    for (let i = 1; i < regulars.length; i++) {
      run = regulars[i] === regulars[i - 1] ? run + 1 : 1;
      expect(run, regulars.join()).toBeLessThanOrEqual(3);
    }
    // Everyone is unchoked (regular or optimistic) at least once in every 2 turns (6 rounds).
    for (let i = 0; i + 6 <= reports.length; i++)
      expect(sorted([...new Set(reports.slice(i, i + 6).flat())])).toEqual(['a', 'b', 'c', 'd']);
  });

  it('new and departed peers are picked up at the next round', () => {
    const peers = [peer('a', { down: 1 })];
    const { clock, reports, ctx } = start(peers);
    peers.push(peer('b', { down: 2 }));
    peers.splice(0, 1); // a leaves
    clock.increment(10_000);
    expect(reports).toEqual([['a'], ['b']]);
    expect(ctx().firstSeen).toEqual({ b: 1 });
    // a comes back: a new peer again, first seen now.
    peers.push(peer('a', { down: 1 }));
    clock.increment(10_000);
    expect(reports[2]).toEqual(['b', 'a']);
    expect(ctx().firstSeen).toEqual({ b: 1, a: 2 });
  });

  it('is deterministic: the same seed gives the same verdicts over 20 rounds', () => {
    const run = (seed: number | undefined) => {
      // Eight equal peers, so the tie-breaks and the optimistic draws decide every verdict.
      const peers = Array.from({ length: 8 }, (_, i) => peer(`p${i}`));
      const { clock, reports, ctx, fill } = start(peers, { ...(seed !== undefined && { seed }) });
      for (let round = 1; round < 20; round++) {
        if (round === 7) patch(peers, 'p3', { downRate: 50 });
        if (round === 12) {
          peers.push(peer('late', { interested: false }));
          peers.splice(0, 1);
        }
        if (round === 15) {
          patch(peers, 'late', { peerInterested: true });
          patch(peers, 'p5', { peerInterested: false });
          fill();
        }
        clock.increment(10_000);
      }
      return { reports, context: data(ctx()) };
    };
    const a = run(42);
    expect(a.reports).toHaveLength(21); // 20 rounds and a fill
    expect(a.context.round).toBe(20);
    expect(run(42)).toEqual(a);
    // Another seed may choose otherwise (and here does): the draws come from the seed, not Math.random.
    expect(run(43).reports).not.toEqual(a.reports);
    // No seed: seed 0, just as reproducible.
    expect(run(undefined)).toEqual(run(0));
  });

  it('is pure: the same snapshot and event give the same next context and actions (the rng is in context)', () => {
    const peers = Array.from({ length: 7 }, (_, i) => peer(`p${i}`, { down: i % 3 }));
    const { choker, clock, actor, reports } = start(peers, { seed: 99 });
    clock.increment(10_000); // round 2, so the snapshot has a history (firstSeen, optimistic, rng moved on)
    const snapshot = choker.getSnapshot();
    const before = structuredClone(data(snapshot.context));
    const others = peers.filter((p) => p.key !== snapshot.context.optimistic);
    const events: ChokerEvent[] = [
      { type: 'choker.rechoke', peers, seeding: false },
      { type: 'choker.rechoke', peers, seeding: true },
      // The optimistic peer left and a new one came: a free place to fill.
      { type: 'choker.fill', peers: [...others, peer('x')], seeding: false },
    ];
    for (const event of events) {
      const [one, oneActions] = transition(chokerMachine, snapshot, event);
      const [two, twoActions] = transition(chokerMachine, snapshot, event);
      expect(two.context, event.type).toEqual(one.context);
      expect(described(twoActions, actor), event.type).toEqual(described(oneActions, actor));
      // Something happened (the verdict went to the torrent and out as an event), and the rng moved on.
      const actions = described(oneActions, actor);
      expect(
        actions.map((a) => a.type),
        event.type,
      ).toEqual(['xstate.sendTo', 'xstate.emit']);
      expect(actions[0]!.params.to, event.type).toBe('report');
      expect(actions[0]!.params.event, event.type).toEqual({ type: 'choker.unchoke', keys: one.context.unchoked });
      expect(one.context.rng, event.type).not.toBe(snapshot.context.rng);
    }
    // Nothing was sent or changed: the snapshot stepped from is untouched.
    expect(reports).toHaveLength(2);
    expect(data(snapshot.context)).toEqual(before);
    // The live actor, given the same event, lands on the same context as the pure step.
    const [next] = transition(chokerMachine, snapshot, events[0]!);
    choker.send(events[0]!);
    expect(choker.getSnapshot().context).toEqual(next.context);
    expect(reports).toHaveLength(3);
    // The start is pure too: the first call for peers and the round's timer.
    const start0 = () => initialTransition(chokerMachine, { report: actor, seed: 5 });
    const [s0, a0] = start0();
    const [t0, b0] = start0();
    expect(t0.context).toEqual(s0.context);
    expect(described(b0, actor)).toEqual(described(a0, actor));
    expect(described(a0, actor).map((a) => a.type)).toEqual(['xstate.sendTo', 'xstate.raise']);
    expect(described(a0, actor)[0]!.params.event).toEqual({ type: 'choker.due' });
  });
});
