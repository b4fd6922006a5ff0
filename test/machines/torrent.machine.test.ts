/**
 * The torrent statechart with its real peer actors, picker, buffers, choker and announcer; the test
 * scripts each peer's socket and answers the storage (torrent-harness.ts). These are the flows in
 * which a peer and the torrent work together: interest, picking, endgame, hash failures, bans,
 * closing and reconnecting, the choker's verdicts, storage failures and stopping.
 */
import { describe, expect, it } from 'vitest';
import { transition } from 'xstate';
import { torrentMachine } from '../../src/machines/torrent/torrent.machine.js';
import { address, FAST, NO_EXT, T_BLOCK, trackedStart } from './torrent-harness.js';
import { INFO_HASH, testSettings } from './peer-harness.js';
import { flush, ok } from './tracker-harness.js';

const start = trackedStart();

const A = '10.0.0.1:1';
const B = '10.0.0.2:1';
const C = '10.0.0.3:1';
const ids = (rs: { index: number; begin: number }[]) => rs.map((r) => `${r.index}:${r.begin}`);

describe('torrent statechart: peers and interest', () => {
  it('dials its peers once storage is ready, admits them with our pieces, and follows their bitfield', () => {
    const h = start({ peers: [A], have: [0], ready: false });
    expect(h.value()).toBe('checking');
    expect(h.wires.size).toBe(0);
    h.ready([0]);
    expect(h.value()).toEqual({ active: 'downloading' });
    const a = h.peer(A);
    a.connect();
    expect(a.messages()).toEqual([{ type: 'bitfield', bytes: Uint8Array.from([0x80]) }]);
    expect(h.context().peers[A]!.peerId).toBe('70'.repeat(20));
    a.bitfield([0, 2]);
    expect(a.messages().at(-1)).toEqual({ type: 'interested' });
    expect(h.picker().availability(2)).toBe(1);
    expect(h.picker().availability(1)).toBe(0);
    // A plain BitTorrent connection (the fake wire says nothing of MSE): `none`, in the entry and the report.
    expect(h.context().peers[A]!.encryption).toBe('none');
    expect(h.events).toContainEqual({ type: 'torrent.peer', key: A, event: 'connected', encryption: 'none' });
  });

  it('stays not interested in a peer that has nothing we lack; haves alone make us interested', () => {
    const h = start({ peers: [A, B], have: [0, 1] });
    const a = h.peer(A);
    a.connect();
    a.bitfield([0, 1]);
    expect(a.messages('interested')).toEqual([]);
    const b = h.peer(B);
    b.connect(NO_EXT, 0x71);
    b.push({ type: 'wire.have', index: 1 });
    expect(b.messages('interested')).toEqual([]);
    b.push({ type: 'wire.have', index: 3 });
    b.push({ type: 'wire.have', index: 2 });
    expect(b.messages('interested')).toHaveLength(1); // said once
  });

  it("a peer's have of a piece we have waits for its next report; the picker counts it then", () => {
    const h = start({ peers: [A], have: [0] });
    const a = h.peer(A);
    a.connect(NO_EXT, 0x71);
    a.bitfield([1]);
    a.push({ type: 'wire.have', index: 0 });
    expect(h.picker().availability(0)).toBe(0); // waiting in the peer
    a.push({ type: 'wire.have', index: 2 }); // one we lack: at once, the waiting one with it
    expect(h.picker().availability(0)).toBe(1);
    expect(h.picker().availability(2)).toBe(1);
    h.picker().checkInvariants();
  });

  it('blocks wanted again (a peer left) are offered only to the peers we are interested in', () => {
    const refills = new Map<string, number>();
    const h = start({
      peers: [A, B, C],
      have: [0, 1],
      onEvent: (id, e) => {
        if (e.type === 'peer.refill') refills.set(id, (refills.get(id) ?? 0) + 1);
      },
    });
    const a = h.peer(A);
    a.connect(NO_EXT, 0x71);
    a.bitfield([0, 1, 2, 3]);
    const b = h.peer(B);
    b.connect(NO_EXT, 0x72);
    b.bitfield([0, 1]); // nothing we lack: not interested
    const c = h.peer(C);
    c.connect(NO_EXT, 0x73);
    c.bitfield([2, 3]);
    c.push({ type: 'wire.unchoke' });
    expect(c.messages('request').length).toBeGreaterThan(0);
    c.push({ type: 'wire.closed' });
    expect([...refills.keys()].map((id) => id.split('#')[0])).toEqual([`peer:${A}`]);
  });

  it('an unchoke while interested brings requests for blocks the peer has, rarest first, minQueue of them', () => {
    const h = start({ peers: [A, B] });
    const a = h.peer(A);
    const b = h.peer(B);
    a.connect(NO_EXT, 0x71);
    a.bitfield([1, 3]);
    b.connect(NO_EXT, 0x72);
    b.bitfield([0, 1, 2, 3]);
    b.push({ type: 'wire.unchoke' });
    // B has everything; pieces 0 and 2 are the rarest (only B has them).
    const asked = b.messages('request');
    expect(asked).toHaveLength(testSettings.minQueue);
    expect([0, 2]).toContain(asked[0]!.index);
    expect(ids(asked)).toEqual([`${asked[0]!.index}:0`, `${asked[0]!.index}:${T_BLOCK}`]);
    expect(h.picker().outstanding(B)).toEqual(asked.map(({ index, begin, length }) => ({ index, begin, length })));
  });

  it('loses interest in a peer once we have verified everything it has', () => {
    const h = start({ peers: [A, B] });
    const a = h.peer(A);
    a.seed(NO_EXT, 0x71);
    const b = h.peer(B);
    b.connect(NO_EXT, 0x72);
    b.bitfield([3]);
    expect(b.messages('interested')).toHaveLength(1);
    // Piece 3 comes from A.
    while (h.context().tally.verifiedPieces < 4 && a.serve() > 0);
    expect(b.messages()).toContainEqual({ type: 'have', index: 3 });
    const interest = b.messages().filter((m) => m.type === 'interested' || m.type === 'not-interested');
    expect(interest.map((m) => m.type)).toEqual(['interested', 'not-interested']);
  });
});

