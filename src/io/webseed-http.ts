/**
 * The fetch effect of a BEP 19 web seed: the ranges of one piece over HTTP(S) with `Range` requests
 * (node:http / node:https), one after another, into one buffer of exactly the piece's length. A server
 * never makes us hold more than we asked for: a body longer than its range ends the request. Every
 * failure is a {@link WebSeedError} with a `BT_ERR_WEBSEED_…` code; `permanent` ones (404, 410, a URL
 * that is not HTTP) drop the web seed, the others make it back off (`retryAfterMs` from `Retry-After`).
 *
 * Connections are kept alive across ranges and pieces: each web seed has its own agents
 * ({@link WebSeedAgents}: a few sockets per host, an idle one closed after a few seconds), closed when
 * the web seed's actor stops (dropped, or its torrent stopped or removed).
 *
 * @example
 * ```ts
 * const agents = new WebSeedAgents();
 * webSeedMachine.provide({
 *   actors: { fetch: webSeedFetchActor(realClock, { agents }), connections: webSeedConnectionsActor(agents) },
 * });
 * ```
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { fromCallback, fromPromise, type EventObject } from 'xstate';
import { BtError } from '../protocol/errors.js';
import type { WebSeedConnectionsInput, WebSeedFetchInput, WebSeedRange } from '../protocol/webseed.js';
import { realClock, type Clock } from './clock.js';
import { httpsModule } from './lazy-builtins.js';
import type { RateLimiter } from './rate-limit.js';

export type WebSeedErrorCode =
  | 'BT_ERR_WEBSEED_URL'
  | 'BT_ERR_WEBSEED_NOT_FOUND'
  | 'BT_ERR_WEBSEED_HTTP_STATUS'
  | 'BT_ERR_WEBSEED_CONNECT'
  | 'BT_ERR_WEBSEED_TIMEOUT'
  | 'BT_ERR_WEBSEED_SHORT'
  | 'BT_ERR_WEBSEED_TOO_LARGE'
  | 'BT_ERR_WEBSEED_REDIRECT';

export class WebSeedError extends BtError {
  override readonly name = 'WebSeedError';
  constructor(
    override readonly code: WebSeedErrorCode,
    message: string,
    /** The web seed will not serve this torrent: drop it rather than retry. */
    readonly permanent = false,
    /** The server asked us to come back after this long (`Retry-After`). */
    readonly retryAfterMs?: number,
  ) {
    super(code, message);
  }
}

export interface WebSeedHttpOptions {
  clock?: Clock;
  /** A request with no byte for this long fails (`BT_ERR_WEBSEED_TIMEOUT`). Default 30 s. */
  timeoutMs?: number;
  /** Redirects followed per range. Default 3. */
  maxRedirects?: number;
  /**
   * The torrent's download limiter (src/io/rate-limit.ts, the engine's above it): every byte read is
   * charged to it, and the response pauses while it is in debt, as a peer connection's socket does.
   */
  down?: RateLimiter;
  /** Kept-alive connections per web seed (the input's `seed`); absent: a connection per request. */
  agents?: WebSeedAgents;
}

export interface WebSeedAgentOptions {
  /** Sockets per host of one web seed (its ranges are fetched one after another: 1 is busy at a time). Default 2. */
  maxSockets?: number;
  /** An idle kept-alive socket is closed after this long (below common servers' 5 s keep-alive). Default 4 s. */
  idleMs?: number;
}

/**
 * HTTP(S) agents with keep-alive, one pair per web seed, so a web seed's ranges and pieces reuse a few
 * connections instead of one per range. Bounded: `maxSockets` per host and web seed (a torrent has at most 8 web
 * seeds: `MAX_WEB_SEEDS`). `close(seed)` destroys a web seed's sockets.
 */
export class WebSeedAgents {
  private readonly bySeed = new Map<string, { http?: HttpAgent; https?: HttpsAgent }>();
  private readonly maxSockets: number;
  private readonly idleMs: number;

  constructor(options: WebSeedAgentOptions = {}) {
    this.maxSockets = Math.max(1, options.maxSockets ?? 2);
    this.idleMs = Math.max(1, options.idleMs ?? 4_000);
  }

  /** The agent of web seed `seed` for URLs of `protocol` (made at first use). */
  agentFor(seed: string, protocol: 'http:' | 'https:'): HttpAgent {
    let entry = this.bySeed.get(seed);
    if (!entry) this.bySeed.set(seed, (entry = {}));
    const options = {
      keepAlive: true,
      maxSockets: this.maxSockets,
      maxFreeSockets: this.maxSockets,
      maxTotalSockets: this.maxSockets * 2,
      // Node closes a free socket of the agent after this long idle (a busy one only emits 'timeout').
      timeout: this.idleMs,
      scheduling: 'lifo' as const,
    };
    if (protocol === 'https:') return (entry.https ??= new (httpsModule().Agent)(options));
    return (entry.http ??= new HttpAgent(options));
  }

