import { describe, it, expect } from 'vitest';
import { from } from 'rxjs';
import {
  DEFAULT_WIRE_LIMITS,
  HANDSHAKE_LENGTH,
  MessageId,
  WireError,
  decodeHandshake,
  decodeMessage,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  handshakeExtensions,
  isKnownMessageId,
  makeReserved,
  resolveLimits,
  type WireEvent,
  type WireLimits,
  type WireMessage,
} from '../../src/protocol/wire.js';
import { WireFramer } from '../../src/protocol/wire-framing.js';
import { frameWire } from '../../src/protocol/wire-framing-rx.js';

const hex = (s: string): Uint8Array =>
  Uint8Array.from(s.replace(/\s+/g, '').match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

const infoHash = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
const peerId = new TextEncoder().encode('-BA0001-abcdefghijkl');

function errorCode(buf: Uint8Array, limits: WireLimits = DEFAULT_WIRE_LIMITS): string | undefined {
  const r = decodeMessage(buf, 0, limits);
  if (r.kind !== 'error') return undefined;
  expect(r.error).toBeInstanceOf(WireError);
  return r.error.code;
}

function frameAll(chunks: Uint8Array[], options?: ConstructorParameters<typeof WireFramer>[0]): WireEvent[] {
  const framer = new WireFramer(options);
  const out: WireEvent[] = [];
  for (const c of chunks) framer.push(c, (e) => out.push(e));
  return out;
}

describe('handshake', () => {
  it('encodes the 68 bytes of BEP 3', () => {
    const bytes = encodeHandshake({ reserved: makeReserved({ extended: true, fast: true }), infoHash, peerId });
    expect(bytes.length).toBe(HANDSHAKE_LENGTH);
    expect(toHex(bytes.subarray(0, 20))).toBe('13' + Buffer.from('BitTorrent protocol').toString('hex'));
    expect(toHex(bytes.subarray(20, 28))).toBe('0000000000100004');
    expect(bytes.subarray(28, 48)).toEqual(infoHash);
    expect(bytes.subarray(48, 68)).toEqual(peerId);
  });

  it('reads and writes the extension bits (BEP 5, 6, 10, 52)', () => {
    expect(toHex(makeReserved({ dht: true, fast: true, extended: true }))).toBe('0000000000100005');
    expect(toHex(makeReserved({ fast: true, extended: true, v2: true }))).toBe('0000000000100014');
    expect(toHex(makeReserved())).toBe('0000000000000000');
    const ext = (dht: boolean, fast: boolean, extended: boolean, v2: boolean) => ({ dht, fast, extended, v2 });
    expect(handshakeExtensions(hex('0000000000100000'))).toEqual(ext(false, false, true, false));
    expect(handshakeExtensions(hex('0000000000000001'))).toEqual(ext(true, false, false, false));
    expect(handshakeExtensions(hex('0000000000000004'))).toEqual(ext(false, true, false, false));
    expect(handshakeExtensions(hex('0000000000000010'))).toEqual(ext(false, false, false, true));
    expect(handshakeExtensions(hex('ffffffffffefffff'))).toEqual(ext(true, true, false, true));
  });

  it('decodes, copying the fields', () => {
    const reserved = makeReserved({ dht: true });
    const bytes = encodeHandshake({ reserved, infoHash, peerId });
    const r = decodeHandshake(bytes);
    expect(r.kind).toBe('handshake');
    if (r.kind !== 'handshake') return;
    expect(r.consumed).toBe(68);
    expect(r.handshake).toEqual({ reserved, infoHash, peerId });
    expect(r.handshake.peerId.buffer).not.toBe(bytes.buffer);
  });

  it('asks for more bytes and fails at the first wrong byte', () => {
    const bytes = encodeHandshake({ reserved: makeReserved(), infoHash, peerId });
    expect(decodeHandshake(bytes.subarray(0, 30))).toEqual({ kind: 'need', bytes: 38 });
    expect(decodeHandshake(new Uint8Array(0))).toEqual({ kind: 'need', bytes: 68 });
    const badLen = decodeHandshake(Uint8Array.of(18));
    expect(badLen.kind === 'error' && badLen.error.code).toBe('BT_ERR_HANDSHAKE');
    const http = decodeHandshake(new TextEncoder().encode('GET / HTTP/1.1\r\n'));
    expect(http.kind === 'error' && http.error.code).toBe('BT_ERR_HANDSHAKE');
    const wrongPstr = Uint8Array.from(bytes);
    wrongPstr[5] = 0x74; // 'BitTtrrent'
    const r = decodeHandshake(wrongPstr.subarray(0, 6));
    expect(r.kind === 'error' && r.error.code).toBe('BT_ERR_HANDSHAKE');
  });

  it('rejects fields of the wrong size when encoding', () => {
    expect(() => encodeHandshake({ reserved: new Uint8Array(7), infoHash, peerId })).toThrow(WireError);
  });
});

describe('messages', () => {
  it('encodes known vectors', () => {
    expect(toHex(encodeMessage({ type: 'keep-alive' }))).toBe('00000000');
    expect(toHex(encodeMessage({ type: 'choke' }))).toBe('0000000100');
    expect(toHex(encodeMessage({ type: 'unchoke' }))).toBe('0000000101');
    expect(toHex(encodeMessage({ type: 'interested' }))).toBe('0000000102');
    expect(toHex(encodeMessage({ type: 'not-interested' }))).toBe('0000000103');
    expect(toHex(encodeMessage({ type: 'have', index: 0x01020304 }))).toBe('000000050401020304');
    expect(toHex(encodeMessage({ type: 'bitfield', bytes: hex('fe80') }))).toBe('0000000305fe80');
    expect(toHex(encodeMessage({ type: 'request', index: 1, begin: 0x4000, length: 0x4000 }))).toBe(
      '0000000d06000000010000400000004000',
    );
    expect(toHex(encodeMessage({ type: 'piece', index: 2, begin: 0, block: hex('aabb') }))).toBe(
      '0000000b070000000200000000aabb',
    );
    expect(toHex(encodeMessage({ type: 'cancel', index: 1, begin: 0x4000, length: 0x4000 }))).toBe(
      '0000000d08000000010000400000004000',
    );
    expect(toHex(encodeMessage({ type: 'port', port: 6881 }))).toBe('00000003091ae1');
    expect(toHex(encodeMessage({ type: 'suggest', index: 7 }))).toBe('000000050d00000007');
    expect(toHex(encodeMessage({ type: 'have-all' }))).toBe('000000010e');
    expect(toHex(encodeMessage({ type: 'have-none' }))).toBe('000000010f');
    expect(toHex(encodeMessage({ type: 'reject', index: 1, begin: 0, length: 16384 }))).toBe(
      '0000000d10000000010000000000004000',
    );
    expect(toHex(encodeMessage({ type: 'allowed-fast', index: 0xffffffff }))).toBe('0000000511ffffffff');
    expect(toHex(encodeMessage({ type: 'extended', id: 0, payload: hex('6465') }))).toBe('0000000414006465');
    expect(toHex(encodeMessage({ type: 'unknown', id: 99, payload: hex('01') }))).toBe('000000026301');
  });

  it('decodes a request and big-endian uint32 values', () => {
    const r = decodeMessage(hex('0000000d06ffffffff0000400000004000'), 0, DEFAULT_WIRE_LIMITS);
    expect(r).toEqual({
      kind: 'message',
      message: { type: 'request', index: 0xffffffff, begin: 0x4000, length: 0x4000 },
      consumed: 17,
    });
  });

  it('writes a piece as header + block', () => {
    const block = Uint8Array.from({ length: 100 }, (_, i) => i);
    const header = encodePieceHeader(5, 16384, block.length);
    expect(header.length).toBe(13);
    const joined = new Uint8Array(113);
    joined.set(header);
    joined.set(block, 13);
    expect(joined).toEqual(encodeMessage({ type: 'piece', index: 5, begin: 16384, block }));
  });

  it('decodes piece blocks zero-copy at an offset', () => {
    const block = Uint8Array.from({ length: 64 }, (_, i) => 255 - i);
    const msg = encodeMessage({ type: 'piece', index: 3, begin: 32, block });
    const buf = new Uint8Array(7 + msg.length);
    buf.set(msg, 7);
    const r = decodeMessage(buf, 7, DEFAULT_WIRE_LIMITS);
    expect(r.kind).toBe('message');
    if (r.kind !== 'message' || r.message.type !== 'piece') return;
    expect(r.message.block).toEqual(block);
    expect(r.message.block.buffer).toBe(buf.buffer);
    expect(r.message.block.byteOffset).toBe(7 + 13);
  });

  it('reports need with the rest of the message once the prefix is known', () => {
    const msg = encodeMessage({ type: 'request', index: 1, begin: 2, length: 3 });
    expect(decodeMessage(msg.subarray(0, 2), 0, DEFAULT_WIRE_LIMITS)).toEqual({ kind: 'need', bytes: 2 });
    expect(decodeMessage(msg.subarray(0, 4), 0, DEFAULT_WIRE_LIMITS)).toEqual({ kind: 'need', bytes: 13 });
    expect(decodeMessage(msg.subarray(0, 10), 0, DEFAULT_WIRE_LIMITS)).toEqual({ kind: 'need', bytes: 7 });
  });

  it('passes unknown ids through (BEP 3: ignored, not an error)', () => {
    for (const id of [10, 11, 12, 18, 19, 24, 255]) {
      expect(isKnownMessageId(id)).toBe(false);
      const r = decodeMessage(Uint8Array.of(0, 0, 0, 3, id, 1, 2), 0, DEFAULT_WIRE_LIMITS);
      expect(r).toEqual({
        kind: 'message',
        message: { type: 'unknown', id, payload: Uint8Array.of(1, 2) },
        consumed: 7,
      });
    }
    for (const id of Object.values(MessageId)) expect(isKnownMessageId(id)).toBe(true);
  });

  it('rejects a known id with the wrong length from its header alone', () => {
    expect(errorCode(hex('0000000400'))).toBe('BT_ERR_MESSAGE_LENGTH'); // choke with a payload
    expect(errorCode(hex('0000000404'))).toBe('BT_ERR_MESSAGE_LENGTH'); // have of 3 bytes
    expect(errorCode(hex('0000000e06'))).toBe('BT_ERR_MESSAGE_LENGTH'); // request of 13 bytes
    expect(errorCode(hex('0000000409'))).toBe('BT_ERR_MESSAGE_LENGTH'); // port of 3 bytes
    expect(errorCode(hex('0000000207'))).toBe('BT_ERR_MESSAGE_LENGTH'); // piece without begin
    expect(errorCode(hex('0000000114'))).toBe('BT_ERR_MESSAGE_LENGTH'); // extended without its id
    expect(errorCode(hex('000000020e'))).toBe('BT_ERR_MESSAGE_LENGTH'); // have-all with a payload
  });

  it('checks the length prefix against the caps before the body', () => {
    expect(errorCode(hex('ffffffff'))).toBe('BT_ERR_FRAME_TOO_LARGE');
    const max = DEFAULT_WIRE_LIMITS.maxMessageLength;
    const prefix = (n: number, id: number): Uint8Array => Uint8Array.of(n >>> 24, n >>> 16, n >>> 8, n, id);
    expect(decodeMessage(prefix(max, 7), 0, DEFAULT_WIRE_LIMITS).kind).toBe('need');
    expect(errorCode(prefix(max + 1, 7))).toBe('BT_ERR_FRAME_TOO_LARGE');
    expect(errorCode(prefix(max + 1, 99))).toBe('BT_ERR_FRAME_TOO_LARGE');
    // BEP 10 messages get at least 16 KiB + 1 KiB (a BEP 9 metadata piece and its dictionary).
    expect(decodeMessage(prefix(17408, 20), 0, DEFAULT_WIRE_LIMITS).kind).toBe('need');
    expect(errorCode(prefix(17409, 20))).toBe('BT_ERR_FRAME_TOO_LARGE');
    expect(errorCode(prefix(100, 20), resolveLimits({ maxExtendedLength: 99 }))).toBe('BT_ERR_FRAME_TOO_LARGE');
  });

  it('bounds a bitfield by the piece count when known', () => {
    const limits = resolveLimits({ pieceCount: 17 }); // ceil(17/8) = 3 bytes
    expect(decodeMessage(hex('0000000405ffff80'), 0, limits).kind).toBe('message');
    expect(errorCode(hex('0000000505'), limits)).toBe('BT_ERR_BITFIELD_TOO_LARGE');
    // Unknown piece count: bitfields larger than a block are still accepted up to maxBitfieldLength.
    expect(decodeMessage(hex('0000800105'), 0, DEFAULT_WIRE_LIMITS).kind).toBe('need');
    expect(errorCode(hex('0000000a05'), resolveLimits({ maxBitfieldLength: 9 }))).toBe('BT_ERR_BITFIELD_TOO_LARGE');
  });

  it('rejects out-of-range fields when encoding', () => {
    const bad: WireMessage[] = [
      { type: 'have', index: -1 },
      { type: 'have', index: 2 ** 32 },
      { type: 'request', index: 0, begin: 1.5, length: 1 },
      { type: 'port', port: 65536 },
      { type: 'extended', id: 256, payload: new Uint8Array(0) },
      { type: 'unknown', id: MessageId.piece, payload: new Uint8Array(0) },
      { type: 'unknown', id: 300, payload: new Uint8Array(0) },
    ];
    for (const m of bad) {
      try {
        encodeMessage(m);
        expect.unreachable(m.type);
      } catch (err) {
        expect(err).toBeInstanceOf(WireError);
        expect((err as WireError).code).toBe('BT_ERR_MESSAGE_VALUE');
      }
    }
  });
});

describe('BEP 52 hash messages', () => {
  const root = Uint8Array.from({ length: 32 }, (_, i) => 0xa0 + (i % 16));
  const range = { piecesRoot: root, baseLayer: 2, index: 512, length: 512, proofLayers: 11 };
  const head = toHex(root) + '00000002' + '00000200' + '00000200' + '0000000b';

  it('encodes hash request (21), hashes (22) and hash reject (23) as BEP 52 lays them out', () => {
    expect(toHex(encodeMessage({ type: 'hash-request', ...range }))).toBe('0000003115' + head);
    expect(toHex(encodeMessage({ type: 'hash-reject', ...range }))).toBe('0000003117' + head);
    const hashes = Uint8Array.from({ length: 64 }, (_, i) => i);
    expect(toHex(encodeMessage({ type: 'hashes', ...range, hashes }))).toBe('0000007116' + head + toHex(hashes));
    expect(isKnownMessageId(MessageId.hashRequest)).toBe(true);
    expect(isKnownMessageId(MessageId.hashes)).toBe(true);
    expect(isKnownMessageId(MessageId.hashReject)).toBe(true);
  });

  it('decodes them back, the root and hashes as views of the input', () => {
    const hashes = new Uint8Array(96).fill(9);
    const buf = encodeMessage({ type: 'hashes', ...range, hashes });
    const r = decodeMessage(buf, 0, DEFAULT_WIRE_LIMITS);
    expect(r).toEqual({ kind: 'message', message: { type: 'hashes', ...range, hashes }, consumed: buf.length });
    const req = decodeMessage(hex('0000003115' + head), 0, DEFAULT_WIRE_LIMITS);
    expect(req).toEqual({ kind: 'message', message: { type: 'hash-request', ...range }, consumed: 53 });
  });

  it('refuses wrong lengths with typed errors', () => {
    // A hash request one byte short, and one byte long.
    expect(errorCode(hex('0000003015' + head.slice(0, -2)))).toBe('BT_ERR_MESSAGE_LENGTH');
    expect(errorCode(hex('0000003217' + head + '00'))).toBe('BT_ERR_MESSAGE_LENGTH');
    // Hashes that are not whole 32-byte hashes, or no header at all.
    expect(errorCode(hex('0000003216' + head + '00'))).toBe('BT_ERR_HASHES_LENGTH');
    expect(errorCode(hex('0000000116'))).toBe('BT_ERR_HASHES_LENGTH');
    // More hashes than the cap (default 576; here 2).
    const three = encodeMessage({ type: 'hashes', ...range, hashes: new Uint8Array(96) });
    expect(errorCode(three, resolveLimits({ maxHashCount: 2 }))).toBe('BT_ERR_FRAME_TOO_LARGE');
    const tooMany = Uint8Array.of(0, 0, 0x48, 0x51, 22); // 49 + 32 * 577
    expect(errorCode(tooMany)).toBe('BT_ERR_FRAME_TOO_LARGE');
  });

  it('refuses to encode a root that is not 32 bytes, ragged hashes or fields past uint32', () => {
    const bad = (m: WireMessage) => () => encodeMessage(m);
    expect(bad({ type: 'hash-request', ...range, piecesRoot: new Uint8Array(20) })).toThrow(WireError);
    expect(bad({ type: 'hashes', ...range, hashes: new Uint8Array(33) })).toThrow(WireError);
    expect(bad({ type: 'hash-reject', ...range, index: -1 })).toThrow(/index -1 is not a uint32/);
    expect(bad({ type: 'hash-reject', ...range, proofLayers: 2 ** 32 })).toThrow(WireError);
  });
});

describe('WireFramer and frameWire', () => {
  const hs = encodeHandshake({ reserved: makeReserved({ extended: true }), infoHash, peerId });
  const msgs: WireMessage[] = [
    { type: 'bitfield', bytes: hex('ff80') },
    { type: 'keep-alive' },
    { type: 'unchoke' },
    { type: 'piece', index: 1, begin: 0, block: Uint8Array.from({ length: 40 }, (_, i) => i) },
    { type: 'extended', id: 0, payload: hex('6465') },
  ];
  const stream = new Uint8Array([...hs, ...msgs.flatMap((m) => [...encodeMessage(m)])]);
  const expected: WireEvent[] = [
    { type: 'handshake', handshake: { reserved: makeReserved({ extended: true }), infoHash, peerId } },
    ...msgs,
  ];

  it('frames the handshake and messages in one chunk, decoding in place', () => {
    const events = frameAll([stream]);
    expect(events).toEqual(expected);
    const piece = events[4];
    expect(piece?.type === 'piece' && piece.block.buffer).toBe(stream.buffer);
  });

  it('frames a stream fed one byte at a time', () => {
    expect(frameAll(Array.from(stream, (b) => Uint8Array.of(b)))).toEqual(expected);
  });

  it('works without a handshake', () => {
    expect(frameAll([stream.subarray(68)], { handshake: false })).toEqual(msgs);
  });

  it('is an RxJS operator that errors with the typed WireError', () => {
    const events: WireEvent[] = [];
    let error: unknown;
    let completed = false;
    from([stream.subarray(0, 70), stream.subarray(70), hex('ffffffff00')])
      .pipe(frameWire())
      .subscribe({
        next: (e) => events.push(e),
        error: (e: unknown) => (error = e),
        complete: () => (completed = true),
      });
    expect(events).toEqual(expected);
    expect(completed).toBe(false);
    expect(error).toBeInstanceOf(WireError);
    expect((error as WireError).code).toBe('BT_ERR_FRAME_TOO_LARGE');
  });

  it('completes with the source', () => {
    let completed = false;
    const events: WireEvent[] = [];
    from([stream])
      .pipe(frameWire())
      .subscribe({ next: (e) => events.push(e), complete: () => (completed = true) });
    expect(completed).toBe(true);
    expect(events.length).toBe(6);
  });

  it('rejects a bad handshake and stays failed', () => {
    const framer = new WireFramer();
    const bad = Uint8Array.from(hs);
    bad[3] = 0;
    framer.push(bad.subarray(0, 3), () => undefined);
    expect(() => framer.push(bad.subarray(3), () => undefined)).toThrow(WireError);
    expect(framer.error?.code).toBe('BT_ERR_HANDSHAKE');
    expect(() => framer.push(new Uint8Array(1), () => undefined)).toThrow(framer.error!);
  });

  it('tightens the bitfield bound with setPieceCount', () => {
    const framer = new WireFramer({ handshake: false });
    framer.setPieceCount(8);
    expect(() => framer.push(hex('0000000305ffff'), () => undefined)).toThrow(/bitfield/);
    expect(framer.error?.code).toBe('BT_ERR_BITFIELD_TOO_LARGE');
  });

  it('rejects invalid caps, which would disable the checks', () => {
    for (const bad of [Number.NaN, -1, 1.5, Infinity]) {
      expect(() => new WireFramer({ limits: { maxMessageLength: bad } })).toThrow(WireError);
      expect(() => new WireFramer().setPieceCount(bad)).toThrow(/pieceCount/);
      expect(() => resolveLimits({ maxExtendedLength: bad })).toThrow(WireError);
    }
  });

  it('reports buffered bytes of an incomplete message', () => {
    const framer = new WireFramer({ handshake: false });
    const msg = encodeMessage({ type: 'have', index: 1 });
    framer.push(msg.subarray(0, 3), () => undefined);
    expect(framer.buffered).toBe(3);
    framer.push(msg.subarray(3, 7), () => undefined);
    expect(framer.buffered).toBe(7);
    const out: WireEvent[] = [];
    framer.push(msg.subarray(7), (e) => out.push(e));
    expect(framer.buffered).toBe(0);
    expect(out).toEqual([{ type: 'have', index: 1 }]);
  });

  it('fails on an oversized prefix split across chunks before the body arrives', () => {
    const framer = new WireFramer({ handshake: false });
    framer.push(hex('ff'), () => undefined);
    framer.push(hex('ff'), () => undefined);
    framer.push(hex('ff'), () => undefined);
    expect(() => framer.push(hex('ff'), () => undefined)).toThrow(WireError);
    expect(framer.error?.code).toBe('BT_ERR_FRAME_TOO_LARGE');
  });
});
