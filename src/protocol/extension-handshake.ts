/**
 * The BEP 10 extension handshake (extended message id 0): a bencoded dictionary saying which
 * extension messages a peer speaks (`m`: name → its message id; 0 means "disabled"), plus optional
 * facts about it — how many requests it queues (`reqq`), its client (`v`), its listen port (`p`), the
 * size of the torrent's info dictionary (`metadata_size`, BEP 9). Pure and bounded: a decoded
 * handshake holds at most {@link MAX_EXTENSIONS} names and short strings; anything else is a typed
 * {@link BtError} (`BT_ERR_EXT_HANDSHAKE`), never another exception.
 */
import { decodeBencode, encodeBencode, get, isBytes, isDict, strictText } from './bencode.js';
import { BtError } from './errors.js';

export interface ExtensionHandshake {
  /** Extension name → the sender's message id for it (names with id 0, disabled, are left out). */
  m: Record<string, number>;
  reqq?: number;
  client?: string;
  port?: number;
  metadataSize?: number;
}

/** Most extension names kept from a peer's `m`. */
export const MAX_EXTENSIONS = 64;
/** Longest extension name and client string kept. */
export const MAX_NAME_BYTES = 64;
/** Largest `reqq` honoured (a peer claiming more is treated as queueing this many). */
export const MAX_REQQ = 10_000;

const bad = (message: string) => new BtError('BT_ERR_EXT_HANDSHAKE', `extension handshake: ${message}`);

/** Encodes a handshake (keys sorted by the bencode encoder). */
export function encodeExtensionHandshake(h: ExtensionHandshake): Uint8Array {
  const dict: Record<string, unknown> = { m: h.m };
  if (h.reqq !== undefined) dict.reqq = h.reqq;
  if (h.client !== undefined) dict.v = h.client;
  if (h.port !== undefined) dict.p = h.port;
  if (h.metadataSize !== undefined) dict.metadata_size = h.metadataSize;
  return encodeBencode(dict);
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
/** A positive count, however large (a bencoded integer past 2^53 still means "many"). */
const isPositive = (v: unknown): v is number => typeof v === 'number' && v >= 1;

/**
 * Decodes a peer's handshake. Unknown keys are ignored (BEP 10: the dictionary is extensible); a
 * payload that is not a bencoded dictionary, or an `m` that is not a dictionary of integers, is refused.
 */
export function decodeExtensionHandshake(payload: Uint8Array): ExtensionHandshake {
  let value: unknown;
  try {
    ({ value } = decodeBencode(payload, { maxDepth: 4 }));
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (!isDict(value)) throw bad('not a dictionary');
  const out: ExtensionHandshake = { m: {} };
  const m = get(value, 'm');
  if (m !== undefined) {
    if (!isDict(m)) throw bad('m is not a dictionary');
    let n = 0;
    for (const name of Object.keys(m)) {
      const id = m[name];
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 255)
        throw bad(`m.${name.slice(0, MAX_NAME_BYTES)} is not a message id`);
      // Every id is checked; only the first MAX_EXTENSIONS names are kept.
      if (id === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES || n >= MAX_EXTENSIONS) continue;
      n++;
      out.m[name] = id;
    }
  }
  const reqq = get(value, 'reqq');
  if (isPositive(reqq)) out.reqq = Math.min(Math.floor(reqq), MAX_REQQ);
  const v = get(value, 'v');
  if (isBytes(v) && v.length <= MAX_NAME_BYTES) {
    const s = strictText(v);
    if (s !== null) out.client = s;
  }
  const p = get(value, 'p');
  if (isCount(p) && p <= 65535) out.port = p;
  const size = get(value, 'metadata_size');
  if (isCount(size)) out.metadataSize = size;
  return out;
}
