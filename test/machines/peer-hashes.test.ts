/**
 * BEP 52 hash requests in the peer statechart: a peer asking for a range of a file's merkle tree gets
 * `hashes` (the range and the uncle hashes that prove it against the file's pieces root) or, when we
 * hold no such tree or the request is malformed or out of range, a `hash reject` naming the same range;
 * answers with hashes are capped per connection and a peer that keeps asking is closed as a flood.
 * The torrent's `peer.hashRequest` goes out as a `hash request`; `hashes` and `hash reject` messages go
 * to the torrent (`peer.hashes`, `peer.hashReject`), which checks it asked (src/machines/torrent/hash-fetch.ts).
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { hashTreesOf, verifyHashes } from '../../src/protocol/hash-tree.js';
import { pieceLayer } from '../../src/protocol/merkle.js';
import type { HashRange } from '../../src/protocol/wire.js';
import { HASH_REQUEST_SLACK, hashAllowance } from '../../src/machines/peer/hash-serving.js';
import { startPeer, type PeerHarness } from './peer-harness.js';

const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const concat = (hs: Uint8Array[]) => {
  const out = new Uint8Array(hs.length * 32);
  hs.forEach((h, i) => out.set(h, i * 32));
  return out;
};

// A file of 40 blocks (20 pieces of 32 KiB): a tree of 64 leaves (6 layers), its piece layer is layer 1.
const leaves = Array.from({ length: 40 }, (_, i) => sha(Uint8Array.of(i)));
const layer = pieceLayer(leaves, 32768);
const root = (() => {
  let nodes = [...leaves, ...Array.from({ length: 24 }, () => new Uint8Array(32))];
  while (nodes.length > 1)
    nodes = nodes.flatMap((n, i) => (i % 2 ? [] : [sha(Uint8Array.from([...n, ...nodes[i + 1]!]))]));
  return nodes[0]!;
})();
const trees = hashTreesOf({
  pieceLength: 32768,
  files: [{ length: 40 * 16384 - 100, piecesRoot: root, pieceLayer: concat(layer) }],
});
/** How libtorrent asks for a piece layer: from its start, all of it (32 with pads), proof to the root. */
const LAYER: HashRange = { piecesRoot: root, baseLayer: 1, index: 0, length: 32, proofLayers: 4 };

let current: PeerHarness | undefined;
afterEach(() => {
  expect(current?.errors()).toEqual([]);
  current?.stop();
  current = undefined;
});
function start(...args: Parameters<typeof startPeer>) {
  current = startPeer(...args);
  return current;
}

