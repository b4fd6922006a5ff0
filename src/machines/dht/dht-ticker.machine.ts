/**
 * The DHT node's clock: sends `dht.tick` to its `report` actor every `everyMs` of the actor system's
 * clock. The node counts its own time in ticks (routing-table liveness, token rotation, rate limits,
 * re-announces), as the torrent does, so that a machine never reads a clock.
 */
import { sendTo, setup, type ActorRef } from 'xstate';

export interface DhtTickerInput {
  everyMs: number;
  report: ActorRef<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export const dhtTickerMachine = setup({
  types: { input: {} as DhtTickerInput, context: {} as DhtTickerInput },
  delays: { every: ({ context }) => context.everyMs },
  actions: { tick: sendTo(({ context }) => context.report, { type: 'dht.tick' as const }) },
}).createMachine({
  id: 'dhtTicker',
  context: ({ input }) => input,
  initial: 'ticking',
  states: {
    ticking: { after: { every: { target: 'ticking', reenter: true, actions: 'tick' } } },
  },
});