  /** Destroys the sockets of web seed `seed`, busy or idle. */
  close(seed: string): void {
    const entry = this.bySeed.get(seed);
    if (!entry) return;
    this.bySeed.delete(seed);
    entry.http?.destroy();
    entry.https?.destroy();
  }

  /** Destroys every web seed's sockets. */
  closeAll(): void {
    for (const seed of [...this.bySeed.keys()]) this.close(seed);
  }

  /** Web seeds with agents now. */
  get size(): number {
    return this.bySeed.size;
  }
}

/**
 * The `connections` actor of the web seed statechart: invoked for the web seed's whole life, it closes
 * the web seed's kept-alive connections when the web seed stops.
 */
export function webSeedConnectionsActor(agents: WebSeedAgents) {
  return fromCallback<EventObject, WebSeedConnectionsInput>(
    ({ input }) =>
      () =>
        agents.close(input.seed),
  );
}

/** A request failed on a kept-alive socket the server had closed meanwhile: worth one retry on a new one. */
class StaleSocket extends Error {
  constructor(readonly failure: WebSeedError) {
    super(failure.message);
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The bytes of one piece: its ranges fetched in order (padding ranges are zeros). */
export async function fetchWebSeedPiece(
  input: WebSeedFetchInput,
  options: WebSeedHttpOptions = {},
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const out = new Uint8Array(input.length);
  let at = 0;
  for (const r of input.ranges) {
    if (at + r.length > input.length) throw new WebSeedError('BT_ERR_WEBSEED_TOO_LARGE', 'ranges past the piece');
    if (!r.padding) await fetchRange(r, out.subarray(at, at + r.length), options, signal, input.seed);
    at += r.length;
  }
  if (at !== input.length)
    throw new WebSeedError('BT_ERR_WEBSEED_SHORT', `ranges cover ${at} of ${input.length} bytes`);
  return out;
}

/** Fills `into` with the bytes of range `r`, following redirects. */
async function fetchRange(
  r: WebSeedRange,
  into: Uint8Array,
  options: WebSeedHttpOptions,
  signal: AbortSignal | undefined,
  seed: string | undefined,
): Promise<void> {
  let url = r.url;
  let retried = false;
  for (let hops = 0; ; hops++) {
    let location: string | undefined;
    try {
      location = await getRange(url, r.start, into, options, signal, seed);
    } catch (err) {
      if (!(err instanceof StaleSocket)) throw err;
      if (retried) throw err.failure;
      retried = true;
      hops--;
      continue;
    }
    if (location === undefined) return;
    if (hops >= (options.maxRedirects ?? 3))
      throw new WebSeedError('BT_ERR_WEBSEED_REDIRECT', `too many redirects from ${r.url}`, true);
    url = location;
  }
}

/** One GET of `into.length` bytes at `start`; returns a redirect's target, or undefined once `into` is full. */
function getRange(
  url: string,
  start: number,
  into: Uint8Array,
  options: WebSeedHttpOptions,
  signal: AbortSignal | undefined,
  seed: string | undefined,
): Promise<string | undefined> {
  if (signal?.aborted) return Promise.reject(new WebSeedError('BT_ERR_WEBSEED_CONNECT', `${url}: aborted`));
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new WebSeedError('BT_ERR_WEBSEED_URL', `not a URL: ${url}`, true));
  }
  const request =
    parsed.protocol === 'http:' ? httpRequest : parsed.protocol === 'https:' ? httpsModule().request : undefined;
  if (!request) return Promise.reject(new WebSeedError('BT_ERR_WEBSEED_URL', `not an HTTP URL: ${url}`, true));
  const clock = options.clock ?? realClock;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const end = start + into.length - 1;

