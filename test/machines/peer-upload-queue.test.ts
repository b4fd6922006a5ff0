/**
 * The peer's upload queue (src/machines/peer/upload-queue.ts): examples of each function, and a
 * property over any sequence of requests, read answers, cancels, chokes and congestion, checked
 * against a model of the queue and of the reads under way:
 * - reads under way never exceed MAX_READS, and none starts while the socket is congested;
 * - every read asked for is of a request queued at that moment and not already being read, and the
 *   reads one call starts come as one reader command (a batch of requests costs one command);
 * - reads start whenever they may (no request waits while a read slot is free and the socket drains);
 * - the queue never exceeds maxQueued (queueRoom says how many more fit: past it, a flood);
 * - the requests being read are the head of the queue (`started`), in the order they were asked;
 * - `found` from readDone is true exactly when the request was still queued.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_READS,
  cancelUpload,
  dropAll,
  emptyUploads,
  enqueue,
  queueRoom,
  readsDone,
  setCongested,
  startReads,
  validateRequest,
  type UploadQueueState,
} from '../../src/machines/peer/upload-queue.js';
import type { BlockRequest, PieceGeometry } from '../../src/protocol/layout.js';
import type { BlockReadCommand } from '../../src/protocol/peer-wire-types.js';
import { propertyOptions } from '../support/fc.js';

const KiB = 1024;
const BLOCK = 16 * KiB;
const req = (index: number, begin: number, length = BLOCK): BlockRequest => ({ index, begin, length });
const read = (...blocks: BlockRequest[]): BlockReadCommand => ({ type: 'upload.read', blocks });

/** Queues requests that must not flood, then starts what reads it may (one command). */
function add(
  q: UploadQueueState,
  r: BlockRequest | BlockRequest[],
  maxQueued = 100,
): { queue: UploadQueueState; read: BlockReadCommand | undefined } {
  const batch = Array.isArray(r) ? r : [r];
  if (batch.length > queueRoom(q, maxQueued)) throw new Error('unexpected flood');
  return startReads(enqueue(q, batch));
}

/** Whether each queued request is being read (the head of the queue, `started` long). */
const readingOf = (q: UploadQueueState) => q.queued.map((_, i) => i < q.started);

describe('validateRequest', () => {
  // 3 pieces of 32 KiB and a last one of 1000 bytes.
  const g: PieceGeometry = { length: 3 * 2 * BLOCK + 1000, pieceLength: 2 * BLOCK, pieceCount: 4 };

  it('accepts a range inside a piece, up to maxLength', () => {
    expect(validateRequest(g, req(0, 0), BLOCK)).toEqual({ verdict: 'ok' });
    expect(validateRequest(g, req(2, BLOCK), BLOCK)).toEqual({ verdict: 'ok' });
    expect(validateRequest(g, req(3, 0, 1000), BLOCK)).toEqual({ verdict: 'ok' });
    expect(validateRequest(g, req(3, 999, 1), BLOCK)).toEqual({ verdict: 'ok' });
  });

  it('rejects a valid request longer than maxLength', () => {
    expect(validateRequest(g, req(0, 0, 2 * BLOCK), BLOCK)).toEqual({ verdict: 'reject' });
    expect(validateRequest(g, req(0, 0, BLOCK), BLOCK - 1)).toEqual({ verdict: 'reject' });
  });

  it('calls a range outside the torrent a protocol error, naming it', () => {
    for (const r of [
      req(4, 0), // no such piece
      req(-1, 0),
      req(0, BLOCK + 1), // past the end of the piece
      req(3, 0, 1001), // past the end of the short last piece
      req(0, 0, 0), // empty
      req(0, -1, 1),
      req(0.5, 0),
    ]) {
      const v = validateRequest(g, r, BLOCK);
      expect(v.verdict).toBe('error');
      if (v.verdict === 'error') expect(v.detail).toContain(`${r.index}:${r.begin}+${r.length}`);
    }
    // An out-of-range request is an error even when it is also too long.
    expect(validateRequest(g, req(3, 0, 2 * BLOCK), BLOCK).verdict).toBe('error');
  });
});

