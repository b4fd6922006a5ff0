/**
 * BEP 52 block blame: a v2 (or hybrid) piece that failed its hash is pinned on the peer that sent the
 * bad block, at once. The piece's 16 KiB blocks are leaves (layer 0) of its file's merkle tree and the
 * piece hash we know (its `piece layers` entry, or the file's `pieces root` for a file of one piece) is
 * their subtree root; so a peer that has the piece is asked for those leaves in a `hash request` of base
 * layer 0 (index the piece's first block within its file, length the piece's width in leaves, a power
 * of two ≥ 2, proof layers `log2(length) - 1`: the leaves alone, which hash up to the piece hash). An
 * answer that proves gives the true leaf of every block; each recorded bad copy's block whose SHA-256
 * (the storage's `blockHashes`) differs was bad, and only its sender is guilty. Whoever answers cannot
 * lie: SHA-256 binds the leaves to the piece hash.
 *
 * A service the torrent owns (`context.svc.blockHashes`), changed only in its named actions, with the
 * conventions of {@link HashFetch} (hash-fetch.ts): a request unanswered after `timeoutMs`, or rejected,
 * is asked of another peer; an answer that does not prove is the answering peer's fault (`bad`); one
 * nobody asked for is ignored. Bounded: at most one request out per piece, at most
 * {@link MAX_BLAME_PIECES} pieces waiting (the oldest go), {@link MAX_COPIES} failed copies each; a piece
 * is forgotten when it verifies or is judged. Until an answer comes, smart ban (smart-ban.ts) keeps its
 * own record: if no peer answers, it still blames once a good copy verifies.
 *
 * @example
 * const blame = new BlockHashes(10_000);
 * const proof = blockProofOf(files, pieceLength, hashTrees, index); // undefined: not a v2 piece we can prove
 * if (proof) blame.failed(index, senders, leaves, proof);
 * for (const { key, range } of blame.assign((i) => peersWithPiece(i), now)) send(key, range);
 * const r = blame.received(key, range, hashes, now); // 'unasked' | 'bad' | { index, guilty }
 */
import { toHex } from '../../protocol/bytes.js';
import { verifyHashes, type HashTrees } from '../../protocol/hash-tree.js';
import { BLOCK_SIZE, equalHash, HASH_SIZE, nextPowerOfTwo } from '../../protocol/merkle.js';
import type { HashRange } from '../../protocol/wire.js';
import type { FileSpan } from './file-priority.js';

/** Failed pieces waiting for their leaves at most (the oldest is dropped for a new one). */
export const MAX_BLAME_PIECES = 32;
/** Failed copies of one piece kept at most (the oldest go). */
export const MAX_COPIES = 4;

/** A file as block blame needs it (`TorrentInfo.files`: in info-dictionary order, padding marked). */
export interface BlameFile extends FileSpan {
  /** BEP 52: the file's `pieces root` (v2 and hybrid torrents). */
  piecesRoot?: Uint8Array;
}

/** How a failed piece's leaves are asked for and proven. */
export interface PieceProof {
  /** The `hash request` (base layer 0). */
  range: HashRange;
  /** The hash the leaves must hash up to: the piece's `piece layers` entry, or the file's root. */
  expected: Uint8Array;
  /** Blocks of the piece that hold file bytes (those past them are padding: no leaf to compare). */
  blocks: number;
}

/**
 * The proof a failed piece `index` can be judged by, or undefined: not a v2 piece, a piece of one block
 * (its lone sender is blamed without asking), or a file whose piece layer we do not hold yet.
 */
export function blockProofOf(
  files: readonly BlameFile[] | undefined,
  pieceLength: number,
  trees: HashTrees | undefined,
  index: number,
): PieceProof | undefined {
  if (!files) return undefined;
  let offset = 0;
  for (const f of files) {
    const start = offset;
    offset += f.length;
    if (f.padding || !f.piecesRoot || f.length === 0 || start % pieceLength !== 0) continue;
    const first = start / pieceLength;
    const count = Math.ceil(f.length / pieceLength);
    if (index < first || index >= first + count) continue;
    const k = index - first;
    const blocks = Math.ceil(Math.min(pieceLength, f.length - k * pieceLength) / BLOCK_SIZE);
    let width: number;
    let expected: Uint8Array;
    if (f.length <= pieceLength) {
      // A file of one piece: its tree is as wide as its blocks need, its root the piece hash.
      width = nextPowerOfTwo(blocks);
      expected = f.piecesRoot;
    } else {
      const tree = trees?.byRoot.get(toHex(f.piecesRoot));
      if (!tree) return undefined;
      width = pieceLength / BLOCK_SIZE;
      expected = tree.layers[0]!.subarray(k * HASH_SIZE, (k + 1) * HASH_SIZE);
    }
    if (width < 2) return undefined;
    const index0 = f.length <= pieceLength ? 0 : k * width;
    const proofLayers = Math.round(Math.log2(width)) - 1;
    return {
      range: { piecesRoot: f.piecesRoot, baseLayer: 0, index: index0, length: width, proofLayers },
      expected,
      blocks,
    };
  }
  return undefined;
}

