/**
 * BEP 52 hash serving: the merkle trees of a v2 torrent's files from their piece layers up, and the
 * answer to a peer's `hash request` — the requested range of a layer plus the uncle hashes that prove
 * it against the file's `pieces root` — or the reason to send a `hash reject`.
 *
 * Layers are counted from the leaves (16 KiB blocks, layer 0); a file's tree has `numLayers =
 * log2(nextPowerOfTwo(blocks))` layers above them, the root being layer `numLayers`. We hold a file's
 * tree from its piece layer (layer `log2(piece length / 16 KiB)`) up, so requests for lower layers are
 * rejected; a file of one piece or less needs no piece layer (its root is its piece hash) and has no
 * tree here either.
 *
 * The proof of a range follows libtorrent (and BEP 52): with `length` nodes (a power of two, `index` a
 * multiple of it) the range hashes up to its subtree root at `log2(length)` layers above the base; the
 * uncle hashes are the siblings of that subtree root and of its ancestors, up to `proofLayers` layers
 * above the base — `max(0, proofLayers - log2(length) + 1)` hashes, lowest first ({@link hashCountOf}).
 *
 * Pure: no I/O (node:crypto's hash has no effect on the world).
 *
 * @example
 * const trees = hashTreesOf(meta);                        // once per torrent
 * const a = answerHashRequest(trees, request);            // request: a decoded 'hash-request'
 * send(a.kind === 'hashes' ? { type: 'hashes', ...request, hashes: a.hashes } : { type: 'hash-reject', ...request });
 */
import { toHex } from './bytes.js';
import { blocksPerPiece, equalHash, HASH_SIZE, merkleRoot, nextPowerOfTwo, padHash, sha256 } from './merkle.js';
import type { HashRange } from './wire.js';

/** Most base-layer hashes we give in one `hashes` message: libtorrent asks for at most 512 at a time. */
export const MAX_SERVED_HASHES = 512;

/** One file's merkle tree from its piece layer up. */
export interface FileHashTree {
  /** The file's `pieces root`. */
  root: Uint8Array;
  /** Layers above the leaves (the root is layer `numLayers`). */
  numLayers: number;
  /** The layer of `layers[0]`: the piece layer, `log2(piece length / 16 KiB)`. */
  pieceLayer: number;
  /** `layers[k]` is layer `pieceLayer + k`, its hashes concatenated (padded to a power of two); the last is the root. */
  layers: readonly Uint8Array[];
  /** The torrent's piece the file starts at, when known: then its leaves can be read to answer layer 0. */
  firstPiece?: number;
}

/** The trees of a torrent's files, by pieces root (hex); `chunks` counts their 512-hash ranges. */
export interface HashTrees {
  byRoot: ReadonlyMap<string, FileHashTree>;
  /** How many {@link MAX_SERVED_HASHES}-hash requests fetch every piece layer: what a leecher needs from us. */
  chunks: number;
}

/** A file as {@link hashTreesOf} needs it (a `TorrentFile` of metainfo.ts). */
export interface HashTreeFile {
  length: number;
  padding?: boolean;
  piecesRoot?: Uint8Array;
  pieceLayer?: Uint8Array;
  /** Where the file starts in the torrent (bytes; a multiple of the piece length for a v2 file). */
  offset?: number;
}

function pair(a: Uint8Array, b: Uint8Array): Uint8Array {
  const both = new Uint8Array(2 * HASH_SIZE);
  both.set(a, 0);
  both.set(b, HASH_SIZE);
  return sha256(both);
}

/**
 * The tree of one file longer than a piece from its piece layer (concatenated hashes, one per piece,
 * as `piece layers` holds it, already checked against the root by the metainfo parser).
 */
export function fileHashTree(
  root: Uint8Array,
  layer: Uint8Array,
  pieceLength: number,
): { -readonly [K in keyof FileHashTree]: FileHashTree[K] } {
  const perPiece = blocksPerPiece(pieceLength);
  const pieceLayer = Math.round(Math.log2(perPiece));
  const pieces = layer.length / HASH_SIZE;
  let width = nextPowerOfTwo(pieces);
  let current = new Uint8Array(width * HASH_SIZE);
  current.set(layer);
  const pad = padHash(pieceLayer);
  for (let i = pieces; i < width; i++) current.set(pad, i * HASH_SIZE);
  const layers: Uint8Array[] = [current];
  while (width > 1) {
    width /= 2;
    const next = new Uint8Array(width * HASH_SIZE);
    for (let i = 0; i < width; i++) {
      const a = current.subarray(2 * i * HASH_SIZE, (2 * i + 1) * HASH_SIZE);
      const b = current.subarray((2 * i + 1) * HASH_SIZE, (2 * i + 2) * HASH_SIZE);
      next.set(pair(a, b), i * HASH_SIZE);
    }
    layers.push(next);
    current = next;
  }
  // The piece layer's width decides the height (the parser checked it against the length and the root).
  return { root, numLayers: pieceLayer + layers.length - 1, pieceLayer, layers };
}

