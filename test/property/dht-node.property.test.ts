/**
 * The DHT node actor under anything the network can send it: any sequence of datagrams — queries of
 * every kind with random ids, targets and tokens, responses and errors under random or real transaction
 * ids from the right or another address, datagrams the codec refuses — interleaved with ticks, lookups
 * asked for, query timeouts. After every step: the actor is alive (no exception, no unhandled error);
 * queries of ours outstanding ≤ maxPending, each with its timer child; every answer we send goes to an
 * address that sent us a query, echoes its transaction id, and encodes within 1,000 bytes; the routing
 * table and the peer store stay within their caps; answers we never asked for change nothing but
 * `stats.dropped`.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { dhtMachine } from '../../src/machines/dht/dht.machine.js';
import type {
  DhtEndpoint,
  DhtSaveInput,
  DhtSocketCommand,
  DhtSocketInput,
  DhtSocketReport,
} from '../../src/protocol/dht-socket-types.js';
import { decodeKrpc, encodeKrpc, type KrpcMessage, type KrpcQuery } from '../../src/protocol/krpc.js';
import { propertyOptions } from '../support/fc.js';

const sha1 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha1').update(b).digest());
const MAX_PENDING = 6;
const MAX_NODES = 24;

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const id = bytes(20);
const host = fc.constantFrom('127.0.0.1', '127.0.0.2', '10.0.0.7', '192.168.1.9');
const port = fc.constantFrom(6881, 6882, 7000);
const from = fc.record({ host, port });
const tid = fc.uint8Array({ minLength: 1, maxLength: 4 });
const compactNode = fc.record({ id, host, port, family: fc.constant(4 as const) });

const query: fc.Arbitrary<KrpcQuery> = fc.oneof(
  fc.record({ y: fc.constant('q' as const), q: fc.constant('ping' as const), t: tid, id }),
  fc.record({ y: fc.constant('q' as const), q: fc.constant('find_node' as const), t: tid, id, target: id }),
  fc.record({ y: fc.constant('q' as const), q: fc.constant('get_peers' as const), t: tid, id, infoHash: id }),
  fc.record({
    y: fc.constant('q' as const),
    q: fc.constant('announce_peer' as const),
    t: tid,
    id,
    infoHash: id,
    port: fc.integer({ min: 1, max: 65535 }),
    token: fc.uint8Array({ maxLength: 20 }),
  }),
  fc.record({
    y: fc.constant('q' as const),
    q: fc.constant('other' as const),
    method: fc.constant('vote'),
    t: tid,
    id,
  }),
);

type Step =
  | { kind: 'query'; from: DhtEndpoint; msg: KrpcQuery }
  /** An answer: under the transaction id of one of our queries (`ours`: its index), or a random one. */
  | {
      kind: 'answer';
      ours: number | null;
      t: Uint8Array;
      sameAddress: boolean;
      from: DhtEndpoint;
      id: Uint8Array;
      nodes: { id: Uint8Array; host: string; port: number; family: 4 }[];
      token: Uint8Array | undefined;
      error: boolean;
    }
  | { kind: 'garbage'; from: DhtEndpoint; bytes: Uint8Array }
  | { kind: 'tick' }
  | { kind: 'time'; ms: number }
  | { kind: 'add'; infoHash: Uint8Array; port: number | undefined };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('query' as const), from, msg: query }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('answer' as const),
      ours: fc.option(fc.nat(20)),
      t: tid,
      sameAddress: fc.boolean(),
      from,
      id,
      nodes: fc.array(compactNode, { maxLength: 10 }),
      token: fc.option(fc.uint8Array({ minLength: 1, maxLength: 8 }), { nil: undefined }),
      error: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('garbage' as const), from, bytes: fc.uint8Array({ maxLength: 60 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('tick' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 100, max: 6000 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      infoHash: id,
      port: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    }),
  },
);

function node(seed: number) {
  const sent: { to: DhtEndpoint; msg: KrpcMessage }[] = [];
  let deliver: (r: DhtSocketReport) => void = () => undefined;
  const socket = fromCallback<DhtSocketCommand, DhtSocketInput>(({ sendBack, receive }) => {
    deliver = sendBack;
    receive((cmd) => sent.push({ to: cmd.to, msg: cmd.msg }));
  });
  const clock = new SimulatedClock();
  const actor = createActor(
    dhtMachine.provide({ actors: { socket, saveTable: fromPromise<void, DhtSaveInput>(async () => undefined) } }),
    {
      clock,
      input: {
        seed,
        hash: sha1,
        secret: () => Uint8Array.from({ length: 16 }, (_, i) => (i * 7 + seed) & 0xff),
        bootstrap: [],
        bind: { port: 6881 },
        settings: { maxPending: MAX_PENDING, maxLookups: 3 },
        table: { maxNodes: MAX_NODES },
        store: { maxPeers: 50, maxPeersPerInfoHash: 10, maxInfoHashes: 5 },
      },
    },
  );
  let failure: unknown;
  actor.subscribe({ error: (err) => (failure = err) });
  actor.start();
  deliver({ type: 'socket.ready', port: 6881, routers: [{ host: '127.0.0.9', port: 6881 }], unresolved: [] });
  return { actor, sent, clock, deliver: (r: DhtSocketReport) => deliver(r), failure: () => failure };
}

