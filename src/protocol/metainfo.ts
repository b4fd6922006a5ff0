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
import {
  MAX_PATH_DEPTH,
  type PathRules,
  platformPathRules,
  resolveDuplicates,
  sanitizeElement,
} from './sanitize-path.js';

export { foldPath, type PathRules } from './sanitize-path.js';

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
  /**
   * BEP 47 'l' attribute: the file is a symlink to this path (elements relative to the torrent root,
   * sanitized, `.` and `..` dropped). Such an entry holds no data (its length is 0) and bt-actor never
   * creates the link.
   */
  symlinkPath?: string[];
  /**
   * The path as the torrent gives it (elements decoded as UTF-8), present only when {@link path} had
   * to be changed to be safe: see {@link Metainfo.pathChanges} for why.
   */
  originalPath?: string[];
}

/** One name the torrent gives that bt-actor lays out differently (docs/metainfo.md, "Sanitized paths"). */
export interface PathChange {
  /** `info.name` or `info.files[i].path`. */
  field: string;
  /** The name as the torrent gives it, elements joined with '/' (may hold any character: print with care). */
  from: string;
  /** The name used on disk (relative to the torrent's folder for `info.files`). */
  to: string;
  /** Why, e.g. `duplicate path`, `separator`, `dot name`, `empty element dropped`. */
  reasons: string[];
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
  /** The name as the torrent gives it, present only when {@link name} had to be changed. */
  originalName?: string;
  /** Every name the torrent gives that is laid out differently, in torrent order (name first). */
  pathChanges: PathChange[];
  /**
   * Tolerated oddities outside the info dictionary (mistyped optional keys that were ignored, bytes
   * of whitespace after the top-level dictionary).
   */
  warnings: string[];
}

/** Options of {@link parseMetainfo}. */
export interface ParseOptions {
  /** The file systems the layout must suit; the running platform's by default. */
  pathRules?: PathRules;
}

/** The parsed top-level dictionary, for keys the {@link Metainfo} does not model. */
export interface ParsedTorrent {
  metainfo: Metainfo;
  raw: BencodeDict;
}

/**
 * Piece lengths above this are refused: libtorrent's limit (`file_storage::max_piece_size`,
 * 32767 blocks of 16 KiB, just under 512 MiB). A piece is held in memory while it is verified.
 */
export const MAX_PIECE_LENGTH = 32767 * 16384;
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
export function parseMetainfo(bytes: Uint8Array, options: ParseOptions = {}): Metainfo {
  return parseTorrent(bytes, options).metainfo;
}

