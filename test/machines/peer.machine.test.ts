/**
 * The peer statechart alone: the test plays the torrent (it answers `peer.wants` with `peer.request`,
 * admits the peer, tells it our interest) and the socket (it pushes `wire.*` events). What the peer
 * does with a real picker is in torrent.machine.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { transition } from 'xstate';
import { HAVE_SLACK, peerMachine } from '../../src/machines/peer/peer.machine.js';
import { outstanding } from '../../src/machines/peer/pipeline.js';
import { HAVE_BATCH, type PeerReport } from '../../src/machines/peer/types.js';
import { encodeExtensionHandshake } from '../../src/protocol/extension-handshake.js';
import {
  BLOCK,
  bitfieldOf,
  bytes,
  EXTENDED,
  FAST,
  INFO_HASH,
  NO_EXT,
  OUR_ID,
  startPeer,
  testSettings,
  THEIR_ID,
  type PeerHarness,
  TICK_MS,
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
    expect(h.wire.stopped).toBe(true);
  }
  current = [];
});

const REGIONS = ['amChoking', 'amInterested', 'peerChoking', 'peerInterested', 'requests'];
const connected = (h: PeerHarness) => (h.value() as { connected: Record<string, string> }).connected;
const closedReport = (h: PeerHarness) => h.reports('peer.closed')[0];
const req = (index: number, begin: number, length = BLOCK) => ({ index, begin, length });

/** Connected, the peer has `pieces`, unchoked us, and we told it we are interested: requests flow. */
function requesting(reserved = NO_EXT, settings: Parameters<typeof startPeer>[0] = {}) {
  const h = start(settings);
  h.connect(reserved);
  h.bitfield([0, 1, 2, 3]);
  h.push({ type: 'wire.unchoke' });
  h.send({ type: 'peer.interest', interested: true });
  return h;
}