describe('enqueue and startReads', () => {
  it('starts the reads of a batch of requests as one command, up to MAX_READS under way', () => {
    const batch = Array.from({ length: MAX_READS + 1 }, (_, i) => req(i, 0));
    const e = add(emptyUploads, batch);
    expect(e.read).toEqual(read(...batch.slice(0, MAX_READS)));
    expect(e.queue.reads).toBe(MAX_READS);
    expect(e.queue.queued).toHaveLength(MAX_READS + 1);
    expect(e.queue.queued[MAX_READS]).toEqual(req(MAX_READS, 0));
    expect(e.queue.started).toBe(MAX_READS);
    expect(startReads(e.queue)).toEqual({ queue: e.queue, read: undefined });
    expect(emptyUploads).toEqual({ queued: [], started: 0, reads: 0, congested: false }); // never mutated
  });

  it('queues without reading: enqueue starts nothing, startReads everything it may', () => {
    let q = emptyUploads;
    for (let i = 0; i < 3; i++) q = enqueue(q, [req(i, 0)]);
    expect(q.reads).toBe(0);
    expect(q.started).toBe(0);
    expect(startReads(q).read).toEqual(read(req(0, 0), req(1, 0), req(2, 0)));
    expect(enqueue(q, [])).toBe(q);
  });

  it('has room for maxQueued requests in all; none once they are queued', () => {
    expect(queueRoom(emptyUploads, 3)).toBe(3);
    const q = add(emptyUploads, [req(0, 0), req(1, 0)], 3).queue;
    expect(queueRoom(q, 3)).toBe(1);
    expect(queueRoom(add(q, req(2, 0), 3).queue, 3)).toBe(0);
    expect(queueRoom(q, 1)).toBe(0);
    expect(queueRoom(emptyUploads, 0)).toBe(0);
  });

  it('copies only the request fields into the queue and the read', () => {
    const r = { index: 1, begin: 0, length: BLOCK, type: 'wire.request', at: 5 } as BlockRequest;
    const e = add(emptyUploads, r);
    expect(e.queue.queued).toEqual([{ index: 1, begin: 0, length: BLOCK }]);
    expect(e.queue.started).toBe(1);
    expect(e.read).toEqual(read(req(1, 0)));
  });

  it('reads nothing while congested, and everything it may once drained (one command)', () => {
    let q = setCongested(emptyUploads, true).queue;
    expect(q.congested).toBe(true);
    for (let i = 0; i < MAX_READS + 2; i++) {
      const e = add(q, req(i, 0));
      expect(e.read).toBeUndefined();
      q = e.queue;
    }
    expect(q.reads).toBe(0);
    const d = setCongested(q, false);
    expect(d.read).toEqual(read(...Array.from({ length: MAX_READS }, (_, i) => req(i, 0))));
    expect(d.queue.reads).toBe(MAX_READS);
    expect(d.queue.congested).toBe(false);
    expect(readingOf(d.queue)).toEqual([...Array<boolean>(MAX_READS).fill(true), false, false]);
    // Congested again: nothing new starts, and the reads under way stay counted.
    const c = setCongested(d.queue, true);
    expect(c.read).toBeUndefined();
    expect(c.queue.reads).toBe(MAX_READS);
  });
});

