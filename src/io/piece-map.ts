/**
 * Pure mapping of the torrent's byte space onto its files (BEP 3: the files concatenated in order,
 * cut into pieces). No I/O here: src/io/storage.ts turns segments into positional reads and writes.
 *
 * Zero-length files own no bytes and never appear in a segment. BEP 47 padding files own bytes of
 * the piece space (they are all zeros) and appear as segments with `padding: true`; storage never
 * writes them to disk and reads them as zeros.
 */
import { StorageError } from './storage-error.js';

/** The part of a {@link TorrentFile} the mapping needs. */
export interface LayoutFile {
  /** Byte offset of the file's first byte in the torrent's concatenated data. */
  offset: number;
  length: number;
  /** BEP 47 padding file. */
  padding: boolean;
}

/** The part of a {@link Metainfo} the mapping needs (a `Metainfo` is one). */
export interface PieceLayout {
  files: readonly LayoutFile[];
  pieceLength: number;
  /** Total bytes, padding included. */
  length: number;
  pieceCount: number;
}

/** A run of bytes inside one file. */
export interface FileSegment {
  fileIndex: number;
  /** Where the run starts inside the file. */
  fileOffset: number;
  /** Always > 0. */
  length: number;
  /** True when the file is a BEP 47 padding file (the bytes are zeros and live on no disk). */
  padding: boolean;
}

/**
 * Throws `BT_ERR_STORAGE_LAYOUT` unless the files are contiguous from offset 0, their lengths add up to
 * `length` and the piece count matches. The parser guarantees this; a hand-built metainfo may not.
 */
export function validateLayout(layout: PieceLayout): void {
  const bad = (detail: string) => new StorageError('BT_ERR_STORAGE_LAYOUT', `inconsistent torrent layout: ${detail}`);
  if (!Number.isSafeInteger(layout.pieceLength) || layout.pieceLength < 1)
    throw bad(`piece length ${layout.pieceLength}`);
  if (!Number.isSafeInteger(layout.length) || layout.length < 1) throw bad(`total length ${layout.length}`);
  if (layout.files.length === 0) throw bad('no files');
  let offset = 0;
  layout.files.forEach((f, i) => {
    if (!Number.isSafeInteger(f.length) || f.length < 0) throw bad(`file ${i} has length ${f.length}`);
    if (f.offset !== offset) throw bad(`file ${i} starts at ${f.offset}, expected ${offset}`);
    offset += f.length;
  });
  if (offset !== layout.length) throw bad(`files hold ${offset} bytes, the torrent says ${layout.length}`);
  const pieces = Math.ceil(layout.length / layout.pieceLength);
  if (layout.pieceCount !== pieces) throw bad(`${layout.pieceCount} pieces, expected ${pieces}`);
}

/** The size of piece `index` (the last one may be shorter). */
export function pieceLengthAt(layout: PieceLayout, index: number): number {
  if (index < layout.pieceCount - 1) return layout.pieceLength;
  return layout.length - layout.pieceLength * (layout.pieceCount - 1);
}

/**
 * Throws `BT_ERR_STORAGE_RANGE` unless `index` is a piece and `[begin, begin + length)` lies inside it.
 * `length` may be 0 only when `allowEmpty` is set.
 */
export function checkPieceRange(
  layout: PieceLayout,
  index: number,
  begin: number,
  length: number,
  allowEmpty = false,
): void {
  if (!Number.isInteger(index) || index < 0 || index >= layout.pieceCount) {
    throw new StorageError('BT_ERR_STORAGE_RANGE', `piece index ${index} outside 0..${layout.pieceCount - 1}`);
  }
  const size = pieceLengthAt(layout, index);
  if (
    !Number.isInteger(begin) ||
    !Number.isInteger(length) ||
    begin < 0 ||
    length < (allowEmpty ? 0 : 1) ||
    begin + length > size
  ) {
    throw new StorageError('BT_ERR_STORAGE_RANGE', `range ${begin}+${length} outside piece ${index} of ${size} bytes`);
  }
}

/** Index of the file holding torrent byte `pos` (0 <= pos < length): the last file starting at or before it. */
function fileAt(files: readonly LayoutFile[], pos: number): number {
  let lo = 0;
  let hi = files.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (files[mid]!.offset <= pos) lo = mid;
    else hi = mid - 1;
  }
  // Zero-length files share their offset with the next file, so the last file at or before `pos`
  // is the one that owns it; the loop below still skips any leftovers defensively.
  return lo;
}

/**
 * Maps `length` bytes at `begin` inside piece `index` onto file segments, in order. The segments are
 * contiguous, cover exactly the range, never cross a file's end and never name a zero-length file.
 * Throws `BT_ERR_STORAGE_RANGE` for a range outside the piece.
 *
 * @example
 * // files a (10 bytes), b (0 bytes), c (10 bytes), pieces of 16 bytes
 * mapPieceRange(meta, 0, 0, 16);
 * // → [{ fileIndex: 0, fileOffset: 0, length: 10, padding: false },
 * //    { fileIndex: 2, fileOffset: 0, length: 6, padding: false }]
 */
export function mapPieceRange(layout: PieceLayout, index: number, begin = 0, length?: number): FileSegment[] {
  const size = index >= 0 && index < layout.pieceCount ? pieceLengthAt(layout, index) : 0;
  const want = length ?? size - begin;
  checkPieceRange(layout, index, begin, want, true);
  const segments: FileSegment[] = [];
  if (want === 0) return segments;
  const files = layout.files;
  let pos = index * layout.pieceLength + begin;
  let remaining = want;
  let i = fileAt(files, pos);
  while (remaining > 0) {
    const f = files[i];
    if (f === undefined) {
      throw new StorageError('BT_ERR_STORAGE_LAYOUT', `inconsistent torrent layout: byte ${pos} lies in no file`);
    }
    const end = f.offset + f.length;
    if (pos >= end) {
      i++;
      continue;
    }
    const take = Math.min(remaining, end - pos);
    segments.push({ fileIndex: i, fileOffset: pos - f.offset, length: take, padding: f.padding });
    pos += take;
    remaining -= take;
    i++;
  }
  return segments;
}

/**
 * The pieces holding any byte of file `fileIndex`, as `[first, end)` (`first === end` for a
 * zero-length file).
 */
export function filePieces(layout: PieceLayout, fileIndex: number): { first: number; end: number } {
  const f = layout.files[fileIndex];
  if (f === undefined)
    throw new StorageError('BT_ERR_STORAGE_RANGE', `file index ${fileIndex} outside 0..${layout.files.length - 1}`);
  if (f.length === 0) {
    const at = Math.min(Math.floor(f.offset / layout.pieceLength), layout.pieceCount);
    return { first: at, end: at };
  }
  return {
    first: Math.floor(f.offset / layout.pieceLength),
    end: Math.floor((f.offset + f.length - 1) / layout.pieceLength) + 1,
  };
}