/**
 * The trees of every file of a v2 or hybrid torrent whose piece layer we hold (a file longer than one
 * piece); empty for a v1 torrent. Costs one SHA-256 per piece, once.
 */
export function hashTreesOf(meta: { pieceLength: number; files: readonly HashTreeFile[] }): HashTrees {
  const byRoot = new Map<string, FileHashTree>();
  let chunks = 0;
  for (const f of meta.files) {
    if (f.padding || !f.piecesRoot || !f.pieceLayer || f.length <= meta.pieceLength) continue;
    const key = toHex(f.piecesRoot);
    if (byRoot.has(key)) continue; // two files with the same bytes share a root (and a tree)
    const tree = fileHashTree(f.piecesRoot, f.pieceLayer, meta.pieceLength);
    if (f.offset !== undefined && f.offset % meta.pieceLength === 0) tree.firstPiece = f.offset / meta.pieceLength;
    byRoot.set(key, tree);
    chunks += Math.ceil(tree.layers[0]!.length / HASH_SIZE / MAX_SERVED_HASHES);
  }
  return { byRoot, chunks };
}

/** How many hashes a `hashes` message answering `range` carries: its `length` plus the uncle hashes. */
export function hashCountOf(range: Pick<HashRange, 'length' | 'proofLayers'>): number {
  const below = Math.round(Math.log2(nextPowerOfTwo(Math.max(1, range.length))));
  return range.length + Math.max(0, range.proofLayers - below + 1);
}

export type HashAnswer = { kind: 'hashes'; hashes: Uint8Array } | { kind: 'reject'; why: string };

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/**
 * The answer to a `hash request` (see the module's comment): the hashes, or why it is rejected — an
 * unknown root, a layer below the piece layer (we hold no block hashes) or above the tree, a length
 * that is not a power of two (or over {@link MAX_SERVED_HASHES}), an index not a multiple of it or past
 * the layer, proof layers reaching the root or beyond.
 */
export function answerHashRequest(trees: HashTrees | undefined, range: HashRange): HashAnswer {
  const tree = trees?.byRoot.get(toHex(range.piecesRoot));
  if (!tree) return { kind: 'reject', why: 'no tree with that pieces root' };
  const { baseLayer, index, length, proofLayers } = range;
  if (baseLayer < tree.pieceLayer) return { kind: 'reject', why: `layer ${baseLayer} is below the piece layer` };
  if (baseLayer >= tree.numLayers) return { kind: 'reject', why: `layer ${baseLayer} is not below the root` };
  if (!isPowerOfTwo(length) || length > MAX_SERVED_HASHES)
    return { kind: 'reject', why: `length ${length} is not a power of two up to ${MAX_SERVED_HASHES}` };
  const base = tree.layers[baseLayer - tree.pieceLayer]!;
  const width = base.length / HASH_SIZE;
  if (index % length !== 0 || index + length > width)
    return { kind: 'reject', why: `${length} hashes at ${index} are not a range of the ${width} of the layer` };
  if (proofLayers >= tree.numLayers - baseLayer)
    return { kind: 'reject', why: `${proofLayers} proof layers reach past the root` };
  const out = new Uint8Array(hashCountOf(range) * HASH_SIZE);
  out.set(base.subarray(index * HASH_SIZE, (index + length) * HASH_SIZE));
  let at = length * HASH_SIZE;
  for (let up = Math.round(Math.log2(length)); up <= proofLayers; up++) {
    const layer = tree.layers[baseLayer + up - tree.pieceLayer]!;
    const sibling = (index >>> up) ^ 1;
    out.set(layer.subarray(sibling * HASH_SIZE, (sibling + 1) * HASH_SIZE), at);
    at += HASH_SIZE;
  }
  return { kind: 'hashes', hashes: out };
}