describe('readsDone', () => {
  it('takes the requests out of the queue and starts the next reads as one command', () => {
    const q = add(
      emptyUploads,
      Array.from({ length: MAX_READS + 3 }, (_, i) => req(i, 0)),
    ).queue;
    const d = readsDone(q, [req(3, 0), req(5, 0)]);
    expect(d.found).toEqual([true, true]);
    expect(d.read).toEqual(read(req(MAX_READS, 0), req(MAX_READS + 1, 0)));
    expect(d.queue.reads).toBe(MAX_READS);
    expect(d.queue.queued).toHaveLength(MAX_READS + 1);
    expect(d.queue.queued.some((r) => r.index === 3 || r.index === 5)).toBe(false);
  });

  it('says found: false for a request cancelled or dropped while it was read', () => {
    let q = add(emptyUploads, [req(0, 0), req(1, 0), req(2, 0)]).queue;
    q = cancelUpload(q, req(0, 0));
    expect(q.reads).toBe(3); // the read under way is still counted
    const d = readsDone(q, [req(0, 0), req(2, 0)]);
    expect(d.found).toEqual([false, true]);
    expect(d.queue.reads).toBe(1);
    expect(d.queue.queued).toEqual([req(1, 0)]);
    expect(d.queue.started).toBe(1);
    const dropped = dropAll(d.queue).queue;
    const e = readsDone(dropped, [req(1, 0)]);
    expect(e).toEqual({
      queue: { queued: [], started: 0, reads: 0, congested: false },
      found: [false],
      read: undefined,
    });
  });

  it('lets a read of a cancelled request answer the same request asked again (same bytes, read once)', () => {
    let q = add(emptyUploads, req(0, 0)).queue;
    q = cancelUpload(q, req(0, 0));
    q = setCongested(q, true).queue;
    q = add(q, req(0, 0)).queue; // a second copy, not read (congested)
    const d = readsDone(q, [req(0, 0)]);
    // The finished read was of the cancelled copy; its bytes serve the copy asked again, not read twice.
    expect(d.found).toEqual([true]);
    expect(d.queue.queued).toEqual([]);
    expect(d.queue.reads).toBe(0);
  });

  it('starts no read while congested', () => {
    let q = add(
      emptyUploads,
      Array.from({ length: MAX_READS + 1 }, (_, i) => req(i, 0)),
    ).queue;
    q = setCongested(q, true).queue;
    const d = readsDone(q, [req(0, 0)]);
    expect(d.found).toEqual([true]);
    expect(d.read).toBeUndefined();
    expect(d.queue.reads).toBe(MAX_READS - 1);
    expect(setCongested(d.queue, false).read).toEqual(read(req(MAX_READS, 0)));
  });

  it('never counts the reads below zero', () => {
    expect(readsDone(emptyUploads, [req(0, 0), req(1, 0)])).toEqual({
      queue: emptyUploads,
      found: [false, false],
      read: undefined,
    });
  });
});

