/**
 * Accepts incoming peer connections and routes each to its torrent by the info hash of its
 * handshake (BEP 3). Connections for unknown torrents, and connections that do not send a handshake
 * in time, are closed. The bytes read so far (the handshake and anything after it) travel with the
 * socket to the torrent's peer actor, whose wire bridge frames them again.
 *
 * A connection that does not start with the protocol string is taken for an MSE/PE key exchange
 * (src/io/mse-accept.ts; WebTorrent dials only that way): answered as responder (a plaintext or RC4
 * payload stream, as the encryption policy allows), then routed by its SKEY like a plaintext one.
 * `mse: false` refuses it instead; the policy `require` refuses plaintext handshakes.
 *
 * By default it listens on every interface, IPv6 and IPv4 alike: one dual-stack socket on `::` (IPv4
 * peers arrive IPv4-mapped, `::ffff:a.b.c.d`, and are reported as the IPv4 peer `a.b.c.d`), or on
 * `0.0.0.0` where the system has no IPv6.
 */
import { toHex } from '../protocol/bytes.js';
import { realClock, type Clock } from './clock.js';
import { tcpTransport, type ByteStream, type StreamServer, type Transport } from './transport.js';
import { BtError } from '../protocol/errors.js';
import { isLoopback, normaliseHost, peerKey, type PeerAddress } from '../protocol/peer-address.js';
import { acceptMse } from './mse-accept.js';
import type { EncryptionPolicy, Rc4 } from '../protocol/mse.js';
import type { PeerEncryption } from '../protocol/peer-wire-types.js';

export interface IncomingConnection {
  socket: ByteStream;
  /**
   * Everything read from the socket so far, starting with the 68-byte handshake; after an MSE
   * handshake, the payload bytes read so far (its IA and what followed: possibly none of the handshake yet).
   */
  initialBytes: Uint8Array;
  infoHashHex: string;
  address: PeerAddress;
  /** After an MSE handshake that selected RC4: the running ciphers of the payload stream. */
  ciphers?: MseCiphers;
  /** `rc4` or `plaintext` after an MSE handshake (as it selected), `none` for a plain BitTorrent one. */
  encryption?: PeerEncryption;
}

/** The RC4 ciphers of an encrypted payload stream: `decrypt` what the peer sends, `encrypt` what we send. */
export interface MseCiphers {
  decrypt: Rc4;
  encrypt: Rc4;
}

/**
 * An accepted connection as it travels, opaque, through the torrent and peer machines to the peer's
 * `wire` actor (src/io/peer-wire.ts), which takes the socket over.
 */
export interface AcceptedTransport {
  socket: ByteStream;
  /** Bytes read so far (decrypted when `ciphers` is set). */
  initialBytes: Uint8Array;
  /** The payload stream is RC4 (MSE): the wire bridge decrypts reads and encrypts writes with these. */
  ciphers?: MseCiphers;
  /** How the connection is encrypted (see {@link IncomingConnection.encryption}). */
  encryption?: PeerEncryption;
}

/** True when `t` is an {@link AcceptedTransport} (what the listener routes). */
export function isAcceptedTransport(t: unknown): t is AcceptedTransport {
  const x = t as Partial<AcceptedTransport> | null;
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof x.socket === 'object' &&
    typeof x.socket?.write === 'function' &&
    x.initialBytes instanceof Uint8Array
  );
}

/**
 * The listening port cannot be opened: `BT_ERR_LISTEN_ADDRESS` (the address is not one of this machine's,
 * or not an address), `BT_ERR_PORT_IN_USE` (an exact port is taken), `BT_ERR_LISTEN` (anything else,
 * e.g. a port below 1024 without the right). `cause` holds Node's error.
 */
export class ListenError extends BtError {
  override readonly name = 'ListenError';
  constructor(
    override readonly code: 'BT_ERR_LISTEN_ADDRESS' | 'BT_ERR_PORT_IN_USE' | 'BT_ERR_LISTEN',
    message: string,
    cause?: unknown,
  ) {
    super(code, message);
    if (cause !== undefined) this.cause = cause;
  }
}

