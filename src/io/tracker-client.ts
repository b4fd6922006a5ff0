/**
 * Tracker transports: HTTP(S) announce/scrape through Node's fetch, UDP announce/scrape through
 * dgram following BEP 15. Every failure is a {@link TrackerTransportError} with a `BT_ERR_…` code;
 * nothing here retries across announces (the tracker statechart does, with backoff).
 */
import { toHex } from '../protocol/bytes.js';
import type { Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { BtError } from '../protocol/errors.js';
import { realClock, type Clock } from './clock.js';
import { dgramModule, dnsModule, httpsModule } from './lazy-builtins.js';
import type { AnnounceInput, AnnounceResult } from '../protocol/tracker-types.js';
import {
  buildAnnounceUrl,
  buildScrapeUrl,
  parseAnnounceResponse,
  parseScrapeResponse,
  scrapeUrlFor,
  type ScrapeStats,
} from '../protocol/tracker-http.js';
import {
  decodeUdpResponse,
  encodeAnnounceRequest,
  encodeConnectRequest,
  encodeScrapeRequest,
  UDP_MAX_SCRAPE_HASHES,
  type UdpResponse,
} from '../protocol/tracker-udp.js';

export type TrackerTransportErrorCode =
  | 'BT_ERR_TRACKER_UNSUPPORTED'
  | 'BT_ERR_TRACKER_DNS'
  | 'BT_ERR_TRACKER_CONNECT'
  | 'BT_ERR_TRACKER_TIMEOUT'
  | 'BT_ERR_TRACKER_ABORTED'
  | 'BT_ERR_TRACKER_HTTP_STATUS'
  | 'BT_ERR_TRACKER_TOO_LARGE'
  | 'BT_ERR_TRACKER_FAILURE'
  | 'BT_ERR_TRACKER_NO_SCRAPE'
  | 'BT_ERR_TRACKER_REDIRECT'
  | 'BT_ERR_UDP_ERROR_REPLY'
  | 'BT_ERR_UDP_TRANSACTION'
  | 'BT_ERR_UDP_REPLY';

/** An announce or scrape that failed. `retryIn` (seconds) and `never` carry BEP 31 advice. */
export class TrackerTransportError extends BtError {
  override readonly name = 'TrackerTransportError';
  constructor(
    override readonly code: TrackerTransportErrorCode | string,
    message: string,
    readonly url: string,
    readonly retryIn?: number,
    readonly never?: boolean,
  ) {
    super(code, message);
  }
}

/** One announce for one torrent: what the tracker machine asks for, plus the torrent's info hash. */
export interface AnnounceRequest extends AnnounceInput {
  infoHash: Uint8Array;
}

export interface TrackerClientOptions {
  /** Our 20-byte peer id. */
  peerId: Uint8Array;
  /** The TCP port we accept peers on. */
  port: number;
  /** The announce `key` (BEP 7): random per client by default. */
  key?: number;
  /** HTTP request timeout (default 30 s). */
  httpTimeoutMs?: number;
  /** Largest HTTP reply body read (default 2 MiB). */
  maxReplyBytes?: number;
  /** BEP 15 retransmission: wait `udpRetransmitBaseMs · 2^n` for n = 0 … `udpMaxRetransmits`. */
  udpRetransmitBaseMs?: number;
  udpMaxRetransmits?: number;
  /** How long a UDP connection id stays valid (BEP 15: one minute). */
  udpConnectionIdTtlMs?: number;
  /** Time for the UDP retransmissions and connection ids (default the real clock). */
  clock?: Clock;
}

const CONNECTION_ID_TTL_MS = 60_000;

/** Maps fetch/undici and socket failures onto our codes. */
function networkError(
  err: unknown,
  url: string,
  signal: AbortSignal | undefined,
  timedOut: boolean,
): TrackerTransportError {
  if (err instanceof TrackerTransportError) return err;
  if (timedOut) return new TrackerTransportError('BT_ERR_TRACKER_TIMEOUT', `${url}: no reply in time`, url);
  if (signal?.aborted) return new TrackerTransportError('BT_ERR_TRACKER_ABORTED', `${url}: aborted`, url);
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  const code = e.cause?.code ?? e.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    return new TrackerTransportError('BT_ERR_TRACKER_DNS', `${url}: cannot resolve host (${code})`, url);
  }
  const detail = code ?? e.cause?.message ?? e.message ?? String(err);
  return new TrackerTransportError('BT_ERR_TRACKER_CONNECT', `${url}: ${detail}`, url);
}