describe('peer statechart: BEP 52 hash requests', () => {
  it('answers a request for a file it holds with the range and its proof (verified against the pieces root)', () => {
    const h = start({ torrent: { hashTrees: trees } });
    h.connect();
    h.push({ type: 'wire.hash-request', ...LAYER });
    const [answer] = h.messages('hashes');
    expect(answer).toMatchObject(LAYER);
    expect(answer!.hashes.subarray(0, 20 * 32)).toEqual(concat(layer));
    expect(verifyHashes(root, 6, LAYER, answer!.hashes)).toBe(true);
    // A smaller range needs uncle hashes: 4 hashes at 8, proof of layers 3, 4 and 5.
    const part: HashRange = { ...LAYER, index: 8, length: 4 };
    h.push({ type: 'wire.hash-request', ...part });
    const second = h.messages('hashes')[1]!;
    expect(second.hashes.length).toBe((4 + 3) * 32);
    expect(verifyHashes(root, 6, part, second.hashes)).toBe(true);
    expect(h.snapshot().context.extMessages).toMatchObject({ hashRequests: 2, hashesServed: 2 });
    expect(h.messages('hash-reject')).toEqual([]);
    expect(h.status()).toBe('active');
  });

  it('rejects, naming the same range, what it cannot prove: another root, below the piece layer, out of range', () => {
    const h = start({ torrent: { hashTrees: trees } });
    h.connect();
    const bad: HashRange[] = [
      { ...LAYER, piecesRoot: new Uint8Array(32).fill(7) },
      { ...LAYER, baseLayer: 0, length: 64, proofLayers: 5 },
      { ...LAYER, index: 32 },
      { ...LAYER, proofLayers: 5 },
      { ...LAYER, length: 3 },
    ];
    for (const r of bad) h.push({ type: 'wire.hash-request', ...r });
    expect(h.messages('hashes')).toEqual([]);
    expect(h.messages('hash-reject')).toEqual(bad.map((r) => ({ type: 'hash-reject', ...r })));
    expect(h.snapshot().context.extMessages).toMatchObject({ hashRequests: 5, hashesServed: 0 });
  });

  it('a torrent without trees (v1, or v2 without its piece layers) rejects every request', () => {
    const h = start();
    h.connect();
    h.push({ type: 'wire.hash-request', ...LAYER });
    expect(h.messages('hash-reject')).toEqual([{ type: 'hash-reject', ...LAYER }]);
    expect(h.messages('hashes')).toEqual([]);
  });

  it('caps the answers per connection, then rejects; a peer that keeps asking is closed as a flood', () => {
    const h = start({ torrent: { hashTrees: trees } });
    h.connect();
    const allowance = hashAllowance(trees);
    expect(allowance).toBe(2 * 1 + 8);
    for (let i = 0; i < allowance + HASH_REQUEST_SLACK; i++) h.push({ type: 'wire.hash-request', ...LAYER });
    expect(h.messages('hashes').length).toBe(allowance);
    expect(h.messages('hash-reject').length).toBe(HASH_REQUEST_SLACK);
    expect(h.status()).toBe('active');
    h.push({ type: 'wire.hash-request', ...LAYER });
    expect(h.status()).toBe('done');
    expect(h.reports('peer.closed')).toMatchObject([{ type: 'peer.closed', reason: 'protocol-error' }]);
    expect(h.reports('peer.closed')[0]!.detail).toMatch(/hash requests/);
  });

  it('serves the trees the torrent gives later (peer.hashTrees): rejected before, answered after, in any state', () => {
    const h = start();
    // Given before the connection is up (the torrent fetched a layer while this peer was connecting)…
    h.send({ type: 'peer.hashTrees', hashTrees: hashTreesOf({ pieceLength: 32768, files: [] }) });
    h.connect();
    h.push({ type: 'wire.hash-request', ...LAYER });
    expect(h.messages('hash-reject')).toEqual([{ type: 'hash-reject', ...LAYER }]);
    // …and while connected: the next request for the same range is answered from the new trees.
    h.send({ type: 'peer.hashTrees', hashTrees: trees });
    expect(h.snapshot().context.torrent.hashTrees).toBe(trees);
    h.push({ type: 'wire.hash-request', ...LAYER });
    const [answer] = h.messages('hashes');
    expect(answer).toMatchObject(LAYER);
    expect(verifyHashes(root, 6, LAYER, answer!.hashes)).toBe(true);
    expect(h.messages('hash-reject')).toHaveLength(1);
    // The allowance follows the trees now held (the count of answers so far carries over).
    expect(h.snapshot().context.extMessages).toMatchObject({ hashRequests: 2, hashesServed: 1 });
    expect(h.wire.commands.filter((c) => c.type === 'wire.close')).toEqual([]);
  });

  it('asks for hashes when the torrent says (peer.hashRequest); hashes and hash rejects go to the torrent', () => {
    const h = start();
    h.connect();
    h.send({ type: 'peer.hashRequest', range: LAYER });
    expect(h.messages('hash-request')).toEqual([{ type: 'hash-request', ...LAYER }]);
    const before = h.wire.commands.length;
    const hashes = new Uint8Array(32 * 32).fill(5);
    h.push({ type: 'wire.hashes', ...LAYER, hashes });
    h.push({ type: 'wire.hash-reject', ...LAYER, index: 32 });
    expect(h.wire.commands.length).toBe(before); // nothing answered: the torrent decides
    expect(h.reports('peer.hashes')).toEqual([{ type: 'peer.hashes', key: h.key, range: LAYER, hashes }]);
    expect(h.reports('peer.hashReject')).toEqual([
      { type: 'peer.hashReject', key: h.key, range: { ...LAYER, index: 32 } },
    ]);
    expect(h.status()).toBe('active');
    expect(h.snapshot().context.extMessages).toMatchObject({ hashRequests: 0, hashesServed: 0 });
  });
});
