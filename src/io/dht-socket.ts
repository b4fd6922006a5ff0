/**
 * The DHT node's UDP socket as an actor (`fromCallback`): binds the engine's peer port number (UDP),
 * resolves the bootstrap nodes' names, delivers each datagram decoded by the KRPC codec
 * (`socket.message`, or `socket.malformed` when the codec refuses it) and sends what the node asks
 * (`socket.send`). The contract is src/protocol/dht-socket-types.ts.
 *
 * @example
 * const logic = dhtMachine.provide({ actors: { socket: dhtSocketActor(), saveTable: saveDhtTableActor(file) } });
 */
import type { Socket } from 'node:dgram';
import { fromCallback } from 'xstate';
import { realClock, type TimerId } from './clock.js';
import { dgramModule, dnsModule } from './lazy-builtins.js';
import type { DhtEndpoint, DhtSocketCommand, DhtSocketInput, DhtSocketReport } from '../protocol/dht-socket-types.js';
import { KrpcError, decodeKrpc, encodeKrpc, type KrpcLimits } from '../protocol/krpc.js';
import { normaliseHost } from '../protocol/peer-address.js';

/**
 * The usual public DHT routers, by name (resolved when the node starts; never IP literals). Used when no
 * `--dht-bootstrap` is given.
 */
export const DEFAULT_DHT_BOOTSTRAP: readonly string[] = Object.freeze([
  'router.bittorrent.com:6881',
  'router.utorrent.com:6881',
  'dht.transmissionbt.com:6881',
  'dht.libtorrent.org:25401',
]);

/**
 * Caps for incoming datagrams: bittorrent-dht answers with its whole routing table (see docs/dht.md), so
 * more nodes than BEP 5's 8 are read; a lookup takes at most 16 of them.
 */
export const DHT_RECEIVE_LIMITS: Partial<KrpcLimits> = { maxNodes: 64, maxMessageBytes: 4096 };

/** How long resolving one bootstrap name may take. */
const RESOLVE_TIMEOUT_MS = 5_000;

export interface DhtSocketOptions {
  /** Called for every datagram before it is sent (tracing, tests). */
  onSend?: (to: DhtEndpoint, bytes: number) => void;
  /** Called for each bootstrap entry once resolved: its addresses, or why it did not resolve. */
  onResolve?: (entry: string, result: DhtEndpoint[] | string) => void;
  /** Name lookup (default `dns.lookup`, all addresses). */
  lookup?: (host: string) => Promise<{ address: string; family: number }[]>;
  resolveTimeoutMs?: number;
}

/** Splits `HOST:PORT` / `[IPv6]:PORT`; null when it is not that shape or the port is not 1..65535. */
export function splitHostPort(s: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]\s]+):(\d+)$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: m[1]!, port };
}

/** Resolves bootstrap entries to addresses of `family`; each entry that does not resolve says why. */
export async function resolveBootstrap(
  entries: readonly string[],
  family: 4 | 6,
  options: DhtSocketOptions = {},
): Promise<{ routers: DhtEndpoint[]; unresolved: string[] }> {
  const find = options.lookup ?? ((host: string) => dnsModule().lookup(host, { all: true }));
  const timeoutMs = options.resolveTimeoutMs ?? RESOLVE_TIMEOUT_MS;
  const results = await Promise.all(
    entries.map(async (entry): Promise<DhtEndpoint[] | string> => {
      const parts = splitHostPort(entry);
      if (!parts) return 'not HOST:PORT';
      const ip = normaliseHost(parts.host);
      if (ip) return ip.family === family ? [{ host: ip.host, port: parts.port }] : `not an IPv${family} address`;
      let timer: TimerId | undefined;
      try {
        const found = await Promise.race([
          find(parts.host),
          new Promise<never>((_, reject) => {
            timer = realClock.setTimeout(
              () => reject(Object.assign(new Error('timed out'), { code: 'ETIMEOUT' })),
              timeoutMs,
            );
          }),
        ]);
        const out = found
          .map((a) => normaliseHost(a.address))
          .filter((a) => a !== null && a.family === family)
          .map((a) => ({ host: a!.host, port: parts.port }));
        return out.length > 0 ? out.slice(0, 4) : `no IPv${family} address`;
      } catch (err) {
        return (err as { code?: string }).code ?? 'does not resolve';
      } finally {
        realClock.clearTimeout(timer);
      }
    }),
  );
  const routers: DhtEndpoint[] = [];
  const unresolved: string[] = [];
  const seen = new Set<string>();
  results.forEach((r, i) => {
    options.onResolve?.(entries[i]!, r);
    if (typeof r === 'string') unresolved.push(`${entries[i]!} (${r})`);
    else
      for (const a of r) {
        const key = `${a.host}|${a.port}`;
        if (!seen.has(key)) routers.push(a);
        seen.add(key);
      }
  });
  return { routers, unresolved };
}

/** The socket actor; see the module comment. */
export function dhtSocketActor(options: DhtSocketOptions = {}) {
  return fromCallback<DhtSocketCommand, DhtSocketInput>(({ input, sendBack, receive }) => {
    const report = (r: DhtSocketReport) => sendBack(r);
    const family: 4 | 6 =
      input.host !== undefined && normaliseHost(input.host.replace(/^\[(.*)\]$/, '$1'))?.family === 6 ? 6 : 4;
    const limits = { ...DHT_RECEIVE_LIMITS, ...input.limits };
    let closed = false;
    let bound = false;
    const socket: Socket = dgramModule().createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    socket.on('error', (err) => {
      if (!bound && !closed) report({ type: 'socket.failed', message: `UDP port ${input.port}: ${err.message}` });
    });
    socket.on('message', (buf, rinfo) => {
      if (closed || !bound) return;
      const addr = normaliseHost(rinfo.address);
      if (!addr || rinfo.port < 1) return;
      const from = { host: addr.host, port: rinfo.port };
      const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
      try {
        report({ type: 'socket.message', msg: decodeKrpc(bytes, limits), from, size: bytes.length });
      } catch (err) {
        if (!(err instanceof KrpcError)) throw err;
        report({
          type: 'socket.malformed',
          from,
          size: bytes.length,
          ...(err.transactionId && { t: err.transactionId }),
          ...(err.kind && { kind: err.kind }),
        });
      }
    });
    receive((cmd) => {
      if (closed || !bound || cmd.type !== 'socket.send') return;
      const to = normaliseHost(cmd.to.host);
      if (!to || to.family !== family) return; // an address this socket cannot reach
      let bytes: Uint8Array;
      try {
        bytes = encodeKrpc(cmd.msg);
      } catch {
        return;
      }
      options.onSend?.({ host: to.host, port: cmd.to.port }, bytes.length);
      socket.send(bytes, cmd.to.port, to.host, () => undefined); // a lost datagram is a timeout to the node
    });
    socket.bind({ port: input.port, ...(input.host !== undefined && { address: input.host }), exclusive: true }, () => {
      bound = true;
      const port = socket.address().port;
      void resolveBootstrap(input.bootstrap, family, options).then(({ routers, unresolved }) => {
        if (!closed) report({ type: 'socket.ready', port, routers, unresolved });
      });
    });
    return () => {
      closed = true;
      try {
        socket.close();
      } catch {
        // not bound yet, or closed already
      }
    };
  });
}
