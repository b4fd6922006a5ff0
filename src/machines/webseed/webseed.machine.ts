/**
 * One BEP 19 web seed (a `url-list` URL) as an actor: a source of whole pieces, driven like a peer by
 * its torrent. idle (asks for a piece) → fetching (the `fetch` actor: HTTP range requests) → verifying
 * (the torrent hashes the piece) → idle …; nothing to fetch → waiting; a failure or a piece that fails
 * its hash → backoff → idle; `maxFailures` strikes in a row, or a permanent error (404) → dropped.
 *
 * The machine touches no network: `fetch` is provided from src/io (webseed-http.ts), and every timer is
 * a named delay on the actor system's clock. Reports go to the `report` ref given in the input (the
 * torrent); the piece's bytes leave in `webseed.data` and never enter the context.
 */
import { assign, enqueueActions, fromCallback, fromPromise, setup, type ActorRef, type EventObject } from 'xstate';
import { pieceBytes, pieceOffset, type PieceGeometry } from '../../protocol/layout.js';
import {
  webSeedRanges,
  type WebSeedConnectionsInput,
  type WebSeedFetchInput,
  type WebSeedLayout,
} from '../../protocol/webseed.js';

export interface WebSeedSettings {
  /** Strikes in a row (errors, pieces that fail their hash) after which the web seed is dropped. */
  maxFailures: number;
  /** First backoff after a strike; doubles with each strike in a row, up to `backoffMaxMs`. */
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** How long a web seed with nothing to fetch waits before it asks again. */
  idleRetryMs: number;
}

export const defaultWebSeedSettings: WebSeedSettings = {
  maxFailures: 3,
  backoffBaseMs: 5_000,
  backoffMaxMs: 120_000,
  idleRetryMs: 2_000,
};

export interface WebSeedInput {
  /** `ws:` + the URL: the web seed's name in the torrent and its picker. */
  key: string;
  url: string;
  layout: WebSeedLayout;
  geometry: PieceGeometry;
  /** The actor that receives this web seed's {@link WebSeedReport}s (the torrent). */
  report?: ActorRef<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  settings?: Partial<WebSeedSettings>;
}

/** What went wrong last (for reports and the inspector). */
export interface WebSeedFailure {
  code: string;
  message: string;
}

export interface WebSeedContext {
  key: string;
  url: string;
  layout: WebSeedLayout;
  geometry: PieceGeometry;
  report: ActorRef<any, any> | undefined; // eslint-disable-line @typescript-eslint/no-explicit-any
  settings: WebSeedSettings;
  /** The piece being fetched or verified. */
  piece: number | undefined;
  /** Strikes in a row. */
  failures: number;
  lastFailure: WebSeedFailure | undefined;
  /** The server's `Retry-After` of the last failure, if it gave one. */
  retryAfterMs: number | undefined;
  /** The failure that ends the web seed at once (404, not an HTTP URL). */
  permanent: boolean;
  /** Pieces this web seed delivered that verified, and their bytes. */
  verified: number;
  bytes: number;
}

/** Commands from the torrent. */
export type WebSeedCommand =
  /** Fetch piece `index` (the torrent's picker reserved it for this web seed). */
  | { type: 'webseed.assign'; index: number }
  /** Nothing to fetch now. */
  | { type: 'webseed.none' }
  /** The piece verified. */
  | { type: 'webseed.verified'; index: number }
  /** The piece failed its hash: a strike. */
  | { type: 'webseed.bad'; index: number }
  /** The bytes were not needed (the piece came from peers meanwhile): nothing to verify. */
  | { type: 'webseed.taken'; index: number };

/** Reports to the torrent. */
export type WebSeedReport =
  | { type: 'webseed.wants'; key: string }
  | { type: 'webseed.data'; key: string; index: number; data: Uint8Array }
  /** A fetch failed: piece `index` is released; the web seed backs off (or is dropped: `webseed.dropped`). */
  | { type: 'webseed.failed'; key: string; index: number; failures: number; code: string; message: string }
  | { type: 'webseed.dropped'; key: string; url: string; code: string; message: string };

export type WebSeedEvent = WebSeedCommand;

/** Placeholder: src/io provides the real fetch (`webSeedFetchActor`). */
const fetchNotProvided = fromPromise<Uint8Array, WebSeedFetchInput>(async () => {
  throw new Error('webseed machine: no fetch actor provided (provide webSeedFetchActor from src/io)');
});

/**
 * The web seed's kept-alive HTTP connections, invoked for the whole life of the actor: src/io provides
 * one that closes them when the web seed stops (dropped, or its torrent stopped). Absent (this default),
 * there is no pool and each request has a connection of its own.
 */
const noConnections = fromCallback<EventObject, WebSeedConnectionsInput>(() => undefined);

function failureOf(error: unknown): WebSeedFailure & { permanent: boolean; retryAfterMs: number | undefined } {
  const e = error as { code?: unknown; message?: unknown; permanent?: unknown; retryAfterMs?: unknown } | undefined;
  return {
    code: typeof e?.code === 'string' ? e.code : 'BT_ERR_WEBSEED_CONNECT',
    message: typeof e?.message === 'string' ? e.message : String(error),
    permanent: e?.permanent === true,
    retryAfterMs: typeof e?.retryAfterMs === 'number' ? e.retryAfterMs : undefined,
  };
}

