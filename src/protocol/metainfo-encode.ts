/**
 * Builds .torrent files (BEP 3, BEP 12, BEP 27, BEP 47 padding, BEP 52 v2 and hybrid). Pure: the caller
 * supplies the piece hashes and merkle roots (src/io/create-torrent.ts reads and hashes the files).
 */
import { type CanonicalDict, type CanonicalValue, encodeBencode, encodeCanonical } from './bencode.js';
import { MAX_PIECE_LENGTH } from './metainfo.js';

/** One file of a {@link TorrentSpec}. */
export interface TorrentSpecFile {
  path: string[];
  length: number;
  /** A BEP 47 pad file (v1 half of a hybrid): written `attr` `p`, left out of the v2 file tree. */
  padding?: boolean;
  /** BEP 52 (v2, hybrid): the file's merkle root; absent for an empty file. */
  piecesRoot?: Uint8Array;
  /** BEP 52: the piece layer (32 bytes a piece), written to `piece layers` for a file longer than a piece. */
  pieceLayer?: Uint8Array;
}

export interface TorrentSpec {
  /** File name (single-file) or folder name (multi-file). */
  name: string;
  /**
   * Single-file: one entry whose path is ignored. Multi-file: paths relative to the folder, in the
   * order of the v2 file tree (names compared as bytes, folder by folder) for v2 and hybrid torrents.
   */
  files: TorrentSpecFile[];
  /** `v1` (BEP 3, the default), `v2` (BEP 52 only) or `hybrid` (both halves). */
  version?: 'v1' | 'v2' | 'hybrid';
  /** True for a multi-file torrent (even with one file inside a folder). */
  multiFile: boolean;
  pieceLength: number;
  /** Concatenated 20-byte SHA-1 piece hashes (ignored for `v2`). */
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
  if (spec.version === 'v2' || spec.version === 'hybrid') return encodeTorrentV2(spec);
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

/**
 * A BEP 52 torrent: `meta version` 2, the `file tree` (a folder per path element, each file a
 * dictionary under the empty key), `piece layers` for files longer than a piece; for a hybrid also the
 * v1 `pieces` and `length` or `files` (pad files included). Keys in byte order at every level.
 */
function encodeTorrentV2(spec: TorrentSpec): Uint8Array {
  const tree: CanonicalDict = new Map();
  const layers: CanonicalDict = new Map();
  for (const f of spec.files) {
    if (f.padding) continue;
    const leaf: CanonicalDict = new Map<string, CanonicalValue>([['length', f.length]]);
    if (f.length > 0) {
      if (!f.piecesRoot) throw new RangeError(`${f.path.join('/')}: a v2 file holding data needs its pieces root`);
      leaf.set('pieces root', f.piecesRoot);
      if (f.length > spec.pieceLength) {
        if (!f.pieceLayer) throw new RangeError(`${f.path.join('/')}: a file longer than a piece needs its layer`);
        layers.set(f.piecesRoot, f.pieceLayer);
      }
    }
    let folder = tree;
    const path = spec.multiFile ? f.path : [spec.name];
    for (const name of path.slice(0, -1)) {
      let next = folder.get(name);
      if (!(next instanceof Map)) folder.set(name, (next = new Map()));
      folder = next;
    }
    folder.set(path[path.length - 1]!, new Map([['', leaf]]));
  }
  const info: CanonicalDict = new Map<string, CanonicalValue>([
    ['name', spec.name],
    ['piece length', spec.pieceLength],
    ['meta version', 2],
    ['file tree', tree],
  ]);
  if (spec.version === 'hybrid') {
    info.set('pieces', spec.pieces);
    if (spec.multiFile) {
      info.set(
        'files',
        spec.files.map((f) => {
          const entry = new Map<string, CanonicalValue>([
            ['length', f.length],
            ['path', f.path],
          ]);
          if (f.padding) entry.set('attr', 'p');
          return entry;
        }),
      );
    } else info.set('length', spec.files[0]?.length ?? 0);
  }
  if (spec.private) info.set('private', 1);
  const torrent: CanonicalDict = new Map<string, CanonicalValue>([['info', info]]);
  if (layers.size > 0) torrent.set('piece layers', layers);
  const tiers = (spec.announce ?? []).filter((t) => t.length > 0);
  if (tiers.length > 0) {
    torrent.set('announce', tiers[0]![0]!);
    if (tiers.length > 1 || tiers[0]!.length > 1) torrent.set('announce-list', tiers);
  }
  if (spec.comment !== undefined) torrent.set('comment', spec.comment);
  if (spec.createdBy !== undefined) torrent.set('created by', spec.createdBy);
  if (spec.creationDate !== undefined) torrent.set('creation date', spec.creationDate);
  if (spec.urlList && spec.urlList.length > 0) torrent.set('url-list', spec.urlList);
  return encodeCanonical(torrent);
}