/** Rethrows codec errors (bad bencode, bad reply) as they are: they already carry typed codes. */
function codecError(err: unknown, url: string): BtError {
  if (err instanceof BtError) {
    const e = new TrackerTransportError(err.code, `${url}: ${err.message}`, url);
    e.cause = err;
    return e;
  }
  return new TrackerTransportError('BT_ERR_UDP_REPLY', `${url}: ${String(err)}`, url);
}

/** node:http's or node:https's `request` (the latter loaded at the first https tracker). */
const requestOf = (url: URL): typeof httpRequest => (url.protocol === 'https:' ? httpsModule().request : httpRequest);

/** One HTTP reply: its status, its `Location`, and its body (read only for a 200). */
interface HttpReply {
  status: number;
  statusText: string;
  location: string | undefined;
  body: Uint8Array;
}

/**
 * One GET of `url` with node:http / node:https (not `fetch`: loading undici costs ~80 ms of every
 * run's start-up before the first announce). A 200's body is read whole, refusing more than `max`
 * bytes (a hostile tracker cannot exhaust memory); any other status is returned with no body.
 */
function getOnce(url: string, signal: AbortSignal, max: number, displayUrl: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const tooLarge = (what: string) =>
      new TrackerTransportError('BT_ERR_TRACKER_TOO_LARGE', `${displayUrl}: ${what}`, displayUrl);
    const req = requestOf(target)(
      target,
      // A connection per request (`agent: false`): trackers are asked once per interval, and many (opentracker)
      // close a connection after the reply, so a kept-alive one would be reset when reused.
      { method: 'GET', signal, agent: false, headers: { 'user-agent': 'bt-actor', 'accept-encoding': 'identity' } },
      (res) => {
        const reply = {
          status: res.statusCode ?? 0,
          statusText: res.statusMessage ?? '',
          location: res.headers.location,
        };
        if (reply.status !== 200) {
          res.resume();
          resolve({ ...reply, body: new Uint8Array(0) });
          return;
        }
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (declared > max) {
          req.destroy();
          reject(tooLarge(`reply of ${declared} bytes is too large`));
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (chunk: Buffer) => {
          total += chunk.length;
          if (total > max) {
            req.destroy();
            reject(tooLarge(`reply longer than ${max} bytes`));
          } else chunks.push(chunk);
        });
        res.on('end', () => resolve({ ...reply, body: Buffer.concat(chunks, total) }));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('the connection closed before the reply ended'));
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

interface UdpTarget {
  host: string;
  port: number;
  family: 4 | 6;
}

/**
 * Announces and scrapes for any number of torrents. One instance per engine (it holds the UDP
 * connection ids, valid one minute per tracker).
 */
/** Packets a UDP conversation dropped (not the tracker's answer), for the timeout's message. */
interface DroppedPackets {
  count: number;
  last: string;
}

/** An IPv4-mapped IPv6 address as plain IPv4 (a dual-stack socket reports those). */
const unmapped = (address: string): string => (address.startsWith('::ffff:') ? address.slice(7) : address);

/** Redirects an HTTP announce or scrape follows at most. */
export const MAX_REDIRECTS = 5;

/** Where a redirect from `from` to `location` leads, or a typed error if it may not be followed. */
function redirectTarget(from: string, location: string, hop: number, displayUrl: string): string {
  const refuse = (why: string) =>
    new TrackerTransportError('BT_ERR_TRACKER_REDIRECT', `${displayUrl}: redirect refused: ${why}`, displayUrl);
  if (hop >= MAX_REDIRECTS) throw refuse(`more than ${MAX_REDIRECTS} redirects`);
  let to: URL;
  try {
    to = new URL(location, from);
  } catch {
    throw refuse(`bad location ${JSON.stringify(location.slice(0, 200))}`);
  }
  if (to.protocol !== 'http:' && to.protocol !== 'https:') throw refuse(`to ${to.protocol} (only http and https)`);
  if (new URL(from).protocol === 'https:' && to.protocol === 'http:') throw refuse('from https down to http');
  return to.href;
}

export class TrackerClient {
  private readonly peerId: Uint8Array;
  private readonly port: number;
  private readonly key: number;
  private readonly httpTimeoutMs: number;
  private readonly maxReplyBytes: number;
  private readonly udpBaseMs: number;
  private readonly udpMaxRetransmits: number;
  private readonly udpTtlMs: number;
  private readonly connectionIds = new Map<string, { id: bigint; expires: number }>();
  private readonly clock: Clock;

  constructor(options: TrackerClientOptions) {
    this.peerId = options.peerId;
    this.port = options.port;
    this.key = options.key ?? randomBytes(4).readUInt32BE(0);
    this.httpTimeoutMs = options.httpTimeoutMs ?? 30_000;
    this.maxReplyBytes = options.maxReplyBytes ?? 2 * 1024 * 1024;
    this.udpBaseMs = options.udpRetransmitBaseMs ?? 15_000;
    this.udpMaxRetransmits = options.udpMaxRetransmits ?? 8;
    this.udpTtlMs = options.udpConnectionIdTtlMs ?? CONNECTION_ID_TTL_MS;
    this.clock = options.clock ?? realClock;
  }

  /** Announces to `req.url` (http, https or udp). Rejects with a {@link TrackerTransportError}. */
  async announce(req: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResult> {
    const protocol = protocolOf(req.url);
    if (protocol === 'http:' || protocol === 'https:') return this.httpAnnounce(req, signal);
    if (protocol === 'udp:') return this.udpAnnounce(req, signal);
    throw new TrackerTransportError(
      'BT_ERR_TRACKER_UNSUPPORTED',
      `${req.url}: unsupported tracker protocol '${protocol}'`,
      req.url,
      undefined,
      true,
    );
  }

  /** Scrapes `infoHashes` from the tracker of `announceUrl`. Keys of the result are 40-hex info hashes. */
  async scrape(announceUrl: string, infoHashes: Uint8Array[], signal?: AbortSignal): Promise<Map<string, ScrapeStats>> {
    const protocol = protocolOf(announceUrl);
    if (protocol === 'http:' || protocol === 'https:') return this.httpScrape(announceUrl, infoHashes, signal);
    if (protocol === 'udp:') return this.udpScrape(announceUrl, infoHashes, signal);
    throw new TrackerTransportError(
      'BT_ERR_TRACKER_UNSUPPORTED',
      `${announceUrl}: unsupported tracker protocol '${protocol}'`,
      announceUrl,
    );
  }

  // ---- HTTP -------------------------------------------------------------------------------

  /**
   * GETs `url`, following at most {@link MAX_REDIRECTS} redirects by hand: only to http(s), and never
   * from https down to http (a redirect must not strip the announce of its TLS).
   */
  private async httpGet(url: string, displayUrl: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
    const timeout = AbortSignal.timeout(this.httpTimeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    try {
      let current = url;
      for (let hop = 0; ; hop++) {
        const res = await getOnce(current, combined, this.maxReplyBytes, displayUrl);
        if (res.status >= 300 && res.status < 400 && res.location !== undefined) {
          current = redirectTarget(current, res.location, hop, displayUrl);
          continue;
        }
        if (res.status !== 200) {
          throw new TrackerTransportError(
            'BT_ERR_TRACKER_HTTP_STATUS',
            `${displayUrl}: HTTP ${res.status} ${res.statusText}`.trim(),
            displayUrl,
          );
        }
        return res.body;
      }
    } catch (err) {
      throw networkError(err, displayUrl, signal, timeout.aborted);
    }
  }

  private async httpAnnounce(req: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResult> {
    const params = {
      infoHash: req.infoHash,
      peerId: this.peerId,
      port: this.port,
      uploaded: req.stats.uploaded,
      downloaded: req.stats.downloaded,
      left: req.stats.left,
      numwant: req.numwant,
      key: this.key,
      compact: true,
      ...(req.event && { event: req.event }),
      ...(req.trackerId !== undefined && { trackerId: req.trackerId }),
    };
    const body = await this.httpGet(buildAnnounceUrl(req.url, params), req.url, signal);
    let reply;
    try {
      reply = parseAnnounceResponse(body);
    } catch (err) {
      throw codecError(err, req.url);
    }
    if (reply.type === 'failure') {
      const never = reply.retryIn === 'never';
      const retryIn = typeof reply.retryIn === 'number' ? reply.retryIn * 60 : undefined;
      throw new TrackerTransportError(
        'BT_ERR_TRACKER_FAILURE',
        `${req.url}: tracker says: ${reply.reason}`,
        req.url,
        retryIn,
        never,
      );
    }
    const out: AnnounceResult = { interval: reply.interval, peers: reply.peers };
    if (reply.minInterval !== undefined) out.minInterval = reply.minInterval;
    if (reply.trackerId !== undefined) out.trackerId = reply.trackerId;
    if (reply.warning !== undefined) out.warning = reply.warning;
    if (reply.complete !== undefined) out.complete = reply.complete;
    if (reply.incomplete !== undefined) out.incomplete = reply.incomplete;
    return out;
  }

  private async httpScrape(
    announceUrl: string,
    infoHashes: Uint8Array[],
    signal?: AbortSignal,
  ): Promise<Map<string, ScrapeStats>> {
    const scrapeUrl = scrapeUrlFor(announceUrl);
    if (!scrapeUrl)
      throw new TrackerTransportError(
        'BT_ERR_TRACKER_NO_SCRAPE',
        `${announceUrl}: this tracker has no scrape URL (BEP 48)`,
        announceUrl,
      );
    const body = await this.httpGet(buildScrapeUrl(scrapeUrl, infoHashes), scrapeUrl, signal);
    let reply;
    try {
      reply = parseScrapeResponse(body);
    } catch (err) {
      throw codecError(err, scrapeUrl);
    }
    if (reply.type === 'failure')
      throw new TrackerTransportError(
        'BT_ERR_TRACKER_FAILURE',
        `${scrapeUrl}: tracker says: ${reply.reason}`,
        scrapeUrl,
      );
    return reply.files;
  }

  // ---- UDP (BEP 15) -----------------------------------------------------------------------

  private async udpTarget(url: string): Promise<UdpTarget> {
    const u = new URL(url);
    const port = Number(u.port);
    if (!port)
      throw new TrackerTransportError(
        'BT_ERR_TRACKER_UNSUPPORTED',
        `${url}: a UDP tracker URL needs a port`,
        url,
        undefined,
        true,
      );
    const hostname = u.hostname.replace(/^\[|\]$/g, '');
    try {
      const { address, family } = await dnsModule().lookup(hostname);
      return { host: address, port, family: family === 6 ? 6 : 4 };
    } catch (err) {
      throw networkError(err, url, undefined, false);
    }
  }

  /**
   * Runs one UDP conversation on its own socket: connect (unless a connection id is cached), then
   * `build(connectionId, tx)`; retransmits after base·2^n. Only the tracker's address and port can
   * answer, with our transaction id: a packet from elsewhere, with another id, of another kind or
   * malformed is dropped and waited past (anyone can send a datagram; a forged one must not end the
   * announce). An error reply with our id fails the request with the tracker's message.
   */
  private async udpRequest(
    url: string,
    signal: AbortSignal | undefined,
    build: (connectionId: bigint, tx: number) => Uint8Array,
    expect: UdpResponse['action'],
  ): Promise<{ res: UdpResponse; target: UdpTarget }> {
    const target = await this.udpTarget(url);
    const key = `${target.host}:${target.port}`;
    const socket = dgramModule().createSocket(target.family === 6 ? 'udp6' : 'udp4');
    const dropped: DroppedPackets = { count: 0, last: '' };
    socket.unref();
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(0, target.family === 6 ? '::' : '0.0.0.0', () => {
          socket.off('error', reject);
          resolve();
        });
      });
      let cached = this.connectionIds.get(key);
      if (!cached || cached.expires <= this.clock.now()) {
        const tx = randomBytes(4).readUInt32BE(0);
        const res = await this.udpExchange(
          socket,
          target,
          url,
          encodeConnectRequest(tx),
          tx,
          'connect',
          signal,
          dropped,
        );
        if (res.action !== 'connect')
          throw new TrackerTransportError('BT_ERR_UDP_REPLY', `${url}: expected a connect reply`, url);
        cached = { id: res.connectionId, expires: this.clock.now() + this.udpTtlMs };
        this.connectionIds.set(key, cached);
      }
      const tx = randomBytes(4).readUInt32BE(0);
      const res = await this.udpExchange(socket, target, url, build(cached.id, tx), tx, expect, signal, dropped);
      return { res, target };
    } catch (err) {
      // A stale connection id often shows as an error reply: forget it so the next try reconnects.
      this.connectionIds.delete(key);
      throw err;
    } finally {
      socket.close();
    }
  }

  private udpExchange(
    socket: Socket,
    target: UdpTarget,
    url: string,
    packet: Uint8Array,
    tx: number,
    expect: UdpResponse['action'],
    signal: AbortSignal | undefined,
    dropped: DroppedPackets,
  ): Promise<UdpResponse> {
    return new Promise<UdpResponse>((resolve, reject) => {
      let attempt = 0;
      let timer: unknown;
      const cleanup = () => {
        this.clock.clearTimeout(timer);
        socket.off('message', onMessage);
        socket.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (err: unknown) => {
        cleanup();
        reject(err);
      };
      const onAbort = () => fail(new TrackerTransportError('BT_ERR_TRACKER_ABORTED', `${url}: aborted`, url));
      const onError = (err: Error) => fail(networkError(err, url, signal, false));
      const drop = (why: string) => {
        dropped.count++;
        dropped.last = why;
      };
      const onMessage = (msg: Buffer, rinfo: { address: string; port: number }) => {
        if (rinfo.port !== target.port || unmapped(rinfo.address) !== unmapped(target.host))
          return drop(`a packet from ${rinfo.address}:${rinfo.port}`);
        let res: UdpResponse;
        try {
          res = decodeUdpResponse(msg, target.family);
        } catch (err) {
          return drop(`a malformed packet (${(err as Error).message})`);
        }
        if (res.transactionId !== tx) return drop(`a reply with transaction id ${res.transactionId}, expected ${tx}`);
        if (res.action === 'error') {
          fail(new TrackerTransportError('BT_ERR_UDP_ERROR_REPLY', `${url}: tracker says: ${res.message}`, url));
          return;
        }
        if (res.action !== expect) return drop(`a ${res.action} reply where a ${expect} reply was due`);
        cleanup();
        resolve(res);
      };
      const send = () => {
        socket.send(packet, target.port, target.host, (err) => {
          if (err) onError(err);
        });
        const wait = this.udpBaseMs * 2 ** attempt;
        timer = this.clock.setTimeout(() => {
          if (attempt >= this.udpMaxRetransmits) {
            const also = dropped.count > 0 ? ` (dropped ${dropped.count} packet(s), the last ${dropped.last})` : '';
            fail(
              new TrackerTransportError(
                'BT_ERR_TRACKER_TIMEOUT',
                `${url}: no reply after ${attempt + 1} tries${also}`,
                url,
              ),
            );
            return;
          }
          attempt++;
          send();
        }, wait);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('message', onMessage);
      socket.on('error', onError);
      send();
    });
  }

  private async udpAnnounce(req: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResult> {
    const { res } = await this.udpRequest(
      req.url,
      signal,
      (connectionId, transactionId) =>
        encodeAnnounceRequest({
          connectionId,
          transactionId,
          infoHash: req.infoHash,
          peerId: this.peerId,
          downloaded: req.stats.downloaded,
          left: req.stats.left,
          uploaded: req.stats.uploaded,
          event: req.event ?? 'none',
          key: this.key,
          numWant: req.numwant,
          port: this.port,
        }),
      'announce',
    );
    if (res.action !== 'announce')
      throw new TrackerTransportError('BT_ERR_UDP_REPLY', `${req.url}: expected an announce reply`, req.url);
    return { interval: res.interval, complete: res.seeders, incomplete: res.leechers, peers: res.peers };
  }

  private async udpScrape(
    url: string,
    infoHashes: Uint8Array[],
    signal?: AbortSignal,
  ): Promise<Map<string, ScrapeStats>> {
    const hashes = infoHashes.slice(0, UDP_MAX_SCRAPE_HASHES);
    const { res } = await this.udpRequest(
      url,
      signal,
      (connectionId, tx) => encodeScrapeRequest(connectionId, tx, hashes),
      'scrape',
    );
    if (res.action !== 'scrape')
      throw new TrackerTransportError('BT_ERR_UDP_REPLY', `${url}: expected a scrape reply`, url);
    const out = new Map<string, ScrapeStats>();
    res.stats.forEach((s, i) => {
      const h = hashes[i];
      if (h) out.set(toHex(h), { complete: s.seeders, downloaded: s.completed, incomplete: s.leechers });
    });
    return out;
  }
}

function protocolOf(url: string): string {
  try {
    return new URL(url).protocol;
  } catch {
    return 'invalid URL';
  }
}
