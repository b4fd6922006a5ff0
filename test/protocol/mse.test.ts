/**
 * MSE/PE responder (src/protocol/mse.ts): RC4 against published vectors, the key exchange against
 * node:crypto's Diffie-Hellman, complete handshakes against the test initiator (one push, byte by
 * byte, with IA and trailing payload, RC4 when allowed), and every refusal as its typed error within
 * the byte bounds of the specification.
 */
import { createDiffieHellman, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isBtError } from '../../src/protocol/errors.js';
import {
  CRYPTO_PLAINTEXT,
  CRYPTO_RC4,
  MSE_GENERATOR,
  MSE_KEY_LENGTH,
  MSE_MAX_HANDSHAKE_BYTES,
  MSE_PRIME,
  MSE_SYNC_WINDOW,
  MseResponder,
  Rc4,
  bigIntToBytes,
  createMseKeyExchange,
  modPow,
  mseHash,
  type MseResponderOptions,
  type MseStep,
} from '../../src/protocol/mse.js';
import { initiatorStep3, readStep4, sha1 } from '../support/mse-initiator.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const random = (n: number) => new Uint8Array(randomBytes(n));

describe('Rc4', () => {
  it.each([
    ['Key', 'Plaintext', 'bbf316e8d940af0ad3'],
    ['Wiki', 'pedia', '1021bf0420'],
    ['Secret', 'Attack at dawn', '45a01f645fc35b383552544b9bf5'],
  ])('key %s, plaintext %s → %s (no discard)', (key, plain, cipher) => {
    expect(hex(new Rc4(ascii(key)).process(ascii(plain)))).toBe(cipher);
    // Decryption is the same operation.
    expect(Buffer.from(new Rc4(ascii(key)).process(Buffer.from(cipher, 'hex'))).toString('latin1')).toBe(plain);
  });

  it('discards the first 1024 bytes of keystream when asked, and does not change its input', () => {
    const key = random(20);
    const data = random(300);
    const copy = new Uint8Array(data);
    const skipped = new Rc4(key);
    skipped.process(new Uint8Array(1024));
    expect(hex(new Rc4(key, 1024).process(data))).toBe(hex(skipped.process(data)));
    expect(data).toEqual(copy);
  });

  it('refuses an empty key with a typed error', () => {
    expect(() => new Rc4(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'BT_ERR_MSE_RC4_KEY' }));
  });
});

describe('the key exchange', () => {
  it('agrees with node:crypto Diffie-Hellman on the MSE prime (96-byte keys and secret)', () => {
    expect(MSE_PRIME.toString(16).length).toBe(192); // 768 bits
    const node = createDiffieHellman(bigIntToBytes(MSE_PRIME, 96), bigIntToBytes(MSE_GENERATOR, 1));
    const nodePub = node.generateKeys();
    const ours = createMseKeyExchange(random);
    expect(ours.publicKey.length).toBe(MSE_KEY_LENGTH);
    const s1 = ours.secret(new Uint8Array(Buffer.concat([Buffer.alloc(96 - nodePub.length), nodePub])));
    const s2 = node.computeSecret(ours.publicKey);
    expect(s1.length).toBe(96);
    expect(hex(s1)).toBe(Buffer.concat([Buffer.alloc(96 - s2.length), s2]).toString('hex'));
  });

  it('is the MSE arithmetic exactly: Y = 2^X mod P, S = Ypeer^X mod P, whatever other exchanges run between', () => {
    const xs = [
      new Uint8Array(20).fill(7),
      new Uint8Array(20).fill(0xfe),
      Uint8Array.from({ length: 20 }, (_, i) => i),
    ];
    const kxs = xs.map((x) => createMseKeyExchange(() => x));
    kxs.forEach((kx, i) => {
      const x = BigInt(`0x${hex(xs[i]!)}`);
      expect(hex(kx.publicKey)).toBe(hex(bigIntToBytes(modPow(MSE_GENERATOR, x, MSE_PRIME), 96)));
      const other = kxs[(i + 1) % kxs.length]!;
      const y = BigInt(`0x${hex(other.publicKey)}`);
      expect(hex(kx.secret(other.publicKey))).toBe(hex(bigIntToBytes(modPow(y, x, MSE_PRIME), 96)));
    });
  });

  it('refuses public keys outside 2 … P−2 with BT_ERR_MSE_KEY', () => {
    const kx = createMseKeyExchange(random);
    for (const y of [0n, 1n, MSE_PRIME - 1n, MSE_PRIME, (1n << 768n) - 1n]) {
      expect(() => kx.secret(bigIntToBytes(y, 96))).toThrow(expect.objectContaining({ code: 'BT_ERR_MSE_KEY' }));
    }
  });
});

// ---- handshakes ----

interface Run {
  steps: MseStep[];
  /** Everything the responder sent. */
  sent: Buffer;
  responder: MseResponder;
}