export interface ListenerOptions {
  /**
   * Port to listen on; when taken, the next ports are tried (up to `portRange` of them), then any free
   * port — unless `exactPort`.
   */
  port: number;
  /** Listen on `port` or fail (`BT_ERR_PORT_IN_USE`), never on another. */
  exactPort?: boolean;
  /**
   * The address to listen on (IPv4 or IPv6 text, no brackets). Default {@link DUAL_STACK_HOST} (`::`,
   * IPv6 and IPv4 on one socket), or {@link IPV4_ANY_HOST} when the system cannot open an IPv6 socket.
   */
  host?: string;
  portRange?: number;
  /** Time allowed for the handshake's first 48 bytes (or for the whole MSE handshake). */
  handshakeTimeoutMs?: number;
  /** Answer MSE/PE handshakes (default true); false refuses anything but a plaintext handshake. */
  mse?: boolean;
  /**
   * The encryption policy, read at each connection (so it can change while running; default
   * `prefer`): `require` refuses plaintext handshakes and takes MSE with an RC4 payload only,
   * `plaintext` takes MSE with a plaintext payload only, `prefer` takes both (plaintext chosen when
   * offered).
   */
  encryption?: () => EncryptionPolicy;
  /** Random bytes for the MSE responder's keys and pads (default node:crypto's). */
  random?: (n: number) => Uint8Array;
  /** Told why an MSE handshake failed (the connection is then closed), e.g. BT_ERR_MSE_METHOD for RC4 only. */
  onMseError?: (error: BtError, remote: string) => void;
  /** Connections still handshaking at once (past it new ones are closed at once). Default 64. */
  maxHandshaking?: number;
  /** Of those, from one IP address (loopback excepted: tests and local swarms share it). Default 8. */
  maxHandshakingPerIp?: number;
  /** MSE key exchanges begun per second (each costs a modular exponentiation). Default 50. */
  msePerSecond?: number;
  /** After running out of descriptors (EMFILE, ENFILE), new connections are refused this long. Default 5 s. */
  coolDownMs?: number;
  /** How connections are accepted (default TCP: {@link tcpTransport}). */
  transport?: Transport;
  /** Time for the handshake timeout and the rate limits (default the real clock). */
  clock?: Clock;
}

const PSTR = Buffer.from('\x13BitTorrent protocol');

/** The default listening address: every interface, IPv6 and IPv4 on one dual-stack socket. */
export const DUAL_STACK_HOST = '::';
/** Every IPv4 interface: where {@link DUAL_STACK_HOST} cannot be had. */
export const IPV4_ANY_HOST = '0.0.0.0';
/** Listen errors that mean "no IPv6 here" (a kernel without it, or booted with `ipv6.disable=1`). */
const NO_IPV6 = new Set(['EAFNOSUPPORT', 'EPROTONOSUPPORT', 'EADDRNOTAVAIL']);

export class PeerListener {
  private readonly routes = new Map<string, (c: IncomingConnection) => void>();
  private readonly pending = new Set<ByteStream>();
  /** Connections still handshaking, per remote IP. */
  private readonly pendingPerIp = new Map<string, number>();
  refused = 0;
  /** Accept errors (EMFILE, ENFILE …) seen; the listener keeps listening. */
  acceptErrors = 0;
  private maxHandshaking = 64;
  private maxHandshakingPerIp = 8;
  private msePerSecond = 50;
  private mseWindow = { start: 0, count: 0 };
  private coolDownMs = 5_000;
  /** Until when (clock.now()) new connections are refused: the process ran out of descriptors. */
  private coolUntil = 0;
  private mse = true;
  private encryption: () => EncryptionPolicy = () => 'prefer';
  private random: ((n: number) => Uint8Array) | undefined;
  private onMseError: ListenerOptions['onMseError'];

  private constructor(
    private readonly server: StreamServer,
    readonly port: number,
    /** The address listened on: the `host` option, else `::` (dual-stack) or `0.0.0.0` (no IPv6 here). */
    readonly host: string,
    private readonly clock: Clock,
  ) {}

