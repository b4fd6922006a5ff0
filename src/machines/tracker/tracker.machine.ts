/**
 * One tracker URL as an actor. Its lifecycle is the statechart: idle → active (announcing →
 * waiting for the interval → announcing …; a failure → backoff → announcing) → stopping → stopped.
 *
 * The machine touches no network: the announce itself is the `announce` actor, which src/io
 * provides (HTTP or UDP by URL scheme). Every timer is a named delay on the actor system's clock.
 *
 * Events follow BEP 3: the first successful announce carries `started`; once the torrent completes
 * the next one carries `completed` (a tracker that never saw `started` gets `started` with left = 0
 * instead); `stop` sends `stopped` only to a tracker that got `started`, within `stopTimeoutMs`. A
 * completion the tracker has not heard of yet is announced before `stopped` (a run that stops as soon
 * as it completes still counts in the tracker's `completed`), and a `completed` announce under way when
 * the stop comes is waited for (within `stopTimeoutMs`) rather than cut off and sent again.
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
  /** This tracker knows we have it all (it answered our `completed`, or a `started` with nothing left). */
  toldComplete: boolean;
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
  /** `stop` came while a `completed` announce was under way: stop once it has an answer. */
  stopRequested: boolean;
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

/** The input of an announce made while stopping (`completed`, `stopped`): no peers wanted. */
function stopAnnounce(context: TrackerContext, event: 'completed' | 'stopped'): AnnounceInput {
  const input: AnnounceInput = { url: context.url, event, numwant: 0, stats: context.stats };
  if (context.trackerId !== undefined) input.trackerId = context.trackerId;
  return input;
}

function withoutPeers(result: AnnounceResult): Omit<AnnounceResult, 'peers'> {
  const { peers: _peers, ...rest } = result;
  return rest;
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
    isAnnouncingCompleted: ({ context }) => context.inFlightEvent === 'completed',
    isStopRequested: ({ context }) => context.stopRequested,
    isNotToldComplete: ({ context }) => !context.toldComplete,
  },
  actions: {
    /** Tells the `report` actor (if any) and emits the same event for observers. */
    report: enqueueActions(({ context, enqueue }, report: TrackerReport | null) => {
      if (!report) return;
      if (context.report) enqueue.sendTo(context.report, report);
      enqueue.emit(report);
    }),
    /** An announce succeeded: remember what the tracker said and report it. */
    announced: enqueueActions(({ context, event, enqueue }) => {
      const output = (event as unknown as { output: AnnounceResult }).output;
      // A tracker told `completed`, or told `started` with nothing left, knows we seed.
      const toldComplete =
        context.toldComplete ||
        context.inFlightEvent === 'completed' ||
        (context.inFlightEvent === 'started' && context.inFlightStats?.left === 0);
      enqueue.assign({
        started: true,
        toldComplete,
        completedPending: context.completedPending && !toldComplete,
        trackerId: output.trackerId ?? context.trackerId,
        interval: output.interval,
        minInterval: output.minInterval,
        failures: 0,
        lastFailure: undefined,
        announces: context.announces + 1,
        lastResult: { ...withoutPeers(output), peerCount: output.peers.length },
      });
      const report: TrackerReport = {
        type: 'tracker.response',
        url: context.url,
        ...(context.inFlightEvent && { event: context.inFlightEvent }),
        result: output,
      };
      if (context.report) enqueue.sendTo(context.report, report);
      enqueue.emit(report);
    }),
    /** An announce failed: count it and report it. */
    announceFailed: enqueueActions(({ context, event, enqueue }) => {
      const failure = toTrackerFailure((event as unknown as { error: unknown }).error);
      const failures = context.failures + 1;
      enqueue.assign({ failures, lastFailure: failure, immediate: false });
      const report: TrackerReport = {
        type: 'tracker.failed',
        url: context.url,
        ...(context.inFlightEvent && { event: context.inFlightEvent }),
        failure,
        failures,
      };
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
    toldComplete: false,
    inFlightEvent: undefined,
    inFlightStats: undefined,
    trackerId: undefined,
    interval: undefined,
    minInterval: undefined,
    failures: 0,
    lastFailure: undefined,
    announceRequested: false,
    stopRequested: false,
    immediate: true,
    announces: 0,
    lastResult: undefined,
  }),
  initial: 'idle',
  on: {
    // Once per tracker: a tracker that knows we seed is not told again.
    'tracker.completed': { guard: 'isNotToldComplete', actions: assign({ completedPending: true }) },
    'tracker.stats': { actions: assign({ stats: ({ event }) => event.stats }) },
    'tracker.stop': [{ guard: 'hasStarted', target: '.stopping' }, { target: '.stopped' }],
  },
  states: {
    idle: {
      on: {
        // Not the tracker in use (another of its tier answers, or it said "never"): it hears only `stopped`.
        'tracker.stop': [{ guard: 'hasStarted', target: 'stopping.leaving' }, { target: 'stopped' }],
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
            onDone: [
              { guard: 'isStopRequested', target: '#tracker.stopping', actions: 'announced' },
              { target: 'waiting', actions: 'announced' },
            ],
            onError: [
              // Stopping: no second try of a `completed` that just failed (the stop stays within two limits).
              { guard: 'isStopRequested', target: '#tracker.stopping.leaving', actions: 'announceFailed' },
              { target: 'backoff', actions: 'announceFailed' },
            ],
          },
          initial: 'requesting',
          states: {
            requesting: {
              on: {
                // The tracker may already have counted this `completed`: wait for its answer, not resend it.
                'tracker.stop': {
                  guard: 'isAnnouncingCompleted',
                  target: 'finishing',
                  actions: assign({ stopRequested: true }),
                },
              },
            },
            finishing: {
              on: { 'tracker.stop': {}, 'tracker.disable': {} },
              after: { stopTimeout: '#tracker.stopping.leaving' },
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
            'tracker.completed': {
              guard: 'isNotToldComplete',
              target: 'announcing',
              actions: assign({ completedPending: true }),
            },
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
      entry: assign({ stopRequested: false }),
      on: { 'tracker.stop': {} },
      initial: 'deciding',
      states: {
        deciding: {
          always: [{ guard: 'isCompletedPending', target: 'completing' }, { target: 'leaving' }],
        },
        // BEP 3: the completion is announced even when the torrent stops right after it.
        completing: {
          entry: assign({ inFlightEvent: 'completed' as const, inFlightStats: ({ context }) => context.stats }),
          invoke: {
            id: 'announceCompleted',
            src: 'announce',
            input: ({ context }) => stopAnnounce(context, 'completed'),
            onDone: { target: 'leaving', actions: 'announced' },
            onError: { target: 'leaving', actions: 'announceFailed' },
          },
          // A slow tracker still hears `stopped`: each announce of the stop has its own time limit.
          after: { stopTimeout: 'leaving' },
        },
        leaving: {
          entry: assign({ inFlightEvent: 'stopped' as const }),
          invoke: {
            id: 'announceStopped',
            src: 'announce',
            input: ({ context }) => stopAnnounce(context, 'stopped'),
            onDone: '#tracker.stopped',
            onError: '#tracker.stopped',
          },
          after: { stopTimeout: '#tracker.stopped' },
        },
      },
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
