/**
 * BEP 42 for our own node id: the votes for our public address (src/machines/dht/external-ip.ts) and a
 * DHT node actor that changes its id when enough nodes that answered it agree on a public address.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  castVote,
  consensusIp,
  emptyVotes,
  idForVotes,
  MAX_VOTERS,
  MIN_VOTES,
} from '../../src/machines/dht/external-ip.js';
import { bep42Valid, idToHex } from '../../src/machines/dht/node-id.js';
import { randomFrom } from '../../src/machines/random.js';
import type { KrpcMessage } from '../../src/protocol/krpc.js';
import type { DhtReport } from '../../src/machines/dht/dht.machine.js';
import { FakeNet, flush, run, startNode, SimulatedClock, type NodeHandle } from './dht-harness.js';
import { propertyOptions } from '../support/fc.js';

const PUBLIC = '124.31.75.21';

describe('external address votes', () => {
  it('an address wins with 3 agreeing voters and a majority; one voter, one vote', () => {
    let v = emptyVotes();
    v = castVote(v, '1.1.1.1', PUBLIC);
    v = castVote(v, '1.1.1.1', PUBLIC); // the same voter again: still one vote
    v = castVote(v, '2.2.2.2', PUBLIC);
    expect(consensusIp(v)).toBeUndefined();
    v = castVote(v, '3.3.3.3', PUBLIC);
    expect(consensusIp(v)).toBe(PUBLIC);
    // Three liars against three: no majority, no change.
    for (const voter of ['4.4.4.4', '5.5.5.5', '6.6.6.6']) v = castVote(v, voter, '9.9.9.9');
    expect(consensusIp(v)).toBeUndefined();
    // A voter that changes its mind replaces its vote.
    v = castVote(v, '4.4.4.4', PUBLIC);
    expect(consensusIp(v)).toBe(PUBLIC);
    // Addresses are normalised; a host that is not an IP address is no vote.
    expect(castVote(emptyVotes(), '::ffff:1.2.3.4', '::ffff:124.31.75.21').byVoter).toEqual({ '1.2.3.4': PUBLIC });
    const same = emptyVotes();
    expect(castVote(same, 'example.org', PUBLIC)).toBe(same);
    expect(castVote(same, '1.2.3.4', 'nowhere')).toBe(same);
  });

  it('idForVotes: a new BEP 42 id only for a public consensus address our id is not bound to', () => {
    const random = randomFrom(42);
    let v = emptyVotes();
    for (const voter of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) v = castVote(v, voter, PUBLIC);
    const own = new Uint8Array(20).fill(7);
    const next = idForVotes(own, v, random)!;
    expect(next.ip).toBe(PUBLIC);
    expect(bep42Valid(next.id, PUBLIC)).toBe(true);
    expect(bep42Valid(own, PUBLIC)).toBe(false);
    // Already bound: keep it.
    expect(idForVotes(next.id, v, random)).toBeUndefined();
    // Exempt addresses (loopback, private) never move the id.
    let local = emptyVotes();
    for (const voter of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) local = castVote(local, voter, '192.168.1.9');
    expect(consensusIp(local)).toBe('192.168.1.9');
    expect(idForVotes(own, local, random)).toBeUndefined();
    // No consensus: nothing.
    expect(idForVotes(own, emptyVotes(), random)).toBeUndefined();
  });

  it('property: bounded to MAX_VOTERS, one vote per voter, consensus only with MIN_VOTES and a majority', () => {
    const octet = fc.integer({ min: 1, max: 40 });
    fc.assert(
      fc.property(fc.array(fc.tuple(octet, fc.integer({ min: 1, max: 3 })), { maxLength: 80 }), (casts) => {
        let v = emptyVotes();
        const latest = new Map<string, string>();
        for (const [voter, ip] of casts) {
          v = castVote(v, `10.0.0.${voter}`, `8.8.8.${ip}`);
          // A repeated vote changes nothing; a changed one makes the voter the latest.
          if (latest.get(`10.0.0.${voter}`) === `8.8.8.${ip}`) continue;
          latest.delete(`10.0.0.${voter}`);
          latest.set(`10.0.0.${voter}`, `8.8.8.${ip}`);
        }
        const kept = Object.entries(v.byVoter);
        if (kept.length > MAX_VOTERS) return false;
        // The latest MAX_VOTERS voters, each with its latest vote.
        const want = [...latest].slice(-MAX_VOTERS);
        if (JSON.stringify(kept) !== JSON.stringify(want)) return false;
        const c = consensusIp(v);
        if (c === undefined) return true;
        const n = kept.filter(([, ip]) => ip === c).length;
        return n >= MIN_VOTES && n * 2 > kept.length;
      }),
      propertyOptions,
    );
  });
});

describe('dht node: BEP 42 for its own id', () => {
  const started: NodeHandle[] = [];
  afterEach(() => {
    for (const n of started.splice(0)) n.actor.stop();
  });

  it('three answering nodes that see it at a public address: a new id bound to it, the table kept', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const routers = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((host) => net.raw({ host, port: 7100 }));
    const b = startNode(net, clock, 7001, {
      bootstrap: ['127.0.0.2:7100', '127.0.0.3:7100', '127.0.0.4:7100'],
      settings: { bootstrapTimeoutMs: 60_000 },
    });
    started.push(b);
    await run(clock, 200);
    const oldId = b.actor.getSnapshot().context.ownId;
    expect(bep42Valid(oldId, PUBLIC)).toBe(false);
    const answer = (i: number, ip: string) => {
      const q = routers[i]!.inbox[0]!.msg as Extract<KrpcMessage, { y: 'q' }>;
      routers[i]!.send(
        { host: '127.0.0.1', port: 7001 },
        {
          y: 'r',
          t: q.t,
          id: new Uint8Array(20).fill(0x10 + i),
          nodes: [],
          ip: { host: ip, port: 7001, family: 4 },
        },
      );
    };
    answer(0, PUBLIC);
    answer(1, PUBLIC);
    await flush();
    expect(b.actor.getSnapshot().context.ownId).toEqual(oldId); // two votes: not yet
    const before = net.log.length;
    answer(2, PUBLIC);
    await flush();
    const ctx = b.actor.getSnapshot().context;
    expect(bep42Valid(ctx.ownId, PUBLIC)).toBe(true);
    expect(ctx.svc.table.ownId).toEqual(ctx.ownId);
    const renewed = b.reports.filter((r): r is Extract<DhtReport, { type: 'dht.newId' }> => r.type === 'dht.newId');
    expect(renewed).toEqual([{ type: 'dht.newId', id: idToHex(ctx.ownId), ip: PUBLIC }]);
    // The three routers stay in the table (it was rebuilt around the new id).
    for (let i = 0; i < 3; i++) expect(ctx.svc.table.get(new Uint8Array(20).fill(0x10 + i))).toBeDefined();
    // Queries from now on carry the new id, and a lookup of the new id fills the buckets near it.
    await run(clock, 500);
    const later = net.log.slice(before).filter((d) => d.from.port === 7001 && d.msg.y === 'q');
    expect(later.length).toBeGreaterThan(0);
    for (const d of later) expect(idToHex((d.msg as { id: Uint8Array }).id)).toBe(idToHex(ctx.ownId));
    expect(
      later.some((d) => d.msg.y === 'q' && d.msg.q === 'find_node' && idToHex(d.msg.target) === idToHex(ctx.ownId)),
    ).toBe(true);
    // The saved table holds the new id.
    expect(JSON.parse(ctx.svc.table.serialize()).id).toBe(idToHex(ctx.ownId));
  });

  it('votes for a loopback address (every test swarm) never change the id', async () => {
    const net = new FakeNet();
    const clock = new SimulatedClock();
    const routers = ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((host) => net.raw({ host, port: 7100 }));
    const b = startNode(net, clock, 7002, { bootstrap: ['127.0.0.2:7100', '127.0.0.3:7100', '127.0.0.4:7100'] });
    started.push(b);
    await run(clock, 200);
    const oldId = b.actor.getSnapshot().context.ownId;
    routers.forEach((r, i) => {
      const q = r.inbox[0]!.msg as Extract<KrpcMessage, { y: 'q' }>;
      r.send(
        { host: '127.0.0.1', port: 7002 },
        {
          y: 'r',
          t: q.t,
          id: new Uint8Array(20).fill(0x20 + i),
          nodes: [],
          ip: { host: '127.0.0.1', port: 7002, family: 4 },
        },
      );
    });
    await flush();
    expect(b.actor.getSnapshot().context.ownId).toEqual(oldId);
    expect(b.reports.some((r) => r.type === 'dht.newId')).toBe(false);
  });
});
