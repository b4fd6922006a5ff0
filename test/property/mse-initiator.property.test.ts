/**
 * Properties of the MSE/PE initiator (src/protocol/mse.ts) against the responder of the same module:
 * whatever the chunking of either direction, the pads, IA and the methods offered and allowed, both
 * sides agree on the method and carry the payload both ways (RC4 or plaintext); garbage from a
 * "responder" ends in a typed error within the initiator's byte bound. The key pairs are fixed (made
 * once); each case still computes its shared secret on both sides.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { propertyOptions } from '../support/fc.js';
import { BtError } from '../../src/protocol/errors.js';
import {
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
  MSE_KEY_LENGTH,
  MSE_MAX_INITIATOR_BYTES,
  MSE_VC_WINDOW,
  MseInitiator,
  MseResponder,
  createMseKeyExchange,
  type MseInitiatorStep,
  type MseStep,
} from '../../src/protocol/mse.js';

const fixedRandom = (seed: number) => (n: number) => {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seed * 131 + i * 197 + 1) & 0xff;
  return out;
};
const initiatorKx = createMseKeyExchange(fixedRandom(7));
const responderKx = createMseKeyExchange(fixedRandom(8));

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex') : b);
const concat = (parts: Uint8Array[]) => Buffer.concat(parts);

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

/**
 * Pushes the chunks (each a copy: the parsers may keep them) until done or error: what was sent back,
 * and the chunks that came after the end (payload the caller reads on its own).
 */
function feed<S extends MseStep | MseInitiatorStep>(push: (c: Uint8Array) => S, chunks: Uint8Array[]) {
  const sent: Uint8Array[] = [];
  let last: S | undefined;
  let i = 0;
  while (i < chunks.length) {
    last = push(chunks[i++]!.slice());
    sent.push(...(last.send ?? []));
    if (last.done || last.error) break;
  }
  return { last, sent: concat(sent), after: concat(chunks.slice(i)) };
}

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
const cuts = fc.array(fc.nat({ max: 2000 }), { maxLength: 10 });
const infoHash = fc.uint8Array({ minLength: 20, maxLength: 20 });

describe('MseInitiator ↔ MseResponder', () => {
  it('agree on the method the policies allow and carry both payloads, under any chunking', () => {
    fc.assert(
      fc.property(
        fc.record({
          infoHash,
          provide: fc.constantFrom(CRYPTO_PLAINTEXT, CRYPTO_RC4, CRYPTO_PLAINTEXT | CRYPTO_RC4),
          allowPlaintext: fc.boolean(),
          allowRc4: fc.boolean(),
          ia: bytes(100),
          padA: fc.nat({ max: 512 }),
          padB: fc.nat({ max: 512 }),
          padC: fc.nat({ max: 512 }),
          fromA: bytes(300),
          fromB: bytes(300),
          cuts: fc.array(cuts, { minLength: 4, maxLength: 4 }),
        }),
        (h) => {
          const a = new MseInitiator({
            infoHash: h.infoHash,
            random: fixedRandom(1),
            provide: h.provide,
            initialPayload: h.ia,
            padALength: h.padA,
            padCLength: h.padC,
            keyExchange: initiatorKx,
          });
          const b = new MseResponder({
            infoHashes: () => [h.infoHash],
            random: fixedRandom(2),
            allowPlaintext: h.allowPlaintext,
            allowRc4: h.allowRc4,
            padBLength: h.padB,
            keyExchange: responderKx,
          });
          const expected =
            h.provide & CRYPTO_PLAINTEXT && h.allowPlaintext
              ? 'plaintext'
              : h.provide & CRYPTO_RC4 && h.allowRc4
                ? 'rc4'
                : undefined;
          // 1 A → B: Ya, PadA. 2 B → A: Yb, PadB. 3 A → B: step 3 with IA. 4 B → A: step 4, then B's payload.
          const s1 = feed((c) => b.push(c), chunked(a.start(), h.cuts[0]!));
          const s2 = feed((c) => a.push(c), chunked(s1.sent, h.cuts[1]!));
          const s3 = feed((c) => b.push(c), chunked(s2.sent, h.cuts[2]!));
          const bDone = s3.last?.done;
          const bOut = bDone?.ciphers ? bDone.ciphers.encrypt.process(h.fromB) : h.fromB;
          const s4 = feed((c) => a.push(c), chunked(concat([s3.sent, bOut]), h.cuts[3]!));
          const aDone = s4.last?.done;
          const aGot =
            aDone && concat([aDone.initialPayload, aDone.ciphers ? aDone.ciphers.decrypt.process(s4.after) : s4.after]);
          // A's payload after the handshake, read by B.
          const aOut = aDone?.ciphers ? aDone.ciphers.encrypt.process(h.fromA) : h.fromA;
          const bRead = bDone?.ciphers ? bDone.ciphers.decrypt.process(aOut) : aOut;
          expect({
            responderError: s3.last?.error?.code ?? s1.last?.error?.code,
            bMethod: bDone?.method,
            aMethod: aDone?.method,
            bInfoHash: hex(bDone?.infoHash),
            ia: hex(bDone?.initialPayload),
            aReceived: hex(aGot),
            bReceived: aDone && hex(bRead),
            // What crossed the wire is not the payload itself when RC4 runs.
            encryptedOnWire: aDone?.method === 'rc4' && h.fromA.length > 8 ? hex(aOut) !== hex(h.fromA) : undefined,
            withinBound: a.bytesRead <= MSE_MAX_INITIATOR_BYTES,
          }).toEqual({
            responderError: expected ? undefined : 'BT_ERR_MSE_METHOD',
            bMethod: expected,
            aMethod: expected,
            bInfoHash: expected && hex(h.infoHash),
            ia: expected && hex(h.ia),
            aReceived: expected && hex(h.fromB),
            bReceived: expected && hex(h.fromA),
            encryptedOnWire: expected === 'rc4' && h.fromA.length > 8 ? true : undefined,
            withinBound: true,
          });
        },
      ),
      propertyOptions,
    );
  });

  it('a responder for another torrent never completes the initiator: B fails with BT_ERR_MSE_SKEY', () => {
    fc.assert(
      fc.property(infoHash, infoHash, cuts, (asked, served, cs) => {
        fc.pre(hex(asked) !== hex(served));
        const a = new MseInitiator({ infoHash: asked, random: fixedRandom(3), provide: 3, keyExchange: initiatorKx });
        const b = new MseResponder({ infoHashes: () => [served], random: fixedRandom(4), keyExchange: responderKx });
        const s1 = feed((c) => b.push(c), [a.start()]);
        const s2 = feed((c) => a.push(c), chunked(s1.sent, cs));
        const s3 = feed((c) => b.push(c), [s2.sent]);
        expect([s3.last?.error?.code, s3.sent.length, a.bytesRead]).toEqual(['BT_ERR_MSE_SKEY', 0, MSE_KEY_LENGTH]);
      }),
      propertyOptions,
    );
  });
});

