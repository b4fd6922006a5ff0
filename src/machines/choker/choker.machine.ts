/**
 * The choker (BEP 3 tit-for-tat) as an actor. Every `rechokeInterval` (10 s) it asks its parent for the
 * peers (`choker.due`) and, given them (`choker.rechoke`), unchokes the best `slots` (4) interested peers
 * by rate — their upload to us while we download, our upload to them while we seed — plus one
 * optimistic unchoke, rotated every `optimisticRounds` (3) rounds (30 s), in which newly seen peers are
 * three times as likely to be chosen. Snubbed peers lose their slot.
 *
 * Pure: the peers arrive as data in the events (the torrent keeps them from the peers' own reports),
 * and the randomness is a seeded generator state in context. The verdict goes to the parent as
 * `choker.unchoke` with the keys to unchoke; the torrent chokes every other peer. `choker.fill` (a peer
 * became interested) fills free slots at once without taking a slot from any interested peer (an
 * unchoked peer that has lost interest is left out of that verdict, so the torrent chokes it and its
 * slot is the one filled). See docs/machines/choker.md.
 */
import { enqueueActions, sendTo, setup, type AnyActorRef } from 'xstate';
import { nextRandom } from '../random.js';

export interface ChokerSettings {
  slots: number;
  rechokeIntervalMs: number;
  optimisticRounds: number;
  /** A peer first seen fewer rounds ago than this counts as new (3× the optimistic chance). */
  newRounds: number;
}

export const defaultChokerSettings: ChokerSettings = {
  slots: 4,
  rechokeIntervalMs: 10_000,
  optimisticRounds: 3,
  newRounds: 3,
};

/** What the choker is told of a connected peer (from the peer's `peer.state` and `peer.stats` reports). */
export interface ChokeCandidate {
  key: string;
  /** The peer is interested in our pieces. */
  peerInterested: boolean;
  snubbed: boolean;
  /** Bytes/s from the peer, and to the peer. */
  downRate: number;
  upRate: number;
}

export interface ChokerInput {
  /** The actor that receives `choker.due` and `choker.unchoke` (the torrent). */
  report: AnyActorRef;
  settings?: Partial<ChokerSettings>;
  /** Seed of the tie-breaks and the optimistic draw. */
  seed?: number;
}

export interface ChokerContext {
  report: AnyActorRef;
  settings: ChokerSettings;
  /** State of the seeded generator (see src/machines/random.ts). */
  rng: number;
  round: number;
  optimistic: string | undefined;
  /** The last verdict. */
  unchoked: string[];
  /** The round in which each current peer was first seen. */
  firstSeen: Record<string, number>;
}

export type ChokerEvent =
  | { type: 'choker.rechoke'; peers: ChokeCandidate[]; seeding: boolean }
  | { type: 'choker.fill'; peers: ChokeCandidate[]; seeding: boolean };

export type ChokerReport = { type: 'choker.due' } | { type: 'choker.unchoke'; keys: string[] };

export interface ChokeChoice {
  keys: string[];
  optimistic: string | undefined;
  rng: number;
  firstSeen: Record<string, number>;
}

/**
 * Ranks and picks: the best `slots` eligible peers by rate, then the optimistic unchoke (rotated when
 * `rotate`, or when the current one is no longer eligible). Pure; exported for unit tests. The random
 * draws (one tie-breaker per eligible peer in order, then the optimistic draw) come from the context's
 * generator state, whose next value is returned — or from `draw`, which tests use to script them.
 */
