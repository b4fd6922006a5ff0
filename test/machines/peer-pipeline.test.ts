/**
 * The peer's request pipeline (src/machines/peer/pipeline.ts): examples of each function, and
 * properties checked against a small multiset model of the requests sent and given up:
 * - a block is accepted only if its request was outstanding at that moment (earlier blocks of the
 *   same batch took theirs); a block of a given-up request is late; the first block that is neither
 *   is `unrequested`, and nothing after it is looked at;
 * - every request sent is accepted, still outstanding, or given up, exactly once; every request given
 *   up is taken late, still remembered, or forgotten past LATE_LIMIT (oldest first), exactly once;
 * - the late list never exceeds LATE_LIMIT;
 * - the order of a delivery does not change which blocks are accepted;
 * - pipelineDepth stays within [1, min(maxQueue, reqq)] and grows with the rate.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  LATE_LIMIT,
  addRequests,
  emptyPipeline,
  outstanding as outstandingOf,
  outstanding,
  freeSlots,
  giveUp,
  giveUpAll,
  isOutstanding,
  pipelineDepth,
  refillBatch,
  takeBlocks,
  type DepthSettings,
  type PipelineState,
} from '../../src/machines/peer/pipeline.js';
import type { BlockRequest } from '../../src/protocol/layout.js';
import type { PieceBlock } from '../../src/protocol/peer-wire-types.js';
import { propertyOptions } from '../support/fc.js';

const KiB = 1024;
const settings: DepthSettings = { queueSeconds: 3, minQueue: 8, maxQueue: 500 };

const req = (index: number, begin: number, length: number): BlockRequest => ({ index, begin, length });
const blockOf = (r: BlockRequest): PieceBlock => ({ index: r.index, begin: r.begin, block: new Uint8Array(r.length) });
const pipelineOf = (...requests: BlockRequest[]): PipelineState => addRequests(emptyPipeline, requests);

describe('pipelineDepth', () => {
  it('keeps queueSeconds of the rate requested, within [minQueue, maxQueue]', () => {
    expect(pipelineDepth(0, settings, Number.POSITIVE_INFINITY)).toBe(8);
    expect(pipelineDepth(Number.NaN, settings, Number.POSITIVE_INFINITY)).toBe(8);
    expect(pipelineDepth(100 * KiB, settings, Number.POSITIVE_INFINITY)).toBe(19); // ceil(300 KiB / 16 KiB)
    expect(pipelineDepth(1024 * KiB, settings, Number.POSITIVE_INFINITY)).toBe(192);
    expect(pipelineDepth(1024 * 1024 * KiB, settings, Number.POSITIVE_INFINITY)).toBe(500);
    expect(pipelineDepth(1024 * KiB, { queueSeconds: 1, minQueue: 2, maxQueue: 500 }, 1000)).toBe(64);
  });

  it("never asks more than the peer's reqq, and at least one", () => {
    expect(pipelineDepth(1024 * 1024 * KiB, settings, 250)).toBe(250);
    expect(pipelineDepth(1024 * KiB, settings, 100)).toBe(100);
    expect(pipelineDepth(0, settings, 5)).toBe(5); // below minQueue: reqq wins
    expect(pipelineDepth(0, settings, 0)).toBe(1);
    expect(pipelineDepth(1024 * 1024 * KiB, settings, 0)).toBe(1);
    expect(pipelineDepth(0, { queueSeconds: 3, minQueue: 0, maxQueue: 0 }, 10)).toBe(1);
  });

  it('stays within [1, min(maxQueue, reqq)] and never shrinks as the rate grows (property)', () => {
    const rate = fc.oneof(
      fc.double({ noNaN: false }),
      fc.double({ min: 0, max: 1e9, noNaN: true }),
      fc.constantFrom(0, -1, Number.POSITIVE_INFINITY, Number.NaN),
    );
    const settingsArb = fc
      .record({
        queueSeconds: fc.double({ min: 0, max: 30, noNaN: true }),
        a: fc.integer({ min: 0, max: 1000 }),
        b: fc.integer({ min: 0, max: 1000 }),
      })
      .map(({ queueSeconds, a, b }): DepthSettings => ({
        queueSeconds,
        minQueue: Math.min(a, b),
        maxQueue: Math.max(a, b),
      }));
    const reqq = fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.constant(Number.POSITIVE_INFINITY));
    fc.assert(
      fc.property(rate, rate, settingsArb, reqq, (r1, r2, s, q) => {
        const d = pipelineDepth(r1, s, q);
        expect(Number.isInteger(d)).toBe(true);
        expect(d).toBeGreaterThanOrEqual(1);
        expect(d).toBeLessThanOrEqual(Math.max(1, Math.min(s.maxQueue, q)));
        const finite = (r: number) => Number.isFinite(r) && r > 0;
        if (finite(r1) && finite(r2) && r1 <= r2) expect(pipelineDepth(r2, s, q)).toBeGreaterThanOrEqual(d);
      }),
      propertyOptions,
    );
  });
});

describe('freeSlots and refillBatch', () => {
  it('counts the slots left below the depth, never negative', () => {
    const p = pipelineOf(req(0, 0, 16 * KiB), req(0, 16 * KiB, 16 * KiB), req(1, 0, 16 * KiB));
    expect(freeSlots(emptyPipeline, 10)).toBe(10);
    expect(freeSlots(p, 10)).toBe(7);
    expect(freeSlots(p, 3)).toBe(0);
    expect(freeSlots(p, 1)).toBe(0); // the depth shrank below what is outstanding
  });

  it('tops up by a quarter of the depth, between 1 and 128', () => {
    expect(refillBatch(0)).toBe(1);
    expect(refillBatch(1)).toBe(1);
    expect(refillBatch(4)).toBe(1);
    expect(refillBatch(5)).toBe(2);
    expect(refillBatch(192)).toBe(48);
    expect(refillBatch(512)).toBe(128);
    expect(refillBatch(600)).toBe(128);
  });
});

describe('addRequests and isOutstanding', () => {
  it('appends in order without touching the input', () => {
    const a = req(0, 0, 16 * KiB);
    const b = req(0, 16 * KiB, 100);
    const p1 = pipelineOf(a);
    const p2 = addRequests(p1, [b, a]);
    expect(outstanding(p1)).toEqual([a]);
    expect(outstanding(p2)).toEqual([a, b, a]);
    expect(p2.late).toBe(p1.late);
    expect(isOutstanding(p2, { index: 0, begin: 16 * KiB, length: 100 })).toBe(true);
    expect(isOutstanding(p2, { index: 0, begin: 16 * KiB, length: 99 })).toBe(false);
    expect(isOutstanding(p2, { index: 1, begin: 0, length: 16 * KiB })).toBe(false);
    expect(isOutstanding(emptyPipeline, a)).toBe(false);
  });
});

describe('takeBlocks', () => {
  const a = req(0, 0, 16 * KiB);
  const b = req(0, 16 * KiB, 16 * KiB);
  const c = req(1, 0, 1000);

  it('accepts blocks that were asked for, in any order', () => {
    const p = pipelineOf(a, b, c);
    const blocks = [blockOf(c), blockOf(a)];
    const t = takeBlocks(p, blocks);
    expect(t.accepted).toEqual(blocks);
    expect(t.accepted[0]).toBe(blocks[0]); // the blocks themselves, not copies
    expect(t.late).toBe(0);
    expect(t.unrequested).toBeUndefined();
    expect(outstanding(t.pipeline)).toEqual([b]);
    expect(outstanding(p)).toEqual([a, b, c]); // the input is unchanged
  });

  it('matches the length of the block, not only its position', () => {
    const p = pipelineOf(c);
    const short = { index: 1, begin: 0, block: new Uint8Array(999) };
    const t = takeBlocks(p, [short]);
    expect(t.accepted).toEqual([]);
    expect(t.unrequested).toBe(short);
    expect(outstanding(t.pipeline)).toEqual([c]);
  });

  it('accepts a request once: the same block twice is unrequested the second time', () => {
    const p = pipelineOf(a);
    const first = blockOf(a);
    const second = blockOf(a);
    const t = takeBlocks(p, [first, second]);
    expect(t.accepted).toEqual([first]);
    expect(t.unrequested).toBe(second);
    expect(outstanding(t.pipeline)).toEqual([]);
  });

  it('accepts a request sent twice twice', () => {
    const t = takeBlocks(pipelineOf(a, a), [blockOf(a), blockOf(a)]);
    expect(t.accepted).toHaveLength(2);
    expect(t.unrequested).toBeUndefined();
    expect(outstanding(t.pipeline)).toEqual([]);
  });

  it('counts blocks of given-up requests as late, once each', () => {
    const p = giveUp(pipelineOf(a, b), a).pipeline;
    const t = takeBlocks(p, [blockOf(b), blockOf(a)]);
    expect(t.accepted).toHaveLength(1);
    expect(t.late).toBe(1);
    expect(t.unrequested).toBeUndefined();
    expect(outstanding(t.pipeline)).toEqual([]);
    expect(t.pipeline.late).toEqual([]);
    // The late request was forgotten: a second copy of its block is unrequested.
    const again = takeBlocks(t.pipeline, [blockOf(a)]);
    expect(again.late).toBe(0);
    expect(again.unrequested).toEqual(blockOf(a));
  });

  it('stops at the first unrequested block, keeping what came before it', () => {
    const p = giveUp(pipelineOf(a, b, c), c).pipeline;
    const stray = { index: 7, begin: 0, block: new Uint8Array(10) };
    const t = takeBlocks(p, [blockOf(a), blockOf(c), stray, blockOf(b)]);
    expect(t.accepted).toEqual([blockOf(a)]);
    expect(t.late).toBe(1);
    expect(t.unrequested).toBe(stray);
    expect(outstanding(t.pipeline)).toEqual([b]); // b came after the stray block: not looked at
    expect(t.pipeline.late).toEqual([]);
  });

  it('returns the same pipeline object when nothing matched', () => {
    const p = pipelineOf(a);
    expect(takeBlocks(p, []).pipeline).toBe(p);
    expect(takeBlocks(emptyPipeline, [])).toEqual({
      pipeline: emptyPipeline,
      accepted: [],
      late: 0,
      unrequested: undefined,
    });
  });
});

describe('giveUp and giveUpAll', () => {
  const a = req(0, 0, 16 * KiB);
  const b = req(0, 16 * KiB, 16 * KiB);

  it('gives up one outstanding request and remembers it as late', () => {
    const p = pipelineOf(a, b, a);
    const g = giveUp(p, { index: 0, begin: 0, length: 16 * KiB });
    expect(g.found).toBe(true);
    expect(outstanding(g.pipeline)).toEqual([b, a]);
    expect(g.pipeline.late).toEqual([a]);
    expect(outstanding(p)).toEqual([a, b, a]);
  });

  it('leaves the pipeline as it is for a request that is not outstanding', () => {
    const p = pipelineOf(a);
    const g = giveUp(p, b);
    expect(g.found).toBe(false);
    expect(g.pipeline).toBe(p);
    expect(giveUp(p, { ...a, length: 1 }).found).toBe(false);
  });

  it('gives up everything at once, in order', () => {
    const p = giveUp(pipelineOf(a, b), b).pipeline;
    const c = req(2, 0, 5);
    const g = giveUpAll(addRequests(p, [c]));
    expect(g.dropped).toEqual([a, c]);
    expect(outstanding(g.pipeline)).toEqual([]);
    expect(g.pipeline.late).toEqual([b, a, c]);
    expect(giveUpAll(emptyPipeline)).toEqual({ pipeline: emptyPipeline, dropped: [] });
  });

  it('remembers at most LATE_LIMIT given-up requests, forgetting the oldest', () => {
    const many = Array.from({ length: LATE_LIMIT + 10 }, (_, i) => req(i, 0, 16 * KiB));
    const g = giveUpAll(addRequests(emptyPipeline, many));
    expect(g.dropped).toHaveLength(LATE_LIMIT + 10);
    expect(g.pipeline.late).toHaveLength(LATE_LIMIT);
    expect(g.pipeline.late[0]).toEqual(req(10, 0, 16 * KiB));
    expect(g.pipeline.late[LATE_LIMIT - 1]).toEqual(req(LATE_LIMIT + 9, 0, 16 * KiB));
    // One more pushes out the oldest remembered.
    const one = giveUp(addRequests(g.pipeline, [a]), a).pipeline;
    expect(one.late).toHaveLength(LATE_LIMIT);
    expect(one.late[0]).toEqual(req(11, 0, 16 * KiB));
    expect(one.late[LATE_LIMIT - 1]).toEqual(a);
    // A forgotten request's block is unrequested; a remembered one's is late.
    expect(takeBlocks(one, [blockOf(req(10, 0, 16 * KiB))]).unrequested).toBeDefined();
    expect(takeBlocks(one, [blockOf(req(11, 0, 16 * KiB))]).late).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties

/** A small block space (3 pieces × 3 offsets × 2 lengths), so requests repeat and collide. */
const KEYS: BlockRequest[] = [];
for (let index = 0; index < 3; index++) {
  for (const begin of [0, 4, 8]) for (const length of [4, 3]) KEYS.push(req(index, begin, length));
}
const keyOf = (r: { index: number; begin: number; length: number }): number =>
  KEYS.findIndex((k) => k.index === r.index && k.begin === r.begin && k.length === r.length);