/** Feeds `stream` to a responder in chunks of `chunk` bytes, stopping at the first done/error. */
function feed(responder: MseResponder, stream: Uint8Array, chunk = stream.length || 1): Run {
  const steps: MseStep[] = [];
  const sent: Uint8Array[] = [];
  for (let at = 0; at < stream.length; at += chunk) {
    const step = responder.push(stream.subarray(at, at + chunk));
    steps.push(step);
    sent.push(...(step.send ?? []));
    if (step.done || step.error) break;
  }
  return { steps, sent: Buffer.concat(sent), responder };
}

const last = (r: Run) => r.steps.at(-1)!;

/**
 * A real initiator against a responder: step 1 with node:crypto DH, then (once Yb is back) step 3,
 * then anything in `after`. Returns the run and the initiator's view of step 4.
 */
function handshake(
  options: Partial<MseResponderOptions> & { infoHashes: () => Iterable<Uint8Array> },
  step3: Omit<Parameters<typeof initiatorStep3>[1], never>,
  o: { padA?: Uint8Array; after?: Uint8Array; chunk?: number } = {},
) {
  const responder = new MseResponder({ random, ...options });
  const dh = createDiffieHellman(bigIntToBytes(MSE_PRIME, 96), bigIntToBytes(MSE_GENERATOR, 1));
  const ya = dh.generateKeys();
  const first = feed(responder, Buffer.concat([Buffer.alloc(96 - ya.length), ya, o.padA ?? Buffer.alloc(0)]), o.chunk);
  expect(last(first).error).toBeUndefined();
  expect(first.sent.length).toBeGreaterThanOrEqual(96);
  const yb = first.sent.subarray(0, 96);
  const raw = dh.computeSecret(yb);
  const secret = Buffer.concat([Buffer.alloc(96 - raw.length), raw]);
  const s3 = initiatorStep3(secret, step3);
  const second = feed(responder, Buffer.concat([s3.bytes, o.after ?? Buffer.alloc(0)]), o.chunk);
  const sent = Buffer.concat([first.sent, second.sent]);
  return { run: second, sent, step4: () => readStep4(sent.subarray(96), s3.decrypt), s3, secret };
}

