/**
 * Smart ban: who sent the bad blocks of a piece that failed its hash check.
 *
 * A failed piece whose blocks came from several peers does not say which of them lied. Its block
 * hashes (SHA-1 of each 16 KiB block, computed by the storage actor) and the peer that sent each block
 * are recorded; the piece is fetched again; when a later copy verifies, every recorded block whose hash
 * differs from the good block's was bad, and the peer that sent it is guilty. Peers whose blocks were
 * right are never blamed. (libtorrent's smart_ban plugin does the same.)
 *
 * A plain mutable service of the torrent actor, touched only by its named actions. Bounded: at most
 * {@link MAX_SUSPECT_PIECES} pieces are remembered (the oldest go), each with at most
 * {@link MAX_VERSIONS} failed copies.
 */
import { equalBytes } from '../../protocol/bytes.js';

export const MAX_SUSPECT_PIECES = 256;
export const MAX_VERSIONS = 4;

/** One failed copy of a piece: per block, its hash and who sent it (undefined: not known). */
interface FailedCopy {
  hashes: readonly Uint8Array[];
  from: readonly (string | undefined)[];
}

export class SmartBan {
  private readonly pieces = new Map<number, FailedCopy[]>();

  /** Pieces with a failed copy on record (whose good copy is worth hashing block by block). */
  has(index: number): boolean {
    return this.pieces.has(index);
  }

  get size(): number {
    return this.pieces.size;
  }

  /** Records a failed copy of piece `index`: `from[b]` sent block `b`, whose hash was `hashes[b]`. */
  failed(index: number, from: readonly (string | undefined)[], hashes: readonly Uint8Array[]): void {
    if (hashes.length !== from.length) return;
    let copies = this.pieces.get(index);
    if (!copies) {
      if (this.pieces.size >= MAX_SUSPECT_PIECES) {
        const oldest = this.pieces.keys().next().value as number;
        this.pieces.delete(oldest);
      }
      copies = [];
      this.pieces.set(index, copies);
    }
    copies.push({ hashes, from });
    if (copies.length > MAX_VERSIONS) copies.shift();
  }

  /**
   * Piece `index` verified with block hashes `good`: the peers that sent a block differing from it in
   * any recorded failed copy (each once, in block order). The record is dropped.
   */
  verified(index: number, good: readonly Uint8Array[]): string[] {
    const copies = this.pieces.get(index);
    this.pieces.delete(index);
    if (!copies) return [];
    const guilty: string[] = [];
    for (const copy of copies) {
      if (copy.hashes.length !== good.length) continue;
      for (let b = 0; b < good.length; b++) {
        const peer = copy.from[b];
        if (peer === undefined || guilty.includes(peer)) continue;
        if (!equalBytes(copy.hashes[b]!, good[b]!)) guilty.push(peer);
      }
    }
    return guilty;
  }

  /** Forgets piece `index` (it verified without block hashes, or the torrent stopped). */
  forget(index: number): void {
    this.pieces.delete(index);
  }

  clear(): void {
    this.pieces.clear();
  }
}
