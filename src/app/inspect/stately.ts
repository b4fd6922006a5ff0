/**
 * `--inspect=stately`: the actor system's inspection events, filtered and made small, sent through
 * @statelyai/inspect's WebSocket inspector (`createWebSocketInspector`) to a WebSocket server of the
 * user's choosing (default ws://localhost:8080, where `@statelyai/inspect/server`'s
 * `createInspectorServer` listens). Nothing goes anywhere else: no hosted service is contacted.
 *
 * What is sent: every actor registration; every event and snapshot except those of high-rate event
 * types (filter), although a snapshot in which such an event changed the state is kept; contexts and
 * events reduced to their small fields (contexts hold buffers, bitfields and sockets). XState's action
 * and microstep events are never sent (the Stately inspector does not use them).
 *
 * The connection is ours to manage: the server is probed before the inspector starts, a lost or
 * refused connection is retried every few seconds on an unref'd timer, and on each (re)connection the
 * live actors are registered again — so the inspector can be opened before or after the download
 * starts, and closing never waits on a retry loop.
 */
import type { InspectionEvent } from 'xstate';
import { WebSocket } from 'ws';
import { createWebSocketInspector } from '@statelyai/inspect';
import { DEFAULT_HIGH_RATE_EVENTS, eventMatcher, type EventFilter } from './filter.js';
import { isStateMachine, type ActorLike } from './definitions.js';
import { leafPaths } from './protocol.js';
import { peerView, smallContext, smallEvent, smallValue } from './summary.js';
import { realClock, sleep, unrefTimer } from '../../io/clock.js';

export interface StatelyInspectionOptions {
  /** The WebSocket server to send to. Default ws://localhost:8080. */
  url?: string;
  /** Event types not sent (unless they change the state). Default: the high-rate events. */
  filter?: EventFilter;
  /** Retry period while the server cannot be reached. Default 2000 ms. */
  retryMs?: number;
  /** Told when the connection comes and goes. */
  onStatus?: (status: 'connected' | 'unreachable' | 'closed', detail?: string) => void;
}

export interface StatelyInspection {
  /** The inspection observer for `createActor(logic, { inspect })`. */
  inspect: (ev: InspectionEvent) => void;
  url: string;
  /** True while the WebSocket to the server is open (or opening). */
  readonly connected: boolean;
  /** Inspection events handed to the WebSocket inspector so far (after filtering). */
  readonly sent: number;
  /** Closes the connection and stops retrying. */
  close(): Promise<void>;
}

/** The WebSocket adapter's fields read here (@statelyai/inspect 0.7: `ws`, `status`). */
interface AdapterInternals {
  ws?: WebSocket & { onerror: unknown };
  status?: string;
}

interface Facade {
  id: string;
  sessionId: string;
  logic: unknown;
  _parent?: { sessionId: string };
  getSnapshot: () => unknown;
}

const parentOf = (ref: ActorLike) => ref._parent;

/** Resolves true once a WebSocket to `url` opens, false on error or after `timeoutMs`. */
export function probeWebSocket(url: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    let ws: WebSocket;
    try {
      ws = new WebSocket(url);
    } catch {
      resolve(false);
      return;
    }
    const done = (ok: boolean) => {
      realClock.clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {});
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
      else ws.terminate();
      resolve(ok);
    };
    const timer = realClock.setTimeout(() => done(false), timeoutMs);
    unrefTimer(timer);
    ws.once('open', () => done(true));
    ws.once('error', () => done(false));
  });
}

