/**
 * Creates a .torrent from a file or a folder: walks the folder, hashes the data piece by piece
 * (memory stays at one piece whatever the size, plus a v2 file's piece layer), and encodes with
 * src/protocol/metainfo-encode. BitTorrent v1 (SHA-1 pieces), v2 (BEP 52: SHA-256 merkle trees per
 * file) or hybrid (both, each file padded to a piece as BEP 47 pad files).
 */
import { realClock } from './clock.js';
import { createHash } from 'node:crypto';
import { lstat, open, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { BtError } from '../protocol/errors.js';
import { blockHashes, blocksPerPiece, merkleRoot, pieceHash, rootFromPieceLayer } from '../protocol/merkle.js';
import { autoPieceLength, encodeTorrent, type TorrentSpec, type TorrentSpecFile } from '../protocol/metainfo-encode.js';

export interface CreateTorrentOptions {
  /** Tracker tiers; a flat list of URLs becomes one tier each (BEP 12 order). */
  announce?: string[][];
  /** Piece length in bytes (power of two recommended); chosen from the size when absent. */
  pieceLength?: number;
  private?: boolean;
  comment?: string;
  /** Defaults to the file or folder's own name. */
  name?: string;
  urlList?: string[];
  /** Seconds since the epoch; defaults to now. Pass `null` to leave it out (reproducible output). */
  creationDate?: number | null;
  createdBy?: string;
  /**
   * `v1` (BEP 3, the default), `v2` (BEP 52 only) or `hybrid` (both: every v1 client and every v2
   * client can use it). v2 and hybrid need a power-of-two piece length of at least 16 KiB.
   */
  version?: 'v1' | 'v2' | 'hybrid';
}

export interface CreatedTorrent {
  torrent: Uint8Array;
  spec: TorrentSpec;
}

export class CreateTorrentError extends BtError {
  override readonly name = 'CreateTorrentError';
  constructor(
    override readonly code:
      'BT_ERR_CREATE_EMPTY' | 'BT_ERR_CREATE_NOT_FOUND' | 'BT_ERR_CREATE_PIECE_LENGTH' | 'BT_ERR_CREATE_CHANGED',
    message: string,
  ) {
    super(code, message);
  }
}

interface FoundFile {
  abs: string;
  path: string[];
  length: number;
}

/**
 * Lists regular files under `root` (symlinks are skipped) in byte order of their relative paths, or
 * for `tree` order in the order of a BEP 52 file tree: names compared as bytes, folder by folder.
 */
async function walk(root: string, tree: boolean): Promise<FoundFile[]> {
  const out: FoundFile[] = [];
  const visit = async (dir: string, rel: string[]): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      const abs = join(dir, e.name);
      if (e.isDirectory()) await visit(abs, [...rel, e.name]);
      else if (e.isFile()) out.push({ abs, path: [...rel, e.name], length: (await lstat(abs)).size });
    }
  };
  await visit(root, []);
  if (tree) return out.sort((a, b) => comparePaths(a.path, b.path));
  const key = (f: FoundFile) => Buffer.from(f.path.join('/'));
  return out.sort((a, b) => Buffer.compare(key(a), key(b)));
}