describe('cancelUpload and dropAll', () => {
  it('cancels the first queued copy of a request; an unknown one changes nothing', () => {
    let q = setCongested(emptyUploads, true).queue;
    q = add(q, req(0, 0)).queue;
    q = add(q, req(1, 0)).queue;
    q = add(q, req(0, 0)).queue;
    const c = cancelUpload(q, req(0, 0));
    expect(c.queued).toEqual([req(1, 0), req(0, 0)]);
    expect(c.started).toBe(0);
    expect(cancelUpload(q, req(0, 0, 100))).toBe(q);
    expect(cancelUpload(q, req(5, 0))).toBe(q);
  });

  it('drops every queued request, returning them as plain requests', () => {
    let q = add(emptyUploads, req(0, 0)).queue;
    q = add(q, req(1, BLOCK, 100)).queue;
    const d = dropAll(q);
    expect(d.dropped).toEqual([req(0, 0), req(1, BLOCK, 100)]);
    expect(d.queue).toEqual({ queued: [], started: 0, reads: 2, congested: false });
    expect(dropAll(emptyUploads).dropped).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property

/** A small block space, so requests repeat. */
const KEYS: BlockRequest[] = [];
for (let index = 0; index < 4; index++) for (const begin of [0, BLOCK, 2 * BLOCK]) KEYS.push(req(index, begin));
const keyOf = (r: BlockRequest): number =>
  KEYS.findIndex((k) => k.index === r.index && k.begin === r.begin && k.length === r.length);

type Op =
  | { t: 'request'; key: number; times: number }
  | { t: 'answer'; i: number; n: number }
  | { t: 'cancel'; key: number }
  | { t: 'drop' }
  | { t: 'congested'; on: boolean };

const keyArb = fc.nat({ max: KEYS.length - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('request' as const),
      key: keyArb,
      times: fc.oneof(
        { weight: 4, arbitrary: fc.constant(1) },
        { weight: 1, arbitrary: fc.integer({ min: 2, max: 30 }) },
      ),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({ t: fc.constant('answer' as const), i: fc.nat(), n: fc.integer({ min: 1, max: 5 }) }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cancel' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.constant({ t: 'drop' as const }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('congested' as const), on: fc.boolean() }) },
);

describe('upload queue property', () => {
  it('bounds reads and the queue, reads only what is queued, and finds exactly what is still queued', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), fc.integer({ min: 1, max: 40 }), (ops, maxQueued) => {
        let q = emptyUploads;
        // The model: the queue (key, being read), the reads under way (keys), congestion.
        let queued: { key: number; reading: boolean }[] = [];
        const underWay: number[] = [];
        let congested = false;
        const fail = (what: string, detail: unknown) => expect({ [what]: detail }).toBeUndefined();
        /** Checks the reads asked for against the model (before they are marked), then marks them. */
        const started = (read: BlockReadCommand | undefined) => {
          if (!read) return;
          if (congested) fail('read while congested', read);
          if (read.type !== 'upload.read' || read.blocks.length === 0) fail('an empty read command', read);
          for (const r of read.blocks) {
            const k = keyOf(r);
            const entry = queued.find((e) => e.key === k && !e.reading);
            if (!entry) fail('read of a request not queued or already read', r);
            entry!.reading = true;
            underWay.push(k);
          }
        };
        for (const op of ops) {
          if (op.t === 'request') {
            // A batch of `times` requests (one socket read), then the reads it allows, as one command.
            const room = queueRoom(q, maxQueued);
            if (room !== Math.max(0, maxQueued - queued.length)) fail('room', { room, queued: queued.length });
            const fit = Math.min(op.times, room);
            const e = enqueue(
              q,
              Array.from({ length: fit }, () => KEYS[op.key]!),
            );
            if (e.reads !== q.reads || e.started !== q.started) fail('enqueue started a read', e);
            for (let n = 0; n < fit; n++) queued.push({ key: op.key, reading: false });
            q = e;
            const s = startReads(q);
            started(s.read);
            q = s.queue;
          } else if (op.t === 'answer') {
            // One reader answer: up to `n` of the reads under way, in any order.
            if (underWay.length === 0) continue;
            const done: number[] = [];
            for (let n = 0; n < op.n && underWay.length > 0; n++)
              done.push(underWay.splice((op.i + n) % underWay.length, 1)[0]!);
            const d = readsDone(
              q,
              done.map((k) => ({ ...KEYS[k]! })),
            );
            done.forEach((k, j) => {
              const i = queued.findIndex((e) => e.key === k);
              if (d.found[j] !== i >= 0) fail('found', { found: d.found[j], queued: i >= 0 });
              if (i >= 0) queued.splice(i, 1);
            });
            started(d.read);
            q = d.queue;
          } else if (op.t === 'cancel') {
            q = cancelUpload(q, KEYS[op.key]!);
            const i = queued.findIndex((e) => e.key === op.key);
            if (i >= 0) queued.splice(i, 1);
          } else if (op.t === 'drop') {
            const d = dropAll(q);
            if (d.dropped.map(keyOf).join() !== queued.map((e) => e.key).join()) fail('dropped', d.dropped);
            queued = [];
            q = d.queue;
          } else {
            congested = op.on;
            const d = setCongested(q, op.on);
            started(d.read);
            q = d.queue;
          }
          // The queue is the model's, and the bounds hold.
          const have = q.queued.map((e, i) => `${keyOf(e)}${i < q.started ? 'r' : ''}`).join();
          const want = queued.map((e) => `${e.key}${e.reading ? 'r' : ''}`).join();
          if (have !== want) expect(have).toBe(want);
          if (q.reads !== underWay.length) fail('reads', { counted: q.reads, underWay: underWay.length });
          if (q.reads > MAX_READS) fail('more than MAX_READS', q.reads);
          if (q.queued.length > maxQueued) fail('more than maxQueued', q.queued.length);
          if (q.congested !== congested) fail('congested', q.congested);
          // Reads start whenever they may.
          if (!congested && q.reads < MAX_READS && q.started < q.queued.length) fail('a read could start', q);
        }
      }),
      propertyOptions,
    );
  });
});
