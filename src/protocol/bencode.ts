/**
 * Bencode (BEP 3) on top of the `bencode` npm package, made strict and safe for hostile input.
 *
 * The package's decoder is lenient: it reads past the end of truncated input, accepts trailing bytes
 * and recurses once per nesting level. {@link scanBencode} first walks the bytes iteratively with a
 * bounded depth and checks the grammar exactly (no leading zeros, no `-0`, string lengths inside the
 * input, dictionary keys are strings, nothing after the value). Only then does {@link decodeBencode}
 * hand the bytes to the package, so every malformed input becomes a {@link BencodeError} with a
 * position, never another kind of exception.
 *
 * Keys are compared as the package names them (UTF-8 text without a leading BOM, or the hex of bytes that
 * are not UTF-8): a dictionary where two keys get one name — the same bytes twice, or twins such as
 * `info` and BOM+`info` — is refused, so every reader of the value sees the same bytes.
 *
 * The scanner also reports the exact byte span of each top-level dictionary value, which is how the
 * info hash is computed over the info dictionary as it stands in the file.
 */
import bencode from 'bencode';
import { BtError } from './errors.js';

/** A decoded bencode value: byte strings stay bytes; dictionaries are plain objects keyed by UTF-8 text. */
export type BencodeValue = number | Uint8Array | BencodeValue[] | BencodeDict;
export interface BencodeDict {
  [key: string]: BencodeValue;
}

export type BencodeErrorCode =
  | 'BT_ERR_BENCODE_EMPTY'
  | 'BT_ERR_BENCODE_TRUNCATED'
  | 'BT_ERR_BENCODE_SYNTAX'
  | 'BT_ERR_BENCODE_TOO_DEEP'
  | 'BT_ERR_BENCODE_TRAILING'
  | 'BT_ERR_BENCODE_UNSAFE_KEY'
  | 'BT_ERR_BENCODE_DUPLICATE_KEY';

export class BencodeError extends BtError {
  override readonly name = 'BencodeError';
  constructor(
    override readonly code: BencodeErrorCode,
    message: string,
    /** Byte offset in the input where the problem was found. */
    readonly position: number,
  ) {
    super(code, `${message} at byte ${position}`);
  }
}

/** Byte span `[start, end)` of a value inside the scanned input. */
export interface Span {
  start: number;
  end: number;
}

export interface ScanResult {
  /** End offset of the top-level value (equal to the input length unless `allowTrailing`). */
  end: number;
  /** For a top-level dictionary: each key (named as the decoded value names it) and the span of its value. */
  topLevelSpans: Map<string, Span>;
  /** False when some dictionary's keys are not in strictly ascending raw-byte order (non-canonical). */
  canonical: boolean;
}

export interface ScanOptions {
  /** Maximum nesting of lists and dictionaries (default 64). */
  maxDepth?: number;
  /** Accept bytes after the first complete value (default false). */
  allowTrailing?: boolean;
}

const I = 0x69; // 'i'
const L = 0x6c; // 'l'
const D = 0x64; // 'd'
const E = 0x65; // 'e'
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/** Compares two byte ranges of the same buffer lexicographically (memcmp order). */
function compareRanges(buf: Uint8Array, a: Span, b: Span): number {
  const la = a.end - a.start;
  const lb = b.end - b.start;
  const n = Math.min(la, lb);
  for (let k = 0; k < n; k++) {
    const d = buf[a.start + k]! - buf[b.start + k]!;
    if (d !== 0) return d;
  }
  return la - lb;
}

const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

function isProtoKey(buf: Uint8Array, span: Span): boolean {
  if (span.end - span.start !== PROTO.length) return false;
  for (let k = 0; k < PROTO.length; k++) if (buf[span.start + k] !== PROTO[k]) return false;
  return true;
}

interface Frame {
  kind: 'l' | 'd';
  /** For dictionaries: the previous key's span (order check) and whether a key awaits its value. */
  lastKey: Span | null;
  expectValue: boolean;
  /** For the top-level dictionary only: the key whose value is being read, and where that value starts. */
  pendingKey: string | null;
  valueStart: number;
  /** For dictionaries: each key as the decoder will name it (see {@link decodedKey}), to refuse twins. */
  keys: Set<string> | null;
}