describe('torrent statechart: blocks to pieces to disk', () => {
  it('blocks go into their piece; a complete piece is written, verified, and announced to every peer', () => {
    const h = start({ peers: [A, B] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const b = h.peer(B);
    b.connect(NO_EXT, 0x72);
    let rounds = 0;
    while (
      h.value() !== undefined &&
      JSON.stringify(h.value()) !== JSON.stringify({ active: { complete: 'seeding' } }) &&
      rounds++ < 50
    )
      a.serve();
    expect(h.value()).toEqual({ active: { complete: 'seeding' } });
    expect(h.storage.writes.map((w) => w.index).sort()).toEqual([0, 1, 2, 3]);
    for (const w of h.storage.writes)
      expect(
        Buffer.from(w.data).equals(h.data.subarray(w.index * h.info.pieceLength, (w.index + 1) * h.info.pieceLength)),
      ).toBe(true);
    expect(
      b
        .messages('have')
        .map((m) => m.index)
        .sort(),
    ).toEqual([0, 1, 2, 3]);
    expect(h.context().progress).toMatchObject({ verifiedPieces: 4, left: 0 });
    expect(h.events.filter((e) => e.type === 'torrent.piece')).toHaveLength(4);
    expect(h.events).toContainEqual({ type: 'torrent.complete' });
    // A seed is of no use to a complete torrent: closed.
    expect(h.events).toContainEqual({
      type: 'torrent.peer',
      key: A,
      event: 'closed',
      reason: 'not-useful',
      detail: 'both sides have everything',
    });
  });

  it('holds requests back while pieces wait for the disk past the cap, and resumes once some are written', () => {
    // 8 pieces of two blocks; the disk answers only when told; two pieces may wait for it.
    const h = start({ peers: [A], pieces: 8, storage: 'manual', settings: { writeBacklogBytes: 2 * 32 * 1024 } });
    const a = h.peer(A);
    a.seed(FAST);
    for (let i = 0; i < 20 && a.serve() > 0; i++) {
      // The blocks requested count against the cap too: never more than its four blocks out or waiting.
      expect(a.open().length + 2 * h.storage.pending.length).toBeLessThanOrEqual(4);
    }
    // Two pieces wait for the disk; nothing new is asked, and nothing more was on its way.
    expect(h.buffers().room(h.picker().committedCount * T_BLOCK)).toBe(0);
    expect(h.storage.pending).toHaveLength(2);
    expect(a.open()).toEqual([]);
    const asked = a.messages('request').length;
    expect(asked).toBe(4);
    // One piece written frees half the backlog: the requests held back go out again, and in the end
    // everything arrives.
    h.answerWrite();
    expect(a.messages('request').length).toBe(asked + 2);
    for (let i = 0; i < 100 && h.context().tally.verifiedPieces < 8; i++) {
      a.serve();
      h.answerWrite();
    }
    expect(h.context().tally.verifiedPieces).toBe(8);
  });

  it('a choke without the fast extension returns the requests to the picker; a fast peer keeps them until it rejects', () => {
    const h = start({ peers: [A, B] });
    const a = h.peer(A);
    a.connect(NO_EXT, 0x71);
    a.bitfield([0, 1, 2, 3]);
    a.push({ type: 'wire.unchoke' });
    const asked = h.picker().outstanding(A);
    expect(asked).toHaveLength(2);
    a.push({ type: 'wire.choke' });
    expect(h.picker().outstandingCount(A)).toBe(0);
    for (const r of asked) expect(h.picker().blockState(r.index, r.begin)).toBe('wanted');

    const b = h.peer(B);
    b.connect(FAST, 0x72);
    b.push({ type: 'wire.have-all' });
    b.push({ type: 'wire.unchoke' });
    const bAsked = h.picker().outstanding(B);
    b.push({ type: 'wire.choke' });
    expect(h.picker().outstandingCount(B)).toBe(2);
    b.push({ type: 'wire.reject', ...bAsked[0]! });
    expect(h.picker().outstandingCount(B)).toBe(1);
    expect(h.picker().blockState(bAsked[0]!.index, bAsked[0]!.begin)).toBe('wanted');
  });

  it('endgame: the block that arrives first is cancelled at the other peers that were asked for it', () => {
    const h = start({ peers: [A, B], pieces: 1, peerSettings: { minQueue: 4, maxQueue: 4 } });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    expect(h.picker().outstandingCount(A)).toBe(2); // the whole torrent: endgame
    const b = h.peer(B);
    b.seed(FAST, 0x72);
    expect(h.picker().inEndgame).toBe(true);
    const dup = b.messages('request')[0]!;
    expect(h.picker().requestersOf(dup.index, dup.begin).sort()).toEqual([A, B]);
    b.deliver(dup);
    expect(a.messages('cancel')).toEqual([{ type: 'cancel', index: dup.index, begin: dup.begin, length: dup.length }]);
  });

  it('a piece that fails its hash is fetched again; its only contributor is banned, closed and never dialled again', () => {
    const h = start({ peers: [A, B], pieces: 2 });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    // A delivers piece 0 corrupted (it was asked for one whole piece first).
    a.serve(true);
    expect(h.events.filter((e) => e.type === 'torrent.hashFailed')).toEqual([
      {
        type: 'torrent.hashFailed',
        index: expect.any(Number),
        peers: [A],
        banned: [{ peer: A, reason: expect.stringMatching(/sent every block of piece \d+, which failed its hash/) }],
      },
    ]);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: A, event: 'closed', reason: 'bad-data' }),
    );
    expect(h.context().bans.map((b) => b.address)).toEqual([A]);
    expect(h.context().tally).toMatchObject({ hashFailures: 1, wasted: h.info.pieceLength });
    // B brings the right data.
    const b = h.peer(B);
    b.seed(FAST, 0x72);
    while (h.context().tally.verifiedPieces < 2 && b.serve() > 0);
    expect(h.context().tally.verifiedPieces).toBe(2);
    h.advance(10 * 60_000);
    expect(h.allWires.filter((w) => w.key === A)).toHaveLength(1);
    // Nor is it taken when it comes to us.
    h.incoming(A);
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
  });
});

