/**
 * BEP 52 piece layers asked by the torrent statechart (src/machines/torrent/hash-fetch.ts), with its
 * real peer actors over scripted sockets: a v2-only torrent missing a file's layer asks its admitted
 * peers for it (`hash request`), picks none of that file's pieces until an answer proves against the
 * file's `pieces root`, then hands the layer to the storage (`storage.layer`) and downloads; a reject
 * sends the range to another peer, so does a request unanswered past its timeout (a peer that said no is
 * asked again half a minute later); hashes that do not
 * prove get the peer banned like bad data; hashes nobody asked for are ignored. A layer made whole is
 * given to every live peer (`peer.hashTrees`: a peer connected before it came serves it too), and the
 * file's pieces already on disk are checked against it before any is picked (`storage.layerChecked`):
 * those found are verified without a download.
 */
import { describe, expect, it } from 'vitest';
import { answerHashRequest } from '../../src/protocol/hash-tree.js';
import type { HashRange } from '../../src/protocol/wire.js';
import { type TorrentHarness, trackedStart } from './torrent-harness.js';
import { FAST } from './peer-harness.js';

const start = trackedStart();

const A = '10.0.0.1:1';
const B = '10.0.0.2:1';
const C = '10.0.0.3:1';

/** The honest answer to `range` from the harness's full tree. */
function honest(h: TorrentHarness, range: HashRange): Uint8Array {
  const a = answerHashRequest(h.hashTrees, range);
  if (a.kind !== 'hashes') throw new Error(a.why);
  return a.hashes;
}

/** Serves every block request of peer `key` until nothing is open (a few rounds). */
function serveAll(h: TorrentHarness, key: string) {
  const p = h.peer(key);
  for (let i = 0; i < 100 && p.serve() > 0; i++);
}

