/**
 * BEP 6 (Fast extension) in the peer statechart: our allowed-fast set sent and served while we choke the
 * peer; the peer's allowed-fast pieces requested while it chokes us (`requests.fast`); `suggest` kept as
 * a bounded hint for the picker; a `reject` for every request we drop, and a reject received gives the
 * request back. The test plays the torrent and the socket (peer-harness.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_ALLOWED_IN, MAX_SUGGESTED, SERVE_FACTOR } from '../../src/machines/peer/fast.js';
import { allowedFastSet } from '../../src/protocol/allowed-fast.js';
import {
  BLOCK,
  bytes,
  FAST,
  INFO_HASH,
  NO_EXT,
  startPeer,
  testSettings,
  TICK_MS,
  type PeerHarness,
} from './peer-harness.js';

let current: PeerHarness[] = [];
function start(...args: Parameters<typeof startPeer>) {
  const h = startPeer(...args);
  current.push(h);
  return h;
}
afterEach(() => {
  for (const h of current) {
    expect(h.errors()).toEqual([]);
    h.stop();
  }
  current = [];
});

const PIECES = 8;
const K = 3;
/** Our set for the harness's peer (10.0.0.2), as BEP 6 computes it. */
const SET = allowedFastSet('10.0.0.2', INFO_HASH, PIECES, K);
const OTHER = [0, 1, 2, 3, 4, 5, 6, 7].filter((i) => !SET.includes(i));
const req = (index: number, begin = 0, length = BLOCK) => ({ index, begin, length });
const requestsState = (h: PeerHarness) => (h.value() as { connected: { requests: string } }).connected.requests;
/** The blocks sent, in order (every `wire.sendBlocks` batch). */
const sentBlocks = (h: PeerHarness) => h.wire.commands.flatMap((c) => (c.type === 'wire.sendBlocks' ? c.blocks : []));

describe('BEP 6: our suggestions', () => {
  it('peer.suggest sends a suggest per piece to a fast peer, nothing to another', () => {
    const h = start({ pieces: PIECES });
    h.connect(FAST, [0, 1, 2, 3, 4, 5, 6, 7]);
    h.send({ type: 'peer.suggest', pieces: [3, 5] });
    expect(h.messages('suggest')).toEqual([
      { type: 'suggest', index: 3 },
      { type: 'suggest', index: 5 },
    ]);
    const plain = start({ pieces: PIECES });
    plain.connect(NO_EXT, [0, 1, 2, 3, 4, 5, 6, 7]);
    plain.send({ type: 'peer.suggest', pieces: [3] });
    expect(plain.messages('suggest')).toEqual([]);
  });
});