describe('MseResponder', () => {
  const target = random(20);
  const others = [random(20), random(20)];
  const infoHashes = () => [...others, target];
  const btHandshake = Buffer.concat([
    Buffer.from('\x13BitTorrent protocol', 'latin1'),
    Buffer.alloc(8),
    target,
    random(20),
  ]);

  it('completes with plaintext when offered (provide 0x03), IA = the BT handshake, payload after it', () => {
    const after = random(100);
    const { run, sent, step4 } = handshake(
      { infoHashes },
      { infoHash: target, provide: CRYPTO_PLAINTEXT | CRYPTO_RC4, padC: random(33), ia: btHandshake },
      { padA: random(200), after },
    );
    const done = last(run).done!;
    expect(done).toBeDefined();
    expect(hex(done.infoHash)).toBe(hex(target));
    expect(done.method).toBe('plaintext');
    expect(done.cryptoProvide).toBe(3);
    expect(done.ciphers).toBeUndefined();
    expect(hex(done.initialPayload)).toBe(hex(Buffer.concat([btHandshake, after])));
    // Step 4 as the initiator reads it: crypto_select plaintext, no PadD, nothing after it.
    const s4 = step4()!;
    expect(s4).toMatchObject({ select: CRYPTO_PLAINTEXT, padDLength: 0 });
    expect(96 + s4.end).toBe(sent.length);
    expect(s4.end - 14).toBeLessThanOrEqual(15); // PadB is short
    expect(run.responder.bytesRead).toBeLessThanOrEqual(MSE_MAX_HANDSHAKE_BYTES);
  });

  it('completes byte by byte with empty IA (WebTorrent’s way): initialPayload is what came after step 3', () => {
    const after = btHandshake.subarray(0, 30);
    const { run, step4 } = handshake(
      { infoHashes },
      { infoHash: target, provide: CRYPTO_PLAINTEXT | CRYPTO_RC4, padC: random(512) },
      { padA: random(512), after, chunk: 1 },
    );
    // One byte at a time, the handshake completes with the last byte of len(IA): `after` is not read yet.
    const done = last(run).done!;
    expect(done.initialPayload.length).toBe(0);
    expect(run.steps.slice(0, -1).every((s) => !s.done && !s.error)).toBe(true);
    expect(step4()).toMatchObject({ select: CRYPTO_PLAINTEXT, padDLength: 0 });
    // A later push is refused: the payload is the caller's to read from the socket now.
    expect(run.responder.push(after).error?.code).toBe('BT_ERR_MSE_STATE');
  });

  it('refuses an RC4-only initiator with BT_ERR_MSE_METHOD unless allowRc4, and then keeps the RC4 stream', () => {
    const refused = handshake({ infoHashes }, { infoHash: target, provide: CRYPTO_RC4 });
    expect(last(refused.run).error?.code).toBe('BT_ERR_MSE_METHOD');
    expect(last(refused.run).error?.message).toMatch(/only RC4/);

    const payload = random(64);
    const ia = random(10);
    const responder = new MseResponder({ infoHashes, random, allowRc4: true });
    const dh = createDiffieHellman(bigIntToBytes(MSE_PRIME, 96), bigIntToBytes(MSE_GENERATOR, 1));
    const ya = dh.generateKeys();
    const yb = Buffer.concat(responder.push(Buffer.concat([Buffer.alloc(96 - ya.length), ya])).send!).subarray(0, 96);
    const raw = dh.computeSecret(yb);
    const s3 = initiatorStep3(Buffer.concat([Buffer.alloc(96 - raw.length), raw]), {
      infoHash: target,
      provide: CRYPTO_RC4,
      ia,
    });
    const step = responder.push(Buffer.concat([s3.bytes, s3.encrypt.process(payload)]));
    expect(step.done?.method).toBe('rc4');
    expect(hex(step.done!.initialPayload)).toBe(hex(Buffer.concat([ia, payload])));
    // The ciphers go on: B's next bytes decrypt on A's side after step 4.
    const s4 = readStep4(Buffer.concat(step.send!), s3.decrypt)!;
    expect(s4.select).toBe(CRYPTO_RC4);
    const more = random(40);
    expect(hex(s3.decrypt.process(step.done!.ciphers!.encrypt.process(more)))).toBe(hex(more));
  });

  it('refuses crypto_provide 0 with BT_ERR_MSE_METHOD', () => {
    const { run } = handshake({ infoHashes }, { infoHash: target, provide: 0 });
    expect(last(run).error?.code).toBe('BT_ERR_MSE_METHOD');
  });

  it('refuses an unknown torrent (SKEY) with BT_ERR_MSE_SKEY, and when nothing is registered', () => {
    expect(last(handshake({ infoHashes }, { infoHash: random(20), provide: 3 }).run).error?.code).toBe(
      'BT_ERR_MSE_SKEY',
    );
    expect(last(handshake({ infoHashes: () => [] }, { infoHash: target, provide: 3 }).run).error?.code).toBe(
      'BT_ERR_MSE_SKEY',
    );
  });

  it('refuses a wrong verification constant (BT_ERR_MSE_VC) and PadC over 512 bytes (BT_ERR_MSE_PAD)', () => {
    expect(
      last(handshake({ infoHashes }, { infoHash: target, provide: 3, vc: Buffer.from([0, 0, 0, 0, 0, 0, 0, 1]) }).run)
        .error?.code,
    ).toBe('BT_ERR_MSE_VC');
    expect(last(handshake({ infoHashes }, { infoHash: target, provide: 3, padCLength: 513 }).run).error?.code).toBe(
      'BT_ERR_MSE_PAD',
    );
  });

  it('refuses PadA over 512 bytes: BT_ERR_MSE_SYNC as the 532nd byte after Ya arrives, not before', () => {
    const { run } = handshake({ infoHashes }, { infoHash: target, provide: 3 }, { padA: random(513), chunk: 1 });
    expect(last(run).error?.code).toBe('BT_ERR_MSE_SYNC');
    // The whole of PadA went in first (Ya and 513 bytes), then 19 bytes of the hash: 532 after Ya.
    expect(run.steps.length).toBe(MSE_SYNC_WINDOW - 513);
  });

  it('refuses garbage within the byte bound, holding no more than the sync window', () => {
    const responder = new MseResponder({ infoHashes, random });
    let pushed = 0;
    let error: MseStep['error'];
    const garbage = random(2000);
    garbage[0] = 0x01; // Ya well inside the range
    while (!error && pushed < garbage.length) {
      const step = responder.push(garbage.subarray(pushed, pushed + 7));
      pushed += 7;
      error = step.error;
      if (!error) expect(responder.buffered).toBeLessThan(MSE_SYNC_WINDOW);
    }
    expect(isBtError(error, 'BT_ERR_MSE_SYNC')).toBe(true);
    expect(pushed).toBeLessThanOrEqual(96 + MSE_SYNC_WINDOW + 7);
  });

  it('refuses a public key out of range with BT_ERR_MSE_KEY before sending anything', () => {
    const step = new MseResponder({ infoHashes, random }).push(new Uint8Array(96).fill(0xff));
    expect(step.error?.code).toBe('BT_ERR_MSE_KEY');
    expect(step.send).toBeUndefined();
  });

  it('derives the keys as the specification says (HASH = SHA-1 of the concatenation)', () => {
    const s = random(96);
    expect(hex(mseHash('keyA', s, target))).toBe(sha1('keyA', s, target).toString('hex'));
  });
});
