import { afterEach, describe, expect, it } from 'vitest';
import type { PeerReport } from '../../src/machines/peer/types.js';
import {
  BLOCK,
  bytes,
  FAST,
  INFO_HASH,
  NO_EXT,
  OUR_ID,
  PIECE,
  startPeer,
  testSettings,
  THEIR_ID,
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
    expect(h.violations).toEqual([]);
    h.picker.checkInvariants();
    h.stop();
    expect(h.wire.stopped).toBe(true);
  }
  current = [];
});

const REGIONS = ['amChoking', 'amInterested', 'peerChoking', 'peerInterested', 'requests', 'liveness', 'keepAlive'];
const connected = (h: PeerHarness) => (h.value() as { connected: Record<string, string> }).connected;
const closedReport = (h: PeerHarness) => h.reports('peer.closed')[0];
const requests = (h: PeerHarness) => h.messages('request').map((r) => `${r.index}:${r.begin}`);

/** Connected, the peer has `pieces`, it unchoked us: requests are flowing. */
function downloading(pieces = [0, 1, 2, 3], opts: Parameters<typeof startPeer>[0] = {}, reserved = NO_EXT) {
  const h = start(opts);
  h.connect(reserved);
  h.bitfield(pieces);
  h.push({ type: 'wire.unchoke' });
  return h;
}

describe('peer statechart: connecting and handshaking', () => {
  it('dials, lets the bridge send our handshake, and enters the parallel connected state on a matching handshake', () => {
    const h = start();
    expect(h.value()).toBe('connecting');
    expect(h.wire.started).toBe(1);
    expect(h.wire.input).toMatchObject({ connect: { host: '10.0.0.2', port: 6881 }, pieceCount: 4 });
    expect(h.wire.input!.handshake.infoHash).toEqual(INFO_HASH);
    expect(h.wire.input!.handshake.peerId).toEqual(OUR_ID);
    expect(h.wire.input!.handshake.reserved[7]! & 0x04).toBe(0x04); // we offer BEP 6

    h.push({ type: 'wire.connected' });
    expect(h.value()).toBe('handshaking');
    h.push({ type: 'wire.handshake', handshake: { reserved: FAST, infoHash: INFO_HASH, peerId: THEIR_ID } });

    expect(Object.keys(connected(h)).sort()).toEqual([...REGIONS].sort());
    expect(connected(h)).toEqual({
      amChoking: 'choking',
      amInterested: 'notInterested',
      peerChoking: 'choked',
      peerInterested: 'notInterested',
      requests: 'idle',
      liveness: 'watching',
      keepAlive: 'waiting',
    });
    expect(h.reports()).toEqual([{ type: 'peer.handshake', key: h.key, peerId: THEIR_ID }]);
    const ctx = h.snapshot().context;
    expect(ctx.peerId).toBe('02'.repeat(20));
    expect(ctx.extensions).toEqual({ fast: true, extended: false, dht: false });
    // An outgoing connection never asks the bridge for a second handshake; with nothing to announce
    // but a fast peer, we say have-none.
    expect(h.wire.commands).toEqual([{ type: 'wire.send', message: { type: 'have-none' } }]);
    expect(h.picker.peerCount).toBe(1);
  });

  it('announces what we have: a bitfield, or have-all to a fast peer when we are complete', () => {
    const a = start({ have: [1] });
    a.connect();
    expect(a.messages()).toEqual([{ type: 'bitfield', bytes: Uint8Array.from([0x40]) }]);

    const b = start();
    b.connect(); // no fast extension and nothing to say: the bitfield is omitted (BEP 3)
    expect(b.wire.commands).toEqual([]);

    const c = start({ have: [0, 1, 2, 3] });
    c.connect(FAST);
    expect(c.messages()).toEqual([{ type: 'have-all' }]);
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
    expect(h.picker.peerCount).toBe(0);
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
    const h = start({
      direction: 'incoming',
      have: [2],
      transport: { socket: 'accepted-socket', initialBytes: bytes(3, 7) },
    });
    expect(h.wire.input).toMatchObject({ socket: 'accepted-socket', initialBytes: bytes(3, 7), pieceCount: 4 });
    expect(h.wire.input).not.toHaveProperty('connect');
    h.push({ type: 'wire.connected' });
    expect(h.wire.commands).toEqual([]);
    h.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: INFO_HASH, peerId: THEIR_ID } });
    expect(h.wire.commands).toEqual([
      { type: 'wire.sendHandshake' },
      { type: 'wire.send', message: { type: 'bitfield', bytes: Uint8Array.from([0x20]) } },
    ]);
    expect(h.reports('peer.handshake')).toHaveLength(1);
  });

  it('incoming: never sends our handshake for another torrent', () => {
    const h = start({ direction: 'incoming', transport: {} });
    h.push({ type: 'wire.connected' });
    h.push({ type: 'wire.handshake', handshake: { reserved: NO_EXT, infoHash: bytes(20, 0xbb), peerId: THEIR_ID } });
    expect(h.wire.commands).toEqual([{ type: 'wire.close' }]);
    expect(closedReport(h)).toMatchObject({ reason: 'info-hash-mismatch' });
  });
});