const keyOfBlock = (b: PieceBlock): number => keyOf({ index: b.index, begin: b.begin, length: b.block.length });
const keyArb = fc.nat({ max: KEYS.length - 1 });

/** Where a delivered block comes from: an outstanding request, a late one, or anywhere. */
type Pick = { from: 'outstanding' | 'late'; i: number } | { from: 'any'; key: number };
const pickArb: fc.Arbitrary<Pick> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ from: fc.constant('outstanding' as const), i: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ from: fc.constant('late' as const), i: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ from: fc.constant('any' as const), key: keyArb }) },
);

type Op =
  | { t: 'add'; keys: number[] }
  | { t: 'addMany'; keys: number[]; times: number }
  | { t: 'deliver'; picks: Pick[] }
  | { t: 'giveUp'; pick: Pick }
  | { t: 'giveUpAll' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ t: fc.constant('add' as const), keys: fc.array(keyArb, { maxLength: 10 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('addMany' as const),
      keys: fc.array(keyArb, { minLength: 1, maxLength: 3 }),
      times: fc.integer({ min: 100, max: 600 }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({ t: fc.constant('deliver' as const), picks: fc.array(pickArb, { maxLength: 10 }) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('giveUp' as const), pick: pickArb }) },
  { weight: 2, arbitrary: fc.constant({ t: 'giveUpAll' as const }) },
);

const sorted = (keys: readonly number[]): number[] => [...keys].sort((x, y) => x - y);
const same = (x: readonly unknown[], y: readonly unknown[]): boolean =>
  x.length === y.length && x.every((v, i) => v === y[i]);
/** `expect(actual).toEqual(expected)` for arrays of numbers, without its cost when they are equal. */
function expectSame(actual: readonly number[], expected: readonly number[]): void {
  if (!same(actual, expected)) expect(actual).toEqual(expected);
}

function resolve(pick: Pick, outstanding: readonly number[], late: readonly number[]): number {
  if (pick.from === 'outstanding' && outstanding.length > 0) return outstanding[pick.i % outstanding.length]!;
  if (pick.from === 'late' && late.length > 0) return late[pick.i % late.length]!;
  return pick.from === 'any' ? pick.key : (pick.i * 7) % KEYS.length;
}

describe('pipeline properties', () => {
  it('accepts only outstanding blocks and accounts for every request exactly once', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        let p: PipelineState = emptyPipeline;
        // The model: keys outstanding (as a multiset) and given up (oldest first), and the tallies.
        let outstanding: number[] = [];
        let late: number[] = [];
        let sent = 0;
        let accepted = 0;
        let givenUp = 0;
        let lateTaken = 0;
        let forgotten = 0;
        const remember = (given: readonly number[]) => {
          late = late.concat(given);
          if (late.length > LATE_LIMIT) {
            forgotten += late.length - LATE_LIMIT;
            late = late.slice(late.length - LATE_LIMIT);
          }
        };
        for (const op of ops) {
          if (op.t === 'add' || op.t === 'addMany') {
            const keys =
              op.t === 'add' ? op.keys : Array.from({ length: op.times }, (_, i) => op.keys[i % op.keys.length]!);
            p = addRequests(
              p,
              keys.map((k) => KEYS[k]!),
            );
            outstanding = outstanding.concat(keys);
            sent += keys.length;
          } else if (op.t === 'deliver') {
            const blocks = op.picks.map((pick) => blockOf(KEYS[resolve(pick, outstanding, late)]!));
            const t = takeBlocks(p, blocks);
            // What the model expects, block by block.
            const left = outstanding.slice();
            const expectAccepted: PieceBlock[] = [];
            let expectLate = 0;
            let expectUnrequested: PieceBlock | undefined;
            for (const b of blocks) {
              const k = keyOfBlock(b);
              const i = left.indexOf(k);
              if (i >= 0) {
                left.splice(i, 1);
                expectAccepted.push(b);
                continue;
              }
              const j = late.indexOf(k);
              if (j >= 0) {
                late.splice(j, 1);
                expectLate++;
                continue;
              }
              expectUnrequested = b;
              break;
            }
            if (!same(t.accepted, expectAccepted))
              expect(t.accepted.map(keyOfBlock)).toEqual(expectAccepted.map(keyOfBlock));
            if (t.late !== expectLate || t.unrequested !== expectUnrequested) {
              expect({ late: t.late, unrequested: t.unrequested }).toEqual({
                late: expectLate,
                unrequested: expectUnrequested,
              });
            }
            p = t.pipeline;
            outstanding = left;
            accepted += expectAccepted.length;
            lateTaken += expectLate;
          } else if (op.t === 'giveUp') {
            const k = resolve(op.pick, outstanding, late);
            const g = giveUp(p, { ...KEYS[k]! });
            const i = outstanding.indexOf(k);
            if (g.found !== i >= 0 || isOutstanding(p, KEYS[k]!) !== i >= 0) {
              expect({ found: g.found, outstanding: isOutstanding(p, KEYS[k]!) }).toEqual({
                found: i >= 0,
                outstanding: i >= 0,
              });
            }
            if (i >= 0) {
              outstanding.splice(i, 1);
              remember([k]);
              givenUp++;
            } else if (g.pipeline !== p) expect(g.pipeline).toBe(p);
            p = g.pipeline;
          } else {
            const g = giveUpAll(p);
            expectSame(sorted(g.dropped.map(keyOf)), sorted(outstanding));
            // The order of equal requests is the pipeline's business: follow it.
            outstanding = g.dropped.map(keyOf);
            remember(outstanding);
            givenUp += outstanding.length;
            outstanding = [];
            p = g.pipeline;
          }
          // The pipeline holds what the model holds; the model may order equal requests differently.
          const have = outstandingOf(p).map(keyOf);
          expectSame(sorted(have), sorted(outstanding));
          outstanding = have;
          expectSame(p.late.map(keyOf), late);
          if (p.late.length > LATE_LIMIT) expect(p.late.length).toBeLessThanOrEqual(LATE_LIMIT);
          for (let k = 0; k < KEYS.length; k++) {
            const want = outstanding.includes(k);
            if (isOutstanding(p, KEYS[k]!) !== want)
              expect({ key: k, outstanding: !want }).toEqual({ key: k, outstanding: want });
          }
          // Every request sent is accepted, outstanding or given up; every one given up is taken late,
          // remembered, or forgotten.
          if (
            accepted + outstandingOf(p).length + givenUp !== sent ||
            lateTaken + p.late.length + forgotten !== givenUp
          ) {
            expect({
              sent: accepted + outstandingOf(p).length + givenUp,
              givenUp: lateTaken + p.late.length + forgotten,
            }).toEqual({ sent, givenUp });
          }
        }
      }),
      propertyOptions,
    );
  });

  it('accepts the same blocks whatever their order', () => {
    const caseArb = fc.array(fc.record({ key: keyArb, delivered: fc.boolean() }), { maxLength: 30 }).chain((rs) =>
      fc.tuple(
        fc.constant(rs),
        fc.shuffledSubarray(
          rs.map((_, i) => i),
          { minLength: rs.length },
        ),
      ),
    );
    fc.assert(
      fc.property(caseArb, fc.array(keyArb, { maxLength: 5 }), ([rs, order], lateKeys) => {
        // Some requests given up beforehand, so late ones are around too (never delivered here).
        let p = addRequests(
          emptyPipeline,
          lateKeys.map((k) => KEYS[k]!),
        );
        p = giveUpAll(p).pipeline;
        p = addRequests(
          p,
          rs.map((r) => KEYS[r.key]!),
        );
        const inOrder = rs.filter((r) => r.delivered).map((r) => blockOf(KEYS[r.key]!));
        const shuffled = order.filter((i) => rs[i]!.delivered).map((i) => blockOf(KEYS[rs[i]!.key]!));
        const a = takeBlocks(p, inOrder);
        const b = takeBlocks(p, shuffled);
        for (const t of [a, b]) {
          if (
            t.unrequested !== undefined ||
            t.late !== 0 ||
            t.accepted.length !== inOrder.length ||
            t.pipeline.late !== p.late
          ) {
            expect({
              unrequested: t.unrequested,
              late: t.late,
              accepted: t.accepted.length,
              sameLate: t.pipeline.late === p.late,
            }).toEqual({ unrequested: undefined, late: 0, accepted: inOrder.length, sameLate: true });
          }
        }
        expectSame(sorted(a.accepted.map(keyOfBlock)), sorted(b.accepted.map(keyOfBlock)));
        expectSame(sorted(outstanding(a.pipeline).map(keyOf)), sorted(outstanding(b.pipeline).map(keyOf)));
        expectSame(
          sorted(outstanding(a.pipeline).map(keyOf)),
          sorted(rs.filter((r) => !r.delivered).map((r) => r.key)),
        );
      }),
      propertyOptions,
    );
  });
});
