/**
 * Properties of the MSE/PE responder (src/protocol/mse.ts). The Diffie-Hellman work is done once: the
 * responder gets a fixed key pair and the initiator a fixed secret, so each case exercises the framing
 * (pads, IA, payload, SKEY among several torrents, arbitrary chunking) and the RC4 streams, not BigInt
 * arithmetic.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyOptions } from '../support/fc.js';
import { BtError } from '../../src/protocol/errors.js';
import {
  CRYPTO_PLAINTEXT,
  MSE_KEY_LENGTH,
  MSE_MAX_HANDSHAKE_BYTES,
  MSE_SYNC_WINDOW,
  MseResponder,
  Rc4,
  createMseKeyExchange,
  type MseKeyExchange,
  type MseStep,
} from '../../src/protocol/mse.js';
import { initiatorStep3, readStep4 } from '../support/mse-initiator.js';

// One key exchange for every case.
const fixedRandom = (seed: number) => (n: number) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed * 131 + i * 197 + 1) & 0xff;
  return out;
};
const responderKx = createMseKeyExchange(fixedRandom(1));
const initiatorKx = createMseKeyExchange(fixedRandom(2));
const YA = initiatorKx.publicKey;
const SECRET = initiatorKx.secret(responderKx.publicKey);
/** The responder's pair, with the secret for YA computed once (any other Ya: a fixed stand-in, no BigInt). */
const cachedKx: MseKeyExchange = {
  publicKey: responderKx.publicKey,
  secret: (ya) => (Buffer.from(ya).equals(Buffer.from(YA)) ? SECRET : SECRET.map((b) => b ^ 0x5a)),
};

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function chunked(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

interface Fed {
  steps: MseStep[];
  sent: Buffer;
  /** Bytes pushed up to and including the chunk that ended the handshake. */
  pushed: number;
  maxBuffered: number;
}

function feed(responder: MseResponder, chunks: Uint8Array[]): Fed {
  const steps: MseStep[] = [];
  const sent: Uint8Array[] = [];
  let pushed = 0;
  let maxBuffered = 0;
  for (const c of chunks) {
    const step = responder.push(c);
    pushed += c.length;
    steps.push(step);
    sent.push(...(step.send ?? []));
    if (step.done || step.error) break;
    maxBuffered = Math.max(maxBuffered, responder.buffered);
  }
  return { steps, sent: Buffer.concat(sent), pushed, maxBuffered };
}

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const hash20 = fc.uint8Array({ minLength: 20, maxLength: 20 });
const cuts = fc.array(fc.nat({ max: 4000 }), { maxLength: 12 });

describe('RC4', () => {
  it('is one keystream whatever the chunking, and its own inverse', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        bytes(600),
        cuts,
        fc.nat({ max: 1100 }),
        (key, data, cs, discard) => {
          const whole = new Rc4(key, discard).process(data);
          const inParts = new Rc4(key, discard);
          expect(hex(Buffer.concat(chunked(data, cs).map((c) => inParts.process(c))))).toBe(hex(whole));
          expect(hex(new Rc4(key, discard).process(whole))).toBe(hex(data));
        },
      ),
      propertyOptions,
    );
  });
});

