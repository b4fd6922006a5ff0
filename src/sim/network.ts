/**
 * The simulated network: hosts joined by in-memory connections with a per-link latency and a per-host
 * upload bandwidth (the host's uplink is shared round-robin by its connections, in chunks of
 * {@link CHUNK} bytes), connection resets, hosts that die, and dial attempts reordered by a seeded
 * jitter. It is a {@link Transport} per host: the engine's wire bridge and listener use it exactly as
 * they use TCP (a `SimStream` is a {@link ByteStream}). Every delivery goes into the {@link Trace}.
 *
 * Like a TCP socket, a stream dialled with a {@link ReadInto} (or adopted onto one) has its bytes read
 * into the buffer the bridge lends (Node's `onread`), so the engine's shared read buffer is used as in
 * production; other streams get `data` events. Bytes on the way are views of what the sender wrote
 * (never changed after a write, as with a socket), copied once, into the reader's buffer.
 */
import { EventEmitter } from 'node:events';
import type { ByteStream, ReadInto, StreamServer, Transport } from '../io/transport.js';
import type { Prng } from './prng.js';
import type { VirtualClock } from './scheduler.js';
import { fingerprint, type Trace } from './trace.js';

/** Bytes an uplink sends in one go (one delivery event: a read of 64 KiB, as TCP gives). */
export const CHUNK = 64 * 1024;
/** Bytes queued on a stream past which `write` returns false (`drain` follows). */
const HIGH_WATER = 64 * 1024;

export interface HostOptions {
  /** Upload capacity in bytes per second (Infinity: unbounded). */
  upBps: number;
}

export interface NetworkOptions {
  /** One-way latency of a link, in ms (default 20). */
  latencyMs?: number;
  /** Each dial waits an extra random 0..jitterMs before it reaches the other side (default 5). */
  dialJitterMs?: number;
}

interface SimHost {
  host: string;
  upBps: number;
  /** Streams with bytes to send, served round-robin. */
  queue: SimStream[];
  busy: boolean;
  down: boolean;
  streams: Set<SimStream>;
  nextPort: number;
}

const ECONN = (code: string) => Object.assign(new Error(code), { code }) as NodeJS.ErrnoException;

/** One end of a simulated connection. */
export class SimStream extends EventEmitter {
  destroyed = false;
  connecting = true;
  readonly readableLength = 0;
  peer: SimStream | undefined;
  private out: Uint8Array[] = [];
  private outLength = 0;
  /** Where reads land when the reader lends a buffer (a dial's or an adoption's `onread`). */
  readInto: ReadInto | undefined;
  private ending = false;
  private needDrain = false;
  /** Bytes this end has sent / received. */
  sent = 0;
  received = 0;

  constructor(
    private readonly net: SimNetwork,
    readonly host: SimHost,
    readonly localPort: number,
    readonly remoteAddress: string,
    readonly remotePort: number,
  ) {
    super();
    host.streams.add(this);
  }

  get writableLength(): number {
    return this.outLength;
  }

  write(data: Uint8Array): boolean {
    if (this.destroyed || this.ending) return false;
    if (data.length === 0) return true;
    this.out.push(data);
    this.outLength += data.length;
    this.net.wantsToSend(this);
    const ok = this.outLength < HIGH_WATER;
    if (!ok) this.needDrain = true;
    return ok;
  }

  /** Takes up to `n` queued bytes (one chunk on the wire), as views of what was written. */
  take(n: number): Chunk {
    const size = Math.min(n, this.outLength);
    const parts: Uint8Array[] = [];
    let at = 0;
    while (at < size) {
      const head = this.out[0]!;
      const k = Math.min(head.length, size - at);
      parts.push(k === head.length ? head : head.subarray(0, k));
      at += k;
      if (k === head.length) this.out.shift();
      else this.out[0] = head.subarray(k);
    }
    this.outLength -= size;
    return { parts, length: size };
  }

  /** Called by the uplink when this stream's queue ran empty. */
  drained(): void {
    if (this.needDrain && !this.destroyed) {
      this.needDrain = false;
      this.emit('drain');
    }
    if (this.ending && !this.destroyed) this.net.finish(this);
  }

  get pending(): number {
    return this.outLength;
  }

  end(): void {
    if (this.destroyed || this.ending) return;
    this.ending = true;
    if (this.outLength === 0) this.net.finish(this);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.net.close(this, 'close');
  }

  /** Ends this side now: queued bytes dropped, `close` emitted (after `error` when `error` is given). */
  teardown(error?: NodeJS.ErrnoException, remoteEnded = false): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.connecting = false;
    this.out = [];
    this.outLength = 0;
    this.host.streams.delete(this);
    this.net.clock.setTimeout(() => {
      if (remoteEnded) this.emit('end');
      if (error) this.emit('error', error);
      this.emit('close');
    }, 0);
  }

  cork(): void {}
  uncork(): void {}
  setNoDelay(): void {}
}

/** Bytes on their way: views of the sender's writes, in order. */
interface Chunk {
  parts: Uint8Array[];
  length: number;
}

