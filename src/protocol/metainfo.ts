/**
 * Metainfo (.torrent) parsing and validation: BEP 3, with BEP 12 (announce-list), BEP 19 (url-list),
 * BEP 27 (private), BEP 47 (padding files and file attributes) and BEP 52 (BitTorrent v2: `meta
 * version` 2, `file tree`, `piece layers`; v2-only and hybrid torrents).
 *
 * The info hash is the SHA-1 of the info dictionary's bytes exactly as they stand in the file
 * (found by {@link scanBencode}), never of a re-encoding, so a torrent with extra or unordered keys
 * gets the same hash as every other client computes; the v2 info hash is their SHA-256.
 */
import { toHex } from './bytes.js';
import { createHash } from 'node:crypto';
import {
  type BencodeDict,
  type BencodeNode,
  type BencodeValue,
  BencodeError,
  decodeBencode,
  decodeBencodeNodes,
  get,
  isBytes,
  isDict,
  nodeGet,
  scanBencode,
  strictText,
  text,
} from './bencode.js';
import { BtError } from './errors.js';
import { BLOCK_SIZE, HASH_SIZE, equalHash, rootFromPieceLayer, sha256, splitHashes } from './merkle.js';
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
  | 'BT_ERR_METAINFO_PIECE_LAYERS'
  | 'BT_ERR_METAINFO_INCONSISTENT'
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
  /** BEP 52: the root of the file's merkle tree (32 bytes); v2 and hybrid torrents, files not empty. */
  piecesRoot?: Uint8Array;
  /**
   * BEP 52: the file's piece layer, one 32-byte SHA-256 per piece, checked against {@link piecesRoot}:
   * from the torrent's `piece layers` for a file longer than a piece, the root itself for a file of one
   * piece. Absent when the torrent does not hold it (peers give it then: BEP 52 hash requests).
   */
  pieceLayer?: Uint8Array;
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

/**
 * Which BitTorrent versions a torrent speaks: `v1` (BEP 3), `v2` (BEP 52 only: no SHA-1 pieces), or
 * `hybrid` (both halves, describing the same files).
 */
export type MetainfoKind = 'v1' | 'v2' | 'hybrid';

