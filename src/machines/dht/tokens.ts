/**
 * BEP 5 announce tokens: the token a node hands out in its get_peers answers and checks in the
 * announce_peer that follows. A token is `hash(secret ‖ requester IP)` cut to {@link TOKEN_BYTES} bytes;
 * the secret is replaced every {@link TOKEN_ROTATE_MS} (5 min) and the previous one is still accepted, so a
 * token stays valid for at least 5 and less than 10 minutes ("tokens up to ten minutes old are accepted",
 * BEP 5) and only from the IP address it was given to.
 *
 * Bounded by construction: two secrets, no state per requester. Pure: no clock (every call takes `now`,
 * ms), no node:crypto — the caller passes the hash (SHA-1) and the source of fresh secrets.
 *
 * @example
 * const tokens = new TokenIssuer({ hash: sha1, secret: () => randomBytes(16) }, now);
 * const token = tokens.tokenFor('10.0.0.1', now);
 * tokens.validToken(token, '10.0.0.1', now + 6 * 60_000); // true
 */
import { normaliseHost, parseIp } from '../../protocol/peer-address.js';

/** How often the secret is replaced (BEP 5: "every five minutes"). */
export const TOKEN_ROTATE_MS = 5 * 60_000;
/** Length of a token handed out (libtorrent and bittorrent-dht hand out 4 to 20; 8 is plenty against guessing). */
export const TOKEN_BYTES = 8;

export interface TokenIssuerOptions {
  /** SHA-1 (or any hash giving at least `tokenBytes` bytes). */
  hash: (bytes: Uint8Array) => Uint8Array;
  /** A fresh, unpredictable secret (e.g. 16 random bytes); called once at start and at each rotation. */
  secret: () => Uint8Array;
  /** Default {@link TOKEN_ROTATE_MS}. */
  rotateMs?: number;
  /** Default {@link TOKEN_BYTES}; 4..20. */
  tokenBytes?: number;
}

const textEncoder = new TextEncoder();

/** The bytes a requester's address is hashed as: its 4 or 16 address bytes (IPv4-mapped counts as IPv4). */
function ipBytes(ip: string): Uint8Array {
  const n = normaliseHost(ip);
  const parsed = n ? parseIp(n.host) : null;
  return parsed ? parsed.bytes : textEncoder.encode(ip.toLowerCase());
}

/** Compares two byte strings in time independent of where they differ. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** Issues and checks BEP 5 tokens; see the module comment. One per DHT node. */
export class TokenIssuer {
  readonly rotateMs: number;
  readonly tokenBytes: number;
  private readonly hash: (bytes: Uint8Array) => Uint8Array;
  private readonly fresh: () => Uint8Array;
  private current: Uint8Array;
  private previous: Uint8Array | undefined;
  /** When the current secret took over (ms). */
  private since: number;

  constructor(options: TokenIssuerOptions, now = 0) {
    this.rotateMs = options.rotateMs ?? TOKEN_ROTATE_MS;
    this.tokenBytes = options.tokenBytes ?? TOKEN_BYTES;
    if (!Number.isSafeInteger(this.rotateMs) || this.rotateMs < 1)
      throw new RangeError('rotateMs must be a positive integer');
    if (!Number.isInteger(this.tokenBytes) || this.tokenBytes < 4 || this.tokenBytes > 20)
      throw new RangeError('tokenBytes must be 4..20');
    this.hash = options.hash;
    this.fresh = options.secret;
    if (this.hash(new Uint8Array(0)).length < this.tokenBytes)
      throw new RangeError(`the hash gives fewer than ${this.tokenBytes} bytes`);
    this.current = this.newSecret();
    this.previous = undefined;
    this.since = now;
  }

  /** The token for a requester at `ip`, valid until the secret has rotated twice. */
  tokenFor(ip: string, now: number): Uint8Array {
    this.rotate(now);
    return this.tokenWith(this.current, ip);
  }

  /** True when `token` was handed to `ip` under the current or the previous secret. */
  validToken(token: Uint8Array, ip: string, now: number): boolean {
    this.rotate(now);
    if (!(token instanceof Uint8Array) || token.length !== this.tokenBytes) return false;
    if (sameBytes(token, this.tokenWith(this.current, ip))) return true;
    return this.previous !== undefined && sameBytes(token, this.tokenWith(this.previous, ip));
  }

  private newSecret(): Uint8Array {
    const s = this.fresh();
    if (!(s instanceof Uint8Array) || s.length < 8) throw new RangeError('a token secret must be at least 8 bytes');
    return Uint8Array.from(s);
  }

  private tokenWith(secret: Uint8Array, ip: string): Uint8Array {
    const addr = ipBytes(ip);
    const input = new Uint8Array(secret.length + addr.length);
    input.set(secret, 0);
    input.set(addr, secret.length);
    return this.hash(input).slice(0, this.tokenBytes);
  }

  /** Replaces the secret for every full period since the last rotation (a clock going back changes nothing). */
  private rotate(now: number): void {
    const elapsed = now - this.since;
    if (!(elapsed >= this.rotateMs)) return;
    const periods = Math.floor(elapsed / this.rotateMs);
    // After two or more periods nothing the old secrets signed is young enough to keep.
    this.previous = periods === 1 ? this.current : undefined;
    this.current = this.newSecret();
    this.since += periods * this.rotateMs;
  }
}