/** FNV-1a over the first `max` bytes of a chunk's parts: {@link fingerprint} of the bytes they make up. */
function chunkFingerprint(c: Chunk, max = 64): string {
  if (c.parts.length === 1 || c.parts[0]!.length >= max) return fingerprint(c.parts[0]!, max);
  const head = new Uint8Array(Math.min(max, c.length));
  let at = 0;
  for (const p of c.parts) {
    if (at >= head.length) break;
    const k = Math.min(p.length, head.length - at);
    head.set(k === p.length ? p : p.subarray(0, k), at);
    at += k;
  }
  return fingerprint(head, max);
}

class SimServer extends EventEmitter {
  key: string | undefined;
  port = 0;
  constructor(
    private readonly net: SimNetwork,
    private readonly host: SimHost,
  ) {
    super();
  }
  listen(port: number): void {
    const p = port === 0 ? this.host.nextPort++ : port;
    const key = `${this.host.host}:${p}`;
    queueMicrotask(() => {
      if (this.net.servers.has(key)) {
        this.emit('error', ECONN('EADDRINUSE'));
        return;
      }
      this.key = key;
      this.port = p;
      this.net.servers.set(key, this);
      this.emit('listening');
    });
  }
  address() {
    return this.key ? { port: this.port } : null;
  }
  close(cb?: () => void): void {
    if (this.key && this.net.servers.get(this.key) === this) this.net.servers.delete(this.key);
    this.key = undefined;
    if (cb) queueMicrotask(cb);
  }
  unref(): void {}
}

export class SimNetwork {
  readonly servers = new Map<string, SimServer>();
  private readonly hosts = new Map<string, SimHost>();
  private readonly latencyMs: number;
  private readonly jitterMs: number;
  private readonly linkLatency = new Map<string, number>();
  /** Bytes delivered per directed pair `from>to` (hosts). */
  readonly delivered = new Map<string, number>();
  /** Connections opened, refused, reset. */
  readonly counts = { connects: 0, refused: 0, resets: 0, chunks: 0 };

  constructor(
    readonly clock: VirtualClock,
    private readonly prng: Prng,
    private readonly trace: Trace,
    options: NetworkOptions = {},
  ) {
    this.latencyMs = options.latencyMs ?? 20;
    this.jitterMs = options.dialJitterMs ?? 5;
  }

  addHost(host: string, options: HostOptions): void {
    this.hosts.set(host, {
      host,
      upBps: options.upBps,
      queue: [],
      busy: false,
      down: false,
      streams: new Set(),
      nextPort: 40000,
    });
  }

  /** Sets the one-way latency between two hosts (both ways). */
  setLatency(a: string, b: string, ms: number): void {
    this.linkLatency.set(`${a}|${b}`, ms);
    this.linkLatency.set(`${b}|${a}`, ms);
  }

  latency(a: string, b: string): number {
    return this.linkLatency.get(`${a}|${b}`) ?? this.latencyMs;
  }

  private hostOf(host: string): SimHost {
    const h = this.hosts.get(host);
    if (!h) throw new Error(`sim: no host ${host}`);
    return h;
  }

  /** Open connections of `host` (for leak checks). */
  openStreams(host: string): number {
    return this.hostOf(host).streams.size;
  }

  /** Resets every connection of `host` and refuses any new one: the host died. */
  kill(host: string): void {
    const h = this.hostOf(host);
    h.down = true;
    for (const s of [...h.streams]) this.reset(s);
    for (const [key, server] of this.servers) if (key.startsWith(`${host}:`)) server.close();
  }

  /** Resets one connection: both ends get ECONNRESET. */
  reset(s: SimStream): void {
    this.counts.resets++;
    this.trace.record(this.clock.now(), 'reset', `${s.host.host}:${s.localPort}`);
    const peer = s.peer;
    s.teardown(ECONN('ECONNRESET'));
    if (peer) peer.teardown(ECONN('ECONNRESET'));
  }

  /** Every connection open now, one end each. */
  connections(): SimStream[] {
    const seen = new Set<SimStream>();
    for (const h of this.hosts.values())
      for (const s of h.streams) if (!seen.has(s) && !(s.peer && seen.has(s.peer))) seen.add(s);
    return [...seen];
  }

  transportFor(host: string): Transport {
    const h = this.hostOf(host);
    return {
      dial: (to: string, port: number, readInto?: ReadInto) => {
        const s = this.dial(h, to, port);
        s.readInto = readInto;
        return s as unknown as ByteStream;
      },
      // As a TCP socket is moved onto one reading with `onread`: only with nothing buffered, and its
      // listeners (the listener's) go.
      adopt: (stream: ByteStream, readInto: ReadInto) => {
        if (!(stream instanceof SimStream) || stream.destroyed || stream.connecting || stream.pending > 0)
          return undefined;
        stream.removeAllListeners();
        stream.readInto = readInto;
        return stream as unknown as ByteStream;
      },
      createServer: () => new SimServer(this, h) as unknown as StreamServer,
      localAddresses: () => [host],
      isStream: (s: unknown): s is ByteStream => s instanceof SimStream,
    };
  }