describe('peer statechart: connecting, handshaking, admission', () => {
  it('dials, waits for the torrent to admit the peer after its handshake, then enters the parallel connected state', () => {
    const h = start();
    expect(h.value()).toBe('connecting');
    expect(h.wire.started).toBe(1);
    expect(h.wire.input).toMatchObject({ connect: { host: '10.0.0.2', port: 6881 }, pieceCount: 4 });
    expect(h.wire.input!.handshake.infoHash).toEqual(INFO_HASH);
    expect(h.wire.input!.handshake.peerId).toEqual(OUR_ID);
    expect(h.wire.input!.handshake.reserved[7]! & 0x04).toBe(0x04); // we offer BEP 6
    expect(h.wire.input!.handshake.reserved[5]! & 0x10).toBe(0x10); // and BEP 10
    expect(h.wire.input!.handshake.reserved[7]! & 0x10).toBe(0); // a v1 torrent: no BEP 52 bit

    h.push({ type: 'wire.connected' });
    expect(h.value()).toBe('handshaking');
    h.push({
      type: 'wire.handshake',
      handshake: { reserved: FAST, infoHash: INFO_HASH, peerId: THEIR_ID },
      encryption: 'rc4',
    });
    expect(h.value()).toBe('admitting');
    // The wire actor's word on encryption goes to the torrent with the handshake.
    expect(h.reports()).toEqual([
      {
        type: 'peer.handshake',
        key: h.key,
        peerId: THEIR_ID,
        fast: true,
        extended: false,
        v2: false,
        infoHash: INFO_HASH,
        encryption: 'rc4',
      },
    ]);
    expect(h.wire.commands).toEqual([]); // nothing is said before the torrent decides

    h.send({ type: 'peer.admit', have: bitfieldOf([]) });
    expect(Object.keys(connected(h)).sort()).toEqual([...REGIONS].sort());
    expect(connected(h)).toEqual({
      amChoking: 'choking',
      amInterested: 'notInterested',
      peerChoking: 'choked',
      peerInterested: 'notInterested',
      requests: 'idle',
    });
    const ctx = h.snapshot().context;
    expect(ctx.peerId).toBe('02'.repeat(20));
    expect(ctx.extensions).toEqual({ fast: true, extended: false, dht: false, v2: false });
    // Nothing to announce, a fast peer: have-none.
    expect(h.wire.commands).toEqual([{ type: 'wire.send', message: { type: 'have-none' } }]);
  });

  it('announces our pieces as admitted: a bitfield, nothing, or have-all to a fast peer when complete', () => {
    const a = start();
    a.connect(NO_EXT, [1]);
    expect(a.messages()).toEqual([{ type: 'bitfield', bytes: Uint8Array.from([0x40]) }]);

    const b = start();
    b.connect(); // no fast extension and nothing to say: the bitfield is omitted (BEP 3)
    expect(b.wire.commands).toEqual([]);

    const c = start();
    c.connect(FAST, [0, 1, 2, 3]);
    expect(c.messages()).toEqual([{ type: 'have-all' }]);

    const d = start();
    d.connect(FAST, [0, 1, 2, 3].slice(0, 2));
    expect(d.messages()).toEqual([{ type: 'bitfield', bytes: Uint8Array.from([0xc0]) }]);
  });

  it('an extension-protocol peer gets our BEP 10 handshake (reqq, client) before the bitfield', () => {
    const h = start();
    h.connect(EXTENDED, [2]);
    const [ext, bf] = h.messages();
    expect(ext).toEqual({
      type: 'extended',
      id: 0,
      payload: encodeExtensionHandshake({ m: {}, reqq: testSettings.maxQueuedRequests, client: 'bt-actor' }),
    });
    expect(bf).toEqual({ type: 'bitfield', bytes: Uint8Array.from([0x20]) });
  });

  it('our pieces verified before admission are in the admitted bitfield; announcements before it are ignored', () => {
    const h = start();
    h.handshake();
    h.send({ type: 'peer.announce', pieces: [3], have: bitfieldOf([3]) });
    expect(h.wire.commands).toEqual([]);
    h.send({ type: 'peer.admit', have: bitfieldOf([3]) });
    expect(h.messages()).toEqual([{ type: 'bitfield', bytes: Uint8Array.from([0x10]) }]);
    h.send({ type: 'peer.announce', pieces: [0], have: bitfieldOf([0, 3]) });
    expect(h.messages().at(-1)).toEqual({ type: 'have', index: 0 });
  });

  it('while the torrent decides, nothing is said, and a torrent that never answers is timed out', () => {
    const h = start();
    h.handshake();
    h.push({ type: 'wire.bitfield', bytes: bitfieldOf([1]) });
    expect(h.value()).toBe('admitting');
    expect(h.reports('peer.bitfield')).toEqual([]);
    h.advance(testSettings.handshakeTimeoutMs);
    expect(closedReport(h)).toMatchObject({ reason: 'timeout', detail: 'admission' });
  });

  it('closes on an info-hash mismatch', () => {
    const h = start();
    h.push({ type: 'wire.connected' });
    h.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: bytes(20, 0xbb), peerId: THEIR_ID } });
    expect(h.status()).toBe('done');
    expect(h.snapshot().value).toBe('closed');
    expect(h.wire.commands).toEqual([{ type: 'wire.close' }]);
    expect(h.wire.stopped).toBe(true);
    expect(h.reports()).toEqual([
      { type: 'peer.closed', key: h.key, reason: 'info-hash-mismatch', downloaded: 0, uploaded: 0 },
    ]);
    expect(h.received.some((e) => e.type === 'xstate.done.actor.peer')).toBe(true);
  });

  it('closes a connection to ourselves', () => {
    const h = start();
    h.push({ type: 'wire.connected' });
    h.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: INFO_HASH, peerId: OUR_ID } });
    expect(closedReport(h)).toMatchObject({ reason: 'self' });
    expect(h.reports('peer.handshake')).toEqual([]);
  });

  it('the torrent may refuse the peer instead of admitting it (a duplicate)', () => {
    const h = start();
    h.handshake();
    h.send({ type: 'peer.close', reason: 'duplicate' });
    expect(h.wire.commands).toEqual([{ type: 'wire.close' }]);
    expect(closedReport(h)).toMatchObject({ reason: 'duplicate' } satisfies Partial<PeerReport>);
  });

  it('times out connecting, and handshaking, on the simulated clock', () => {
    const a = start();
    a.advance(testSettings.connectTimeoutMs - 1);
    expect(a.value()).toBe('connecting');
    a.advance(1);
    expect(closedReport(a)).toMatchObject({ reason: 'timeout', detail: 'connect' });
    expect(a.wire.commands).toEqual([{ type: 'wire.close' }]);

    const b = start();
    b.advance(5_000);
    b.push({ type: 'wire.connected' }); // the handshake timer starts now
    b.advance(testSettings.handshakeTimeoutMs - 1);
    expect(b.value()).toBe('handshaking');
    b.advance(1);
    expect(closedReport(b)).toMatchObject({ reason: 'timeout', detail: 'handshake' });
  });

  it('incoming: hands the transport to the bridge and answers the handshake only after the peer’s', () => {
    const transport = { socket: 'accepted-socket', initialBytes: bytes(3, 7) };
    const h = start({ direction: 'incoming', transport });
    expect(h.wire.input).toMatchObject({ transport, pieceCount: 4 });
    expect(h.wire.input).not.toHaveProperty('connect');
    h.push({ type: 'wire.connected' });
    expect(h.wire.commands).toEqual([]);
    h.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: INFO_HASH, peerId: THEIR_ID } });
    expect(h.wire.commands).toEqual([{ type: 'wire.sendHandshake', infoHash: INFO_HASH }]);
    h.send({ type: 'peer.admit', have: bitfieldOf([2]) });
    expect(h.wire.commands).toEqual([
      { type: 'wire.sendHandshake', infoHash: INFO_HASH },
      { type: 'wire.send', message: { type: 'bitfield', bytes: Uint8Array.from([0x20]) } },
    ]);
  });

  it('incoming: never sends our handshake for another torrent', () => {
    const h = start({ direction: 'incoming', transport: {} });
    h.push({ type: 'wire.connected' });
    h.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: bytes(20, 0xbb), peerId: THEIR_ID } });
    expect(h.wire.commands).toEqual([{ type: 'wire.close' }]);
    expect(closedReport(h)).toMatchObject({ reason: 'info-hash-mismatch' });
  });

  it('BEP 52 hybrid: a handshake naming either hash is ours, and an incoming one is answered with the hash it named', () => {
    const V2 = bytes(20, 0x5e);
    const h = start({ direction: 'incoming', transport: {}, torrent: { hybridV2Hash: V2 } });
    h.push({ type: 'wire.connected' });
    h.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: V2, peerId: THEIR_ID } });
    expect(h.wire.commands).toEqual([{ type: 'wire.sendHandshake', infoHash: V2 }]);
    expect(h.value()).toBe('admitting');
    expect(h.reports('peer.handshake')[0]).toMatchObject({ v2: false, infoHash: V2 });
    // Outgoing: we name the v1 hash and set the v2 bit (BEP 52); a hybrid peer answering with the v2
    // hash is still our torrent, and the torrent learns which hash the connection runs under.
    const out = start({ torrent: { hybridV2Hash: V2, v2: true } });
    expect(out.wire.input?.handshake.infoHash).toEqual(INFO_HASH);
    expect(out.wire.input!.handshake.reserved[7]! & 0x10).toBe(0x10);
    out.push({ type: 'wire.connected' });
    const V2_BIT = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0x10);
    out.push({ type: 'wire.handshake', handshake: { reserved: V2_BIT, infoHash: V2, peerId: THEIR_ID } });
    expect(out.value()).toBe('admitting');
    expect(out.reports('peer.handshake')[0]).toMatchObject({ v2: true, infoHash: V2 });
    // Without a v2 hash (a v1 torrent) the same handshake is another torrent's.
    const v1 = start({ direction: 'incoming', transport: {} });
    v1.push({ type: 'wire.connected' });
    v1.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: V2, peerId: THEIR_ID } });
    expect(closedReport(v1)).toMatchObject({ reason: 'info-hash-mismatch' });
  });
});