describe('BEP 6: our allowed-fast set', () => {
  it('is sent at admission to a fast peer, for the pieces of it we have; the rest when we verify them', () => {
    expect(SET).toHaveLength(K);
    const h = start({ pieces: PIECES, settings: { allowedFastSetSize: K } });
    h.connect(FAST, [SET[0]!, ...OTHER]);
    expect(h.messages('allowed-fast')).toEqual([{ type: 'allowed-fast', index: SET[0] }]);
    h.announce(OTHER[0]!);
    expect(h.messages('allowed-fast')).toHaveLength(1);
    h.announce(SET[1]!);
    h.announce(SET[1]!);
    expect(h.messages('allowed-fast')).toEqual([
      { type: 'allowed-fast', index: SET[0] },
      { type: 'allowed-fast', index: SET[1] },
    ]);
    // The have and the allowed-fast of one announce leave in one write.
    expect(h.wire.commands.filter((c) => c.type === 'wire.sendMany').at(-1)).toEqual({
      type: 'wire.sendMany',
      messages: [
        { type: 'have', index: SET[1] },
        { type: 'allowed-fast', index: SET[1] },
      ],
    });
  });

  it('is not sent to a peer without the fast bit, nor when the set size is 0', () => {
    const a = start({ pieces: PIECES, settings: { allowedFastSetSize: K } });
    a.connect(NO_EXT, [0, 1, 2, 3, 4, 5, 6, 7]);
    const b = start({ pieces: PIECES, settings: { allowedFastSetSize: 0 } });
    b.connect(FAST, [0, 1, 2, 3, 4, 5, 6, 7]);
    expect([...a.messages('allowed-fast'), ...b.messages('allowed-fast')]).toEqual([]);
  });

  it('is served while we choke the peer; other pieces are rejected; past the budget, allowed ones too', () => {
    const h = start({ pieces: PIECES, settings: { allowedFastSetSize: K } });
    h.connect(FAST, [0, 1, 2, 3, 4, 5, 6, 7]);
    expect((h.value() as { connected: { amChoking: string } }).connected.amChoking).toBe('choking');
    h.push({ type: 'wire.request', ...req(SET[0]!) });
    expect(h.reader.reads).toEqual([{ type: 'upload.read', blocks: [req(SET[0]!)] }]);
    h.answer({ type: 'upload.blocks', blocks: [{ ...req(SET[0]!), data: bytes(BLOCK, 7) }], failed: [] });
    expect(sentBlocks(h)).toEqual([{ index: SET[0]!, begin: 0, block: bytes(BLOCK, 7) }]);
    h.push({ type: 'wire.request', ...req(OTHER[0]!) });
    expect(h.messages('reject')).toEqual([{ type: 'reject', ...req(OTHER[0]!) }]);
    // Budget: SERVE_FACTOR × blocks of the set (2 blocks a piece); one is spent.
    const budget = SERVE_FACTOR * K * 2;
    for (let i = 1; i < budget; i++) h.push({ type: 'wire.request', ...req(SET[i % K]!, (i % 2) * BLOCK) });
    expect(h.snapshot().context.fast.served).toBe(budget);
    expect(h.messages('reject')).toHaveLength(1);
    h.push({ type: 'wire.request', ...req(SET[1]!) });
    expect(h.messages('reject')).toEqual([
      { type: 'reject', ...req(OTHER[0]!) },
      { type: 'reject', ...req(SET[1]!) },
    ]);
  });

  it('a batch while choking: allowed-fast blocks are read (one command) up to the budget, the rest rejected at once', () => {
    const h = start({ pieces: PIECES, settings: { allowedFastSetSize: K } });
    h.connect(FAST, [0, 1, 2, 3, 4, 5, 6, 7]);
    const budget = SERVE_FACTOR * K * 2;
    // The set's blocks, over the budget by two, with a piece outside the set in the middle.
    const allowed = Array.from({ length: budget + 2 }, (_, i) => req(SET[i % K]!, (i % 2) * BLOCK));
    const batch = [...allowed.slice(0, 3), req(OTHER[0]!), ...allowed.slice(3)];
    h.push({ type: 'wire.requests', requests: batch });
    expect(h.snapshot().context.fast.served).toBe(budget);
    const read = h.reader.reads.flatMap((r) => r.blocks);
    expect(h.reader.reads).toHaveLength(1);
    expect(read).toEqual(allowed.slice(0, Math.min(budget, read.length)));
    expect(h.messages('reject')).toEqual([
      { type: 'reject', ...req(OTHER[0]!) },
      ...allowed.slice(budget).map((r) => ({ type: 'reject', ...r })),
    ]);
  });

  it('a piece of the set we did not have yet is not served until we announced it', () => {
    const h = start({ pieces: PIECES, settings: { allowedFastSetSize: K } });
    h.connect(FAST, []);
    expect(h.messages('have-none')).toHaveLength(1);
    h.push({ type: 'wire.request', ...req(SET[2]!) });
    expect(h.messages('reject')).toEqual([{ type: 'reject', ...req(SET[2]!) }]);
    h.announce(SET[2]!);
    h.push({ type: 'wire.request', ...req(SET[2]!) });
    expect(h.reader.reads).toEqual([{ type: 'upload.read', blocks: [req(SET[2]!)] }]);
  });
});

