/**
 * The choker (BEP 3 tit-for-tat) as an actor. Every `rechokeInterval` (10 s) it unchokes the best
 * `slots` (4) interested peers by rate — their upload to us while we download, our upload to them
 * while we seed — plus one optimistic unchoke, rotated every `optimisticRounds` (3) rounds (30 s), in
 * which newly connected peers are three times as likely to be chosen. Snubbed peers lose their slot.
 *
 * It reads the peers' live state from the torrent's registry (plain objects the peer actors keep
 * current) and reports its verdict to its parent as `choker.unchoke` with the keys to unchoke; the
 * torrent chokes every other peer. `choker.fill` (a peer became interested) fills free slots at once
 * without taking a slot from any interested peer (an unchoked peer that has lost interest is left out
 * of that verdict, so the torrent chokes it and its slot is the one filled). See docs/machines/choker.md.
 */
import { assign, enqueueActions, setup } from 'xstate';
import type { ChokeView } from '../peer/types.js';

export interface ChokerSettings {
  slots: number;
  rechokeIntervalMs: number;
  optimisticRounds: number;
  /** A peer first seen fewer rounds ago than this counts as new (3× the optimistic chance). */
  newRounds: number;
}

export const defaultChokerSettings: ChokerSettings = { slots: 4, rechokeIntervalMs: 10_000, optimisticRounds: 3, newRounds: 3 };

export interface ChokerInput {
  registry: Map<string, ChokeView>;
  /** True once the torrent is complete (rank by our upload to them instead of theirs to us). */
  seeding: () => boolean;
  settings?: Partial<ChokerSettings>;
  random?: () => number;
}

export interface ChokerContext {
  registry: Map<string, ChokeView>;
  seeding: () => boolean;
  settings: ChokerSettings;
  random: () => number;
  round: number;
  optimistic: string | undefined;
  /** The last verdict (for the inspector and tests). */
  unchoked: string[];
}

export type ChokerEvent = { type: 'choker.fill' };
export type ChokerReport = { type: 'choker.unchoke'; keys: string[] };

/**
 * Ranks and picks: the best `slots` eligible peers by rate, then the optimistic unchoke. Pure but for
 * stamping `firstRound` on views it sees for the first time. Exported for unit tests.
 */
export function chooseUnchoked(ctx: ChokerContext, rotate: boolean): { keys: string[]; optimistic: string | undefined } {
  const { slots, newRounds } = ctx.settings;
  const views = [...ctx.registry.values()];
  for (const v of views) v.firstRound ??= ctx.round;
  const candidates = views.filter((v) => v.peerInterested && !v.snubbed);
  const rate = (v: ChokeView) => (ctx.seeding() ? v.upRate() : v.downRate());
  const ranked = candidates
    .map((v) => ({ v, r: rate(v), tie: ctx.random() }))
    .sort((a, b) => b.r - a.r || a.tie - b.tie)
    .map((x) => x.v);
  const regular = ranked.slice(0, slots);
  const regularKeys = new Set(regular.map((v) => v.key));
  const rest = ranked.filter((v) => !regularKeys.has(v.key));
  let optimistic = ctx.optimistic;
  const stillValid = optimistic !== undefined && rest.some((v) => v.key === optimistic);
  if (rotate || !stillValid) {
    // A rotation passes the slot on: the current holder is drawn again only if nobody else is left
    // (otherwise it could keep the slot for several periods while others never get a turn).
    const others = stillValid ? rest.filter((v) => v.key !== optimistic) : rest;
    const pool = others.length > 0 ? others : rest;
    optimistic = undefined;
    const weights = pool.map((v) => (ctx.round - (v.firstRound ?? ctx.round) < newRounds ? 3 : 1));
    const total = weights.reduce((a, b) => a + b, 0);
    let x = ctx.random() * total;
    for (let i = 0; i < pool.length; i++) {
      x -= weights[i]!;
      if (x < 0) {
        optimistic = pool[i]!.key;
        break;
      }
    }
  }
  const keys = regular.map((v) => v.key);
  if (optimistic !== undefined) keys.push(optimistic);
  return { keys, optimistic };
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
    rechoke: enqueueActions(({ context, enqueue }) => {
      const rotate = context.round % context.settings.optimisticRounds === 0;
      const { keys, optimistic } = chooseUnchoked(context, rotate);
      enqueue(assign({ round: context.round + 1, optimistic, unchoked: keys }));
      enqueue.sendParent({ type: 'choker.unchoke', keys });
      enqueue.emit({ type: 'choker.unchoke', keys });
    }),
    fill: enqueueActions(({ context, enqueue }) => {
      // Keep everyone unchoked now; add the best interested peers while slots are free.
      const current = context.unchoked.filter((k) => context.registry.get(k)?.peerInterested);
      const free = context.settings.slots + 1 - current.length;
      if (free <= 0) return;
      const { keys } = chooseUnchoked({ ...context, optimistic: undefined }, false);
      const added = keys.filter((k) => !current.includes(k)).slice(0, free);
      if (added.length === 0) return;
      const all = [...current, ...added];
      enqueue(assign({ unchoked: all }));
      enqueue.sendParent({ type: 'choker.unchoke', keys: all });
      enqueue.emit({ type: 'choker.unchoke', keys: all });
    }),
  },
}).createMachine({
  id: 'choker',
  context: ({ input }) => ({
    registry: input.registry,
    seeding: input.seeding,
    settings: { ...defaultChokerSettings, ...input.settings },
    random: input.random ?? Math.random,
    round: 0,
    optimistic: undefined,
    unchoked: [],
  }),
  initial: 'running',
  states: {
    running: {
      entry: 'rechoke',
      after: { rechokeInterval: { target: 'running', reenter: true } },
      on: { 'choker.fill': { actions: 'fill' } },
    },
  },
});

export type ChokerMachine = typeof chokerMachine;