  static async listen(options: ListenerOptions): Promise<PeerListener> {
    let host = options.host ?? DUAL_STACK_HOST;
    const range = options.portRange ?? 10;
    const server = (options.transport ?? tcpTransport).createServer();
    server.unref();
    const ports = options.exactPort || options.port === 0 ? [options.port] : portsFrom(options.port, range);
    let port = -1;
    for (let i = 0; i < ports.length; i++) {
      const p = ports[i]!;
      const r = await tryListen(server, p, host);
      if (typeof r === 'number') {
        port = r;
        break;
      }
      // No IPv6 on this system: the default falls back to IPv4 only, on the same port.
      if (options.host === undefined && host === DUAL_STACK_HOST && NO_IPV6.has(r.code ?? '')) {
        host = IPV4_ANY_HOST;
        i--;
        continue;
      }
      // Only a port in use moves on to the next one; an unusable address fails every port alike.
      if (r.code !== 'EADDRINUSE' || options.exactPort) throw listenError(r, host, p);
      if (p === 0) throw listenError(r, host, p);
    }
    const listener = new PeerListener(server, port, host, options.clock ?? realClock);
    listener.mse = options.mse ?? true;
    listener.onMseError = options.onMseError;
    if (options.encryption) listener.encryption = options.encryption;
    listener.random = options.random;
    listener.maxHandshaking = options.maxHandshaking ?? 64;
    listener.maxHandshakingPerIp = options.maxHandshakingPerIp ?? 8;
    listener.msePerSecond = options.msePerSecond ?? 50;
    listener.coolDownMs = options.coolDownMs ?? 5_000;
    server.on('connection', (s) => listener.accept(s, options.handshakeTimeoutMs ?? 10_000));
    // Out of descriptors (EMFILE, ENFILE) or a transient accept failure: counted, never fatal — the
    // connection is lost, the listener stays; out of descriptors, new connections are refused for a
    // while (the torrents' files and connections need them more).
    server.on('error', (err: NodeJS.ErrnoException) => {
      listener.acceptErrors++;
      if (err.code === 'EMFILE' || err.code === 'ENFILE')
        listener.coolUntil = listener.clock.now() + listener.coolDownMs;
    });
    return listener;
  }

  /** Routes connections whose handshake names `infoHashHex` to `handler`. Returns an unregister function. */
  register(infoHashHex: string, handler: (c: IncomingConnection) => void): () => void {
    this.routes.set(infoHashHex, handler);
    return () => this.routes.delete(infoHashHex);
  }

