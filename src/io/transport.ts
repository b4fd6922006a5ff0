/**
 * The transport seam: how the engine dials peers, accepts them, and learns its own addresses. The
 * engine's `runtime.transport` is {@link tcpTransport} (node:net) by default; the swarm simulator
 * (src/sim) provides in-memory connections with latency and bandwidth instead.
 *
 * A {@link ByteStream} is the part of a `net.Socket` the wire bridge, the listener and the MSE
 * responder use, so a real socket is one as it is. This module and src/io/clock.ts are the only places
 * in src/ allowed to import node:net (eslint.config.js).
 *
 * @example
 * const server = tcpTransport.createServer();
 * server.on('connection', (s) => s.end());
 * server.listen(6881, '127.0.0.1');
 * const s = tcpTransport.dial('127.0.0.1', 6881);
 */
import { Socket, createServer, isIP, type NetConnectOpts } from 'node:net';
import { networkInterfaces } from 'node:os';

/** A connection's bytes both ways (a subset of `net.Socket`). */
export interface ByteStream {
  readonly destroyed: boolean;
  readonly connecting: boolean;
  readonly readableLength: number;
  readonly writableLength: number;
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  write(data: Uint8Array): boolean;
  end(): void;
  destroy(): void;
  cork(): void;
  uncork(): void;
  setNoDelay(noDelay?: boolean): void;
  /** Stops reading (a download limit waits); absent on a transport that cannot (nothing is shaped then). */
  pause?(): void;
  /** Reads again after `pause`. */
  resume?(): void;
  on(event: 'data', fn: (chunk: Buffer) => void): this;
  on(event: 'error', fn: (err: NodeJS.ErrnoException) => void): this;
  on(event: 'connect' | 'drain' | 'end' | 'close', fn: () => void): this;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as net.Socket declares it
  off(event: string, fn: (...args: any[]) => void): this;
  removeAllListeners(): this;
}

/** Where a server listens (`server.address()`). */
export interface BoundAddress {
  port: number;
}

/** A listening endpoint (a subset of `net.Server`). */
export interface StreamServer {
  listen(port: number, host: string): void;
  address(): BoundAddress | string | null;
  close(cb?: () => void): void;
  unref(): void;
  on(event: 'connection', fn: (s: ByteStream) => void): this;
  on(event: 'error', fn: (err: NodeJS.ErrnoException) => void): this;
  once(event: 'error', fn: (err: NodeJS.ErrnoException) => void): this;
  once(event: 'listening', fn: () => void): this;
  off(event: 'error', fn: (err: NodeJS.ErrnoException) => void): this;
  off(event: 'listening', fn: () => void): this;
}

/**
 * What a wire bridge reads into: a buffer lent for each read and the callback told how much of it was
 * filled (Node's `onread`). Transports that cannot lend buffers emit `data` events instead.
 */
export interface ReadInto {
  buffer: () => Uint8Array;
  callback: (n: number, buf: Uint8Array) => boolean;
}

export interface Transport {
  /** Opens a connection; `connect` is emitted once it is up, `error`/`close` if it cannot be. */
  dial(host: string, port: number, readInto?: ReadInto): ByteStream;
  /**
   * Takes an accepted stream over for reading into `readInto` (a real socket: its handle moves onto a
   * new Socket); undefined when it cannot (then the stream keeps its `data` events).
   */
  adopt(stream: ByteStream, readInto: ReadInto): ByteStream | undefined;
  createServer(): StreamServer;
  /** This host's addresses (a client must not dial itself under any of them). */
  localAddresses(): string[];
  /** Whether `s` is a stream of this transport (what an accepted connection carries). */
  isStream(s: unknown): s is ByteStream;
}

/** Whether `host` is an IP address (4 or 6), not a name. */
export function isIpAddress(host: string): boolean {
  return isIP(host) !== 0;
}

interface TcpHandle {
  reading: boolean;
  readStop(): number;
  useUserBuffer(buf: Uint8Array): void;
}

/**
 * Moves an accepted socket's TCP handle onto a new Socket that reads with `onread` (Node offers
 * `onread` only to sockets it creates, and an accepted socket's 64 KiB chunks cost an allocation and
 * garbage each: 1.5 CPU s/GiB more when a seeder dialled us, measured in docs/performance.md). Only a
 * plain TCP socket with nothing buffered either way is moved; otherwise undefined (keep the socket).
 * Nothing runs between the listener handing the socket over and this, so no read is missed.
 */
function adoptOnSharedBuffer(old: Socket, onread: object): Socket | undefined {
  const internal = old as unknown as { _handle: Partial<TcpHandle> | null };
  const handle = internal._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || typeof handle.readStop !== 'function') return undefined;
  if (old.destroyed || old.connecting || old.readableLength > 0 || old.writableLength > 0) return undefined;
  handle.readStop();
  handle.reading = false;
  let adopted: Socket;
  try {
    adopted = new Socket({ handle, onread, readable: true, writable: true } as ConstructorParameters<typeof Socket>[0]);
  } catch {
    old.read(0); // reading again on the old socket
    return undefined;
  }
  old.removeAllListeners();
  internal._handle = null; // the old Socket no longer owns (nor closes) the handle
  old.destroy();
  return adopted;
}

/** TCP through node:net: the engine's default transport. */
export const tcpTransport: Transport = {
  dial(host, port, readInto) {
    // @types/node lists `onread` for net.connect only
    const socket = new Socket((readInto ? { onread: readInto } : {}) as ConstructorParameters<typeof Socket>[0]);
    const opts: NetConnectOpts = { host, port };
    socket.connect(opts);
    return socket;
  },
  adopt(stream, readInto) {
    return stream instanceof Socket ? adoptOnSharedBuffer(stream, readInto) : undefined;
  },
  createServer: () => createServer() as unknown as StreamServer,
  localAddresses() {
    const hosts: string[] = [];
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) hosts.push(a.address);
    return hosts;
  },
  isStream: (s: unknown): s is ByteStream => s instanceof Socket,
};
