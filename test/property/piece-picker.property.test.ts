/**
 * Properties of the piece picker under arbitrary interleavings of peer and block events, checked
 * against a small model of the torrent (which peer has what, which block is requested from whom,
 * received, verified):
 * - every block of every unverified piece is in exactly one of wanted / requested / received, and the
 *   picker's view (state, requesters, each peer's outstanding requests) equals the model's;
 * - no block is requested from a peer that lacks its piece, nor twice from one peer, nor is a block of
 *   a verified piece ever picked; a peer that leaves (or is released) leaves no request behind;
 * - outside endgame no block is outstanding twice; in endgame at most `endgameMaxRequests` times;
 * - pick takes every wanted block it can (up to `count`), partial pieces before new ones, new pieces
 *   rarest first;
 * - `left` is the sum of the sizes of unverified pieces;
 * - peers that together have everything, picking, receiving and verifying, complete the torrent.
 */
import { describe, it } from 'vitest';
import fc from 'fast-check';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { type BlockRequest, type PickStrategy, PiecePicker } from '../../src/machines/torrent/piece-picker.js';
import { propertyOptions } from '../support/fc.js';
import { seeded } from '../support/random.js';

const BLOCK = 16 * 1024;
const PEERS = ['p0', 'p1', 'p2', 'p3'] as const;
type Peer = (typeof PEERS)[number];

/** Torrent geometry: up to 7 pieces of up to 5 blocks, any piece length, a shorter last piece. */
const geometryArb = fc
  .record({
    pieceCount: fc.integer({ min: 1, max: 7 }),
    pieceLength: fc.oneof(fc.integer({ min: 1, max: 5 * BLOCK }), fc.constantFrom(BLOCK, 2 * BLOCK, 3 * BLOCK)),
    lastFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  .map(({ pieceCount, pieceLength, lastFraction }) => {
    const last = Math.max(1, Math.ceil(pieceLength * lastFraction));
    return { pieceCount, pieceLength, length: (pieceCount - 1) * pieceLength + last };
  });

const peerArb = fc.constantFrom(...PEERS);
const maskArb = fc.array(fc.boolean(), { minLength: 7, maxLength: 7 });

type Op =
  | { t: 'join'; peer: Peer; kind: 'all' | 'none' | 'bits'; mask: boolean[] }
  | { t: 'have'; peer: Peer; index: number }
  | { t: 'leave'; peer: Peer }
  | { t: 'pick'; peer: Peer; count: number }
  | { t: 'recv'; peer: Peer; k: number }
  | { t: 'recvAny'; peer: Peer; index: number; block: number; badLength: boolean }
  | { t: 'reject'; peer: Peer; k: number }
  | { t: 'release'; peer: Peer }
  | { t: 'hash'; index: number; ok: boolean }
  | { t: 'forceVerify'; index: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('join' as const),
      peer: peerArb,
      kind: fc.constantFrom('all' as const, 'none' as const, 'bits' as const, 'bits' as const),
      mask: maskArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('have' as const), peer: peerArb, index: fc.nat(6) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('leave' as const), peer: peerArb }) },
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant('pick' as const), peer: peerArb, count: fc.integer({ min: 0, max: 6 }) }),
  },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('recv' as const), peer: peerArb, k: fc.nat(30) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('recvAny' as const),
      peer: peerArb,
      index: fc.nat(6),
      block: fc.nat(4),
      badLength: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reject' as const), peer: peerArb, k: fc.nat(30) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('release' as const), peer: peerArb }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('hash' as const), index: fc.nat(6), ok: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('forceVerify' as const), index: fc.nat(6) }) },
);

const setupArb = fc.record({
  geometry: geometryArb,
  seed: fc.integer(),
  strategy: fc.constantFrom<PickStrategy>('auto', 'order', 'bitfield'),
  endgameMaxRequests: fc.integer({ min: 1, max: 3 }),
  resume: maskArb,
});

/** The model: what the picker's state must be. Blocks are ids index * blocksPerPiece + block. */
class Model {
  readonly peers = new Map<Peer, Set<number>>();
  readonly requested = new Map<number, Set<Peer>>();
  readonly received = new Set<number>();
  readonly verified = new Set<number>();
  readonly contributors = new Map<number, Set<Peer>>();