export function chooseUnchoked(
  ctx: ChokerContext,
  peers: readonly ChokeCandidate[],
  seeding: boolean,
  rotate: boolean,
  draw?: () => number,
): ChokeChoice {
  const { slots, newRounds } = ctx.settings;
  let rng = ctx.rng;
  const random =
    draw ??
    (() => {
      const [x, next] = nextRandom(rng);
      rng = next;
      return x;
    });
  const firstSeen: Record<string, number> = {};
  for (const p of peers) firstSeen[p.key] = ctx.firstSeen[p.key] ?? ctx.round;
  const rate = (p: ChokeCandidate) => (seeding ? p.upRate : p.downRate);
  const ranked = peers
    .filter((p) => p.peerInterested && !p.snubbed)
    .map((p) => ({ p, r: rate(p), tie: random() }))
    .sort((a, b) => b.r - a.r || a.tie - b.tie)
    .map((x) => x.p);
  const regular = ranked.slice(0, slots);
  const rest = ranked.slice(slots);
  let optimistic = ctx.optimistic;
  const stillValid = optimistic !== undefined && rest.some((p) => p.key === optimistic);
  if (rotate || !stillValid) {
    // A rotation passes the slot on: the current holder is drawn again only if nobody else is left
    // (otherwise it could keep the slot for several periods while others never get a turn).
    const others = stillValid ? rest.filter((p) => p.key !== optimistic) : rest;
    const pool = others.length > 0 ? others : rest;
    optimistic = undefined;
    const weights = pool.map((p) => (ctx.round - firstSeen[p.key]! < newRounds ? 3 : 1));
    const total = weights.reduce((a, b) => a + b, 0);
    let x = random() * total;
    for (let i = 0; i < pool.length; i++) {
      x -= weights[i]!;
      if (x < 0) {
        optimistic = pool[i]!.key;
        break;
      }
    }
  }
  const keys = regular.map((p) => p.key);
  if (optimistic !== undefined) keys.push(optimistic);
  return { keys, optimistic, rng, firstSeen };
}

export const chokerMachine = setup({
  types: {
    input: {} as ChokerInput,
    context: {} as ChokerContext,
    events: {} as ChokerEvent,
    emitted: {} as ChokerReport,
  },
  delays: {
    rechokeInterval: ({ context }) => context.settings.rechokeIntervalMs,
  },
  actions: {
    rechoke: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'choker.rechoke') return;
      const rotate = context.round % context.settings.optimisticRounds === 0;
      const c = chooseUnchoked(context, event.peers, event.seeding, rotate);
      enqueue.assign({
        round: context.round + 1,
        optimistic: c.optimistic,
        unchoked: c.keys,
        rng: c.rng,
        firstSeen: c.firstSeen,
      });
      enqueue.sendTo(context.report, { type: 'choker.unchoke', keys: c.keys } satisfies ChokerReport);
      enqueue.emit({ type: 'choker.unchoke', keys: c.keys });
    }),
    fill: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'choker.fill') return;
      // Keep everyone unchoked now who still may be (interested, not snubbed); add the best eligible peers
      // while slots are free.
      const eligible = new Set(event.peers.filter((p) => p.peerInterested && !p.snubbed).map((p) => p.key));
      const current = context.unchoked.filter((k) => eligible.has(k));
      const free = context.settings.slots + 1 - current.length;
      if (free <= 0) return;
      const c = chooseUnchoked({ ...context, optimistic: undefined }, event.peers, event.seeding, false);
      const added = c.keys.filter((k) => !current.includes(k)).slice(0, free);
      if (added.length === 0) return;
      const keys = [...current, ...added];
      enqueue.assign({ unchoked: keys, rng: c.rng, firstSeen: c.firstSeen });
      enqueue.sendTo(context.report, { type: 'choker.unchoke', keys } satisfies ChokerReport);
      enqueue.emit({ type: 'choker.unchoke', keys });
    }),
  },
}).createMachine({
  id: 'choker',
  context: ({ input }) => ({
    report: input.report,
    settings: { ...defaultChokerSettings, ...input.settings },
    rng: input.seed ?? 0,
    round: 0,
    optimistic: undefined,
    unchoked: [],
    firstSeen: {},
  }),
  initial: 'running',
  states: {
    running: {
      // Each round starts by asking the torrent for its peers.
      entry: sendTo(({ context }) => context.report, { type: 'choker.due' } satisfies ChokerReport),
      after: { rechokeInterval: { target: 'running', reenter: true } },
      on: {
        'choker.rechoke': { actions: 'rechoke' },
        'choker.fill': { actions: 'fill' },
      },
    },
  },
});

export type ChokerMachine = typeof chokerMachine;