describe('MseResponder', () => {
  const handshakeArb = fc.record({
    padA: bytes(512),
    padC: bytes(512),
    ia: bytes(120),
    payload: bytes(120),
    provide: fc.oneof(
      fc.constantFrom(1, 3),
      fc.integer({ min: 0, max: 0xffffffff }).map((n) => (n | 1) >>> 0),
    ),
    others: fc.array(hash20, { maxLength: 3 }),
    position: fc.nat(),
    cuts,
    padB: fc.nat({ max: 512 }),
  });

  it('completes under arbitrary chunking: the right torrent, plaintext selected, IA + payload, bounded buffering', () => {
    fc.assert(
      fc.property(handshakeArb, hash20, (h, target) => {
        fc.pre(!h.others.some((o) => Buffer.from(o).equals(Buffer.from(target))));
        const list = [...h.others];
        list.splice(h.position % (list.length + 1), 0, target);
        const responder = new MseResponder({
          infoHashes: () => list,
          random: fixedRandom(3),
          keyExchange: cachedKx,
          padBLength: h.padB,
        });
        const s3 = initiatorStep3(SECRET, { infoHash: target, provide: h.provide, padC: h.padC, ia: h.ia });
        const stream = Buffer.concat([YA, h.padA, s3.bytes, h.payload]);
        const fed = feed(responder, chunked(stream, h.cuts));
        const end = fed.steps.at(-1)!;
        const done = end.done;
        // IA, then whatever of the payload came in the same chunk as the end of step 3 (IA is part of step 3).
        const handshakeEnd = YA.length + h.padA.length + s3.bytes.length;
        // The responder sent Yb, PadB, then step 4 (plaintext, no PadD), and nothing else.
        const s4 = readStep4(fed.sent.subarray(MSE_KEY_LENGTH), s3.decrypt);
        // One comparison per case (expect() is costly at 10,000 runs).
        expect({
          error: end.error?.code,
          infoHash: done && hex(done.infoHash),
          method: done?.method,
          cryptoProvide: done?.cryptoProvide,
          initialPayload: done && hex(done.initialPayload),
          bytesRead: responder.bytesRead,
          withinBound: responder.bytesRead <= MSE_MAX_HANDSHAKE_BYTES && fed.maxBuffered < MSE_SYNC_WINDOW,
          yb: hex(fed.sent.subarray(0, MSE_KEY_LENGTH)),
          s4,
          sent: fed.sent.length,
        }).toEqual({
          error: undefined,
          infoHash: hex(target),
          method: 'plaintext',
          cryptoProvide: h.provide,
          initialPayload: hex(Buffer.concat([h.ia, stream.subarray(handshakeEnd, fed.pushed)])),
          bytesRead: handshakeEnd,
          withinBound: true,
          yb: hex(responderKx.publicKey),
          s4: { select: CRYPTO_PLAINTEXT, padDLength: 0, end: h.padB + 14 },
          sent: MSE_KEY_LENGTH + h.padB + 14,
        });
      }),
      propertyOptions,
    );
  });

  it('turns random bytes into nothing but a typed error, by Ya + 532 bytes, never holding more', () => {
    fc.assert(
      fc.property(bytes(1200), cuts, (garbage, cs) => {
        const responder = new MseResponder({ infoHashes: () => [], random: fixedRandom(4), keyExchange: cachedKx });
        let ended: MseStep | undefined;
        let completed = false;
        let maxBuffered = 0;
        for (const c of chunked(garbage, cs)) {
          const step = responder.push(c);
          if (step.done) completed = true;
          if (step.error) {
            ended = step;
            break;
          }
          maxBuffered = Math.max(maxBuffered, responder.buffered);
        }
        const long = garbage.length >= MSE_KEY_LENGTH + MSE_SYNC_WINDOW;
        expect({
          completed,
          typed: ended ? ended.error instanceof BtError : undefined,
          code: ended?.error?.code,
          // Ya only: the window was searched, not consumed.
          bytesRead: responder.bytesRead,
          heldLessThanWindow: maxBuffered < MSE_SYNC_WINDOW,
        }).toEqual({
          completed: false,
          typed: long ? true : undefined,
          code: long ? 'BT_ERR_MSE_SYNC' : undefined,
          bytesRead: garbage.length >= MSE_KEY_LENGTH ? MSE_KEY_LENGTH : 0,
          heldLessThanWindow: true,
        });
      }),
      propertyOptions,
    );
  });

  it('a handshake with one byte changed ends in a typed error or still completes for the right torrent, within the bound', () => {
    fc.assert(
      fc.property(handshakeArb, hash20, fc.nat(), fc.integer({ min: 1, max: 255 }), (h, target, where, flip) => {
        const responder = new MseResponder({
          infoHashes: () => [...h.others, target],
          random: fixedRandom(5),
          keyExchange: cachedKx,
        });
        const s3 = initiatorStep3(SECRET, { infoHash: target, provide: h.provide, padC: h.padC, ia: h.ia });
        const stream = Buffer.concat([YA, h.padA, s3.bytes]);
        stream[where % stream.length]! ^= flip;
        let result: MseStep | undefined;
        try {
          result = feed(responder, chunked(stream, h.cuts)).steps.at(-1);
        } catch (err) {
          throw new Error(`not a typed error: ${String(err)}`);
        }
        const t = result?.done && Buffer.from(result.done.infoHash);
        const ok =
          responder.bytesRead <= MSE_MAX_HANDSHAKE_BYTES &&
          (result?.error
            ? result.error instanceof BtError && /^BT_ERR_MSE_(KEY|SYNC|SKEY|VC|PAD|METHOD)$/.test(result.error.code)
            : !t || t.equals(Buffer.from(target)) || h.others.some((o) => t.equals(Buffer.from(o))));
        if (!ok) expect.fail(`unexpected end: ${result?.error?.code ?? 'done'}, ${responder.bytesRead} bytes read`);
      }),
      propertyOptions,
    );
  });
});
