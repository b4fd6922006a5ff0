/** A scripted announce transport and a simulated clock for driving the tracker statecharts. */
import { fromPromise, SimulatedClock } from 'xstate';
import type { AnnounceInput, AnnounceResult } from '../../src/protocol/tracker-types.js';

export interface Call {
  input: AnnounceInput;
  resolve: (r: AnnounceResult) => void;
  reject: (e: unknown) => void;
  aborted: boolean;
}

/** Each announce becomes a pending {@link Call}; the test settles it when it wants. */
export function scriptedTransport() {
  const calls: Call[] = [];
  const logic = fromPromise<AnnounceResult, AnnounceInput>(
    ({ input, signal }) =>
      new Promise<AnnounceResult>((resolve, reject) => {
        const call: Call = { input, resolve, reject, aborted: false };
        signal.addEventListener('abort', () => {
          call.aborted = true;
        });
        calls.push(call);
      }),
  );
  return { calls, logic };
}

export const ok = (over: Partial<AnnounceResult> = {}): AnnounceResult => ({ interval: 1800, peers: [], ...over });
export const failure = (code = 'BT_ERR_TRACKER_CONNECT', extra: Record<string, unknown> = {}) =>
  Object.assign(new Error(`failed: ${code}`), { code, ...extra });

/** Lets promise callbacks and XState's deferred sends run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export async function advance(clock: SimulatedClock, ms: number): Promise<void> {
  clock.increment(ms);
  await flush();
}

export { SimulatedClock };
