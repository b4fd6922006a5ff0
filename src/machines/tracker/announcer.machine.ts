/**
 * The trackers of one torrent (BEP 12 tiers) as an actor that owns one tracker actor per URL.
 *
 * BEP 12: one tracker is in use at a time. Trackers within a tier are tried in order; a tracker that
 * answers moves to the front of its tier; when every tracker of a tier has failed, the next tier is
 * tried; when every tier has failed, the round starts again from the first tracker, which first waits
 * out its backoff. At shutdown every tracker that got `started` is sent `stopped`, in parallel, and
 * the announcer is `stopped` when all have answered or timed out.
 *
 * Peers from every reply are reported once each (by address) as `announcer.peers`.
 */
import { assign, enqueueActions, setup, stopChild, type ActorRef, type ActorRefFrom } from 'xstate';
import { peerKey } from '../../protocol/peer-address.js';
import { trackerMachine } from './tracker.machine.js';
import {
  type AnnounceResult,
  type PeerAddress,
  type TrackerFailure,
  type TrackerReport,
  type TrackerSettings,
  type TransferStats,
} from './types.js';

export interface AnnouncerInput {
  /** Tracker tiers, as in the torrent's announce-list. */
  tiers: string[][];
  /** The torrent's counters when the announcer is made; fresh ones arrive as `announcer.stats`. */
  stats: TransferStats;
  settings?: Partial<TrackerSettings>;
  /** Receives `announcer.peers` and `announcer.tracker` events (the torrent actor). */
  report?: ActorRef<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** What the announcer knows of one tracker, for the CLI and the inspector. */
export interface TrackerStatus {
  url: string;
  tier: number;
  lastResult?: Omit<AnnounceResult, 'peers'> & { peerCount: number };
  lastFailure?: TrackerFailure;
  failures: number;
}

export type AnnouncerReport =
  { type: 'announcer.peers'; url: string; peers: PeerAddress[] } | { type: 'announcer.tracker'; report: TrackerReport };

export type AnnouncerEvent =
  | { type: 'announcer.start' }
  | { type: 'announcer.completed' }
  | { type: 'announcer.reannounce' }
  | { type: 'announcer.stop' }
  /** The torrent's counters changed: passed on to every tracker for its next announce. */
  | { type: 'announcer.stats'; stats: TransferStats }
  | TrackerReport;

type TrackerRef = ActorRefFrom<typeof trackerMachine>;

export interface AnnouncerContext {
  /** Tiers in their current order (answering trackers move to the front of their tier). */
  tiers: string[][];
  settings: Partial<TrackerSettings>;
  report: ActorRef<any, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  trackers: Record<string, TrackerRef>;
  /** The tracker in use (BEP 12: one at a time), or undefined before start / with no trackers. */
  current: string | undefined;
  /** Consecutive failures since the last answer: a whole round failed when it reaches the URL count. */
  failedInRound: number;
  /** Trackers that said "retry in: never" (BEP 31): never contacted again (but for `stopped`). */
  retired: readonly string[];
  /** Addresses already reported (replaced, never changed in place). */
  seenPeers: ReadonlySet<string>;
  /** Trackers still to confirm `stopped` while stopping. */
  stopping: number;
  status: Record<string, TrackerStatus>;
}

/** Addresses the announcer remembers having reported, at most. */
export const MAX_SEEN_PEERS = 10_000;

function allUrls(tiers: string[][]): string[] {
  return tiers.flat();
}

/**
 * The URL after `url` in tier order, wrapping round to the first, skipping trackers that said "never"
 * (BEP 31); undefined when every tracker did.
 */
function nextUrl(tiers: string[][], url: string, retired: readonly string[]): string | undefined {
  const urls = allUrls(tiers);
  const i = urls.indexOf(url);
  for (let n = 1; n <= urls.length; n++) {
    const u = urls[(i + n) % urls.length]!;
    if (!retired.includes(u)) return u;
  }
  return undefined;
}

/** Trackers still in the rotation (a whole failed round is this many failures). */
const roundSize = (c: AnnouncerContext) => allUrls(c.tiers).length - c.retired.length;

export const announcerMachine = setup({
  types: {
    input: {} as AnnouncerInput,
    context: {} as AnnouncerContext,
    events: {} as AnnouncerEvent,
    emitted: {} as AnnouncerReport,
  },
  actors: { tracker: trackerMachine },
  guards: {
    isFromCurrent: ({ context, event }) => 'url' in event && event.url === context.current,
    allStopped: ({ context }) => context.stopping <= 0,
  },
  actions: {
    /** Tells the `report` actor (if any) and emits the same event for observers. */
    report: enqueueActions(({ context, enqueue }, report: AnnouncerReport) => {
      if (context.report) enqueue.sendTo(context.report, report);
      enqueue.emit(report);
    }),
    enableCurrent: enqueueActions(({ context, enqueue }, params: { immediate: boolean }) => {
      const ref = context.current !== undefined ? context.trackers[context.current] : undefined;
      if (ref) enqueue.sendTo(ref, { type: 'tracker.enable', immediate: params.immediate });
    }),
    broadcast: enqueueActions(
      (
        { context, enqueue },
        event: { type: 'tracker.completed' | 'tracker.stop' } | { type: 'tracker.stats'; stats: TransferStats },
      ) => {
        for (const ref of Object.values(context.trackers)) enqueue.sendTo(ref, event);
      },
    ),
  },
}).createMachine({
  id: 'announcer',
  context: ({ input, spawn, self }) => {
    const tiers = input.tiers.map((t) => [...new Set(t)]).filter((t) => t.length > 0);
    const trackers: Record<string, TrackerRef> = {};
    const status: Record<string, TrackerStatus> = {};
    tiers.forEach((tier, t) =>
      tier.forEach((url) => {
        if (trackers[url]) return; // the same URL in two tiers: keep the first
        trackers[url] = spawn('tracker', {
          id: `tracker:${url}`,
          input: { url, stats: input.stats, settings: input.settings ?? {}, report: self },
        });
        status[url] = { url, tier: t, failures: 0 };
      }),
    );
    return {
      tiers,
      settings: input.settings ?? {},
      report: input.report,
      trackers,
      current: allUrls(tiers)[0],
      failedInRound: 0,
      retired: [],
      seenPeers: new Set<string>(),
      stopping: 0,
      status,
    };
  },
  initial: 'idle',
  on: {
    'announcer.stats': {
      actions: { type: 'broadcast', params: ({ event }) => ({ type: 'tracker.stats' as const, stats: event.stats }) },
    },
  },
  states: {
    idle: {
      on: {
        'announcer.start': { target: 'running' },
        'announcer.stop': { target: 'stopping' },
      },
    },
    running: {
      entry: { type: 'enableCurrent', params: { immediate: true } },
      on: {
        'tracker.response': {
          actions: [
            assign(({ context, event }) => {
              // BEP 12: the tracker that answered moves to the front of its tier.
              const tiers = context.tiers.map((tier) =>
                tier.includes(event.url) ? [event.url, ...tier.filter((u) => u !== event.url)] : tier,
              );
              const s = context.status[event.url];
              const { peers, ...rest } = event.result;
              const status = s
                ? {
                    ...context.status,
                    [event.url]: { ...s, lastResult: { ...rest, peerCount: peers.length }, failures: 0 },
                  }
                : context.status;
              return { tiers, status, failedInRound: event.url === context.current ? 0 : context.failedInRound };
            }),
            { type: 'report', params: ({ event }) => ({ type: 'announcer.tracker' as const, report: event }) },
            enqueueActions(({ context, event, enqueue }) => {
              const fresh: PeerAddress[] = [];
              const seen = new Set(context.seenPeers);
              for (const p of event.result.peers) {
                const key = peerKey(p);
                if (seen.has(key)) continue;
                seen.add(key);
                fresh.push(p);
              }
              if (fresh.length > 0) {
                // Bounded: trackers choose how many addresses they send. Past the cap only this reply's
                // are remembered (an address reported again is harmless: the peer book knows it).
                enqueue.assign({
                  seenPeers: seen.size > MAX_SEEN_PEERS ? new Set(fresh.slice(-MAX_SEEN_PEERS).map(peerKey)) : seen,
                });
                enqueue({ type: 'report', params: { type: 'announcer.peers', url: event.url, peers: fresh } });
              }
            }),
          ],
        },
        'tracker.failed': [
          {
            guard: 'isFromCurrent',
            actions: [
              enqueueActions(({ context, enqueue }) => {
                const ref = context.trackers[context.current!];
                if (ref) enqueue.sendTo(ref, { type: 'tracker.disable' });
              }),
              assign(({ context, event }) => {
                const s = context.status[event.url];
                const status = s
                  ? { ...context.status, [event.url]: { ...s, lastFailure: event.failure, failures: event.failures } }
                  : context.status;
                // BEP 31 "retry in: never": out of the rotation for good.
                const retired = event.failure.never ? [...context.retired, event.url] : context.retired;
                const failedInRound = event.failure.never ? context.failedInRound : context.failedInRound + 1;
                return { status, retired, current: nextUrl(context.tiers, context.current!, retired), failedInRound };
              }),
              { type: 'report', params: ({ event }) => ({ type: 'announcer.tracker' as const, report: event }) },
              // After a whole failed round the next tracker waits out its backoff first.
              {
                type: 'enableCurrent',
                params: ({ context }) => ({ immediate: context.failedInRound < roundSize(context) }),
              },
              assign(({ context }) => ({
                failedInRound: context.failedInRound >= roundSize(context) ? 0 : context.failedInRound,
              })),
            ],
          },
        ],
        'tracker.warning': {
          actions: { type: 'report', params: ({ event }) => ({ type: 'announcer.tracker' as const, report: event }) },
        },
        'announcer.completed': { actions: { type: 'broadcast', params: { type: 'tracker.completed' } } },
        'announcer.reannounce': {
          actions: enqueueActions(({ context, enqueue }) => {
            const ref = context.current !== undefined ? context.trackers[context.current] : undefined;
            if (ref) enqueue.sendTo(ref, { type: 'tracker.reannounce' });
          }),
        },
        'announcer.stop': { target: 'stopping' },
      },
    },
    stopping: {
      entry: [
        assign(({ context }) => ({ stopping: Object.keys(context.trackers).length })),
        { type: 'broadcast', params: { type: 'tracker.stop' } },
      ],
      always: { guard: 'allStopped', target: 'stopped' },
      on: {
        'tracker.stopped': {
          actions: { type: 'report', params: ({ event }) => ({ type: 'announcer.tracker' as const, report: event }) },
        },
        // Count a tracker out when its actor is done (after its own final report reached us).
        'xstate.done.actor.*': { actions: assign(({ context }) => ({ stopping: context.stopping - 1 })) },
      },
      // No timer of its own: every tracker bounds its `stopped` announce (its stopTimeoutMs).
    },
    stopped: {
      type: 'final',
      entry: enqueueActions(({ context, enqueue }) => {
        for (const ref of Object.values(context.trackers)) enqueue(stopChild(ref));
      }),
    },
  },
});

export type AnnouncerMachine = typeof announcerMachine;