describe('BEP 6: pieces the peer allows us', () => {
  /** Connected to a fast peer that has everything and chokes us; we are interested. */
  function chokedInterested() {
    const h = start({ pieces: PIECES });
    h.connect(FAST);
    h.push({ type: 'wire.have-all' });
    h.send({ type: 'peer.interest', interested: true });
    return h;
  }

  it('are requested while it chokes us: peer.wants asks only for them, other blocks go back', () => {
    const h = chokedInterested();
    expect(requestsState(h)).toBe('idle');
    expect(h.reports('peer.wants')).toEqual([]);
    h.push({ type: 'wire.allowed-fast', index: 5 });
    expect(requestsState(h)).toBe('fast');
    expect(h.reports('peer.wants')).toEqual([{ type: 'peer.wants', key: h.key, count: 2, only: [5] }]);
    h.send({ type: 'peer.request', requests: [req(5), req(6), req(5, BLOCK)] });
    expect(h.messages('request')).toEqual([
      { type: 'request', ...req(5) },
      { type: 'request', ...req(5, BLOCK) },
    ]);
    expect(h.reports('peer.returned')).toEqual([{ type: 'peer.returned', key: h.key, requests: [req(6)] }]);
    // A block frees a slot: the top-up is restricted too.
    h.deliver(req(5));
    const blocks = h.reports('peer.blocks').at(-1)!;
    expect(blocks.want).toBeGreaterThan(0);
    expect(blocks.only).toEqual([5]);
    // A new allowed piece: asked for at once.
    h.push({ type: 'wire.allowed-fast', index: 2 });
    expect(h.reports('peer.wants').at(-1)).toMatchObject({ type: 'peer.wants', only: [5, 2] });
  });

  it('blocks of one socket read (wire.pieces) are taken while choked in fast, and free slots for more', () => {
    const h = chokedInterested();
    h.push({ type: 'wire.allowed-fast', index: 5 });
    h.send({ type: 'peer.request', requests: [req(5), req(5, BLOCK)] });
    expect(requestsState(h)).toBe('fast');
    const before = h.reports('peer.blocks').length;
    h.push({ type: 'wire.pieces', blocks: [req(5), req(5, BLOCK)].map((r) => ({ ...r, block: bytes(BLOCK, 5) })) });
    expect(requestsState(h)).toBe('fast');
    const blocks = h.reports('peer.blocks').slice(before);
    expect(blocks.flatMap((b) => b.blocks.map((x) => [x.index, x.begin]))).toEqual([
      [5, 0],
      [5, BLOCK],
    ]);
    expect(blocks.at(-1)!.only).toEqual([5]);
  });

  it('unchoke → active (unrestricted), choke → fast again; the last allowed piece verified → idle', () => {
    const h = chokedInterested();
    h.push({ type: 'wire.allowed-fast', index: 5 });
    h.push({ type: 'wire.unchoke' });
    expect(requestsState(h)).toBe('active');
    expect(h.reports('peer.wants').at(-1)).toEqual({ type: 'peer.wants', key: h.key, count: 2 });
    h.push({ type: 'wire.choke' });
    expect(requestsState(h)).toBe('fast');
    h.announce(5);
    expect(requestsState(h)).toBe('idle');
    expect(h.snapshot().context.fast.allowedIn).toEqual([]);
  });

  it('a reject in fast frees its slot and asks again; not interested any more → idle', () => {
    const h = chokedInterested();
    h.push({ type: 'wire.allowed-fast', index: 3 });
    h.send({ type: 'peer.request', requests: [req(3)] });
    const wants = h.reports('peer.wants').length;
    h.push({ type: 'wire.reject', ...req(3) });
    // The freed slot is asked for in the same report, for the allowed pieces only.
    expect(h.reports('peer.returned').at(-1)).toEqual({
      type: 'peer.returned',
      key: h.key,
      requests: [req(3)],
      want: 2,
      only: [3],
    });
    expect(h.reports('peer.wants')).toHaveLength(wants);
    h.send({ type: 'peer.refill' });
    expect(h.reports('peer.wants')).toHaveLength(wants + 1);
    h.send({ type: 'peer.interest', interested: false });
    expect(requestsState(h)).toBe('idle');
  });

  it('a peer sitting on allowed-fast requests is snubbed like any other', () => {
    const h = chokedInterested();
    h.push({ type: 'wire.allowed-fast', index: 3 });
    h.send({ type: 'peer.request', requests: [req(3)] });
    h.advance(testSettings.snubTimeoutMs + TICK_MS);
    expect(requestsState(h)).toBe('snubbed');
    expect(h.reports('peer.returned').at(-1)).toEqual({ type: 'peer.returned', key: h.key, requests: [req(3)] });
  });

  it('are bounded, checked, and ignored from a peer without the fast bit', () => {
    const h = chokedInterested();
    h.push({ type: 'wire.allowed-fast', index: PIECES });
    h.push({ type: 'wire.allowed-fast', index: 1 });
    h.push({ type: 'wire.allowed-fast', index: 1 });
    expect(h.snapshot().context.fast.allowedIn).toEqual([1]);
    const big = start({ pieces: 100 });
    big.connect(FAST);
    for (let i = 0; i < 100; i++) big.push({ type: 'wire.allowed-fast', index: i });
    expect(big.snapshot().context.fast.allowedIn).toHaveLength(MAX_ALLOWED_IN);
    const plain = start({ pieces: PIECES });
    plain.connect(NO_EXT);
    plain.push({ type: 'wire.have-all' });
    plain.send({ type: 'peer.interest', interested: true });
    plain.push({ type: 'wire.allowed-fast', index: 1 });
    expect(plain.snapshot().context.fast.allowedIn).toEqual([]);
    expect(requestsState(plain)).toBe('idle');
  });
});