// The `bencode` package names a key by its UTF-8 text (a leading BOM dropped), or by the hex of its
// bytes when that text has a replacement character: two different keys can get one name.
const packageText = new TextDecoder();

/** The name the package's decoder gives the key at `span` (see `uint8-util`'s `arr2text`). */
function decodedKey(buf: Uint8Array, span: Span): string {
  const bytes = buf.subarray(span.start, span.end);
  const t = packageText.decode(bytes);
  if (!t.includes('\uFFFD')) return t;
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return hex;
}

/**
 * Validates `buf` as one bencoded value without building it. Iterative, so hostile nesting cannot
 * overflow the stack; allocation is bounded by `maxDepth` frames plus the top-level key map.
 */
export function scanBencode(buf: Uint8Array, options: ScanOptions = {}): ScanResult {
  const maxDepth = options.maxDepth ?? 64;
  const n = buf.length;
  if (n === 0) throw new BencodeError('BT_ERR_BENCODE_EMPTY', 'empty input', 0);
  const stack: Frame[] = [];
  const topLevelSpans = new Map<string, Span>();
  let canonical = true;
  let pos = 0;

  const readString = (): Span => {
    const start = pos;
    let len = 0;
    let digits = 0;
    while (pos < n && buf[pos]! >= ZERO && buf[pos]! <= NINE) {
      if (digits === 1 && buf[start] === ZERO) {
        throw new BencodeError('BT_ERR_BENCODE_SYNTAX', 'string length with a leading zero', start);
      }
      len = len * 10 + (buf[pos]! - ZERO);
      digits++;
      pos++;
      if (len > n) throw new BencodeError('BT_ERR_BENCODE_TRUNCATED', 'string longer than the input', start);
    }
    if (pos >= n) throw new BencodeError('BT_ERR_BENCODE_TRUNCATED', 'input ends inside a string length', pos);
    if (digits === 0 || buf[pos] !== COLON) {
      throw new BencodeError('BT_ERR_BENCODE_SYNTAX', `unexpected byte 0x${buf[pos]!.toString(16)}`, pos);
    }
    pos++;
    if (pos + len > n) throw new BencodeError('BT_ERR_BENCODE_TRUNCATED', 'string longer than the input', start);
    const span = { start: pos, end: pos + len };
    pos += len;
    return span;
  };

  const readInt = (): void => {
    const start = pos;
    pos++; // 'i'
    if (pos < n && buf[pos] === MINUS) pos++;
    const digitsStart = pos;
    while (pos < n && buf[pos]! >= ZERO && buf[pos]! <= NINE) pos++;
    if (pos >= n) throw new BencodeError('BT_ERR_BENCODE_TRUNCATED', 'input ends inside an integer', pos);
    const digits = pos - digitsStart;
    if (digits === 0 || buf[pos] !== E) {
      throw new BencodeError('BT_ERR_BENCODE_SYNTAX', 'malformed integer', start);
    }
    if (buf[digitsStart] === ZERO && (digits > 1 || digitsStart !== start + 1)) {
      throw new BencodeError('BT_ERR_BENCODE_SYNTAX', 'integer with a leading zero or -0', start);
    }
    pos++; // 'e'
  };

  // Called after each complete value; closes the bookkeeping of the enclosing dictionary.
  const valueDone = (): void => {
    const top = stack[stack.length - 1];
    if (!top || top.kind !== 'd') return;
    top.expectValue = false;
    if (stack.length === 1 && top.pendingKey !== null) {
      topLevelSpans.set(top.pendingKey, { start: top.valueStart, end: pos });
      top.pendingKey = null;
    }
  };

  do {
    if (pos >= n) throw new BencodeError('BT_ERR_BENCODE_TRUNCATED', 'input ends inside a value', pos);
    const top = stack[stack.length - 1];
    const c = buf[pos]!;
    if (c === E && top) {
      if (top.kind === 'd' && top.expectValue) {
        throw new BencodeError('BT_ERR_BENCODE_SYNTAX', 'dictionary key without a value', pos);
      }
      pos++;
      stack.pop();
      valueDone();
      continue;
    }
    if (top && top.kind === 'd' && !top.expectValue) {
      // A key must come next.
      if (c < ZERO || c > NINE) {
        throw new BencodeError('BT_ERR_BENCODE_SYNTAX', 'dictionary key is not a string', pos);
      }
      const key = readString();
      if (isProtoKey(buf, key)) {
        // The package decoder assigns keys onto a plain object: `__proto__` would replace its prototype.
        throw new BencodeError('BT_ERR_BENCODE_UNSAFE_KEY', "dictionary key '__proto__' is refused", key.start);
      }
      if (top.lastKey && compareRanges(buf, top.lastKey, key) >= 0) canonical = false;
      // The same key twice — as bytes, or as the decoder reads it (a BOM, invalid UTF-8) — would let one
      // reader see one value and another reader the other (the info hash over one info dictionary, the
      // files and pieces from its twin): refused at every level.
      const name = decodedKey(buf, key);
      if (top.keys!.has(name)) {
        throw new BencodeError('BT_ERR_BENCODE_DUPLICATE_KEY', `dictionary key '${name}' appears twice`, key.start);
      }
      top.keys!.add(name);
      top.lastKey = key;
      top.expectValue = true;
      if (stack.length === 1) {
        top.pendingKey = name;
        top.valueStart = pos;
      }
      continue;
    }
    if (c === I) {
      readInt();
      valueDone();
    } else if (c >= ZERO && c <= NINE) {
      readString();
      valueDone();
    } else if (c === L || c === D) {
      if (stack.length >= maxDepth) {
        throw new BencodeError('BT_ERR_BENCODE_TOO_DEEP', `nesting deeper than ${maxDepth}`, pos);
      }
      const kind = c === L ? 'l' : 'd';
      stack.push({
        kind,
        lastKey: null,
        expectValue: false,
        pendingKey: null,
        valueStart: pos,
        keys: kind === 'd' ? new Set() : null,
      });
      pos++;
    } else {
      throw new BencodeError('BT_ERR_BENCODE_SYNTAX', `unexpected byte 0x${c.toString(16)}`, pos);
    }
  } while (stack.length > 0);

  if (pos !== n && !options.allowTrailing) {
    throw new BencodeError('BT_ERR_BENCODE_TRAILING', 'bytes after the end of the value', pos);
  }
  return { end: pos, topLevelSpans, canonical };
}

