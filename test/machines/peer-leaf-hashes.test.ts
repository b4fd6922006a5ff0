/**
 * BEP 52 hash requests of base layer 0 in the peer statechart (what libtorrent asks when a piece of its
 * fails, and what our torrent asks to blame a bad block): a request for one piece's leaves of a file
 * whose tree we hold is answered by reading the piece (`hash.leaves` to the block reader; only a
 * verified piece is read) and sending its leaves — zero hashes past the file's end — with the uncle
 * hashes above the piece layer; leaves that do not hash to the piece's layer entry, or a failed read,
 * give a `hash reject`; so does a request that is not for exactly one piece.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { answerLeafRequest, hashTreesOf, leafRequestPiece, verifyHashes } from '../../src/protocol/hash-tree.js';
import { merkleRoot, pieceLayer } from '../../src/protocol/merkle.js';
import type { HashRange } from '../../src/protocol/wire.js';
import { startPeer, type PeerHarness } from './peer-harness.js';

const sha = (b: Uint8Array) => new Uint8Array(createHash('sha256').update(b).digest());
const concat = (hs: Uint8Array[]) => {
  const out = new Uint8Array(hs.length * 32);
  hs.forEach((h, i) => out.set(h, i * 32));
  return out;
};

// A file of 39 blocks (20 pieces of 32 KiB, the last with one block) after a file of 2 pieces: a tree
// of 64 leaves (6 layers), its piece layer is layer 1; the file starts at piece 2.
const leaves = Array.from({ length: 39 }, (_, i) => sha(Uint8Array.of(i)));
const root = merkleRoot(leaves);
const trees = hashTreesOf({
  pieceLength: 32768,
  files: [{ length: 39 * 16384 - 100, piecesRoot: root, pieceLayer: concat(pieceLayer(leaves, 32768)), offset: 65536 }],
});
/** How libtorrent asks for the leaves of the file's piece `k`, with a proof up to the root. */
const piece = (k: number): HashRange => ({ piecesRoot: root, baseLayer: 0, index: 2 * k, length: 2, proofLayers: 5 });

let current: PeerHarness | undefined;
afterEach(() => {
  if (current) expect(current.errors()).toEqual([]);
  current?.stop();
  current = undefined;
});
function start(...args: Parameters<typeof startPeer>) {
  current = startPeer(...args);
  return current;
}

describe('peer statechart: BEP 52 hash requests of base layer 0', () => {
  it('reads the piece, then answers its leaves with the uncles that prove them against the root', () => {
    const h = start({ torrent: { hashTrees: trees } });
    h.connect();
    h.push({ type: 'wire.hash-request', ...piece(3) });
    expect(h.reader.leafReads).toEqual([{ type: 'hash.leaves', index: 5, range: piece(3) }]);
    expect(h.messages('hashes')).toEqual([]);
    h.answer({ type: 'hash.leaves', range: piece(3), leaves: leaves.slice(6, 8) });
    const [answer] = h.messages('hashes');
    expect(answer).toMatchObject(piece(3));
    expect(answer!.hashes.subarray(0, 64)).toEqual(concat(leaves.slice(6, 8)));
    expect(verifyHashes(root, 6, piece(3), answer!.hashes)).toBe(true);
  });

  it('the last piece of the file: zero hashes past its end', () => {
    const h = start({ torrent: { hashTrees: trees } });
    h.connect();
    h.push({ type: 'wire.hash-request', ...piece(19) });
    expect(h.reader.leafReads.map((r) => r.index)).toEqual([21]);
    h.answer({ type: 'hash.leaves', range: piece(19), leaves: [leaves[38]!] });
    const [answer] = h.messages('hashes');
    expect(answer!.hashes.subarray(32, 64)).toEqual(new Uint8Array(32));
    expect(verifyHashes(root, 6, piece(19), answer!.hashes)).toBe(true);
  });

  it('leaves that do not hash to the layer entry, or a failed read: a hash reject', () => {
    const h = start({ torrent: { hashTrees: trees } });
    h.connect();
    h.push({ type: 'wire.hash-request', ...piece(1) });
    h.answer({ type: 'hash.leaves', range: piece(1), leaves: leaves.slice(4, 6) }); // piece 2's
    h.push({ type: 'wire.hash-request', ...piece(2) });
    h.answer({ type: 'hash.leavesFailed', range: piece(2), code: 'BT_ERR_NOT_VERIFIED', message: 'no' });
    expect(h.messages('hashes')).toEqual([]);
    expect(h.messages('hash-reject')).toEqual([
      { type: 'hash-reject', ...piece(1) },
      { type: 'hash-reject', ...piece(2) },
    ]);
  });

  it('not one piece of a known file: rejected without reading', () => {
    const h = start({ torrent: { hashTrees: trees } });
    h.connect();
    const odd: HashRange[] = [
      { ...piece(0), length: 4 }, // two pieces
      { ...piece(0), index: 1 }, // not a piece's first leaf
      { ...piece(0), proofLayers: 6 }, // past the root
      { ...piece(0), piecesRoot: new Uint8Array(32) }, // no such file
    ];
    for (const r of odd) h.push({ type: 'wire.hash-request', ...r });
    expect(h.reader.leafReads).toEqual([]);
    expect(h.messages('hash-reject')).toHaveLength(odd.length);
  });

  it('a tree without its file offset (or of one block per piece) answers no layer 0', () => {
    const noOffset = hashTreesOf({
      pieceLength: 32768,
      files: [{ length: 39 * 16384 - 100, piecesRoot: root, pieceLayer: concat(pieceLayer(leaves, 32768)) }],
    });
    expect(leafRequestPiece(noOffset, piece(0))).toBeUndefined();
    expect(leafRequestPiece(trees, piece(0))).toBe(2);
    expect(answerLeafRequest(noOffset, piece(0), leaves.slice(0, 2))).toMatchObject({ kind: 'reject' });
    expect(answerLeafRequest(trees, piece(0), leaves.slice(0, 3))).toMatchObject({ kind: 'reject' });
  });
});
