/**
 * File priorities (skip, low, normal, high) and the piece priorities they give the piece picker: a
 * piece's priority is the highest of the files it holds bytes of (padding files count for nothing, so a
 * piece of only skipped files and padding is skipped). Pure; see docs/machines/piece-picker.md.
 */
import { pieceCountFor } from '../../protocol/layout.js';
import { PiecePriority } from './piece-picker.js';

/** A file's priority, as the API and the CLI name it. */
export type FilePriority = 'skip' | 'low' | 'normal' | 'high';

export const FILE_PRIORITIES: readonly FilePriority[] = ['skip', 'low', 'normal', 'high'];

/** One file of the torrent in info-dictionary order: its length and whether it is a BEP 47 padding file. */
export interface FileSpan {
  length: number;
  padding?: boolean;
}

/**
 * The priority of each piece, from the priority of each file that is not padding (`priorities[k]` is
 * the k-th such file, as `bt-actor info` numbers them; missing entries are `normal`).
 *
 * @example
 * ```ts
 * piecePriorities([{ length: 10 }, { length: 10 }], ['skip', 'high'], 8); // Uint8Array [0, 3, 3]
 * ```
 */
export function piecePriorities(
  files: readonly FileSpan[],
  priorities: readonly FilePriority[],
  pieceLength: number,
): Uint8Array {
  const length = files.reduce((n, f) => n + f.length, 0);
  const out = new Uint8Array(length > 0 ? pieceCountFor(length, pieceLength) : 0);
  let offset = 0;
  let k = 0;
  for (const f of files) {
    const start = offset;
    offset += f.length;
    if (f.padding) continue;
    const level = PiecePriority[priorities[k++] ?? 'normal'];
    if (f.length === 0 || level === 0) continue;
    const last = Math.floor((offset - 1) / pieceLength);
    for (let p = Math.floor(start / pieceLength); p <= last; p++) if (out[p]! < level) out[p] = level;
  }
  return out;
}

/** Indexes in `files` (padding counted) of the files that are skipped: what the storage leaves uncreated. */
export function skippedFiles(files: readonly FileSpan[], priorities: readonly FilePriority[]): number[] {
  const out: number[] = [];
  let k = 0;
  files.forEach((f, i) => {
    if (!f.padding && (priorities[k++] ?? 'normal') === 'skip') out.push(i);
  });
  return out;
}

/** Bytes of the files that are not skipped (padding left out): what a selection asks for. */
export function selectedBytes(files: readonly FileSpan[], priorities: readonly FilePriority[]): number {
  let k = 0;
  let n = 0;
  for (const f of files) {
    if (f.padding) continue;
    if ((priorities[k++] ?? 'normal') !== 'skip') n += f.length;
  }
  return n;
}