/**
 * Strictly decodes one bencoded value. Throws {@link BencodeError} for any malformed input.
 * Byte strings are returned as `Uint8Array`; use {@link text} to read them as UTF-8.
 */
export function decodeBencode(buf: Uint8Array, options: ScanOptions = {}): { value: BencodeValue; scan: ScanResult } {
  const scan = scanBencode(buf, options);
  const view = scan.end === buf.length ? buf : buf.subarray(0, scan.end);
  const value = bencode.decode(view) as BencodeValue;
  return { value, scan };
}

/** Encodes a value with the `bencode` package (dictionary keys sorted, as BEP 3 requires). */
export function encodeBencode(value: unknown): Uint8Array {
  return bencode.encode(value);
}

// ignoreBOM keeps a leading U+FEFF: it is part of the string (a file name may start with it).
const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Reads a byte string as UTF-8 text (invalid sequences become U+FFFD). */
export function text(bytes: Uint8Array): string {
  return utf8.decode(bytes);
}

/** Reads a byte string as UTF-8 text, or returns null if it is not valid UTF-8. */
export function strictText(bytes: Uint8Array): string | null {
  try {
    return utf8Strict.decode(bytes);
  } catch {
    return null;
  }
}

export function isDict(v: unknown): v is BencodeDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array;
}

/** Own-property lookup: a key such as `__proto__` or `constructor` in hostile input is just a key. */
export function get(dict: BencodeDict, key: string): BencodeValue | undefined {
  return Object.prototype.hasOwnProperty.call(dict, key) ? dict[key] : undefined;
}

/**
 * A bencoded value with each dictionary's keys as raw bytes, in the order they stand in the input.
 * The decoded objects of {@link decodeBencode} name keys by text (and JavaScript orders integer-like
 * keys first); a BEP 52 file tree needs its names as bytes and in their order.
 */
export type BencodeNode =
  | { type: 'int'; value: number }
  | { type: 'bytes'; value: Uint8Array }
  | { type: 'list'; items: BencodeNode[] }
  | { type: 'dict'; entries: { key: Uint8Array; value: BencodeNode }[] };