  private accept(socket: ByteStream, timeoutMs: number): void {
    // On a dual-stack socket an IPv4 peer is `::ffff:a.b.c.d`: counted, and reported, as `a.b.c.d`.
    const raw = socket.remoteAddress ?? '';
    const ip = normaliseHost(raw)?.host ?? raw;
    const perIp = this.pendingPerIp.get(ip) ?? 0;
    // Bounded: handshakes cost memory and (MSE) CPU, and a peer can open connections for free.
    if (
      this.clock.now() < this.coolUntil ||
      this.pending.size >= this.maxHandshaking ||
      (!isLoopback(ip) && perIp >= this.maxHandshakingPerIp)
    ) {
      this.refused++;
      socket.on('error', () => undefined);
      socket.destroy();
      return;
    }
    this.pendingPerIp.set(ip, perIp + 1);
    this.pending.add(socket);
    const chunks: Buffer[] = [];
    let length = 0;
    let stopMse: (() => void) | undefined;
    const done = () => {
      this.clock.clearTimeout(timer);
      socket.off('data', onData);
      stopMse?.();
      if (this.pending.delete(socket)) {
        const n = (this.pendingPerIp.get(ip) ?? 1) - 1;
        if (n > 0) this.pendingPerIp.set(ip, n);
        else this.pendingPerIp.delete(ip);
      }
    };
    let over = false;
    const refuse = () => {
      if (over) return;
      over = true;
      done();
      this.refused++;
      socket.destroy();
    };
    const timer = this.clock.setTimeout(refuse, timeoutMs);
    socket.on('error', refuse);
    // A peer that hangs up before its handshake is done frees its slot at once.
    socket.on('end', refuse);
    socket.on('close', refuse);
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      const head = Buffer.concat(chunks, length);
      // Check the protocol string as soon as its bytes are here, so non-BitTorrent traffic is dropped early.
      if (!head.subarray(0, Math.min(20, length)).equals(PSTR.subarray(0, Math.min(20, length))))
        return this.mse ? mse(head) : refuse();
      // Encryption required: a plaintext handshake is refused as soon as it shows itself.
      if (length >= 20 && this.encryption() === 'require') return refuse();
      if (length < 48) return;
      deliver(toHex(head.subarray(28, 48)), head, 'none');
    };
    const deliver = (
      infoHashHex: string,
      initialBytes: Uint8Array,
      encryption: PeerEncryption,
      ciphers?: MseCiphers,
    ) => {
      const route = this.routes.get(infoHashHex);
      if (!route) return refuse();
      const host = normaliseHost(raw);
      if (!host || !socket.remotePort) return refuse();
      done();
      socket.off('error', refuse);
      socket.off('end', refuse);
      socket.off('close', refuse);
      route({
        socket,
        initialBytes,
        infoHashHex,
        address: { host: host.host, port: socket.remotePort, family: host.family },
        ...(ciphers && { ciphers }),
        encryption,
      });
    };
    const mse = (head: Buffer) => {
      socket.off('data', onData);
      if (!this.mseAllowed()) return refuse();
      const infoHashes = () => [...this.routes.keys()].map((h) => Buffer.from(h, 'hex'));
      const policy = this.encryption();
      const random = this.random;
      stopMse = acceptMse(socket, head, { infoHashes, policy, ...(random && { random }) }, (r) => {
        if (!r.error) return deliver(toHex(r.infoHash), r.initialPayload, r.ciphers ? 'rc4' : 'plaintext', r.ciphers);
        const port = socket.remotePort ?? 0;
        this.onMseError?.(r.error, ip ? peerKey({ host: ip, port }) : `?:${port}`);
        refuse();
      });
    };
    socket.on('data', onData);
  }

  /** A token per MSE exchange, `msePerSecond` a second. */
  private mseAllowed(): boolean {
    const now = this.clock.now();
    if (now - this.mseWindow.start >= 1000) this.mseWindow = { start: now, count: 0 };
    return ++this.mseWindow.count <= this.msePerSecond;
  }

  /** Connections still handshaking (for tests). */
  get handshaking(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    for (const s of this.pending) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** `port`, the next ports up to `range` of them (within 65535), then 0 (any free port). */
function portsFrom(port: number, range: number): number[] {
  const ports: number[] = [];
  for (let p = port; p < port + range && p <= 65535; p++) ports.push(p);
  return [...ports, 0];
}

/** Node's listen error as a {@link ListenError} with one clear message. */
function listenError(err: NodeJS.ErrnoException, address: string, port: number): ListenError {
  // An IPv6 address in brackets, so its colons do not run into the text.
  const host = address.includes(':') ? `[${address}]` : address;
  const where = `${host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new ListenError('BT_ERR_PORT_IN_USE', `port ${port} is in use (${where})`, err);
    case 'EADDRNOTAVAIL':
      return new ListenError('BT_ERR_LISTEN_ADDRESS', `cannot listen on ${host}: not an address of this machine`, err);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new ListenError(
        'BT_ERR_LISTEN_ADDRESS',
        `cannot listen on ${host}: not an IP address or known host name`,
        err,
      );
    case 'EAFNOSUPPORT':
      return new ListenError(
        'BT_ERR_LISTEN_ADDRESS',
        `cannot listen on ${host}: address family not supported here`,
        err,
      );
    case 'EACCES':
      return new ListenError('BT_ERR_LISTEN', `cannot listen on ${where}: permission denied [EACCES]`, err);
    default:
      return new ListenError('BT_ERR_LISTEN', `cannot listen on ${where}: ${err.message}`, err);
  }
}

/** The port listened on, or the error. */
function tryListen(server: StreamServer, port: number, host: string): Promise<number | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      resolve(err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolve((server.address() as { port: number }).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

/**
 * Peer keys (`host:port`) under which this machine's listener on `port` can be reached: trackers list
 * us among the peers, and a client must not dial itself.
 */
export function selfKeys(port: number, transport: Transport = tcpTransport): string[] {
  const hosts = new Set(['127.0.0.1', '::1', '0.0.0.0', '::']);
  for (const a of transport.localAddresses()) hosts.add(a);
  const keys: string[] = [];
  for (const h of hosts) {
    const n = normaliseHost(h);
    if (n) keys.push(peerKey({ host: n.host, port }));
  }
  return keys;
}
