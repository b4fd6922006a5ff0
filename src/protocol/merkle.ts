/**
 * BEP 52 merkle trees: SHA-256 over 16 KiB blocks. Each file of a v2 torrent has its own tree whose
 * leaves are the SHA-256 hashes of the file's 16 KiB blocks (the last block hashed as it is, shorter),
 * padded to a power of two with zero hashes (32 zero bytes); its root is the file's `pieces root`. The
 * *piece layer* is the layer whose nodes each cover one piece (`piece length / 16 KiB` leaves); a
 * .torrent's `piece layers` holds it for every file longer than one piece, and a block is verified
 * against it with the hashes of its uncles (the proof).
 *
 * Pure: no I/O (node:crypto's hash has no effect on the world).
 *
 * @example
 * const leaves = blockHashes(fileBytes);
 * const root = merkleRoot(leaves);                         // the file's 'pieces root'
 * const layer = pieceLayer(leaves, 65536);                 // its 'piece layers' entry, one hash per piece
 * rootFromPieceLayer(layer, 65536);                        // = root when the file is longer than a piece
 * verifyBlock(leaves[5]!, 1, blockProof(leaves.slice(4, 8), 1, 4), layer[1]!); // true
 */
import { createHash } from 'node:crypto';
import { BtError } from './errors.js';

/** A leaf covers 16 KiB of a file (BEP 52). */
export const BLOCK_SIZE = 16384;
/** SHA-256: 32 bytes. */
export const HASH_SIZE = 32;

/** SHA-256 of some bytes (the v2 info hash is this of the info dictionary, BEP 52). */
export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

function hashPair(a: Uint8Array, b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(a).update(b).digest());
}

const padCache: Uint8Array[] = [new Uint8Array(HASH_SIZE)];

/**
 * The hash of a subtree of 2^height leaves that are all zero hashes: what stands in for the part of a
 * layer past the end of a file (height 0: the zero hash itself).
 */
export function padHash(height: number): Uint8Array {
  if (!Number.isInteger(height) || height < 0 || height > 62) throw new RangeError(`height ${height}`);
  while (padCache.length <= height) {
    const below = padCache[padCache.length - 1]!;
    padCache.push(hashPair(below, below));
  }
  return padCache[height]!;
}

/** The smallest power of two ≥ n (1 for n ≤ 1). */
export function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function log2(n: number): number {
  return Math.round(Math.log2(n));
}

/**
 * The root of a tree over `leaves`, the layer padded to `width` nodes (a power of two, by default the
 * smallest that holds them) with `pad` (the zero hash for block hashes; {@link padHash} of the height
 * for an upper layer). An empty list gives the root of `width` pads.
 */
export function merkleRoot(
  leaves: readonly Uint8Array[],
  pad: Uint8Array = padHash(0),
  width: number = nextPowerOfTwo(leaves.length),
): Uint8Array {
  if (width < leaves.length || nextPowerOfTwo(width) !== width)
    throw new RangeError(`width ${width} is not a power of two holding ${leaves.length} leaves`);
  let layer = leaves.slice();
  let padding = pad;
  for (let w = width; w > 1; w /= 2) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < layer.length; i += 2) next.push(hashPair(layer[i]!, layer[i + 1] ?? padding));
    layer = next;
    padding = hashPair(padding, padding);
  }
  return layer[0] ?? padding;
}

/** The SHA-256 of each 16 KiB block of `data` (the last one as it is): a file's leaves. */
export function blockHashes(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += BLOCK_SIZE) out.push(sha256(data.subarray(at, at + BLOCK_SIZE)));
  return out;
}

/** The `pieces root` of a file's bytes (BEP 52); undefined for an empty file, which has none. */
export function fileRoot(data: Uint8Array): Uint8Array | undefined {
  return data.length === 0 ? undefined : merkleRoot(blockHashes(data));
}

