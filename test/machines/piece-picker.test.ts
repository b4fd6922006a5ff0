import { describe, expect, it } from 'vitest';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { isBtError } from '../../src/protocol/errors.js';
import { type BlockRequest, PiecePicker, type PiecePickerOptions } from '../../src/machines/torrent/piece-picker.js';
import { seeded } from '../support/random.js';

const KiB = 1024;
const BLOCK = 16 * KiB;

function bits(n: number, set: number[]): Bitfield {
  const b = new Bitfield(n);
  for (const i of set) b.set(i);
  return b;
}

function picker(options: Partial<PiecePickerOptions> & { pieces?: number } = {}): PiecePicker<string> {
  const pieceLength = options.pieceLength ?? BLOCK;
  const length = options.length ?? pieceLength * (options.pieces ?? 8);
  return new PiecePicker<string>({ random: seeded(1), ...options, pieceLength, length });
}

/** Receives every request, returning the pieces that completed. */
function receiveAll(p: PiecePicker<string>, peer: string, requests: BlockRequest[]): number[] {
  const complete: number[] = [];
  for (const r of requests) {
    const got = p.blockReceived(peer, r.index, r.begin, r.length);
    expect(got.status).toBe('accepted');
    if (got.pieceComplete) complete.push(r.index);
  }
  return complete;
}

describe('PiecePicker: rarest first', () => {
  it('picks the rarest piece first', () => {
    const p = picker({ pieces: 6 });
    p.addPeer('a', bits(6, [0, 1, 2, 3, 4, 5])); // counted as a seed
    p.addPeer('b', bits(6, [0, 1, 2, 4, 5]));
    p.addPeer('c', bits(6, [0, 1, 2, 5]));
    p.addPeer('d', bits(6, [0, 2, 5]));
    // availability: 0:4 1:3 2:4 3:1 4:2 5:4
    expect([0, 1, 2, 3, 4, 5].map((i) => p.availability(i))).toEqual([4, 3, 4, 1, 2, 4]);
    const picked = p.pick('a', 3).map((r) => r.index);
    expect(picked).toEqual([3, 4, 1]);
    p.checkInvariants();
  });

  it('counts seeds (BEP 6 have-all) without touching the order', () => {
    const p = picker({ pieces: 4 });
    p.addPeer('seed', 'all');
    p.addPeer('x', bits(4, [1, 2, 3]));
    expect(p.seedCount).toBe(1);
    expect([0, 1, 2, 3].map((i) => p.availability(i))).toEqual([1, 2, 2, 2]);
    expect(p.pick('seed', 1)[0]!.index).toBe(0);
    p.removePeer('seed');
    expect(p.availability(0)).toBe(0);
    expect(p.seedCount).toBe(0);
    p.checkInvariants();
  });

  it('turns a peer that collects every piece through have into a seed', () => {
    const p = picker({ pieces: 3 });
    expect(p.addPeer('x', 'none')).toBe(false);
    expect(p.have('x', 0)).toBe(true);
    expect(p.isInterestedIn('x')).toBe(true);
    p.have('x', 1);
    p.have('x', 2);
    expect(p.seedCount).toBe(1);
    expect(p.availability(1)).toBe(1);
    p.checkInvariants();
  });

  it('breaks ties at random, but only among the rarest', () => {
    const rare = new Set([2, 5, 7, 11]);
    const first = new Set<number>();
    for (let seed = 1; seed <= 40; seed++) {
      const p = picker({ pieces: 16, random: seeded(seed) });
      p.addPeer('a', 'all');
      p.addPeer(
        'b',
        bits(
          16,
          [...Array(16).keys()].filter((i) => !rare.has(i)),
        ),
      );
      const [r] = p.pick('a', 1);
      expect(rare.has(r!.index)).toBe(true);
      first.add(r!.index);
    }
    expect(first.size).toBeGreaterThan(1);
  });

  it('gives the same choice for the same seed', () => {
    const run = () => {
      const p = picker({ pieces: 64, random: seeded(42) });
      p.addPeer('a', 'all');
      return p.pick('a', 10).map((r) => r.index);
    };
    expect(run()).toEqual(run());
  });

  it('finds the rarest pieces the same way walking the order or the bitfield', () => {
    for (const strategy of ['order', 'bitfield'] as const) {
      const p = picker({ pieces: 40, strategy });
      p.addPeer('a', bits(40, [1, 5, 9, 30, 31]));
      p.addPeer('b', bits(40, [5, 9, 30]));
      p.addPeer('c', bits(40, [9]));
      const picked = p.pick('a', 5).map((r) => r.index);
      expect(picked.slice(0, 2).sort((x, y) => x - y)).toEqual([1, 31]);
      expect(picked.slice(2, 4).sort((x, y) => x - y)).toEqual([5, 30]);
      expect(picked[4]).toBe(9);
      p.checkInvariants();
    }
  });
});

