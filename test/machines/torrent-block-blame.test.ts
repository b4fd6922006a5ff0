/**
 * BEP 52 block blame in the torrent statechart, with its real peer actors over scripted sockets: a v2
 * piece whose blocks came from several peers fails its hash; the torrent asks a peer that has it for the
 * piece's leaf hashes (`hash request`, base layer 0); when they prove against the piece hash, the sender
 * of each block whose SHA-256 differs is banned at once (`torrent.banned`, kind `badBlock`) and nobody
 * else is struck; hashes that do not prove get the answering peer banned; a reject or a silent peer
 * sends the request to another; with no answer at all, smart ban still blames once a good copy verifies.
 */
import { describe, expect, it } from 'vitest';
import { blockHashes, HASH_SIZE } from '../../src/protocol/merkle.js';
import type { HashRange } from '../../src/protocol/wire.js';
import type { startTorrent } from './torrent-harness.js';
import { T_PIECE, type TorrentHarness, trackedStart } from './torrent-harness.js';
import { FAST } from './peer-harness.js';

const start = trackedStart();

const A = '10.0.0.1:1';
const B = '10.0.0.2:1';
const C = '10.0.0.3:1';

/** The true leaves of the range (a piece's blocks), as an honest peer answers: zero hashes past the file. */
function leaves(h: TorrentHarness, range: HashRange): Uint8Array {
  const out = new Uint8Array(range.length * HASH_SIZE);
  const start = range.index * 16384;
  blockHashes(h.data.subarray(start, Math.min(h.data.length, start + range.length * 16384))).forEach((x, i) =>
    out.set(x, i * HASH_SIZE),
  );
  return out;
}

/** Two seeders A and B, one request each at a time: a piece gets a block from each; B corrupts its block. */
function failedPiece(o: Parameters<typeof startTorrent>[0] = {}) {
  const h = start({ peers: [A, B], pieces: 2, v2: true, peerSettings: { minQueue: 1, maxQueue: 1 }, ...o });
  const a = h.peer(A);
  a.seed(FAST, 0x71);
  const b = h.peer(B);
  b.seed(FAST, 0x72);
  const [ra] = a.open();
  const [rb] = b.open();
  expect(ra!.index).toBe(rb!.index);
  a.deliver(ra!);
  b.deliver(rb!, true);
  return { h, a, b, index: ra!.index };
}

const banned = (h: TorrentHarness) => h.events.filter((e) => e.type === 'torrent.banned');