describe('peer statechart: interest', () => {
  it('a bitfield with pieces we lack makes us interested and counts availability', () => {
    const h = start({ have: [0] });
    h.connect();
    h.bitfield([0, 2]);
    expect(h.messages()).toEqual([{ type: 'bitfield', bytes: Uint8Array.from([0x80]) }, { type: 'interested' }]);
    expect(connected(h).amInterested).toBe('interested');
    expect(h.picker.availability(2)).toBe(1);
    expect(h.picker.availability(1)).toBe(0);
    expect(h.snapshot().context.announcedPieces).toBe(true);
  });

  it('stays not interested in a peer that has nothing we lack, and loses interest when we verify its last piece', () => {
    const a = start({ have: [0, 1] });
    a.connect();
    a.bitfield([0, 1]);
    expect(a.messages('interested')).toEqual([]);
    expect(connected(a).amInterested).toBe('notInterested');

    const b = start();
    b.connect();
    b.bitfield([3]);
    expect(b.messages('interested')).toHaveLength(1);
    b.picker.pieceVerified(3); // got it from someone else
    b.send({ type: 'peer.have', index: 3 });
    expect(b.messages().slice(-2)).toEqual([{ type: 'have', index: 3 }, { type: 'not-interested' }]);
    expect(connected(b).amInterested).toBe('notInterested');
  });

  it('the bitfield may be omitted: have messages alone make us interested', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.have', index: 1 });
    expect(h.messages()).toEqual([{ type: 'interested' }]);
    h.push({ type: 'wire.have', index: 3 });
    expect(h.messages()).toEqual([{ type: 'interested' }]); // said once
    expect(h.picker.availability(1)).toBe(1);
    expect(h.picker.availability(3)).toBe(1);
  });

  it('an unchoke before we are interested (Deluge unchokes first), then haves: interested, then requests', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.unchoke' });
    h.push({ type: 'wire.interested' });
    expect(connected(h)).toMatchObject({ peerChoking: 'unchoked', peerInterested: 'interested', requests: 'idle' });
    expect(h.messages()).toEqual([]);
    h.push({ type: 'wire.have', index: 2 });
    expect(h.messages()).toEqual([
      { type: 'interested' },
      { type: 'request', index: 2, begin: 0, length: BLOCK },
      { type: 'request', index: 2, begin: BLOCK, length: BLOCK },
    ]);
    expect(connected(h).requests).toBe('active');
  });

  it('have-all and have-none (BEP 6)', () => {
    const h = start({ have: [0] });
    h.connect(FAST);
    h.push({ type: 'wire.have-none' });
    expect(connected(h).amInterested).toBe('notInterested');
    const i = start();
    i.connect(FAST);
    i.push({ type: 'wire.have-all' });
    expect(connected(i).amInterested).toBe('interested');
    expect(i.picker.seedCount).toBe(1);
  });

  it('a bitfield with spare bits set, or of the wrong length, is a protocol error', () => {
    const a = start();
    a.connect();
    a.push({ type: 'wire.bitfield', bytes: Uint8Array.from([0xf1]) }); // 4 pieces: the low 4 bits are spare
    expect(closedReport(a)).toMatchObject({ reason: 'protocol-error' });
    expect(a.messages('interested')).toEqual([]);
    expect(a.wire.commands.at(-1)).toEqual({ type: 'wire.close' });

    const b = start();
    b.connect();
    b.push({ type: 'wire.bitfield', bytes: Uint8Array.from([0xf0, 0x00]) });
    expect(closedReport(b)).toMatchObject({ reason: 'protocol-error' });
    expect(b.picker.peerCount).toBe(0);
  });

  it('a have for a piece outside the torrent is a protocol error', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.have', index: 4 });
    expect(closedReport(h)).toMatchObject({ reason: 'protocol-error', detail: 'have for piece 4 of 4' });
  });

  it('a framing error from the bridge closes with protocol-error', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.protocolError', code: 'BT_ERR_FRAME_TOO_LARGE', message: 'too big' });
    expect(closedReport(h)).toMatchObject({ reason: 'protocol-error', detail: 'BT_ERR_FRAME_TOO_LARGE: too big' });
  });
});

