/**
 * The torrent statechart with in-process peers: the `wire` actor is an in-memory simulation of
 * seeders (honest, corrupt, refusing, duplicate, ourselves) and the `storage` actor verifies into
 * memory, so the engine's logic runs end to end with no socket and no disk, on a simulated clock.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createActor, fromCallback, SimulatedClock } from 'xstate';
import { blockHashes } from '../../src/io/storage-actor.js';
import { announcerMachine } from '../../src/machines/tracker/announcer.machine.js';
import { peerMachine } from '../../src/machines/peer/peer.machine.js';
import { torrentMachine, type TorrentInfo } from '../../src/machines/torrent/torrent.machine.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import type { PeerAddress } from '../../src/protocol/peer-address.js';
import { pieceHashList } from '../support/data.js';

const PIECE = 32 * 1024;

function makeTorrent(length: number) {
  const data = randomBytes(length);
  const hashes = pieceHashList(data, PIECE);
  const pieceCount = hashes.length;
  const info: TorrentInfo = {
    infoHash: randomBytes(20),
    infoHashHex: '',
    name: 'sim',
    length,
    pieceLength: PIECE,
    pieceCount,
    announce: [],
  };
  return { data, hashes, info };
}

interface FakePeer {
  refuseTimes?: number;
  peerId?: Uint8Array;
  corrupt?: number[];
  /** Serve only this many blocks, then go silent. */
  stallAfter?: number;
}

type WireMsg = { type: string; index?: number; begin?: number; length?: number };

function simulation(t: ReturnType<typeof makeTorrent>, peers: Record<string, FakePeer>) {
  const served = new Map<string, number>();
  const dials = new Map<string, number>();
  let open = 0;
  let maxOpen = 0;
  const wire = fromCallback<
    { type: string; message?: WireMsg; messages?: WireMsg[] },
    { connect?: { host: string; port: number } }
  >(({ input, sendBack, receive }) => {
    const key = `${input.connect!.host}:${input.connect!.port}`;
    const spec = peers[key];
    const n = (dials.get(key) ?? 0) + 1;
    dials.set(key, n);
    let alive = true;
    const send = (e: Record<string, unknown>) => queueMicrotask(() => alive && sendBack({ at: 0, ...e } as never));
    if (!spec || n <= (spec.refuseTimes ?? 0)) {
      send({ type: 'wire.closed', error: { code: 'ECONNREFUSED', message: 'refused' } });
      return () => void (alive = false);
    }
    open++;
    maxOpen = Math.max(maxOpen, open);
    send({ type: 'wire.connected' });
    send({
      type: 'wire.handshake',
      handshake: { reserved: new Uint8Array(8), infoHash: t.info.infoHash, peerId: spec.peerId ?? randomBytes(20) },
    });
    send({ type: 'wire.bitfield', bytes: Bitfield.full(t.info.pieceCount).toBytes() });
    send({ type: 'wire.unchoke' });
    let blocks = 0;
    const serve = (message: { type: string; index?: number; begin?: number; length?: number }) => {
      if (message.type !== 'request') return;
      const { index, begin, length } = message as { index: number; begin: number; length: number };
      if (spec.stallAfter !== undefined && blocks >= spec.stallAfter) return;
      blocks++;
      const start = index * PIECE + begin;
      const block = Buffer.from(t.data.subarray(start, start + length));
      if (spec.corrupt?.includes(index)) block[0] = block[0]! ^ 1;
      served.set(key, (served.get(key) ?? 0) + 1);
      send({ type: 'wire.piece', index, begin, block });
    };
    receive((cmd) => {
      if (cmd.type === 'wire.send' && cmd.message) serve(cmd.message);
      if (cmd.type === 'wire.sendMany') for (const m of cmd.messages ?? []) serve(m);
    });
    return () => {
      alive = false;
      open--;
    };
  });
  const written = Buffer.alloc(t.info.length);
  const storage = fromCallback<{ type: string; index?: number; data?: Uint8Array; blockHashes?: boolean }>(
    ({ sendBack, receive }) => {
      queueMicrotask(() => sendBack({ type: 'storage.ready', have: new Bitfield(t.info.pieceCount).toBytes() }));
      receive((cmd) => {
        if (cmd.type === 'storage.write') {
          const ok = createHash('sha1').update(cmd.data!).digest().equals(t.hashes[cmd.index!]!);
          if (ok) written.set(cmd.data!, cmd.index! * PIECE);
          // Block hashes now: the torrent reuses the buffer once it hears the verdict.
          const hashes = !ok || cmd.blockHashes ? blockHashes(cmd.data!) : undefined;
          queueMicrotask(() =>
            sendBack({ type: ok ? 'storage.verified' : 'storage.hashFailed', index: cmd.index!, blockHashes: hashes }),
          );
        } else if (cmd.type === 'storage.close') queueMicrotask(() => sendBack({ type: 'storage.closed' }));
      });
    },
  );
  const logic = torrentMachine.provide({
    actors: {
      storage: storage as never,
      peer: peerMachine.provide({ actors: { wire: wire as never } }),
      announcer: announcerMachine,
    },
  });
  const addresses: PeerAddress[] = Object.keys(peers).map((k) => ({
    host: k.split(':')[0]!,
    port: Number(k.split(':')[1]),
    family: 4,
  }));
  return { logic, addresses, written, served, dials, stats: () => ({ maxOpen, open }) };
}