  constructor(readonly p: PiecePicker<Peer>) {}

  id(index: number, block: number): number {
    return index * this.p.blocksPerPiece + block;
  }
  blocksOf(index: number): number[] {
    return Array.from({ length: this.p.blockCount(index) }, (_, b) => this.id(index, b));
  }
  request(id: number): BlockRequest {
    const index = Math.floor(id / this.p.blocksPerPiece);
    const b = id % this.p.blocksPerPiece;
    return { index, begin: b * BLOCK, length: this.p.blockBytes(index, b) };
  }
  wanted(id: number): boolean {
    const index = Math.floor(id / this.p.blocksPerPiece);
    return !this.verified.has(index) && !this.received.has(id) && !this.requested.has(id);
  }
  inProgress(index: number): boolean {
    return !this.verified.has(index) && this.blocksOf(index).some((id) => !this.wanted(id));
  }
  has(peer: Peer, index: number): boolean {
    return this.peers.get(peer)?.has(index) ?? false;
  }
  availability(index: number): number {
    let n = 0;
    for (const set of this.peers.values()) if (set.has(index)) n++;
    return n;
  }
  outstanding(peer: Peer): number[] {
    const ids: number[] = [];
    for (const [id, rs] of this.requested) if (rs.has(peer)) ids.push(id);
    return ids.sort((a, b) => a - b);
  }
  dropRequests(peer: Peer): void {
    for (const [id, rs] of this.requested) {
      rs.delete(peer);
      if (rs.size === 0) this.requested.delete(id);
    }
  }
  dropRequest(peer: Peer, id: number): void {
    const rs = this.requested.get(id)!;
    rs.delete(peer);
    if (rs.size === 0) this.requested.delete(id);
  }
  receive(peer: Peer, id: number): void {
    this.requested.delete(id);
    this.received.add(id);
    const index = Math.floor(id / this.p.blocksPerPiece);
    let c = this.contributors.get(index);
    if (!c) this.contributors.set(index, (c = new Set()));
    c.add(peer);
  }
  complete(index: number): boolean {
    return !this.verified.has(index) && this.blocksOf(index).every((id) => this.received.has(id));
  }
  clearPiece(index: number): void {
    for (const id of this.blocksOf(index)) {
      this.received.delete(id);
      this.requested.delete(id);
    }
    this.contributors.delete(index);
  }
}

/** Plain assertions: `expect` is too slow for the hundreds of checks each of 10,000 runs makes. */
function ok(cond: boolean, what: string): void {
  if (!cond) throw new Error(`property violated: ${what}`);
}
function eq<T>(actual: T, expected: T, what: string): void {
  if (!Object.is(actual, expected))
    throw new Error(`property violated: ${what}: ${String(actual)} !== ${String(expected)}`);
}
function same(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`property violated: ${what}: ${a} !== ${e}`);
}

const sorted = <T>(xs: Iterable<T>): T[] => [...xs].sort();

/** The picker's whole observable state equals the model's. */
function checkAgainstModel(m: Model): void {
  const p = m.p;
  p.checkInvariants();
  let left = 0;
  let anyWanted = false;
  for (let i = 0; i < p.pieceCount; i++) {
    const v = m.verified.has(i);
    eq(p.hasPiece(i), v, 'p.hasPiece(i)');
    if (!v) left += i === p.pieceCount - 1 ? p.length - (p.pieceCount - 1) * p.pieceLength : p.pieceLength;
    eq(p.availability(i), m.availability(i), 'p.availability(i)');
    if (!v) same(sorted(p.contributorsOf(i)), sorted(m.contributors.get(i) ?? []), 'contributors');
    for (const id of m.blocksOf(i)) {
      const r = m.request(id);
      const expected = v ? 'verified' : m.received.has(id) ? 'received' : m.requested.has(id) ? 'requested' : 'wanted';
      eq(p.blockState(r.index, r.begin), expected, 'p.blockState(r.index, r.begin)');
      same(
        sorted(p.requestersOf(r.index, r.begin)),
        sorted(m.requested.get(id) ?? []),
        'sorted(p.requestersOf(r.index, r.begin))',
      );
      if (expected === 'wanted') anyWanted = true;
      // Never outstanding to a peer that lacks the piece (or left).
      for (const peer of m.requested.get(id) ?? [])
        eq(m.has(peer, i), true, 'requested from a peer that lacks the piece');
    }
  }
  eq(p.left, left, 'p.left');
  eq(p.isComplete, m.verified.size === p.pieceCount, 'p.isComplete');
  eq(p.inEndgame, !anyWanted && !p.isComplete, 'p.inEndgame');
  for (const peer of PEERS) {
    const outstanding = p.outstanding(peer).map((r) => m.id(r.index, r.begin / BLOCK));
    same(
      outstanding.sort((a, b) => a - b),
      m.outstanding(peer),
      'outstanding.sort((a, b) => a - b)',
    );
    const interesting = [...(m.peers.get(peer) ?? [])].some((i) => !m.verified.has(i));
    eq(p.isInterestedIn(peer), interesting, 'p.isInterestedIn(peer)');
  }
}

