import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { from, Subject } from 'rxjs';
import { propertyOptions } from '../support/fc.js';
import {
  DEFAULT_MAX_BITFIELD_LENGTH,
  HANDSHAKE_LENGTH,
  MIN_DEFAULT_MAX_EXTENDED_LENGTH,
  MessageId,
  WireError,
  decodeMessage,
  encodeHandshake,
  encodeMessage,
  isKnownMessageId,
  hashesCap,
  maxFrameLength,
  resolveLimits,
  type Handshake,
  type WireEvent,
  type WireLimits,
  type WireMessage,
} from '../../src/protocol/wire.js';
import { WireFramer, type FrameWireOptions } from '../../src/protocol/wire-framing.js';
import { frameWire, type FramedEvent } from '../../src/protocol/wire-framing-rx.js';
import { Bitfield, BitfieldError } from '../../src/protocol/bitfield.js';

// ---------------------------------------------------------------------------------------------
// Arbitraries (small sizes keep 10,000 runs per property within seconds)

const u32 = fc.oneof(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
);
const bytes = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });
const unknownId = fc.integer({ min: 0, max: 255 }).filter((id) => !isKnownMessageId(id));

const messageArb: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.constantFrom<WireMessage>(
    { type: 'keep-alive' },
    { type: 'choke' },
    { type: 'unchoke' },
    { type: 'interested' },
    { type: 'not-interested' },
    { type: 'have-all' },
    { type: 'have-none' },
  ),
  fc.record({ type: fc.constantFrom('have' as const, 'suggest' as const, 'allowed-fast' as const), index: u32 }),
  fc.record({ type: fc.constant('bitfield' as const), bytes: bytes(40) }),
  fc.record({
    type: fc.constantFrom('request' as const, 'cancel' as const, 'reject' as const),
    index: u32,
    begin: u32,
    length: u32,
  }),
  fc.record({ type: fc.constant('piece' as const), index: u32, begin: u32, block: bytes(300) }),
  fc.record({ type: fc.constant('port' as const), port: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.constant('extended' as const), id: fc.integer({ min: 0, max: 255 }), payload: bytes(200) }),
  fc.record({ type: fc.constant('unknown' as const), id: unknownId, payload: bytes(100) }),
  // BEP 52
  fc.record({
    type: fc.constantFrom('hash-request' as const, 'hash-reject' as const),
    piecesRoot: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    baseLayer: u32,
    index: u32,
    length: u32,
    proofLayers: u32,
  }),
  fc.record({
    type: fc.constant('hashes' as const),
    piecesRoot: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    baseLayer: u32,
    index: u32,
    length: u32,
    proofLayers: u32,
    hashes: fc.integer({ min: 0, max: 12 }).chain((n) => fc.uint8Array({ minLength: 32 * n, maxLength: 32 * n })),
  }),
);

const handshakeArb: fc.Arbitrary<Handshake> = fc.record({
  reserved: fc.uint8Array({ minLength: 8, maxLength: 8 }),
  infoHash: fc.uint8Array({ minLength: 20, maxLength: 20 }),
  peerId: fc.uint8Array({ minLength: 20, maxLength: 20 }),
});

/** Split points (as raw naturals, reduced modulo the stream length) for arbitrary chunkings. */
const cutsArb = fc.array(fc.nat(), { maxLength: 24 });

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Splits `buf` at the given points (empty chunks included). */
function split(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = cuts.map((c) => c % (buf.length + 1)).sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    chunks.push(buf.subarray(prev, p));
    prev = p;
  }
  chunks.push(buf.subarray(prev));
  return chunks;
}

function streamOf(handshake: Handshake | null, messages: WireMessage[]): Uint8Array {
  return concat([...(handshake ? [encodeHandshake(handshake)] : []), ...messages.map(encodeMessage)]);
}