export interface Metainfo {
  /**
   * The 20-byte info hash peers and trackers know the torrent by: the SHA-1 of the raw info dictionary
   * bytes (v1 and hybrid), or for a v2-only torrent the SHA-256 cut to 20 bytes (what BEP 52 puts in
   * the handshake, as libtorrent).
   */
  infoHash: Uint8Array;
  /** {@link infoHash} as 40 lowercase hex digits. */
  infoHashHex: string;
  /** `v1`, `v2` (v2-only) or `hybrid`. */
  kind: MetainfoKind;
  /** The info dictionary's `meta version`: 2 for v2 and hybrid torrents, else 1. */
  metaVersion: 1 | 2;
  /** BEP 52: the SHA-256 of the raw info dictionary bytes (v2 and hybrid torrents). */
  infoHashV2?: Uint8Array;
  /** {@link infoHashV2} as 64 lowercase hex digits. */
  infoHashV2Hex?: string;
  /** The info dictionary exactly as it stands in the file (BEP 9 serves these bytes). */
  infoBytes: Uint8Array;
  /** Suggested file name (single-file) or folder name (multi-file). */
  name: string;
  /** True when the info dictionary has a `files` list. */
  multiFile: boolean;
  files: TorrentFile[];
  /** Total bytes covered by pieces, padding included (a v2 torrent pads every file to a piece). */
  length: number;
  pieceLength: number;
  pieceCount: number;
  /** Concatenated 20-byte SHA-1 hashes, one per piece; empty for a v2-only torrent. */
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
/**
 * v2-only torrents of more pieces are refused, as libtorrent refuses them (`load_torrent_limits::max_pieces`):
 * their piece count comes from the files' lengths, not from a string of hashes in the file.
 */
export const MAX_PIECE_COUNT = 0x200000;
/**
 * A v2 file of this many 16 KiB blocks or more is refused, as libtorrent (`file_storage::max_num_pieces`:
 * its merkle tree is indexed by 32-bit integers).
 */
export const MAX_V2_FILE_BLOCKS = 2 ** 30 - 1;

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
 * BEP 52: a hybrid torrent's second info hash as handshakes, trackers and the DHT carry it — the SHA-256
 * of the info dictionary cut to 20 bytes (its {@link Metainfo.infoHash} is the SHA-1 one). Undefined for
 * v1-only and v2-only torrents, which have one hash.
 *
 * @example
 * const v2 = hybridV2Hash(meta); // a Uint8Array(20) for a hybrid torrent
 */
export function hybridV2Hash(meta: Pick<Metainfo, 'kind' | 'infoHashV2'>): Uint8Array | undefined {
  return meta.kind === 'hybrid' && meta.infoHashV2 ? meta.infoHashV2.slice(0, 20) : undefined;
}

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

/**
 * A .torrent file larger than this is refused, before it is read when it comes from a path (libtorrent
 * refuses above 10 MB by default; the largest real torrents — a million pieces, BEP 52 piece layers —
 * stay well below): a path to the data itself instead of its .torrent must not be read into memory.
 */
export const MAX_TORRENT_FILE_SIZE = 100 * 1024 * 1024;

/** Throws `BT_ERR_METAINFO_LENGTH` when `size` bytes are more than a .torrent file may hold. */
export function checkTorrentFileSize(size: number): void {
  if (size > MAX_TORRENT_FILE_SIZE)
    throw new MetainfoError(
      'BT_ERR_METAINFO_LENGTH',
      'file',
      `${size} bytes, larger than any .torrent file (at most ${MAX_TORRENT_FILE_SIZE}): the data rather than its .torrent?`,
    );
}

/** Like {@link parseMetainfo}, and also returns the decoded top-level dictionary. */
export function parseTorrent(bytes: Uint8Array, options: ParseOptions = {}): ParsedTorrent {
  checkTorrentFileSize(bytes.length);
  let value: BencodeValue;
  let infoSpan;
  let layersSpan;
  const warnings: string[] = [];
  try {
    const decoded = decodeTolerant(bytes, warnings);
    value = decoded.value;
    infoSpan = decoded.scan.topLevelSpans.get('info');
    layersSpan = decoded.scan.topLevelSpans.get('piece layers');
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
  const v1Hash = new Uint8Array(createHash('sha1').update(infoBytes).digest());
  const version = metaVersion(infoValue, infoBytes);
  const v2Hash = version === 2 ? sha256(infoBytes) : undefined;
  const layers =
    v2Hash && layersSpan ? decodeBencodeNodes(bytes.subarray(layersSpan.start, layersSpan.end)) : undefined;
  const info = parseInfo(
    infoValue,
    infoBytes,
    version,
    v1Hash,
    v2Hash,
    layers,
    options.pathRules ?? platformPathRules(),
  );
  // A v2-only torrent is known by its SHA-256 cut to 20 bytes (BEP 52), as libtorrent does.
  const infoHash = info.kind === 'v2' ? v2Hash!.slice(0, 20) : v1Hash;

  const metainfo: Metainfo = {
    infoHash,
    infoHashHex: toHex(infoHash),
    ...(v2Hash && { infoHashV2: v2Hash, infoHashV2Hex: toHex(v2Hash) }),
    infoBytes,
    ...info,
    metaVersion: version === 2 ? 2 : 1,
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

/**
 * The `meta version` (-1 when absent or not an integer, as libtorrent reads it). A versioned info
 * dictionary must be canonical bencode (keys sorted: BEP 52 hashes it as a tree of names); only 1 and 2
 * exist.
 */
function metaVersion(info: BencodeDict, infoBytes: Uint8Array): number {
  const v = get(info, 'meta version');
  const version = typeof v === 'number' && Number.isSafeInteger(v) ? v : -1;
  if (version > 0 && !scanBencode(infoBytes).canonical) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_BENCODE',
      'info',
      'keys out of order: a versioned info dictionary must be canonical bencode (BEP 52)',
    );
  }
  if (version > 2)
    throw new MetainfoError('BT_ERR_METAINFO_UNSUPPORTED', 'info.meta version', `${version}: only 1 and 2 exist`);
  return version;
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
  | 'kind'
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

/** A file as read from the torrent, before duplicates are renamed. */
interface ReadFile {
  file: TorrentFile;
  /** Why its path was changed (none: unchanged). */
  why: string[];
  /** The path as the torrent gives it, decoded as UTF-8. */
  original: string[];
}

function parseInfo(
  info: BencodeDict,
  infoBytes: Uint8Array,
  version: number,
  v1Hash: Uint8Array,
  v2Hash: Uint8Array | undefined,
  layers: BencodeNode | undefined,
  rules: PathRules,
): InfoPart {
  const pieceLength = requireInt(info, 'piece length', 'info.piece length');
  if (pieceLength <= 0 || pieceLength > MAX_PIECE_LENGTH) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_LENGTH',
      'info.piece length',
      `${pieceLength} is out of range (1 to ${MAX_PIECE_LENGTH})`,
    );
  }
  if (version === 2 && (pieceLength < BLOCK_SIZE || (pieceLength & (pieceLength - 1)) !== 0)) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_LENGTH',
      'info.piece length',
      `${pieceLength}: a v2 torrent's piece length is a power of two of at least 16 KiB (BEP 52)`,
    );
  }

  const lengthValue = get(info, 'length');
  const filesValue = get(info, 'files');
  const hasV1 = version !== 2 || lengthValue !== undefined || Array.isArray(filesValue);
  const kind: MetainfoKind = version !== 2 ? 'v1' : hasV1 ? 'hybrid' : 'v2';
  if (version !== 2 && isDict(get(info, 'file tree'))) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_MISSING',
      'info.meta version',
      "missing: a 'file tree' (BEP 52) needs 'meta version' 2",
    );
  }

  const piecesValue = get(info, 'pieces');
  if (piecesValue === undefined) {
    if (kind !== 'v2') throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.pieces', 'missing');
  } else {
    if (!isBytes(piecesValue)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info.pieces', 'not a byte string');
    if (piecesValue.length % HASH_LENGTH !== 0) {
      throw new MetainfoError(
        'BT_ERR_METAINFO_PIECES',
        'info.pieces',
        `length ${piecesValue.length} is not a multiple of 20`,
      );
    }
  }

  const pathChanges: PathChange[] = [];
  const rawName = nameBytes(info);
  const sanitizedName = sanitizeElement(rawName, rules);
  const fallback = toHex(hasV1 ? v1Hash : v2Hash!);
  let name = sanitizedName.value === null || sanitizedName.placeholder ? fallback : sanitizedName.value;
  let originalName = text(rawName);

  if (lengthValue !== undefined && filesValue !== undefined) {
    throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info', "has both 'length' (single-file) and 'files' (multi-file)");
  }
  let read: ReadFile[] = [];
  let multiFile = filesValue !== undefined;
  if (!hasV1) {
    // v2-only: the file tree is the layout.
    const tree = readFileTree(infoBytes, false, pieceLength, rules);
    read = tree.files;
    multiFile = !tree.singleFile;
    if (tree.singleFile) {
      // libtorrent names a single-file v2 torrent after its file.
      const only = read[0]!;
      name = only.file.path[0]!;
      originalName = only.original[0]!;
    }
  } else if (multiFile) {
    read = readFiles(filesValue!, rules);
  } else {
    if (lengthValue === undefined) {
      throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.length', "missing (and no 'files' list either)");
    }
    const length = fileLength(lengthValue, 'info.length');
    const attrs = parseAttributes(info, 'info', rules);
    const file: TorrentFile = { path: [name], pathString: name, length, offset: 0, ...attrs };
    read = [{ file, why: [], original: [originalName] }];
  }
  if (name !== originalName) {
    const reasons: string[] = kind === 'v2' && !multiFile ? read[0]!.why : sanitizedName.fixes;
    if (name === fallback) reasons.push('no usable name: the info hash stands in');
    pathChanges.push({ field: 'info.name', from: originalName, to: name, reasons });
    if (!multiFile) read[0]!.file.originalPath = [originalName];
  }
  if (kind === 'hybrid') agree(read, readFileTree(infoBytes, multiFile, pieceLength, rules).files);
  if (multiFile) layout(read, pathChanges, kind === 'v2' ? 'info.file tree' : 'info.files');
  const files = read.map((r) => r.file);
  const length = files.reduce((sum, f) => sum + f.length, 0);
  const lengthField = kind === 'v2' ? 'info.file tree' : multiFile ? 'info.files' : 'info.length';
  if (length > MAX_TORRENT_LENGTH) {
    throw new MetainfoError('BT_ERR_METAINFO_LENGTH', lengthField, `total ${length} bytes is absurd`);
  }
  const expected = Math.ceil(length / pieceLength);
  // A v1 torrent's piece count is bounded by its 'pieces' (20 bytes each); a v2-only one's is not.
  if (kind === 'v2' && expected > MAX_PIECE_COUNT) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_PIECES',
      lengthField,
      `${length} bytes in pieces of ${pieceLength} make ${expected} pieces (at most ${MAX_PIECE_COUNT})`,
    );
  }
  if (length === 0) {
    throw new MetainfoError('BT_ERR_METAINFO_LENGTH', lengthField, 'the torrent holds no data (total length 0)');
  }
  const pieces = isBytes(piecesValue) ? piecesValue : new Uint8Array(0);
  const pieceCount = kind === 'v2' ? expected : pieces.length / HASH_LENGTH;
  if (pieceCount !== expected || (kind === 'v2' && piecesValue !== undefined && pieces.length !== 20 * expected)) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_PIECES',
      'info.pieces',
      `holds ${pieces.length / HASH_LENGTH} hashes but ${length} bytes in pieces of ${pieceLength} need ${expected}`,
    );
  }
  if (layers) readPieceLayers(layers, files, pieceLength);
  if (kind !== 'v1') for (const f of files) if (f.length <= pieceLength && f.piecesRoot) f.pieceLayer = f.piecesRoot;
  const privateValue = get(info, 'private');
  const isPrivate = typeof privateValue === 'number' && privateValue === 1;
  const part: InfoPart = {
    kind,
    name,
    multiFile,
    files,
    length,
    pieceLength,
    pieceCount,
    pieces: kind === 'v2' ? new Uint8Array(0) : pieces,
    private: isPrivate,
    pathChanges,
  };
  if (name !== originalName) part.originalName = originalName;
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