describe('torrent statechart: haves batched per tick', () => {
  it('verified pieces wait for the tick and go to every peer as one batch on its peer.tick; completion announces at once', () => {
    const h = start({ peers: [A, B], pieces: 8, storage: 'manual' });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const b = h.peer(B);
    b.connect(NO_EXT, 0x72);
    const haveBatches = () =>
      b
        .wire()
        .commands.map((c) => (c.type === 'wire.send' ? [c.message] : c.type === 'wire.sendMany' ? c.messages : []))
        .map((ms) => ms.filter((m) => m.type === 'have').map((m) => (m as { index: number }).index))
        .filter((is) => is.length > 0);
    // Pieces arrive and are verified within one tick: none is announced yet.
    const verified: number[] = [];
    while (verified.length < 3) {
      a.serve();
      let i: number | undefined;
      while ((i = h.answerWrite()) !== undefined) verified.push(i);
    }
    expect(haveBatches()).toEqual([]);
    expect(h.context().svc.haves.pending).toEqual(verified);
    // The tick: they go together, in one write.
    h.advance(1000);
    expect(haveBatches()).toEqual([verified]);
    expect(h.context().svc.haves.pending).toEqual([]);
    // A tick with nothing new sends no have.
    h.advance(1000);
    expect(haveBatches()).toHaveLength(1);
    // Completion announces whatever waits, without waiting for the tick.
    while (h.context().tally.verifiedPieces < 8) {
      a.serve();
      while (h.answerWrite() !== undefined);
    }
    expect(
      haveBatches()
        .flat()
        .sort((x, y) => x - y),
    ).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(h.context().svc.haves.pending).toEqual([]);
  });
});