function expectedEvents(handshake: Handshake | null, messages: WireMessage[]): WireEvent[] {
  return [...(handshake ? [{ type: 'handshake' as const, handshake }] : []), ...messages];
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

function encodeEvent(e: WireEvent): Uint8Array {
  return e.type === 'handshake' ? encodeHandshake(e.handshake) : encodeMessage(e);
}

/**
 * Asserts two event lists are equal. Compares types and encodings first (re-encoding is exact, see the
 * round-trip properties), which is much faster than a deep equality over typed arrays; a mismatch
 * falls back to toEqual for a readable diff.
 */
function expectSameEvents(actual: WireEvent[], expected: WireEvent[]): void {
  const same =
    actual.length === expected.length &&
    actual.every((e, k) => e.type === expected[k]!.type && equalBytes(encodeEvent(e), encodeEvent(expected[k]!)));
  if (!same) expect(actual).toEqual(expected);
}

/**
 * Runs `fn` while recording the length of every `new Uint8Array(n)` (the framer's only way to allocate
 * a buffer), by swapping the global constructor for a recording proxy.
 */
function recordAllocations<T>(fn: () => T): { result: T; sizes: number[] } {
  const original = Uint8Array;
  const sizes: number[] = [];
  const spy: Uint8ArrayConstructor = new Proxy(original, {
    construct(target, args: unknown[], newTarget): object {
      if (typeof args[0] === 'number') sizes.push(args[0]);
      else if (args[0] instanceof ArrayBuffer) sizes.push(args[0].byteLength);
      return Reflect.construct(target, args, newTarget === spy ? target : newTarget) as Uint8Array;
    },
  });
  Reflect.set(globalThis, 'Uint8Array', spy);
  try {
    return { result: fn(), sizes };
  } finally {
    Reflect.set(globalThis, 'Uint8Array', original);
  }
}

/** Feeds chunks to a framer; returns the events and the error (which must be a WireError, if any). */
function runFramer(chunks: Uint8Array[], options: FrameWireOptions): { events: WireEvent[]; error: WireError | null } {
  const framer = new WireFramer(options);
  const events: WireEvent[] = [];
  try {
    for (const c of chunks) framer.push(c, (e) => events.push(e));
  } catch (err) {
    if (!(err instanceof WireError)) throw err;
    return { events, error: err };
  }
  return { events, error: null };
}

const limitsArb: fc.Arbitrary<Partial<WireLimits>> = fc.record(
  {
    maxMessageLength: fc.integer({ min: 0, max: 400 }),
    pieceCount: fc.integer({ min: 0, max: 300 }),
    maxBitfieldLength: fc.integer({ min: 0, max: 100 }),
    maxExtendedLength: fc.integer({ min: 0, max: 400 }),
    maxHashCount: fc.integer({ min: 0, max: 12 }),
  },
  { requiredKeys: [] },
);

// ---------------------------------------------------------------------------------------------

describe('wire codec properties', () => {
  it('the allocation spy sees the framer allocate a message that spans chunks (so "nothing" is meaningful)', () => {
    const msg = encodeMessage({ type: 'piece', index: 0, begin: 0, block: new Uint8Array(100) });
    const framer = new WireFramer({ handshake: false });
    const { sizes } = recordAllocations(() => {
      framer.push(msg.subarray(0, 50), () => undefined);
      framer.push(msg.subarray(50), () => undefined);
    });
    expect(sizes).toEqual([msg.length]);
  });

  it('round trips every message: decode(encode(m)) = m, consuming exactly the encoding', () => {
    fc.assert(
      fc.property(messageArb, fc.nat({ max: 8 }), (message, pad) => {
        const encoded = encodeMessage(message);
        const buf = new Uint8Array(pad + encoded.length + 3);
        buf.set(encoded, pad);
        const r = decodeMessage(buf, pad, resolveLimits());
        expect(r).toEqual({ kind: 'message', message, consumed: encoded.length });
        // Every proper prefix asks for exactly the missing bytes (or more header first).
        const cut = Math.min(encoded.length - 1, pad);
        if (cut >= 0 && encoded.length > 0) {
          const partial = decodeMessage(encoded.subarray(0, cut), 0, resolveLimits());
          expect(partial.kind).toBe('need');
          if (partial.kind === 'need') expect(cut + partial.bytes).toBe(cut < 4 ? 4 : encoded.length);
        }
      }),
      propertyOptions,
    );
  });

  it('re-encodes any decoded frame to the same bytes', () => {
    const frameArb = fc
      .record({
        id: fc.oneof(fc.constantFrom(...Object.values(MessageId)), fc.integer({ min: 0, max: 255 })),
        payload: bytes(120),
        fixed: fc.boolean(),
        trailing: bytes(6),
      })
      .map(({ id, payload, fixed, trailing }) => {
        // Half the time use the exact payload size of fixed-size ids, so most frames are valid.
        const sizes: Record<number, number> = {
          0: 0,
          1: 0,
          2: 0,
          3: 0,
          4: 4,
          6: 12,
          8: 12,
          9: 2,
          13: 4,
          14: 0,
          15: 0,
          16: 12,
          17: 4,
          21: 48,
          22: 48 + 32 * (payload.length % 3),
          23: 48,
        };
        const size = fixed && sizes[id] !== undefined ? sizes[id] : payload.length;
        const body = Uint8Array.from({ length: size }, (_, k) => payload[k] ?? k);
        const len = 1 + body.length;
        return concat([Uint8Array.of(len >>> 24, len >>> 16, len >>> 8, len, id), body, trailing]);
      });
    fc.assert(
      fc.property(fc.oneof(frameArb, bytes(40)), (buf) => {
        const r = decodeMessage(buf, 0, resolveLimits());
        if (r.kind === 'message') expect(encodeMessage(r.message)).toEqual(buf.subarray(0, r.consumed));
        else if (r.kind === 'error') expect(r.error).toBeInstanceOf(WireError);
        else expect(r.bytes).toBeGreaterThan(0);
      }),
      propertyOptions,
    );
  });

  it('WireFramer gives the same events for any split of any message sequence', () => {
    fc.assert(
      fc.property(
        fc.option(handshakeArb, { nil: null }),
        fc.array(messageArb, { maxLength: 20 }),
        cutsArb,
        (hs, messages, cuts) => {
          const stream = streamOf(hs, messages);
          const { events, error } = runFramer(split(stream, cuts), { handshake: hs !== null });
          expect(error).toBeNull();
          expectSameEvents(events, expectedEvents(hs, messages));
        },
      ),
      propertyOptions,
    );
  });

  it('frameWire gives the same events for any split and completes', () => {
    fc.assert(
      fc.property(
        fc.option(handshakeArb, { nil: null }),
        fc.array(messageArb, { maxLength: 20 }),
        cutsArb,
        (hs, messages, cuts) => {
          const events: WireEvent[] = [];
          let completed = false;
          let failed: unknown = null;
          from(split(streamOf(hs, messages), cuts))
            .pipe(frameWire({ handshake: hs !== null }))
            .subscribe({
              next: (e) => events.push(e),
              error: (e: unknown) => (failed = e),
              complete: () => (completed = true),
            });
          expect(failed).toBeNull();
          expect(completed).toBe(true);
          expectSameEvents(events, expectedEvents(hs, messages));
        },
      ),
      propertyOptions,
    );
  });

  it('frameWire batching: the consecutive requests of a chunk (and blocks, haves) come as one batch; flattened, the same events for any split', () => {
    // Runs of requests, blocks and haves are common here, so batches form.
    const batchyArb = fc.oneof(
      { weight: 2, arbitrary: messageArb },
      {
        weight: 3,
        arbitrary: fc.record({ type: fc.constant('request' as const), index: u32, begin: u32, length: u32 }),
      },
      {
        weight: 1,
        arbitrary: fc.record({ type: fc.constant('piece' as const), index: u32, begin: u32, block: bytes(40) }),
      },
      { weight: 2, arbitrary: fc.record({ type: fc.constant('have' as const), index: u32 }) },
    );
    const isRequest = (t: string) => t === 'request' || t === 'requests';
    const isPiece = (t: string) => t === 'piece' || t === 'pieces';
    const isHave = (t: string) => t === 'have' || t === 'haves';
    fc.assert(
      fc.property(
        fc.option(handshakeArb, { nil: null }),
        fc.array(batchyArb, { maxLength: 30 }),
        cutsArb,
        fc.boolean(),
        fc.boolean(),
        (hs, messages, cuts, blocksToo, havesToo) => {
          const chunks = split(streamOf(hs, messages), cuts);
          // Each event with the chunk it came out of.
          const out: { chunk: number; e: FramedEvent }[] = [];
          let chunk = 0;
          let completed = false;
          const source = new Subject<Uint8Array>();
          source
            .pipe(
              frameWire({ handshake: hs !== null, batchRequests: true, batchBlocks: blocksToo, batchHaves: havesToo }),
            )
            .subscribe({ next: (e) => out.push({ chunk, e }), complete: () => (completed = true) });
          for (; chunk < chunks.length; chunk++) source.next(chunks[chunk]!);
          source.complete();
          expect(completed).toBe(true);
          const flat: WireEvent[] = out.flatMap(({ e }) =>
            e.type === 'requests'
              ? e.requests.map((r) => ({ type: 'request' as const, ...r }))
              : e.type === 'pieces'
                ? e.blocks.map((b) => ({ type: 'piece' as const, ...b }))
                : e.type === 'haves'
                  ? e.indices.map((index) => ({ type: 'have' as const, index }))
                  : [e],
          );
          expectSameEvents(flat, expectedEvents(hs, messages));
          for (let k = 0; k < out.length; k++) {
            const { e } = out[k]!;
            // A batch holds two or more (a lone one keeps its own type); blocks batch only when asked.
            if (e.type === 'requests') expect(e.requests.length).toBeGreaterThan(1);
            if (e.type === 'pieces') {
              expect(blocksToo).toBe(true);
              expect(e.blocks.length).toBeGreaterThan(1);
            }
            if (e.type === 'haves') {
              expect(havesToo).toBe(true);
              expect(e.indices.length).toBeGreaterThan(1);
            }
            // Batches are maximal: two request events (or two block events, when batched) in a row come
            // from different chunks.
            const prev = out[k - 1];
            if (!prev || prev.chunk !== out[k]!.chunk) continue;
            expect(isRequest(prev.e.type) && isRequest(e.type)).toBe(false);
            if (blocksToo) expect(isPiece(prev.e.type) && isPiece(e.type)).toBe(false);
            if (havesToo) expect(isHave(prev.e.type) && isHave(e.type)).toBe(false);
          }
        },
      ),
      propertyOptions,
    );
  });

  it('frameWire batching: a chunk of only requests is one event, whatever their number', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ index: u32, begin: u32, length: u32 }), { minLength: 2, maxLength: 40 }),
        (rs) => {
          const events: FramedEvent[] = [];
          from([
            streamOf(
              null,
              rs.map((r) => ({ type: 'request' as const, ...r })),
            ),
          ])
            .pipe(frameWire({ handshake: false, batchRequests: true }))
            .subscribe((e) => events.push(e));
          expect(events).toEqual([{ type: 'requests', requests: rs }]);
        },
      ),
      propertyOptions,
    );
  });

  it('random bytes under random caps give events or a WireError, never allocating past the cap', () => {
    fc.assert(
      fc.property(fc.boolean(), bytes(200), cutsArb, limitsArb, (handshake, stream, cuts, limits) => {
        const chunks = split(stream, cuts);
        const { result, sizes } = recordAllocations(() => runFramer(chunks, { handshake, limits }));
        const cap = 4 + maxFrameLength(resolveLimits(limits));
        for (const n of sizes) expect(n).toBeLessThanOrEqual(Math.max(cap, HANDSHAKE_LENGTH));
        if (result.error) expect(result.error.code).toMatch(/^BT_ERR_/);
      }),
      propertyOptions,
    );
  });

  it('mutated valid streams give the same events as decoding in one piece, or the same WireError', () => {
    const mutationArb = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), {
      minLength: 1,
      maxLength: 4,
    });
    fc.assert(
      fc.property(
        fc.option(handshakeArb, { nil: null }),
        fc.array(messageArb, { maxLength: 12 }),
        mutationArb,
        cutsArb,
        fc.option(limitsArb, { nil: undefined }),
        (hs, messages, mutations, cuts, limits) => {
          const stream = Uint8Array.from(streamOf(hs, messages));
          for (const m of mutations) if (stream.length > 0) stream[m.at % stream.length] = m.value;
          const options = { handshake: hs !== null, limits };
          const whole = runFramer([stream], options);
          const { result, sizes } = recordAllocations(() => runFramer(split(stream, cuts), options));
          // Chunking changes neither the events nor the error.
          expectSameEvents(result.events, whole.events);
          expect(result.error?.code).toBe(whole.error?.code);
          const cap = 4 + maxFrameLength(resolveLimits(limits));
          for (const n of sizes) expect(n).toBeLessThanOrEqual(Math.max(cap, HANDSHAKE_LENGTH));
        },
      ),
      propertyOptions,
    );
  });

  it('an invalid header fails from the header alone, before the body, allocating nothing', () => {
    const fixedLength: Record<number, number> = {
      0: 1,
      1: 1,
      2: 1,
      3: 1,
      4: 5,
      6: 13,
      8: 13,
      9: 3,
      13: 5,
      14: 1,
      15: 1,
      16: 13,
      17: 5,
      21: 49,
      23: 49,
    };
    const ids = fc.oneof(
      fc.constantFrom(
        MessageId.piece,
        MessageId.bitfield,
        MessageId.extended,
        MessageId.request,
        MessageId.have,
        MessageId.hashRequest,
        MessageId.hashes,
      ),
      fc.integer({ min: 0, max: 255 }),
    );
    fc.assert(
      fc.property(
        limitsArb,
        ids,
        fc.integer({ min: 0, max: 0xffffffff }),
        bytes(40),
        cutsArb,
        (partial, id, raw, body, cuts) => {
          const limits = resolveLimits(partial);
          const frameCap = maxFrameLength(limits);
          const fixed = fixedLength[id];
          let prefix: number;
          let code: string;
          if (fixed !== undefined) {
            // Any non-zero length but the right one.
            prefix = 1 + (raw % 0xfffffffe);
            if (prefix >= fixed) prefix++;
            code = 'BT_ERR_MESSAGE_LENGTH';
          } else {
            const idCap =
              id === MessageId.bitfield
                ? limits.pieceCount !== undefined
                  ? 1 + Math.ceil(limits.pieceCount / 8)
                  : (limits.maxBitfieldLength ?? DEFAULT_MAX_BITFIELD_LENGTH)
                : id === MessageId.extended
                  ? (limits.maxExtendedLength ?? Math.max(limits.maxMessageLength, MIN_DEFAULT_MAX_EXTENDED_LENGTH))
                  : id === MessageId.hashes
                    ? hashesCap(limits)
                    : limits.maxMessageLength;
            // Above the id's cap, often far above (up to 0xFFFFFFFF).
            prefix = idCap + 1 + (raw % (0xffffffff - idCap));
            code = id === MessageId.bitfield ? 'BT_ERR_BITFIELD_TOO_LARGE' : 'BT_ERR_FRAME_TOO_LARGE';
          }
          // Over every cap, the prefix alone decides; otherwise the id (byte 5) is needed too.
          if (prefix > frameCap) code = 'BT_ERR_FRAME_TOO_LARGE';
          const detectedAt = prefix > frameCap ? 4 : 5;
          const header = Uint8Array.of(prefix >>> 24, prefix >>> 16, prefix >>> 8, prefix, id);
          const stream = concat([header, body]);
          const framer = new WireFramer({ handshake: false, limits: partial });
          let before = 0;
          let error: unknown = null;
          const { sizes } = recordAllocations(() => {
            for (const chunk of split(stream, cuts)) {
              try {
                framer.push(chunk, () => expect.unreachable('no event expected'));
              } catch (err) {
                error = err;
                return;
              }
              before += chunk.length;
            }
          });
          expect(sizes).toEqual([]);
          expect(error).toBeInstanceOf(WireError);
          expect((error as WireError).code).toBe(code);
          // It failed in the chunk holding the deciding byte: no body byte was waited for.
          expect(before).toBeLessThan(detectedAt);
        },
      ),
      propertyOptions,
    );
  });
});