function comparePaths(a: string[], b: string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = Buffer.compare(Buffer.from(a[i]!), Buffer.from(b[i]!));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/**
 * Hashes each file for BEP 52, piece by piece: its piece layer and root (SHA-256 of 16 KiB blocks); for
 * a hybrid also the SHA-1 of each piece, a multi-file torrent's file ending in zeros (the pad file
 * after it, as libtorrent writes it; the tail too).
 */
async function hashV2(
  found: FoundFile[],
  pieceLength: number,
  hybrid: boolean,
  multiFile: boolean,
): Promise<{ files: TorrentSpecFile[]; pieces: Uint8Array }> {
  const buf = Buffer.alloc(pieceLength);
  const sha1s: Uint8Array[] = [];
  const files: TorrentSpecFile[] = [];
  for (const f of found) {
    const entry: TorrentSpecFile = { path: f.path, length: f.length };
    files.push(entry);
    if (f.length === 0) continue;
    const layer: Uint8Array[] = [];
    let leaves: Uint8Array[] = [];
    const fh = await open(f.abs, 'r');
    try {
      for (let pos = 0; pos < f.length;) {
        const want = Math.min(pieceLength, f.length - pos);
        let got = 0;
        while (got < want) {
          const { bytesRead } = await fh.read(buf, got, want - got, pos + got);
          if (bytesRead === 0)
            throw new CreateTorrentError('BT_ERR_CREATE_CHANGED', `${f.abs} shrank while it was being hashed`);
          got += bytesRead;
        }
        leaves = blockHashes(buf.subarray(0, want));
        layer.push(pieceHash(leaves, pieceLength));
        if (hybrid) {
          // A multi-file hybrid pads every file to a piece (BEP 47 pad files); a single file is not padded.
          if (multiFile) buf.fill(0, want);
          sha1s.push(
            createHash('sha1')
              .update(multiFile ? buf : buf.subarray(0, want))
              .digest(),
          );
        }
        pos += want;
      }
    } finally {
      await fh.close();
    }
    // A file of one piece: its tree is as wide as its blocks need, and it has no stored layer.
    entry.piecesRoot = layer.length === 1 ? merkleRoot(leaves) : rootFromPieceLayer(layer, pieceLength);
    if (layer.length > 1) entry.pieceLayer = Uint8Array.from(Buffer.concat(layer));
    const tail = f.length % pieceLength;
    if (hybrid && multiFile && tail !== 0)
      files.push({ path: ['.pad', String(pieceLength - tail)], length: pieceLength - tail, padding: true });
  }
  return { files, pieces: Uint8Array.from(Buffer.concat(sha1s)) };
}

/** Hashes the concatenation of `files` in pieces of `pieceLength` bytes. */
async function hashPieces(files: FoundFile[], pieceLength: number, total: number): Promise<Uint8Array> {
  const pieceCount = Math.ceil(total / pieceLength);
  const pieces = new Uint8Array(pieceCount * 20);
  const buf = Buffer.allocUnsafe(Math.min(pieceLength, Math.max(total, 1)));
  let filled = 0;
  let piece = 0;
  const flush = () => {
    pieces.set(createHash('sha1').update(buf.subarray(0, filled)).digest(), piece * 20);
    piece++;
    filled = 0;
  };
  for (const f of files) {
    const fh = await open(f.abs, 'r');
    try {
      let pos = 0;
      while (pos < f.length) {
        const want = Math.min(buf.length - filled, f.length - pos);
        const { bytesRead } = await fh.read(buf, filled, want, pos);
        if (bytesRead === 0)
          throw new CreateTorrentError('BT_ERR_CREATE_CHANGED', `${f.abs} shrank while it was being hashed`);
        filled += bytesRead;
        pos += bytesRead;
        if (filled === buf.length) flush();
      }
    } finally {
      await fh.close();
    }
  }
  if (filled > 0) flush();
  return pieces;
}

/**
 * Creates a torrent for `path` (a file gives a single-file torrent, a folder a multi-file one).
 *
 * @example
 * const { torrent } = await createTorrent('data/', { announce: [['http://127.0.0.1:8000/announce']] });
 * await writeFile('data.torrent', torrent);
 */
export async function createTorrent(path: string, options: CreateTorrentOptions = {}): Promise<CreatedTorrent> {
  const abs = resolve(path);
  let st;
  try {
    st = await lstat(abs);
  } catch {
    throw new CreateTorrentError('BT_ERR_CREATE_NOT_FOUND', `${path}: no such file or folder`);
  }
  const multiFile = st.isDirectory();
  const version = options.version ?? 'v1';
  const files: FoundFile[] = multiFile
    ? await walk(abs, version !== 'v1')
    : [{ abs, path: [basename(abs)], length: st.size }];
  const total = files.reduce((s, f) => s + f.length, 0);
  if (total === 0) throw new CreateTorrentError('BT_ERR_CREATE_EMPTY', `${path}: holds no data to share`);
  const pieceLength = options.pieceLength ?? autoPieceLength(total);
  if (!Number.isSafeInteger(pieceLength) || pieceLength < 1) {
    throw new CreateTorrentError('BT_ERR_CREATE_PIECE_LENGTH', `piece length ${pieceLength} is not a positive integer`);
  }
  if (version !== 'v1') {
    try {
      blocksPerPiece(pieceLength);
    } catch {
      throw new CreateTorrentError(
        'BT_ERR_CREATE_PIECE_LENGTH',
        `piece length ${pieceLength}: a ${version} torrent needs a power of two of at least 16 KiB (BEP 52)`,
      );
    }
  }
  const hashed =
    version === 'v1'
      ? {
          files: files.map((f) => ({ path: f.path, length: f.length })),
          pieces: await hashPieces(files, pieceLength, total),
        }
      : await hashV2(files, pieceLength, version === 'hybrid', multiFile);
  const spec: TorrentSpec = {
    name: options.name ?? basename(abs),
    files: hashed.files,
    multiFile,
    pieceLength,
    pieces: hashed.pieces,
    ...(version !== 'v1' && { version }),
    announce: options.announce ?? [],
    private: options.private ?? false,
    createdBy: options.createdBy ?? 'bt-actor',
  };
  if (options.comment !== undefined) spec.comment = options.comment;
  if (options.urlList) spec.urlList = options.urlList;
  const date = options.creationDate === undefined ? Math.floor(realClock.now() / 1000) : options.creationDate;
  if (date !== null) spec.creationDate = date;
  return { torrent: encodeTorrent(spec), spec };
}
