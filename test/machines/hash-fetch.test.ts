/**
 * The torrent's BEP 52 layer fetcher (src/machines/torrent/hash-fetch.ts), pure: 512-hash ranges with
 * uncle hashes for a wide layer, at most 4 requests out per peer, answers checked against the root and
 * only from the peer asked, a peer gone gives its ranges to others, pieces blocked until the layer is whole.
 */
import { describe, expect, it } from 'vitest';
import { HashFetch, MAX_HASH_REQUESTS_PER_PEER } from '../../src/machines/torrent/hash-fetch.js';
import { answerHashRequest, hashTreesOf } from '../../src/protocol/hash-tree.js';
import { rootFromPieceLayer, sha256 } from '../../src/protocol/merkle.js';

const PIECE = 16_384;

/** A file of `pieces` pieces: its piece layer (arbitrary hashes), root and tree. */
function file(pieces: number, seed: number) {
  const layer = Array.from({ length: pieces }, (_, i) => sha256(Uint8Array.of(seed, i & 255, i >> 8)));
  const root = rootFromPieceLayer(layer, PIECE);
  const bytes = Uint8Array.from(Buffer.concat(layer));
  const trees = hashTreesOf({
    pieceLength: PIECE,
    files: [{ length: pieces * PIECE, piecesRoot: root, pieceLayer: bytes }],
  });
  return { root, bytes, trees };
}

describe('HashFetch', () => {
  it('asks a wide layer in 512-hash ranges with uncles, 4 per peer at most; proven ranges make the layer whole', () => {
    const big = file(2100, 1); // width 4096: 5 ranges (the last partly padding), proof up to the root
    const small = file(3, 2); // width 4: one range of 4, one pad hash
    const f = new HashFetch(
      [
        { file: 0, root: big.root, firstPiece: 0, pieces: 2100 },
        { file: 2, root: small.root, firstPiece: 2100, pieces: 3 },
      ],
      PIECE,
      10_000,
    );
    expect([...f.blockedPieces()].length).toBe(2103);
    const first = f.assign(['p1', 'p2'], 0);
    expect(first.filter((r) => r.key === 'p1')).toHaveLength(MAX_HASH_REQUESTS_PER_PEER);
    expect(first.map((r) => [r.key, r.range.index, r.range.length, r.range.proofLayers])).toEqual([
      ['p1', 0, 512, 11],
      ['p1', 512, 512, 11],
      ['p1', 1024, 512, 11],
      ['p1', 1536, 512, 11],
      ['p2', 2048, 512, 11],
      ['p2', 0, 4, 1],
    ]);
    expect(f.assign(['p1', 'p2'], 1)).toEqual([]); // everything is out
    for (const { key, range } of first) {
      const tree = range.piecesRoot === big.root ? big.trees : small.trees;
      const a = answerHashRequest(tree, range);
      if (a.kind !== 'hashes') throw new Error(a.why);
      // Only the peer asked may answer.
      expect(f.received(key === 'p1' ? 'p2' : 'p1', range, a.hashes, 2)).toBe('unasked');
      expect(f.received(key, range, a.hashes, 2)).toBe('ok');
    }
    const whole = f.takeCompleted();
    expect(whole.map((w) => w.file).sort()).toEqual([0, 2]);
    expect(Buffer.from(whole.find((w) => w.file === 0)!.layer).equals(big.bytes)).toBe(true);
    expect(Buffer.from(whole.find((w) => w.file === 2)!.layer).equals(small.bytes)).toBe(true);
    // Whole, but each file's data on disk is checked against its layer before its pieces are picked.
    expect(f.isDone).toBe(false);
    expect([...f.blockedPieces()].length).toBe(2103);
    expect(f.layerChecked(2)).toBe(true);
    expect(f.layerChecked(2)).toBe(false); // once
    expect([...f.blockedPieces()].length).toBe(2100);
    expect(f.layerChecked(0)).toBe(true);
    expect(f.isDone).toBe(true);
    expect([...f.blockedPieces()]).toEqual([]);
  });

  it('wrong hashes are bad (the range asked again, not of that peer); a peer gone gives its ranges to others', () => {
    const one = file(10, 3);
    const f = new HashFetch([{ file: 0, root: one.root, firstPiece: 4, pieces: 10 }], PIECE, 10_000);
    expect([...f.blockedPieces()]).toEqual([4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    const [r] = f.assign(['liar', 'other'], 0);
    expect(r!.key).toBe('liar');
    const a = answerHashRequest(one.trees, r!.range);
    if (a.kind !== 'hashes') throw new Error(a.why);
    const lie = Uint8Array.from(a.hashes);
    lie[5]! ^= 1;
    expect(f.received('liar', r!.range, lie, 1)).toBe('bad');
    const [again] = f.assign(['liar', 'other'], 2);
    expect(again!.key).toBe('other');
    f.peerGone('other');
    const [third] = f.assign(['third'], 3);
    expect(third!.key).toBe('third');
    expect(f.rejected('other', third!.range, 4)).toBe(false); // not out to it
    expect(f.received('third', third!.range, a.hashes, 4)).toBe('ok');
    expect(f.layerChecked(0)).toBe(true);
    expect(f.isDone).toBe(true);
  });
});