describe('PiecePicker: blocks and pieces', () => {
  it('finishes pieces in progress before starting new ones', () => {
    const p = picker({ pieceLength: 4 * BLOCK, pieces: 4 });
    p.addPeer('a', bits(4, [0, 1, 2, 3]));
    p.addPeer('b', bits(4, [0, 1, 2, 3]));
    p.addPeer('c', bits(4, [1, 2, 3])); // piece 0 is the rarest
    const first = p.pick('a', 2);
    expect(first.map((r) => [r.index, r.begin])).toEqual([
      [0, 0],
      [0, BLOCK],
    ]);
    // b gets the rest of piece 0 before any new piece, then a new one.
    const second = p.pick('b', 3);
    expect(second.map((r) => [r.index, r.begin])).toEqual([
      [0, 2 * BLOCK],
      [0, 3 * BLOCK],
      [second[2]!.index, 0],
    ]);
    expect(second[2]!.index).not.toBe(0);
    // c lacks piece 0: it starts (or continues) another piece.
    expect(p.pick('c', 1)[0]!.index).toBe(second[2]!.index);
    p.checkInvariants();
  });

  it('sizes the last block and the last piece; pieces need not be powers of two', () => {
    const pieceLength = 40_000; // 16384 + 16384 + 7232
    const length = 3 * pieceLength + 5_000;
    const p = picker({ pieceLength, length });
    expect(p.pieceCount).toBe(4);
    expect([0, 3].map((i) => p.pieceBytes(i))).toEqual([40_000, 5_000]);
    expect([0, 3].map((i) => p.blockCount(i))).toEqual([3, 1]);
    p.addPeer('a', 'all');
    const all = p.pick('a', 100);
    expect(all).toHaveLength(10);
    expect(all.filter((r) => r.index === 0).map((r) => r.length)).toEqual([BLOCK, BLOCK, 7_232]);
    expect(all.filter((r) => r.index === 3)).toEqual([{ index: 3, begin: 0, length: 5_000 }]);
    expect(all.reduce((s, r) => s + r.length, 0)).toBe(length);
    expect(p.left).toBe(length);
    for (const i of receiveAll(p, 'a', all)) p.pieceVerified(i);
    expect(p.isComplete).toBe(true);
    expect(p.left).toBe(0);
  });

  it('answers duplicate, unexpected and unrequested blocks', () => {
    const p = picker({ pieceLength: 2 * BLOCK, pieces: 2 });
    p.addPeer('a', 'all');
    p.addPeer('b', 'all');
    const [r] = p.pick('a', 1);
    expect(p.blockReceived('a', r!.index, r!.begin, 100).status).toBe('unexpected');
    expect(p.blockReceived('a', 5, 0, BLOCK).status).toBe('unexpected');
    expect(p.blockReceived('a', r!.index, 100, BLOCK).status).toBe('unexpected');
    expect(p.blockReceived('a', r!.index, r!.begin, r!.length)).toEqual({
      status: 'accepted',
      requested: true,
      pieceComplete: false,
      cancel: [],
    });
    expect(p.blockReceived('b', r!.index, r!.begin, r!.length).status).toBe('duplicate');
    // A block nobody asked for is still useful data.
    const other = 1 - r!.index;
    expect(p.blockReceived('b', other, BLOCK, BLOCK)).toMatchObject({ status: 'accepted', requested: false });
    expect(p.blockState(other, BLOCK)).toBe('received');
    expect(p.contributorsOf(other)).toEqual(['b']);
    p.checkInvariants();
  });
});