function checkPick(m: Model, peer: Peer, count: number, endgameMaxRequests: number): void {
  const p = m.p;
  const mine = [...(m.peers.get(peer) ?? [])].filter((i) => !m.verified.has(i));
  const wantedForPeer = mine.flatMap((i) => m.blocksOf(i).filter((id) => m.wanted(id)));
  // From a seed, while a peer that is not a seed is known, pieces no such peer holds come first: the
  // partial pieces others hold are left to them (docs/machines/piece-picker.md, "From a seed").
  const full = (set: Set<number> | undefined) => set !== undefined && set.size === p.pieceCount;
  const others = [...m.peers].filter(([q, set]) => q !== peer && !full(set)).map(([, set]) => set);
  const fromSeed = full(m.peers.get(peer)) && others.length > 0;
  const firstPartial = (i: number) => !fromSeed || !others.some((set) => set.has(i));
  const partialWanted = mine
    .filter((i) => m.inProgress(i) && firstPartial(i))
    .flatMap((i) => m.blocksOf(i).filter((id) => m.wanted(id)));
  const fresh = new Set(mine.filter((i) => !m.inProgress(i)));

  const out = p.pick(peer, count);

  ok(out.length <= Math.max(0, count), 'out.length <= bound');
  const ids = out.map((r) => {
    eq(r.begin % BLOCK, 0, 'r.begin % BLOCK');
    const id = m.id(r.index, r.begin / BLOCK);
    same(r, m.request(id), 'r');
    return id;
  });
  eq(new Set(ids).size, ids.length, 'new Set(ids).size');
  let sawDuplicate = false;
  for (const id of ids) {
    const index = Math.floor(id / p.blocksPerPiece);
    eq(m.has(peer, index), true, 'picked from a peer that lacks the piece');
    eq(m.verified.has(index), false, 'picked a block of a verified piece');
    eq(m.received.has(id), false, 'picked a received block');
    const rs = m.requested.get(id);
    if (rs) {
      eq(rs.has(peer), false, 'picked twice for one peer');
      eq(p.inEndgame, true, 'second requester outside endgame');
      ok(rs.size + 1 <= endgameMaxRequests, 'endgame cap');
      sawDuplicate = true;
    } else {
      eq(sawDuplicate, false, 'a wanted block after an endgame duplicate');
    }
  }
  // Takes every wanted block it can.
  const newOnes = ids.filter((id) => !m.requested.has(id));
  eq(newOnes.length, Math.min(Math.max(0, count), wantedForPeer.length), 'pick took fewer wanted blocks than it could');
  // Partial pieces first.
  const started = [...new Set(newOnes.map((id) => Math.floor(id / p.blocksPerPiece)))].filter((i) => fresh.has(i));
  if (started.length > 0)
    for (const id of partialWanted) ok(newOnes.includes(id), 'started a new piece before finishing partial ones');
  // New pieces rarest first.
  const avail = started.map((i) => m.availability(i));
  for (let k = 1; k < avail.length; k++) ok(avail[k]! >= avail[k - 1]!, 'new pieces not in rarest-first order');
  const rest = [...fresh].filter((i) => !started.includes(i)).map((i) => m.availability(i));
  if (avail.length > 0 && rest.length > 0)
    ok(Math.max(...avail) <= Math.min(...rest), 'a rarer piece was left for a more common one');

  for (const id of ids) {
    let rs = m.requested.get(id);
    if (!rs) m.requested.set(id, (rs = new Set()));
    rs.add(peer);
  }
  // In endgame a short answer means no outstanding block could take one more request from this peer.
  if (p.inEndgame && out.length < count) {
    for (const [id, rs] of m.requested) {
      const index = Math.floor(id / p.blocksPerPiece);
      ok(!m.has(peer, index) || rs.has(peer) || rs.size >= endgameMaxRequests, 'endgame left a block undoubled');
    }
  }
}