  const down = options.down;
  const agent = seed !== undefined ? options.agents?.agentFor(seed, parsed.protocol as 'http:' | 'https:') : undefined;
  return new Promise<string | undefined>((resolve, reject) => {
    let settled = false;
    let timer: unknown;
    /** Waiting for the download limiter (the response is paused, the no-data timer off). */
    let cancelWait: (() => void) | undefined;
    /** A response began: a failure past this point is no stale socket. */
    let answered = false;
    /**
     * `keep`: the response was read to its end, so its socket goes back to the web seed's agent for the
     * next range; any other end destroys the connection.
     */
    const finish = (err: WebSeedError | StaleSocket | undefined, location?: string, keep = false) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      cancelWait?.();
      signal?.removeEventListener('abort', onAbort);
      if (!keep || !agent) req.destroy();
      if (err) reject(err);
      else resolve(location);
    };
    const arm = () => {
      clock.clearTimeout(timer);
      timer = clock.setTimeout(
        () => finish(new WebSeedError('BT_ERR_WEBSEED_TIMEOUT', `${url}: no data for ${timeoutMs} ms`)),
        timeoutMs,
      );
    };
    const onAbort = () => finish(new WebSeedError('BT_ERR_WEBSEED_CONNECT', `${url}: aborted`));
    const req = request(parsed, {
      method: 'GET',
      headers: { Range: `bytes=${start}-${end}`, 'User-Agent': 'bt-actor', 'Accept-Encoding': 'identity' },
      ...(agent && { agent }),
    });
    signal?.addEventListener('abort', onAbort);
    arm();
    req.on('error', (err) => {
      const e = new WebSeedError('BT_ERR_WEBSEED_CONNECT', `${url}: ${err.message}`);
      finish(req.reusedSocket && !answered ? new StaleSocket(e) : e);
    });
    req.on('response', (res: IncomingMessage) => {
      answered = true;
      const status = res.statusCode ?? 0;
      if (REDIRECTS.has(status) && typeof res.headers.location === 'string') {
        let next: string;
        try {
          next = new URL(res.headers.location, parsed).toString();
        } catch {
          return finish(new WebSeedError('BT_ERR_WEBSEED_REDIRECT', `${url}: a redirect to a bad URL`, true));
        }
        return finish(undefined, next);
      }
      if (status === 404 || status === 410)
        return finish(new WebSeedError('BT_ERR_WEBSEED_NOT_FOUND', `${url}: HTTP ${status}`, true));
      // 206 is the answer to a range; 200 is the whole file, usable only from its first byte.
      if (status !== 206 && !(status === 200 && start === 0)) {
        const retry = retryAfterMs(res.headers['retry-after']);
        return finish(new WebSeedError('BT_ERR_WEBSEED_HTTP_STATUS', `${url}: HTTP ${status}`, false, retry));
      }
      if (status === 206 && !rangeMatches(res.headers['content-range'], start, end))
        return finish(
          new WebSeedError('BT_ERR_WEBSEED_HTTP_STATUS', `${url}: a Content-Range other than ${start}-${end}`),
        );
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        arm();
        const room = into.length - got;
        if (status === 206 && chunk.length > room)
          return finish(new WebSeedError('BT_ERR_WEBSEED_TOO_LARGE', `${url}: more bytes than the range holds`));
        into.set(chunk.subarray(0, room), got);
        got += Math.min(room, chunk.length);
        if (got === into.length && status === 200) return finish(undefined); // the rest of the file is not wanted
        if (!down?.limited) return;
        down.charge(chunk.length);
        if (cancelWait !== undefined || !down.blocked) return;
        res.pause();
        clock.clearTimeout(timer); // a wait of ours is not the server's silence
        cancelWait = down.wait(() => {
          cancelWait = undefined;
          if (settled) return;
          arm();
          res.resume();
        }, down.chunk);
      });
      res.on('end', () => {
        if (got === into.length) finish(undefined, undefined, true);
        else finish(new WebSeedError('BT_ERR_WEBSEED_SHORT', `${url}: ${got} of ${into.length} bytes`));
      });
      res.on('error', (err) => finish(new WebSeedError('BT_ERR_WEBSEED_CONNECT', `${url}: ${err.message}`)));
    });
    req.end();
  });
}

/** A `Content-Range: bytes S-E/…` naming exactly our range (absent: trusted, the length is checked). */
function rangeMatches(header: string | undefined, start: number, end: number): boolean {
  if (header === undefined) return true;
  const m = /^bytes\s+(\d+)-(\d+)\//i.exec(header.trim());
  return m !== null && Number(m[1]) === start && Number(m[2]) === end;
}

/** `Retry-After` in seconds (an HTTP date is ignored), capped at an hour. */
function retryAfterMs(header: string | undefined): number | undefined {
  if (header === undefined || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(Number(header.trim()), 3600) * 1000;
}

/** The `fetch` actor of the web seed statechart, on the given clock. */
export function webSeedFetchActor(clock: Clock = realClock, options: Omit<WebSeedHttpOptions, 'clock'> = {}) {
  return fromPromise<Uint8Array, WebSeedFetchInput>(({ input, signal }) =>
    fetchWebSeedPiece(input, { ...options, clock }, signal),
  );
}
