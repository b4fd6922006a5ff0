/**
 * Builds BEP 52 torrents in memory for tests: v2-only or hybrid, from file contents, through the same
 * encoder as `bt-actor create` (src/protocol/metainfo-encode.ts) with roots and layers from the merkle
 * module, and v1 pieces over the padded data for a hybrid.
 */
import { blockHashes, merkleRoot, pieceLayer, rootFromPieceLayer } from '../../src/protocol/merkle.js';
import { encodeTorrent, type TorrentSpecFile } from '../../src/protocol/metainfo-encode.js';
import { pieceHashList } from './data.js';

export interface V2File {
  path: string[];
  data: Uint8Array;
}

export function v2Torrent(
  files: V2File[],
  options: {
    version?: 'v2' | 'hybrid';
    pieceLength?: number;
    multiFile?: boolean;
    name?: string;
    /** Tracker tiers (default one tier of http://127.0.0.1:6969/announce). */
    announce?: string[][];
  } = {},
): Uint8Array {
  const pieceLength = options.pieceLength ?? 16384;
  const version = options.version ?? 'v2';
  const multiFile = options.multiFile ?? true;
  const spec: TorrentSpecFile[] = [];
  const v1: Uint8Array[] = [];
  for (const f of files) {
    const entry: TorrentSpecFile = { path: f.path, length: f.data.length };
    spec.push(entry);
    v1.push(f.data);
    if (f.data.length === 0) continue;
    const leaves = blockHashes(f.data);
    const layer = pieceLayer(leaves, pieceLength);
    entry.piecesRoot = layer.length === 1 ? merkleRoot(leaves) : rootFromPieceLayer(layer, pieceLength);
    if (layer.length > 1) entry.pieceLayer = Uint8Array.from(Buffer.concat(layer));
    const tail = f.data.length % pieceLength;
    if (multiFile && tail !== 0) {
      spec.push({ path: ['.pad', String(pieceLength - tail)], length: pieceLength - tail, padding: true });
      v1.push(new Uint8Array(pieceLength - tail));
    }
  }
  const all = Buffer.concat(v1);
  const pieces = pieceHashList(all, pieceLength);
  return encodeTorrent({
    name: options.name ?? (multiFile ? 'folder' : files[0]!.path[0]!),
    files: spec,
    multiFile,
    pieceLength,
    pieces: Uint8Array.from(Buffer.concat(pieces)),
    version,
    announce: options.announce ?? [['http://127.0.0.1:6969/announce']],
  });
}

/** `n` bytes of a simple pattern seeded by `seed` (not random: reproducible, cheap). */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

/**
 * The piece space of a parsed v2 or hybrid torrent made from `files` (by {@link v2Torrent}): every file's
 * bytes at its offset, pad files as zeros — what a seeder serves.
 */
export function pieceSpace(
  meta: { length: number; files: { path: string[]; offset: number; length: number; padding: boolean }[] },
  files: V2File[],
): Uint8Array {
  const out = new Uint8Array(meta.length);
  for (const f of meta.files) {
    if (f.padding || f.length === 0) continue;
    const src = files.find((s) => s.path.join('/') === f.path.join('/'));
    if (!src) throw new Error(`no data for ${f.path.join('/')}`);
    out.set(src.data, f.offset);
  }
  return out;
}
