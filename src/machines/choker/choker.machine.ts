/**
 * The choker (BEP 3 tit-for-tat) as an actor. Every `rechokeInterval` (10 s) it asks its parent for the
 * peers (`choker.due`) and, given them (`choker.rechoke`), unchokes `slots` (4) interested peers plus one
 * optimistic unchoke, rotated every `optimisticRounds` (3) rounds (30 s) to the candidate that has waited
 * longest (never unchoked first). While we download the regular slots go to the best uploaders to us
 * (tit-for-tat); while we seed they go round robin: a peer keeps its slot for `optimisticRounds` rounds,
 * then the longest-waiting candidates take their turn. Snubbed peers lose their slot.
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
  /** Regular unchoke slots (plus one optimistic); 0 unchokes nobody at all. */
  slots: number;
  rechokeIntervalMs: number;
  /** Rounds between optimistic rotations, and the length of a seeding turn. */
  optimisticRounds: number;
}

export const defaultChokerSettings: ChokerSettings = {
  slots: 4,
  rechokeIntervalMs: 10_000,
  optimisticRounds: 3,
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
  /** For each peer of the last verdict, the round its current unchoked stretch began. */
  since: Record<string, number>;
  /** For each current peer unchoked before, the last round (or fill) whose verdict held it. */
  lastUnchoked: Record<string, number>;
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
  since: Record<string, number>;
  lastUnchoked: Record<string, number>;
}

/**
 * Ranks and picks: `slots` regular peers, then the optimistic unchoke (rotated when `rotate`, or when the
 * current one is no longer eligible) — the candidate outside the regular slots that has waited longest.
 * While downloading the regular slots are the best by rate (`downRate`); while seeding a peer of the last
 * verdict keeps its slot for `optimisticRounds` rounds (the best by `upRate` if too many), and the free
 * slots go to the longest-waiting candidates. "Waited longest": never unchoked before (first seen
 * earliest), then unchoked longest ago. Pure; exported for unit tests. The random draws (one tie-breaker
 * per eligible peer, in order) come from the context's generator state, whose next value is returned —
 * or from `draw`, which tests use to script them.
 */
export function chooseUnchoked(
  ctx: ChokerContext,
  peers: readonly ChokeCandidate[],
  seeding: boolean,
  rotate: boolean,
  draw?: () => number,
): ChokeChoice {
  const { slots, optimisticRounds } = ctx.settings;
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
  // No slots: nobody is unchoked, not even optimistically (BEP 6 peers still get their allowed-fast pieces).
  if (slots <= 0) return { keys: [], optimistic: undefined, rng, firstSeen, ...stretches(ctx, [], firstSeen) };
  const rate = (p: ChokeCandidate) => (seeding ? p.upRate : p.downRate);
  type Ranked = { p: ChokeCandidate; r: number; tie: number };
  const eligible: Ranked[] = peers
    .filter((p) => p.peerInterested && !p.snubbed)
    .map((p) => ({ p, r: rate(p), tie: random() }));
  const byRate = (a: Ranked, b: Ranked) => b.r - a.r || a.tie - b.tie;
  const last = (x: Ranked) => ctx.lastUnchoked[x.p.key] ?? -1;
  const byWait = (a: Ranked, b: Ranked) =>
    last(a) - last(b) || firstSeen[a.p.key]! - firstSeen[b.p.key]! || a.tie - b.tie;
  let ranked: ChokeCandidate[];
  if (!seeding) ranked = eligible.sort(byRate).map((x) => x.p);
  else {
    // Round robin: the peers whose turn is not over keep their slots, the longest waiting fill the rest.
    const inTurn = (x: Ranked) =>
      x.p.key !== ctx.optimistic &&
      ctx.unchoked.includes(x.p.key) &&
      ctx.since[x.p.key] !== undefined &&
      ctx.round - ctx.since[x.p.key]! < optimisticRounds;
    const holding = eligible.filter(inTurn).sort(byRate);
    const waiting = eligible.filter((x) => !inTurn(x)).sort(byWait);
    ranked = [...holding, ...waiting].map((x) => x.p);
  }
  const regular = ranked.slice(0, slots);
  const rest = ranked.slice(slots);
  let optimistic = ctx.optimistic;
  // Still holding: in the verdict in force (a fill drops a holder that stopped being a candidate) and
  // still a candidate outside the regular slots.
  const stillValid =
    optimistic !== undefined && ctx.unchoked.includes(optimistic) && rest.some((p) => p.key === optimistic);
  if (rotate || !stillValid) {
    // A rotation passes the slot on: the current holder is chosen again only if nobody else is left.
    const others = stillValid ? rest.filter((p) => p.key !== optimistic) : rest;
    const pool = others.length > 0 ? others : rest;
    const next = eligible.filter((x) => pool.includes(x.p)).sort(byWait)[0];
    optimistic = next?.p.key;
  }
  const keys = regular.map((p) => p.key);
  if (optimistic !== undefined) keys.push(optimistic);
  return { keys, optimistic, rng, firstSeen, ...stretches(ctx, keys, firstSeen) };
}

/** `since` and `lastUnchoked` after a verdict `keys` (peers no longer listed are forgotten). */
function stretches(
  ctx: ChokerContext,
  keys: readonly string[],
  listed: Record<string, number>,
): { since: Record<string, number>; lastUnchoked: Record<string, number> } {
  const since: Record<string, number> = {};
  for (const k of keys) since[k] = ctx.unchoked.includes(k) ? (ctx.since[k] ?? ctx.round) : ctx.round;
  const lastUnchoked: Record<string, number> = {};
  for (const k of Object.keys(ctx.lastUnchoked)) if (k in listed) lastUnchoked[k] = ctx.lastUnchoked[k]!;
  for (const k of keys) lastUnchoked[k] = ctx.round;
  return { since, lastUnchoked };
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
        since: c.since,
        lastUnchoked: c.lastUnchoked,
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
      enqueue.assign({ unchoked: keys, rng: c.rng, firstSeen: c.firstSeen, ...stretches(context, keys, c.firstSeen) });
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
    since: {},
    lastUnchoked: {},
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
