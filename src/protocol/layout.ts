/**
 * Piece and block geometry, in one place: how many pieces a torrent has, how long each piece and each
 * block is (the last of each may be shorter), and whether a `request` range lies inside a piece.
 * Everything that slices a torrent into pieces or blocks (picker, peers, storage, metainfo, creator)
 * uses these functions.
 *
 * @example
 * ```ts
 * const g = { length: 100_000, pieceLength: 32_768, pieceCount: pieceCountFor(100_000, 32_768) }; // 4 pieces
 * pieceBytes(g, 3);      // 1_696 (the last piece)
 * blockCount(g, 0);      // 2 (16 KiB blocks)
 * blockBytes(g, 3, 0);   // 1_696
 * ```
 */

/** BEP 3: the block size every client requests (16 KiB), and the most most clients serve. */
export const BLOCK_LENGTH = 16384;

/** What determines the geometry: total bytes, bytes per piece, and the piece count that follows. */
export interface PieceGeometry {
  length: number;
  pieceLength: number;
  pieceCount: number;
}

/** Pieces needed for `length` bytes in pieces of `pieceLength` (BEP 3: the last may be shorter). */
export function pieceCountFor(length: number, pieceLength: number): number {
  return Math.ceil(length / pieceLength);
}

/** Bytes of the last piece. */
export function lastPieceBytes(g: PieceGeometry): number {
  return g.length - g.pieceLength * (g.pieceCount - 1);
}

/** Bytes of piece `index` (the last piece may be shorter). */
export function pieceBytes(g: PieceGeometry, index: number): number {
  return index < g.pieceCount - 1 ? g.pieceLength : lastPieceBytes(g);
}

/** Byte offset of piece `index` in the torrent. */
export function pieceOffset(g: PieceGeometry, index: number): number {
  return index * g.pieceLength;
}

/** Blocks of piece `index`. */
export function blockCount(g: PieceGeometry, index: number, blockLength = BLOCK_LENGTH): number {
  return Math.ceil(pieceBytes(g, index) / blockLength);
}

/** Bytes of block `block` (0-based) of piece `index`. */
export function blockBytes(g: PieceGeometry, index: number, block: number, blockLength = BLOCK_LENGTH): number {
  return Math.min(blockLength, pieceBytes(g, index) - block * blockLength);
}

/** True when `index` is a piece of the torrent and `[begin, begin + length)` a non-empty range inside it. */
export function isRangeInPiece(g: PieceGeometry, index: number, begin: number, length: number): boolean {
  if (!Number.isInteger(index) || index < 0 || index >= g.pieceCount) return false;
  if (!Number.isInteger(begin) || !Number.isInteger(length) || begin < 0 || length <= 0) return false;
  return begin + length <= pieceBytes(g, index);
}

/** True when `index` names a piece of the torrent. */
export function isPieceIndex(g: Pick<PieceGeometry, 'pieceCount'>, index: number): boolean {
  return Number.isInteger(index) && index >= 0 && index < g.pieceCount;
}

/** One block, as in the wire `request` / `cancel` / `reject` messages. */
export interface BlockRequest {
  /** Piece index. */
  index: number;
  /** Byte offset inside the piece. */
  begin: number;
  /** Bytes: the block length, or less for the last block of a piece. */
  length: number;
}

/** True when `a` and `b` name the same block. */
export function sameBlock(a: BlockRequest, b: BlockRequest): boolean {
  return a.index === b.index && a.begin === b.begin && a.length === b.length;
}