/**
 * True when `hashes` (a `hashes` message's, for `range`) prove the range against the file's `root`: the
 * range hashes up, with the uncle hashes, to exactly the root of a tree of `numLayers` layers above
 * its leaves. A proof that stops below the root proves nothing here (false), and so does a count of
 * hashes other than {@link hashCountOf}.
 */
export function verifyHashes(root: Uint8Array, numLayers: number, range: HashRange, hashes: Uint8Array): boolean {
  const { baseLayer, index, length, proofLayers } = range;
  if (!isPowerOfTwo(length) || index % length !== 0 || hashes.length !== hashCountOf(range) * HASH_SIZE) return false;
  if (baseLayer + proofLayers + 1 !== numLayers || index + length > 2 ** (numLayers - baseLayer)) return false;
  let layer: Uint8Array[] = [];
  for (let i = 0; i < length; i++) layer.push(hashes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
  while (layer.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < layer.length; i += 2) next.push(pair(layer[i]!, layer[i + 1]!));
    layer = next;
  }
  let node = layer[0]!;
  let at = length * HASH_SIZE;
  for (let up = Math.round(Math.log2(length)); up <= proofLayers; up++) {
    const uncle = hashes.subarray(at, at + HASH_SIZE);
    node = ((index >>> up) & 1) === 0 ? pair(node, uncle) : pair(uncle, node);
    at += HASH_SIZE;
  }
  return equalHash(node, root);
}

/**
 * BEP 52 base layer 0: the torrent piece whose leaves answer `range` — a request for exactly one piece's
 * leaves (`length` the piece's width in leaves, `index` a multiple of it) of a file whose tree and first
 * piece we know, proof layers below the root — or undefined (answered, or rejected, as any other
 * request by {@link answerHashRequest}). The leaves are read from disk (a verified piece only), then
 * {@link answerLeafRequest} makes the answer.
 */
export function leafRequestPiece(trees: HashTrees | undefined, range: HashRange): number | undefined {
  if (range.baseLayer !== 0) return undefined;
  const tree = trees?.byRoot.get(toHex(range.piecesRoot));
  if (!tree || tree.firstPiece === undefined || tree.pieceLayer < 1) return undefined;
  const width = 2 ** tree.pieceLayer;
  const k = range.index / width;
  if (range.length !== width || !Number.isInteger(k) || k >= tree.layers[0]!.length / HASH_SIZE) return undefined;
  if (range.proofLayers >= tree.numLayers) return undefined;
  return tree.firstPiece + k;
}

/**
 * The answer to a layer-0 `range` (see {@link leafRequestPiece}) from `leaves`, the SHA-256 of the piece's
 * file blocks read from disk: the leaves (zero hashes past the file's end), then the uncle hashes from
 * the tree. Rejected when the leaves do not hash up to the piece's entry of the piece layer (the data on
 * disk is not what we verified: we say nothing rather than something false).
 */
export function answerLeafRequest(
  trees: HashTrees | undefined,
  range: HashRange,
  leaves: readonly Uint8Array[],
): HashAnswer {
  const tree = trees?.byRoot.get(toHex(range.piecesRoot));
  if (!tree || leafRequestPiece(trees, range) === undefined)
    return { kind: 'reject', why: "not a request for one piece's leaves" };
  const { index, length, proofLayers } = range;
  if (leaves.length > length) return { kind: 'reject', why: `${leaves.length} leaves for ${length}` };
  const out = new Uint8Array(hashCountOf(range) * HASH_SIZE);
  leaves.forEach((leaf, i) => out.set(leaf, i * HASH_SIZE));
  const k = index / length;
  const expected = tree.layers[0]!.subarray(k * HASH_SIZE, (k + 1) * HASH_SIZE);
  if (!equalHash(merkleRoot(leaves, padHash(0), length), expected))
    return { kind: 'reject', why: `the leaves of piece ${k} do not hash to its layer entry` };
  let at = length * HASH_SIZE;
  for (let up = tree.pieceLayer; up <= proofLayers; up++) {
    const layer = tree.layers[up - tree.pieceLayer]!;
    const sibling = (index >>> up) ^ 1;
    out.set(layer.subarray(sibling * HASH_SIZE, (sibling + 1) * HASH_SIZE), at);
    at += HASH_SIZE;
  }
  return { kind: 'hashes', hashes: out };
}