describe('PiecePicker: requests return to wanted', () => {
  it('when a peer leaves', () => {
    const p = picker({ pieceLength: 4 * BLOCK, pieces: 2 });
    p.addPeer('a', bits(2, [0, 1]));
    p.addPeer('b', bits(2, [0]));
    const got = p.pick('a', 3);
    expect(got.every((r) => p.blockState(r.index, r.begin) === 'requested')).toBe(true);
    p.removePeer('a');
    expect(got.every((r) => p.blockState(r.index, r.begin) === 'wanted')).toBe(true);
    expect(p.availability(1)).toBe(0);
    expect(p.piecesInProgress).toBe(0);
    expect(p.pick('b', 10)).toHaveLength(4);
    p.checkInvariants();
  });

  it('when a peer chokes us, rejects a request, or is snubbed', () => {
    const p = picker({ pieceLength: 4 * BLOCK, pieces: 2 });
    p.addPeer('a', 'all');
    p.addPeer('b', 'all');
    const got = p.pick('a', 4);
    p.blockReceived('a', got[0]!.index, got[0]!.begin, got[0]!.length);
    expect(p.rejected('a', got[1]!.index, got[1]!.begin)).toBe(true);
    expect(p.rejected('a', got[1]!.index, got[1]!.begin)).toBe(false);
    expect(p.blockState(got[1]!.index, got[1]!.begin)).toBe('wanted');
    expect(p.cancelRequest('a', got[2]!.index, got[2]!.begin)).toBe(true);
    expect(p.outstandingCount('a')).toBe(1);
    // Choke / snub: the rest goes back, availability stays.
    expect(p.releasePeer('a')).toEqual([got[3]]);
    expect(p.outstandingCount('a')).toBe(0);
    expect(p.availability(0)).toBe(2);
    // The partial piece goes to b first.
    expect(p.pick('b', 3)).toEqual(got.slice(1));
    p.checkInvariants();
  });
});

describe('PiecePicker: endgame', () => {
  it('duplicates outstanding blocks up to the cap and lists cancels', () => {
    const p = picker({ pieceLength: 2 * BLOCK, pieces: 2, endgameMaxRequests: 3 });
    for (const peer of ['a', 'b', 'c', 'd']) p.addPeer(peer, 'all');
    expect(p.pick('a', 3)).toHaveLength(3);
    expect(p.inEndgame).toBe(false);
    expect(p.pick('b', 10)).toHaveLength(1 + 3); // the last wanted block, then endgame duplicates of a's
    expect(p.inEndgame).toBe(true);
    const c = p.pick('c', 10);
    expect(c).toHaveLength(4);
    expect(p.pick('c', 10)).toEqual([]); // never twice to one peer
    expect(p.pick('d', 10)).toHaveLength(1); // the block only b and c had
    for (const r of c) expect(p.requestersOf(r.index, r.begin).length).toBeLessThanOrEqual(3);
    const r = c[0]!;
    const others = p.requestersOf(r.index, r.begin).filter((x) => x !== 'c');
    const got = p.blockReceived('c', r.index, r.begin, r.length);
    expect(got.status).toBe('accepted');
    expect(got.cancel.sort()).toEqual(others.sort());
    expect(p.blockReceived(others[0]!, r.index, r.begin, r.length).status).toBe('duplicate');
    for (const peer of ['a', 'b', 'c', 'd']) {
      expect(p.outstanding(peer).some((x) => x.index === r.index && x.begin === r.begin)).toBe(false);
    }
    p.checkInvariants();
  });

  it('does not duplicate while some block is still wanted', () => {
    const p = picker({ pieceLength: BLOCK, pieces: 3 });
    p.addPeer('a', 'all');
    p.addPeer('b', bits(3, [0]));
    expect(p.pick('a', 3)).toHaveLength(3);
    expect(p.inEndgame).toBe(true);
    p.rejected('a', 1, 0);
    expect(p.inEndgame).toBe(false);
    expect(p.pick('b', 5)).toEqual([]); // b has only piece 0, outstanding to a
    expect(p.requestersOf(0, 0)).toEqual(['a']);
  });

  it('leaves endgame when a request returns to wanted', () => {
    const p = picker({ pieceLength: BLOCK, pieces: 1 });
    p.addPeer('a', 'all');
    p.addPeer('b', 'all');
    p.pick('a', 1);
    expect(p.inEndgame).toBe(true);
    p.removePeer('a');
    expect(p.inEndgame).toBe(false);
    expect(p.pick('b', 1)).toEqual([{ index: 0, begin: 0, length: BLOCK }]);
  });
});

