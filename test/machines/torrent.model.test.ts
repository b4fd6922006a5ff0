/**
 * The torrent statechart with its real peers, picker, buffers and choker, model-based: fast-check
 * generates what a swarm and a disk can do — peers connecting (or being duplicates), saying what they
 * have, choking, serving right or wrong bytes, rejecting, asking us for blocks, leaving; connections
 * arriving; the disk answering or failing; time passing — and replays each sequence on a live torrent
 * (torrent-harness.ts). After every step the named invariants are checked.
 *
 * Invariants:
 * - no-request-while-choked: a `request` leaves only to a peer that unchokes us;
 * - pipeline-bounded: requests outstanding to a peer ≤ min(maxQueue, its reqq);
 * - peer-and-picker-agree: what a peer has outstanding is what the picker has outstanding to it;
 * - closed-peer-holds-nothing: when a peer closes, every block it had outstanding is back in the
 *   picker (wanted, or requested from others) — none is left to it;
 * - picker-consistent: every block of every piece is in exactly one state (the picker's own check);
 * - verified-never-requested: no request is ever sent for a piece already verified;
 * - every-verified-piece-announced: every connected peer has been told of every verified piece, or the
 *   piece waits for the tick (haves ride on the tick's `peer.tick`);
 * - haves-wait-at-most-a-tick: no verified piece waits unannounced once a tick has passed (or the
 *   download is complete);
 * - unchoked-at-most-slots-plus-one: at most the choker's slots + 1 optimistic peers unchoked;
 * - tally-agrees: the verified count and wanted bytes left in the statechart's context are the picker's;
 * - backlog-bounded: the blocks of pieces not verified yet — requested, received, waiting for the disk —
 *   never pass the write backlog's cap (requests already out count: none can overshoot it);
 * - only-liars-banned: every ban names a peer that sent a wrong block (smart ban never blames an honest one);
 * - no-write-after-error: after a storage failure the torrent is in `error` and writes nothing more;
 * - stop-is-clean: after `torrent.stop` the torrent is `stopped`, every socket and the storage closed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { defaultChokerSettings } from '../../src/machines/choker/choker.machine.js';
import { outstanding } from '../../src/machines/peer/pipeline.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import type { PeerWireCommand } from '../../src/protocol/peer-wire-types.js';
import { propertyOptions } from '../support/fc.js';
import { FAST, NO_EXT, startTorrent, T_BLOCK, type FakeWire } from './torrent-harness.js';
import { EXTENDED } from './peer-harness.js';

const PIECES = 6;
const KEYS = ['10.0.0.1:1', '10.0.0.2:1', '10.0.0.3:1', '10.0.0.4:1'];
const RESERVED = [NO_EXT, FAST, EXTENDED];
const DELAYS = [1_000, 5_000, 10_000, 60_000];

const peerStep = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('connect' as const), reserved: fc.nat(2), dup: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('has' as const),
      how: fc.constantFrom('all', 'all', 'bitfield', 'none', 'have'),
      mask: fc.nat(63),
      i: fc.nat(PIECES - 1),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ t: 'unchoke' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'choke' as const }) },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('serve' as const),
      corrupt: fc.constantFrom(false, false, false, false, true),
      n: fc.integer({ min: 1, max: 8 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reject' as const), k: fc.nat(8) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('interest' as const), v: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('upload' as const), i: fc.nat(PIECES - 1) }) },
  { weight: 1, arbitrary: fc.constantFrom({ t: 'leave' as const }, { t: 'reset' as const }) },
);
const step = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('peer' as const), k: fc.nat(KEYS.length - 1), s: peerStep }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('incoming' as const), k: fc.nat(KEYS.length - 1) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('write' as const),
      fail: fc.constantFrom(false, false, false, false, false, true),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('advance' as const), k: fc.nat(DELAYS.length - 1) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'storageError' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'stop' as const }) },
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;
// `narrow`: one request per peer at a time, so several peers send blocks of one piece (what smart ban
// has to sort out when one of them lies).
const options = fc.record({
  incomingOnly: fc.boolean(),
  backlog: fc.boolean(),
  narrow: fc.boolean(),
  seed: fc.nat(1000),
});

/** A swarm already under way: some of the dialled peers connected, saying what they have, unchoking us. */
const prefix = fc
  .array(
    fc.record({
      k: fc.nat(2),
      reserved: fc.nat(2),
      how: fc.constantFrom('all', 'all', 'bitfield'),
      mask: fc.nat(63),
      unchoke: fc.boolean(),
    }),
    { maxLength: 3 },
  )
  .map((peers) =>
    peers.flatMap((q): Step[] => [
      { t: 'peer', k: q.k, s: { t: 'connect', reserved: q.reserved, dup: false } },
      { t: 'peer', k: q.k, s: { t: 'has', how: q.how, mask: q.mask, i: 0 } },
      ...(q.unchoke ? [{ t: 'peer', k: q.k, s: { t: 'unchoke' } } as Step] : []),
    ]),
  );