/** The `files` list of a multi-file torrent, each path sanitized; duplicates are renamed by {@link layout}. */
function readFiles(filesValue: BencodeValue, rules: PathRules): ReadFile[] {
  if (!Array.isArray(filesValue)) throw new MetainfoError('BT_ERR_METAINFO_TYPE', 'info.files', 'not a list');
  if (filesValue.length === 0) throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.files', 'the list is empty');
  const read: ReadFile[] = [];
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
    read.push({ file, why, original });
    offset += length;
  });
  return read;
}

/**
 * Renames duplicates, reads symlink targets against the layout and records every changed path in
 * `pathChanges` (`field` names the list: `info.files` or `info.file tree`).
 */
function layout(read: ReadFile[], pathChanges: PathChange[], field: string): void {
  const files = read.map((r) => r.file);
  // Symlink entries and padding never reach the disk, so only the other files need distinct paths.
  const renamed = resolveDuplicates(
    files.map((f) => ({ path: f.path, stored: !f.padding && f.symlinkPath === undefined })),
  );
  if (renamed === null) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_DUPLICATE_PATH',
      field,
      'so many files share a path that renaming them gave up (a hostile torrent?)',
    );
  }
  for (const [i, path] of renamed) {
    const f = files[i]!;
    f.originalPath ??= read[i]!.original.slice();
    f.path = path;
    f.pathString = path.join('/');
    read[i]!.why.push('duplicate path');
  }
  resolveSymlinkTargets(files);
  // A v1 list names its files by index; a v2 tree by their order among the files it holds (no padding).
  let k = 0;
  read.forEach((r, i) => {
    const index = field === 'info.files' ? i : k;
    if (field === 'info.files' || !r.file.padding) k++;
    if (r.file.originalPath === undefined) return;
    pathChanges.push({
      field: field === 'info.files' ? `info.files[${index}].path` : `info.file tree[${index}]`,
      from: r.file.originalPath.join('/'),
      to: r.file.pathString,
      reasons: r.why,
    });
  });
}

