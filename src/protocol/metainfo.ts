/**
 * Metainfo (.torrent) parsing and validation: BEP 3, with BEP 12 (announce-list), BEP 19 (url-list),
 * BEP 27 (private) and BEP 47 (padding files and file attributes).
 *
 * The info hash is the SHA-1 of the info dictionary's bytes exactly as they stand in the file
 * (found by {@link scanBencode}), never of a re-encoding, so a torrent with extra or unordered keys
 * gets the same hash as every other client computes.
 */
import { toHex } from './bytes.js';
import { createHash } from 'node:crypto';
import {
  type BencodeDict,
  type BencodeValue,
  BencodeError,
  decodeBencode,
  get,
  isBytes,
  isDict,
  strictText,
  text,
} from './bencode.js';
import { BtError } from './errors.js';

export type MetainfoErrorCode =
  | 'BT_ERR_METAINFO_BENCODE'
  | 'BT_ERR_METAINFO_MISSING'
  | 'BT_ERR_METAINFO_TYPE'
  | 'BT_ERR_METAINFO_PIECES'
  | 'BT_ERR_METAINFO_LENGTH'
  | 'BT_ERR_METAINFO_PATH'
  | 'BT_ERR_METAINFO_DUPLICATE_PATH'
  | 'BT_ERR_METAINFO_UNSUPPORTED';

/** A .torrent that cannot be used. `field` names where the problem is, e.g. `info.files[2].path`. */
export class MetainfoError extends BtError {
  override readonly name = 'MetainfoError';
  constructor(
    override readonly code: MetainfoErrorCode,
    readonly field: string,
    readonly detail: string,
  ) {
    super(code, `${field}: ${detail}`);
  }
}

/** One file of the torrent, in torrent order. */
export interface TorrentFile {
  /** Path elements relative to the torrent's folder (multi-file) or `[name]` (single-file). */
  path: string[];
  /** The same joined with '/'. */
  pathString: string;
  length: number;
  /** Byte offset of the file's first byte in the torrent's concatenated data. */
  offset: number;
  /** BEP 47 padding file ('p' attribute): occupies piece space, is never written to disk. */
  padding: boolean;
  /** BEP 47 'x' attribute. */
  executable: boolean;
  /** BEP 47 'h' attribute. */
  hidden: boolean;
  /** BEP 47 'l' attribute: the file is a symlink to this path (elements relative to the torrent root). */
  symlinkPath?: string[];
}

export interface Metainfo {
  /** SHA-1 of the raw info dictionary bytes. */
  infoHash: Uint8Array;
  /** {@link infoHash} as 40 lowercase hex digits. */
  infoHashHex: string;
  /** The info dictionary exactly as it stands in the file (BEP 9 serves these bytes). */
  infoBytes: Uint8Array;
  /** Suggested file name (single-file) or folder name (multi-file). */
  name: string;
  /** True when the info dictionary has a `files` list. */
  multiFile: boolean;
  files: TorrentFile[];
  /** Total bytes covered by pieces, padding included. */
  length: number;
  pieceLength: number;
  pieceCount: number;
  /** Concatenated 20-byte SHA-1 hashes, one per piece. */
  pieces: Uint8Array;
  /** Tracker tiers (BEP 12); a lone `announce` becomes one tier of one URL. Empty when trackerless. */
  announce: string[][];
  /** BEP 27. */
  private: boolean;
  /** BEP 19 web seeds. */
  urlList: string[];
  creationDate?: number;
  comment?: string;
  createdBy?: string;
  /** Tolerated oddities outside the info dictionary (mistyped optional keys that were ignored). */
  warnings: string[];
}

/** The parsed top-level dictionary, for keys the {@link Metainfo} does not model. */
export interface ParsedTorrent {
  metainfo: Metainfo;
  raw: BencodeDict;
}

/** Piece lengths above this are refused: a piece is held in memory while it is verified. */
export const MAX_PIECE_LENGTH = 256 * 1024 * 1024;
/** Torrents above 2^50 bytes (1 PiB) are refused as absurd. */
export const MAX_TORRENT_LENGTH = 2 ** 50;

const HASH_LENGTH = 20;

/** Returns the 20-byte SHA-1 of piece `index`. */
export function pieceHash(meta: Metainfo, index: number): Uint8Array {
  return meta.pieces.subarray(index * HASH_LENGTH, (index + 1) * HASH_LENGTH);
}

/** Returns the size of piece `index` (the last one may be shorter). */
export function pieceSize(meta: Metainfo, index: number): number {
  if (index < meta.pieceCount - 1) return meta.pieceLength;
  return meta.length - meta.pieceLength * (meta.pieceCount - 1);
}

export { toHex } from './bytes.js';

