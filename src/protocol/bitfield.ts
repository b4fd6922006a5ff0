/**
 * The set of pieces a peer has, in the BEP 3 `bitfield` layout: the high bit of byte 0 is piece 0,
 * and the spare bits at the end of the last byte are zero.
 *
 * The count of set bits is kept incrementally, so `count`, `isComplete` and `isEmpty` are O(1);
 * iteration and {@link Bitfield.interesting} work a byte at a time and skip empty bytes.
 */
import { BtError } from './errors.js';

export type BitfieldErrorCode = 'BT_ERR_BITFIELD_LENGTH' | 'BT_ERR_BITFIELD_SPARE_BITS' | 'BT_ERR_BITFIELD_INDEX';

export class BitfieldError extends BtError {
  override readonly name = 'BitfieldError';
  constructor(
    override readonly code: BitfieldErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/** Number of set bits of each byte value. */
const POPCOUNT = new Uint8Array(256);
for (let b = 1; b < 256; b++) POPCOUNT[b] = (b & 1) + POPCOUNT[b >>> 1]!;

/** Bytes needed for `pieceCount` bits. */
export function bitfieldByteLength(pieceCount: number): number {
  return Math.ceil(pieceCount / 8);
}

/**
 * A fixed-length set of piece indices.
 *
 * @example
 * ```ts
 * const have = Bitfield.fromBytes(message.bytes, torrent.pieceCount); // validates length and spare bits
 * if (have.interesting(mine)) sendInterested();
 * for (const piece of have.setBits()) availability[piece]++;
 * ```
 */
export class Bitfield {
  private readonly bits: Uint8Array;
  private setCount: number;

  /**
   * An empty bitfield of `length` pieces, or one initialised from a copy of `bytes` (validated as in
   * {@link Bitfield.fromBytes}).
   */
  constructor(
    /** Number of pieces. */
    readonly length: number,
    bytes?: Uint8Array,
  ) {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new BitfieldError('BT_ERR_BITFIELD_LENGTH', `invalid piece count ${length}`);
    }
    const byteLength = bitfieldByteLength(length);
    if (bytes === undefined) {
      this.bits = new Uint8Array(byteLength);
      this.setCount = 0;
      return;
    }
    if (bytes.length !== byteLength) {
      throw new BitfieldError(
        'BT_ERR_BITFIELD_LENGTH',
        `bitfield of ${bytes.length} bytes for ${length} pieces (expected ${byteLength})`,
      );
    }
    const spare = byteLength * 8 - length;
    if (spare > 0 && (bytes[byteLength - 1]! & ((1 << spare) - 1)) !== 0) {
      throw new BitfieldError('BT_ERR_BITFIELD_SPARE_BITS', 'spare bits after the last piece are not zero');
    }
    this.bits = Uint8Array.from(bytes);
    let count = 0;
    for (let k = 0; k < byteLength; k++) count += POPCOUNT[this.bits[k]!]!;
    this.setCount = count;
  }

  /**
   * Validates a received `bitfield` payload: exactly `ceil(pieceCount / 8)` bytes
   * (`BT_ERR_BITFIELD_LENGTH`) with zero spare bits (`BT_ERR_BITFIELD_SPARE_BITS`). The bytes are copied.
   */
  static fromBytes(bytes: Uint8Array, pieceCount: number): Bitfield {
    return new Bitfield(pieceCount, bytes);
  }

  /** A bitfield with every one of `n` pieces set (a seeder's). */
  static full(n: number): Bitfield {
    const b = new Bitfield(n);
    b.bits.fill(0xff);
    const spare = b.bits.length * 8 - n;
    if (spare > 0) b.bits[b.bits.length - 1] = (0xff << spare) & 0xff;
    b.setCount = n;
    return b;
  }

  /** Number of set pieces, O(1). */
  get count(): number {
    return this.setCount;
  }

  get isComplete(): boolean {
    return this.setCount === this.length;
  }

  get isEmpty(): boolean {
    return this.setCount === 0;
  }

  /** The wire payload (a copy). */
  toBytes(): Uint8Array {
    return this.bits.slice();
  }

  clone(): Bitfield {
    const c = new Bitfield(this.length);
    c.bits.set(this.bits);
    c.setCount = this.setCount;
    return c;
  }

  has(index: number): boolean {
    this.check(index);
    return (this.bits[index >>> 3]! & (0x80 >>> (index & 7))) !== 0;
  }

  /** Sets piece `index`; returns true when it was not set before. */
  set(index: number): boolean {
    this.check(index);
    const k = index >>> 3;
    const mask = 0x80 >>> (index & 7);
    const byte = this.bits[k]!;
    if ((byte & mask) !== 0) return false;
    this.bits[k] = byte | mask;
    this.setCount++;
    return true;
  }

  /** Clears piece `index`; returns true when it was set before. */
  clear(index: number): boolean {
    this.check(index);
    const k = index >>> 3;
    const mask = 0x80 >>> (index & 7);
    const byte = this.bits[k]!;
    if ((byte & mask) === 0) return false;
    this.bits[k] = byte & ~mask;
    this.setCount--;
    return true;
  }

  /** The set piece indices in ascending order; zero bytes are skipped. */
  *setBits(): IterableIterator<number> {
    const bits = this.bits;
    for (let k = 0; k < bits.length; k++) {
      let b = bits[k]!;
      while (b !== 0) {
        // Highest set bit of the byte is the lowest piece index in it.
        const bit = 31 - Math.clz32(b);
        yield (k << 3) + (7 - bit);
        b ^= 1 << bit;
      }
    }
  }

  /** Calls `fn` for every set piece index in ascending order. */
  forEach(fn: (index: number) => void): void {
    const bits = this.bits;
    for (let k = 0; k < bits.length; k++) {
      let b = bits[k]!;
      while (b !== 0) {
        const bit = 31 - Math.clz32(b);
        fn((k << 3) + (7 - bit));
        b ^= 1 << bit;
      }
    }
  }

  /** The lowest set piece index, or -1 when none is set. */
  firstSet(): number {
    const bits = this.bits;
    for (let k = 0; k < bits.length; k++) {
      const b = bits[k]!;
      if (b !== 0) return (k << 3) + Math.clz32(b) - 24;
    }
    return -1;
  }

  /**
   * True when `other` has a piece this bitfield lacks — i.e. we should be interested in a peer whose
   * bitfield is `other`. Both must have the same length (`BT_ERR_BITFIELD_LENGTH`).
   */
  interesting(other: Bitfield): boolean {
    if (other.length !== this.length) {
      throw new BitfieldError('BT_ERR_BITFIELD_LENGTH', `bitfields of ${this.length} and ${other.length} pieces`);
    }
    const mine = this.bits;
    const theirs = other.bits;
    for (let k = 0; k < mine.length; k++) {
      if ((theirs[k]! & ~mine[k]!) !== 0) return true;
    }
    return false;
  }

  private check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new BitfieldError('BT_ERR_BITFIELD_INDEX', `piece index ${index} outside 0..${this.length - 1}`);
    }
  }
}
