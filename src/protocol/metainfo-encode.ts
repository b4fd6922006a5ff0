/**
 * Builds .torrent files (BEP 3, BEP 12, BEP 27). Pure: the caller supplies the piece hashes
 * (src/io/create-torrent.ts reads and hashes the files).
 */
import { encodeBencode } from './bencode.js';
import { MAX_PIECE_LENGTH } from './metainfo.js';

export interface TorrentSpec {
  /** File name (single-file) or folder name (multi-file). */
  name: string;
  /** Single-file: one entry whose path is ignored. Multi-file: paths relative to the folder. */
  files: { path: string[]; length: number }[];
  /** True for a multi-file torrent (even with one file inside a folder). */
  multiFile: boolean;
  pieceLength: number;
  /** Concatenated 20-byte SHA-1 piece hashes. */
  pieces: Uint8Array;
  /** Tracker tiers; the first URL also goes into `announce`. */
  announce?: string[][];
  private?: boolean;
  comment?: string;
  createdBy?: string;
  /** Seconds since the epoch. */
  creationDate?: number;
  urlList?: string[];
}

const utf8 = new TextEncoder();

/** Encodes a torrent as canonical bencode (sorted keys). */
export function encodeTorrent(spec: TorrentSpec): Uint8Array {
  const info: Record<string, unknown> = {
    name: utf8.encode(spec.name),
    'piece length': spec.pieceLength,
    pieces: spec.pieces,
  };
  if (spec.multiFile) {
    info.files = spec.files.map((f) => ({ length: f.length, path: f.path.map((p) => utf8.encode(p)) }));
  } else {
    info.length = spec.files[0]?.length ?? 0;
  }
  if (spec.private) info.private = 1;
  const torrent: Record<string, unknown> = { info };
  const tiers = (spec.announce ?? []).filter((t) => t.length > 0);
  if (tiers.length > 0) {
    torrent.announce = utf8.encode(tiers[0]![0]!);
    if (tiers.length > 1 || tiers[0]!.length > 1) {
      torrent['announce-list'] = tiers.map((t) => t.map((u) => utf8.encode(u)));
    }
  }
  if (spec.comment !== undefined) torrent.comment = utf8.encode(spec.comment);
  if (spec.createdBy !== undefined) torrent['created by'] = utf8.encode(spec.createdBy);
  if (spec.creationDate !== undefined) torrent['creation date'] = spec.creationDate;
  if (spec.urlList && spec.urlList.length > 0) torrent['url-list'] = spec.urlList.map((u) => utf8.encode(u));
  return encodeBencode(torrent);
}

/**
 * Picks a piece length for `totalLength` bytes: a power of two giving about 1,000–2,000 pieces,
 * between 16 KiB and 16 MiB (the range other clients choose in).
 */
export function autoPieceLength(totalLength: number): number {
  const min = 16 * 1024;
  const max = Math.min(16 * 1024 * 1024, MAX_PIECE_LENGTH);
  let len = min;
  while (len < max && totalLength / len > 2000) len *= 2;
  return len;
}
