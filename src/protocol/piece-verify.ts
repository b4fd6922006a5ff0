/**
 * Piece verification by the torrent's kind: the SHA-1 of the piece (BEP 3) for a v1 torrent, the SHA-256
 * merkle hash of the piece (BEP 52) for a v2-only one, both for a hybrid (each half where it is known).
 *
 * A v2 torrent pads every file to a piece boundary (src/protocol/metainfo.ts lays the pads out as
 * libtorrent does), so a piece holds bytes of one file only, then padding. The piece's hash is the root
 * of the subtree over its 16 KiB blocks (each hashed with SHA-256, the last one as it is, shorter),
 * padded to `piece length / 16 KiB` leaves with zero hashes: the file's entry of the `piece layers`. A
 * file of one piece or less has no entry there: the root of its own blocks' tree is its `pieces root`.
 * Pad bytes are hashed by no merkle tree (a hybrid's SHA-1 covers them, as zeros); they never reach the
 * disk and read back as zeros.
 *
 * Pure: no I/O (node:crypto's hashes have no effect on the world).
 *
 * @example
 * const verify = pieceVerifier(meta);
 * if (verify(index, pieceBytes)) await storage.writePiece(index, pieceBytes);
 */
import { createHash } from 'node:crypto';
import {
  BLOCK_SIZE,
  blockHashes,
  equalHash,
  HASH_SIZE,
  merkleRoot,
  pieceHash as subtreeHash,
  sha256,
} from './merkle.js';
import { type Metainfo, type TorrentFile, pieceHash, pieceSize } from './metainfo.js';

/** True when `data` is piece `index` of the torrent. */
export type PieceVerify = (index: number, data: Uint8Array) => boolean;

/** Which hashes {@link pieceVerifier} checks a piece against. */
export type VerifyScheme = 'sha1' | 'merkle' | 'sha1+merkle';

/** The scheme of a torrent: `sha1` (v1), `merkle` (v2-only), `sha1+merkle` (hybrid). */
export function verifyScheme(meta: Pick<Metainfo, 'kind'>): VerifyScheme {
  return meta.kind === 'v2' ? 'merkle' : meta.kind === 'hybrid' ? 'sha1+merkle' : 'sha1';
}

/**
 * The files of a v2 or hybrid torrent that hold data but whose piece hashes are unknown: longer than
 * one piece, and the torrent has no `piece layers` entry for them (a torrent made without them, or an
 * info dictionary fetched from peers). BEP 52 peers give them in `hashes` messages: a v2-only torrent
 * asks its peers for them (src/machines/torrent/hash-fetch.ts), a hybrid's fall back on SHA-1.
 */
export function filesMissingPieceLayers(meta: Pick<Metainfo, 'kind' | 'files'>): TorrentFile[] {
  if (meta.kind === 'v1') return [];
  return meta.files.filter((f) => !f.padding && f.piecesRoot !== undefined && f.pieceLayer === undefined);
}

/**
 * A note for `bt-actor info` when a v2-only torrent lacks piece layers ({@link filesMissingPieceLayers}):
 * their pieces verify only once peers gave the layers; undefined otherwise.
 */
export function missingLayersNote(meta: Pick<Metainfo, 'kind' | 'files'>): string | undefined {
  if (meta.kind !== 'v2') return undefined;
  const missing = filesMissingPieceLayers(meta).length;
  if (missing === 0) return undefined;
  return `a BitTorrent v2-only torrent without the piece layers of ${missing} file(s): they are asked of peers (BEP 52 hash requests)`;
}

/**
 * The verifier of `meta`'s pieces (see the module's comment). A v2 piece is checked against the file's
 * piece layer (or its root, for a file of one piece), from the metainfo or else from `fetched` (layers
 * fetched from peers by file index, read at each call: the caller may add to it); a v2-only piece whose
 * hash is unknown (see {@link filesMissingPieceLayers}) never verifies; a hybrid's is checked by its SHA-1 alone. Data of
 * the wrong size never verifies. Throws a RangeError for an index outside the torrent.
 */
export function pieceVerifier(meta: Metainfo, fetched?: ReadonlyMap<number, Uint8Array>): PieceVerify {
  const checkRange = (index: number) => {
    if (!Number.isInteger(index) || index < 0 || index >= meta.pieceCount)
      throw new RangeError(`piece ${index} is outside the torrent's ${meta.pieceCount} pieces`);
  };
  const sha1 = (index: number, data: Uint8Array) => equalHash(sha1Of(data), pieceHash(meta, index));
  if (meta.kind !== 'v2' && meta.kind !== 'hybrid')
    return (index, data) => {
      checkRange(index);
      return data.length === pieceSize(meta, index) && sha1(index, data);
    };
  const merkle = merkleVerifier(meta, fetched);
  if (meta.kind === 'v2')
    return (index, data) => {
      checkRange(index);
      return data.length === pieceSize(meta, index) && merkle(index, data) === true;
    };
  return (index, data) => {
    checkRange(index);
    return data.length === pieceSize(meta, index) && merkle(index, data) !== false && sha1(index, data);
  };
}