export const webSeedMachine = setup({
  types: {
    input: {} as WebSeedInput,
    context: {} as WebSeedContext,
    events: {} as WebSeedEvent,
    emitted: {} as WebSeedReport,
  },
  actors: { fetch: fetchNotProvided, connections: noConnections },
  delays: {
    idleRetry: ({ context }) => context.settings.idleRetryMs,
    backoffDelay: ({ context }) => {
      const s = context.settings;
      const exp = Math.min(s.backoffBaseMs * 2 ** Math.max(0, context.failures - 1), s.backoffMaxMs);
      return Math.max(exp, context.retryAfterMs ?? 0);
    },
  },
  guards: {
    /** This failure ends the web seed: a permanent one, or the last strike allowed. */
    isLastStrike: ({ context, event }) => {
      const ev = event as unknown as { error?: unknown };
      if ('error' in ev && failureOf(ev.error).permanent) return true;
      return context.failures + 1 >= context.settings.maxFailures;
    },
  },
  actions: {
    /** Tells the `report` actor (if any) and emits the same event for observers. */
    report: enqueueActions(({ context, enqueue }, report: WebSeedReport) => {
      if (context.report) enqueue.sendTo(context.report, report);
      enqueue.emit(report);
    }),
    /** A fetch failed: a strike, the piece released. */
    fetchFailed: enqueueActions(({ context, event, enqueue }) => {
      const f = failureOf((event as unknown as { error: unknown }).error);
      const failures = context.failures + 1;
      enqueue.assign({
        failures,
        lastFailure: { code: f.code, message: f.message },
        retryAfterMs: f.retryAfterMs,
        permanent: f.permanent,
        piece: undefined,
      });
      const report: WebSeedReport = {
        type: 'webseed.failed',
        key: context.key,
        index: context.piece ?? -1,
        failures,
        code: f.code,
        message: f.message,
      };
      if (context.report) enqueue.sendTo(context.report, report);
      enqueue.emit(report);
    }),
    /** The piece it sent failed its hash: a strike. */
    badData: assign(({ context, event }) => ({
      failures: context.failures + 1,
      lastFailure: {
        code: 'BT_ERR_WEBSEED_BAD_DATA',
        message: `piece ${(event as { index?: number }).index ?? context.piece} failed its hash`,
      },
      retryAfterMs: undefined,
      piece: undefined,
    })),
  },
}).createMachine({
  id: 'webseed',
  context: ({ input }) => ({
    key: input.key,
    url: input.url,
    layout: input.layout,
    geometry: input.geometry,
    report: input.report,
    settings: { ...defaultWebSeedSettings, ...input.settings },
    piece: undefined,
    failures: 0,
    lastFailure: undefined,
    retryAfterMs: undefined,
    permanent: false,
    verified: 0,
    bytes: 0,
  }),
  invoke: { id: 'connections', src: 'connections', input: ({ context }) => ({ seed: context.url }) },
  initial: 'idle',
  states: {
    idle: {
      entry: { type: 'report', params: ({ context }) => ({ type: 'webseed.wants' as const, key: context.key }) },
      on: {
        'webseed.assign': { target: 'fetching', actions: assign({ piece: ({ event }) => event.index }) },
        'webseed.none': { target: 'waiting' },
      },
    },
    waiting: {
      after: { idleRetry: 'idle' },
    },
    fetching: {
      invoke: {
        id: 'fetch',
        src: 'fetch',
        input: ({ context }): WebSeedFetchInput => {
          const index = context.piece!;
          const length = pieceBytes(context.geometry, index);
          const offset = pieceOffset(context.geometry, index);
          return { ranges: webSeedRanges(context.url, context.layout, offset, length), length, seed: context.url };
        },
        onDone: {
          target: 'verifying',
          actions: {
            type: 'report',
            params: ({ context, event }) => ({
              type: 'webseed.data' as const,
              key: context.key,
              index: context.piece!,
              data: event.output,
            }),
          },
        },
        onError: [
          { guard: 'isLastStrike', target: 'dropped', actions: 'fetchFailed' },
          { target: 'backoff', actions: 'fetchFailed' },
        ],
      },
    },
    verifying: {
      on: {
        'webseed.verified': {
          target: 'idle',
          actions: assign(({ context }) => ({
            failures: 0,
            verified: context.verified + 1,
            bytes: context.bytes + pieceBytes(context.geometry, context.piece!),
            piece: undefined,
          })),
        },
        'webseed.taken': { target: 'idle', actions: assign({ piece: undefined }) },
        'webseed.bad': [
          { guard: 'isLastStrike', target: 'dropped', actions: 'badData' },
          { target: 'backoff', actions: 'badData' },
        ],
      },
    },
    backoff: {
      after: { backoffDelay: 'idle' },
    },
    dropped: {
      type: 'final',
      entry: {
        type: 'report',
        params: ({ context }) => ({
          type: 'webseed.dropped' as const,
          key: context.key,
          url: context.url,
          code: context.lastFailure?.code ?? 'BT_ERR_WEBSEED_CONNECT',
          message: context.lastFailure?.message ?? 'dropped',
        }),
      },
    },
  },
});

export type WebSeedMachine = typeof webSeedMachine;