describe('torrent statechart: BEP 52 piece layers asked of peers', () => {
  it('asks an admitted peer, picks nothing of the file until the answer proves, then downloads', () => {
    const h = start({ pieces: 8, missingLayer: true, peers: [A] });
    const a = h.peer(A);
    a.seed(FAST);
    const [req] = a.messages('hash-request');
    // 8 pieces of 32 KiB: the piece layer is layer 1, 8 wide (a root 3 layers up): one range, no uncles.
    expect(req).toEqual({
      type: 'hash-request',
      piecesRoot: h.root,
      baseLayer: 1,
      index: 0,
      length: 8,
      proofLayers: 2,
    });
    expect(a.messages('request')).toEqual([]);
    expect(h.storage.layers).toEqual([]);
    const { type: _t, ...range } = req!;
    a.push({ type: 'wire.hashes', ...range, hashes: honest(h, range) });
    expect(h.storage.layers).toHaveLength(1);
    expect(h.storage.layers[0]!.file).toBe(0);
    expect(h.storage.layers[0]!.layer).toEqual(h.hashTrees.byRoot.values().next().value!.layers[0]);
    // Its tree joins ours: peers connecting from now on get their hash requests answered from it.
    expect(h.context().info.hashTrees!.byRoot).toEqual(h.hashTrees.byRoot);
    expect(h.context().info.hashTrees!.chunks).toBe(1);
    expect(a.messages('request').length).toBeGreaterThan(0);
    serveAll(h, A);
    expect(h.value()).toMatchObject({ active: { complete: 'seeding' } });
    expect(h.storage.writes.map((w) => w.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Answers nobody asked for (again, or of another range) change nothing.
    a.push({ type: 'wire.hashes', ...range, hashes: honest(h, range) });
    a.push({ type: 'wire.hash-reject', ...range });
    expect(h.storage.layers).toHaveLength(1);
    expect(a.messages('hash-request')).toHaveLength(1);
  });

  it('a reject sends the range to another peer; an unanswered request is asked again after its timeout', () => {
    const h = start({ pieces: 8, missingLayer: true, peers: [A, B, C] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const [req] = a.messages('hash-request');
    const { type: _t, ...range } = req!;
    const b = h.peer(B);
    b.seed(FAST, 0x72);
    expect(b.messages('hash-request')).toEqual([]); // the range is out to A already
    a.push({ type: 'wire.hash-reject', ...range });
    expect(b.messages('hash-request')).toEqual([req]);
    // B never answers: after the timeout (10 s of the torrent's clock) C is asked; A, which rejected, is not.
    const c = h.peer(C);
    c.seed(FAST, 0x73);
    expect(c.messages('hash-request')).toEqual([]);
    h.advance(11_000);
    expect(c.messages('hash-request')).toEqual([req]);
    expect(a.messages('hash-request')).toHaveLength(1);
    // C rejects too: every peer has said no; half a minute later A is asked again (it may have been checking).
    c.push({ type: 'wire.hash-reject', ...range });
    h.advance(10_000);
    expect(a.messages('hash-request')).toHaveLength(1);
    h.advance(9_000); // A's reject was at 0 s of the torrent's clock: now it is 30 s
    expect(a.messages('hash-request')).toEqual([req, req]);
    a.push({ type: 'wire.hashes', ...range, hashes: honest(h, range) });
    expect(h.storage.layers).toHaveLength(1);
  });

  it('hashes that do not prove against the pieces root: the peer is banned, the range asked of another', () => {
    const h = start({ pieces: 8, missingLayer: true, peers: [A, B] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const [req] = a.messages('hash-request');
    const { type: _t, ...range } = req!;
    const lie = Uint8Array.from(honest(h, range));
    lie[40] ^= 1; // the second piece's hash
    const b = h.peer(B);
    b.seed(FAST, 0x72);
    a.push({ type: 'wire.hashes', ...range, hashes: lie });
    expect(h.storage.layers).toEqual([]);
    expect(h.events).toContainEqual({
      type: 'torrent.banned',
      index: -1,
      banned: [{ peer: A, reason: 'sent BEP 52 hashes that do not prove against the pieces root' }],
    });
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'torrent.peer', key: A, event: 'closed', reason: 'bad-data' }),
    );
    expect(b.messages('hash-request')).toEqual([req]);
    b.push({ type: 'wire.hashes', ...range, hashes: honest(h, range) });
    expect(h.storage.layers).toHaveLength(1);
    serveAll(h, B);
    expect(h.value()).toMatchObject({ active: { complete: 'seeding' } });
  });

  it('a layer made whole is given to the live peers: one connected before it came serves it from then on', () => {
    const h = start({ pieces: 8, missingLayer: true, peers: [A, B, C] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const [req] = a.messages('hash-request');
    const { type: _t, ...range } = req!;
    // B is admitted (a leecher asking us for the layer), C still connecting.
    const b = h.peer(B);
    b.connect(FAST, 0x72);
    b.push({ type: 'wire.have-none' });
    h.peer(C).push({ type: 'wire.connected' });
    b.push({ type: 'wire.hash-request', ...range });
    expect(b.messages('hash-reject')).toEqual([{ type: 'hash-reject', ...range }]);
    a.push({ type: 'wire.hashes', ...range, hashes: honest(h, range) });
    const trees = h.context().info.hashTrees!;
    expect(trees.byRoot).toEqual(h.hashTrees.byRoot);
    for (const key of [A, B, C]) expect(h.peer(key).actor()!.getSnapshot().context.torrent.hashTrees, key).toBe(trees);
    b.push({ type: 'wire.hash-request', ...range });
    expect(b.messages('hashes')).toEqual([{ type: 'hashes', ...range, hashes: honest(h, range) }]);
  });

  it("the file's pieces on disk are checked against the new layer before any is picked: those found are not fetched", () => {
    const h = start({ pieces: 8, missingLayer: true, peers: [A], onDisk: [0, 1, 2, 5], layerCheck: 'manual' });
    const a = h.peer(A);
    a.seed(FAST);
    const [req] = a.messages('hash-request');
    const { type: _t, ...range } = req!;
    a.push({ type: 'wire.hashes', ...range, hashes: honest(h, range) });
    expect(h.storage.layers).toHaveLength(1);
    // The layer is whole, but the storage has not said what it found: nothing is asked for yet.
    h.advance(3_000);
    expect(a.messages('request')).toEqual([]);
    h.answerLayerCheck();
    expect(h.context().tally).toMatchObject({ verifiedPieces: 4, left: 4 * 32 * 1024, fetched: 0 });
    expect(h.events.filter((e) => e.type === 'torrent.piece')).toEqual(
      [0, 1, 2, 5].map((index) => ({ type: 'torrent.piece', index })),
    );
    expect(a.messages('have').map((m) => m.index)).toEqual([0, 1, 2, 5]);
    serveAll(h, A);
    expect(h.value()).toMatchObject({ active: { complete: 'seeding' } });
    expect([...new Set(a.messages('request').map((m) => m.index))].sort()).toEqual([3, 4, 6, 7]);
    expect(h.storage.writes.map((w) => w.index).sort()).toEqual([3, 4, 6, 7]);
    expect(h.context().tally.fetched).toBe(4 * 32 * 1024);
  });

  it('every piece on disk: the check completes the torrent, nothing is requested', () => {
    const h = start({ pieces: 8, missingLayer: true, peers: [A], onDisk: [0, 1, 2, 3, 4, 5, 6, 7] });
    const a = h.peer(A);
    a.seed(FAST);
    const [req] = a.messages('hash-request');
    const { type: _t, ...range } = req!;
    a.push({ type: 'wire.hashes', ...range, hashes: honest(h, range) });
    expect(h.value()).toMatchObject({ active: { complete: 'seeding' } });
    expect(a.messages('request')).toEqual([]);
    expect(h.storage.writes).toEqual([]);
    expect(h.events).toContainEqual({ type: 'torrent.complete' });
    expect(h.context().tally).toMatchObject({ verifiedPieces: 8, left: 0, fetched: 0 });
  });
});