/**
 * The v2 half: for each piece, the file whose bytes it holds (-1: padding only). Answers true or false,
 * or undefined when the piece's hash is unknown (no piece layer for its file).
 */
function merkleVerifier(
  meta: Metainfo,
  fetched: ReadonlyMap<number, Uint8Array> | undefined,
): (index: number, data: Uint8Array) => boolean | undefined {
  const { pieceLength } = meta;
  const fileOfPiece = new Int32Array(meta.pieceCount).fill(-1);
  meta.files.forEach((f, i) => {
    if (f.padding || f.length === 0 || f.piecesRoot === undefined) return;
    // A v2 file starts a piece (the parser lays them out so); anything else has no v2 hash to check.
    if (f.offset % pieceLength !== 0) return;
    const first = f.offset / pieceLength;
    const count = Math.ceil(f.length / pieceLength);
    for (let p = first; p < first + count && p < meta.pieceCount; p++) fileOfPiece[p] = i;
  });
  return (index, data) => {
    const fi = fileOfPiece[index]!;
    if (fi < 0) return meta.kind === 'v2' ? data.every((b) => b === 0) : undefined;
    const f = meta.files[fi]!;
    const pieceLayer = f.pieceLayer ?? fetched?.get(fi);
    if (pieceLayer === undefined) return undefined;
    const k = index - f.offset / pieceLength;
    const bytes = Math.min(pieceLength, f.length - k * pieceLength);
    if (bytes > data.length) return false;
    const leaves = blockHashes(data.subarray(0, bytes));
    if (f.length <= pieceLength) return equalHash(merkleRoot(leaves), pieceLayer);
    const expected = pieceLayer.subarray(k * HASH_SIZE, (k + 1) * HASH_SIZE);
    return equalHash(subtreeHash(leaves, pieceLength), expected);
  };
}

function sha1Of(data: Uint8Array): Uint8Array {
  return createHash('sha1').update(data).digest();
}

/**
 * What smart ban and BEP 52 block blame compare a copy of piece `index` by: one hash per 16 KiB block
 * of `data`. For a v1 torrent the SHA-1 of each block; for a v2-only or hybrid one the block's SHA-256
 * leaf as the file's merkle tree has it (the bytes of the file only: a block that ends the file is
 * hashed short, as in {@link merkleVerifier}), so a leaf can be compared with one proven by a peer's
 * `hashes` (src/machines/torrent/block-hashes.ts). A block past the file's end (padding) gets the SHA-256
 * of its bytes: its copies are still compared with each other.
 *
 * @example
 * const leaves = blockHashesOf(meta)(index, piece); // storage.hashFailed's blockHashes
 */
export function blockHashesOf(meta: Metainfo): (index: number, data: Uint8Array) => Uint8Array[] {
  if (meta.kind === 'v1') return (_index, data) => sha1Blocks(data);
  const leaves = fileLeavesOf(meta);
  return (index, data) => {
    const out = leaves(index, data);
    for (let at = out.length * BLOCK_SIZE; at < data.length; at += BLOCK_SIZE)
      out.push(sha256(data.subarray(at, at + BLOCK_SIZE)));
    return out;
  };
}

/**
 * The SHA-256 leaves of piece `index`'s file bytes (`data` the whole piece): one per 16 KiB block that
 * holds bytes of its file, the last hashed short; none for the padding after. What a BEP 52 `hashes`
 * answer of base layer 0 carries (zero hashes past the file's end), and what the torrent compares a
 * failed copy's blocks with.
 */
export function fileLeavesOf(meta: Metainfo): (index: number, data: Uint8Array) => Uint8Array[] {
  const { pieceLength } = meta;
  /** For each piece, how many of its bytes are file bytes (from its start); -1: the whole piece. */
  const fileBytes = new Float64Array(meta.pieceCount).fill(-1);
  for (const f of meta.files) {
    if (f.padding || f.length === 0 || f.offset % pieceLength !== 0) continue;
    const first = f.offset / pieceLength;
    const last = first + Math.ceil(f.length / pieceLength) - 1;
    if (last < meta.pieceCount) fileBytes[last] = f.length - (last - first) * pieceLength;
  }
  return (index, data) => {
    const bytes = fileBytes[index]! < 0 ? data.length : Math.min(fileBytes[index]!, data.length);
    return blockHashes(data.subarray(0, bytes));
  };
}

/** The SHA-1 of each 16 KiB block (the last may be shorter). */
function sha1Blocks(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < data.length; at += BLOCK_SIZE) out.push(sha1Of(data.subarray(at, at + BLOCK_SIZE)));
  return out;
}