/** Serving and writing, interleaved: the download moves. */
const progress = fc
  .array(fc.record({ k: fc.nat(KEYS.length - 1), n: fc.integer({ min: 1, max: 8 }) }), { maxLength: 12 })
  .map((xs) =>
    xs.flatMap((x): Step[] => [
      { t: 'peer', k: x.k, s: { t: 'serve', corrupt: false, n: x.n } },
      { t: 'write', fail: false },
    ]),
  );
const session = fc
  .tuple(
    prefix,
    fc.array(
      fc.oneof(
        step,
        progress.map((p) => p as Step[] | Step),
      ),
      { minLength: 1, maxLength: 40 },
    ),
  )
  .map(([p, rest]) => [...p, ...rest.flatMap((x) => (Array.isArray(x) ? x : [x]))]);

function run(
  o: { incomingOnly: boolean; backlog: boolean; narrow: boolean; seed: number },
  steps: Step[],
): { verified: number } {
  const violations: string[] = [];
  const fail = (name: string, detail: string) => violations.push(`${name}: ${detail}`);
  const verified = new Set<number>();
  /** Peers that sent a wrong block at least once: the only ones a ban may name (smart ban). */
  const liars = new Set<string>();
  const h = startTorrent({
    pieces: PIECES,
    lastPiece: 20_000,
    peers: o.incomingOnly ? [] : KEYS.slice(0, 3),
    storage: 'manual',
    seed: o.seed,
    settings: { maxConnections: 3, ...(o.backlog && { writeBacklogBytes: 2 * 32 * 1024 }) },
    peerSettings: o.narrow ? { minQueue: 1, maxQueue: 1 } : { minQueue: 2, maxQueue: 4 },
    onCommand: (w: FakeWire, cmd: PeerWireCommand) => {
      const requests = cmd.type === 'wire.sendMany' ? cmd.messages : cmd.type === 'wire.send' ? [cmd.message] : [];
      for (const m of requests) {
        if (m.type !== 'request') continue;
        const v = h.context().peers[w.key]?.ref.getSnapshot().value as
          { connected?: { peerChoking?: string } } | undefined;
        if (v?.connected?.peerChoking !== 'unchoked') fail('no-request-while-choked', `${w.key} ${m.index}:${m.begin}`);
        if (verified.has(m.index)) fail('verified-never-requested', `${w.key} asked for ${m.index}:${m.begin}`);
      }
    },
  });
  let errored = false;
  let writesAtError = 0;
  const ids = new Map<string, number>();
  KEYS.forEach((k, i) => ids.set(k, 0x40 + i));

  /** The last step let time pass (at least a tick). */
  let advanced = false;
  const apply = (s: Step) => {
    advanced = false;
    switch (s.t) {
      case 'incoming':
        return h.incoming(KEYS[s.k]!);
      case 'write': {
        // A copy the disk calls bad had bad bytes from whoever sent them: liars, as far as anyone can tell.
        const w = h.storage.pending[0];
        if (s.fail && w) for (const k of h.picker().contributorsOf(w.index)) liars.add(k);
        return h.answerWrite(s.fail);
      }
      case 'advance':
        advanced = true;
        return h.advance(DELAYS[s.k]!);
      case 'storageError':
        writesAtError = h.storage.writes.length;
        errored = true;
        return h.storageError();
      case 'stop':
        return h.stop();
      case 'peer': {
        const key = KEYS[s.k]!;
        const w = h.wires.get(key);
        if (!w || w.stopped) return;
        const p = h.peer(key);
        const ps = s.s;
        switch (ps.t) {
          case 'connect':
            return p.connect(RESERVED[ps.reserved], ps.dup ? 0x40 : ids.get(key));
          case 'has': {
            if (ps.how === 'all') return p.push({ type: 'wire.have-all' });
            if (ps.how === 'none') return p.push({ type: 'wire.have-none' });
            if (ps.how === 'have') return p.push({ type: 'wire.have', index: ps.i });
            return p.bitfield([0, 1, 2, 3, 4, 5].filter((i) => ps.mask & (1 << i)));
          }
          case 'unchoke':
            return p.push({ type: 'wire.unchoke' });
          case 'choke':
            return p.push({ type: 'wire.choke' });
          case 'serve': {
            const open = p.open().slice(0, ps.n);
            for (const r of open) p.deliver(r, ps.corrupt);
            if (ps.corrupt && open.length > 0) liars.add(key);
            return;
          }
          case 'reject': {
            const open = p.open();
            if (open.length > 0) p.push({ type: 'wire.reject', ...open[ps.k % open.length]! });
            return;
          }
          case 'interest':
            return p.push({ type: ps.v ? 'wire.interested' : 'wire.not-interested' });
          case 'upload':
            return p.push({ type: 'wire.request', index: ps.i, begin: 0, length: T_BLOCK });
          case 'leave':
            return p.push({ type: 'wire.closed' });
          case 'reset':
            return p.push({ type: 'wire.closed', error: { code: 'ECONNRESET', message: 'reset' } });
        }
      }
    }
  };

  const check = () => {
    const snap = h.actor.getSnapshot();
    const c = snap.context;
    if (errored) {
      if (snap.value !== 'error')
        fail('no-write-after-error', `state ${JSON.stringify(snap.value)} after a storage failure`);
      if (h.storage.writes.length !== writesAtError)
        fail('no-write-after-error', `${h.storage.writes.length - writesAtError} writes after it`);
      return;
    }
    if (snap.status !== 'active') {
      if (snap.value !== 'stopped') fail('stop-is-clean', `ended in ${JSON.stringify(snap.value)}`);
      if (!h.allWires.every((w) => w.stopped)) fail('stop-is-clean', 'a socket is still open');
      if (h.storage.closes !== 1) fail('stop-is-clean', `storage closed ${h.storage.closes} times`);
      return;
    }
    const picker = c.svc.picker;
    if (!picker) return;
    try {
      picker.checkInvariants();
    } catch (err) {
      fail('picker-consistent', (err as Error).message);
    }
    const { haves } = c.svc;
    const waiting = new Set(haves.pending);
    const ticking = JSON.stringify(snap.value).includes('downloading') || picker.isComplete;
    if (waiting.size > 0 && ticking && (advanced || picker.isComplete))
      fail('haves-wait-at-most-a-tick', `[${haves.pending}] still wait after a tick or completion`);
    let unchoked = 0;
    for (const [key, e] of Object.entries(c.peers)) {
      const ps = e.ref.getSnapshot();
      if (ps.status !== 'active') continue;
      const pc = ps.context;
      const cap = Math.max(1, Math.min(pc.settings.maxQueue, pc.ext.reqq));
      if (outstanding(pc.pipeline).length > cap)
        fail('pipeline-bounded', `${key}: ${outstanding(pc.pipeline).length} > ${cap}`);
      const mine = outstanding(pc.pipeline)
        .map((r) => `${r.index}:${r.begin}`)
        .sort();
      const its = picker
        .outstanding(key)
        .map((r) => `${r.index}:${r.begin}`)
        .sort();
      if (mine.join() !== its.join()) fail('peer-and-picker-agree', `${key}: peer [${mine}] picker [${its}]`);
      const v = ps.value as { connected?: Record<string, string> };
      if (v.connected) {
        if (v.connected.amChoking === 'unchoked') unchoked++;
        // What the peer was told we have: the admission (bitfield / have-all) and every have since.
        const told = new Set<number>();
        for (const m of h.peer(key).messages()) {
          if (m.type === 'have-all') for (let i = 0; i < PIECES; i++) told.add(i);
          else if (m.type === 'bitfield') Bitfield.fromBytes(m.bytes, PIECES).forEach((i) => told.add(i));
          else if (m.type === 'have') told.add(m.index);
        }
        for (const i of verified)
          if (!told.has(i) && !waiting.has(i))
            fail('every-verified-piece-announced', `${key} was not told of piece ${i}`);
      }
    }
    if (unchoked > defaultChokerSettings.slots + 1) fail('unchoked-at-most-slots-plus-one', `${unchoked} unchoked`);
    for (const b of c.bans) if (!liars.has(b.address)) fail('only-liars-banned', `${b.address} banned: ${b.reason}`);
    for (const key of KEYS)
      if (!c.peers[key] && picker.outstandingCount(key) > 0)
        fail('closed-peer-holds-nothing', `${key} holds ${picker.outstandingCount(key)}`);
    const committed = picker.committedCount * picker.blockLength;
    if (c.svc.buffers && committed > c.svc.buffers.limit)
      fail('backlog-bounded', `${picker.committedCount} blocks committed, cap ${c.svc.buffers.limit} bytes`);
    if (c.tally.verifiedPieces !== picker.verifiedCount || c.tally.left !== picker.wantedLeft) {
      fail(
        'tally-agrees',
        `context ${c.tally.verifiedPieces}/${c.tally.left}, picker ${picker.verifiedCount}/${picker.wantedLeft}`,
      );
    }
  };

  try {
    for (const s of steps) {
      apply(s);
      for (const e of h.events) if (e.type === 'torrent.piece') verified.add(e.index);
      check();
      if (violations.length > 0 || h.actor.getSnapshot().status !== 'active') break;
    }
    expect(h.errors).toEqual([]);
    expect(violations).toEqual([]);
    return { verified: verified.size };
  } finally {
    h.actor.stop();
  }
}

describe('torrent statechart, model-based (fast-check swarms and disks on a live torrent, invariants after every step)', () => {
  it('keeps every invariant under any sequence of peer, disk and clock events', () => {
    fc.assert(
      fc.property(options, session, (o, steps) => void run(o, steps)),
      { ...propertyOptions, numRuns: Math.min(propertyOptions.numRuns ?? 1000, 1000) },
    );
  });

  it('the generator reaches a complete download (the sequences are not vacuous)', () => {
    const s: Step[] = [];
    for (const k of [0, 1]) {
      s.push({ t: 'peer', k, s: { t: 'connect', reserved: 1, dup: false } });
      s.push({ t: 'peer', k, s: { t: 'has', how: 'all', mask: 0, i: 0 } });
      s.push({ t: 'peer', k, s: { t: 'unchoke' } });
    }
    for (let i = 0; i < 40; i++) {
      s.push({ t: 'peer', k: i % 2, s: { t: 'serve', corrupt: false, n: 8 } });
      s.push({ t: 'write', fail: false });
    }
    expect(run({ incomingOnly: false, backlog: false, narrow: false, seed: 1 }, s)).toEqual({ verified: PIECES });
  });
});