describe('torrent statechart: smart ban', () => {
  it('a piece with blocks from two peers fails: nobody is banned; once a good copy verifies, only the liar is', () => {
    const h = start({ peers: [A, B], pieces: 2, peerSettings: { minQueue: 1, maxQueue: 1 } });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const b = h.peer(B);
    b.seed(FAST, 0x72);
    const [ra] = a.open();
    const [rb] = b.open();
    expect(ra!.index).toBe(rb!.index); // one piece, a block from each
    a.deliver(ra!);
    b.deliver(rb!, true); // B lies
    const failed = h.events.filter((e) => e.type === 'torrent.hashFailed');
    expect(failed).toEqual([{ type: 'torrent.hashFailed', index: ra!.index, peers: [A, B], banned: [] }]);
    expect(h.context().bans).toEqual([]);
    // The piece is fetched again — this time every block right — and verifies.
    while (h.context().tally.verifiedPieces < 2 && a.serve() + b.serve() > 0);
    expect(h.context().tally.verifiedPieces).toBe(2);
    expect(h.events.filter((e) => e.type === 'torrent.banned')).toEqual([
      {
        type: 'torrent.banned',
        index: ra!.index,
        banned: [{ peer: B, reason: `sent blocks of piece ${ra!.index} that differ from its verified copy` }],
      },
    ]);
    expect(h.context().bans.map((x) => x.address)).toEqual([B]);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: B, event: 'closed', reason: 'bad-data' }),
    );
    expect(h.events).not.toContainEqual(expect.objectContaining({ type: 'torrent.peer', key: A, reason: 'bad-data' }));
  });

  it('a banned peer cannot come back: not from another port of its IP, not by dialling', () => {
    const h = start({ peers: [A, B], pieces: 2 });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    a.serve(true); // a whole piece, wrong: banned at once
    expect(h.context().bans.map((x) => x.address)).toEqual([A]);
    h.incoming('10.0.0.1:40000');
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
    h.addPeers('10.0.0.1:6881');
    h.advance(10 * 60_000);
    expect(h.allWires.filter((w) => w.key.startsWith('10.0.0.1:'))).toHaveLength(1);
  });

  it('on loopback a ban names the peer: back from another port, its peer id gives it away; others stay welcome', () => {
    const L1 = '127.0.0.1:7001';
    const L2 = '127.0.0.1:7002';
    const h = start({ peers: [L1, L2], pieces: 2 });
    const bad = h.peer(L1);
    bad.seed(FAST, 0x66);
    bad.serve(true);
    expect(h.context().bans).toMatchObject([{ address: L1, scope: 'peer' }]);
    // The same peer (id 0x66…) from another port: taken as a connection, closed at its handshake.
    h.incoming('127.0.0.1:40000');
    const back = h.peer('127.0.0.1:40000');
    back.connect(FAST, 0x66);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: '127.0.0.1:40000', event: 'closed', reason: 'bad-data' }),
    );
    // An honest peer on the same IP downloads as usual.
    const good = h.peer(L2);
    good.seed(FAST, 0x67);
    while (h.context().tally.verifiedPieces < 2 && good.serve() > 0);
    expect(h.context().tally.verifiedPieces).toBe(2);
  });

  it('bans expire (banMs)', () => {
    const h = start({ peers: [A, B], pieces: 2, settings: { banMs: 30_000 } });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    a.serve(true);
    h.incoming('10.0.0.1:40000');
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
    h.advance(31_000);
    h.incoming('10.0.0.1:40001');
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
    expect(h.allWires.some((w) => w.key === '10.0.0.1:40001')).toBe(true);
  });
});

