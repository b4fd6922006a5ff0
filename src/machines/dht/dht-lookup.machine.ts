/**
 * One iterative lookup of the DHT node (find_node or get_peers, BEP 5) as a child actor around the pure
 * reducer of lookup.ts: it says whom to query (`lookup.query`, at most α = 3 in flight), takes the
 * answers, timeouts and slow queries the node matched for it (`lookup.response`, `lookup.failed`,
 * `lookup.slow`), reports peers as they are found (`lookup.values`), and once converged on the closest
 * 8 (or out of budget) reports `lookup.done` with the closest nodes that answered (and their tokens)
 * and ends. The node sends the queries, runs their timers and matches the answers by transaction id
 * and address; this actor never sees a datagram.
 */
import { enqueueActions, setup, type ActorRef } from 'xstate';
import type { PeerAddress } from '../../protocol/peer-address.js';
import {
  type LookupOptions,
  type LookupReply,
  type LookupResult,
  type LookupState,
  type LookupStep,
  lookupResponse,
  lookupResult,
  lookupSlow,
  lookupTimeout,
  startLookup,
} from './lookup.js';
import type { NodeContact, NodeId } from './node-id.js';

export interface DhtLookupInput {
  /** The lookup's id in its node (`lookup:N`), echoed in every report. */
  id: string;
  target: NodeId;
  /** The closest nodes the routing table knows (and, at bootstrap, the nodes the routers named). */
  seeds: NodeContact[];
  options?: LookupOptions;
  /** Receives the reports (the DHT node). */
  report: ActorRef<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export type DhtLookupEvent =
  | { type: 'lookup.response'; from: { host: string; port: number }; reply: LookupReply }
  | { type: 'lookup.failed'; from: { host: string; port: number } }
  | { type: 'lookup.slow'; from: { host: string; port: number } };

export type DhtLookupReport =
  | { type: 'lookup.query'; lookup: string; nodes: NodeContact[] }
  | { type: 'lookup.values'; lookup: string; values: PeerAddress[] }
  | { type: 'lookup.done'; lookup: string; result: LookupResult };

export interface DhtLookupContext {
  id: string;
  report: DhtLookupInput['report'];
  state: LookupState;
  /** The first queries (from the seeds), sent on entry. */
  first: NodeContact[];
}

export const dhtLookupMachine = setup({
  types: {
    input: {} as DhtLookupInput,
    context: {} as DhtLookupContext,
    events: {} as DhtLookupEvent,
  },
  guards: {
    isDone: ({ context }) => context.state.done,
  },
  actions: {
    queryFirst: enqueueActions(({ context, enqueue }) => {
      if (context.first.length > 0)
        enqueue.sendTo(context.report, { type: 'lookup.query', lookup: context.id, nodes: context.first });
      enqueue.assign({ first: [] });
    }),
    /** One step of the reducer: the next state, the next queries, the peers it found. */
    step: enqueueActions(({ context, event, enqueue }) => {
      let next: LookupStep;
      if (event.type === 'lookup.response') next = lookupResponse(context.state, event.from, event.reply);
      else if (event.type === 'lookup.failed') next = lookupTimeout(context.state, event.from);
      else next = lookupSlow(context.state, event.from);
      if (next.state === context.state) return;
      enqueue.assign({ state: next.state });
      const found = next.state.values.slice(context.state.values.length);
      if (found.length > 0)
        enqueue.sendTo(context.report, { type: 'lookup.values', lookup: context.id, values: found });
      if (next.query.length > 0)
        enqueue.sendTo(context.report, { type: 'lookup.query', lookup: context.id, nodes: next.query });
    }),
    reportDone: enqueueActions(({ context, enqueue }) => {
      enqueue.sendTo(context.report, { type: 'lookup.done', lookup: context.id, result: lookupResult(context.state) });
    }),
  },
}).createMachine({
  id: 'dhtLookup',
  context: ({ input }) => {
    const { state, query } = startLookup(input.target, input.seeds, input.options);
    return { id: input.id, report: input.report, state, first: query };
  },
  initial: 'running',
  states: {
    running: {
      entry: 'queryFirst',
      always: { guard: 'isDone', target: 'done' },
      on: {
        'lookup.response': { actions: 'step' },
        'lookup.failed': { actions: 'step' },
        'lookup.slow': { actions: 'step' },
      },
    },
    done: { type: 'final', entry: 'reportDone' },
  },
});