/**
 * Parses and validates a .torrent file. Throws {@link MetainfoError} naming the field at fault.
 *
 * @example
 * const meta = parseMetainfo(await readFile('ubuntu.torrent'));
 * console.log(meta.name, meta.infoHashHex, meta.pieceCount);
 */
export function parseMetainfo(bytes: Uint8Array): Metainfo {
  return parseTorrent(bytes).metainfo;
}

export function parseTorrent(bytes: Uint8Array): ParsedTorrent {
  let value: BencodeValue;
  let infoSpan;
  try {
    const decoded = decodeBencode(bytes);
    value = decoded.value;
    infoSpan = decoded.scan.topLevelSpans.get('info');
  } catch (err) {
    if (err instanceof BencodeError) {
      throw new MetainfoError('BT_ERR_METAINFO_BENCODE', 'file', `not valid bencode (${err.message})`);
    }
    throw err;
  }
  if (!isDict(value)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'file', 'top level is not a dictionary');
  const infoValue = get(value, 'info');
  if (infoValue === undefined || !infoSpan) throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info', 'missing');
  if (!isDict(infoValue)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info', 'not a dictionary');

  const infoBytes = bytes.subarray(infoSpan.start, infoSpan.end);
  const infoHash = new Uint8Array(createHash('sha1').update(infoBytes).digest());
  const warnings: string[] = [];
  const info = parseInfo(infoValue);

  const metainfo: Metainfo = {
    infoHash,
    infoHashHex: toHex(infoHash),
    infoBytes,
    ...info,
    announce: parseAnnounce(value, warnings),
    urlList: parseUrlList(value, warnings),
    warnings,
  };
  const creationDate = optionalInt(value, 'creation date', warnings);
  if (creationDate !== undefined) metainfo.creationDate = creationDate;
  const comment = optionalText(value, 'comment', warnings);
  if (comment !== undefined) metainfo.comment = comment;
  const createdBy = optionalText(value, 'created by', warnings);
  if (createdBy !== undefined) metainfo.createdBy = createdBy;
  return { metainfo, raw: value };
}

type InfoPart = Pick<
  Metainfo,
  'name' | 'multiFile' | 'files' | 'length' | 'pieceLength' | 'pieceCount' | 'pieces' | 'private'
>;

function parseInfo(info: BencodeDict): InfoPart {
  const pieceLength = requireInt(info, 'piece length', 'info.piece length');
  if (pieceLength <= 0 || pieceLength > MAX_PIECE_LENGTH) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_LENGTH',
      'info.piece length',
      `${pieceLength} is out of range (1 to ${MAX_PIECE_LENGTH})`,
    );
  }

  const piecesValue = get(info, 'pieces');
  if (piecesValue === undefined) {
    if (get(info, 'file tree') !== undefined) {
      throw new MetainfoError(
        'BT_ERR_METAINFO_UNSUPPORTED',
        'info.pieces',
        'missing: this is a BitTorrent v2-only torrent (BEP 52), which bt-actor does not support yet',
      );
    }
    throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.pieces', 'missing');
  }
  if (!isBytes(piecesValue)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info.pieces', 'not a byte string');
  if (piecesValue.length % HASH_LENGTH !== 0) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_PIECES',
      'info.pieces',
      `length ${piecesValue.length} is not a multiple of 20`,
    );
  }

  const name = pathElement(preferUtf8(info, 'name', 'info.name'), 'info.name');

  const lengthValue = get(info, 'length');
  const filesValue = get(info, 'files');
  if (lengthValue !== undefined && filesValue !== undefined) {
    throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info', "has both 'length' (single-file) and 'files' (multi-file)");
  }
  let files: TorrentFile[];
  const multiFile = filesValue !== undefined;
  if (multiFile) {
    files = parseFiles(filesValue);
  } else {
    if (lengthValue === undefined) {
      throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.length', "missing (and no 'files' list either)");
    }
    const length = fileLength(lengthValue, 'info.length');
    const attrs = parseAttributes(info, 'info');
    files = [{ path: [name], pathString: name, length, offset: 0, ...attrs }];
  }
  const length = files.reduce((sum, f) => sum + f.length, 0);
  if (length > MAX_TORRENT_LENGTH) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_LENGTH',
      multiFile ? 'info.files' : 'info.length',
      `total ${length} bytes is absurd`,
    );
  }
  if (length === 0) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_LENGTH',
      multiFile ? 'info.files' : 'info.length',
      'the torrent holds no data (total length 0)',
    );
  }
  const pieceCount = piecesValue.length / HASH_LENGTH;
  const expected = Math.ceil(length / pieceLength);
  if (pieceCount !== expected) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_PIECES',
      'info.pieces',
      `holds ${pieceCount} hashes but ${length} bytes in pieces of ${pieceLength} need ${expected}`,
    );
  }
  const privateValue = get(info, 'private');
  const isPrivate = typeof privateValue === 'number' && privateValue === 1;
  return { name, multiFile, files, length, pieceLength, pieceCount, pieces: piecesValue, private: isPrivate };
}

