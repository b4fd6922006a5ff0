/**
 * Creates a .torrent from a file or a folder: walks the folder, hashes the data piece by piece
 * (memory stays at one piece whatever the size), and encodes with src/protocol/metainfo-encode.
 */
import { realClock } from './clock.js';
import { createHash } from 'node:crypto';
import { lstat, open, readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { BtError } from '../protocol/errors.js';
import { autoPieceLength, encodeTorrent, type TorrentSpec } from '../protocol/metainfo-encode.js';

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

/** Lists regular files under `root` in byte order of their relative paths (symlinks are skipped). */
async function walk(root: string): Promise<FoundFile[]> {
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
  const key = (f: FoundFile) => Buffer.from(f.path.join('/'));
  return out.sort((a, b) => Buffer.compare(key(a), key(b)));
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
  const files: FoundFile[] = multiFile ? await walk(abs) : [{ abs, path: [basename(abs)], length: st.size }];
  const total = files.reduce((s, f) => s + f.length, 0);
  if (total === 0) throw new CreateTorrentError('BT_ERR_CREATE_EMPTY', `${path}: holds no data to share`);
  const pieceLength = options.pieceLength ?? autoPieceLength(total);
  if (!Number.isSafeInteger(pieceLength) || pieceLength < 1) {
    throw new CreateTorrentError('BT_ERR_CREATE_PIECE_LENGTH', `piece length ${pieceLength} is not a positive integer`);
  }
  const pieces = await hashPieces(files, pieceLength, total);
  const spec: TorrentSpec = {
    name: options.name ?? basename(abs),
    files: files.map((f) => ({ path: f.path, length: f.length })),
    multiFile,
    pieceLength,
    pieces,
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
