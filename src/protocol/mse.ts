/**
 * Message Stream Encryption / Protocol Encryption (MSE/PE, the Vuze/Azureus specification): both
 * sides of the handshake ({@link MseInitiator}, peer A; {@link MseResponder}, peer B) as incremental
 * parsers with no I/O, and the RC4 stream cipher of the payload.
 *
 *   1  A → B  Ya, PadA
 *   2  B → A  Yb, PadB
 *   3  A → B  HASH('req1', S), HASH('req2', SKEY) xor HASH('req3', S),
 *             ENCRYPT(VC, crypto_provide, len(PadC), PadC, len(IA)), ENCRYPT(IA)
 *   4  B → A  ENCRYPT(VC, crypto_select, len(PadD), PadD)
 *   5  A ↔ B  payload stream (plaintext, or still RC4 when crypto_select is RC4)
 *
 * Y = G^X mod P (96 bytes, big-endian, left-padded), S = the DH secret (96 bytes), SKEY = the info
 * hash, HASH = SHA-1. ENCRYPT is RC4 keyed HASH('keyA', S, SKEY) from A to B and HASH('keyB', S, SKEY)
 * from B to A, both with the first 1024 bytes of keystream discarded.
 *
 * Every failure is a typed {@link BtError} (`BT_ERR_MSE_*`); the responder never reads more than
 * {@link MSE_MAX_HANDSHAKE_BYTES}, the initiator never more than {@link MSE_MAX_INITIATOR_BYTES}, before
 * it is done or has failed. It computes, never does I/O:
 * `node:crypto`'s SHA-1 and its native Diffie-Hellman (randomness is injected).
 */
import { equalBytes } from './bytes.js';
import { createDiffieHellman, createHash, type DiffieHellman } from 'node:crypto';
import { BtError } from './errors.js';

/** The 768-bit MSE prime P. */
export const MSE_PRIME = BigInt(
  '0xFFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A63A36210000000000090563',
);
/** The generator G. */
export const MSE_GENERATOR = 2n;
/** Bytes of a public key (Ya, Yb) and of the secret S. */
export const MSE_KEY_LENGTH = 96;
/** Bytes of a private key X: 160 bits (the spec asks for at least 128; beyond 180 adds nothing). */
export const MSE_PRIVATE_KEY_LENGTH = 20;
/** Verification constant: 8 zero bytes. A fresh copy each call, so nobody can alter the constant. */
export const mseVc = (): Uint8Array => new Uint8Array(8);
/** crypto_provide / crypto_select bits. */
export const CRYPTO_PLAINTEXT = 0x01;
export const CRYPTO_RC4 = 0x02;
/** Maximum length of PadA, PadB, PadC and PadD. */
export const MSE_MAX_PAD = 512;
/** Bytes of RC4 keystream discarded before use. */
export const MSE_RC4_DISCARD = 1024;
/** Most bytes the responder reads before the handshake ends (IA is at most 65535 bytes: uint16 length). */
export const MSE_MAX_HANDSHAKE_BYTES = MSE_KEY_LENGTH + MSE_MAX_PAD + 20 + 20 + 8 + 4 + 2 + MSE_MAX_PAD + 2 + 0xffff;
/** Bytes after Ya in which HASH('req1', S) must be found: PadA (≤ 512) and the hash itself. */
export const MSE_SYNC_WINDOW = MSE_MAX_PAD + 20;
/** Bytes after Yb in which the encrypted VC must be found: PadB (≤ 512) and VC itself. */
export const MSE_VC_WINDOW = MSE_MAX_PAD + 8;
/** Most bytes the initiator reads before the handshake ends: Yb, PadB, VC, crypto_select, len(PadD), PadD. */
export const MSE_MAX_INITIATOR_BYTES = MSE_KEY_LENGTH + MSE_MAX_PAD + 8 + 4 + 2 + MSE_MAX_PAD;
/** Largest initial payload (IA) step 3 can carry: its length is a uint16. */
export const MSE_MAX_IA = 0xffff;

/**
 * The encryption policy of a client, for both directions:
 * - `prefer`: dial with MSE offering RC4 and plaintext (the responder chooses), dial again in plaintext
 *   when the key exchange fails; accept plaintext and MSE (plaintext chosen when both are offered);
 * - `require`: dial only with MSE offering RC4 only; accept only MSE with an RC4 payload stream;
 * - `plaintext`: dial in plaintext; accept plaintext, and MSE with a plaintext payload stream only.
 */