describe('torrent statechart: peers come and go', () => {
  it('full: an incoming connection evicts an idle peer (connected a minute, moving nothing); a young one is not', () => {
    const h = start({ peers: [A, B], settings: { maxConnections: 2 } });
    for (const [k, id] of [
      [A, 0x71],
      [B, 0x72],
    ] as const) {
      const p = h.peer(k);
      p.connect(FAST, id);
      p.push({ type: 'wire.have-none' }); // nothing for us, and it wants nothing: idle
    }
    h.incoming(C);
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1); // both too young to go
    h.advance(61_000);
    h.incoming(C);
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
    expect(h.context().peers[C]).toBeDefined();
    expect(h.events).toContainEqual(
      expect.objectContaining({
        type: 'torrent.peer',
        event: 'closed',
        reason: 'not-useful',
        detail: 'idle: evicted for a new connection',
      }),
    );
    expect(Object.keys(h.context().peers)).toHaveLength(2);
  });

  it('a peer that closes gives its requests back; the others ask for them; its address is dialled again later', () => {
    const h = start({ peers: [A, B], peerSettings: { minQueue: 8, maxQueue: 8 } });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const b = h.peer(B);
    b.seed(FAST, 0x72);
    const aAsked = h.picker().outstanding(A);
    expect(aAsked.length).toBeGreaterThan(0);
    a.push({ type: 'wire.closed', error: { code: 'ECONNRESET', message: 'reset' } });
    expect(h.picker().outstandingCount(A)).toBe(0);
    expect(h.context().peers[A]).toBeUndefined();
    for (const r of aAsked) expect(h.picker().requestersOf(r.index, r.begin)).toEqual([B]);
    expect(h.allWires.filter((w) => w.key === A)).toHaveLength(1);
    h.advance(6_000); // the first retry waits 5 s
    expect(h.allWires.filter((w) => w.key === A)).toHaveLength(2);
  });

  it('a second connection to the same peer id is closed as a duplicate; a connection to ourselves as self', () => {
    const h = start({ peers: [A, B] });
    h.peer(A).connect(NO_EXT, 0x77);
    h.peer(B).connect(NO_EXT, 0x77);
    expect(h.events).toContainEqual({ type: 'torrent.peer', key: B, event: 'closed', reason: 'duplicate' });
    expect(h.context().peers[A]).toBeDefined();
    h.addPeers(C);
    h.peer(C).connect(NO_EXT, 0x01); // OUR_ID is 0x01 × 20
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: C, event: 'closed', reason: 'self' }),
    );
  });

  it('never holds more than maxConnections; incoming connections past it are refused', () => {
    const keys = Array.from({ length: 6 }, (_, i) => `10.0.1.${i}:1`);
    const h = start({ peers: keys, settings: { maxConnections: 3 } });
    expect(Object.keys(h.context().peers)).toHaveLength(3);
    expect(h.wires.size).toBe(3);
    h.incoming('10.9.9.9:5');
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
    // One closes: another is dialled in its place.
    const first = [...h.wires.keys()][0]!;
    h.peer(first).push({ type: 'wire.closed' });
    expect(Object.keys(h.context().peers)).toHaveLength(3);
    expect(h.wires.size).toBe(4);
  });

  it('an incoming peer is admitted when there is room and talks like any other', () => {
    const h = start();
    h.incoming(A);
    expect(h.context().peers[A]!.direction).toBe('incoming');
    const a = h.peer(A);
    a.connect(NO_EXT, 0x71);
    expect(a.wire().commands[0]).toEqual({ type: 'wire.sendHandshake', infoHash: INFO_HASH });
    h.incoming(A); // the same address again: refused
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
  });

  it('BEP 52: a hybrid admits an incoming peer naming its truncated v2 hash and answers with that hash', () => {
    const V2 = new Uint8Array(20).fill(0x5e);
    const h = start({ hybridV2Hash: V2, have: [0, 1, 2, 3] });
    h.incoming(A);
    const a = h.peer(A);
    a.push({ type: 'wire.connected' });
    a.push({
      type: 'wire.handshake',
      handshake: { reserved: NO_EXT, infoHash: V2, peerId: new Uint8Array(20).fill(9) },
    });
    expect(a.wire().commands[0]).toEqual({ type: 'wire.sendHandshake', infoHash: V2 });
    // Admitted: our pieces follow (a v1 peer's bitfield), and the peer is one of the torrent's.
    expect(a.wire().commands[1]).toMatchObject({ type: 'wire.send', message: { type: 'bitfield' } });
    expect(h.context().peers[A]?.peerId).toBe('09'.repeat(20));
    // Any other hash is still refused.
    h.incoming(B);
    const b = h.peer(B);
    b.push({ type: 'wire.connected' });
    b.push({
      type: 'wire.handshake',
      handshake: { reserved: NO_EXT, infoHash: new Uint8Array(20).fill(0x5f), peerId: new Uint8Array(20).fill(8) },
    });
    expect(b.wire().commands).toEqual([{ type: 'wire.close' }]);
  });
});

