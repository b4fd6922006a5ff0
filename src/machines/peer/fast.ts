/**
 * BEP 6 (Fast extension) state of one peer connection, as an immutable value: the pieces the peer
 * allows us to request while it chokes us (its `allowed-fast` messages), the pieces it suggested, and
 * our own allowed-fast set for it — the pieces of it we told it about, and how many blocks of them we
 * served while choking it. Pure functions; the peer statechart keeps the value in context.
 *
 * Everything a peer can grow here is bounded: {@link MAX_ALLOWED_IN} allowed pieces,
 * {@link MAX_SUGGESTED} suggestions (the oldest dropped), and blocks served while choked at
 * {@link SERVE_FACTOR} times the blocks of our set (libtorrent's bound: 3 × a piece's blocks per piece).
 */
import { allowedFastSet } from '../../protocol/allowed-fast.js';
import { Bitfield } from '../../protocol/bitfield.js';
import { BLOCK_LENGTH, type PieceGeometry } from '../../protocol/layout.js';

export interface FastState {
  /** Pieces the peer allows us while it chokes us, in the order it said them (valid indexes, no repeats). */
  readonly allowedIn: readonly number[];
  /** Pieces the peer suggested (`suggest`), oldest first. */
  readonly suggested: readonly number[];
  /** Our allowed-fast set for this peer (BEP 6's algorithm on its address), fixed at admission. */
  readonly allowedOut: readonly number[];
  /** The pieces of `allowedOut` we sent an `allowed-fast` for (those we had): only these are served. */
  readonly sentOut: readonly number[];
  /** Blocks we accepted from the peer while choking it (for allowed-fast pieces). */
  readonly served: number;
}

/** Most `allowed-fast` pieces kept from one peer (BEP 6 suggests sets of 10). */
export const MAX_ALLOWED_IN = 32;
/** Most suggestions kept from one peer; a newer one pushes the oldest out. */
export const MAX_SUGGESTED = 16;
/** Blocks served while choked: this many times the blocks of the pieces we allowed. */
export const SERVE_FACTOR = 3;

export const emptyFast: FastState = { allowedIn: [], suggested: [], allowedOut: [], sentOut: [], served: 0 };

/**
 * At admission: our allowed-fast set for the peer at `host` (`k` pieces; none when `k` is 0) and the
 * pieces of it to announce now — those we have (`have`, bitfield bytes). Pieces of the set verified
 * later are announced by {@link pieceVerified}.
 */
export function admitFast(
  host: string,
  infoHash: Uint8Array,
  geometry: PieceGeometry,
  k: number,
  have: Uint8Array,
): { state: FastState; send: number[] } {
  const allowedOut = allowedFastSet(host, infoHash, geometry.pieceCount, k);
  const ours = Bitfield.fromBytes(have, geometry.pieceCount);
  const send = allowedOut.filter((i) => ours.has(i));
  return { state: { ...emptyFast, allowedOut, sentOut: send }, send };
}

/**
 * We verified piece `index`: it leaves the peer's allowed and suggested lists (nothing to ask for any
 * more), and if it belongs to our set and was not announced, `announce` says to send `allowed-fast`.
 */
export function pieceVerified(s: FastState, index: number): { state: FastState; announce: boolean } {
  const announce = s.allowedOut.includes(index) && !s.sentOut.includes(index);
  const inAllowed = s.allowedIn.includes(index);
  const inSuggested = s.suggested.includes(index);
  if (!announce && !inAllowed && !inSuggested) return { state: s, announce };
  return {
    state: {
      ...s,
      ...(announce && { sentOut: s.sentOut.concat(index) }),
      ...(inAllowed && { allowedIn: s.allowedIn.filter((i) => i !== index) }),
      ...(inSuggested && { suggested: s.suggested.filter((i) => i !== index) }),
    },
    announce,
  };
}

/** The peer's `allowed-fast`: kept if a piece of the torrent, new, and under the cap; `added` says whether. */
export function allowFast(s: FastState, index: number, pieceCount: number): { state: FastState; added: boolean } {
  if (!Number.isInteger(index) || index < 0 || index >= pieceCount) return { state: s, added: false };
  if (s.allowedIn.includes(index) || s.allowedIn.length >= MAX_ALLOWED_IN) return { state: s, added: false };
  return { state: { ...s, allowedIn: s.allowedIn.concat(index) }, added: true };
}

/** The peer's `suggest`: a hint, kept newest last (a repeat moves to the end; the oldest goes past the cap). */
export function suggest(s: FastState, index: number, pieceCount: number): FastState {
  if (!Number.isInteger(index) || index < 0 || index >= pieceCount) return s;
  const rest = s.suggested.filter((i) => i !== index);
  const suggested = rest.concat(index);
  return { ...s, suggested: suggested.length > MAX_SUGGESTED ? suggested.slice(1) : suggested };
}

/** Most blocks served to the peer while we choke it. */
export function serveBudget(s: FastState, geometry: PieceGeometry): number {
  return SERVE_FACTOR * s.sentOut.length * Math.ceil(geometry.pieceLength / BLOCK_LENGTH);
}

/**
 * A request for piece `index` while we choke the peer: served (`state` counts it) if the piece is one
 * we allowed it and the budget is not spent; otherwise undefined (rejected).
 */
export function serveChoked(s: FastState, index: number, geometry: PieceGeometry): FastState | undefined {
  if (!s.sentOut.includes(index) || s.served >= serveBudget(s, geometry)) return undefined;
  return { ...s, served: s.served + 1 };
}