describe('PiecePicker: verification', () => {
  it('a failed hash returns the contributors and wants every block again', () => {
    const p = picker({ pieceLength: 3 * BLOCK, pieces: 1 });
    p.addPeer('a', 'all');
    p.addPeer('b', 'all');
    const a = p.pick('a', 2);
    const b = p.pick('b', 5);
    expect(b).toHaveLength(1 + 2); // last block, then endgame duplicates
    receiveAll(p, 'a', a);
    const done = p.blockReceived('b', b[0]!.index, b[0]!.begin, b[0]!.length);
    expect(done.pieceComplete).toBe(true);
    expect(p.outstandingCount('b')).toBe(0);
    expect(p.pieceFailed(0).sort()).toEqual(['a', 'b']);
    expect([0, BLOCK, 2 * BLOCK].map((o) => p.blockState(0, o))).toEqual(['wanted', 'wanted', 'wanted']);
    expect(p.piecesInProgress).toBe(0);
    expect(p.left).toBe(3 * BLOCK);
    expect(p.pick('b', 5)).toHaveLength(3);
    p.checkInvariants();
  });

  it('a failed piece is refetched from a single peer where possible (smart ban then has a clean copy)', () => {
    const p = picker({ pieceLength: 4 * BLOCK, pieces: 4 });
    p.addPeer('a', bits(4, [0]));
    p.addPeer('b', bits(4, [0, 1, 2]));
    // Piece 0 from both peers, two blocks each.
    const fromA = p.pick('a', 2);
    const fromB = p.pick('b', 2);
    expect([...fromA, ...fromB].every((r) => r.index === 0)).toBe(true);
    receiveAll(p, 'a', fromA);
    receiveAll(p, 'b', fromB);
    expect(p.pieceFailed(0).sort()).toEqual(['a', 'b']);
    // 'a' takes a block of it first: the piece is its to fetch; 'b' is given the other pieces meanwhile.
    expect(p.pick('a', 1)[0]!.index).toBe(0);
    const other = p.pick('b', 8);
    expect(other).toHaveLength(8);
    expect(other.map((r) => r.index)).not.toContain(0);
    expect(p.pick('a', 3).map((r) => r.index)).toEqual([0, 0, 0]);
    p.checkInvariants();
  });

  it('a peer with nothing else to do helps with a piece being refetched; so does anyone once its refetcher left', () => {
    const p = picker({ pieceLength: 4 * BLOCK, pieces: 1 });
    p.addPeer('a', 'all');
    p.addPeer('b', 'all');
    const all = p.pick('a', 4);
    receiveAll(p, 'a', all);
    p.pieceFailed(0);
    expect(p.pick('a', 1)).toHaveLength(1); // 'a' refetches
    expect(p.pick('b', 1)).toEqual([{ index: 0, begin: BLOCK, length: BLOCK }]); // nothing else: it helps
    p.removePeer('a');
    expect(p.pick('b', 4).length).toBeGreaterThan(0);
    p.checkInvariants();
  });

  it('a verified piece is never picked again', () => {
    const p = picker({ pieces: 3 });
    p.addPeer('a', 'all');
    const [r] = p.pick('a', 1);
    receiveAll(p, 'a', [r!]);
    expect(p.pieceVerified(r!.index)).toEqual([]);
    expect(p.hasPiece(r!.index)).toBe(true);
    expect(p.blockState(r!.index, 0)).toBe('verified');
    p.removePeer('a');
    p.addPeer('a', 'all');
    expect(p.pick('a', 10).map((x) => x.index)).not.toContain(r!.index);
    expect(p.blockReceived('a', r!.index, 0, BLOCK).status).toBe('duplicate');
  });

  it('starts from resume data', () => {
    const have = bits(5, [0, 2, 4]);
    const p = picker({ pieceLength: 10_000, length: 45_000, have });
    expect(p.verifiedCount).toBe(3);
    expect(p.left).toBe(20_000);
    expect(p.bitfield().toBytes()).toEqual(have.toBytes());
    expect(p.addPeer('x', bits(5, [0, 4]))).toBe(false);
    expect(p.pick('x', 10)).toEqual([]);
    expect(p.addPeer('y', 'all')).toBe(true);
    expect(
      p
        .pick('y', 10)
        .map((r) => r.index)
        .sort(),
    ).toEqual([1, 3]);
    p.checkInvariants();
  });

  it('verifying a piece with requests outstanding returns them to cancel', () => {
    const p = picker({ pieceLength: 2 * BLOCK, pieces: 1 });
    p.addPeer('a', 'all');
    p.pick('a', 1);
    expect(p.pieceVerified(0)).toEqual([{ peer: 'a', request: { index: 0, begin: 0, length: BLOCK } }]);
    expect(p.outstandingCount('a')).toBe(0);
    expect(p.isComplete).toBe(true);
    expect(p.isInterestedIn('a')).toBe(false);
    p.checkInvariants();
  });

  it('rejects bad options and bitfields with typed errors', () => {
    expect(() => new PiecePicker({ pieceLength: 0, length: 1 })).toThrow();
    const p = picker({ pieces: 4 });
    try {
      p.addPeer('a', new Bitfield(5));
      expect.unreachable();
    } catch (err) {
      expect(isBtError(err, 'BT_ERR_PICKER_BITFIELD')).toBe(true);
    }
    expect(p.have('nobody', 3)).toBe(true); // an unknown peer is ignored
    p.addPeer('a', 'none');
    expect(() => p.have('a', 4)).toThrow(/outside/);
  });

  it('builds from metainfo fields', () => {
    const p = PiecePicker.fromMetainfo({ length: 100_000, pieceLength: 32_768 });
    expect(p.pieceCount).toBe(4);
    expect(p.pieceBytes(3)).toBe(100_000 - 3 * 32_768);
  });
});