describe('peer statechart: what the peer has, and our interest', () => {
  it('a flood of haves (more than the torrent has pieces, plus slack) closes the connection: a cheap rejection', () => {
    const h = start({ pieces: 8 });
    h.connect(FAST);
    for (let i = 0; i < 8 + HAVE_SLACK; i++) h.push({ type: 'wire.have', index: i % 8 });
    expect(h.snapshot().status).toBe('active');
    expect(h.reports('peer.have')).toHaveLength(8 + HAVE_SLACK);
    h.push({ type: 'wire.have', index: 0 });
    expect(h.reports('peer.have')).toHaveLength(8 + HAVE_SLACK); // not passed on
    expect(h.snapshot().context.close).toMatchObject({
      reason: 'protocol-error',
      detail: `${9 + HAVE_SLACK} haves for a torrent of 8 pieces`,
    });
  });

  it('a have of a piece we lack goes to the torrent at once; one of a piece we have rides on the next report', () => {
    const h = start({ pieces: 8 });
    h.connect(FAST, [0]);
    h.push({ type: 'wire.have', index: 0 }); // ours already: only its availability changes
    expect(h.reports('peer.have')).toEqual([]);
    h.push({ type: 'wire.have', index: 2 }); // one we lack: told at once, with the one waiting
    expect(h.reports('peer.have')).toEqual([{ type: 'peer.have', key: h.key, pieces: [0, 2] }]);
    // Ours since the torrent announced it: waits, and rides on the liveness check's report.
    h.announce(3);
    h.push({ type: 'wire.have', index: 3 });
    h.advance(TICK_MS);
    expect(h.reports('peer.stats')).toEqual([
      { type: 'peer.stats', key: h.key, downloaded: 0, uploaded: 0, downRate: 0, upRate: 0, haves: [3] },
    ]);
    // …or on a `peer.wants` (the peer unchokes us and the torrent is interested)…
    h.push({ type: 'wire.have', index: 0 });
    h.push({ type: 'wire.unchoke' });
    h.send({ type: 'peer.interest', interested: true });
    expect(h.reports('peer.wants').at(-1)).toMatchObject({ count: testSettings.minQueue, haves: [0] });
    // …or on a `peer.blocks`.
    h.send({ type: 'peer.request', requests: [req(2, 0)] });
    h.push({ type: 'wire.have', index: 3 });
    h.deliver(req(2, 0));
    expect(h.reports('peer.blocks').at(-1)).toMatchObject({ haves: [3] });
    expect(h.snapshot().context.pieces.unsent).toEqual([]);
    expect(h.reports('peer.have')).toHaveLength(1);
    // At most HAVE_BATCH wait: then they go as one `peer.have`.
    for (let i = 0; i < HAVE_BATCH; i++) h.push({ type: 'wire.have', index: 0 });
    expect(h.reports('peer.have').at(-1)).toEqual({
      type: 'peer.have',
      key: h.key,
      pieces: new Array<number>(HAVE_BATCH).fill(0),
    });
    expect(h.snapshot().context.pieces.unsent).toEqual([]);
  });

  it('a read of several haves (wire.haves) is taken as those haves: told at once if one is of a piece we lack, closed if one is out of range', () => {
    const h = start({ pieces: 8 });
    h.connect(FAST, [0, 1]);
    h.push({ type: 'wire.haves', indices: [0, 1] }); // all ours: they wait for the next report
    expect(h.reports('peer.have')).toEqual([]);
    expect(h.snapshot().context.pieces).toMatchObject({ unsent: [0, 1], received: 2, announced: true });
    h.push({ type: 'wire.haves', indices: [1, 5, 6] }); // 5 and 6 we lack: all told at once
    expect(h.reports('peer.have')).toEqual([{ type: 'peer.have', key: h.key, pieces: [0, 1, 1, 5, 6] }]);
    expect(h.snapshot().context.pieces.unsent).toEqual([]);
    h.push({ type: 'wire.haves', indices: [2, 8] });
    expect(closedReport(h)).toMatchObject({ reason: 'protocol-error', detail: 'have for piece 8 of 8' });
    expect(h.reports('peer.have')).toHaveLength(1);
  });

  it('a flood of haves in batches closes as one by one does', () => {
    const h = start({ pieces: 8 });
    h.connect(FAST);
    h.push({ type: 'wire.haves', indices: Array.from({ length: 8 + HAVE_SLACK }, (_, i) => i % 8) });
    expect(h.snapshot().status).toBe('active');
    h.push({ type: 'wire.haves', indices: [0, 1] });
    expect(h.snapshot().context.close).toMatchObject({
      reason: 'protocol-error',
      detail: `${10 + HAVE_SLACK} haves for a torrent of 8 pieces`,
    });
  });

  it('reports a valid bitfield, have-all, have-none and haves to the torrent', () => {
    const h = start();
    h.connect(FAST);
    h.bitfield([0, 2]);
    h.push({ type: 'wire.have', index: 3 });
    expect(h.reports('peer.bitfield')).toEqual([{ type: 'peer.bitfield', key: h.key, pieces: bitfieldOf([0, 2]) }]);
    expect(h.reports('peer.have')).toEqual([{ type: 'peer.have', key: h.key, pieces: [3] }]);
    // Said: the bitfield is kept, for a later one to be checked against (a have changes nothing of it).
    expect(h.snapshot().context.pieces.announced).toEqual(bitfieldOf([0, 2]));
    const i = start();
    i.connect(FAST);
    i.push({ type: 'wire.have-all' });
    const j = start();
    j.connect(FAST);
    j.push({ type: 'wire.have-none' });
    expect(i.reports('peer.bitfield')[0]!.pieces).toBe('all');
    expect(j.reports('peer.bitfield')[0]!.pieces).toBe('none');
  });

  it('a bitfield with spare bits set, or of the wrong length, is a protocol error', () => {
    const a = start();
    a.connect();
    a.push({ type: 'wire.bitfield', bytes: Uint8Array.from([0xf1]) }); // 4 pieces: the low 4 bits are spare
    expect(closedReport(a)).toMatchObject({ reason: 'protocol-error' });
    expect(a.reports('peer.bitfield')).toEqual([]);
    expect(a.wire.commands.at(-1)).toEqual({ type: 'wire.close' });

    const b = start();
    b.connect();
    b.push({ type: 'wire.bitfield', bytes: Uint8Array.from([0xf0, 0x00]) });
    expect(closedReport(b)).toMatchObject({ reason: 'protocol-error' });
  });

  it('what a peer has is said once, first: a repeated bitfield or have-all, one taking a piece back, a second have-none close', () => {
    const a = start();
    a.connect(FAST);
    a.bitfield([0]);
    a.bitfield([0]); // a repeat: adds nothing
    expect(closedReport(a)).toMatchObject({ reason: 'protocol-error', detail: 'a second bitfield' });
    expect(a.reports('peer.bitfield')).toHaveLength(1);
    const back = start();
    back.connect(FAST);
    back.bitfield([0, 1]);
    back.bitfield([0, 2]); // adds 2 but takes 1 back
    expect(closedReport(back)).toMatchObject({ reason: 'protocol-error', detail: 'a second bitfield' });
    expect(back.reports('peer.have')).toEqual([]);
    const b = start();
    b.connect(FAST);
    b.push({ type: 'wire.have-all' });
    b.push({ type: 'wire.have-all' });
    expect(closedReport(b)).toMatchObject({
      reason: 'protocol-error',
      detail: 'have-all after its pieces were announced',
    });
    const c = start();
    c.connect(FAST);
    c.push({ type: 'wire.have-none' });
    c.push({ type: 'wire.have-none' });
    expect(closedReport(c)).toMatchObject({
      reason: 'protocol-error',
      detail: 'have-none after its pieces were announced',
    });
  });

  it("aria2's later bitfields and have-all (instead of many haves): the pieces they add become peer.have reports", () => {
    const h = start();
    h.connect(FAST);
    h.push({ type: 'wire.have-none' });
    h.push({ type: 'wire.have', index: 3 });
    h.bitfield([1, 3]); // adds 1 and 3 (3 was a have: the picker ignores it twice)
    h.bitfield([0, 1, 3]); // adds 0
    h.push({ type: 'wire.have-all' }); // adds 2
    expect(h.status()).toBe('active');
    expect(h.reports('peer.bitfield')).toEqual([{ type: 'peer.bitfield', key: h.key, pieces: 'none' }]);
    expect(h.reports('peer.have').flatMap((r) => r.pieces)).toEqual([3, 1, 3, 0, 2]);
    h.bitfield([0, 1, 2, 3]); // after have-all: nothing more to add
    expect(closedReport(h)).toMatchObject({ reason: 'protocol-error', detail: 'a second bitfield' });
  });

  it('a later bitfield of the wrong length closes, naming it', () => {
    const h = start();
    h.connect(FAST);
    h.bitfield([0]);
    h.push({ type: 'wire.bitfield', bytes: Uint8Array.from([0xf0, 0x00]) });
    expect(closedReport(h)).toMatchObject({ reason: 'protocol-error' });
    expect(h.reports('peer.have')).toEqual([]);
  });

  it('a have for a piece outside the torrent is a protocol error', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.have', index: 4 });
    expect(closedReport(h)).toMatchObject({ reason: 'protocol-error', detail: 'have for piece 4 of 4' });
  });

  it('says interested / not interested as the torrent decides, once each', () => {
    const h = start();
    h.connect();
    h.send({ type: 'peer.interest', interested: true });
    h.send({ type: 'peer.interest', interested: true });
    expect(connected(h).amInterested).toBe('interested');
    h.send({ type: 'peer.interest', interested: false });
    h.send({ type: 'peer.interest', interested: false });
    expect(h.messages()).toEqual([{ type: 'interested' }, { type: 'not-interested' }]);
    expect(connected(h).amInterested).toBe('notInterested');
  });

  it('a framing error from the bridge closes with protocol-error', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.protocolError', code: 'BT_ERR_FRAME_TOO_LARGE', message: 'too big' });
    expect(closedReport(h)).toMatchObject({ reason: 'protocol-error', detail: 'BT_ERR_FRAME_TOO_LARGE: too big' });
  });
});

