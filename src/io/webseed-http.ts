/**
 * The fetch effect of a BEP 19 web seed: the ranges of one piece over HTTP(S) with `Range` requests
 * (node:http / node:https), one after another, into one buffer of exactly the piece's length. A server
 * never makes us hold more than we asked for: a body longer than its range ends the request. Every
 * failure is a {@link WebSeedError} with a `BT_ERR_WEBSEED_…` code; `permanent` ones (404, 410, a URL
 * that is not HTTP) drop the web seed, the others make it back off (`retryAfterMs` from `Retry-After`).
 *
 * @example
 * ```ts
 * const fetch = webSeedFetchActor(realClock);
 * webSeedMachine.provide({ actors: { fetch } });
 * ```
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { fromPromise } from 'xstate';
import { BtError } from '../protocol/errors.js';
import type { WebSeedFetchInput, WebSeedRange } from '../protocol/webseed.js';
import { realClock, type Clock } from './clock.js';
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
    if (!r.padding) await fetchRange(r, out.subarray(at, at + r.length), options, signal);
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
): Promise<void> {
  let url = r.url;
  for (let hops = 0; ; hops++) {
    const location = await getRange(url, r.start, into, options, signal);
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
): Promise<string | undefined> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new WebSeedError('BT_ERR_WEBSEED_URL', `not a URL: ${url}`, true));
  }
  const request = parsed.protocol === 'http:' ? httpRequest : parsed.protocol === 'https:' ? httpsRequest : undefined;
  if (!request) return Promise.reject(new WebSeedError('BT_ERR_WEBSEED_URL', `not an HTTP URL: ${url}`, true));
  const clock = options.clock ?? realClock;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const end = start + into.length - 1;

  const down = options.down;
  return new Promise<string | undefined>((resolve, reject) => {
    let settled = false;
    let timer: unknown;
    /** Waiting for the download limiter (the response is paused, the no-data timer off). */
    let cancelWait: (() => void) | undefined;
    const finish = (err: WebSeedError | undefined, location?: string) => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      cancelWait?.();
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
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
    });
    signal?.addEventListener('abort', onAbort);
    arm();
    req.on('error', (err) => finish(new WebSeedError('BT_ERR_WEBSEED_CONNECT', `${url}: ${err.message}`)));
    req.on('response', (res: IncomingMessage) => {
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
        if (got === into.length) finish(undefined);
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