/** A snapshot with only small fields (what the Stately inspector shows as context). */
function slimSnapshot(snapshot: unknown, isPeer: boolean): Record<string, unknown> {
  const s = (snapshot ?? {}) as {
    status?: string;
    value?: unknown;
    context?: unknown;
    output?: unknown;
    error?: unknown;
  };
  const out: Record<string, unknown> = { status: s.status ?? 'active' };
  if (s.value !== undefined) out.value = s.value;
  if (s.context !== undefined) {
    const context = smallContext(s.context);
    if (isPeer) {
      try {
        context.peer = peerView(s.context, s.value);
      } catch {
        /* leave it out */
      }
    }
    out.context = context;
  }
  if (s.output !== undefined) out.output = smallValue(s.output, 2) ?? null;
  if (s.error !== undefined)
    out.error = s.error instanceof Error ? { message: s.error.message } : (smallValue(s.error, 1) ?? String(s.error));
  return out;
}

/**
 * Starts sending to the Stately WebSocket server at `url`. Resolves at once (the first connection
 * attempt is made in the background and retried until it succeeds or `close` is called).
 */
export function startStatelyInspection(options: StatelyInspectionOptions = {}): StatelyInspection {
  const url = options.url ?? 'ws://localhost:8080';
  const filter = options.filter ?? eventMatcher(DEFAULT_HIGH_RATE_EVENTS);
  const retryMs = options.retryMs ?? 2000;
  const inspector = createWebSocketInspector({ url, autoStart: false, maxDeferredEvents: 20_000 });
  const adapter = inspector.adapter as unknown as AdapterInternals;
  let state: 'idle' | 'probing' | 'open' | 'closed' = 'idle';
  let sent = 0;
  let retryTimer: unknown;
  let reported: string | undefined;
  const report = (status: 'connected' | 'unreachable' | 'closed', detail?: string) => {
    if (reported === status) return;
    reported = status;
    options.onStatus?.(status, detail);
  };

  // Actors alive now (insertion order: parents before children), for registering them again on connect.
  const live = new Set<ActorLike>();
  const facades = new WeakMap<ActorLike, Facade>();
  const last = new WeakMap<ActorLike, { value: unknown; key: string; status: string }>();
  const systems = new WeakMap<object, string>();
  let systemCount = 0;

  /** Session ids are unique per actor system only: actors of a second torrent get a prefix. */
  const sessionIdOf = (ref: ActorLike): string => {
    const system = ref.system as object;
    let tag = systems.get(system);
    if (tag === undefined) {
      tag = systemCount++ === 0 ? '' : `t${systemCount - 1}/`;
      systems.set(system, tag);
    }
    return `${tag}${ref.sessionId}`;
  };

  const facade = (ref: ActorLike): Facade => {
    let f = facades.get(ref);
    if (!f) {
      const parent = parentOf(ref);
      const isPeer = isStateMachine(ref.logic) && ref.logic.id === 'peer';
      f = {
        id: ref.id,
        sessionId: sessionIdOf(ref),
        logic: ref.logic,
        ...(parent && { _parent: { sessionId: sessionIdOf(parent) } }),
        getSnapshot: () => {
          try {
            return slimSnapshot(ref.getSnapshot(), isPeer);
          } catch {
            return { status: 'active' };
          }
        },
      };
      facades.set(ref, f);
    }
    return f;
  };

  const forward = (ev: Record<string, unknown>) => {
    sent++;
    inspector.inspect.next?.(ev as unknown as InspectionEvent);
  };

  const rootIdOf = (ref: ActorLike) => {
    let root = ref;
    for (let p = parentOf(root); p; p = parentOf(root)) root = p;
    return sessionIdOf(root);
  };

  const registerActor = (ref: ActorLike) => {
    forward({ type: '@xstate.actor', actorRef: facade(ref), rootId: rootIdOf(ref) });
  };

  const inspect = (e: InspectionEvent): void => {
    const ev = e as unknown as {
      type: string;
      actorRef: ActorLike;
      sourceRef?: ActorLike;
      event: { type: string } & Record<string, unknown>;
      snapshot: unknown;
    };
    try {
      switch (ev.type) {
        case '@xstate.actor': {
          live.add(ev.actorRef);
          if (state === 'open') registerActor(ev.actorRef);
          return;
        }
        case '@xstate.event': {
          if (state !== 'open' || filter(ev.event.type)) return;
          forward({
            type: '@xstate.event',
            actorRef: facade(ev.actorRef),
            ...(ev.sourceRef && { sourceRef: facade(ev.sourceRef) }),
            event: smallEvent(ev.event),
            rootId: rootIdOf(ev.actorRef),
          });
          return;
        }
        case '@xstate.snapshot': {
          const snap = ev.snapshot as { status?: string; value?: unknown };
          const status = snap.status ?? 'active';
          if (status !== 'active') live.delete(ev.actorRef);
          if (state !== 'open') return;
          if (filter(ev.event.type)) {
            // Sent only if this event changed the state (a transition, not just counters).
            const prev = last.get(ev.actorRef);
            if (prev && prev.value === snap.value && prev.status === status) return;
            const key = leafPaths(snap.value).join(',');
            if (prev && prev.key === key && prev.status === status) {
              prev.value = snap.value;
              return;
            }
            last.set(ev.actorRef, { value: snap.value, key, status });
          } else {
            last.set(ev.actorRef, { value: snap.value, key: leafPaths(snap.value).join(','), status });
          }
          const isPeer = isStateMachine(ev.actorRef.logic) && ev.actorRef.logic.id === 'peer';
          forward({
            type: '@xstate.snapshot',
            actorRef: facade(ev.actorRef),
            event: smallEvent(ev.event),
            snapshot: slimSnapshot(ev.snapshot, isPeer),
            rootId: rootIdOf(ev.actorRef),
          });
          return;
        }
        default:
          return; // @xstate.action, @xstate.microstep: not used by the Stately inspector
      }
    } catch {
      /* never break the engine */
    }
  };

  const scheduleRetry = () => {
    if (state === 'closed' || retryTimer) return;
    retryTimer = realClock.setTimeout(() => {
      retryTimer = undefined;
      void attempt();
    }, retryMs);
    unrefTimer(retryTimer);
  };

  const attempt = async () => {
    if (state === 'closed' || state === 'open' || state === 'probing') return;
    state = 'probing';
    const ok = await probeWebSocket(url);
    if ((state as string) === 'closed') return;
    if (!ok) {
      state = 'idle';
      report('unreachable', `no WebSocket server at ${url}; retrying every ${retryMs / 1000} s`);
      scheduleRetry();
      return;
    }
    inspector.start();
    const ws = adapter.ws;
    if (ws) {
      // The adapter retries refused connections on its own timer forever; this module retries instead.
      ws.onerror = () => {
        adapter.status = 'closed';
      };
      ws.addEventListener('close', () => {
        if (adapter.ws !== ws || state === 'closed') return;
        state = 'idle';
        report('closed', `the connection to ${url} closed; retrying every ${retryMs / 1000} s`);
        scheduleRetry();
      });
    }
    state = 'open';
    report('connected');
    for (const ref of live) {
      const status = (ref.getSnapshot() as { status?: string } | undefined)?.status;
      if (status === undefined || status === 'active') registerActor(ref);
      else live.delete(ref);
    }
  };

  void attempt();

  return {
    inspect,
    url,
    get connected() {
      return state === 'open';
    },
    get sent() {
      return sent;
    },
    close: async () => {
      if (state === 'closed') return;
      const wasOpen = state === 'open';
      state = 'closed';
      if (retryTimer) realClock.clearTimeout(retryTimer);
      retryTimer = undefined;
      if (wasOpen) {
        // Let the events already queued (the adapter sends on a 0 ms timer) go out first.
        await sleep(realClock, 50);
        const ws = adapter.ws;
        const deadline = realClock.now() + 1000;
        while (ws && ws.readyState === WebSocket.OPEN && ws.bufferedAmount > 0 && realClock.now() < deadline)
          await sleep(realClock, 20);
      }
      const ws = adapter.ws;
      if (ws) ws.onerror = () => {};
      inspector.stop();
      live.clear();
    },
  };
}