  private dial(from: SimHost, to: string, port: number): SimStream {
    const local = new SimStream(this, from, from.nextPort++, to, port);
    const lat = this.latency(from.host, to);
    const jitter = this.prng.between(0, this.jitterMs);
    const refuse = () => {
      this.counts.refused++;
      this.trace.record(this.clock.now(), 'refused', `${from.host}:${local.localPort}>${to}:${port}`);
      local.teardown(ECONN('ECONNREFUSED'));
    };
    if (from.down) {
      this.clock.setTimeout(refuse, 0);
      return local;
    }
    this.clock.setTimeout(() => {
      if (local.destroyed) return;
      const server = this.servers.get(`${to}:${port}`);
      const target = this.hosts.get(to);
      if (!server || !target || target.down) {
        this.clock.setTimeout(() => !local.destroyed && refuse(), lat);
        return;
      }
      const remote = new SimStream(this, target, port, from.host, local.localPort);
      remote.connecting = false;
      local.peer = remote;
      remote.peer = local;
      this.counts.connects++;
      this.trace.record(this.clock.now(), 'accept', `${from.host}:${local.localPort}>${to}:${port}`);
      server.emit('connection', remote);
      this.clock.setTimeout(() => {
        if (local.destroyed) return;
        local.connecting = false;
        this.trace.record(this.clock.now(), 'connect', `${from.host}:${local.localPort}>${to}:${port}`);
        local.emit('connect');
      }, lat);
    }, lat + jitter);
    return local;
  }

  /** A stream has bytes to send: its host's uplink serves it in turn. */
  wantsToSend(s: SimStream): void {
    const h = s.host;
    if (!h.queue.includes(s)) h.queue.push(s);
    this.pump(h);
  }

  private pump(h: SimHost): void {
    if (h.busy) return;
    let s: SimStream | undefined;
    while ((s = h.queue.shift()) && (s.destroyed || s.pending === 0));
    if (!s) return;
    const chunk = s.take(CHUNK);
    if (s.pending > 0) h.queue.push(s);
    const tx = Number.isFinite(h.upBps) ? (chunk.length * 1000) / h.upBps : 0;
    h.busy = true;
    const src = s;
    this.clock.setTimeout(() => {
      h.busy = false;
      if (!src.destroyed) {
        src.sent += chunk.length;
        const dst = src.peer;
        if (dst) {
          const lat = this.latency(h.host, dst.host.host);
          this.clock.setTimeout(() => this.deliver(src, dst, chunk), lat);
        }
        if (src.pending === 0) src.drained();
      }
      this.pump(h);
    }, tx);
  }

  private deliver(src: SimStream, dst: SimStream, chunk: Chunk): void {
    if (dst.destroyed) return;
    dst.received += chunk.length;
    this.counts.chunks++;
    const pair = `${src.host.host}>${dst.host.host}`;
    this.delivered.set(pair, (this.delivered.get(pair) ?? 0) + chunk.length);
    this.trace.record(this.clock.now(), 'data', `${pair}:${dst.localPort} ${chunk.length} ${chunkFingerprint(chunk)}`);
    const into = dst.readInto;
    // Without a lent buffer the reader gets bytes of its own (it may keep or decrypt them in place).
    if (!into) {
      dst.emit('data', Buffer.concat(chunk.parts, chunk.length));
      return;
    }
    // Reads into the lent buffer, as many as it takes (a limited reader lends a small one).
    let part = 0;
    let off = 0;
    while (part < chunk.parts.length && !dst.destroyed) {
      const buf = into.buffer();
      let n = 0;
      while (n < buf.length && part < chunk.parts.length) {
        const p = chunk.parts[part]!;
        const k = Math.min(p.length - off, buf.length - n);
        buf.set(off === 0 && k === p.length ? p : p.subarray(off, off + k), n);
        n += k;
        off += k;
        if (off === p.length) {
          part++;
          off = 0;
        }
      }
      into.callback(n, buf);
    }
  }

  /** `end()` with nothing left to send: the other side sees the end after the link's latency. */
  finish(s: SimStream): void {
    const peer = s.peer;
    s.teardown();
    if (peer) this.clock.setTimeout(() => this.remoteClosed(s, peer), this.latency(s.host.host, peer.host.host));
  }

  /** `destroy()`: this side closes now, the other sees the end after the latency. */
  close(s: SimStream, _why: string): void {
    const peer = s.peer;
    s.teardown();
    if (peer) this.clock.setTimeout(() => this.remoteClosed(s, peer), this.latency(s.host.host, peer.host.host));
  }

  private remoteClosed(s: SimStream, peer: SimStream): void {
    if (peer.destroyed) return;
    this.trace.record(this.clock.now(), 'fin', `${s.host.host}>${peer.host.host}:${peer.localPort}`);
    peer.teardown(undefined, true);
  }
}