/** Like {@link parseMetainfo}, and also returns the decoded top-level dictionary. */
export function parseTorrent(bytes: Uint8Array, options: ParseOptions = {}): ParsedTorrent {
  let value: BencodeValue;
  let infoSpan;
  const warnings: string[] = [];
  try {
    const decoded = decodeTolerant(bytes, warnings);
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
  const infoHashHex = toHex(infoHash);
  const info = parseInfo(infoValue, infoHashHex, options.pathRules ?? platformPathRules());

  const metainfo: Metainfo = {
    infoHash,
    infoHashHex,
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

/** Whitespace after the top-level value is tolerated (some tools end the file with a newline). */
const TRAILING_WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);

function decodeTolerant(bytes: Uint8Array, warnings: string[]): ReturnType<typeof decodeBencode> {
  try {
    return decodeBencode(bytes);
  } catch (err) {
    if (!(err instanceof BencodeError) || err.code !== 'BT_ERR_BENCODE_TRAILING') throw err;
    const end = err.position;
    for (let i = end; i < bytes.length; i++) if (!TRAILING_WHITESPACE.has(bytes[i]!)) throw err;
    warnings.push(`${bytes.length - end} byte(s) of whitespace after the torrent's dictionary: ignored`);
    return decodeBencode(bytes.subarray(0, end));
  }
}

type InfoPart = Pick<
  Metainfo,
  | 'name'
  | 'originalName'
  | 'multiFile'
  | 'files'
  | 'length'
  | 'pieceLength'
  | 'pieceCount'
  | 'pieces'
  | 'private'
  | 'pathChanges'
>;

function parseInfo(info: BencodeDict, infoHashHex: string, rules: PathRules): InfoPart {
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

  const pathChanges: PathChange[] = [];
  const rawName = nameBytes(info);
  const sanitizedName = sanitizeElement(rawName, rules);
  const name = sanitizedName.value === null || sanitizedName.placeholder ? infoHashHex : sanitizedName.value;
  const originalName = text(rawName);
  const nameChanged = name !== originalName;
  if (nameChanged) {
    const reasons: string[] = sanitizedName.fixes;
    if (name === infoHashHex) reasons.push('no usable name: the info hash stands in');
    pathChanges.push({ field: 'info.name', from: originalName, to: name, reasons });
  }

  const lengthValue = get(info, 'length');
  const filesValue = get(info, 'files');
  if (lengthValue !== undefined && filesValue !== undefined) {
    throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info', "has both 'length' (single-file) and 'files' (multi-file)");
  }
  let files: TorrentFile[];
  const multiFile = filesValue !== undefined;
  if (multiFile) {
    files = parseFiles(filesValue, rules, pathChanges);
  } else {
    if (lengthValue === undefined) {
      throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.length', "missing (and no 'files' list either)");
    }
    const length = fileLength(lengthValue, 'info.length');
    const attrs = parseAttributes(info, 'info', rules);
    const file: TorrentFile = { path: [name], pathString: name, length, offset: 0, ...attrs };
    if (nameChanged) file.originalPath = [originalName];
    files = [file];
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
  const part: InfoPart = {
    name,
    multiFile,
    files,
    length,
    pieceLength,
    pieceCount,
    pieces: piecesValue,
    private: isPrivate,
    pathChanges,
  };
  if (nameChanged) part.originalName = originalName;
  return part;
}

/** `name.utf-8` when it is valid, non-empty UTF-8 (some clients write it), else `name`. */
function nameBytes(info: BencodeDict): Uint8Array {
  const utf8 = get(info, 'name.utf-8');
  if (isBytes(utf8) && utf8.length > 0 && strictText(utf8) !== null) return utf8;
  const value = get(info, 'name');
  if (value === undefined) throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.name', 'missing');
  if (!isBytes(value)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info.name', 'not a string');
  return value;
}

function parseFiles(filesValue: BencodeValue, rules: PathRules, pathChanges: PathChange[]): TorrentFile[] {
  if (!Array.isArray(filesValue)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info.files', 'not a list');
  if (filesValue.length === 0) throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.files', 'the list is empty');
  const files: TorrentFile[] = [];
  const reasons: string[][] = [];
  let offset = 0;
  filesValue.forEach((entry, i) => {
    const field = `info.files[${i}]`;
    if (!isDict(entry)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not a dictionary');
    const attrs = parseAttributes(entry, field, rules);
    // A symlink holds no data, whatever 'length' says (BEP 47; libtorrent reads it as 0 too).
    const symlink = attrs.symlinkPath !== undefined || hasAttr(entry, 'l');
    let length = 0;
    if (!symlink) {
      const lengthValue = get(entry, 'length');
      if (lengthValue === undefined) throw new MetainfoError('BT_ERR_METAINFO_MISSING', `${field}.length`, 'missing');
      length = fileLength(lengthValue, `${field}.length`);
    }
    const usedUtf8 = get(entry, 'path.utf-8') !== undefined && validPathList(get(entry, 'path.utf-8'));
    const pathKey = usedUtf8 ? 'path.utf-8' : 'path';
    const pathValue = get(entry, pathKey);
    const why: string[] = [];
    let original: string[];
    let path: string[];
    if (attrs.padding && (pathValue === undefined || (Array.isArray(pathValue) && pathValue.length === 0))) {
      // BEP 47 pad files need no name; they never reach the disk.
      original = [];
      path = ['.pad', String(length)];
      why.push('pad file without a path');
    } else {
      const raw = pathBytes(pathValue, `${field}.${pathKey}`);
      original = raw.map((e) => text(e));
      path = sanitizePath(raw, rules, why);
    }
    const pathString = path.join('/');
    // BitComet names its padding files '_____padding_file_…' without the 'p' attribute.
    const padding = attrs.padding || pathString.includes('_____padding_file_');
    const file: TorrentFile = { path, pathString, length, offset, ...attrs, padding };
    if (why.length > 0) file.originalPath = original;
    files.push(file);
    reasons.push(why);
    offset += length;
  });
  // Symlink entries and padding never reach the disk, so only the other files need distinct paths.
  const renamed = resolveDuplicates(
    files.map((f) => ({ path: f.path, stored: !f.padding && f.symlinkPath === undefined })),
  );
  if (renamed === null) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_DUPLICATE_PATH',
      'info.files',
      'so many files share a path that renaming them gave up (a hostile torrent?)',
    );
  }
  for (const [i, path] of renamed) {
    const f = files[i]!;
    f.originalPath ??= f.path.slice();
    f.path = path;
    f.pathString = path.join('/');
    reasons[i]!.push('duplicate path');
  }
  resolveSymlinkTargets(files);
  files.forEach((f, i) => {
    if (f.originalPath === undefined) return;
    pathChanges.push({
      field: `info.files[${i}].path`,
      from: f.originalPath.join('/'),
      to: f.pathString,
      reasons: reasons[i]!,
    });
  });
  return files;
}

/**
 * A symlink target that names nothing from the torrent's root but names a file or folder from the
 * link's own folder is read that way, as libtorrent does (bt-actor never creates the link; this only
 * keeps `symlinkPath` meaningful).
 */
function resolveSymlinkTargets(files: TorrentFile[]): void {
  if (!files.some((f) => f.symlinkPath !== undefined)) return;
  // Every file and folder of the layout by (folder id, name): linear in the bytes of the paths.
  const ids = new Map<string, number>();
  for (const f of files) {
    let id = 0;
    for (const name of f.path) {
      const k = `${id}/${name}`;
      let next = ids.get(k);
      if (next === undefined) ids.set(k, (next = ids.size + 1));
      id = next;
    }
  }
  const names = (path: readonly string[]): boolean => {
    let id: number | undefined = 0;
    for (const name of path) if ((id = ids.get(`${id}/${name}`)) === undefined) return false;
    return path.length > 0;
  };
  for (const f of files) {
    if (f.symlinkPath === undefined || names(f.symlinkPath)) continue;
    const relative = [...f.path.slice(0, -1), ...f.symlinkPath];
    if (names(relative)) f.symlinkPath = relative;
  }
}

/** Sanitizes a file's path elements (docs/metainfo.md); records why in `why`, nothing when unchanged. */
function sanitizePath(raw: Uint8Array[], rules: PathRules, why: string[]): string[] {
  const path: string[] = [];
  const fixes = new Set<string>();
  for (const element of raw) {
    const s = sanitizeElement(element, rules);
    for (const f of s.fixes) fixes.add(f);
    if (s.value === null) fixes.add(element.length === 0 ? 'empty element dropped' : "'.' element dropped");
    else path.push(s.value);
  }
  if (path.length === 0) {
    fixes.add('nothing left of the path');
    path.push('_');
  }
  why.push(...fixes);
  return path;
}

function hasAttr(dict: BencodeDict, flag: string): boolean {
  const attrValue = get(dict, 'attr');
  return isBytes(attrValue) && text(attrValue).includes(flag);
}

function parseAttributes(
  dict: BencodeDict,
  field: string,
  rules: PathRules,
): Pick<TorrentFile, 'padding' | 'executable' | 'hidden' | 'symlinkPath'> {
  const attrValue = get(dict, 'attr');
  const attr = isBytes(attrValue) ? text(attrValue) : '';
  const result: Pick<TorrentFile, 'padding' | 'executable' | 'hidden' | 'symlinkPath'> = {
    padding: attr.includes('p'),
    executable: attr.includes('x'),
    hidden: attr.includes('h'),
  };
  const target = get(dict, 'symlink path');
  // A symlink without a 'symlink path' list is read as an empty file, as libtorrent does.
  if (attr.includes('l') && Array.isArray(target)) {
    if (target.length > MAX_PATH_DEPTH) {
      throw new MetainfoError(
        'BT_ERR_METAINFO_PATH',
        `${field}.symlink path`,
        `${target.length} elements deep (at most ${MAX_PATH_DEPTH})`,
      );
    }
    const raw = target.map((e, k) => {
      if (!isBytes(e)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', `${field}.symlink path[${k}]`, 'not a string');
      return e;
    });
    // BEP 47 forbids '.' and '..' here; dropped, as libtorrent does (the link is never created anyway).
    const kept = raw.filter((e) => {
      const t = text(e);
      return t !== '.' && t !== '..';
    });
    result.symlinkPath = kept.flatMap((e) => sanitizeElement(e, rules).value ?? []);
  }
  return result;
}

function validPathList(v: BencodeValue | undefined): boolean {
  return Array.isArray(v) && v.length > 0 && v.every((e) => isBytes(e) && strictText(e) !== null);
}

function pathBytes(value: BencodeValue | undefined, field: string): Uint8Array[] {
  if (value === undefined) throw new MetainfoError('BT_ERR_METAINFO_MISSING', field, 'missing');
  if (!Array.isArray(value)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not a list of strings');
  if (value.length === 0) throw new MetainfoError('BT_ERR_METAINFO_PATH', field, 'the path is empty');
  if (value.length > MAX_PATH_DEPTH) {
    throw new MetainfoError('BT_ERR_METAINFO_PATH', field, `${value.length} elements deep (at most ${MAX_PATH_DEPTH})`);
  }
  return value.map((element, k) => {
    if (!isBytes(element)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', `${field}[${k}]`, 'not a string');
    return element;
  });
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