export type EncryptionPolicy = 'prefer' | 'require' | 'plaintext';
export const ENCRYPTION_POLICIES: readonly EncryptionPolicy[] = ['prefer', 'require', 'plaintext'];

// ---------------------------------------------------------------------------------------------
// Primitives

/** SHA-1 of the concatenation of `parts` (strings as ASCII). */
export function mseHash(...parts: (string | Uint8Array)[]): Uint8Array {
  const h = createHash('sha1');
  for (const p of parts) h.update(typeof p === 'string' ? Buffer.from(p, 'latin1') : p);
  return new Uint8Array(h.digest());
}

/** RC4 (a.k.a. ARC4). `discard` bytes of keystream are dropped at once (MSE uses 1024). */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array, discard = 0) {
    if (key.length < 1 || key.length > 256)
      throw new BtError('BT_ERR_MSE_RC4_KEY', `RC4 key length ${key.length} is not 1–256`);
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + s[k]! + key[k % key.length]!) & 0xff;
      const t = s[k]!;
      s[k] = s[j]!;
      s[j] = t;
    }
    this.skip(discard);
  }

  /** Advances the keystream by `n` bytes without producing output. */
  skip(n: number): void {
    const s = this.s;
    let { i, j } = this;
    for (let k = 0; k < n; k++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]!) & 0xff;
      const t = s[i]!;
      s[i] = s[j]!;
      s[j] = t;
    }
    this.i = i;
    this.j = j;
  }

  /** Encrypts or decrypts `input` (the same operation) into a new array; `input` is not changed. */
  process(input: Uint8Array): Uint8Array {
    return this.processInto(input, new Uint8Array(input.length));
  }

  /** Encrypts or decrypts `data` in place (a read buffer that is ours), and returns it. */
  processInPlace(data: Uint8Array): Uint8Array {
    return this.processInto(data, data);
  }

  private processInto(input: Uint8Array, out: Uint8Array): Uint8Array {
    const s = this.s;
    let { i, j } = this;
    const n = input.length;
    for (let k = 0; k < n; k++) {
      i = (i + 1) & 0xff;
      const si = s[i]!;
      j = (j + si) & 0xff;
      const sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      out[k] = input[k]! ^ s[(si + sj) & 0xff]!;
    }
    this.i = i;
    this.j = j;
    return out;
  }
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex === '' ? 0n : BigInt(`0x${hex}`);
}

/** `n` as `length` big-endian bytes, left-padded with zeros (n must fit). */
export function bigIntToBytes(n: bigint, length: number): Uint8Array {
  const hex = n.toString(16).padStart(length * 2, '0');
  if (hex.length > length * 2) throw new RangeError(`${hex.length / 2} bytes do not fit in ${length}`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

export function modPow(base: bigint, exponent: bigint, modulus: bigint): bigint {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    e >>= 1n;
    b = (b * b) % modulus;
  }
  return result;
}

/** One side's Diffie-Hellman key pair for MSE. */
export interface MseKeyExchange {
  /** Y = G^X mod P, 96 bytes. */
  publicKey: Uint8Array;
  /** S = Ypeer^X mod P, 96 bytes. Throws BT_ERR_MSE_KEY for a public key outside 2 … P−2. */
  secret(peerPublicKey: Uint8Array): Uint8Array;
}

/**
 * One Diffie-Hellman object for every exchange: node:crypto's native modular exponentiation (~0.05 ms
 * per step here, against ~0.3–0.4 ms in BigInt on the main thread — what a flood of MSE openers costs).
 * Made at the first exchange (checking the prime costs ~20 ms once); each call sets its own private key
 * and computes synchronously, so exchanges never see each other's keys.
 */
let sharedDh: DiffieHellman | undefined;
const dh = (): DiffieHellman =>
  (sharedDh ??= createDiffieHellman(Buffer.from(bigIntToBytes(MSE_PRIME, MSE_KEY_LENGTH)), Buffer.from([2])));

/** `bytes` as exactly `length` big-endian bytes (OpenSSL drops leading zeros). */
function leftPad(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length === length) return new Uint8Array(bytes);
  const out = new Uint8Array(length);
  out.set(bytes, length - bytes.length);
  return out;
}