describe('BEP 52 hash message properties', () => {
  it('a hashes length prefix that is not 49 + 32k (within the cap) fails from the header alone with BT_ERR_HASHES_LENGTH', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 600 }),
        fc.integer({ min: 1, max: 49 + 32 * 20 }),
        cutsArb,
        (cap, prefix, cuts) => {
          fc.pre((prefix - 49) % 32 !== 0 || prefix < 49);
          const limits = { maxHashCount: cap };
          fc.pre(prefix <= hashesCap(resolveLimits(limits)));
          const header = Uint8Array.of(prefix >>> 24, prefix >>> 16, prefix >>> 8, prefix, MessageId.hashes);
          const { events, error } = runFramer(split(header, cuts), { handshake: false, limits });
          expect(events).toEqual([]);
          expect(error?.code).toBe('BT_ERR_HASHES_LENGTH');
        },
      ),
      propertyOptions,
    );
  });

  it('a hashes message carries at most maxHashCount hashes: one more is BT_ERR_FRAME_TOO_LARGE', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 20 }), (cap, n) => {
        const msg: WireMessage = {
          type: 'hashes',
          piecesRoot: new Uint8Array(32).fill(7),
          baseLayer: 2,
          index: 0,
          length: n,
          proofLayers: 1,
          hashes: new Uint8Array(32 * n).fill(n),
        };
        const r = decodeMessage(encodeMessage(msg), 0, resolveLimits({ maxHashCount: cap }));
        if (n <= cap) expect(r).toMatchObject({ kind: 'message', message: msg });
        else expect(r.kind === 'error' && r.error.code).toBe('BT_ERR_FRAME_TOO_LARGE');
      }),
      propertyOptions,
    );
  });

  it('decoded roots and hashes are views of the input (zero copy)', () => {
    fc.assert(
      fc.property(messageArb, (m) => {
        fc.pre(m.type === 'hashes' || m.type === 'hash-request' || m.type === 'hash-reject');
        const buf = encodeMessage(m);
        const r = decodeMessage(buf, 0, resolveLimits());
        expect(r.kind).toBe('message');
        if (r.kind !== 'message') return;
        const d = r.message as Extract<WireMessage, { piecesRoot: Uint8Array }>;
        expect(d.piecesRoot.buffer).toBe(buf.buffer);
        if (d.type === 'hashes') expect(d.hashes.buffer).toBe(buf.buffer);
      }),
      propertyOptions,
    );
  });
});