describe('peer statechart: requests', () => {
  it('an unchoke while interested sends requests for blocks the peer has, as many as the queue depth', () => {
    const h = downloading([1, 3]);
    expect(connected(h).requests).toBe('active');
    // A new peer has no measured rate: minQueue requests, both blocks of one piece (rarest first,
    // then finishing what was started).
    const asked = h.messages('request');
    expect(asked).toHaveLength(testSettings.minQueue);
    expect([1, 3]).toContain(asked[0]!.index);
    expect(requests(h)).toEqual([`${asked[0]!.index}:0`, `${asked[0]!.index}:${BLOCK}`]);
    expect(h.picker.outstanding(h.key)).toEqual(asked.map(({ index, begin, length }) => ({ index, begin, length })));
  });

  it('accepts blocks into the piece buffers, refills after each block, and reports complete pieces', () => {
    const h = downloading([0, 1]);
    const sentAfterEach: number[] = [];
    for (let k = 0; k < 4; k++) {
      const next = h.messages('request')[k]!;
      h.clock.increment(100);
      h.deliver(next);
      expect(h.picker.blockState(next.index, next.begin)).toBe('received');
      sentAfterEach.push(h.messages('request').length);
    }
    // 2 asked at unchoke; the first block tops the pipeline up (to 3 at 16 KiB/s, but only 2 blocks
    // are left to ask for); then there is nothing more this peer has.
    expect(sentAfterEach).toEqual([4, 4, 4, 4]);
    expect(new Set(requests(h)).size).toBe(4); // two pieces of two blocks, each asked once
    expect(h.picker.outstandingCount(h.key)).toBe(0);
    expect(
      h
        .reports('peer.pieceComplete')
        .map((r) => r.index)
        .sort(),
    ).toEqual([0, 1]);
    expect(h.counters.downloaded).toBe(2 * PIECE);
    expect(h.snapshot().context.stats.downloaded).toBe(2 * PIECE);
    const piece0 = h.buffers.take(0)!;
    expect(piece0.length).toBe(PIECE);
    expect(piece0.every((b) => b === 1)).toBe(true);
    expect(h.buffers.take(1)!.every((b) => b === 2)).toBe(true);
    // Payload bytes never enter context.
    expect(
      JSON.stringify(h.snapshot().context, (_k, v) => (v instanceof Uint8Array && v.length > 20 ? 'BIG' : v)),
    ).not.toContain('BIG');
  });

  it('the queue grows with the measured rate, up to maxQueue', () => {
    const h = downloading([0, 1, 2, 3]);
    expect(h.picker.outstandingCount(h.key)).toBe(2);
    h.deliver(h.messages('request')[0]!); // 16 KiB in the first second: depth ⌈16 KiB/s × 3 s / 16 KiB⌉ = 3
    expect(h.picker.outstandingCount(h.key)).toBe(3);
    h.deliver(h.messages('request')[1]!); // 32 KiB/s: 6, clamped to maxQueue
    expect(h.picker.outstandingCount(h.key)).toBe(testSettings.maxQueue);
  });

  it('holds requests back while pieces wait for the disk past the cap, and resumes on the next have', () => {
    // minQueue 2 = one piece of two blocks at a time; the backlog cap is two pieces (of four).
    const h = downloading([0, 1, 2, 3], { maxPendingBytes: 2 * PIECE, settings: { minQueue: 2, maxQueue: 2 } });
    const served = new Set<string>();
    const taken: number[] = [];
    // Serve every outstanding request; the torrent takes each complete piece out for the disk (none
    // is written yet).
    const serve = () => {
      for (const r of h.messages('request')) {
        const id = `${r.index}:${r.begin}`;
        if (served.has(id)) continue;
        served.add(id);
        h.clock.increment(10);
        h.deliver(r);
        for (const { index } of h.reports('peer.pieceComplete')) {
          if (taken.includes(index)) continue;
          taken.push(index);
          h.buffers.take(index);
        }
      }
    };
    for (let i = 0; i < 4 && !h.buffers.backlogged; i++) serve();
    expect(h.buffers.backlogged).toBe(true);
    // What was asked before the backlog formed is delivered; nothing new is asked.
    const asked = h.messages('request').length;
    serve();
    expect(h.messages('request').length).toBe(asked);
    expect(h.picker.outstandingCount(h.key)).toBe(0);
    expect(taken.length).toBeLessThan(4);
    // Pieces are written: the torrent's `have` lets the pipeline refill.
    for (const i of taken) {
      if (!h.buffers.backlogged) break;
      h.buffers.done(i);
      h.send({ type: 'peer.have', index: i });
    }
    expect(h.buffers.backlogged).toBe(false);
    expect(h.messages('request').length).toBeGreaterThan(asked);
    expect(h.violations).toEqual([]);
  });

  it('a choke discards our requests (no fast extension): they go back to the picker and nothing is asked while choked', () => {
    const h = downloading([0, 1]);
    const asked = h.picker.outstanding(h.key);
    expect(asked).toHaveLength(2);
    h.push({ type: 'wire.choke' });
    expect(connected(h)).toMatchObject({ peerChoking: 'choked', requests: 'idle' });
    expect(h.picker.outstandingCount(h.key)).toBe(0);
    for (const r of asked) expect(h.picker.blockState(r.index, r.begin)).toBe('wanted');
    h.send({ type: 'peer.refill' });
    h.push({ type: 'wire.have', index: 2 });
    expect(h.messages('request')).toHaveLength(2);
    // A block sent before the choke reached the peer still counts.
    h.deliver(asked[0]!);
    expect(h.picker.blockState(asked[0]!.index, asked[0]!.begin)).toBe('received');
    expect(h.messages('request')).toHaveLength(2);
    h.push({ type: 'wire.unchoke' });
    expect(connected(h).requests).toBe('active');
    expect(h.messages('request').length).toBeGreaterThan(2);
  });

  it('a choke from a fast peer keeps our requests until it rejects them (BEP 6)', () => {
    const h = downloading([0, 1], {}, FAST);
    const asked = h.picker.outstanding(h.key);
    h.push({ type: 'wire.choke' });
    expect(h.picker.outstandingCount(h.key)).toBe(2);
    h.push({ type: 'wire.reject', ...asked[0]! });
    expect(h.picker.outstandingCount(h.key)).toBe(1);
    expect(h.picker.blockState(asked[0]!.index, asked[0]!.begin)).toBe('wanted');
    expect(h.messages('request')).toHaveLength(2); // the reject does not make us ask while choked
  });

  it('a reject while unchoked frees a slot that is filled again', () => {
    const h = downloading([0, 1], {}, FAST);
    const asked = h.picker.outstanding(h.key);
    h.push({ type: 'wire.reject', ...asked[1]! });
    expect(h.picker.outstandingCount(h.key)).toBe(2);
    expect(h.messages('request')).toHaveLength(3);
  });

  it('a block that was never requested is kept if valid, a protocol error if its offset is bad', () => {
    const a = downloading([0, 1, 2, 3]);
    a.push({ type: 'wire.piece', index: 3, begin: BLOCK, block: bytes(BLOCK, 9) }); // valid, unrequested
    expect(a.picker.blockState(3, BLOCK)).toBe('received');
    expect(a.status()).toBe('active');

    const b = downloading([0, 1, 2, 3]);
    b.push({ type: 'wire.piece', index: 3, begin: 100, block: bytes(BLOCK, 9) });
    expect(closedReport(b)).toMatchObject({ reason: 'protocol-error', detail: `unrequested block 3:100+${BLOCK}` });
    expect(b.counters.downloaded).toBe(0);
  });

  it('endgame: a block also requested from other peers is reported for cancelling there', () => {
    const h = start();
    h.picker.addPeer('other', 'all');
    expect(h.picker.pick('other', 8)).toHaveLength(8); // every block requested elsewhere: endgame
    expect(h.picker.inEndgame).toBe(true);
    h.connect();
    h.bitfield([0, 1, 2, 3]);
    h.push({ type: 'wire.unchoke' });
    const dup = h.messages('request')[0]!;
    expect(h.picker.requestersOf(dup.index, dup.begin)).toEqual(['other', h.key]);
    h.deliver(dup);
    expect(h.reports('peer.cancelElsewhere')).toEqual([
      { type: 'peer.cancelElsewhere', key: h.key, peers: ['other'], index: dup.index, begin: dup.begin, length: BLOCK },
    ]);
    h.picker.removePeer('other');
  });

  it('peer.cancel sends cancel and drops the request from the picker', () => {
    const h = downloading([0]);
    const [r] = h.picker.outstanding(h.key);
    h.send({ type: 'peer.cancel', ...r! });
    expect(h.messages().at(-1)).toEqual({ type: 'cancel', ...r });
    expect(h.picker.outstanding(h.key)).not.toContainEqual(r);
  });

  it('snub: no block for snubTimeoutMs releases the requests; a block brings the peer back', () => {
    const h = downloading([0, 1]);
    const asked = h.picker.outstanding(h.key);
    h.advance(testSettings.snubTimeoutMs - testSettings.checkIntervalMs);
    h.push({ type: 'wire.keep-alive' }); // alive, but no blocks
    expect(connected(h).requests).toBe('active');
    h.advance(testSettings.checkIntervalMs);
    expect(connected(h).requests).toBe('snubbed');
    expect(h.picker.outstandingCount(h.key)).toBe(0);
    for (const r of asked) expect(h.picker.blockState(r.index, r.begin)).toBe('wanted');
    expect(h.status()).toBe('active');
    // It finally delivers one of the released blocks: asked again at once.
    h.deliver(asked[0]!);
    expect(connected(h).requests).toBe('active');
    expect(h.picker.outstandingCount(h.key)).toBeGreaterThan(0);
    expect(h.messages('request').length).toBeGreaterThan(2);
  });

  it('a peer that is not starved is not snubbed', () => {
    const h = downloading([0, 1, 2, 3]);
    for (let t = 0; t < 3 * testSettings.snubTimeoutMs; t += testSettings.checkIntervalMs) {
      h.advance(testSettings.checkIntervalMs);
      const r = h.picker.outstanding(h.key)[0];
      if (r && t % 20_000 === 0) h.deliver(r);
    }
    expect(h.reports('peer.closed')).toEqual([]);
    expect(connected(h).requests).not.toBe('snubbed');
  });

  it('a snubbed peer that chokes and unchokes us is asked again', () => {
    const h = downloading([0, 1]);
    h.advance(testSettings.snubTimeoutMs);
    expect(connected(h).requests).toBe('snubbed');
    h.push({ type: 'wire.choke' });
    h.push({ type: 'wire.unchoke' });
    expect(connected(h).requests).toBe('active');
    expect(h.picker.outstandingCount(h.key)).toBe(2);
  });

  it('blocks freed elsewhere (another peer died) are picked up at the next check', () => {
    const h = start({ endgameMaxRequests: 1 });
    h.picker.addPeer('other', 'all');
    h.picker.pick('other', 8);
    h.connect();
    h.bitfield([0, 1, 2, 3]);
    h.push({ type: 'wire.unchoke' });
    expect(connected(h).requests).toBe('active');
    expect(h.messages('request')).toEqual([]); // nothing to ask: every block is out elsewhere
    h.picker.removePeer('other'); // its blocks are wanted again
    h.advance(testSettings.checkIntervalMs);
    expect(h.messages('request')).toHaveLength(2);
  });

  it('after a failed hash the torrent’s peer.refill asks for the blocks again', () => {
    const h = downloading([0]);
    for (const r of h.picker.outstanding(h.key)) h.deliver(r);
    expect(h.reports('peer.pieceComplete')).toEqual([{ type: 'peer.pieceComplete', key: h.key, index: 0 }]);
    expect(h.messages('request')).toHaveLength(2);
    h.buffers.discard(0);
    expect(h.picker.pieceFailed(0)).toEqual([h.key]);
    h.send({ type: 'peer.refill' });
    expect(requests(h)).toEqual(['0:0', '0:16384', '0:0', '0:16384']);
  });
});