/**
 * Reads a BEP 52 `file tree` (walked with an explicit stack: any depth up to {@link MAX_PATH_DEPTH}),
 * as libtorrent does: names sanitized like v1 paths, a file of one entry at the top of a torrent without
 * a v1 `files` list is a single-file torrent, and every file that holds data is followed by the padding
 * that brings the next to a piece boundary (BEP 52 aligns every file to a piece; the tail is padded too).
 */
function readFileTree(
  infoBytes: Uint8Array,
  v1MultiFile: boolean,
  pieceLength: number,
  rules: PathRules,
): { files: ReadFile[]; singleFile: boolean } {
  const tree = nodeGet(decodeBencodeNodes(infoBytes), 'file tree');
  if (tree?.type !== 'dict') {
    throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.file tree', 'missing: meta version 2 needs a file tree');
  }
  const read: ReadFile[] = [];
  let offset = 0;
  let singleFile = false;
  let multi = v1MultiFile;
  const stack: { node: BencodeNode & { type: 'dict' }; path: Uint8Array[]; index: number }[] = [
    { node: tree, path: [], index: 0 },
  ];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (frame.index >= frame.node.entries.length) {
      stack.pop();
      continue;
    }
    const { key, value } = frame.node.entries[frame.index++]!;
    const path = [...frame.path, key];
    const field = `info.file tree/${path.map((e) => text(e)).join('/')}`;
    if (key.length === 0) throw new MetainfoError('BT_ERR_METAINFO_PATH', field, 'an empty name');
    if (value.type !== 'dict') throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not a dictionary');
    const leaf = value.entries.length === 1 && value.entries[0]!.key.length === 0;
    singleFile = leaf && !multi && frame.node.entries.length === 1;
    multi = true;
    if (!leaf) {
      if (stack.length > MAX_PATH_DEPTH)
        throw new MetainfoError('BT_ERR_METAINFO_PATH', field, `more than ${MAX_PATH_DEPTH} folders deep`);
      if (value.entries.length > 0) stack.push({ node: value, path, index: 0 });
      continue;
    }
    const why: string[] = [];
    const file = treeFile(value.entries[0]!.value, `${field}/`, rules);
    file.path = sanitizePath(path, rules, why);
    file.pathString = file.path.join('/');
    file.offset = offset;
    if (why.length > 0) file.originalPath = path.map((e) => text(e));
    read.push({ file, why, original: path.map((e) => text(e)) });
    offset += file.length;
    if (file.length > 0 && offset % pieceLength !== 0) {
      const pad = pieceLength - (offset % pieceLength);
      const padPath = ['.pad', String(pad)];
      read.push({
        file: {
          path: padPath,
          pathString: padPath.join('/'),
          length: pad,
          offset,
          padding: true,
          executable: false,
          hidden: false,
        },
        why: [],
        original: padPath,
      });
      offset += pad;
    }
  }
  if (read.length === 0) throw new MetainfoError('BT_ERR_METAINFO_MISSING', 'info.file tree', 'holds no file');
  return { files: read, singleFile };
}