describe('Bitfield properties', () => {
  const pieceSet = fc
    .integer({ min: 0, max: 200 })
    .chain((n) =>
      fc.tuple(
        fc.constant(n),
        n === 0 ? fc.constant([] as number[]) : fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 60 }),
      ),
    );

  it('set bits: count, has, setBits, forEach, firstSet and toBytes/fromBytes agree with a Set', () => {
    fc.assert(
      fc.property(pieceSet, ([n, indices]) => {
        const b = new Bitfield(n);
        for (const i of indices) b.set(i);
        const model = [...new Set(indices)].sort((x, y) => x - y);
        expect(b.count).toBe(model.length);
        expect([...b.setBits()]).toEqual(model);
        const seen: number[] = [];
        b.forEach((i) => seen.push(i));
        expect(seen).toEqual(model);
        expect(b.firstSet()).toBe(model.length ? model[0] : -1);
        const inModel = new Set(model);
        let hasAgrees = true;
        for (let i = 0; i < n; i++) hasAgrees &&= b.has(i) === inModel.has(i);
        expect(hasAgrees).toBe(true);
        expect(b.isComplete).toBe(model.length === n);
        expect(b.isEmpty).toBe(model.length === 0);
        const back = Bitfield.fromBytes(b.toBytes(), n);
        expect(equalBytes(back.toBytes(), b.toBytes())).toBe(true);
        expect(back.count).toBe(b.count);
      }),
      propertyOptions,
    );
  });

  it('set and clear keep the count of a model', () => {
    const ops = fc
      .integer({ min: 1, max: 100 })
      .chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: n - 1 })), { maxLength: 80 }),
        ),
      );
    fc.assert(
      fc.property(ops, ([n, steps]) => {
        const b = new Bitfield(n);
        const model = new Set<number>();
        let agrees = true;
        for (const [add, i] of steps) {
          const changed = add ? b.set(i) : b.clear(i);
          agrees &&= changed === (add ? !model.has(i) : model.has(i));
          if (add) model.add(i);
          else model.delete(i);
          agrees &&= b.count === model.size;
        }
        expect(agrees).toBe(true);
        expect([...b.setBits()]).toEqual([...model].sort((x, y) => x - y));
      }),
      propertyOptions,
    );
  });

  it('fromBytes accepts exactly the payloads of the right length with zero spare bits', () => {
    const input = fc
      .integer({ min: 0, max: 100 })
      .chain((n) =>
        fc.tuple(
          fc.constant(n),
          fc.oneof(fc.uint8Array({ minLength: Math.ceil(n / 8), maxLength: Math.ceil(n / 8) }), bytes(16)),
        ),
      );
    fc.assert(
      fc.property(input, ([n, payload]) => {
        const spare = Math.ceil(n / 8) * 8 - n;
        const spareSet = payload.length > 0 && spare > 0 && (payload[payload.length - 1]! & ((1 << spare) - 1)) !== 0;
        let code: string | null = null;
        let b: Bitfield | null = null;
        try {
          b = Bitfield.fromBytes(payload, n);
        } catch (err) {
          expect(err).toBeInstanceOf(BitfieldError);
          code = (err as BitfieldError).code;
        }
        if (payload.length !== Math.ceil(n / 8)) expect(code).toBe('BT_ERR_BITFIELD_LENGTH');
        else if (spareSet) expect(code).toBe('BT_ERR_BITFIELD_SPARE_BITS');
        else {
          expect(code).toBeNull();
          expect(b!.toBytes()).toEqual(payload);
          const popcount = [...payload].reduce((s, x) => s + x.toString(2).replace(/0/g, '').length, 0);
          expect(b!.count).toBe(popcount);
        }
      }),
      propertyOptions,
    );
  });

  it('interesting(other) holds exactly when other has a piece we lack; full(n) is complete', () => {
    const pair = fc
      .integer({ min: 0, max: 80 })
      .chain((n) =>
        fc.tuple(fc.constant(n), fc.array(fc.nat(), { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 30 })),
      );
    fc.assert(
      fc.property(pair, ([n, a, b]) => {
        const mine = new Bitfield(n);
        const theirs = new Bitfield(n);
        if (n > 0) {
          for (const i of a) mine.set(i % n);
          for (const i of b) theirs.set(i % n);
        }
        const naive = [...theirs.setBits()].some((i) => !mine.has(i));
        expect(mine.interesting(theirs)).toBe(naive);
        const full = Bitfield.full(n);
        expect(full.count).toBe(n);
        expect(full.interesting(theirs)).toBe(false);
        expect(Bitfield.fromBytes(full.toBytes(), n).isComplete).toBe(true);
      }),
      propertyOptions,
    );
  });
});
