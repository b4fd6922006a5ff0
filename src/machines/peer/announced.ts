/**
 * What a peer said it has, as far as a later announcement needs it. BEP 3 has a peer say what it has
 * once, first (a bitfield, or BEP 6 have-all / have-none), then `have`s. aria2 departs from that: when
 * the `have`s it owes a peer would take more bytes than its bitfield, it sends its whole bitfield again
 * — or have-all once it is complete (aria2's `DefaultBtInteractive::checkHave`). A fast upload to aria2
 * meets that within a second. Such a later announcement is taken when it only adds pieces to the last
 * one: the pieces it adds are reported as `have`s (the torrent's picker ignores one it knew). One that
 * takes a piece back, or adds nothing (a repeat), is a protocol error as before.
 */
import { Bitfield } from '../../protocol/bitfield.js';

/**
 * `false`: nothing said yet; `true`: said, with no bitfield kept (have-none, or `have`s first); the
 * bytes of the latest bitfield; `'all'`: have-all.
 */
export type Announced = boolean | Uint8Array | 'all';

/** A later bitfield or have-all: the pieces it adds (as haves) and the new reference, or a close. */
export function laterAnnouncement(
  before: Announced,
  later: Uint8Array | 'all',
  pieceCount: number,
): { kind: 'haves'; indexes: number[]; announced: Announced } | { kind: 'close'; detail: string } {
  const what = later === 'all' ? 'have-all after its pieces were announced' : 'a second bitfield';
  if (before === 'all') return { kind: 'close', detail: what };
  let next: Bitfield;
  try {
    next = later === 'all' ? Bitfield.full(pieceCount) : Bitfield.fromBytes(later, pieceCount);
  } catch (err) {
    return { kind: 'close', detail: (err as Error).message };
  }
  const prev = before instanceof Uint8Array ? Bitfield.fromBytes(before, pieceCount) : undefined;
  const indexes: number[] = [];
  for (const i of next.setBits()) if (!prev?.has(i)) indexes.push(i);
  const takesBack = prev !== undefined && [...prev.setBits()].some((i) => !next.has(i));
  if (takesBack || indexes.length === 0) return { kind: 'close', detail: what };
  return { kind: 'haves', indexes, announced: later === 'all' ? 'all' : later };
}
