/** A scripted fetch effect and a simulated clock for driving the web seed statechart (no network). */
import { createActor, fromPromise, SimulatedClock } from 'xstate';
import {
  webSeedMachine,
  type WebSeedReport,
  type WebSeedSettings,
} from '../../src/machines/webseed/webseed.machine.js';
import type { WebSeedFetchInput, WebSeedLayout } from '../../src/protocol/webseed.js';

export interface FetchCall {
  input: WebSeedFetchInput;
  resolve: (bytes: Uint8Array) => void;
  reject: (e: unknown) => void;
  aborted: boolean;
}

/** Each fetch becomes a pending {@link FetchCall}; the test settles it when it wants. */
export function scriptedFetch() {
  const calls: FetchCall[] = [];
  const logic = fromPromise<Uint8Array, WebSeedFetchInput>(
    ({ input, signal }) =>
      new Promise<Uint8Array>((resolve, reject) => {
        const call: FetchCall = { input, resolve, reject, aborted: false };
        signal.addEventListener('abort', () => void (call.aborted = true));
        calls.push(call);
      }),
  );
  return { calls, logic };
}

/** An error as src/io/webseed-http.ts raises them. */
export const httpError = (
  code = 'BT_ERR_WEBSEED_HTTP_STATUS',
  over: { permanent?: boolean; retryAfterMs?: number } = {},
) => Object.assign(new Error(`failed: ${code}`), { code, permanent: false, ...over });

export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export const PIECE = 32 * 1024;
/** Three files over 3.5 pieces of 32 KiB: 40,000 + 0 (empty) + 2,000 padding + 72,688 bytes. */
export const MULTI: WebSeedLayout = {
  name: 'set',
  multiFile: true,
  files: [
    { path: ['a b.txt'], length: 40_000, padding: false },
    { path: ['empty'], length: 0, padding: false },
    { path: ['.pad', '2000'], length: 2_000, padding: true },
    { path: ['sub', 'c%d'], length: 72_688, padding: false },
  ],
};
export const SINGLE: WebSeedLayout = {
  name: 'one.bin',
  multiFile: false,
  files: [{ path: ['one.bin'], length: 114_688, padding: false }],
};
export const GEOMETRY = { length: 114_688, pieceLength: PIECE, pieceCount: 4 };
export const settings: WebSeedSettings = {
  maxFailures: 3,
  backoffBaseMs: 1_000,
  backoffMaxMs: 8_000,
  idleRetryMs: 500,
};

export function startWebSeed(o: { url?: string; layout?: WebSeedLayout; settings?: Partial<WebSeedSettings> } = {}) {
  const clock = new SimulatedClock();
  const fetch = scriptedFetch();
  const reports: WebSeedReport[] = [];
  const url = o.url ?? 'http://127.0.0.1:8080/files';
  const actor = createActor(webSeedMachine.provide({ actors: { fetch: fetch.logic } }), {
    clock,
    input: {
      key: `ws:${url}`,
      url,
      layout: o.layout ?? MULTI,
      geometry: GEOMETRY,
      settings: { ...settings, ...o.settings },
    },
  });
  actor.on('*', (e) => void reports.push(e as WebSeedReport));
  actor.start();
  return {
    clock,
    actor,
    calls: fetch.calls,
    reports,
    value: () => actor.getSnapshot().value,
    context: () => actor.getSnapshot().context,
    async advance(ms: number) {
      clock.increment(ms);
      await flush();
    },
  };
}

export { SimulatedClock };