describe('peer statechart: the request pipeline', () => {
  it('asks for minQueue blocks once unchoked and interested, in either order (Deluge unchokes first)', () => {
    const a = requesting();
    expect(connected(a).requests).toBe('active');
    expect(a.reports('peer.wants')).toEqual([{ type: 'peer.wants', key: a.key, count: testSettings.minQueue }]);

    const b = start();
    b.connect();
    b.send({ type: 'peer.interest', interested: true });
    expect(connected(b).requests).toBe('idle');
    expect(b.reports('peer.wants')).toEqual([]);
    b.push({ type: 'wire.unchoke' });
    expect(connected(b).requests).toBe('active');
    expect(b.reports('peer.wants')).toHaveLength(1);
  });

  it('sends the requests the torrent picked as one write, and takes only blocks it asked for', () => {
    const h = requesting();
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    expect(h.wire.commands.at(-1)).toEqual({
      type: 'wire.sendMany',
      messages: [
        { type: 'request', ...req(0, 0) },
        { type: 'request', ...req(0, BLOCK) },
      ],
    });
    expect(outstanding(h.snapshot().context.pipeline)).toEqual([req(0, 0), req(0, BLOCK)]);
    h.clock.increment(100);
    h.deliver(req(0, 0));
    const [blocks] = h.reports('peer.blocks');
    expect(blocks).toMatchObject({ key: h.key, want: 2, batch: 1 }); // 16 KiB in the first second: depth 3, 1 outstanding
    expect(blocks!.blocks.map((b) => [b.index, b.begin, b.block.length])).toEqual([[0, 0, BLOCK]]);
    expect(outstanding(h.snapshot().context.pipeline)).toEqual([req(0, BLOCK)]);
    expect(h.snapshot().context.traffic.downloaded).toBe(BLOCK);
    // Payload bytes never enter context.
    expect(
      JSON.stringify(h.snapshot().context, (_k, v) => (v instanceof Uint8Array && v.length > 20 ? 'BIG' : v)),
    ).not.toContain('BIG');
  });

  it('the blocks of one socket read travel as one peer.blocks report', () => {
    const h = requesting();
    h.send({ type: 'peer.request', requests: [req(1, 0), req(1, BLOCK)] });
    h.push({
      type: 'wire.pieces',
      blocks: [req(1, 0), req(1, BLOCK)].map((r) => ({ index: r.index, begin: r.begin, block: bytes(BLOCK, 2) })),
    });
    expect(h.reports('peer.blocks')).toHaveLength(1);
    expect(h.reports('peer.blocks')[0]!.blocks).toHaveLength(2);
    expect(outstanding(h.snapshot().context.pipeline)).toEqual([]);
  });

  it('a block that was never requested closes the connection; one we gave up lately is dropped quietly', () => {
    const a = requesting();
    a.send({ type: 'peer.request', requests: [req(0, 0)] });
    a.deliver(req(3, BLOCK));
    expect(closedReport(a)).toMatchObject({
      reason: 'protocol-error',
      detail: `unrequested block 3:${BLOCK}+${BLOCK}`,
    });
    expect(a.reports('peer.blocks')).toEqual([]);

    const b = requesting();
    b.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    b.send({ type: 'peer.cancel', ...req(0, 0) });
    expect(b.messages().at(-1)).toEqual({ type: 'cancel', ...req(0, 0) });
    b.deliver(req(0, 0)); // it was already on its way
    expect(b.status()).toBe('active');
    expect(b.reports('peer.blocks')).toEqual([]);
    expect(b.snapshot().context.liveness.blocks).toBe(1);
    expect(b.snapshot().context.traffic.dropped).toBe(1); // dropped, and counted
    expect(b.snapshot().context.traffic.downloaded).toBe(0);
  });

  it('requests that arrive when they cannot be sent go back to the torrent', () => {
    const h = start();
    h.send({ type: 'peer.request', requests: [req(0, 0)] }); // not even connected
    h.connect();
    h.send({ type: 'peer.request', requests: [req(1, 0)] }); // choked
    expect(h.reports('peer.returned').map((r) => r.requests)).toEqual([[req(0, 0)], [req(1, 0)]]);
    expect(h.messages('request')).toEqual([]);
  });

  it('a choke (no fast extension) gives every request back; a fast peer keeps them until it rejects them', () => {
    const a = requesting();
    a.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    a.push({ type: 'wire.choke' });
    expect(connected(a)).toMatchObject({ peerChoking: 'choked', requests: 'idle' });
    expect(a.reports('peer.returned')).toEqual([
      { type: 'peer.returned', key: a.key, requests: [req(0, 0), req(0, BLOCK)] },
    ]);
    expect(outstanding(a.snapshot().context.pipeline)).toEqual([]);
    a.deliver(req(0, 0)); // sent before the choke: late, dropped
    expect(a.status()).toBe('active');
    a.push({ type: 'wire.unchoke' });
    expect(connected(a).requests).toBe('active');
    expect(a.reports('peer.wants')).toHaveLength(2);

    const b = requesting(FAST);
    b.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    b.push({ type: 'wire.choke' });
    expect(b.reports('peer.returned')).toEqual([]);
    expect(outstanding(b.snapshot().context.pipeline)).toHaveLength(2);
    b.push({ type: 'wire.reject', ...req(0, 0) });
    expect(b.reports('peer.returned')).toEqual([{ type: 'peer.returned', key: b.key, requests: [req(0, 0)] }]);
    expect(b.reports('peer.wants')).toHaveLength(1); // no new request while choked
  });

  it('a reject while unchoked frees a slot the torrent is asked to fill, in the same report', () => {
    const h = requesting(FAST);
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    const wants = h.reports('peer.wants').length;
    h.push({ type: 'wire.reject', ...req(0, BLOCK) });
    expect(h.reports('peer.returned')).toEqual([
      { type: 'peer.returned', key: h.key, requests: [req(0, BLOCK)], want: 1 },
    ]);
    expect(h.reports('peer.wants')).toHaveLength(wants);
    h.push({ type: 'wire.reject', ...req(2, 0) }); // never asked: nothing to give back, but a slot is free
    expect(h.reports('peer.returned')).toHaveLength(1);
    expect(h.reports('peer.wants').at(-1)).toEqual({ type: 'peer.wants', key: h.key, count: 1 });
  });

  it('a peer that lowers its reqq below what is outstanding: the newest requests are cancelled and go back', () => {
    const h = requesting(EXTENDED);
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK), req(1, 0), req(1, BLOCK)] });
    h.push({ type: 'wire.extended', id: 0, payload: encodeExtensionHandshake({ m: {}, reqq: 1 }) });
    expect(outstanding(h.snapshot().context.pipeline)).toEqual([req(0, 0)]);
    expect(h.messages('cancel')).toEqual(
      [req(0, BLOCK), req(1, 0), req(1, BLOCK)].map((r) => ({ type: 'cancel', ...r })),
    );
    expect(h.reports('peer.returned').at(-1)!.requests).toEqual([req(0, BLOCK), req(1, 0), req(1, BLOCK)]);
    // More than reqq at once: the rest goes straight back.
    h.deliver(req(0, 0));
    h.send({ type: 'peer.request', requests: [req(2, 0), req(2, BLOCK)] });
    expect(outstanding(h.snapshot().context.pipeline)).toEqual([req(2, 0)]);
    expect(h.reports('peer.returned').at(-1)!.requests).toEqual([req(2, BLOCK)]);
  });

  it('the pipeline deepens with the measured rate, up to maxQueue and the peer’s reqq', () => {
    const h = requesting(EXTENDED);
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    h.deliver(req(0, 0)); // 16 KiB/s: depth 3
    expect(h.reports('peer.blocks').at(-1)!.want).toBe(2);
    h.deliver(req(0, BLOCK)); // 32 KiB/s: depth 6, clamped to maxQueue 4
    expect(h.reports('peer.blocks').at(-1)!.want).toBe(4);
    h.push({ type: 'wire.extended', id: 0, payload: encodeExtensionHandshake({ m: {}, reqq: 2 }) });
    expect(h.snapshot().context.ext.reqq).toBe(2);
    h.send({ type: 'peer.refill' });
    expect(h.reports('peer.wants').at(-1)).toEqual({ type: 'peer.wants', key: h.key, count: 2 });
    // A malformed extension handshake is ignored (BEP 10), the connection stays.
    h.push({ type: 'wire.extended', id: 0, payload: bytes(5, 0x65) });
    h.push({ type: 'wire.extended', id: 7, payload: bytes(1, 0) });
    expect(h.status()).toBe('active');
    expect(h.snapshot().context.ext.reqq).toBe(2);
  });

  it('snub: no block for snubTimeoutMs gives the requests back; a block brings the peer back', () => {
    const h = requesting();
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    h.advance(testSettings.snubTimeoutMs - TICK_MS);
    h.push({ type: 'wire.keep-alive' }); // alive, but no blocks
    expect(connected(h).requests).toBe('active');
    h.advance(TICK_MS);
    expect(connected(h).requests).toBe('snubbed');
    expect(h.reports('peer.returned').at(-1)!.requests).toEqual([req(0, 0), req(0, BLOCK)]);
    expect(h.reports('peer.state').at(-1)).toMatchObject({ snubbed: true });
    // It finally delivers the given-up blocks (one socket read): asked again at once.
    h.push({ type: 'wire.pieces', blocks: [req(0, 0), req(0, BLOCK)].map((r) => ({ ...r, block: bytes(BLOCK, 1) })) });
    expect(connected(h).requests).toBe('active');
    expect(h.reports('peer.state').at(-1)).toMatchObject({ snubbed: false });
    expect(h.reports('peer.wants').length).toBeGreaterThan(1);
  });

  it('a peer that keeps delivering is never snubbed', () => {
    const h = requesting();
    let next = 0;
    for (let t = 0; t < 3 * testSettings.snubTimeoutMs; t += TICK_MS) {
      h.send({ type: 'peer.request', requests: [req(next % 4, 0)] });
      h.advance(TICK_MS);
      h.deliver(req(next % 4, 0));
      next++;
    }
    expect(h.reports('peer.closed')).toEqual([]);
    expect(connected(h).requests).toBe('active');
  });

  it('a snubbed peer that chokes and unchokes us is asked again', () => {
    const h = requesting();
    h.send({ type: 'peer.request', requests: [req(0, 0)] });
    h.advance(testSettings.snubTimeoutMs);
    expect(connected(h).requests).toBe('snubbed');
    h.push({ type: 'wire.choke' });
    expect(connected(h).requests).toBe('idle');
    h.push({ type: 'wire.unchoke' });
    expect(connected(h).requests).toBe('active');
  });

  it('an active peer with free slots asks again at each check, in its one check report (blocks may have been freed elsewhere)', () => {
    const h = requesting();
    const asked = h.reports('peer.wants').length;
    h.advance(TICK_MS);
    expect(h.reports('peer.stats')).toEqual([
      {
        type: 'peer.stats',
        key: h.key,
        downloaded: 0,
        uploaded: 0,
        downRate: 0,
        upRate: 0,
        want: testSettings.minQueue,
      },
    ]);
    expect(h.reports('peer.wants').length).toBe(asked); // no second event for the top-up
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    h.advance(TICK_MS); // full, nothing moved: nothing to say
    expect(h.reports('peer.stats')).toHaveLength(1);
    // Choked: not requesting, so no top-up asked at the check.
    h.push({ type: 'wire.choke' });
    h.advance(2 * TICK_MS);
    expect(h.reports('peer.stats')).toHaveLength(1);
  });
});

