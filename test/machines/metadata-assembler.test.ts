import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  MAX_STRUCK,
  METADATA_BACKOFF_MS,
  METADATA_REQUEST_TIMEOUT_MS,
  MetadataAssembler,
  type MetadataAssemblerOptions,
} from '../../src/machines/torrent/metadata-assembler.js';
import { MAX_METADATA_SIZE, METADATA_PIECE_SIZE, UtMetadataError } from '../../src/protocol/ut-metadata.js';

const sha1 = (b: Uint8Array): Uint8Array => createHash('sha1').update(b).digest();
const P = METADATA_PIECE_SIZE;

/** An "info dictionary" of `size` bytes (any bytes do: only the hash is checked here). */
function info(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}
const piece = (bytes: Uint8Array, i: number): Uint8Array => bytes.subarray(i * P, Math.min(bytes.length, (i + 1) * P));

function setup(size: number, options: Partial<MetadataAssemblerOptions> = {}) {
  const meta = info(size);
  const asm = new MetadataAssembler({ infoHash: sha1(meta), metadataSize: size, sha1, ...options });
  return { meta, asm };
}

const code = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (err) {
    if (err instanceof UtMetadataError) return err.code;
    throw err;
  }
  return undefined;
};

describe('MetadataAssembler', () => {
  it('refuses a size over the cap, or not a positive integer, and a wrong info hash, with typed errors', () => {
    const base = { infoHash: new Uint8Array(20), sha1 };
    expect(code(() => new MetadataAssembler({ ...base, metadataSize: MAX_METADATA_SIZE + 1 }))).toBe(
      'BT_ERR_UT_METADATA_TOO_LARGE',
    );
    expect(code(() => new MetadataAssembler({ ...base, metadataSize: 5 * P, maxMetadataSize: 4 * P }))).toBe(
      'BT_ERR_UT_METADATA_TOO_LARGE',
    );
    for (const bad of [0, -1, 1.5, NaN, Infinity])
      expect(code(() => new MetadataAssembler({ ...base, metadataSize: bad }))).toBe('BT_ERR_UT_METADATA_SIZE');
    expect(code(() => new MetadataAssembler({ ...base, infoHash: new Uint8Array(32), metadataSize: 1 }))).toBe(
      'BT_ERR_UT_METADATA_OPTIONS',
    );
    expect(code(() => new MetadataAssembler({ ...base, metadataSize: 1, requestTimeoutMs: 0 }))).toBe(
      'BT_ERR_UT_METADATA_OPTIONS',
    );
    // The cap itself is allowed: 1024 pieces.
    const max = new MetadataAssembler({ ...base, metadataSize: MAX_METADATA_SIZE });
    expect(max.pieceCount).toBe(1024);
  });

  it('spreads pieces over several peers at once, each up to its request limit, and assembles them', () => {
    const { meta, asm } = setup(4 * P + 100, { maxRequestsPerPeer: 2 }); // 5 pieces, the last of 100 bytes
    expect(asm.pieceCount).toBe(5);
    expect([asm.next('a', 0), asm.next('b', 0), asm.next('c', 0)]).toEqual([0, 1, 2]);
    expect([asm.next('a', 0), asm.next('b', 0), asm.next('c', 0)]).toEqual([3, 4, null]);
    expect(asm.next('a', 0)).toBeNull(); // a has 2 in flight
    expect(asm.requestsOf('a')).toBe(2);
    // Answers in any order.
    expect(asm.received('b', 4, piece(meta, 4), 1)).toEqual({ kind: 'accepted', received: 1, total: 5 });
    expect(asm.received('a', 3, piece(meta, 3), 1)).toEqual({ kind: 'accepted', received: 2, total: 5 });
    expect(asm.requestsOf('a')).toBe(1);
    expect(asm.received('c', 2, piece(meta, 2), 1)).toMatchObject({ kind: 'accepted', received: 3 });
    expect(asm.received('a', 0, piece(meta, 0), 2)).toMatchObject({ kind: 'accepted', received: 4 });
    const done = asm.received('b', 1, piece(meta, 1), 2);
    expect(done.kind).toBe('complete');
    if (done.kind === 'complete') expect(Buffer.from(done.info).equals(meta)).toBe(true);
    expect(asm.complete).toBe(true);
    expect(asm.next('c', 3)).toBeNull();
    expect(asm.received('c', 0, piece(meta, 0), 3)).toEqual({ kind: 'ignored' });
  });

  it('copies what it receives: the view may be reused by the caller', () => {
    const { meta, asm } = setup(P + 1);
    asm.next('a', 0);
    asm.next('a', 0);
    const chunk = piece(meta, 0).slice();
    asm.received('a', 0, chunk, 0);
    chunk.fill(0); // the socket chunk is reused
    const done = asm.received('a', 1, piece(meta, 1), 0);
    expect(done.kind).toBe('complete');
  });

  it('after a reject the piece is wanted again and the peer left alone for the backoff', () => {
    const { meta, asm } = setup(2 * P);
    expect(asm.next('a', 0)).toBe(0);
    expect(asm.rejected('a', 0, 1_000)).toBe(true);
    expect(asm.requestsOf('a')).toBe(0);
    expect(asm.rejected('a', 0, 1_000)).toBe(false); // not in flight any more
    expect(asm.rejected('b', 1, 1_000)).toBe(false); // never asked
    expect(asm.next('a', 1_000 + METADATA_BACKOFF_MS - 1)).toBeNull();
    expect(asm.next('b', 1_001)).toBe(0);
    expect(asm.next('a', 1_000 + METADATA_BACKOFF_MS)).toBe(1);
    expect(asm.received('b', 0, piece(meta, 0), 2_000).kind).toBe('accepted');
    expect(asm.received('a', 1, piece(meta, 1), 2_000).kind).toBe('complete');
  });

  it('re-requests a piece after a timeout, and still takes the late answer of the peer that timed out', () => {
    const { meta, asm } = setup(2 * P, { requestTimeoutMs: 5_000, backoffMs: 20_000 });
    expect(asm.nextDeadline()).toBeUndefined();
    expect(asm.next('slow', 0)).toBe(0);
    expect(asm.next('slow', 100)).toBe(1);
    expect(asm.nextDeadline()).toBe(5_000);
    expect(asm.expire(4_999)).toEqual([]);
    expect(asm.expire(5_000)).toEqual([{ peer: 'slow', piece: 0 }]);
    expect(asm.nextDeadline()).toBe(5_100);
    expect(asm.requestsOf('slow')).toBe(1);
    expect(asm.next('slow', 5_000)).toBeNull(); // backing off
    expect(asm.next('fast', 5_000)).toBe(0); // re-requested elsewhere
    // The slow peer's late answer arrives first: taken; the fast peer's copy is then ignored.
    expect(asm.received('slow', 0, piece(meta, 0), 5_050)).toMatchObject({ kind: 'accepted', received: 1 });
    expect(asm.requestsOf('fast')).toBe(0);
    expect(asm.received('fast', 0, piece(meta, 0), 5_060)).toEqual({ kind: 'ignored' });
    expect(asm.expire(5_100)).toEqual([{ peer: 'slow', piece: 1 }]);
    expect(asm.nextDeadline()).toBeUndefined();
    expect(asm.next('fast', 5_100)).toBe(1);
    expect(asm.received('fast', 1, piece(meta, 1), 5_200).kind).toBe('complete');
  });

  it('a hash mismatch strikes every peer that sent a piece and wants every piece again', () => {
    const { meta, asm } = setup(3 * P);
    asm.next('liar', 0);
    asm.next('honest', 0);
    asm.next('other', 0);
    expect(asm.received('liar', 0, new Uint8Array(P).fill(9), 1).kind).toBe('accepted');
    expect(asm.received('honest', 1, piece(meta, 1), 1).kind).toBe('accepted');
    const r = asm.received('other', 2, piece(meta, 2), 1);
    expect(r).toEqual({ kind: 'corrupt', peers: ['liar', 'honest', 'other'] });
    expect(asm.receivedPieces).toBe(0);
    for (const p of ['liar', 'honest', 'other']) {
      expect(asm.isStruck(p)).toBe(true);
      expect(asm.next(p, 2)).toBeNull();
      expect(asm.requestsOf(p)).toBe(0);
    }
    // A fresh peer refetches all of it.
    const fresh = [asm.next('fresh', 3), asm.next('fresh', 3)];
    expect(fresh).toEqual([0, 1]);
    expect(asm.received('fresh', 0, piece(meta, 0), 4).kind).toBe('accepted');
    expect(asm.received('fresh', 1, piece(meta, 1), 4).kind).toBe('accepted');
    expect(asm.next('fresh', 4)).toBe(2);
    expect(asm.received('liar', 2, piece(meta, 2), 4)).toEqual({ kind: 'ignored' }); // struck
    expect(asm.received('fresh', 2, piece(meta, 2), 4).kind).toBe('complete');
  });

  it('a single peer that sends wrong metadata is the only one struck', () => {
    const { meta, asm } = setup(100);
    expect(asm.pieceCount).toBe(1);
    expect(asm.next('bad', 0)).toBe(0);
    expect(asm.next('good', 0)).toBeNull(); // the one piece is in flight
    expect(asm.received('bad', 0, info(100, 2), 1)).toEqual({ kind: 'corrupt', peers: ['bad'] });
    expect(asm.isStruck('good')).toBe(false);
    expect(asm.next('good', 1)).toBe(0);
    const r = asm.received('good', 0, meta, 2);
    expect(r.kind).toBe('complete');
  });

  it('ignores unsolicited and duplicate pieces, and calls wrong lengths and indices invalid', () => {
    const { meta, asm } = setup(2 * P + 5);
    expect(asm.received('a', 0, piece(meta, 0), 0)).toEqual({ kind: 'ignored' }); // not asked
    asm.next('a', 0);
    expect(asm.received('b', 0, piece(meta, 0), 0)).toEqual({ kind: 'ignored' }); // asked of a
    expect(asm.received('a', 0, piece(meta, 0).subarray(1), 0)).toEqual({ kind: 'invalid' });
    expect(asm.received('a', 3, new Uint8Array(5), 0)).toEqual({ kind: 'invalid' });
    expect(asm.received('a', -1, piece(meta, 0), 0)).toEqual({ kind: 'invalid' });
    expect(asm.received('a', 0.5, piece(meta, 0), 0)).toEqual({ kind: 'invalid' });
    expect(asm.requestsOf('a')).toBe(1); // still in flight
    expect(asm.received('a', 0, piece(meta, 0), 0).kind).toBe('accepted');
    expect(asm.received('a', 0, piece(meta, 0), 0)).toEqual({ kind: 'ignored' }); // duplicate
    expect(asm.next('a', 0)).toBe(1);
    expect(asm.next('a', 0)).toBe(2);
    expect(asm.received('a', 2, new Uint8Array(P), 0)).toEqual({ kind: 'invalid' }); // the last is 5 bytes
    expect(asm.receivedPieces).toBe(1);
  });

  it('a peer that leaves gives its requests back; the pieces it sent stay, with its name on them', () => {
    const { meta, asm } = setup(3 * P, { maxRequestsPerPeer: 3 });
    expect([asm.next('gone', 0), asm.next('gone', 0), asm.next('gone', 0)]).toEqual([0, 1, 2]);
    asm.received('gone', 0, new Uint8Array(P), 1); // a bad piece
    asm.peerGone('gone');
    expect(asm.requestsOf('gone')).toBe(0);
    expect(asm.received('gone', 1, piece(meta, 1), 2)).toEqual({ kind: 'ignored' });
    expect([asm.next('b', 2), asm.next('b', 2)]).toEqual([1, 2]);
    asm.received('b', 1, piece(meta, 1), 3);
    expect(asm.received('b', 2, piece(meta, 2), 3)).toEqual({ kind: 'corrupt', peers: ['gone', 'b'] });
  });

  it('remembers at most MAX_STRUCK struck peers', () => {
    const { asm } = setup(1);
    for (let i = 0; i <= MAX_STRUCK; i++) {
      expect(asm.next(`p${i}`, i)).toBe(0);
      expect(asm.received(`p${i}`, 0, Uint8Array.of(0), i)).toEqual({ kind: 'corrupt', peers: [`p${i}`] });
    }
    expect(asm.isStruck('p0')).toBe(false); // the oldest forgotten
    expect(asm.isStruck(`p${MAX_STRUCK}`)).toBe(true);
  });

  it('with honest peers that reject, time out, leave and answer in any order, always completes right', () => {
    type Step =
      | { t: 'next'; peer: number }
      | { t: 'answer'; which: number }
      | { t: 'reject'; which: number }
      | { t: 'gone'; peer: number }
      | { t: 'tick'; ms: number };
    const stepArb: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ t: fc.constant('next' as const), peer: fc.nat(3) }) },
      { weight: 4, arbitrary: fc.record({ t: fc.constant('answer' as const), which: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('reject' as const), which: fc.nat() }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('gone' as const), peer: fc.nat(3) }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.nat(METADATA_REQUEST_TIMEOUT_MS) }) },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 * P }), fc.array(stepArb, { maxLength: 80 }), (size, steps) => {
        const { meta, asm } = setup(size);
        let now = 0;
        const inFlight: { peer: string; piece: number }[] = []; // what each peer was asked and owes
        const run = (s: Step): void => {
          switch (s.t) {
            case 'next': {
              const peer = `p${s.peer}`;
              const i = asm.next(peer, now);
              if (i !== null) inFlight.push({ peer, piece: i });
              break;
            }
            case 'answer':
            case 'reject': {
              if (inFlight.length === 0) break;
              const [{ peer, piece: i }] = inFlight.splice(s.which % inFlight.length, 1) as [
                { peer: string; piece: number },
              ];
              if (s.t === 'reject') asm.rejected(peer, i, now);
              else {
                const r = asm.received(peer, i, piece(meta, i), now);
                expect(r.kind).not.toBe('invalid');
                expect(r.kind).not.toBe('corrupt');
              }
              break;
            }
            case 'gone':
              asm.peerGone(`p${s.peer}`);
              for (let k = inFlight.length - 1; k >= 0; k--)
                if (inFlight[k]!.peer === `p${s.peer}`) inFlight.splice(k, 1);
              break;
            case 'tick':
              now += s.ms;
              asm.expire(now);
              break;
          }
          // Requests in flight never exceed the pieces not yet received.
          let total = 0;
          for (let p = 0; p < 4; p++) total += asm.requestsOf(`p${p}`);
          expect(total).toBeLessThanOrEqual(asm.pieceCount - asm.receivedPieces);
        };
        for (const s of steps) run(s);
        // Then everyone answers promptly: it completes, with the right bytes.
        for (let round = 0; !asm.complete && round < 4 * asm.pieceCount + 10; round++) {
          now += METADATA_BACKOFF_MS;
          asm.expire(now);
          for (let p = 0; p < 4; p++) {
            const peer = `p${p}`;
            for (let i = asm.next(peer, now); i !== null; i = asm.next(peer, now)) inFlight.push({ peer, piece: i });
          }
          while (inFlight.length > 0) {
            const { peer, piece: i } = inFlight.shift()!;
            const r = asm.received(peer, i, piece(meta, i), now);
            if (r.kind === 'complete') expect(Buffer.from(r.info).equals(meta)).toBe(true);
          }
        }
        expect(asm.complete).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
