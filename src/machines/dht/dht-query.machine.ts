/**
 * One outstanding KRPC query of the DHT node, as a small actor that only keeps time: `slowMs` after it
 * is sent it reports `query.slow` (a lookup then asks another node, still taking this one's answer),
 * `timeoutMs` after it is sent `query.timeout` (the node fails). The node stops it when the answer
 * arrives (matched by transaction id and address), so a query that is answered reports nothing.
 * Time is the actor system's clock (named delays), never a timer of its own.
 */
import { sendTo, setup, type ActorRef } from 'xstate';

export interface DhtQueryInput {
  /** The transaction id (hex) the node sent the query under. */
  tid: string;
  slowMs: number;
  timeoutMs: number;
  /** Receives `query.slow` and `query.timeout` (the DHT node). */
  report: ActorRef<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export type DhtQueryReport = { type: 'query.slow'; tid: string } | { type: 'query.timeout'; tid: string };

export const dhtQueryMachine = setup({
  types: { input: {} as DhtQueryInput, context: {} as DhtQueryInput },
  delays: {
    slowAfter: ({ context }) => context.slowMs,
    timeoutAfter: ({ context }) => Math.max(0, context.timeoutMs - context.slowMs),
  },
  actions: {
    reportSlow: sendTo(
      ({ context }) => context.report,
      ({ context }): DhtQueryReport => ({ type: 'query.slow', tid: context.tid }),
    ),
    reportTimeout: sendTo(
      ({ context }) => context.report,
      ({ context }): DhtQueryReport => ({ type: 'query.timeout', tid: context.tid }),
    ),
  },
}).createMachine({
  id: 'dhtQuery',
  context: ({ input }) => input,
  initial: 'waiting',
  states: {
    /** Sent; the answer is due. */
    waiting: { after: { slowAfter: { target: 'slow', actions: 'reportSlow' } } },
    /** Late, but an answer is still taken until the timeout. */
    slow: { after: { timeoutAfter: { target: 'timedOut', actions: 'reportTimeout' } } },
    timedOut: { type: 'final' },
  },
});