describe('torrent statechart: the choker', () => {
  it('a newly interested peer is unchoked at once; at most slots + 1 are unchoked', () => {
    const keys = Array.from({ length: 7 }, (_, i) => `10.0.2.${i}:1`);
    const h = start({ peers: keys, have: [0, 1, 2, 3] });
    keys.forEach((k, i) => {
      const p = h.peer(k);
      p.connect(NO_EXT, 0x40 + i);
      p.push({ type: 'wire.interested' });
    });
    const unchoked = keys.filter((k) => h.peer(k).messages('unchoke').length > h.peer(k).messages('choke').length);
    expect(unchoked).toHaveLength(5);
    h.advance(10_000); // a rechoke round
    const again = keys.filter((k) => h.context().peers[k]!.view.amChoking === false);
    expect(again).toHaveLength(5);
  });

  it('seeding, the peers it unchokes get BEP 6 suggestions: each piece once before any twice', () => {
    const keys = Array.from({ length: 7 }, (_, i) => `10.0.2.${i}:1`);
    const all = Array.from({ length: 16 }, (_, i) => i);
    const h = start({ peers: keys, pieces: 16, have: all });
    keys.forEach((k, i) => {
      const p = h.peer(k);
      p.connect(FAST, 0x40 + i);
      p.push({ type: 'wire.have-none' });
      p.push({ type: 'wire.interested' });
    });
    const suggested = (k: string) =>
      h
        .peer(k)
        .messages('suggest')
        .map((m) => m.index);
    const unchoked = keys.filter((k) => h.context().peers[k]!.view.amChoking === false);
    expect(unchoked).toHaveLength(5);
    for (const k of keys) expect(suggested(k)).toHaveLength(unchoked.includes(k) ? 8 : 0);
    // The first two peers unchoked share the 16 pieces between them.
    expect(new Set([...suggested(unchoked[0]!), ...suggested(unchoked[1]!)])).toEqual(new Set(all));
    // A round later nobody has announced anything: nothing more is suggested.
    h.advance(10_000);
    for (const k of unchoked) expect(suggested(k)).toHaveLength(8);
  });
});