async function settle(rounds = 50) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

async function runUntil(
  actor: { getSnapshot(): { matches(v: unknown): boolean } },
  clock: SimulatedClock,
  done: () => boolean,
  maxSteps = 400,
) {
  for (let i = 0; i < maxSteps && !done(); i++) {
    await settle(5);
    clock.increment(1000);
  }
  await settle();
}

function start(
  t: ReturnType<typeof makeTorrent>,
  peers: Record<string, FakePeer>,
  settings: Record<string, unknown> = {},
  ourId = randomBytes(20),
) {
  const sim = simulation(t, peers);
  const clock = new SimulatedClock();
  const actor = createActor(sim.logic, {
    clock,
    input: {
      info: t.info,
      peerId: ourId,
      peers: sim.addresses,
      settings: { tickMs: 1000, ...settings },
      random: () => 0.5,
    },
  });
  const events: { type: string; [k: string]: unknown }[] = [];
  actor.on('*', (e) => events.push(e as never));
  actor.start();
  const complete = () => actor.getSnapshot().matches({ active: 'complete' });
  return { actor, clock, sim, events, complete, ourId };
}

describe('torrent statechart with simulated peers', () => {
  it('downloads from several seeders in parallel and verifies every piece', async () => {
    const t = makeTorrent(40 * PIECE + 1234);
    const { actor, clock, sim, complete } = start(t, { '10.0.0.1:1': {}, '10.0.0.2:1': {}, '10.0.0.3:1': {} });
    await runUntil(actor, clock, complete);
    expect(complete()).toBe(true);
    expect(sim.written.equals(t.data)).toBe(true);
    expect(sim.served.size).toBe(3);
    const p = actor.getSnapshot().context.progress;
    expect(p).toMatchObject({ left: 0, verifiedPieces: t.info.pieceCount, hashFailures: 0 });
    actor.send({ type: 'torrent.stop' });
    await runUntil(actor, clock, () => actor.getSnapshot().status === 'done');
    expect(actor.getSnapshot().value).toBe('stopped');
  });

  it('a corrupt seeder: the piece fails, the peer is banned and never dialled again, the data is right', async () => {
    const t = makeTorrent(16 * PIECE);
    const { actor, clock, sim, complete, events } = start(t, { '10.0.0.1:1': { corrupt: [3] }, '10.0.0.2:1': {} });
    await runUntil(actor, clock, complete);
    expect(complete()).toBe(true);
    expect(sim.written.equals(t.data)).toBe(true);
    const failed = events.filter((e) => e.type === 'torrent.hashFailed');
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed.every((e) => e.index === 3)).toBe(true);
    expect(actor.getSnapshot().context.bans.map((b) => b.address)).toEqual(['10.0.0.1:1']);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: '10.0.0.1:1', event: 'closed', reason: 'bad-data' }),
    );
    expect(sim.dials.get('10.0.0.1:1')).toBe(1);
  });

  it('never holds more connections than maxConnections', async () => {
    const t = makeTorrent(30 * PIECE);
    const peers = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`10.0.1.${i}:1`, {}]));
    const { actor, clock, sim, complete } = start(t, peers, { maxConnections: 3 });
    await runUntil(actor, clock, complete);
    expect(complete()).toBe(true);
    expect(sim.stats().maxOpen).toBeLessThanOrEqual(3);
  });

  it('closes a second connection to the same peer id as a duplicate', async () => {
    const t = makeTorrent(8 * PIECE);
    const id = randomBytes(20);
    const { actor, clock, complete, events } = start(t, {
      '10.0.0.1:1': { peerId: id, stallAfter: 0 },
      '10.0.0.2:2': { peerId: id, stallAfter: 0 }, // the same peer at another address (another interface)
      '10.0.0.9:1': {},
    });
    await runUntil(actor, clock, complete);
    const dup = events.filter((e) => e.type === 'torrent.peer' && e.reason === 'duplicate');
    expect(dup).toHaveLength(1);
  });

  it('one connection per IP address (several with multipleConnectionsPerIp, or on loopback)', async () => {
    const t = makeTorrent(8 * PIECE);
    const peers = { '10.0.0.1:1': {}, '10.0.0.1:2': {}, '10.0.0.1:3': {} };
    // The most connections open at once (a peer actor exists from its dial until it reports closed).
    const mostAtOnce = (snapshots: number[]) => Math.max(...snapshots);
    const run = async (settings: Record<string, unknown>) => {
      const r = start(t, peers, settings);
      const open: number[] = [];
      const sub = r.actor.subscribe((snap) => open.push(Object.keys(snap.context.peers).length));
      await runUntil(r.actor, r.clock, r.complete);
      sub.unsubscribe();
      expect(r.complete()).toBe(true);
      return mostAtOnce(open);
    };
    expect(await run({})).toBe(1);
    expect(await run({ multipleConnectionsPerIp: true })).toBe(3);
  });

  it('a connection to ourselves is closed and never retried', async () => {
    const t = makeTorrent(8 * PIECE);
    const ourId = randomBytes(20);
    const { actor, clock, sim, complete, events } = start(
      t,
      { '10.0.0.1:1': {}, '10.0.0.5:5': { peerId: ourId } },
      {},
      ourId,
    );
    await runUntil(actor, clock, complete);
    expect(complete()).toBe(true);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: '10.0.0.5:5', event: 'closed', reason: 'self' }),
    );
    expect(sim.dials.get('10.0.0.5:5')).toBe(1);
  });

  it('retries a refusing peer with backoff until it answers', async () => {
    const t = makeTorrent(8 * PIECE);
    const { actor, clock, sim, complete } = start(t, { '10.0.0.1:1': { refuseTimes: 2 } });
    await runUntil(actor, clock, complete);
    expect(complete()).toBe(true);
    expect(sim.dials.get('10.0.0.1:1')).toBe(3);
    expect(sim.written.equals(t.data)).toBe(true);
  });

  it('a seeder that stalls is snubbed and its blocks fetched from another', async () => {
    const t = makeTorrent(24 * PIECE);
    const { actor, clock, sim, complete } = start(
      t,
      { '10.0.0.1:1': { stallAfter: 3 }, '10.0.0.2:1': { refuseTimes: 1 } },
      { peer: { snubTimeoutMs: 10_000 } },
    );
    await runUntil(actor, clock, complete);
    expect(complete()).toBe(true);
    expect(sim.written.equals(t.data)).toBe(true);
  });
});
