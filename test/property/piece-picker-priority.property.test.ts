/**
 * Properties of the piece picker's priorities and sequential order (issue 17), under arbitrary
 * interleavings of peers joining, picking, receiving, verifying and priorities changing:
 * - a skipped piece is never requested (checked on every `pick`);
 * - a pick that returns a block of level L leaves the peer no wanted block of a higher level;
 * - in sequential order, a new piece is started only when the peer has no fresh piece of its level
 *   with a lower index;
 * - deadline pieces come first: a pick that returns a block of another piece leaves the peer no wanted
 *   block of a deadline piece (not skipped);
 * - `wantedLeft` is the bytes of the unverified pieces that are not skipped, `isFinished` says it is 0;
 * - every internal invariant holds after every step (`checkInvariants`).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { type BlockRequest, PiecePicker } from '../../src/machines/torrent/piece-picker.js';
import { propertyOptions } from '../support/fc.js';
import { seeded } from '../support/random.js';

const BLOCK = 16 * 1024;
const PEERS = ['p0', 'p1', 'p2'] as const;
type Peer = (typeof PEERS)[number];
const N = 8;

type Op =
  | { t: 'join'; peer: Peer; mask: boolean[] }
  | { t: 'leave'; peer: Peer }
  | { t: 'pick'; peer: Peer; count: number }
  | { t: 'recv'; peer: Peer; k: number }
  | { t: 'reject'; peer: Peer; k: number }
  | { t: 'prio'; levels: number[] }
  | { t: 'seq'; on: boolean }
  | { t: 'deadline'; pieces: number[] };

const peerArb = fc.constantFrom(...PEERS);
const levelsArb = fc.array(fc.integer({ min: 0, max: 3 }), { minLength: N, maxLength: N });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('join' as const),
      peer: peerArb,
      mask: fc.array(fc.boolean(), { minLength: N, maxLength: N }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('leave' as const), peer: peerArb }) },
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant('pick' as const), peer: peerArb, count: fc.integer({ min: 1, max: 5 }) }),
  },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('recv' as const), peer: peerArb, k: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reject' as const), peer: peerArb, k: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('prio' as const), levels: levelsArb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('seq' as const), on: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('deadline' as const), pieces: fc.array(fc.nat(N - 1), { maxLength: 3 }) }),
  },
);

const caseArb = fc.record({
  blocksPerPiece: fc.integer({ min: 1, max: 3 }),
  levels: levelsArb,
  sequential: fc.boolean(),
  ops: fc.array(opArb, { maxLength: 60 }),
  seed: fc.nat(),
});

function blocksOf(p: PiecePicker<Peer>, i: number): number[] {
  return Array.from({ length: p.blockCount(i) }, (_, b) => b * p.blockLength);
}
const isFresh = (p: PiecePicker<Peer>, i: number) => blocksOf(p, i).every((b) => p.blockState(i, b) === 'wanted');
const hasWanted = (p: PiecePicker<Peer>, i: number) => blocksOf(p, i).some((b) => p.blockState(i, b) === 'wanted');

describe('PiecePicker priorities and sequential order (properties)', () => {
  it('never requests a skipped piece, serves higher levels first, keeps order when sequential, counts wanted bytes', () => {
    fc.assert(
      fc.property(caseArb, ({ blocksPerPiece, levels, sequential, ops, seed }) => {
        const pieceLength = blocksPerPiece * BLOCK;
        const p = new PiecePicker<Peer>({
          pieceLength,
          length: N * pieceLength - 100,
          random: seeded(seed),
          priorities: Uint8Array.from(levels),
          sequential,
        });
        const has = new Map<Peer, Bitfield | 'all'>();
        const peerHas = (peer: Peer, i: number) => {
          const h = has.get(peer);
          return h === 'all' || (h !== undefined && h.has(i));
        };
        for (const op of ops) {
          if (op.t === 'join') {
            const all = op.mask.every(Boolean);
            const b = new Bitfield(N);
            op.mask.forEach((v, i) => v && b.set(i));
            p.addPeer(op.peer, all ? 'all' : b);
            has.set(op.peer, all ? 'all' : b);
          } else if (op.t === 'leave') {
            p.removePeer(op.peer);
            has.delete(op.peer);
          } else if (op.t === 'pick') {
            const before = Array.from({ length: N }, (_, i) => ({
              level: p.priorityOf(i),
              fresh: !p.hasPiece(i) && isFresh(p, i),
            }));
            const deadlines = new Set(p.deadlinePieces);
            const got = p.pick(op.peer, op.count);
            const started = new Set<number>();
            if (got.some((r) => !deadlines.has(r.index)))
              for (const d of deadlines)
                if (p.priorityOf(d) > 0 && !p.hasPiece(d) && hasWanted(p, d) && peerHas(op.peer, d))
                  throw new Error(`deadline piece ${d} left wanted while others were picked`);
            for (const r of got) {
              if (deadlines.has(r.index)) continue;
              const lvl = before[r.index]!.level;
              expect(lvl, `skipped piece ${r.index} requested`).toBeGreaterThan(0);
              for (let i = 0; i < N; i++)
                if (before[i]!.level > lvl && !p.hasPiece(i) && hasWanted(p, i) && peerHas(op.peer, i))
                  throw new Error(
                    `piece ${r.index} (level ${lvl}) picked while ${i} (level ${before[i]!.level}) was wanted`,
                  );
              if (before[r.index]!.fresh) started.add(r.index);
            }
            if (p.sequential)
              for (const s of started)
                for (let i = 0; i < s; i++)
                  if (before[i]!.level === before[s]!.level && peerHas(op.peer, i) && isFresh(p, i) && !p.hasPiece(i))
                    throw new Error(`sequential: started ${s} before fresh ${i}`);
          } else if (op.t === 'recv' || op.t === 'reject') {
            const out: BlockRequest[] = p.outstanding(op.peer);
            const r = out[op.k % Math.max(1, out.length)];
            if (r) {
              if (op.t === 'reject') p.rejected(op.peer, r.index, r.begin);
              else if (p.blockReceived(op.peer, r.index, r.begin, r.length).pieceComplete) p.pieceVerified(r.index);
            }
          } else if (op.t === 'prio') p.setPriorities(Uint8Array.from(op.levels));
          else if (op.t === 'deadline') p.setDeadlines(op.pieces);
          else p.setSequential(op.on);
          p.checkInvariants();
          let wantedLeft = 0;
          for (let i = 0; i < N; i++) if (!p.hasPiece(i) && p.priorityOf(i) > 0) wantedLeft += p.pieceBytes(i);
          expect(p.wantedLeft).toBe(wantedLeft);
          expect(p.isFinished).toBe(wantedLeft === 0);
        }
      }),
      propertyOptions,
    );
  });

  it('a seed fetches exactly the pieces that are not skipped, and the selection finishes', () => {
    fc.assert(
      fc.property(levelsArb, fc.boolean(), fc.nat(), (levels, sequential, seed) => {
        const p = new PiecePicker<string>({
          pieceLength: BLOCK,
          length: N * BLOCK,
          random: seeded(seed),
          priorities: Uint8Array.from(levels),
          sequential,
        });
        p.addPeer('seed', 'all');
        const fetched: number[] = [];
        for (let round = 0; round < 4 * N && !p.isFinished; round++)
          for (const r of p.pick('seed', 2)) {
            if (p.blockReceived('seed', r.index, r.begin, r.length).pieceComplete) {
              p.pieceVerified(r.index);
              fetched.push(r.index);
            }
          }
        expect(p.isFinished).toBe(true);
        expect(p.inEndgame).toBe(false);
        const want = levels.flatMap((l, i) => (l > 0 ? [i] : []));
        expect([...fetched].sort((a, b) => a - b)).toEqual(want);
        // Level by level, highest first; in index order within a level when sequential.
        const lv = fetched.map((i) => levels[i]!);
        for (let k = 1; k < lv.length; k++) expect(lv[k]!).toBeLessThanOrEqual(lv[k - 1]!);
        if (sequential)
          for (let k = 1; k < fetched.length; k++)
            if (lv[k] === lv[k - 1]) expect(fetched[k]!).toBeGreaterThan(fetched[k - 1]!);
        expect(p.left).toBe(levels.filter((l) => l === 0).length * BLOCK);
      }),
      propertyOptions,
    );
  });
});
