/**
 * An in-memory UDP network for DHT node actors: each node's `socket` actor is a fake that registers
 * its address on the network, reports `socket.ready` with its bootstrap list, and hands every
 * `socket.send` to the network, which encodes it (KRPC), decodes it at the receiver and delivers it
 * (a macrotask later, so every send of one transition is delivered after it). Raw endpoints (a test
 * playing another node) can be attached too. A simulated clock drives every timer.
 */
import { createHash } from 'node:crypto';
import { createActor, fromCallback, fromPromise, SimulatedClock, type Actor } from 'xstate';
import type {
  DhtEndpoint,
  DhtSocketCommand,
  DhtSocketInput,
  DhtSocketReport,
} from '../../src/protocol/dht-socket-types.js';
import type { KrpcError } from '../../src/protocol/krpc.js';
import { decodeKrpc, encodeKrpc, type KrpcMessage } from '../../src/protocol/krpc.js';
import { dhtMachine, type DhtInput, type DhtReport } from '../../src/machines/dht/dht.machine.js';
import { splitHostPort } from '../../src/io/dht-socket.js';

export const keyOf = (e: DhtEndpoint): string => `${e.host}:${e.port}`;

export interface Datagram {
  from: DhtEndpoint;
  to: DhtEndpoint;
  msg: KrpcMessage;
  bytes: Uint8Array;
}

export class FakeNet {
  readonly endpoints = new Map<string, (r: DhtSocketReport) => void>();
  readonly log: Datagram[] = [];
  /** Return true to lose a datagram. */
  drop: (d: Datagram) => boolean = () => false;
  /** Bind failures by port. */
  readonly failPorts = new Set<number>();

  send(from: DhtEndpoint, to: DhtEndpoint, msg: KrpcMessage): void {
    const bytes = encodeKrpc(msg);
    const d: Datagram = { from, to, msg, bytes };
    this.log.push(d);
    if (this.drop(d)) return;
    setImmediate(() => this.deliver(from, to, bytes));
  }

  /** Delivers raw bytes as the socket would: decoded, or `socket.malformed`. */
  deliver(from: DhtEndpoint, to: DhtEndpoint, bytes: Uint8Array): void {
    const target = this.endpoints.get(keyOf(to));
    if (!target) return;
    try {
      target({ type: 'socket.message', msg: decodeKrpc(bytes, { maxNodes: 64 }), from, size: bytes.length });
    } catch (err) {
      const e = err as KrpcError;
      target({
        type: 'socket.malformed',
        from,
        size: bytes.length,
        ...(e.transactionId && { t: e.transactionId }),
        ...(e.kind && { kind: e.kind }),
      });
    }
  }

  /** A raw endpoint (a test playing a node): what it receives is collected. */
  raw(at: DhtEndpoint): { inbox: Datagram[]; send: (to: DhtEndpoint, msg: KrpcMessage) => void } {
    const inbox: Datagram[] = [];
    this.endpoints.set(keyOf(at), (r) => {
      if (r.type === 'socket.message') inbox.push({ from: r.from, to: at, msg: r.msg, bytes: new Uint8Array(0) });
    });
    return { inbox, send: (to, msg) => this.send(at, to, msg) };
  }

  socketActor(host = '127.0.0.1') {
    return fromCallback<DhtSocketCommand, DhtSocketInput>(({ input, sendBack, receive }) => {
      const me = { host, port: input.port };
      if (this.failPorts.has(input.port)) {
        setImmediate(() => sendBack({ type: 'socket.failed', message: `UDP port ${input.port}: EADDRINUSE` }));
        return () => undefined;
      }
      this.endpoints.set(keyOf(me), (r) => sendBack(r));
      receive((cmd) => this.send(me, cmd.to, cmd.msg));
      const routers = input.bootstrap.flatMap((b) => splitHostPort(b) ?? []);
      setImmediate(() => sendBack({ type: 'socket.ready', port: input.port, routers, unresolved: [] }));
      return () => this.endpoints.delete(keyOf(me));
    });
  }
}

export const sha1 = (b: Uint8Array): Uint8Array => createHash('sha1').update(b).digest();
let secrets = 0;
export const secret = (): Uint8Array =>
  Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ++secrets & 0xff);

export interface NodeHandle {
  actor: Actor<typeof dhtMachine>;
  at: DhtEndpoint;
  reports: DhtReport[];
  saved: string[];
}

export function startNode(
  net: FakeNet,
  clock: SimulatedClock,
  port: number,
  input: Partial<DhtInput> = {},
  save: (text: string) => Promise<void> = () => Promise.resolve(),
): NodeHandle {
  const saved: string[] = [];
  const logic = dhtMachine.provide({
    actors: {
      socket: net.socketActor(),
      saveTable: fromPromise<void, { text: string }>(async ({ input: i }) => {
        saved.push(i.text);
        await save(i.text);
      }),
    },
  });
  const actor = createActor(logic, {
    clock,
    input: { seed: port, hash: sha1, secret, bind: { port }, ...input },
  });
  const reports: DhtReport[] = [];
  actor.on('*', (e) => reports.push(e as DhtReport));
  actor.start();
  return { actor, at: { host: '127.0.0.1', port }, reports, saved };
}

/** Lets macrotask deliveries and XState's deferred sends run. */
export async function flush(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** Advances the simulated clock in steps, flushing after each. */
export async function run(clock: SimulatedClock, ms: number, step = 100): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    clock.increment(Math.min(step, ms - t));
    await flush(4);
  }
}

export function state(n: NodeHandle): string {
  return JSON.stringify(n.actor.getSnapshot().value);
}

export { SimulatedClock };