describe('torrent statechart: failures and stopping', () => {
  it('a storage failure ends the torrent in error, and nothing is written after it', () => {
    const h = start({ peers: [A], storage: 'manual' });
    const a = h.peer(A);
    a.seed(FAST);
    a.serve();
    const writes = h.storage.writes.length;
    h.storageError();
    expect(h.value()).toBe('error');
    expect(h.context().error).toEqual({ code: 'BT_ERR_STORAGE_IO', message: 'disk on fire' });
    expect(h.events).toContainEqual({ type: 'torrent.error', code: 'BT_ERR_STORAGE_IO', message: 'disk on fire' });
    expect(h.storage.alive).toBe(false);
    expect(a.wire().stopped).toBe(true);
    expect(h.storage.writes).toHaveLength(writes);
  });

  it('a full disk is waited out: reported, the peers hold back past the write backlog, and it goes on', () => {
    const h = start({ peers: [A], storage: 'manual', pieces: 8, settings: { writeBacklogBytes: 2 * 32 * 1024 } });
    const a = h.peer(A);
    a.seed(FAST);
    while (a.serve() > 0);
    h.storageEvent({ type: 'storage.diskFull', message: 'ENOSPC: no space left on device' });
    expect(h.events).toContainEqual({ type: 'torrent.diskFull', message: 'ENOSPC: no space left on device' });
    expect(h.context().progress.diskFull).toBe(true);
    expect(h.value()).not.toBe('error');
    // The pieces wait for the disk: past the backlog nothing more is asked for.
    expect(a.open()).toEqual([]);
    h.storageEvent({ type: 'storage.diskOk' });
    expect(h.events).toContainEqual({ type: 'torrent.diskOk' });
    expect(h.context().progress.diskFull).toBe(false);
    while (h.answerWrite() !== undefined);
    while (h.context().tally.verifiedPieces < 8) {
      if (a.serve() === 0 && h.answerWrite() === undefined) break;
      while (h.answerWrite() !== undefined);
    }
    expect(h.context().tally.verifiedPieces).toBe(8);
  });

  it('stop closes every peer and the storage and ends in stopped', () => {
    const h = start({ peers: [A, B] });
    h.peer(A).seed(FAST, 0x71);
    h.stop();
    expect(h.value()).toBe('stopped');
    expect(h.storage.closes).toBe(1);
    expect(h.peer(A).wire().commands.at(-1)).toEqual({ type: 'wire.close' });
    expect(h.allWires.every((w) => w.stopped)).toBe(true);
    expect(h.context().peers).toEqual({});
  });

  it('stopping while still checking needs no announcer', () => {
    const h = start({ ready: false });
    h.stop();
    expect(h.value()).toBe('stopped');
  });
});