describe('BEP 6 hints: only (allowed-fast while choked) and prefer (suggest)', () => {
  it('only: blocks of the listed pieces the peer has and we lack, nothing else, no endgame duplicates', () => {
    const p = picker({ pieces: 8, have: bits(8, [2]) });
    p.addPeer('a', bits(8, [1, 2, 3, 5]));
    const got = p.pick('a', 100, { only: [5, 2, 6, 9] });
    expect([...new Set(got.map((r) => r.index))]).toEqual([5]);
    expect(got).toHaveLength(p.blockCount(5));
    // Its blocks are out: asking again gives nothing, not duplicates.
    expect(p.pick('a', 100, { only: [5] })).toEqual([]);
    // An unfinished listed piece is finished: a block given back is picked again.
    p.rejected('a', 5, 0);
    expect(p.pick('a', 100, { only: [5] })).toEqual([{ index: 5, begin: 0, length: p.blockBytes(5, 0) }]);
    expect(p.pick('a', 100, { only: [] })).toEqual([]);
  });

  it('prefer: a suggested new piece before the rarest, but after unfinished pieces and never a skipped one', () => {
    const p = picker({ pieces: 9, pieceLength: 2 * BLOCK });
    p.addPeer('a', bits(9, [0, 1, 2, 3, 4, 5, 6, 7]));
    p.addPeer('b', bits(9, [0, 1, 2, 3, 4, 5, 6]));
    // Piece 7 is the rarest (only 'a' has it); piece 4 is suggested.
    const first = p.pick('a', 1, { prefer: [4] });
    expect(first.map((r) => r.index)).toEqual([4]);
    // Piece 4 is now unfinished: it is finished first, then the suggestion 6 before rarest-first.
    expect(p.pick('a', 1, { prefer: [6] }).map((r) => r.index)).toEqual([4]);
    expect(p.pick('a', 1, { prefer: [6] }).map((r) => r.index)).toEqual([6]);
    expect(p.pick('a', 2).map((r) => r.index)).toEqual([6, 7]);
    p.setPriorities(Uint8Array.from([2, 2, 2, 2, 2, 0, 2, 2, 2]));
    expect(p.pick('a', 1, { prefer: [5] }).map((r) => r.index)).not.toEqual([5]);
  });

  it('prefer ranks among equals: a suggested low-priority piece waits for the high ones', () => {
    const p = picker({ pieces: 4, priorities: Uint8Array.from([1, 3, 2, 2]) });
    p.addPeer('a', 'all');
    const order = [0, 1, 2, 3].map(() => p.pick('a', p.blocksPerPiece, { prefer: [0, 3] })[0]!.index);
    expect(order).toEqual([1, 3, 2, 0]);
  });
});

