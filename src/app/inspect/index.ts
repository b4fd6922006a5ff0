/**
 * Live inspection of the engine's actors, off unless asked for:
 *
 * - `local`: an {@link InspectCollector} feeding the inspector page served by an
 *   {@link InspectServer} on 127.0.0.1 (no internet needed).
 * - `stately`: the same actor system sent to a Stately inspector WebSocket server
 *   (`startStatelyInspection` in stately.ts, through {@link startInspection}).
 *
 * @example
 * const inspection = await startInspection({ mode: 'local', port: 0 });
 * const engine = await Engine.create({ inspect: inspection.inspect });
 * console.log(`inspector at ${inspection.url}`);
 * // …
 * await engine.close();
 * await inspection.close();
 */
import type { InspectionEvent } from 'xstate';
import { InspectCollector, type CollectorOptions } from './collector.js';
import { DEFAULT_HIGH_RATE_EVENTS, eventMatcher, type EventFilter } from './filter.js';
import type { InspectServer } from './server.js';
import type { StatelyInspectionOptions } from './stately.js';

// This module is light on purpose (the CLI imports it on every run): the server (ws) and the Stately
// inspector (@statelyai/inspect) are loaded only when an inspection starts.
export { InspectCollector, type CollectorOptions };
export type { InspectServer, InspectServerOptions } from './server.js';
export type { StatelyInspection, StatelyInspectionOptions } from './stately.js';
export { DEFAULT_HIGH_RATE_EVENTS, eventMatcher, parseEventFilter, type EventFilter } from './filter.js';
export { machineDefinition } from './definitions.js';
export { peerClient } from './peer-client.js';
export type * from './protocol.js';

/** The default port of the local inspector page (the next free one is taken if it is in use). */
export const DEFAULT_INSPECT_PORT = 9339;

export type InspectMode = 'local' | 'stately';

export interface InspectionOptions {
  mode: InspectMode;
  /** local: the page's port (0 = any; a taken port is followed by the next free ones). Default 9339. */
  port?: number;
  /** local: the address to serve on. Default 127.0.0.1. */
  host?: string;
  /** stately: the WebSocket server's URL. Default ws://localhost:8080. */
  url?: string;
  /** Event types left out of logs (local) or not sent (stately). Default: the high-rate events. */
  filter?: EventFilter;
  /** local: the collector's throttle (flushMs …). */
  collector?: Omit<CollectorOptions, 'quiet'>;
  /** stately: connection status changes. */
  onStatus?: StatelyInspectionOptions['onStatus'];
}

/** A running inspection: pass `inspect` to the actors (`createTorrentActor({ inspect })`, `Engine.create({ inspect })`). */
export interface Inspection {
  mode: InspectMode;
  /** The inspection observer. */
  inspect: (ev: InspectionEvent) => void;
  /** local: the page (http://127.0.0.1:9339/); stately: the WebSocket server events go to. */
  url: string;
  collector?: InspectCollector;
  server?: InspectServer;
  /** Ends the inspection: a last update to the page, then the server (or the connection) closes. */
  close(): Promise<void>;
}

/** Starts an inspection; resolves once the local page's port is open (stately: at once). */
export async function startInspection(options: InspectionOptions): Promise<Inspection> {
  const filter = options.filter ?? eventMatcher(DEFAULT_HIGH_RATE_EVENTS);
  if (options.mode === 'stately') {
    const { startStatelyInspection } = await import('./stately.js');
    const s = startStatelyInspection({
      filter,
      ...(options.url !== undefined && { url: options.url }),
      ...(options.onStatus && { onStatus: options.onStatus }),
    });
    return { mode: 'stately', inspect: s.inspect, url: s.url, close: () => s.close() };
  }
  const { InspectServer } = await import('./server.js');
  const collector = new InspectCollector({ ...options.collector, quiet: filter });
  let server: InspectServer;
  try {
    server = await InspectServer.start({
      collector,
      port: options.port ?? DEFAULT_INSPECT_PORT,
      ...(options.host !== undefined && { host: options.host }),
    });
  } catch (err) {
    collector.close();
    throw err;
  }
  return {
    mode: 'local',
    inspect: collector.observer,
    url: server.url,
    collector,
    server,
    close: async () => {
      await server.close();
      collector.close();
    },
  };
}
