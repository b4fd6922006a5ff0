/**
 * BEP 52 piece layers fetched from peers: a v2-only torrent whose `piece layers` lack a file (made
 * without them, or fetched as an info dictionary) asks its peers for that file's piece layer in `hash
 * request`s of up to 512 hashes, and checks each `hashes` answer against the file's `pieces root`
 * (src/protocol/hash-tree.ts `verifyHashes`). Until a file's layer is whole its pieces cannot be
 * verified, so the torrent does not pick them ({@link HashFetch.blockedPieces}); once it is whole, the
 * pieces of the file already on disk are checked against it first (the storage actor's
 * `storage.layerChecked`), so data that is there is not fetched again.
 *
 * A service the torrent owns (`context.svc.hashes`), changed only in its named actions. Bounded: a
 * peer has at most {@link MAX_HASH_REQUESTS_PER_PEER} requests out; a request unanswered after
 * `timeoutMs` is asked of another peer; a peer that rejected a range (or let it time out) is asked it
 * again only {@link RETRY_AFTER_MS} later, on the torrent's tick. A `hashes` answer we did not ask for is ignored; one that does not prove is the
 * peer's fault (the torrent bans it as it bans bad data).
 *
 * @example
 * const fetch = new HashFetch(missingLayers, pieceLength, 10_000);
 * for (const { key, range } of fetch.assign(peerKeys, now)) send(key, { type: 'peer.hashRequest', range });
 * const r = fetch.received(key, range, hashes, now); // 'ok' | 'bad' | 'unasked'; takeCompleted(): whole layers
 */
import { MAX_SERVED_HASHES, verifyHashes } from '../../protocol/hash-tree.js';
import { blocksPerPiece, equalHash, HASH_SIZE, nextPowerOfTwo } from '../../protocol/merkle.js';
import type { Metainfo } from '../../protocol/metainfo.js';
import { filesMissingPieceLayers } from '../../protocol/piece-verify.js';
import type { HashRange } from '../../protocol/wire.js';

/** Hash requests one peer may have unanswered at a time. */
export const MAX_HASH_REQUESTS_PER_PEER = 4;

/**
 * A peer that rejected a range (or let it time out) is asked it again only this much later (ms): a
 * client may reject while it is still checking its data, and it may be the only peer there is.
 */
export const RETRY_AFTER_MS = 30_000;

/** A file of the torrent whose piece layer is missing. */
export interface MissingLayer {
  /** Its index among the metainfo's files (padding included). */
  file: number;
  /** Its `pieces root`. */
  root: Uint8Array;
  /** Its first piece and how many pieces it spans (more than one). */
  firstPiece: number;
  pieces: number;
}

/** A piece layer made whole and proven: the file's index and one 32-byte hash per piece. */
export interface FetchedLayer {
  file: number;
  layer: Uint8Array;
}

interface Chunk {
  range: HashRange;
  /** The peer asked and when, while a request is out. */
  askedOf: string | undefined;
  askedAt: number;
  done: boolean;
  /** Peers that rejected this range or let it time out, and when (asked again only {@link RETRY_AFTER_MS} later). */
  rejectedBy: Map<string, number>;
}

interface FileFetch {
  missing: MissingLayer;
  /** The tree's root layer index (leaves are layer 0), as `verifyHashes` takes it. */
  numLayers: number;
  layer: Uint8Array;
  chunks: Chunk[];
  left: number;
}

/** The files of a v2-only torrent whose piece layers peers must give; empty for any other torrent. */
export function missingLayersOf(meta: Metainfo): MissingLayer[] {
  if (meta.kind !== 'v2') return [];
  const missing = new Set(filesMissingPieceLayers(meta));
  return meta.files.flatMap((f, file) =>
    missing.has(f)
      ? [
          {
            file,
            root: f.piecesRoot!,
            firstPiece: f.offset / meta.pieceLength,
            pieces: Math.ceil(f.length / meta.pieceLength),
          },
        ]
      : [],
  );
}

export class HashFetch {
  private readonly files: FileFetch[];
  private readonly outstanding = new Map<string, number>();
  private readonly whole: FetchedLayer[] = [];
  /** Files (metainfo indexes) whose layer is whole but whose data on disk is not checked against it yet. */
  private readonly unchecked = new Set<number>();

  constructor(
    missing: readonly MissingLayer[],
    pieceLength: number,
    private readonly timeoutMs: number,
  ) {
    const pieceLayer = Math.round(Math.log2(blocksPerPiece(pieceLength)));
    this.files = missing.map((m) => {
      const width = nextPowerOfTwo(m.pieces);
      const length = Math.min(width, MAX_SERVED_HASHES);
      const numLayers = pieceLayer + Math.round(Math.log2(width));
      const proofLayers = numLayers - pieceLayer - 1;
      const chunks: Chunk[] = [];
      for (let index = 0; index < m.pieces; index += length)
        chunks.push({
          range: { piecesRoot: m.root, baseLayer: pieceLayer, index, length, proofLayers },
          askedOf: undefined,
          askedAt: 0,
          done: false,
          rejectedBy: new Map(),
        });
      return { missing: m, numLayers, layer: new Uint8Array(m.pieces * HASH_SIZE), chunks, left: chunks.length };
    });
  }