describe('From a seed: what no other peer holds first; a seed suggests the pieces with the fewest copies', () => {
  it('takes its unfinished pieces nobody else holds, then its suggestions, then new pieces nobody holds; the rest last', () => {
    const p = picker({ pieces: 6, pieceLength: 2 * BLOCK });
    p.addPeer('s', 'all');
    p.addPeer('b', bits(6, [0, 1]));
    // Pieces 0 and 1 are held by 'b': a seed is asked for them only when nothing else is left.
    const first = p.pick('s', 2);
    expect(first.every((r) => r.index >= 2)).toBe(true);
    const started = first[0]!.index;
    // One block of it given back: finished before its suggestion, which comes before the other new pieces.
    p.rejected('s', started, 0);
    const unheld = [2, 3, 4, 5].filter((i) => i !== started);
    const suggested = unheld[unheld.length - 1]!;
    expect(p.pick('s', 3, { prefer: [suggested] }).map((r) => r.index)).toEqual([started, suggested, suggested]);
    // The last two pieces nobody holds, then (nothing else left) those 'b' holds.
    const rest = p.pick('s', 4).map((r) => r.index);
    expect(rest.sort()).toEqual([unheld[0], unheld[0], unheld[1], unheld[1]]);
    expect(
      p
        .pick('s', 4)
        .map((r) => r.index)
        .sort(),
    ).toEqual([0, 0, 1, 1]);
    p.checkInvariants();
  });

  it('a piece another peer holds is not finished from a seed while a piece nobody holds is wanted', () => {
    const p = picker({ pieces: 3, pieceLength: 2 * BLOCK });
    p.addPeer('b', bits(3, [0]));
    p.addPeer('s', 'all');
    expect(p.pick('b', 1)).toEqual([{ index: 0, begin: 0, length: BLOCK }]);
    // Piece 0 is unfinished, and 'b' has it: the seed is asked for pieces 1 and 2.
    expect(new Set(p.pick('s', 4).map((r) => r.index))).toEqual(new Set([1, 2]));
    // Nothing else: the seed helps with piece 0 too.
    expect(p.pick('s', 1)).toEqual([{ index: 0, begin: BLOCK, length: BLOCK }]);
  });

  it('allowed-fast pieces are not asked of a seed while another peer can serve us; of a lone seed they are', () => {
    const p = picker({ pieces: 4 });
    p.addPeer('s', 'all');
    expect(p.pick('s', 4, { only: [1, 2] }).map((r) => r.index)).toEqual([1, 2]);
    p.addPeer('b', bits(4, [3]));
    expect(p.pick('s', 4, { only: [0] })).toEqual([]);
    expect(p.pick('b', 4, { only: [3] }).map((r) => r.index)).toEqual([3]);
  });

  it('suggests every piece once before any twice, counting those suggested and not yet announced', () => {
    const p = picker({ pieces: 8, have: Bitfield.full(8) });
    p.addPeer('x', 'none');
    p.addPeer('y', bits(8, [7]));
    const toX = p.suggestFor('x', 3);
    const toY = p.suggestFor('y', 3);
    expect(toX).toHaveLength(3);
    expect(toY).toHaveLength(3);
    // Distinct, and never a piece the peer has.
    expect(new Set([...toX, ...toY]).size).toBe(6);
    expect(toY).not.toContain(7);
    // Still pending with 'x': nothing more.
    expect(p.suggestFor('x', 3)).toEqual([]);
    // 'x' announces one: one more, among the pieces suggested to nobody and held by nobody.
    p.have('x', toX[0]!);
    const next = p.suggestFor('x', 3);
    const fresh = [0, 1, 2, 3, 4, 5, 6].filter((i) => !toX.includes(i) && !toY.includes(i));
    expect(next).toHaveLength(1);
    expect(fresh).toContain(next[0]);
    // A peer with every piece, or unknown, gets nothing.
    p.addPeer('z', 'all');
    expect(p.suggestFor('z', 3)).toEqual([]);
    expect(p.suggestFor('nobody', 3)).toEqual([]);
    p.checkInvariants();
  });

  it('once each piece is out, suggests the pieces with the fewest copies', () => {
    const p = picker({ pieces: 3, have: Bitfield.full(3) });
    p.addPeer('a', bits(3, [0]));
    p.addPeer('b', bits(3, [0, 1]));
    p.addPeer('c', 'none');
    // Copies: piece 0 twice, piece 1 once, piece 2 never.
    expect(p.suggestFor('c', 1)).toEqual([2]);
    // Piece 2 is now on its way to 'c': piece 1 and 2 have one copy each for 'a'; piece 0 is last.
    expect(p.suggestFor('a', 2).sort()).toEqual([1, 2]);
  });
});