describe('dht node under any datagrams (property)', () => {
  it('stays alive and within its bounds; answers only queriers, within 1,000 bytes; stray answers change nothing', () => {
    fc.assert(
      fc.property(fc.integer(), fc.array(step, { maxLength: 30 }), (seed, steps) => {
        const n = node(seed);
        const queriers = new Set<string>();
        const ourQueries: { to: DhtEndpoint; t: Uint8Array }[] = [];
        let seenSent = 0;
        for (const s of steps) {
          const before = n.actor.getSnapshot().context.stats;
          let stray = false;
          if (s.kind === 'query') {
            queriers.add(`${s.from.host}|${s.from.port}`);
            const bytes = encodeKrpc(s.msg);
            n.deliver({ type: 'socket.message', msg: decodeKrpc(bytes), from: s.from, size: bytes.length });
          } else if (s.kind === 'answer') {
            const real = s.ours !== null && ourQueries.length > 0 ? ourQueries[s.ours % ourQueries.length]! : undefined;
            const t = real ? real.t : s.t;
            const at = real && s.sameAddress ? real.to : s.from;
            const pending = n.actor.getSnapshot().context.pending;
            const hexT = Buffer.from(t).toString('hex');
            stray = !(pending[hexT] && pending[hexT].to.host === at.host && pending[hexT].to.port === at.port);
            const msg: KrpcMessage = s.error
              ? { y: 'e', t, code: 201, message: 'no' }
              : { y: 'r', t, id: s.id, nodes: s.nodes, ...(s.token && { token: s.token }) };
            n.deliver({
              type: 'socket.message',
              msg: decodeKrpc(encodeKrpc(msg), { maxNodes: 64 }),
              from: at,
              size: 100,
            });
          } else if (s.kind === 'garbage') {
            let report: DhtSocketReport;
            try {
              report = { type: 'socket.message', msg: decodeKrpc(s.bytes), from: s.from, size: s.bytes.length };
              if (report.msg.y === 'q') queriers.add(`${s.from.host}|${s.from.port}`);
              else stray = true; // a random response is checked as any other below
            } catch (err) {
              const e = err as { transactionId?: Uint8Array; kind?: 'q' | 'r' | 'e' };
              if (e.kind === 'q') queriers.add(`${s.from.host}|${s.from.port}`);
              report = {
                type: 'socket.malformed',
                from: s.from,
                size: s.bytes.length,
                ...(e.transactionId && { t: e.transactionId }),
                ...(e.kind && { kind: e.kind }),
              };
            }
            if (report.type === 'socket.message' && report.msg.y !== 'q') {
              const p = n.actor.getSnapshot().context.pending[Buffer.from(report.msg.t).toString('hex')];
              stray = !(p && p.to.host === s.from.host && p.to.port === s.from.port);
            }
            n.deliver(report);
          } else if (s.kind === 'tick') n.actor.send({ type: 'dht.tick' });
          else if (s.kind === 'time') n.clock.increment(s.ms);
          else n.actor.send({ type: 'dht.add', infoHash: s.infoHash, ...(s.port !== undefined && { port: s.port }) });

          expect(n.failure()).toBeUndefined();
          const snap = n.actor.getSnapshot();
          expect(snap.status).toBe('active');
          const c = snap.context;
          const pending = Object.keys(c.pending);
          expect(pending.length).toBeLessThanOrEqual(MAX_PENDING);
          for (const tidHex of pending) expect(snap.children[`query:${tidHex}`]).toBeDefined();
          expect(c.svc.table.size).toBeLessThanOrEqual(MAX_NODES);
          expect(c.svc.store.peerCount).toBeLessThanOrEqual(50);
          if (stray) {
            expect(c.stats.received).toBe(before.received);
            expect(c.stats.dropped).toBe(before.dropped + 1);
          }
          for (const out of n.sent.slice(seenSent)) {
            if (out.msg.y === 'q') ourQueries.push({ to: out.to, t: out.msg.t });
            else {
              expect(queriers.has(`${out.to.host}|${out.to.port}`)).toBe(true);
              expect(encodeKrpc(out.msg).length).toBeLessThanOrEqual(1000);
            }
          }
          seenSent = n.sent.length;
        }
        n.actor.stop();
      }),
      propertyOptions,
    );
  }, 300_000);
});