  /** Every layer is known and the data on disk checked against it: nothing is blocked any more. */
  get isDone(): boolean {
    return this.unchecked.size === 0 && this.files.every((f) => f.left === 0);
  }

  /**
   * The pieces not to pick yet: their file's layer is incomplete, or whole but the pieces already on
   * disk are still being checked against it ({@link layerChecked}).
   */
  *blockedPieces(): IterableIterator<number> {
    for (const f of this.files) {
      if (f.left === 0 && !this.unchecked.has(f.missing.file)) continue;
      for (let p = f.missing.firstPiece; p < f.missing.firstPiece + f.missing.pieces; p++) yield p;
    }
  }

  /**
   * Requests for the ranges nobody is asked now, to the peers given (admitted connections), each peer
   * up to {@link MAX_HASH_REQUESTS_PER_PEER} at once; requests older than the timeout are given up first.
   */
  assign(peers: readonly string[], now: number): { key: string; range: HashRange }[] {
    const out: { key: string; range: HashRange }[] = [];
    for (const f of this.files)
      for (const c of f.chunks) {
        if (c.done) continue;
        if (c.askedOf !== undefined && now - c.askedAt >= this.timeoutMs) {
          c.rejectedBy.set(c.askedOf, now);
          this.release(c);
        }
        if (c.askedOf !== undefined) continue;
        const key = peers.find((k) => {
          const at = c.rejectedBy.get(k);
          return (
            (at === undefined || now - at >= RETRY_AFTER_MS) &&
            (this.outstanding.get(k) ?? 0) < MAX_HASH_REQUESTS_PER_PEER
          );
        });
        if (key === undefined) continue;
        c.askedOf = key;
        c.askedAt = now;
        this.outstanding.set(key, (this.outstanding.get(key) ?? 0) + 1);
        out.push({ key, range: c.range });
      }
    return out;
  }

  /**
   * A peer's `hashes`: `unasked` (not a range out to it: ignored), `bad` (they do not prove against the
   * root: the peer lied; the range is asked of another), or `ok` (stored; {@link takeCompleted} has the
   * layer once it is whole).
   */
  received(key: string, range: HashRange, hashes: Uint8Array, now: number): 'ok' | 'bad' | 'unasked' {
    const found = this.find(key, range);
    if (!found) return 'unasked';
    const { f, c } = found;
    this.release(c);
    if (!verifyHashes(f.missing.root, f.numLayers, c.range, hashes)) {
      c.rejectedBy.set(key, now);
      return 'bad';
    }
    c.done = true;
    const count = Math.min(c.range.length, f.missing.pieces - c.range.index);
    f.layer.set(hashes.subarray(0, count * HASH_SIZE), c.range.index * HASH_SIZE);
    f.left--;
    if (f.left === 0) {
      this.whole.push({ file: f.missing.file, layer: f.layer });
      this.unchecked.add(f.missing.file);
    }
    return 'ok';
  }

  /** A peer's `hash reject`: the range goes to another peer. False when it was not out to this peer. */
  rejected(key: string, range: HashRange, now: number): boolean {
    const found = this.find(key, range);
    if (!found) return false;
    this.release(found.c);
    found.c.rejectedBy.set(key, now);
    return true;
  }

  /** A connection closed: its requests go to others, and its rejects are forgotten. */
  peerGone(key: string): void {
    for (const f of this.files)
      for (const c of f.chunks) {
        if (c.askedOf === key) this.release(c);
        c.rejectedBy.delete(key);
      }
    this.outstanding.delete(key);
  }

  /** The layers made whole since the last call. */
  takeCompleted(): FetchedLayer[] {
    return this.whole.splice(0);
  }

  /**
   * The data on disk of file `file` was checked against its new layer: its pieces may be picked now.
   * False when no layer of that file awaited a check.
   */
  layerChecked(file: number): boolean {
    return this.unchecked.delete(file);
  }

  private find(key: string, range: HashRange): { f: FileFetch; c: Chunk } | undefined {
    for (const f of this.files) {
      if (!equalHash(f.missing.root, range.piecesRoot)) continue;
      const c = f.chunks.find(
        (x) =>
          x.askedOf === key &&
          x.range.baseLayer === range.baseLayer &&
          x.range.index === range.index &&
          x.range.length === range.length &&
          x.range.proofLayers === range.proofLayers,
      );
      if (c) return { f, c };
    }
    return undefined;
  }

  private release(c: Chunk): void {
    if (c.askedOf === undefined) return;
    const n = (this.outstanding.get(c.askedOf) ?? 1) - 1;
    if (n > 0) this.outstanding.set(c.askedOf, n);
    else this.outstanding.delete(c.askedOf);
    c.askedOf = undefined;
  }
}