interface Copy {
  leaves: readonly Uint8Array[];
  from: readonly (string | undefined)[];
}

interface Suspect {
  proof: PieceProof;
  copies: Copy[];
  askedOf: string | undefined;
  askedAt: number;
  /** Peers that rejected the request, let it time out or answered with hashes that do not prove. */
  tried: Set<string>;
}

/** The verdict on a proven answer: the piece, and the senders of its bad blocks (each once, block order). */
export interface BlockVerdict {
  index: number;
  guilty: string[];
}

export class BlockHashes {
  private readonly pieces = new Map<number, Suspect>();

  constructor(private readonly timeoutMs: number) {}

  has(index: number): boolean {
    return this.pieces.has(index);
  }

  get size(): number {
    return this.pieces.size;
  }

  /** Records a failed copy of piece `index`: `from[b]` sent block `b`, whose leaf hash was `leaves[b]`. */
  failed(index: number, from: readonly (string | undefined)[], leaves: readonly Uint8Array[], proof: PieceProof): void {
    if (leaves.length !== from.length) return;
    let s = this.pieces.get(index);
    if (!s) {
      if (this.pieces.size >= MAX_BLAME_PIECES) this.pieces.delete(this.pieces.keys().next().value as number);
      s = { proof, copies: [], askedOf: undefined, askedAt: 0, tried: new Set() };
      this.pieces.set(index, s);
    }
    s.copies.push({ leaves, from });
    if (s.copies.length > MAX_COPIES) s.copies.shift();
  }

  /**
   * Requests for the waiting pieces nobody is asked now, each to the first of `candidates(index)` (peers
   * that have the piece) not tried yet; requests older than the timeout are given up first.
   */
  assign(candidates: (index: number) => readonly string[], now: number): { key: string; range: HashRange }[] {
    const out: { key: string; range: HashRange }[] = [];
    for (const [index, s] of this.pieces) {
      if (s.askedOf !== undefined && now - s.askedAt >= this.timeoutMs) {
        s.tried.add(s.askedOf);
        s.askedOf = undefined;
      }
      if (s.askedOf !== undefined) continue;
      const key = candidates(index).find((k) => !s.tried.has(k));
      if (key === undefined) continue;
      s.askedOf = key;
      s.askedAt = now;
      out.push({ key, range: s.proof.range });
    }
    return out;
  }

  /**
   * A peer's `hashes` of base layer 0: `unasked` (not a request out to it: ignored), `bad` (they do not
   * prove: the peer lied; another is asked), or the verdict (the piece is forgotten).
   */
  received(key: string, range: HashRange, hashes: Uint8Array): 'unasked' | 'bad' | BlockVerdict {
    const found = this.find(key, range);
    if (!found) return 'unasked';
    const [index, s] = found;
    s.askedOf = undefined;
    const { proof } = s;
    const width = proof.range.length;
    const local = { ...proof.range, index: 0 };
    if (!verifyHashes(proof.expected, Math.round(Math.log2(width)), local, hashes)) {
      s.tried.add(key);
      return 'bad';
    }
    this.pieces.delete(index);
    const guilty: string[] = [];
    for (const copy of s.copies)
      for (let b = 0; b < Math.min(proof.blocks, copy.leaves.length); b++) {
        const peer = copy.from[b];
        if (peer === undefined || guilty.includes(peer)) continue;
        if (!equalHash(copy.leaves[b]!, hashes.subarray(b * HASH_SIZE, (b + 1) * HASH_SIZE))) guilty.push(peer);
      }
    return { index, guilty };
  }

  /** A peer's `hash reject` of base layer 0: another is asked. False when it was not out to this peer. */
  rejected(key: string, range: HashRange): boolean {
    const found = this.find(key, range);
    if (!found) return false;
    found[1].askedOf = undefined;
    found[1].tried.add(key);
    return true;
  }

  /** A connection closed: its requests go to others. */
  peerGone(key: string): void {
    for (const s of this.pieces.values()) if (s.askedOf === key) s.askedOf = undefined;
  }

  /** Piece `index` verified (or the torrent stopped): nothing is asked for it any more. */
  forget(index: number): void {
    this.pieces.delete(index);
  }

  private find(key: string, range: HashRange): [number, Suspect] | undefined {
    if (range.baseLayer !== 0) return undefined;
    for (const entry of this.pieces) {
      const r = entry[1].proof.range;
      if (
        entry[1].askedOf === key &&
        r.index === range.index &&
        r.length === range.length &&
        r.proofLayers === range.proofLayers &&
        equalHash(r.piecesRoot, range.piecesRoot)
      )
        return entry;
    }
    return undefined;
  }
}