describe('peer statechart: liveness and closing', () => {
  it('drops a peer that sends nothing for silenceLimitMs, and keeps one that talks', () => {
    const h = start();
    h.connect();
    h.advance(testSettings.silenceLimitMs - testSettings.checkIntervalMs);
    expect(h.status()).toBe('active');
    h.advance(testSettings.checkIntervalMs);
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

  it('peer.close: wire.close, then peer.closed with the bytes downloaded; the picker forgets the peer', () => {
    const h = downloading([0, 1]);
    h.deliver(h.messages('request')[0]!);
    expect(h.picker.availability(0)).toBe(1);
    const outstanding = h.picker.outstanding(h.key);
    expect(outstanding.length).toBeGreaterThan(0);
    h.send({ type: 'peer.close', reason: 'shutdown' });
    expect(h.wire.commands.at(-1)).toEqual({ type: 'wire.close' });
    expect(h.reports('peer.closed')).toEqual([
      { type: 'peer.closed', key: h.key, reason: 'shutdown', downloaded: BLOCK, uploaded: 0 },
    ]);
    expect(h.picker.availability(0)).toBe(0);
    expect(h.picker.availability(1)).toBe(0);
    expect(h.picker.peerCount).toBe(0);
    for (const r of outstanding) expect(h.picker.blockState(r.index, r.begin)).toBe('wanted');
    expect(h.status()).toBe('done');
    expect(h.wire.stopped).toBe(true);
  });

  it('wire.closed: socket-error with the error, closed-by-peer without; no wire.close sent', () => {
    const a = downloading([0]);
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
    expect(a.picker.availability(0)).toBe(0);

    const b = start();
    b.push({ type: 'wire.closed' });
    expect(closedReport(b)).toMatchObject({ reason: 'closed-by-peer' });
  });

  it('peer.have sends have', () => {
    const h = start();
    h.connect();
    h.send({ type: 'peer.have', index: 2 });
    expect(h.messages()).toEqual([{ type: 'have', index: 2 }]);
  });

  it('commands before the connection is up are ignored; peer.close still closes', () => {
    const h = start();
    h.send({ type: 'peer.have', index: 2 });
    h.send({ type: 'peer.refill' });
    expect(h.wire.commands).toEqual([]);
    h.send({ type: 'peer.close', reason: 'duplicate' });
    expect(h.wire.commands).toEqual([{ type: 'wire.close' }]);
    expect(closedReport(h)).toMatchObject({ reason: 'duplicate' } satisfies Partial<PeerReport>);
  });
});