/** A fresh key pair from `random` (160-bit private key). */
export function createMseKeyExchange(random: (n: number) => Uint8Array): MseKeyExchange {
  let x = bytesToBigInt(random(MSE_PRIVATE_KEY_LENGTH));
  if (x < 2n) x += 2n;
  const priv = Buffer.from(bigIntToBytes(x, MSE_PRIVATE_KEY_LENGTH));
  const d = dh();
  d.setPrivateKey(priv);
  const publicKey = leftPad(d.generateKeys(), MSE_KEY_LENGTH);
  return {
    publicKey,
    secret(peerPublicKey) {
      const y = bytesToBigInt(peerPublicKey);
      if (peerPublicKey.length !== MSE_KEY_LENGTH || y < 2n || y > MSE_PRIME - 2n) {
        throw new BtError(
          'BT_ERR_MSE_KEY',
          'the peer’s Diffie-Hellman public key is out of range (not an MSE key exchange)',
        );
      }
      const shared = dh();
      shared.setPrivateKey(priv);
      return leftPad(shared.computeSecret(peerPublicKey), MSE_KEY_LENGTH);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Byte queue: chunks as they came, copied only when taken

class ByteQueue {
  private chunks: Uint8Array[] = [];
  /** Offset into chunks[0]. */
  private offset = 0;
  length = 0;

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** A copy of the first `n` bytes (n ≤ length). */
  peek(n: number): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let offset = this.offset;
    for (const c of this.chunks) {
      if (filled === n) break;
      const part = c.subarray(offset, offset + (n - filled));
      out.set(part, filled);
      filled += part.length;
      offset = 0;
    }
    return out;
  }

  skip(n: number): void {
    this.length -= n;
    while (n > 0) {
      const first = this.chunks[0]!;
      const available = first.length - this.offset;
      if (n < available) {
        this.offset += n;
        return;
      }
      n -= available;
      this.chunks.shift();
      this.offset = 0;
    }
  }

  take(n: number): Uint8Array {
    const out = this.peek(n);
    this.skip(n);
    return out;
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The responder

export type MseMethod = 'plaintext' | 'rc4';

export interface MseResponderOptions {
  /** Info hashes (SKEY) this side serves; read once, when the initiator's SKEY hash arrives. */
  infoHashes: () => Iterable<Uint8Array>;
  /** Random bytes (private key, PadB). */
  random: (n: number) => Uint8Array;
  /**
   * Select RC4 for the payload stream when the initiator offers it but not plaintext (default false:
   * such a connection fails with BT_ERR_MSE_METHOD). Plaintext is preferred when offered and allowed.
   */
  allowRc4?: boolean;
  /**
   * Select a plaintext payload stream when offered (default true). False (policy `require`): only RC4
   * is selected, and an initiator that does not offer it fails with BT_ERR_MSE_METHOD.
   */
  allowPlaintext?: boolean;
  /** PadB's length, 0–512 (default: 0–15 random bytes). */
  padBLength?: number;
  /** The key pair to use (default: a fresh one from `random`); tests inject a precomputed one. */
  keyExchange?: MseKeyExchange;
}

export interface MseDone {
  /** The SKEY the initiator named: the info hash of a registered torrent. */
  infoHash: Uint8Array;
  method: MseMethod;
  /** The initiator's crypto_provide bits. */
  cryptoProvide: number;
  /** IA (decrypted) followed by every payload byte already received after it (decrypted for RC4). */
  initialPayload: Uint8Array;
  /** For `rc4`: the ciphers that go on for the payload stream (decrypt what A sends, encrypt what B sends). */
  ciphers?: { decrypt: Rc4; encrypt: Rc4 };
}

export interface MseStep {
  /** Bytes to write to the initiator, in order. */
  send?: Uint8Array[];
  /** The handshake is complete. */
  done?: MseDone;
  /** The handshake failed: close the connection. */
  error?: BtError;
}

/** The error of a push after the handshake ended. */
function handshakeOver(stage: 'done' | 'failed'): BtError {
  return new BtError('BT_ERR_MSE_STATE', `the MSE handshake has already ${stage === 'done' ? 'completed' : 'failed'}`);
}

/**
 * Runs a handshake's `advance` while it makes progress with what is buffered: the step, with the bytes
 * to send in order. A BtError thrown by `advance` ends the handshake (`fail`) and is the step's error.
 */
function driveHandshake<Done>(
  advance: (send: Uint8Array[]) => Done | 'wait' | 'next',
  fail: () => void,
): { send?: Uint8Array[]; done?: Done; error?: BtError } {
  const send: Uint8Array[] = [];
  const withSend = (step: { done?: Done; error?: BtError }) => (send.length > 0 ? { send, ...step } : step);
  try {
    for (;;) {
      const r = advance(send);
      if (r === 'wait') break;
      if (r !== 'next') return withSend({ done: r });
    }
  } catch (err) {
    if (!(err instanceof BtError)) throw err;
    fail();
    return withSend({ error: err });
  }
  return withSend({});
}

type Stage = 'ya' | 'sync' | 'skey' | 'header' | 'padC' | 'iaLength' | 'ia' | 'done' | 'failed';

/**
 * The MSE responder (peer B). Feed it every byte the initiator sends with {@link push}, write what
 * each step returns in `send`, and stop at the first `done` or `error`.
 */
export class MseResponder {
  private stage: Stage = 'ya';
  private readonly queue = new ByteQueue();
  private secret: Uint8Array = new Uint8Array(0);
  private req1: Uint8Array = new Uint8Array(0);
  private infoHash: Uint8Array = new Uint8Array(0);
  private decrypt: Rc4 | undefined;
  private encrypt: Rc4 | undefined;
  private provide = 0;
  private method: MseMethod = 'plaintext';
  private padCLength = 0;
  private iaLength = 0;
  /** Handshake bytes consumed so far (not counting what is buffered). */
  private consumed = 0;

  constructor(private readonly options: MseResponderOptions) {}

  /** Bytes held waiting for the rest of a field (never more than the field being read needs). */
  get buffered(): number {
    return this.queue.length;
  }

  /** Handshake bytes read so far; never exceeds {@link MSE_MAX_HANDSHAKE_BYTES}. */
  get bytesRead(): number {
    return this.consumed;
  }

  push(chunk: Uint8Array): MseStep {
    if (this.stage === 'done' || this.stage === 'failed') return { error: handshakeOver(this.stage) };
    this.queue.push(chunk);
    return driveHandshake(
      (send) => this.advance(send),
      () => (this.stage = 'failed'),
    );
  }

  /** Whether the current stage can make progress with what is buffered. */
  private ready(): boolean {
    const n = this.queue.length;
    switch (this.stage) {
      case 'ya':
        return n >= MSE_KEY_LENGTH;
      case 'sync':
        return n >= 20;
      case 'skey':
        return n >= 20;
      case 'header':
        return n >= 14;
      case 'padC':
        return n >= this.padCLength;
      case 'iaLength':
        return n >= 2;
      case 'ia':
        return n >= this.iaLength;
      default:
        return false;
    }
  }

  private take(n: number): Uint8Array {
    this.consumed += n;
    return this.queue.take(n);
  }

  /**
   * Runs the current stage: `wait` when it needs more bytes, `next` when it moved on, the result once
   * the handshake is complete.
   */
  private advance(send: Uint8Array[]): MseDone | 'wait' | 'next' {
    if (!this.ready()) return 'wait';
    switch (this.stage) {
      case 'ya': {
        const ya = this.take(MSE_KEY_LENGTH);
        const kx = this.options.keyExchange ?? createMseKeyExchange(this.options.random);
        this.secret = kx.secret(ya);
        this.req1 = mseHash('req1', this.secret);
        const padLength = Math.min(
          MSE_MAX_PAD,
          Math.max(0, this.options.padBLength ?? this.options.random(1)[0]! & 0x0f),
        );
        send.push(concatBytes([kx.publicKey, this.options.random(padLength).subarray(0, padLength)]));
        this.stage = 'sync';
        return 'next';
      }
      case 'sync': {
        // HASH('req1', S) follows PadA (≤ 512 bytes): look for it in the first 532 bytes only.
        const window = this.queue.peek(Math.min(this.queue.length, MSE_SYNC_WINDOW));
        const at = indexOf(window, this.req1);
        if (at >= 0) {
          this.take(at + 20);
          this.stage = 'skey';
        } else if (window.length >= MSE_SYNC_WINDOW) {
          throw new BtError(
            'BT_ERR_MSE_SYNC',
            `HASH('req1', S) not found within ${MSE_SYNC_WINDOW} bytes after Ya (not an MSE initiator, or a different key)`,
          );
        } else {
          return 'wait';
        }
        return 'next';
      }
      case 'skey': {
        const req2 = this.take(20);
        const req3 = mseHash('req3', this.secret);
        for (let i = 0; i < 20; i++) req2[i]! ^= req3[i]!;
        let found: Uint8Array | undefined;
        for (const ih of this.options.infoHashes()) {
          if (equalBytes(mseHash('req2', ih), req2)) {
            found = ih;
            break;
          }
        }
        if (!found)
          throw new BtError(
            'BT_ERR_MSE_SKEY',
            'the initiator asks for a torrent that is not served here (unknown SKEY)',
          );
        this.infoHash = new Uint8Array(found);
        this.decrypt = new Rc4(mseHash('keyA', this.secret, found), MSE_RC4_DISCARD);
        this.encrypt = new Rc4(mseHash('keyB', this.secret, found), MSE_RC4_DISCARD);
        this.stage = 'header';
        return 'next';
      }
      case 'header': {
        const h = this.decrypt!.process(this.take(14));
        if (!equalBytes(h.subarray(0, 8), mseVc()))
          throw new BtError('BT_ERR_MSE_VC', 'the verification constant did not decrypt to zeros');
        this.provide = u32(h, 8);
        this.padCLength = u16(h, 12);
        if (this.padCLength > MSE_MAX_PAD)
          throw new BtError('BT_ERR_MSE_PAD', `PadC of ${this.padCLength} bytes exceeds ${MSE_MAX_PAD}`);
        const plaintext = this.options.allowPlaintext ?? true;
        if (this.provide & CRYPTO_PLAINTEXT && plaintext) this.method = 'plaintext';
        else if (this.provide & CRYPTO_RC4 && this.options.allowRc4) this.method = 'rc4';
        else {
          const provide = `crypto_provide 0x${this.provide.toString(16)}`;
          throw new BtError(
            'BT_ERR_MSE_METHOD',
            this.provide & CRYPTO_RC4 && !this.options.allowRc4
              ? `the initiator offers only RC4 (${provide}); only a plaintext payload stream is served`
              : this.provide & CRYPTO_PLAINTEXT && !plaintext
                ? `the initiator offers no RC4 (${provide}); encryption is required`
                : `no supported crypto method offered (${provide})`,
          );
        }
        this.stage = 'padC';
        return 'next';
      }
      case 'padC':
        this.decrypt!.process(this.take(this.padCLength));
        this.stage = 'iaLength';
        return 'next';
      case 'iaLength':
        this.iaLength = u16(this.decrypt!.process(this.take(2)), 0);
        this.stage = 'ia';
        return 'next';
      case 'ia': {
        const ia = this.decrypt!.process(this.take(this.iaLength));
        const select = this.method === 'plaintext' ? CRYPTO_PLAINTEXT : CRYPTO_RC4;
        // VC, crypto_select, len(PadD) = 0.
        const step4 = new Uint8Array(14);
        step4[8] = (select >>> 24) & 0xff;
        step4[9] = (select >>> 16) & 0xff;
        step4[10] = (select >>> 8) & 0xff;
        step4[11] = select & 0xff;
        send.push(this.encrypt!.process(step4));
        let rest = this.queue.take(this.queue.length);
        if (this.method === 'rc4') rest = this.decrypt!.process(rest);
        this.stage = 'done';
        return {
          infoHash: this.infoHash,
          method: this.method,
          cryptoProvide: this.provide,
          initialPayload: concatBytes([ia, rest]),
          ...(this.method === 'rc4' && { ciphers: { decrypt: this.decrypt!, encrypt: this.encrypt! } }),
        };
      }
      default:
        return 'wait';
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The initiator

export interface MseInitiatorOptions {
  /** SKEY: the info hash of the torrent asked for. */
  infoHash: Uint8Array;
  /** Random bytes (private key, PadA, PadC). */
  random: (n: number) => Uint8Array;
  /** crypto_provide: {@link CRYPTO_PLAINTEXT} and/or {@link CRYPTO_RC4} (the responder picks one). */
  provide: number;
  /**
   * IA, the initial payload sent (encrypted) within step 3: usually our BitTorrent handshake, which
   * saves a round trip. At most {@link MSE_MAX_IA} bytes.
   */
  initialPayload?: Uint8Array;
  /** PadA's length, 0–512 (default: 0–15 random bytes). */
  padALength?: number;
  /** PadC's length, 0–512 (default 0). */
  padCLength?: number;
  /** The key pair to use (default: a fresh one from `random`); tests inject a precomputed one. */
  keyExchange?: MseKeyExchange;
}

export interface MseInitiatorDone {
  /** What the responder selected. */
  method: MseMethod;
  /** Payload bytes received after step 4 (decrypted for RC4): usually the start of the peer's handshake. */
  initialPayload: Uint8Array;
  /** For `rc4`: the ciphers that go on for the payload stream (decrypt what B sends, encrypt what A sends). */
  ciphers?: { decrypt: Rc4; encrypt: Rc4 };
}

export interface MseInitiatorStep {
  /** Bytes to write to the responder, in order. */
  send?: Uint8Array[];
  /** The handshake is complete. */
  done?: MseInitiatorDone;
  /** The handshake failed: close the connection. */
  error?: BtError;
}

type InitiatorStage = 'start' | 'yb' | 'vc' | 'select' | 'padD' | 'done' | 'failed';

/**
 * The MSE initiator (peer A), the mirror of {@link MseResponder}. Write what {@link start} returns
 * (Ya, PadA), then feed every byte the responder sends with {@link push}, write what each step returns
 * in `send` (step 3, once Yb is here), and stop at the first `done` or `error`.
 *
 * @example
 * const a = new MseInitiator({ infoHash, random: (n) => randomBytes(n), provide: CRYPTO_RC4 | CRYPTO_PLAINTEXT });
 * socket.write(a.start());
 * socket.on('data', (chunk) => { const step = a.push(chunk); … });
 */
export class MseInitiator {
  private stage: InitiatorStage = 'start';
  private readonly queue = new ByteQueue();
  private kx: MseKeyExchange | undefined;
  private decrypt: Rc4 | undefined;
  private encrypt: Rc4 | undefined;
  private vcEncrypted: Uint8Array = new Uint8Array(0);
  private method: MseMethod = 'plaintext';
  private padDLength = 0;
  private consumed = 0;

  constructor(private readonly options: MseInitiatorOptions) {
    const ia = options.initialPayload?.length ?? 0;
    if (ia > MSE_MAX_IA) throw new BtError('BT_ERR_MSE_IA', `IA of ${ia} bytes exceeds ${MSE_MAX_IA}`);
    if ((options.provide & (CRYPTO_PLAINTEXT | CRYPTO_RC4)) === 0)
      throw new BtError('BT_ERR_MSE_METHOD', `crypto_provide 0x${options.provide.toString(16)} offers no method`);
  }

  /** Bytes held waiting for the rest of a field. */
  get buffered(): number {
    return this.queue.length;
  }

  /** Handshake bytes read so far; never exceeds {@link MSE_MAX_INITIATOR_BYTES}. */
  get bytesRead(): number {
    return this.consumed;
  }

  /** Step 1: Ya and PadA, to write first. */
  start(): Uint8Array {
    if (this.stage !== 'start') throw new BtError('BT_ERR_MSE_STATE', 'the MSE handshake has already started');
    this.kx = this.options.keyExchange ?? createMseKeyExchange(this.options.random);
    const padLength = Math.min(MSE_MAX_PAD, Math.max(0, this.options.padALength ?? this.options.random(1)[0]! & 0x0f));
    this.stage = 'yb';
    return concatBytes([this.kx.publicKey, this.options.random(padLength).subarray(0, padLength)]);
  }

  push(chunk: Uint8Array): MseInitiatorStep {
    if (this.stage === 'start')
      return { error: new BtError('BT_ERR_MSE_STATE', 'the MSE handshake has not started (call start first)') };
    if (this.stage === 'done' || this.stage === 'failed') return { error: handshakeOver(this.stage) };
    this.queue.push(chunk);
    return driveHandshake(
      (send) => this.advance(send),
      () => (this.stage = 'failed'),
    );
  }

  private take(n: number): Uint8Array {
    this.consumed += n;
    return this.queue.take(n);
  }

  private advance(send: Uint8Array[]): MseInitiatorDone | 'wait' | 'next' {
    const n = this.queue.length;
    switch (this.stage) {
      case 'yb': {
        if (n < MSE_KEY_LENGTH) return 'wait';
        const secret = this.kx!.secret(this.take(MSE_KEY_LENGTH));
        const skey = this.options.infoHash;
        this.encrypt = new Rc4(mseHash('keyA', secret, skey), MSE_RC4_DISCARD);
        this.decrypt = new Rc4(mseHash('keyB', secret, skey), MSE_RC4_DISCARD);
        // What VC looks like from B: the first 8 bytes of B's keystream (VC is zeros).
        this.vcEncrypted = this.decrypt.process(mseVc());
        const req2 = mseHash('req2', skey);
        const req3 = mseHash('req3', secret);
        for (let i = 0; i < 20; i++) req2[i]! ^= req3[i]!;
        const padC = Math.min(MSE_MAX_PAD, Math.max(0, this.options.padCLength ?? 0));
        const ia = this.options.initialPayload ?? new Uint8Array(0);
        const header = new Uint8Array(8 + 4 + 2 + padC + 2);
        const provide = this.options.provide >>> 0;
        header[8] = (provide >>> 24) & 0xff;
        header[9] = (provide >>> 16) & 0xff;
        header[10] = (provide >>> 8) & 0xff;
        header[11] = provide & 0xff;
        header[12] = (padC >>> 8) & 0xff;
        header[13] = padC & 0xff;
        header.set(this.options.random(padC).subarray(0, padC), 14);
        header[14 + padC] = (ia.length >>> 8) & 0xff;
        header[15 + padC] = ia.length & 0xff;
        send.push(concatBytes([mseHash('req1', secret), req2, this.encrypt.process(header), this.encrypt.process(ia)]));
        this.stage = 'vc';
        return 'next';
      }
      case 'vc': {
        // ENCRYPT(VC) follows PadB (≤ 512 bytes): look for it in the first 520 bytes only.
        const window = this.queue.peek(Math.min(n, MSE_VC_WINDOW));
        const at = indexOf(window, this.vcEncrypted);
        if (at >= 0) {
          this.take(at + 8);
          this.stage = 'select';
          return 'next';
        }
        if (window.length >= MSE_VC_WINDOW)
          throw new BtError(
            'BT_ERR_MSE_SYNC',
            `the encrypted verification constant not found within ${MSE_VC_WINDOW} bytes after Yb (not an MSE responder, or it does not serve this torrent)`,
          );
        return 'wait';
      }
      case 'select': {
        if (n < 6) return 'wait';
        const h = this.decrypt!.process(this.take(6));
        const select = u32(h, 0);
        this.padDLength = u16(h, 4);
        if (select === CRYPTO_PLAINTEXT && this.options.provide & CRYPTO_PLAINTEXT) this.method = 'plaintext';
        else if (select === CRYPTO_RC4 && this.options.provide & CRYPTO_RC4) this.method = 'rc4';
        else
          throw new BtError(
            'BT_ERR_MSE_METHOD',
            `the responder selected crypto 0x${select.toString(16)}, not one of those offered (0x${this.options.provide.toString(16)})`,
          );
        if (this.padDLength > MSE_MAX_PAD)
          throw new BtError('BT_ERR_MSE_PAD', `PadD of ${this.padDLength} bytes exceeds ${MSE_MAX_PAD}`);
        this.stage = 'padD';
        return 'next';
      }
      case 'padD': {
        if (n < this.padDLength) return 'wait';
        this.decrypt!.process(this.take(this.padDLength));
        let rest = this.queue.take(this.queue.length);
        if (this.method === 'rc4') rest = this.decrypt!.processInPlace(rest);
        this.stage = 'done';
        return {
          method: this.method,
          initialPayload: rest,
          ...(this.method === 'rc4' && { ciphers: { decrypt: this.decrypt!, encrypt: this.encrypt! } }),
        };
      }
      default:
        return 'wait';
    }
  }
}
