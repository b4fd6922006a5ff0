/**
 * PeerListener on 127.0.0.1: routing by the handshake's info hash (also when the handshake arrives in
 * pieces), refusal of unknown torrents, of non-BitTorrent traffic (at once with `mse: false`; with MSE on,
 * once it cannot be a key exchange either) and of silent connections, two torrents side by side, and the
 * next port when the asked one is taken. The MSE handshake itself is tested in test/protocol/mse.test.ts.
 * Every socket and listener is closed after each test.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DUAL_STACK_HOST,
  IPV4_ANY_HOST,
  ListenError,
  PeerListener,
  type IncomingConnection,
} from '../../src/io/listener.js';
import { tcpTransport, type StreamServer, type Transport } from '../../src/io/transport.js';
import { encodeHandshake, encodeMessage, makeReserved } from '../../src/protocol/wire.js';

const listeners: PeerListener[] = [];
const sockets = new Set<{ destroy(): void }>(); // client sockets and routed streams

afterEach(async () => {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all(listeners.splice(0).map((l) => l.close()));
});

async function listen(options: Partial<Parameters<typeof PeerListener.listen>[0]> = {}): Promise<PeerListener> {
  const l = await PeerListener.listen({ port: 0, host: '127.0.0.1', ...options });
  listeners.push(l);
  return l;
}

/** A client socket that records what it receives and when it was closed by the other side. */
interface Client {
  socket: Socket;
  received: () => Buffer;
  /** Resolves with the time (Date.now()) the socket closed. */
  closed: Promise<number>;
  /** True when the other side closed the connection (FIN or reset). */
  closedByRemote: () => boolean;
}

async function dial(port: number, host = '127.0.0.1'): Promise<Client> {
  const socket = connect({ host, port });
  sockets.add(socket);
  const chunks: Buffer[] = [];
  // The remote closing shows as an end of stream (FIN) or a reset; this test code never closes it first.
  let remoteClosed = false;
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('end', () => void (remoteClosed = true));
  socket.on('error', () => void (remoteClosed = true));
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received: () => Buffer.concat(chunks), closed, closedByRemote: () => remoteClosed };
}

const handshake = (infoHash: Uint8Array) =>
  Buffer.from(encodeHandshake({ reserved: makeReserved({ fast: true }), infoHash, peerId: randomBytes(20) }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `pred()` holds, polling; fails naming `what` after 5 s. */
async function until(pred: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`${what}: not within 5000 ms`);
    await sleep(5);
  }
}

/** A torrent registered on `listener` is handed the next connection that says its handshake. */
async function routesOneHandshake(listener: PeerListener, what: string): Promise<void> {
  const infoHash = randomBytes(20);
  const routed: IncomingConnection[] = [];
  listener.register(infoHash.toString('hex'), (c) => {
    sockets.add(c.socket);
    routed.push(c);
  });
  (await dial(listener.port)).socket.write(handshake(infoHash));
  await until(() => routed.length === 1, what);
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);
}

/**
 * Collects what a routed socket carries: the listener's initial bytes, then whatever the socket reads
 * afterwards (attached synchronously in the handler, as the torrent's wire bridge does).
 */
function collect(c: IncomingConnection): () => Buffer {
  const chunks: Buffer[] = [Buffer.from(c.initialBytes)];
  c.socket.on('data', (d: Buffer) => chunks.push(d));
  c.socket.on('error', () => {});
  sockets.add(c.socket);
  return () => Buffer.concat(chunks);
}