/** One file of a v2 file tree (`field` names it); its path is set by the caller. */
function treeFile(node: BencodeNode, field: string, rules: PathRules): TorrentFile {
  if (node.type !== 'dict') throw new MetainfoError('BT_ERR_METAINFO_TYPE', field, 'not a dictionary');
  const attrNode = nodeGet(node, 'attr');
  const attr = attrNode?.type === 'bytes' ? text(attrNode.value) : '';
  if (attr.includes('p')) {
    throw new MetainfoError(
      'BT_ERR_METAINFO_TYPE',
      `${field}attr`,
      'a pad file in a v2 file tree (BEP 52 pads every file to a piece by itself)',
    );
  }
  const file: TorrentFile = {
    path: [],
    pathString: '',
    length: 0,
    offset: 0,
    padding: false,
    executable: attr.includes('x'),
    hidden: attr.includes('h'),
  };
  if (!attr.includes('l')) {
    const v = nodeGet(node, 'length');
    if (v?.type !== 'int' || !Number.isSafeInteger(v.value) || v.value < 0)
      throw new MetainfoError('BT_ERR_METAINFO_LENGTH', `${field}length`, 'missing, negative or not an integer');
    if (Math.floor(v.value / BLOCK_SIZE) >= MAX_V2_FILE_BLOCKS || v.value > MAX_TORRENT_LENGTH)
      throw new MetainfoError(
        'BT_ERR_METAINFO_LENGTH',
        `${field}length`,
        `${v.value} bytes is too large for a v2 file`,
      );
    file.length = v.value;
  }
  const target = nodeGet(node, 'symlink path');
  if (attr.includes('l') && target?.type === 'list') {
    if (target.items.length > MAX_PATH_DEPTH)
      throw new MetainfoError('BT_ERR_METAINFO_PATH', `${field}symlink path`, `${target.items.length} elements deep`);
    const kept: Uint8Array[] = [];
    for (const [k, e] of target.items.entries()) {
      if (e.type !== 'bytes')
        throw new MetainfoError('BT_ERR_METAINFO_TYPE', `${field}symlink path[${k}]`, 'not a string');
      const t = text(e.value);
      if (t !== '.' && t !== '..') kept.push(e.value);
    }
    file.symlinkPath = kept.flatMap((e) => sanitizeElement(e, rules).value ?? []);
  }
  if (file.symlinkPath === undefined && file.length > 0) {
    const root = nodeGet(node, 'pieces root');
    if (root?.type !== 'bytes' || root.value.length !== HASH_SIZE || root.value.every((b) => b === 0))
      throw new MetainfoError('BT_ERR_METAINFO_MISSING', `${field}pieces root`, 'missing, or not a 32-byte hash');
    file.piecesRoot = root.value;
  }
  return file;
}