describe('torrent statechart: checking and trackers', () => {
  it('peers given while checking are dialled once checking is done', () => {
    const h = start({ ready: false });
    h.addPeers(A, B);
    expect(h.wires.size).toBe(0);
    h.ready();
    expect([...h.wires.keys()].sort()).toEqual([A, B]);
  });

  it('reports checking progress, and refuses connections until checking is done', () => {
    const h = start({ ready: false });
    h.storageEvent({ type: 'storage.checkProgress', checked: 2, total: 4, valid: 1 });
    expect(h.context().progress.checked).toBe(2);
    expect(h.events).toContainEqual({ type: 'torrent.checking', checked: 2, total: 4, valid: 1 });
    h.incoming(A);
    expect(h.events).toContainEqual(expect.objectContaining({ type: 'torrent.refused', address: address(A) }));
    expect(h.wires.size).toBe(0);
    h.ready([1]);
    expect(h.events).toContainEqual({ type: 'torrent.ready', have: 1, total: 4 });
  });

  it('dials the peers its tracker gives, reports the replies, re-announces on demand, and tells the tracker stopped', async () => {
    const url = 'http://tracker.test/announce';
    const h = start({ trackers: [url], have: [0] });
    await flush();
    const { calls } = h.trackers;
    expect(calls).toHaveLength(1);
    expect(calls[0]!.input).toMatchObject({ url, event: 'started', stats: { left: 3 * h.info.pieceLength } });
    calls[0]!.resolve(ok({ interval: 60, minInterval: 30, peers: [address(A), address(B)] }));
    await flush();
    expect(h.events).toContainEqual({ type: 'announcer.peers', url, peers: [address(A), address(B)] });
    expect(h.events).toContainEqual({
      type: 'announcer.tracker',
      report: expect.objectContaining({ type: 'tracker.response', url, event: 'started' }),
    });
    expect([...h.wires.keys()].sort()).toEqual([A, B]);
    // A re-announce waits for the tracker's min interval, then goes.
    h.actor.send({ type: 'torrent.reannounce' });
    await flush();
    expect(calls).toHaveLength(1);
    h.advance(30_000);
    await flush();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.input.event).toBeUndefined();
    calls[1]!.resolve(ok({ interval: 60 }));
    await flush();
    // Stopping: the tracker that got `started` hears `stopped`; its answer is reported while stopping.
    h.stop();
    await flush();
    expect(calls[2]!.input).toMatchObject({ url, event: 'stopped' });
    expect(h.value()).toBe('stopping');
    calls[2]!.resolve(ok());
    await flush();
    expect(h.events).toContainEqual({ type: 'announcer.tracker', report: { type: 'tracker.stopped', url } });
    expect(h.value()).toBe('stopped');
  });

  it('a storage failure still tells the tracker `stopped` (no dead port left in its list), then ends in error', async () => {
    const url = 'http://tracker.test/announce';
    const h = start({ trackers: [url], have: [0] });
    await flush();
    const { calls } = h.trackers;
    calls[0]!.resolve(ok({ interval: 60 }));
    await flush();
    h.storageError();
    await flush();
    expect(h.value()).toBe('stopping');
    expect(calls.at(-1)!.input).toMatchObject({ url, event: 'stopped' });
    calls.at(-1)!.resolve(ok());
    await flush();
    expect(h.value()).toBe('error');
    expect(h.context().error).toEqual({ code: 'BT_ERR_STORAGE_IO', message: 'disk on fire' });
    expect(h.events.filter((e) => e.type === 'torrent.error')).toHaveLength(1);
  });

  it('a storage failure while stopping is recorded once; the stop goes on, bounded, and ends in error', () => {
    const h = start({ closes: false, settings: { stopTimeoutMs: 3_000 } });
    h.stop();
    expect(h.value()).toBe('stopping');
    h.storageError();
    h.storageError('BT_ERR_STORAGE_IO', 'again');
    expect(h.value()).toBe('stopping');
    expect(h.events.filter((e) => e.type === 'torrent.error')).toEqual([
      { type: 'torrent.error', code: 'BT_ERR_STORAGE_IO', message: 'disk on fire' },
    ]);
    h.advance(3_000);
    expect(h.value()).toBe('error');
    expect(h.context().error).toEqual({ code: 'BT_ERR_STORAGE_IO', message: 'disk on fire' });
  });

  it('a torrent that completes and stops at once tells its tracker `completed`, then `stopped`', async () => {
    const url = 'http://tracker.test/announce';
    const h = start({ trackers: [url], peers: [A], have: [0, 1, 2] });
    await flush();
    const { calls } = h.trackers;
    calls[0]!.resolve(ok({ interval: 60 }));
    await flush();
    const a = h.peer(A);
    a.seed(FAST);
    while (a.serve() > 0);
    await flush();
    expect(h.value()).toEqual({ active: { complete: 'seeding' } });
    expect(calls.map((c) => c.input.event)).toEqual(['started', 'completed']);
    h.stop(); // before the `completed` announce has an answer: it is waited for, not cut off
    await flush();
    expect(calls.map((c) => c.input.event)).toEqual(['started', 'completed']);
    expect(calls[1]!.aborted).toBe(false);
    expect(h.value()).toBe('stopping');
    calls[1]!.resolve(ok());
    await flush();
    expect(calls.at(-1)!.input).toMatchObject({ url, event: 'stopped', stats: { left: 0 } });
    calls.at(-1)!.resolve(ok());
    await flush();
    expect(h.value()).toBe('stopped');
    expect(calls.map((c) => c.input.event)).toEqual(['started', 'completed', 'stopped']);
  });

  it('stopping is bounded: storage that never confirms does not hold it past stopTimeoutMs', () => {
    const h = start({ closes: false, settings: { stopTimeoutMs: 3_000 } });
    h.stop();
    expect(h.value()).toBe('stopping');
    h.advance(2_000);
    expect(h.value()).toBe('stopping');
    h.advance(1_000);
    expect(h.value()).toBe('stopped');
  });
});

describe('torrent statechart: a pure function of (snapshot, event)', () => {
  it('transition() computes the next state and actions without running them: the services are untouched', () => {
    const h = start({ peers: [A] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const snap = h.actor.getSnapshot();
    const picker = snap.context.svc.picker!;
    const before = picker.outstandingCount(A);
    const r = picker.outstanding(A)[0]!;
    const event = {
      type: 'peer.blocks' as const,
      key: A,
      blocks: [{ index: r.index, begin: r.begin, block: h.data.subarray(0, r.length) }],
      want: 1,
      batch: 1,
    };
    const [next, actions] = transition(torrentMachine, snap, event);
    expect(next.value).toEqual(snap.value);
    expect(actions.map((x) => x.type)).toEqual(['acceptBlocks']);
    expect(picker.outstandingCount(A)).toBe(before);
    expect(picker.blockState(r.index, r.begin)).toBe('requested');
  });
});