describe('PeerListener', () => {
  it('routes a handshake sent in several TCP writes to its torrent, with the bytes, the socket and the address', async () => {
    const listener = await listen({ handshakeTimeoutMs: 5000 });
    const infoHash = randomBytes(20);
    const routed: IncomingConnection[] = [];
    let stream: () => Buffer = () => Buffer.alloc(0);
    const got = new Promise<IncomingConnection>((resolve) =>
      listener.register(infoHash.toString('hex'), (c) => {
        routed.push(c);
        stream = collect(c);
        resolve(c);
      }),
    );
    const client = await dial(listener.port);
    const hs = handshake(infoHash);
    const after = Buffer.from(encodeMessage({ type: 'interested' }));
    const all = Buffer.concat([hs, after]);
    // 1 byte, then the protocol string, then the reserved bytes and half the info hash, then the rest
    // and a message; the pause lets each write arrive on its own.
    for (const [from, to] of [
      [0, 1],
      [1, 20],
      [20, 38],
      [38, all.length],
    ] as const) {
      client.socket.write(all.subarray(from, to));
      await sleep(25);
    }
    const c = await within(got, 5000, 'routed');
    expect(c.infoHashHex).toBe(infoHash.toString('hex'));
    expect(c.address).toEqual({ host: '127.0.0.1', port: client.socket.localPort, family: 4 });
    expect(c.encryption).toBe('none'); // a plain BitTorrent handshake, no MSE
    expect(c.initialBytes.length).toBeGreaterThanOrEqual(48);
    expect(Buffer.from(c.initialBytes)).toEqual(all.subarray(0, c.initialBytes.length));
    expect(Buffer.from(c.initialBytes.subarray(0, 68))).toEqual(hs); // the whole handshake was in by then
    // Nothing is lost between the listener and the handler: the stream is the bytes sent, in order.
    await until(() => stream().length >= all.length, 'all bytes');
    expect(stream()).toEqual(all);
    // The socket is the handler's now: it talks to the client.
    c.socket.write(Buffer.from('pong'));
    await until(() => client.received().length >= 4, 'reply');
    expect(client.received().toString()).toBe('pong');
    expect(routed).toHaveLength(1);
    expect(listener.refused).toBe(0);
  });

  it('routes as soon as the info hash is in, even when the peer id follows later', async () => {
    const listener = await listen({ handshakeTimeoutMs: 5000 });
    const infoHash = randomBytes(20);
    let stream: () => Buffer = () => Buffer.alloc(0);
    const got = new Promise<IncomingConnection>((resolve) =>
      listener.register(infoHash.toString('hex'), (c) => {
        stream = collect(c);
        resolve(c);
      }),
    );
    const client = await dial(listener.port);
    const hs = handshake(infoHash);
    client.socket.write(hs.subarray(0, 48));
    const c = await within(got, 5000, 'routed');
    expect(Buffer.from(c.initialBytes)).toEqual(hs.subarray(0, 48));
    client.socket.write(hs.subarray(48));
    await until(() => stream().length >= 68, 'peer id');
    expect(stream()).toEqual(hs);
  });

  it('refuses a handshake for an unknown info hash: the socket is closed by us', async () => {
    const listener = await listen({ handshakeTimeoutMs: 20_000 });
    let calls = 0;
    listener.register(randomBytes(20).toString('hex'), () => calls++);
    const client = await dial(listener.port);
    client.socket.write(handshake(randomBytes(20)));
    await within(client.closed, 5000, 'closed');
    expect(client.closedByRemote()).toBe(true);
    expect(client.received().length).toBe(0); // no handshake of ours
    expect(calls).toBe(0);
    expect(listener.refused).toBe(1);
  });

  it('refuses non-BitTorrent traffic at its first byte when MSE is off', async () => {
    const listener = await listen({ handshakeTimeoutMs: 20_000, mse: false });
    const infoHash = randomBytes(20);
    let calls = 0;
    listener.register(infoHash.toString('hex'), () => calls++);
    const client = await dial(listener.port);
    client.socket.write('G'); // one byte of "GET / HTTP/1.1": not 19
    // At once, not after the 20 s handshake timeout (the bound leaves room for a loaded machine).
    await within(client.closed, 5000, 'closed');
    expect(client.closedByRemote()).toBe(true);
    expect(client.received().length).toBe(0);
    expect(calls).toBe(0);
    expect(listener.refused).toBe(1);

    // A right length byte followed by a wrong protocol string is refused as soon as it differs.
    const other = await dial(listener.port);
    other.socket.write(Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocoX')]));
    await within(other.closed, 5000, 'closed');
    expect(listener.refused).toBe(2);
  });

  it('refuses non-BitTorrent traffic that is no MSE handshake either (MSE on, the default)', async () => {
    const listener = await listen({ handshakeTimeoutMs: 300 });
    let calls = 0;
    listener.register(randomBytes(20).toString('hex'), () => calls++);
    // A lone byte may begin an MSE key exchange: it waits, and is refused at the handshake timeout.
    const start = Date.now();
    const client = await dial(listener.port);
    client.socket.write('G');
    const at = await within(client.closed, 5000, 'closed');
    expect(at - start).toBeGreaterThanOrEqual(250);
    expect(client.closedByRemote()).toBe(true);
    expect(listener.refused).toBe(1);
    // An HTTP request of a few KiB holds no MSE synchronisation within its window (512 + 20 bytes after
    // the 96-byte key): refused as soon as that is clear, long before the handshake timeout.
    const patient = await listen({ handshakeTimeoutMs: 20_000 });
    patient.register(randomBytes(20).toString('hex'), () => calls++);
    const http = await dial(patient.port);
    http.socket.write(`GET /announce?${'x'.repeat(4096)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await within(http.closed, 5000, 'closed');
    expect(http.closedByRemote()).toBe(true);
    expect(calls).toBe(0);
    expect(patient.refused).toBe(1);
  });

  it('refuses a connection that sends nothing within handshakeTimeoutMs', async () => {
    const listener = await listen({ handshakeTimeoutMs: 200 });
    listener.register(randomBytes(20).toString('hex'), () => {
      throw new Error('not routed');
    });
    const start = Date.now();
    const client = await dial(listener.port);
    const at = await within(client.closed, 5000, 'closed');
    expect(at - start).toBeGreaterThanOrEqual(150);
    expect(client.closedByRemote()).toBe(true);
    expect(listener.refused).toBe(1);

    // So is one that stops half-way through its handshake.
    const half = await dial(listener.port);
    half.socket.write(handshake(randomBytes(20)).subarray(0, 30));
    await within(half.closed, 5000, 'closed');
    expect(listener.refused).toBe(2);
  });

  it('routes each connection to its own torrent when two are registered, and stops routing after unregistering', async () => {
    const listener = await listen({ handshakeTimeoutMs: 5000 });
    const a = randomBytes(20);
    const b = randomBytes(20);
    const toA: IncomingConnection[] = [];
    const toB: IncomingConnection[] = [];
    const unregisterA = listener.register(a.toString('hex'), (c) => {
      sockets.add(c.socket);
      toA.push(c);
    });
    listener.register(b.toString('hex'), (c) => {
      sockets.add(c.socket);
      toB.push(c);
    });
    const clients = await Promise.all([dial(listener.port), dial(listener.port), dial(listener.port)]);
    clients[0]!.socket.write(handshake(a));
    clients[1]!.socket.write(handshake(b));
    clients[2]!.socket.write(handshake(a));
    await until(() => toA.length + toB.length >= 3, 'routed');
    expect(toA.map((c) => c.address.port).sort()).toEqual(
      [clients[0]!.socket.localPort, clients[2]!.socket.localPort].sort(),
    );
    expect(toB.map((c) => c.address.port)).toEqual([clients[1]!.socket.localPort]);
    for (const c of toA) expect(c.infoHashHex).toBe(a.toString('hex'));
    expect(toB[0]!.infoHashHex).toBe(b.toString('hex'));

    unregisterA();
    const late = await dial(listener.port);
    late.socket.write(handshake(a));
    await within(late.closed, 5000, 'closed');
    expect(toA).toHaveLength(2);
    expect(listener.refused).toBe(1);
  });

  it('listens on the next port when the asked one is taken', async () => {
    const first = await listen();
    const second = await listen({ port: first.port });
    expect(second.port).not.toBe(first.port);
    expect(second.port).toBeGreaterThan(first.port);
    expect(second.port).toBeLessThan(first.port + 10);
    // Both accept and route.
    const infoHash = randomBytes(20);
    const got: number[] = [];
    for (const l of [first, second])
      l.register(infoHash.toString('hex'), (c) => {
        sockets.add(c.socket);
        got.push(l.port);
      });
    for (const l of [first, second]) (await dial(l.port)).socket.write(handshake(infoHash));
    await until(() => got.length >= 2, 'routed');
    expect(got.sort()).toEqual([first.port, second.port].sort());
  });

  it('exactPort: a taken port is a ListenError BT_ERR_PORT_IN_USE, never another port', async () => {
    const first = await listen();
    const err = await PeerListener.listen({ port: first.port, host: '127.0.0.1', exactPort: true }).catch((e) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect(err).toMatchObject({
      code: 'BT_ERR_PORT_IN_USE',
      message: `port ${first.port} is in use (127.0.0.1:${first.port})`,
    });
  });

  it('an address not on this machine is a ListenError BT_ERR_LISTEN_ADDRESS (no other port is tried)', async () => {
    const err = await PeerListener.listen({ port: 0, host: '10.9.9.9' }).catch((e) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect(err).toMatchObject({
      code: 'BT_ERR_LISTEN_ADDRESS',
      message: 'cannot listen on 10.9.9.9: not an address of this machine',
    });
    expect(err.cause).toMatchObject({ code: 'EADDRNOTAVAIL' });
  });

  it('closes pending connections on close()', async () => {
    const listener = await listen({ handshakeTimeoutMs: 20_000 });
    const client = await dial(listener.port);
    client.socket.write(handshake(randomBytes(20)).subarray(0, 10));
    await sleep(50);
    await within(listener.close(), 5000, 'close'); // well before the 20 s handshake timeout
    listeners.splice(listeners.indexOf(listener), 1);
    await within(client.closed, 5000, 'client closed');
  });

  it('bounds the connections still handshaking: past maxHandshaking new ones are closed at once; then room again', async () => {
    const listener = await listen({ handshakeTimeoutMs: 20_000, maxHandshaking: 3 });
    const silent = await Promise.all([0, 1, 2].map(() => dial(listener.port)));
    await until(() => listener.handshaking === 3, 'three handshaking');
    const extra = await dial(listener.port);
    await within(extra.closed, 5000, 'the fourth closed');
    expect(extra.closedByRemote()).toBe(true);
    expect(listener.handshaking).toBe(3);
    silent[0]!.socket.destroy();
    await until(() => listener.handshaking === 2, 'one gone');
    await routesOneHandshake(listener, 'routed once there is room');
  });

  it('rate-limits MSE key exchanges (msePerSecond): the ones past it are closed', async () => {
    const listener = await listen({ handshakeTimeoutMs: 20_000, msePerSecond: 2 });
    const openers = await Promise.all([0, 1, 2, 3].map(() => dial(listener.port)));
    // 96 bytes that are not the protocol string: taken for an MSE opener (Ya).
    for (const c of openers) c.socket.write(randomBytes(96));
    await until(() => openers.filter((c) => c.closedByRemote()).length >= 2, 'two refused');
    await sleep(100);
    expect(openers.filter((c) => c.closedByRemote())).toHaveLength(2);
  });

  it('out of file descriptors (EMFILE on accept): new connections refused for coolDownMs, then taken again', async () => {
    const listener = await listen({ handshakeTimeoutMs: 20_000, coolDownMs: 300 });
    const server = (listener as unknown as { server: Server }).server;
    server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' }));
    expect(listener.acceptErrors).toBe(1);
    const refused = await dial(listener.port);
    await within(refused.closed, 5000, 'refused while cooling down');
    expect(refused.closedByRemote()).toBe(true);
    await sleep(350);
    await routesOneHandshake(listener, 'taken after the cool-down');
  });
});

/** Dials `host`:`port` expecting a refusal (nobody listens there): the error code. */
function refusedCode(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    sockets.add(socket);
    socket.once('connect', () => resolve('connected'));
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

/**
 * TCP, but a server asked for `::` fails as on a system without IPv6 (Linux booted with
 * `ipv6.disable=1`: `socket(AF_INET6)` is EAFNOSUPPORT). Records every (port, host) asked.
 */
function noIpv6Transport(asked: [number, string][]): Transport {
  return {
    ...tcpTransport,
    createServer(): StreamServer {
      const server = tcpTransport.createServer();
      const listen = server.listen.bind(server);
      server.listen = (port: number, host: string) => {
        asked.push([port, host]);
        if (host.includes(':')) {
          const err = Object.assign(new Error(`listen EAFNOSUPPORT: address family not supported ${host}`), {
            code: 'EAFNOSUPPORT',
          });
          queueMicrotask(() => (server as unknown as { emit(e: string, x: unknown): void }).emit('error', err));
          return;
        }
        listen(port, host);
      };
      return server;
    },
  };
}

describe('PeerListener on IPv6', () => {
  it('by default listens on :: and takes IPv4 and IPv6 peers alike; an IPv4 peer is reported as IPv4, not ::ffff:127.0.0.1', async () => {
    const listener = await PeerListener.listen({ port: 0 });
    listeners.push(listener);
    expect(listener.host).toBe(DUAL_STACK_HOST);
    const infoHash = randomBytes(20);
    const routed: IncomingConnection[] = [];
    listener.register(infoHash.toString('hex'), (c) => {
      sockets.add(c.socket);
      routed.push(c);
    });
    const v4 = await dial(listener.port, '127.0.0.1');
    v4.socket.write(handshake(infoHash));
    await until(() => routed.length === 1, 'the IPv4 peer routed');
    const v6 = await dial(listener.port, '::1');
    v6.socket.write(handshake(infoHash));
    await until(() => routed.length === 2, 'the IPv6 peer routed');
    // The socket itself says `::ffff:127.0.0.1` on a dual-stack listener; the address routed is IPv4.
    expect(routed[0]!.socket.remoteAddress).toBe('::ffff:127.0.0.1');
    expect(routed[0]!.address).toEqual({ host: '127.0.0.1', port: v4.socket.localPort, family: 4 });
    expect(routed[1]!.address).toEqual({ host: '::1', port: v6.socket.localPort, family: 6 });
    expect(listener.refused).toBe(0);
  });

  it('host ::1 takes IPv6 loopback peers only: 127.0.0.1 on that port is refused by the system', async () => {
    const listener = await listen({ host: '::1' });
    expect(listener.host).toBe('::1');
    await routesOneHandshakeFrom(listener, '::1');
    expect(await refusedCode(listener.port, '127.0.0.1')).toBe('ECONNREFUSED');
  });

  it('host 127.0.0.1 takes IPv4 peers only: ::1 on that port is refused by the system', async () => {
    const listener = await listen({ host: '127.0.0.1' });
    expect(listener.host).toBe('127.0.0.1');
    expect(await refusedCode(listener.port, '::1')).toBe('ECONNREFUSED');
  });

  it('without IPv6 (EAFNOSUPPORT on ::) the default falls back to 0.0.0.0 on the same port, and takes IPv4 peers', async () => {
    const asked: [number, string][] = [];
    const probe = await listen(); // a free port to ask for
    const port = probe.port;
    await probe.close();
    listeners.splice(listeners.indexOf(probe), 1);
    const listener = await PeerListener.listen({ port, exactPort: true, transport: noIpv6Transport(asked) });
    listeners.push(listener);
    expect(asked).toEqual([
      [port, DUAL_STACK_HOST],
      [port, IPV4_ANY_HOST],
    ]);
    expect(listener.host).toBe(IPV4_ANY_HOST);
    expect(listener.port).toBe(port);
    await routesOneHandshakeFrom(listener, '127.0.0.1');
  });

  it('an IPv6 host asked for explicitly does not fall back: EAFNOSUPPORT is a ListenError BT_ERR_LISTEN_ADDRESS', async () => {
    const asked: [number, string][] = [];
    const err = await PeerListener.listen({ port: 0, host: '::', transport: noIpv6Transport(asked) }).catch((e) => e);
    expect(asked).toEqual([[0, '::']]);
    expect(err).toBeInstanceOf(ListenError);
    expect(err).toMatchObject({
      code: 'BT_ERR_LISTEN_ADDRESS',
      message: 'cannot listen on [::]: address family not supported here',
    });
  });

  it('an IPv6 address not on this machine is a ListenError BT_ERR_LISTEN_ADDRESS', async () => {
    const err = await PeerListener.listen({ port: 0, host: '2001:db8::1' }).catch((e) => e);
    expect(err).toBeInstanceOf(ListenError);
    expect(err).toMatchObject({
      code: 'BT_ERR_LISTEN_ADDRESS',
      message: 'cannot listen on [2001:db8::1]: not an address of this machine',
    });
  });
});

/** Like {@link routesOneHandshake}, dialling from `host`; checks the address routed is `host`'s. */
async function routesOneHandshakeFrom(listener: PeerListener, host: string): Promise<void> {
  const infoHash = randomBytes(20);
  const routed: IncomingConnection[] = [];
  listener.register(infoHash.toString('hex'), (c) => {
    sockets.add(c.socket);
    routed.push(c);
  });
  const client = await dial(listener.port, host);
  client.socket.write(handshake(infoHash));
  await until(() => routed.length === 1, `routed from ${host}`);
  expect(routed[0]!.address).toMatchObject({ host, port: client.socket.localPort });
}