/**
 * A hybrid torrent's v1 files and v2 file tree must describe the same layout (libtorrent's
 * `files_compatible`): the same entries, and every file holding data at the same index with the same
 * sanitized path, length and offset. Torrents made by libtorrent 2.0.0–2.0.7 lack the v1 tail padding:
 * the v2 tail pad is then dropped first. Gives each v1 file its `piecesRoot`.
 */
function agree(v1: ReadFile[], tree: ReadFile[]): void {
  const v2 = tree.map((r) => r.file);
  if (v2.length === v1.length + 1) removeTailPadding(v2);
  const fail = (detail: string) => {
    throw new MetainfoError(
      'BT_ERR_METAINFO_INCONSISTENT',
      'info.file tree',
      `the v2 file tree and the v1 files disagree: ${detail} (a hybrid torrent's two halves must describe the same files)`,
    );
  };
  if (v2.length !== v1.length) fail(`${v2.length} entries against ${v1.length}, padding included`);
  const total = (fs: TorrentFile[]) => fs.reduce((n, f) => n + f.length, 0);
  if (total(v2) !== total(v1.map((r) => r.file))) fail(`${total(v2)} bytes against ${total(v1.map((r) => r.file))}`);
  v1.forEach(({ file: a }, i) => {
    const b = v2[i]!;
    const relevant = (f: TorrentFile) => !f.padding && f.length > 0;
    if (relevant(a) !== relevant(b)) fail(`entry ${i} holds data in one half only`);
    if (!relevant(a)) return;
    if (a.pathString !== b.pathString || a.length !== b.length || a.offset !== b.offset)
      fail(
        `entry ${i} is '${a.pathString}' (${a.length} bytes at ${a.offset}) in v1, '${b.pathString}' (${b.length} bytes at ${b.offset}) in v2`,
      );
    a.piecesRoot = b.piecesRoot!;
  });
}

/** Drops the padding after the last file that holds data (libtorrent's `remove_tail_padding`). */
function removeTailPadding(files: TorrentFile[]): void {
  for (let i = files.length - 1; i >= 0; i--) {
    const f = files[i]!;
    if (f.length === 0) continue;
    if (f.padding) {
      files.splice(i, 1);
      for (let k = i; k < files.length; k++) files[k]!.offset = f.offset;
    }
    return;
  }
}

/**
 * Checks a torrent's `piece layers` (BEP 52) as libtorrent does and gives each file its layer: every
 * entry is named by the 32-byte root of a file longer than one piece (once), holds one SHA-256 per piece
 * of that file, and hashes up to that root. A `piece layers` that is not a dictionary is ignored, as are
 * missing entries (peers give them: a torrent without layers is read like a magnet link).
 */
function readPieceLayers(layers: BencodeNode, files: TorrentFile[], pieceLength: number): void {
  if (layers.type !== 'dict') return;
  const byRoot = new Map<string, TorrentFile>();
  for (const f of files) if (f.piecesRoot && f.length > pieceLength) byRoot.set(toHex(f.piecesRoot), f);
  for (const { key, value } of layers.entries) {
    const field = `piece layers/${toHex(key)}`;
    const fail = (detail: string) => {
      throw new MetainfoError('BT_ERR_METAINFO_PIECE_LAYERS', field, detail);
    };
    if (key.length !== HASH_SIZE) fail('the name is not a 32-byte root');
    if (value.type !== 'bytes') fail('not a string of hashes');
    const layer = (value as { value: Uint8Array }).value;
    if (layer.length % HASH_SIZE !== 0) fail(`${layer.length} bytes is not a whole number of 32-byte hashes`);
    const file = byRoot.get(toHex(key));
    if (!file) fail('names no file longer than one piece (or one named twice)');
    byRoot.delete(toHex(key));
    const count = Math.ceil(file!.length / pieceLength);
    if (layer.length !== count * HASH_SIZE) fail(`${layer.length / HASH_SIZE} hashes for a file of ${count} pieces`);
    if (!equalHash(rootFromPieceLayer(splitHashes(layer), pieceLength), file!.piecesRoot!))
      fail(`the hashes do not hash up to the root of '${file!.pathString}'`);
    file!.pieceLayer = layer;
  }
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