function parseFiles(filesValue: BencodeValue): TorrentFile[] {
  if (!Array.isArray(filesValue)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info.files', 'not a list');
  if (filesValue.length === 0) throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.files', 'the list is empty');
  const files: TorrentFile[] = [];
  const seen = new Map<string, number>();
  let offset = 0;
  filesValue.forEach((entry, i) => {
    const field = `info.files[${i}]`;
    if (!isDict(entry)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not a dictionary');
    const lengthValue = get(entry, 'length');
    if (lengthValue === undefined) throw new MetainfoError('BT_ERR_METAINFO_MISSING', `${field}.length`, 'missing');
    const length = fileLength(lengthValue, `${field}.length`);
    const usedUtf8 = get(entry, 'path.utf-8') !== undefined && validPathList(get(entry, 'path.utf-8'));
    const pathKey = usedUtf8 ? 'path.utf-8' : 'path';
    const pathValue = get(entry, pathKey);
    const path = parsePath(pathValue, `${field}.${pathKey}`);
    const pathString = path.join('/');
    const attrs = parseAttributes(entry, field);
    if (!attrs.padding) {
      // Compared as macOS and Windows compare names (case and Unicode normalisation folded), so a
      // torrent lays out the same everywhere: 'A.txt' beside 'a.txt', or 'é' composed beside 'é'
      // decomposed, would be one file there.
      const previous = seen.get(foldPath(pathString));
      if (previous !== undefined) {
        const same = files[previous]!.pathString === pathString;
        throw new MetainfoError(
          'BT_ERR_METAINFO_DUPLICATE_PATH',
          `${field}.path`,
          same
            ? `'${pathString}' is also the path of info.files[${previous}]`
            : `'${pathString}' and info.files[${previous}] ('${files[previous]!.pathString}') differ only in case or Unicode normalisation`,
        );
      }
      seen.set(foldPath(pathString), i);
    }
    files.push({ path, pathString, length, offset, ...attrs });
    offset += length;
  });
  // A file whose path is a folder of another file ('a' and 'a/b') cannot be written.
  for (const f of files) {
    if (f.padding) continue;
    for (let k = 1; k < f.path.length; k++) {
      const prefix = f.path.slice(0, k).join('/');
      const clash = seen.get(foldPath(prefix));
      if (clash !== undefined) {
        throw new MetainfoError(
          'BT_ERR_METAINFO_DUPLICATE_PATH',
          `info.files[${clash}].path`,
          `'${prefix}' is a file and also a folder of '${f.pathString}'`,
        );
      }
    }
  }
  return files;
}

function parseAttributes(
  dict: BencodeDict,
  field: string,
): Pick<TorrentFile, 'padding' | 'executable' | 'hidden' | 'symlinkPath'> {
  const attrValue = get(dict, 'attr');
  const attr = isBytes(attrValue) ? text(attrValue) : '';
  const padding = attr.includes('p');
  const result: Pick<TorrentFile, 'padding' | 'executable' | 'hidden' | 'symlinkPath'> = {
    padding,
    executable: attr.includes('x'),
    hidden: attr.includes('h'),
  };
  if (attr.includes('l')) {
    result.symlinkPath = parsePath(get(dict, 'symlink path'), `${field}.symlink path`);
  }
  return result;
}

function validPathList(v: BencodeValue | undefined): boolean {
  return Array.isArray(v) && v.length > 0 && v.every((e) => isBytes(e) && strictText(e) !== null);
}

function parsePath(value: BencodeValue | undefined, field: string): string[] {
  if (value === undefined) throw new MetainfoError('BT_ERR_METAINFO_MISSING', field, 'missing');
  if (!Array.isArray(value)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not a list of strings');
  if (value.length === 0) throw new MetainfoError('BT_ERR_METAINFO_PATH', field, 'the path is empty');
  return value.map((element, k) => {
    if (!isBytes(element)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', `${field}[${k}]`, 'not a string');
    return pathElement(text(element), `${field}[${k}]`);
  });
}

/**
 * Checks one path element: it must be a plain name that stays inside its folder. Refused: empty,
 * '.', '..', and any '/' (which would also make an absolute path), '\\' or NUL.
 */
function pathElement(element: string, field: string): string {
  if (element.length === 0) throw new MetainfoError('BT_ERR_METAINFO_PATH', field, 'empty path element');
  if (element === '.' || element === '..') {
    throw new MetainfoError('BT_ERR_METAINFO_PATH', field, `'${element}' would leave the download folder`);
  }
  if (element.includes('/')) {
    throw new MetainfoError('BT_ERR_METAINFO_PATH', field, `'${printable(element)}' contains '/'`);
  }
  if (element.includes('\\')) {
    throw new MetainfoError('BT_ERR_METAINFO_PATH', field, `'${printable(element)}' contains '\\'`);
  }
  if (element.includes('\0')) {
    throw new MetainfoError('BT_ERR_METAINFO_PATH', field, `'${printable(element)}' contains a NUL byte`);
  }
  return element;
}

function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** BEP 3 text fields are UTF-8; `name.utf-8` (written by some clients) wins when it is valid. */
function preferUtf8(dict: BencodeDict, key: string, field: string): string {
  const utf8 = get(dict, `${key}.utf-8`);
  if (isBytes(utf8) && utf8.length > 0) {
    const s = strictText(utf8);
    if (s !== null) return s;
  }
  const value = get(dict, key);
  if (value === undefined) throw new MetainfoError('BT_ERR_METAINFO_MISSING', field, 'missing');
  if (!isBytes(value)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not a string');
  return text(value);
}

function requireInt(dict: BencodeDict, key: string, field: string): number {
  const v = get(dict, key);
  if (v === undefined) throw new MetainfoError('BT_ERR_METAINFO_MISSING', field, 'missing');
  if (typeof v !== 'number') throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not an integer');
  if (!Number.isSafeInteger(v)) throw new MetainfoError('BT_ERR_METAINFO_LENGTH', field, 'integer out of range');
  return v;
}

function fileLength(v: BencodeValue, field: string): number {
  if (typeof v !== 'number') throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not an integer');
  if (!Number.isSafeInteger(v) || v > MAX_TORRENT_LENGTH) {
    throw new MetainfoError('BT_ERR_METAINFO_LENGTH', field, `${v} is absurd`);
  }
  if (v < 0) throw new MetainfoError('BT_ERR_METAINFO_LENGTH', field, `${v} is negative`);
  return v;
}

function optionalText(dict: BencodeDict, key: string, warnings: string[]): string | undefined {
  const utf8 = get(dict, `${key}.utf-8`);
  if (isBytes(utf8)) return text(utf8);
  const v = get(dict, key);
  if (v === undefined) return undefined;
  if (!isBytes(v)) {
    warnings.push(`'${key}' is not a string: ignored`);
    return undefined;
  }
  return text(v);
}

function optionalInt(dict: BencodeDict, key: string, warnings: string[]): number | undefined {
  const v = get(dict, key);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    warnings.push(`'${key}' is not an integer: ignored`);
    return undefined;
  }
  return v;
}

/** BEP 12: announce-list wins over announce; empty tiers and repeated URLs are dropped. */
function parseAnnounce(dict: BencodeDict, warnings: string[]): string[][] {
  const seen = new Set<string>();
  const tiers: string[][] = [];
  const list = get(dict, 'announce-list');
  if (list !== undefined) {
    if (!Array.isArray(list)) {
      warnings.push("'announce-list' is not a list: ignored");
    } else {
      for (const tier of list) {
        const urls: string[] = [];
        const entries = Array.isArray(tier) ? tier : [tier];
        for (const url of entries) {
          if (!isBytes(url)) {
            warnings.push("'announce-list' holds an entry that is not a string: ignored");
            continue;
          }
          const s = text(url).trim();
          if (s.length === 0 || seen.has(s)) continue;
          seen.add(s);
          urls.push(s);
        }
        if (urls.length > 0) tiers.push(urls);
      }
    }
  }
  if (tiers.length > 0) return tiers;
  const announce = get(dict, 'announce');
  if (announce !== undefined) {
    if (!isBytes(announce)) {
      warnings.push("'announce' is not a string: ignored");
    } else {
      const s = text(announce).trim();
      if (s.length > 0) tiers.push([s]);
    }
  }
  return tiers;
}

function parseUrlList(dict: BencodeDict, warnings: string[]): string[] {
  const v = get(dict, 'url-list');
  if (v === undefined) return [];
  const entries = Array.isArray(v) ? v : [v];
  const urls: string[] = [];
  for (const e of entries) {
    if (!isBytes(e)) {
      warnings.push("'url-list' holds an entry that is not a string: ignored");
      continue;
    }
    const s = text(e).trim();
    if (s.length > 0) urls.push(s);
  }
  return urls;
}

/** A path as case-insensitive, normalisation-insensitive file systems see it (NFC, lower case). */
export function foldPath(path: string): string {
  return path.normalize('NFC').toLowerCase();
}