function apply(m: Model, op: Op, endgameMaxRequests: number): void {
  const p = m.p;
  const n = p.pieceCount;
  switch (op.t) {
    case 'join': {
      const bits = new Bitfield(n);
      if (op.kind === 'all') for (let i = 0; i < n; i++) bits.set(i);
      if (op.kind === 'bits') op.mask.slice(0, n).forEach((on, i) => on && bits.set(i));
      m.dropRequests(op.peer);
      m.peers.set(op.peer, new Set(bits.setBits()));
      const interested = p.addPeer(op.peer, op.kind === 'bits' ? bits : op.kind);
      eq(
        interested,
        [...bits.setBits()].some((i) => !m.verified.has(i)),
        'interested',
      );
      break;
    }
    case 'have': {
      const index = op.index % n;
      eq(p.have(op.peer, index), !m.verified.has(index), 'p.have(op.peer, index)');
      m.peers.get(op.peer)?.add(index);
      break;
    }
    case 'leave':
      p.removePeer(op.peer);
      m.dropRequests(op.peer);
      m.peers.delete(op.peer);
      break;
    case 'pick':
      checkPick(m, op.peer, op.count, endgameMaxRequests);
      break;
    case 'recv': {
      const mine = m.outstanding(op.peer);
      if (mine.length === 0) break;
      const id = mine[op.k % mine.length]!;
      const r = m.request(id);
      const others = [...m.requested.get(id)!].filter((x) => x !== op.peer);
      const got = p.blockReceived(op.peer, r.index, r.begin, r.length);
      m.receive(op.peer, id);
      eq(got.status, 'accepted', 'got.status');
      eq(got.requested, true, 'got.requested');
      same(sorted(got.cancel), sorted(others), 'sorted(got.cancel)');
      eq(got.pieceComplete, m.complete(r.index), 'got.pieceComplete');
      break;
    }
    case 'recvAny': {
      const index = op.index % n;
      const block = op.block % p.blockCount(index);
      const id = m.id(index, block);
      const r = m.request(id);
      const got = p.blockReceived(op.peer, r.index, r.begin, r.length + (op.badLength ? 1 : 0));
      if (op.badLength) {
        eq(got.status, 'unexpected', 'got.status');
      } else if (m.verified.has(index) || m.received.has(id)) {
        eq(got.status, 'duplicate', 'got.status');
      } else {
        const rs = m.requested.get(id) ?? new Set<Peer>();
        eq(got.status, 'accepted', 'got.status');
        eq(got.requested, rs.has(op.peer), 'got.requested');
        same(sorted(got.cancel), sorted([...rs].filter((x) => x !== op.peer)), 'sorted(got.cancel)');
        m.receive(op.peer, id);
        eq(got.pieceComplete, m.complete(index), 'got.pieceComplete');
      }
      break;
    }
    case 'reject': {
      const mine = m.outstanding(op.peer);
      if (mine.length === 0) break;
      const id = mine[op.k % mine.length]!;
      const r = m.request(id);
      eq(p.rejected(op.peer, r.index, r.begin), true, 'p.rejected(op.peer, r.index, r.begin)');
      m.dropRequest(op.peer, id);
      break;
    }
    case 'release': {
      const released = p.releasePeer(op.peer).map((r) => m.id(r.index, r.begin / BLOCK));
      same(
        released.sort((a, b) => a - b),
        m.outstanding(op.peer),
        'released.sort((a, b) => a - b)',
      );
      m.dropRequests(op.peer);
      break;
    }
    case 'hash': {
      const index = op.index % n;
      if (!m.complete(index)) break;
      if (op.ok) {
        same(p.pieceVerified(index), [], 'p.pieceVerified(index)');
        m.verified.add(index);
      } else {
        same(sorted(p.pieceFailed(index)), sorted(m.contributors.get(index) ?? []), 'sorted(p.pieceFailed(index))');
      }
      m.clearPiece(index);
      break;
    }
    case 'forceVerify': {
      const index = op.index % n;
      if (m.verified.has(index)) {
        same(p.pieceVerified(index), [], 'p.pieceVerified(index)');
        break;
      }
      const expected = m
        .blocksOf(index)
        .flatMap((id) => [...(m.requested.get(id) ?? [])].map((peer) => `${peer}@${id}`));
      const cancels = p.pieceVerified(index).map((c) => `${c.peer}@${m.id(c.request.index, c.request.begin / BLOCK)}`);
      same(sorted(cancels), sorted(expected), 'sorted(cancels)');
      m.verified.add(index);
      m.clearPiece(index);
      break;
    }
  }
}

