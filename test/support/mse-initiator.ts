/**
 * A minimal MSE/PE initiator (peer A) for the tests of src/protocol/mse.ts: builds steps 1 and 3 from
 * a known secret S and reads the responder's step 4. It uses only SHA-1 and the RC4 of the module
 * (checked against published test vectors separately), written from the specification.
 */
import { createHash } from 'node:crypto';
import { Rc4 } from '../../src/protocol/mse.js';

export const sha1 = (...parts: (string | Uint8Array)[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
  return h.digest();
};

const u16be = (n: number) => Buffer.from([(n >>> 8) & 0xff, n & 0xff]);
const u32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

export interface Step3Options {
  /** SKEY: the info hash asked for. */
  infoHash: Uint8Array;
  /** crypto_provide bits. */
  provide: number;
  padC?: Uint8Array;
  /** Initial payload (encrypted with the handshake's RC4 stream). */
  ia?: Uint8Array;
  /** Declared len(PadC) when it should differ from padC's real length (a lying initiator). */
  padCLength?: number;
  /** A different verification constant (a wrong key looks like this). */
  vc?: Uint8Array;
}

export interface Step3 {
  bytes: Buffer;
  /** A → B cipher, positioned after IA: encrypts an RC4 payload stream. */
  encrypt: Rc4;
  /** B → A cipher, fresh (after the 1024-byte discard): reads step 4. */
  decrypt: Rc4;
}

/** Step 3: HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S), ENCRYPT(VC, provide, len(PadC), PadC, len(IA), IA). */
export function initiatorStep3(secret: Uint8Array, o: Step3Options): Step3 {
  const req1 = sha1('req1', secret);
  const req2 = sha1('req2', o.infoHash);
  const req3 = sha1('req3', secret);
  const skeyHash = Buffer.alloc(20);
  for (let i = 0; i < 20; i++) skeyHash[i] = req2[i]! ^ req3[i]!;
  const encrypt = new Rc4(sha1('keyA', secret, o.infoHash), 1024);
  const decrypt = new Rc4(sha1('keyB', secret, o.infoHash), 1024);
  const padC = o.padC ?? new Uint8Array(0);
  const ia = o.ia ?? new Uint8Array(0);
  const plain = Buffer.concat([
    o.vc ?? Buffer.alloc(8),
    u32be(o.provide),
    u16be(o.padCLength ?? padC.length),
    padC,
    u16be(ia.length),
    ia,
  ]);
  return { bytes: Buffer.concat([req1, skeyHash, encrypt.process(plain)]), encrypt, decrypt };
}

export interface Step4 {
  select: number;
  padDLength: number;
  /** Bytes of `afterYb` up to the end of PadD (PadB, then step 4). */
  end: number;
}

/**
 * Reads step 4 from what the responder sent after Yb (PadB, then ENCRYPT(VC, crypto_select,
 * len(PadD), PadD)): finds the encrypted VC within 512 + 8 bytes, as an initiator must. Null when absent.
 */
export function readStep4(afterYb: Uint8Array, decrypt: Rc4): Step4 | null {
  const vcEnc = Buffer.from(decrypt.process(new Uint8Array(8)));
  const at = Buffer.from(afterYb)
    .subarray(0, 512 + 8)
    .indexOf(vcEnc);
  if (at < 0 || afterYb.length < at + 14) return null;
  const rest = Buffer.from(decrypt.process(afterYb.subarray(at + 8, at + 14)));
  const padDLength = rest.readUInt16BE(4);
  if (afterYb.length < at + 14 + padDLength) return null;
  decrypt.process(afterYb.subarray(at + 14, at + 14 + padDLength));
  return { select: rest.readUInt32BE(0), padDLength, end: at + 14 + padDLength };
}