/**
 * Strictly decodes one bencoded value into {@link BencodeNode}s (checked by {@link scanBencode} first,
 * so the depth is bounded and every malformed input is a {@link BencodeError}). An integer too large
 * for a safe JavaScript number keeps an approximate value: check `Number.isSafeInteger`.
 *
 * @example
 * const node = decodeBencodeNodes(infoBytes);
 * if (node.type === 'dict') for (const { key, value } of node.entries) console.log(text(key), value.type);
 */
export function decodeBencodeNodes(buf: Uint8Array, options: ScanOptions = {}): BencodeNode {
  scanBencode(buf, options);
  let pos = 0;
  const readLength = (): number => {
    let len = 0;
    while (buf[pos] !== COLON) len = len * 10 + (buf[pos++]! - ZERO);
    pos++;
    return len;
  };
  const read = (): BencodeNode => {
    const c = buf[pos]!;
    if (c === I) {
      const end = buf.indexOf(E, pos);
      const value = Number(new TextDecoder().decode(buf.subarray(pos + 1, end)));
      pos = end + 1;
      return { type: 'int', value };
    }
    if (c === L) {
      pos++;
      const items: BencodeNode[] = [];
      while (buf[pos] !== E) items.push(read());
      pos++;
      return { type: 'list', items };
    }
    if (c === D) {
      pos++;
      const entries: { key: Uint8Array; value: BencodeNode }[] = [];
      while (buf[pos] !== E) {
        const len = readLength();
        const key = buf.subarray(pos, pos + len);
        pos += len;
        entries.push({ key, value: read() });
      }
      pos++;
      return { type: 'dict', entries };
    }
    const len = readLength();
    const value = buf.subarray(pos, pos + len);
    pos += len;
    return { type: 'bytes', value };
  };
  return read();
}

/** The value of `key` (compared as bytes) in a dictionary node, or undefined. */
export function nodeGet(node: BencodeNode, key: string): BencodeNode | undefined {
  if (node.type !== 'dict') return undefined;
  const want = new TextEncoder().encode(key);
  for (const e of node.entries) {
    if (e.key.length === want.length && e.key.every((b, i) => b === want[i])) return e.value;
  }
  return undefined;
}

/** A dictionary for {@link encodeCanonical}: keys as text (UTF-8) or raw bytes, written in byte order. */
export type CanonicalDict = Map<string | Uint8Array, CanonicalValue>;
export type CanonicalValue = number | string | Uint8Array | CanonicalValue[] | CanonicalDict;

/**
 * Encodes canonical bencode: every dictionary's keys sorted by their raw bytes (BEP 3), as BEP 52 needs
 * for a v2 info dictionary. (The `bencode` package sorts keys as JavaScript strings, which differs
 * from byte order for some non-ASCII names, and cannot take byte-string keys.) A key twice is a bug:
 * it throws.
 *
 * @example encodeCanonical(new Map([['b', 1], [Uint8Array.of(0x61), 'x']])) // d1:a1:x1:bi1ee
 */
export function encodeCanonical(value: CanonicalValue): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const bytesOf = (s: string | Uint8Array) => (typeof s === 'string' ? enc.encode(s) : s);
  const str = (b: Uint8Array) => {
    parts.push(enc.encode(`${b.length}:`), b);
  };
  const walk = (v: CanonicalValue): void => {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new RangeError(`${v} is not a safe integer`);
      parts.push(enc.encode(`i${v}e`));
    } else if (typeof v === 'string' || v instanceof Uint8Array) str(bytesOf(v));
    else if (Array.isArray(v)) {
      parts.push(enc.encode('l'));
      v.forEach(walk);
      parts.push(enc.encode('e'));
    } else {
      const entries = [...v.entries()].map(([k, x]) => [bytesOf(k), x] as const);
      entries.sort(([a], [b]) => Buffer.compare(a, b));
      for (let i = 1; i < entries.length; i++)
        if (Buffer.compare(entries[i - 1]![0], entries[i]![0]) === 0) throw new RangeError('a dictionary key twice');
      parts.push(enc.encode('d'));
      for (const [k, x] of entries) {
        str(k);
        walk(x);
      }
      parts.push(enc.encode('e'));
    }
  };
  walk(value);
  return Uint8Array.from(Buffer.concat(parts));
}