describe('peer statechart: uploading', () => {
  function unchoked(reserved = FAST) {
    const h = start();
    h.connect(reserved, [0, 1]);
    h.push({ type: 'wire.interested' });
    h.send({ type: 'peer.unchoke' });
    return h;
  }

  it('tells the torrent when the peer’s interest and our choke change', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.interested' });
    h.send({ type: 'peer.unchoke' });
    h.push({ type: 'wire.not-interested' });
    h.send({ type: 'peer.choke' });
    expect(
      h.reports('peer.state').map(({ peerInterested, amChoking, snubbed }) => [peerInterested, amChoking, snubbed]),
    ).toEqual([
      [true, true, false],
      [true, false, false],
      [false, false, false],
      [false, true, false],
    ]);
    expect(h.messages()).toEqual([{ type: 'unchoke' }, { type: 'choke' }]);
  });

  it('serves a valid request: reads the block, sends it, counts it', () => {
    const h = unchoked();
    h.push({ type: 'wire.request', ...req(1, BLOCK) });
    expect(h.reader.reads).toEqual([{ type: 'upload.read', blocks: [req(1, BLOCK)] }]);
    h.answer({ type: 'upload.blocks', blocks: [{ ...req(1, BLOCK), data: bytes(BLOCK, 5) }], failed: [] });
    expect(h.wire.commands.at(-1)).toEqual({
      type: 'wire.sendBlocks',
      blocks: [{ index: 1, begin: BLOCK, block: bytes(BLOCK, 5) }],
    });
    expect(h.snapshot().context.traffic.uploaded).toBe(BLOCK);
    expect(h.snapshot().context.uploads.queued).toEqual([]);
  });

  it('serves a batch of requests (`wire.requests`) with one read command and one `wire.sendBlocks`', () => {
    const h = start();
    h.connect(FAST, [0, 1]);
    h.send({ type: 'peer.unchoke' });
    const commandsBefore = h.wire.commands.length;
    h.push({ type: 'wire.requests', requests: [req(0, 0), req(0, BLOCK), req(1, 0), req(2, 0)] });
    expect(h.reader.reads).toEqual([{ type: 'upload.read', blocks: [req(0, 0), req(0, BLOCK), req(1, 0), req(2, 0)] }]);
    // One answer: three blocks read (out of order), one failure (a piece we lack).
    h.answer({
      type: 'upload.blocks',
      blocks: [
        { ...req(1, 0), data: bytes(BLOCK, 3) },
        { ...req(0, 0), data: bytes(BLOCK, 1) },
        { ...req(0, BLOCK), data: bytes(BLOCK, 2) },
      ],
      failed: [{ ...req(2, 0), code: 'BT_ERR_NOT_VERIFIED', message: 'no' }],
    });
    const after = h.wire.commands.slice(commandsBefore);
    expect(after).toEqual([
      {
        type: 'wire.sendBlocks',
        blocks: [
          { index: 1, begin: 0, block: bytes(BLOCK, 3) },
          { index: 0, begin: 0, block: bytes(BLOCK, 1) },
          { index: 0, begin: BLOCK, block: bytes(BLOCK, 2) },
        ],
      },
      { type: 'wire.send', message: { type: 'reject', ...req(2, 0) } },
    ]);
    expect(h.snapshot().context.traffic.uploaded).toBe(3 * BLOCK);
    expect(h.snapshot().context.uploads).toEqual({ queued: [], started: 0, reads: 0, congested: false });
  });

  it('a batch: blocks cancelled meanwhile are left out of `wire.sendBlocks`; its rejects leave as one `wire.sendMany`', () => {
    const h = start();
    h.connect(FAST, [0, 1]);
    // Choking it: every request of the batch is rejected (none of these pieces is allowed fast).
    h.push({ type: 'wire.requests', requests: [req(1, 0), req(1, BLOCK), req(0, 0, 2 * BLOCK)] });
    expect(h.wire.commands.at(-1)).toEqual({
      type: 'wire.sendMany',
      messages: [
        { type: 'reject', ...req(1, 0) },
        { type: 'reject', ...req(1, BLOCK) },
        { type: 'reject', ...req(0, 0, 2 * BLOCK) },
      ],
    });
    expect(h.reader.reads).toEqual([]);
    h.send({ type: 'peer.unchoke' });
    h.push({ type: 'wire.requests', requests: [req(0, 0), req(0, BLOCK), req(1, 0)] });
    h.push({ type: 'wire.cancel', ...req(0, BLOCK) });
    h.answer({
      type: 'upload.blocks',
      blocks: [req(0, 0), req(0, BLOCK), req(1, 0)].map((r) => ({ ...r, data: bytes(BLOCK, 4) })),
      failed: [],
    });
    expect(h.wire.commands.filter((c) => c.type === 'wire.sendBlocks')).toEqual([
      {
        type: 'wire.sendBlocks',
        blocks: [
          { index: 0, begin: 0, block: bytes(BLOCK, 4) },
          { index: 1, begin: 0, block: bytes(BLOCK, 4) },
        ],
      },
    ]);
    expect(h.snapshot().context.traffic.uploaded).toBe(2 * BLOCK);
  });

  it('a batch with a request outside the torrent closes, as does one past the queue cap', () => {
    const bad = unchoked();
    bad.push({ type: 'wire.requests', requests: [req(0, 0), { index: 9, begin: 0, length: BLOCK }, req(1, 0)] });
    expect(closedReport(bad)).toMatchObject({
      reason: 'protocol-error',
      detail: `request 9:0+${BLOCK} is not a range of a piece of the torrent`,
    });
    const flood = unchoked();
    flood.push({
      type: 'wire.requests',
      requests: Array.from({ length: testSettings.maxQueuedRequests + 1 }, () => req(1, 0)),
    });
    expect(closedReport(flood)).toMatchObject({
      reason: 'protocol-error',
      detail: `more than ${testSettings.maxQueuedRequests} requests queued (flood)`,
    });
  });

  it('refuses requests while choking (BEP 6 reject), oversized ones, and failed reads; closes on nonsense', () => {
    const h = start();
    h.connect(FAST, [0]);
    h.push({ type: 'wire.request', ...req(0, 0) }); // choked
    h.send({ type: 'peer.unchoke' });
    h.push({ type: 'wire.request', index: 0, begin: 0, length: 2 * BLOCK }); // too long
    h.push({ type: 'wire.request', ...req(2, 0) }); // we lack it: the reader says so
    h.answer({
      type: 'upload.blocks',
      blocks: [],
      failed: [{ ...req(2, 0), code: 'BT_ERR_NOT_VERIFIED', message: 'no' }],
    });
    expect(h.messages('reject')).toEqual([
      { type: 'reject', ...req(0, 0) },
      { type: 'reject', index: 0, begin: 0, length: 2 * BLOCK },
      { type: 'reject', ...req(2, 0) },
    ]);
    h.push({ type: 'wire.request', index: 9, begin: 0, length: BLOCK });
    expect(closedReport(h)).toMatchObject({
      reason: 'protocol-error',
      detail: `request 9:0+${BLOCK} is not a range of a piece of the torrent`,
    });
  });

  it('a cancelled request, or one dropped by a choke, is not sent when its read returns', () => {
    const h = unchoked();
    h.push({ type: 'wire.request', ...req(0, 0) });
    h.push({ type: 'wire.request', ...req(0, BLOCK) });
    h.push({ type: 'wire.cancel', ...req(0, 0) });
    h.answer({ type: 'upload.blocks', blocks: [{ ...req(0, 0), data: bytes(BLOCK, 1) }], failed: [] });
    h.send({ type: 'peer.choke' });
    // BEP 6: the cancel is answered with a reject, and so is the request the choke dropped.
    expect(h.messages('reject')).toEqual([
      { type: 'reject', ...req(0, 0) },
      { type: 'reject', ...req(0, BLOCK) },
    ]);
    h.answer({ type: 'upload.blocks', blocks: [{ ...req(0, BLOCK), data: bytes(BLOCK, 1) }], failed: [] });
    expect(h.wire.commands.filter((c) => c.type === 'wire.sendBlocks')).toEqual([]);
    expect(h.snapshot().context.uploads).toEqual({ queued: [], started: 0, reads: 0, congested: false });
  });

  it('backpressure: no read while the socket is congested; a flood past the cap closes', () => {
    const h = unchoked();
    h.push({ type: 'wire.congested' });
    h.push({ type: 'wire.request', ...req(0, 0) });
    expect(h.reader.reads).toEqual([]);
    h.push({ type: 'wire.drain' });
    expect(h.reader.reads).toEqual([{ type: 'upload.read', blocks: [req(0, 0)] }]);
    for (let i = 0; i <= testSettings.maxQueuedRequests; i++) h.push({ type: 'wire.request', ...req(1, 0) });
    expect(closedReport(h)).toMatchObject({
      reason: 'protocol-error',
      detail: `more than ${testSettings.maxQueuedRequests} requests queued (flood)`,
    });
  });
});