describe('BEP 6: suggest', () => {
  it('is kept as a bounded hint, newest last, and goes with peer.wants while unchoked', () => {
    const h = start({ pieces: 40 });
    h.connect(FAST);
    h.push({ type: 'wire.have-all' });
    h.push({ type: 'wire.suggest', index: 7 });
    h.push({ type: 'wire.suggest', index: 40 });
    h.push({ type: 'wire.suggest', index: 3 });
    h.push({ type: 'wire.suggest', index: 7 });
    expect(h.snapshot().context.fast.suggested).toEqual([3, 7]);
    h.push({ type: 'wire.unchoke' });
    h.send({ type: 'peer.interest', interested: true });
    expect(h.reports('peer.wants').at(-1)).toEqual({ type: 'peer.wants', key: h.key, count: 2, prefer: [3, 7] });
    h.announce(3);
    expect(h.snapshot().context.fast.suggested).toEqual([7]);
    for (let i = 0; i < 30; i++) h.push({ type: 'wire.suggest', index: i });
    expect(h.snapshot().context.fast.suggested).toEqual(Array.from({ length: MAX_SUGGESTED }, (_, i) => 14 + i));
  });

  it('is ignored from a peer without the fast bit', () => {
    const h = start({ pieces: PIECES });
    h.connect(NO_EXT);
    h.push({ type: 'wire.suggest', index: 1 });
    expect(h.snapshot().context.fast.suggested).toEqual([]);
  });
});

describe('BEP 6: reject for every request we drop', () => {
  function unchokedFast() {
    const h = start({ pieces: PIECES });
    h.connect(FAST, [0, 1, 2, 3, 4, 5, 6, 7]);
    h.send({ type: 'peer.unchoke' });
    return h;
  }

  it('a cancelled request is answered with a reject (BEP 6), and its block is not sent', () => {
    const h = unchokedFast();
    h.push({ type: 'wire.request', ...req(1) });
    h.push({ type: 'wire.cancel', ...req(1) });
    expect(h.messages('reject')).toEqual([{ type: 'reject', ...req(1) }]);
    h.answer({ type: 'upload.blocks', blocks: [{ ...req(1), data: bytes(BLOCK, 1) }], failed: [] });
    expect(sentBlocks(h)).toEqual([]);
    // A cancel for nothing queued is not answered.
    h.push({ type: 'wire.cancel', ...req(2) });
    expect(h.messages('reject')).toHaveLength(1);
  });

  it('too long, a failed read (a piece we do not have), our choke: each a reject', () => {
    const h = unchokedFast();
    h.push({ type: 'wire.request', index: 1, begin: 0, length: 2 * BLOCK });
    h.push({ type: 'wire.request', ...req(2) });
    h.answer({
      type: 'upload.blocks',
      blocks: [],
      failed: [{ ...req(2), code: 'BT_ERR_NOT_VERIFIED', message: 'not verified' }],
    });
    h.push({ type: 'wire.congested' });
    h.push({ type: 'wire.request', ...req(3) });
    h.send({ type: 'peer.choke' });
    expect(h.messages('reject')).toEqual([
      { type: 'reject', index: 1, begin: 0, length: 2 * BLOCK },
      { type: 'reject', ...req(2) },
      { type: 'reject', ...req(3) },
    ]);
  });

  it('none to a peer without the fast bit', () => {
    const h = start({ pieces: PIECES });
    h.connect(NO_EXT, [0, 1]);
    h.send({ type: 'peer.unchoke' });
    h.push({ type: 'wire.request', ...req(1) });
    h.push({ type: 'wire.cancel', ...req(1) });
    h.send({ type: 'peer.choke' });
    h.push({ type: 'wire.request', ...req(1) });
    expect(h.messages('reject')).toEqual([]);
  });
});