describe('torrent statechart: BEP 52 block blame', () => {
  it('asks a peer with the piece for its leaves; the liar alone is banned at once, before any good copy', () => {
    const { h, a, index } = failedPiece();
    expect(h.events.filter((e) => e.type === 'torrent.hashFailed')).toEqual([
      { type: 'torrent.hashFailed', index, peers: [A, B], banned: [] },
    ]);
    // 32 KiB pieces: 2 leaves; the piece's first block within the file; no uncles (its hash is known).
    const [req] = a.messages('hash-request');
    expect(req).toEqual({
      type: 'hash-request',
      piecesRoot: h.root,
      baseLayer: 0,
      index: index * 2,
      length: 2,
      proofLayers: 0,
    });
    expect(h.context().tally.verifiedPieces).toBe(0);
    a.push({ ...req!, type: 'wire.hashes', hashes: leaves(h, req!) });
    const reason = `sent blocks of piece ${index} whose SHA-256 differs from the leaf hash a peer proved (BEP 52)`;
    expect(banned(h)).toEqual([{ type: 'torrent.banned', index, banned: [{ peer: B, reason }], kind: 'badBlock' }]);
    expect(h.context().bans.map((x) => x.address)).toEqual([B]);
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: B, event: 'closed', reason: 'bad-data' }),
    );
    // The honest peer finishes the download and is never struck; no second verdict when the piece verifies.
    for (let i = 0; i < 100 && h.context().tally.verifiedPieces < 2 && a.serve() > 0; i++);
    expect(h.context().tally.verifiedPieces).toBe(2);
    expect(banned(h)).toHaveLength(1);
    expect(h.events).not.toContainEqual(expect.objectContaining({ type: 'torrent.peer', key: A, reason: 'bad-data' }));
    expect(h.context().svc.blockHashes.size).toBe(0);
  });

  it('leaves that do not prove: the answering peer is banned and another with the piece is asked', () => {
    const { h, a, b, index } = failedPiece();
    const [req] = a.messages('hash-request');
    const lie = leaves(h, req!);
    lie[0]! ^= 1;
    a.push({ ...req!, type: 'wire.hashes', hashes: lie });
    expect(banned(h)).toEqual([
      {
        type: 'torrent.banned',
        index: -1,
        banned: [{ peer: A, reason: 'sent BEP 52 block hashes that do not prove against the piece hash' }],
      },
    ]);
    // The next peer with the piece is asked — the liar itself: it cannot forge leaves that prove, and
    // the true ones convict it.
    const [again] = b.messages('hash-request');
    expect(again).toEqual(req);
    b.push({ ...again!, type: 'wire.hashes', hashes: leaves(h, again!) });
    expect(banned(h).at(-1)).toMatchObject({ kind: 'badBlock', index, banned: [{ peer: B }] });
    expect(
      h
        .context()
        .bans.map((x) => x.address)
        .sort(),
    ).toEqual([A, B]);
  });

  it('a reject, then a peer silent past 10 s: asked of the next; an answer nobody asked for is ignored', () => {
    const { h, a, b, index } = failedPiece({ peers: [A, B, C] });
    const c = h.peer(C);
    c.connect(FAST, 0x73);
    c.bitfield([index]);
    const [req] = a.messages('hash-request');
    // C was not asked: its answer changes nothing.
    c.push({ ...req!, type: 'wire.hashes', hashes: leaves(h, req!) });
    expect(banned(h)).toEqual([]);
    a.push({ ...req!, type: 'wire.hash-reject' });
    expect(b.messages('hash-request')).toEqual([req]); // the liar may be asked: it cannot forge the leaves
    h.advance(11_000);
    expect(c.messages('hash-request')).toEqual([req]);
    c.push({ ...req!, type: 'wire.hashes', hashes: leaves(h, req!) });
    expect(banned(h)).toEqual([
      expect.objectContaining({ kind: 'badBlock', banned: [expect.objectContaining({ peer: B })] }),
    ]);
  });

  it('nobody answers: smart ban still blames the liar alone once a good copy verifies', () => {
    const { h, a, b, index } = failedPiece();
    const [req] = a.messages('hash-request');
    a.push({ ...req!, type: 'wire.hash-reject' });
    b.push({ ...req!, type: 'wire.hash-reject' });
    while (h.context().tally.verifiedPieces < 2 && a.serve() + b.serve() > 0);
    expect(h.context().tally.verifiedPieces).toBe(2);
    expect(banned(h)).toEqual([
      {
        type: 'torrent.banned',
        index,
        banned: [{ peer: B, reason: `sent blocks of piece ${index} that differ from its verified copy` }],
      },
    ]);
    // Verified: nothing is asked for it any more.
    expect(h.context().svc.blockHashes.size).toBe(0);
    h.advance(60_000);
    expect([...a.messages('hash-request'), ...b.messages('hash-request')]).toHaveLength(2);
  });

  it('a peer that left takes its request with it: the next is asked', () => {
    const { h, a, index } = failedPiece({ peers: [A, B, C] });
    const c = h.peer(C);
    c.connect(FAST, 0x73);
    c.bitfield([index]);
    const [req] = a.messages('hash-request');
    a.push({ type: 'wire.closed' });
    expect([...h.peer(B).messages('hash-request'), ...c.messages('hash-request')]).toEqual([req]);
  });

  it('a hybrid asks only peers that speak v2: the BEP 52 bit set, or the connection under the v2 hash', () => {
    const V2 = new Uint8Array(20).fill(0x5e);
    const D = '10.0.0.4:1';
    const { h, a, b, index } = failedPiece({ peers: [A, B, C, D], hybridV2Hash: V2 });
    // A and B named the v1 hash and set no v2 bit: a request to them would only time out.
    expect([...a.messages('hash-request'), ...b.messages('hash-request')]).toEqual([]);
    expect(h.context().svc.blockHashes.size).toBe(1);
    // C sets the v2 bit; it is asked at the next tick after it says it has the piece.
    const c = h.peer(C);
    c.connect(Uint8Array.from([...FAST.subarray(0, 7), FAST[7]! | 0x10]), 0x73);
    c.bitfield([index]);
    h.advance(1_000);
    const [req] = c.messages('hash-request');
    expect(req).toMatchObject({ baseLayer: 0, index: index * 2, length: 2 });
    // D named the v2 hash (no bit): it speaks v2 too, and gets the request once C rejects it.
    const d = h.peer(D);
    d.connect(FAST, 0x74, V2);
    d.bitfield([index]);
    c.push({ ...req!, type: 'wire.hash-reject' });
    h.advance(1_000);
    expect(d.messages('hash-request')).toEqual([req]);
    d.push({ ...req!, type: 'wire.hashes', hashes: leaves(h, req!) });
    expect(banned(h)).toEqual([
      expect.objectContaining({ kind: 'badBlock', banned: [expect.objectContaining({ peer: B })] }),
    ]);
    expect([...a.messages('hash-request'), ...b.messages('hash-request')]).toEqual([]);
  });

  it('a v1 torrent asks no leaves (smart ban alone)', () => {
    const { h, a, b } = failedPiece({ v2: false });
    expect([...a.messages('hash-request'), ...b.messages('hash-request')]).toEqual([]);
    expect(h.context().svc.blockHashes.size).toBe(0);
  });

  it('piece length of one block: the lone sender is blamed without asking', () => {
    const h = start({ peers: [A], pieces: 2, pieceLength: 16384, v2: true });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    a.serve(true);
    expect(h.context().bans.map((x) => x.address)).toEqual([A]);
    expect(a.messages('hash-request')).toEqual([]);
    expect(T_PIECE).toBe(32768);
  });
});
