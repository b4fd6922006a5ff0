/**
 * One tracker URL as an actor. Its lifecycle is the statechart: idle → active (announcing →
 * waiting for the interval → announcing …; a failure → backoff → announcing) → stopping → stopped.
 *
 * The machine touches no network: the announce itself is the `announce` actor, which src/io
 * provides (HTTP or UDP by URL scheme). Every timer is a named delay on the actor system's clock.
 *
 * Events follow BEP 3: the first successful announce carries `started`; once the torrent completes
 * the next one carries `completed` (a tracker that never saw `started` gets `started` with left = 0
 * instead); `stop` sends `stopped` only to a tracker that got `started`, within `stopTimeoutMs`.
 */
import { assign, enqueueActions, fromPromise, setup, type ActorRef } from 'xstate';
import {
  defaultTrackerSettings,
  toTrackerFailure,
  type AnnounceEvent,
  type AnnounceInput,
  type AnnounceResult,
  type TrackerFailure,
  type TrackerReport,
  type TrackerSettings,
  type TransferStats,
} from './types.js';

export interface TrackerInput {
  url: string;
  /** The torrent's counters when the tracker is made; fresh ones arrive as `tracker.stats`. */
  stats: TransferStats;
  settings?: Partial<TrackerSettings>;
  /** The actor that receives this tracker's {@link TrackerReport}s (the announcer). */
  report?: ActorRef<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export interface TrackerContext {
  url: string;
  /** The torrent's counters, as last told: sent with each announce. */
  stats: TransferStats;
  settings: TrackerSettings;
  report: ActorRef<any, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** A `started` announce succeeded: this tracker counts us in the swarm. */
  started: boolean;
  /** The torrent completed and this tracker has not been told yet. */
  completedPending: boolean;
  /** The event of the announce under way (for reports). */
  inFlightEvent: AnnounceEvent | undefined;
  /** The counters sent with the announce under way. */
  inFlightStats: TransferStats | undefined;
  trackerId: string | undefined;
  /** Seconds, as the tracker last said. */
  interval: number | undefined;
  minInterval: number | undefined;
  /** Consecutive failures. */
  failures: number;
  lastFailure: TrackerFailure | undefined;
  /** A re-announce was asked for while min interval forbade it. */
  announceRequested: boolean;
  /** Whether `enable` asked to skip the backoff of a tracker that failed before. */
  immediate: boolean;
  /** Counters of what this tracker has done, for the inspector and the CLI. */
  announces: number;
  lastResult: (Omit<AnnounceResult, 'peers'> & { peerCount: number }) | undefined;
}

export type TrackerEvent =
  /** Start (or resume) announcing. `immediate: false` waits out the backoff of earlier failures first. */
  | { type: 'tracker.enable'; immediate?: boolean }
  /** Stop using this tracker for now (another in its tier answers); keeps what it learned. */
  | { type: 'tracker.disable' }
  /** The torrent completed. */
  | { type: 'tracker.completed' }
  /** Ask for more peers now; honoured as soon as min interval allows. */
  | { type: 'tracker.reannounce' }
  /** Shut down: send `stopped` if this tracker got `started`. */
  | { type: 'tracker.stop' }
  /** The torrent's counters changed (read by the next announce). */
  | { type: 'tracker.stats'; stats: TransferStats };

/** Placeholder: src/io provides the real announce (see `trackerTransportActors`). */
const announceNotProvided = fromPromise<AnnounceResult, AnnounceInput>(async () => {
  throw new Error('tracker machine: no announce actor provided (provide one from src/io)');
});

function nextEvent(ctx: TrackerContext): AnnounceEvent | undefined {
  if (!ctx.started) return 'started';
  if (ctx.completedPending) return 'completed';
  return undefined;
}

export const trackerMachine = setup({
  types: {
    input: {} as TrackerInput,
    context: {} as TrackerContext,
    events: {} as TrackerEvent,
    emitted: {} as TrackerReport,
  },
  actors: { announce: announceNotProvided },
  delays: {
    announceInterval: ({ context }) => {
      const s = context.settings;
      const ms = (context.interval ?? 0) * 1000;
      return Math.min(Math.max(ms, s.minAnnounceIntervalMs), s.maxAnnounceIntervalMs);
    },
    minInterval: ({ context }) => {
      const s = context.settings;
      return Math.min(Math.max((context.minInterval ?? 0) * 1000, s.minAnnounceIntervalMs), s.maxAnnounceIntervalMs);
    },
    backoffDelay: ({ context }) => {
      const s = context.settings;
      const exp = Math.min(s.backoffBaseMs * 2 ** Math.max(0, context.failures - 1), s.backoffMaxMs);
      const advised = context.lastFailure?.retryIn;
      return advised !== undefined ? Math.min(Math.max(advised * 1000, exp), s.backoffMaxMs * 4) : exp;
    },
    stopTimeout: ({ context }) => context.settings.stopTimeoutMs,
  },
  guards: {
    hasStarted: ({ context }) => context.started,
    shouldBackOff: ({ context }) => context.failures > 0 && !context.immediate,
    isAnnounceRequested: ({ context }) => context.announceRequested,
    isNever: ({ context }) => context.lastFailure?.never === true,
    isCompletedPending: ({ context }) => context.completedPending,
  },
  actions: {
    /** Tells the `report` actor (if any) and emits the same event for observers. */
    report: enqueueActions(({ context, enqueue }, report: TrackerReport | null) => {
      if (!report) return;
      if (context.report) enqueue.sendTo(context.report, report);
      enqueue.emit(report);
    }),
  },
}).createMachine({
  id: 'tracker',
  context: ({ input }) => ({
    url: input.url,
    stats: input.stats,
    settings: { ...defaultTrackerSettings, ...input.settings },
    report: input.report,
    started: false,
    completedPending: false,
    inFlightEvent: undefined,
    inFlightStats: undefined,
    trackerId: undefined,
    interval: undefined,
    minInterval: undefined,
    failures: 0,
    lastFailure: undefined,
    announceRequested: false,
    immediate: true,
    announces: 0,
    lastResult: undefined,
  }),
  initial: 'idle',
  on: {
    'tracker.completed': { actions: assign({ completedPending: true }) },
    'tracker.stats': { actions: assign({ stats: ({ event }) => event.stats }) },
    'tracker.stop': [{ guard: 'hasStarted', target: '.stopping' }, { target: '.stopped' }],
  },
  states: {
    idle: {
      on: {
        'tracker.enable': { target: 'active', actions: assign({ immediate: ({ event }) => event.immediate ?? true }) },
      },
    },
    active: {
      initial: 'starting',
      on: {
        'tracker.disable': { target: 'idle' },
      },
      states: {
        starting: {
          always: [{ guard: 'shouldBackOff', target: 'backoff' }, { target: 'announcing' }],
        },
        announcing: {
          entry: assign({
            inFlightEvent: ({ context }) => nextEvent(context),
            inFlightStats: ({ context }) => context.stats,
            announceRequested: false,
          }),
          invoke: {
            id: 'announce',
            src: 'announce',
            input: ({ context }): AnnounceInput => {
              const input: AnnounceInput = {
                url: context.url,
                numwant: context.settings.numwant,
                stats: context.inFlightStats!,
              };
              if (context.inFlightEvent) input.event = context.inFlightEvent;
              if (context.trackerId !== undefined) input.trackerId = context.trackerId;
              return input;
            },
            onDone: {
              target: 'waiting',
              actions: [
                assign(({ context, event }) => ({
                  started: true,
                  // A tracker told `completed`, or told `started` with nothing left, knows we seed.
                  completedPending:
                    context.completedPending &&
                    context.inFlightEvent !== 'completed' &&
                    !(context.inFlightEvent === 'started' && context.inFlightStats?.left === 0),
                  trackerId: event.output.trackerId ?? context.trackerId,
                  interval: event.output.interval,
                  minInterval: event.output.minInterval,
                  failures: 0,
                  lastFailure: undefined,
                  announces: context.announces + 1,
                  lastResult: { ...event.output, peers: undefined, peerCount: event.output.peers.length },
                })),
                {
                  type: 'report',
                  params: ({ context, event }) => ({
                    type: 'tracker.response' as const,
                    url: context.url,
                    ...(context.inFlightEvent && { event: context.inFlightEvent }),
                    result: event.output,
                  }),
                },
              ],
            },
            onError: {
              target: 'backoff',
              actions: [
                assign(({ context, event }) => ({
                  failures: context.failures + 1,
                  lastFailure: toTrackerFailure(event.error),
                  immediate: false,
                })),
                {
                  type: 'report',
                  params: ({ context }) => ({
                    type: 'tracker.failed' as const,
                    url: context.url,
                    ...(context.inFlightEvent && { event: context.inFlightEvent }),
                    failure: context.lastFailure!,
                    failures: context.failures,
                  }),
                },
              ],
            },
          },
        },
        waiting: {
          entry: [
            {
              type: 'report',
              params: ({ context }) =>
                context.lastResult?.warning !== undefined
                  ? { type: 'tracker.warning' as const, url: context.url, message: context.lastResult.warning }
                  : null,
            },
          ],
          // Completion noticed while the previous announce was under way: tell the tracker now.
          always: { guard: 'isCompletedPending', target: 'announcing' },
          after: { announceInterval: 'announcing' },
          on: {
            'tracker.completed': { target: 'announcing', actions: assign({ completedPending: true }) },
          },
          initial: 'cooling',
          states: {
            cooling: {
              after: {
                minInterval: [
                  { guard: 'isAnnounceRequested', target: '#tracker.active.announcing' },
                  { target: 'ready' },
                ],
              },
              on: { 'tracker.reannounce': { actions: assign({ announceRequested: true }) } },
            },
            ready: {
              on: { 'tracker.reannounce': { target: '#tracker.active.announcing' } },
            },
          },
        },
        backoff: {
          always: { guard: 'isNever', target: '#tracker.idle' },
          after: { backoffDelay: 'announcing' },
        },
      },
    },
    stopping: {
      entry: assign({ inFlightEvent: 'stopped' as const }),
      on: { 'tracker.stop': {} },
      invoke: {
        id: 'announceStopped',
        src: 'announce',
        input: ({ context }): AnnounceInput => {
          const input: AnnounceInput = { url: context.url, event: 'stopped', numwant: 0, stats: context.stats };
          if (context.trackerId !== undefined) input.trackerId = context.trackerId;
          return input;
        },
        onDone: 'stopped',
        onError: 'stopped',
      },
      after: { stopTimeout: 'stopped' },
    },
    stopped: {
      type: 'final',
      entry: [
        assign({ started: false }),
        { type: 'report', params: ({ context }) => ({ type: 'tracker.stopped' as const, url: context.url }) },
      ],
    },
  },
});

export type TrackerMachine = typeof trackerMachine;