describe('MseInitiator on garbage', () => {
  it('random bytes as the reply end in a typed error by Yb + 520 bytes, never past the bound', () => {
    fc.assert(
      fc.property(bytes(1500), cuts, (garbage, cs) => {
        const a = new MseInitiator({
          infoHash: new Uint8Array(20),
          random: fixedRandom(5),
          provide: 3,
          keyExchange: initiatorKx,
        });
        a.start();
        let end: MseInitiatorStep | undefined;
        let threw: unknown;
        try {
          end = feed((c) => a.push(c), chunked(garbage, cs)).last;
        } catch (err) {
          threw = err;
        }
        const ok =
          threw === undefined &&
          !end?.done &&
          a.bytesRead <= MSE_MAX_INITIATOR_BYTES &&
          (end?.error
            ? end.error instanceof BtError && /^BT_ERR_MSE_(KEY|SYNC)$/.test(end.error.code)
            : garbage.length < MSE_KEY_LENGTH + MSE_VC_WINDOW);
        if (!ok)
          expect.fail(`unexpected: ${String(threw ?? end?.error?.code ?? 'no end')} after ${garbage.length} bytes`);
      }),
      propertyOptions,
    );
  });

  it('a reply with one byte changed ends in a typed error or completes with a method offered', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(CRYPTO_RC4, CRYPTO_PLAINTEXT | CRYPTO_RC4),
        fc.nat({ max: 512 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (provide, padB, where, flip) => {
          const ih = new Uint8Array(20).fill(9);
          const a = new MseInitiator({ infoHash: ih, random: fixedRandom(6), provide, keyExchange: initiatorKx });
          const b = new MseResponder({
            infoHashes: () => [ih],
            random: fixedRandom(7),
            allowRc4: true,
            padBLength: padB,
            keyExchange: responderKx,
          });
          const s1 = feed((c) => b.push(c), [a.start()]);
          const yb = s1.sent;
          const s2 = feed((c) => a.push(c), [yb]);
          const step4 = feed((c) => b.push(c), [s2.sent]).sent;
          // A fresh initiator with the same keys sees the same bytes, one of them changed.
          const a2 = new MseInitiator({ infoHash: ih, random: fixedRandom(6), provide, keyExchange: initiatorKx });
          a2.start();
          const reply = Buffer.concat([yb, step4]);
          reply[where % reply.length]! ^= flip;
          const end = feed((c) => a2.push(c), [reply]).last;
          const ok =
            a2.bytesRead <= MSE_MAX_INITIATOR_BYTES &&
            (end?.error
              ? /^BT_ERR_MSE_(KEY|SYNC|METHOD|PAD)$/.test(end.error.code)
              : end?.done
                ? (end.done.method === 'rc4' ? CRYPTO_RC4 : CRYPTO_PLAINTEXT) & provide
                : true);
          if (!ok) expect.fail(`unexpected end: ${end?.error?.code ?? (end?.done ? 'done' : 'waiting')}`);
        },
      ),
      propertyOptions,
    );
  });
});