describe('peer statechart: liveness and closing', () => {
  it('drops a peer that sends nothing for silenceLimitMs, and keeps one that talks', () => {
    const h = start();
    h.connect();
    h.advance(testSettings.silenceLimitMs - TICK_MS);
    expect(h.status()).toBe('active');
    h.advance(TICK_MS);
    expect(closedReport(h)).toMatchObject({ reason: 'timeout' });
    expect(h.wire.commands.at(-1)).toEqual({ type: 'wire.close' });

    const k = start();
    k.connect();
    for (let i = 0; i < 10; i++) {
      k.advance(testSettings.silenceLimitMs / 2);
      k.push({ type: 'wire.keep-alive' });
    }
    expect(k.status()).toBe('active');
  });

  it('any message counts as a sign of life, even one that changes nothing', () => {
    const h = start();
    h.connect();
    for (let i = 0; i < 8; i++) {
      h.advance(testSettings.silenceLimitMs / 2);
      h.push({ type: i % 2 ? 'wire.choke' : 'wire.not-interested' }); // repeats of the initial states
    }
    expect(h.status()).toBe('active');
    h.push({ type: 'wire.unchoke' });
    h.push({ type: 'wire.interested' });
    for (let i = 0; i < 4; i++) {
      h.advance(testSettings.silenceLimitMs / 2);
      h.push({ type: i % 2 ? 'wire.unchoke' : 'wire.interested' });
    }
    for (const type of ['wire.port', 'wire.suggest', 'wire.allowed-fast', 'wire.unknown'] as const) {
      h.advance(testSettings.silenceLimitMs / 2);
      if (type === 'wire.port') h.push({ type, port: 6881 });
      else if (type === 'wire.unknown') h.push({ type, id: 99, payload: bytes(1, 0) });
      else h.push({ type, index: 0 });
    }
    expect(h.status()).toBe('active');
    expect(connected(h)).toMatchObject({ peerChoking: 'unchoked', peerInterested: 'interested' });
  });

  it('sends a keep-alive every keepAliveIntervalMs', () => {
    const h = start();
    h.connect();
    h.advance(testSettings.keepAliveIntervalMs - 1);
    expect(h.messages('keep-alive')).toHaveLength(0);
    h.advance(1);
    expect(h.messages('keep-alive')).toHaveLength(1);
    h.push({ type: 'wire.keep-alive' });
    h.advance(testSettings.keepAliveIntervalMs);
    expect(h.messages('keep-alive')).toHaveLength(2);
  });

  it('reports its counters and rates at each check while they move, then once more at rest', () => {
    const h = requesting();
    h.send({ type: 'peer.request', requests: [req(0, 0)] });
    h.deliver(req(0, 0));
    h.advance(TICK_MS);
    const [first] = h.reports('peer.stats');
    expect(first).toMatchObject({ key: h.key, downloaded: BLOCK, uploaded: 0 });
    expect(first!.downRate).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) h.advance(TICK_MS);
    const stats = h.reports('peer.stats');
    expect(stats.at(-1)!.downRate).toBe(0);
    // Choked (BEP 3): no longer requesting, so no top-up either.
    h.push({ type: 'wire.choke' });
    h.advance(TICK_MS);
    const n = h.reports('peer.stats').length;
    h.advance(3 * TICK_MS);
    expect(h.reports('peer.stats')).toHaveLength(n); // nothing moves: nothing to say
  });

  it('peer.close: wire.close, then peer.closed with the bytes downloaded', () => {
    const h = requesting();
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    h.deliver(req(0, 0));
    h.send({ type: 'peer.close', reason: 'shutdown' });
    expect(h.wire.commands.at(-1)).toEqual({ type: 'wire.close' });
    expect(h.reports('peer.closed')).toEqual([
      { type: 'peer.closed', key: h.key, reason: 'shutdown', downloaded: BLOCK, uploaded: 0 },
    ]);
    expect(h.status()).toBe('done');
    expect(h.wire.stopped).toBe(true);
  });

  it('wire.closed: socket-error with the error, closed-by-peer without; no wire.close sent', () => {
    const a = requesting();
    a.push({ type: 'wire.closed', error: { code: 'ECONNRESET', message: 'reset' } });
    expect(a.reports('peer.closed')).toEqual([
      {
        type: 'peer.closed',
        key: a.key,
        reason: 'socket-error',
        detail: 'ECONNRESET: reset',
        downloaded: 0,
        uploaded: 0,
      },
    ]);
    expect(a.wire.commands.filter((c) => c.type === 'wire.close')).toEqual([]);

    const b = start();
    b.push({ type: 'wire.closed' });
    expect(closedReport(b)).toMatchObject({ reason: 'closed-by-peer' });
  });

  it('peer.announce sends have; commands before the connection is up are ignored', () => {
    const h = start();
    h.announce(2);
    h.send({ type: 'peer.refill' });
    h.send({ type: 'peer.unchoke' });
    expect(h.wire.commands).toEqual([]);
    h.connect();
    h.announce(2);
    expect(h.messages()).toEqual([{ type: 'have', index: 2 }]);
    // Pieces announced together (found by one check) leave in one write.
    h.announce(0, 1);
    expect(h.wire.commands.at(-1)).toEqual({
      type: 'wire.sendMany',
      messages: [
        { type: 'have', index: 0 },
        { type: 'have', index: 1 },
      ],
    });
  });

  it("peer.tick carries the torrent's new pieces: their haves in one write, our pieces kept, then the check's report", () => {
    const h = start({ pieces: 8 });
    h.send({ type: 'peer.tick', elapsedMs: TICK_MS, pieces: [1], have: bitfieldOf([1], 8) });
    expect(h.wire.commands).toEqual([]); // before admission: ignored
    h.connect(NO_EXT, [0]);
    h.send({ type: 'peer.tick', elapsedMs: TICK_MS, pieces: [1, 2], have: bitfieldOf([0, 1, 2], 8) });
    expect(h.wire.commands.at(-1)).toEqual({
      type: 'wire.sendMany',
      messages: [
        { type: 'have', index: 1 },
        { type: 'have', index: 2 },
      ],
    });
    // Ours now: the peer's have of piece 2 only changes its availability (waits for a report) …
    h.push({ type: 'wire.have', index: 2 });
    expect(h.reports('peer.have')).toEqual([]);
    // … and the next tick's check carries it, with no haves of ours to send.
    const before = h.wire.commands.length;
    h.send({ type: 'peer.tick', elapsedMs: TICK_MS });
    expect(h.wire.commands).toHaveLength(before);
    expect(h.reports('peer.stats').at(-1)).toMatchObject({ haves: [2] });
    // The check counts the ticks' time: silent for the limit, the peer is dropped.
    for (let t = 0; t < testSettings.silenceLimitMs; t += TICK_MS) h.send({ type: 'peer.tick', elapsedMs: TICK_MS });
    expect(h.reports('peer.closed').at(-1)).toMatchObject({ reason: 'timeout' });
  });
});

describe('peer statechart: a pure function of (snapshot, event)', () => {
  it('transition() gives the same next state, context and actions every time, and changes nothing it is given', () => {
    const h = requesting();
    h.send({ type: 'peer.request', requests: [req(0, 0), req(0, BLOCK)] });
    const snap = h.snapshot();
    const before = JSON.stringify(snap.context);
    const event = { type: 'wire.pieces' as const, blocks: [{ index: 0, begin: 0, block: bytes(BLOCK, 1) }], at: 5 };
    const [a, actionsA] = transition(peerMachine, snap, event);
    const [b, actionsB] = transition(peerMachine, snap, event);
    expect(a.value).toEqual(b.value);
    expect(a.context).toEqual(b.context);
    expect(actionsA.map((x) => x.type)).toEqual(actionsB.map((x) => x.type));
    expect(JSON.stringify(snap.context)).toBe(before);
    expect(outstanding(a.context.pipeline)).toEqual([req(0, BLOCK)]);
    expect(outstanding(h.snapshot().context.pipeline)).toHaveLength(2); // the live actor did not move
  });
});