describe('piece picker properties', () => {
  it('keeps every block in exactly one state and obeys the policy under any interleaving', () => {
    fc.assert(
      fc.property(setupArb, fc.array(opArb, { maxLength: 40 }), (setup, ops) => {
        const { pieceCount, pieceLength, length } = setup.geometry;
        const have = new Bitfield(pieceCount);
        // Resume data for some runs only, so most start empty.
        if (setup.seed % 4 === 0) setup.resume.slice(0, pieceCount).forEach((on, i) => on && have.set(i));
        const p = new PiecePicker<Peer>({
          pieceLength,
          length,
          have,
          random: seeded(setup.seed),
          strategy: setup.strategy,
          endgameMaxRequests: setup.endgameMaxRequests,
        });
        const m = new Model(p);
        for (const i of have.setBits()) m.verified.add(i);
        checkAgainstModel(m);
        for (const op of ops) {
          apply(m, op, setup.endgameMaxRequests);
          checkAgainstModel(m);
        }
      }),
      propertyOptions,
    );
  });

  it('peers that together have every piece complete the torrent', () => {
    const scenarioArb = fc.record({
      setup: setupArb,
      // For each piece, the peers that have it (never none).
      owners: fc.array(fc.subarray([...PEERS], { minLength: 1 }), { minLength: 7, maxLength: 7 }),
      depth: fc.integer({ min: 1, max: 5 }),
      failOnce: maskArb,
    });
    fc.assert(
      fc.property(scenarioArb, ({ setup, owners, depth, failOnce }) => {
        const { pieceCount, pieceLength, length } = setup.geometry;
        const p = new PiecePicker<Peer>({
          pieceLength,
          length,
          random: seeded(setup.seed),
          strategy: setup.strategy,
          endgameMaxRequests: setup.endgameMaxRequests,
        });
        const rnd = seeded(setup.seed ^ 0x5bd1e995);
        for (const peer of PEERS) {
          const bits = new Bitfield(pieceCount);
          for (let i = 0; i < pieceCount; i++) if (owners[i]!.includes(peer)) bits.set(i);
          p.addPeer(peer, bits);
        }
        const failed = new Set<number>();
        const maxRounds = 4 * pieceCount * p.blocksPerPiece + 10;
        for (let round = 0; round < maxRounds && !p.isComplete; round++) {
          const inFlight: { peer: Peer; r: BlockRequest }[] = [];
          for (const peer of PEERS) for (const r of p.pick(peer, depth)) inFlight.push({ peer, r });
          // Deliver in a random order; endgame duplicates may arrive after the original.
          for (let k = inFlight.length - 1; k > 0; k--) {
            const j = Math.floor(rnd() * (k + 1));
            [inFlight[k], inFlight[j]] = [inFlight[j]!, inFlight[k]!];
          }
          for (const { peer, r } of inFlight) {
            const got = p.blockReceived(peer, r.index, r.begin, r.length);
            if (!got.pieceComplete) continue;
            if (failOnce[r.index] && !failed.has(r.index)) {
              failed.add(r.index);
              ok(p.pieceFailed(r.index).length > 0, 'a failed piece has contributors');
            } else {
              p.pieceVerified(r.index);
            }
          }
          p.checkInvariants();
        }
        eq(p.isComplete, true, 'complete');
        eq(p.left, 0, 'left');
        for (const peer of PEERS) same(p.pick(peer, 10), [], 'nothing left to pick');
      }),
      propertyOptions,
    );
  });
});