/** Blocks per piece: `pieceLength` must be a power of two of at least 16 KiB (BEP 52). */
export function blocksPerPiece(pieceLength: number): number {
  if (!Number.isSafeInteger(pieceLength) || pieceLength < BLOCK_SIZE || nextPowerOfTwo(pieceLength) !== pieceLength)
    throw new BtError('BT_ERR_MERKLE_PIECE_LENGTH', `piece length ${pieceLength} is not a power of two ≥ 16 KiB`);
  return pieceLength / BLOCK_SIZE;
}

/**
 * The hash of one piece: the root of its blocks' subtree, `blocksPerPiece` leaves wide (zero hashes past
 * the end of the file). For a file of one piece or less, use {@link merkleRoot} of its leaves: its
 * tree is only as wide as its blocks need.
 */
export function pieceHash(leaves: readonly Uint8Array[], pieceLength: number): Uint8Array {
  return merkleRoot(leaves, padHash(0), blocksPerPiece(pieceLength));
}

/** The piece layer of a file from its leaves: one hash per piece (BEP 52 `piece layers`). */
export function pieceLayer(leaves: readonly Uint8Array[], pieceLength: number): Uint8Array[] {
  const per = blocksPerPiece(pieceLength);
  const out: Uint8Array[] = [];
  for (let i = 0; i < leaves.length; i += per) out.push(pieceHash(leaves.slice(i, i + per), pieceLength));
  return out;
}

/**
 * A file's root from its piece layer, the layer padded with the hash of a piece of zero leaves. Equal
 * to the root of the leaves for a file longer than one piece (which is when a layer is stored).
 */
export function rootFromPieceLayer(layer: readonly Uint8Array[], pieceLength: number): Uint8Array {
  return merkleRoot(layer, padHash(log2(blocksPerPiece(pieceLength))));
}

/** Splits a `piece layers` value (concatenated 32-byte hashes) into hashes. */
export function splitHashes(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length % HASH_SIZE !== 0)
    throw new BtError('BT_ERR_MERKLE_LAYER', `${bytes.length} bytes is not a whole number of SHA-256 hashes`);
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += HASH_SIZE) out.push(bytes.subarray(at, at + HASH_SIZE));
  return out;
}

/**
 * The proof of leaf `index` within a subtree of `width` leaves (`leaves` beyond their count are zero
 * hashes): the sibling at each level from the leaf up, log2(width) hashes — what a `hashes` message
 * (BEP 52) carries.
 */
export function blockProof(leaves: readonly Uint8Array[], index: number, width: number): Uint8Array[] {
  if (index < 0 || index >= width || nextPowerOfTwo(width) !== width || leaves.length > width)
    throw new RangeError(`leaf ${index} of ${width}`);
  const proof: Uint8Array[] = [];
  let layer = leaves.slice();
  let padding = padHash(0);
  let i = index;
  for (let w = width; w > 1; w /= 2) {
    proof.push(layer[i ^ 1] ?? padding);
    const next: Uint8Array[] = [];
    for (let k = 0; k < layer.length; k += 2) next.push(hashPair(layer[k]!, layer[k + 1] ?? padding));
    layer = next;
    padding = hashPair(padding, padding);
    i >>= 1;
  }
  return proof;
}

/**
 * True when a block whose SHA-256 is `leaf`, at `index` among its piece's leaves, hashes up through
 * `proof` (from {@link blockProof}) to `expected` (the piece's entry of the piece layer, or the file's
 * root for a file of one piece). A block that fails is bad on its own: its sender is to blame.
 */
export function verifyBlock(
  leaf: Uint8Array,
  index: number,
  proof: readonly Uint8Array[],
  expected: Uint8Array,
): boolean {
  if (index < 0 || index >= 2 ** proof.length) return false;
  let node = leaf;
  let i = index;
  for (const sibling of proof) {
    node = i & 1 ? hashPair(sibling, node) : hashPair(node, sibling);
    i >>= 1;
  }
  return equalHash(node, expected);
}

/** Byte equality of two hashes. */
export function equalHash(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
