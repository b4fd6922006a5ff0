// PiecePicker.pickPiece: whole pieces for a BEP 19 web seed — fresh pieces only while there are any
// (so peers and the web seed never share one), by deadline, priority and order; then, as in endgame,
// an unfinished piece with duplicate requests.
import { describe, expect, it } from 'vitest';
import { PiecePicker } from '../../src/machines/torrent/piece-picker.js';
import { seeded } from '../support/random.js';

const BLOCK = 16 * 1024;
const make = (pieces: number, o: { priorities?: Uint8Array; sequential?: boolean; last?: number } = {}) =>
  new PiecePicker<string>({
    random: seeded(3),
    pieceLength: 4 * BLOCK,
    length: 4 * BLOCK * (pieces - 1) + (o.last ?? 4 * BLOCK),
    ...(o.priorities && { priorities: o.priorities }),
    ...(o.sequential !== undefined && { sequential: o.sequential }),
  });

describe('pickPiece', () => {
  it('reserves every block of a fresh piece; peers then never get a block of it', () => {
    const p = make(6, { last: 1000 });
    p.addPeer('ws', 'all');
    p.addPeer('peer', 'all');
    const got = p.pickPiece('ws')!;
    expect(got.requests.map((r) => r.index)).toEqual(Array(p.blockCount(got.index)).fill(got.index));
    expect(got.requests.reduce((n, r) => n + r.length, 0)).toBe(p.pieceBytes(got.index));
    // Every other block (5 pieces: 4 + 4 + 4 + 4 + 1 blocks, the last piece being short).
    const peerBlocks = p.pick('peer', 1000);
    expect(peerBlocks.filter((r) => r.index !== got.index)).toHaveLength(17);
    // Only once every block is out does endgame duplicate the web seed's (at most 4, the endgame depth).
    expect(peerBlocks.slice(0, 17).some((r) => r.index === got.index)).toBe(false);
    expect(p.inEndgame).toBe(true);
    p.checkInvariants();
    // Nothing fresh is left for a web seed: it would join the unfinished piece with the fewest done.
    expect(new Set(peerBlocks.slice(0, 17).map((r) => r.index)).size).toBe(5);
    expect(p.pickPiece('ws2')).toBeUndefined(); // an unknown source gets nothing
  });

  it('follows deadlines, then priority levels, in order when sequential', () => {
    const p = make(8, { priorities: Uint8Array.from([2, 2, 0, 3, 2, 1, 2, 2]), sequential: true });
    p.addPeer('ws', 'all');
    p.setDeadlines([6]);
    const order = [];
    for (let got = p.pickPiece('ws'); got; got = p.pickPiece('ws')) {
      order.push(got.index);
      for (const r of got.requests) p.blockReceived('ws', r.index, r.begin, r.length);
      p.pieceVerified(got.index);
    }
    expect(order).toEqual([6, 3, 0, 1, 4, 7, 5]);
    p.checkInvariants();
  });

  it('with no fresh piece left, joins an unfinished one: its wanted blocks and duplicates of the requested', () => {
    const p = make(1);
    p.addPeer('peer', 'all');
    p.addPeer('ws', 'all');
    const two = p.pick('peer', 2);
    const got = p.pickPiece('ws')!;
    expect(got.index).toBe(0);
    expect(got.requests).toHaveLength(4);
    expect(p.requestersOf(0, two[0]!.begin).sort()).toEqual(['peer', 'ws']);
    p.checkInvariants();
    // It does not take the same piece twice.
    expect(p.pickPiece('ws')).toBeUndefined();
    // Its blocks complete the piece; the peer's copies are to be cancelled.
    let complete = false;
    const cancels: string[] = [];
    for (const r of got.requests) {
      const res = p.blockReceived('ws', r.index, r.begin, r.length);
      complete ||= res.pieceComplete;
      cancels.push(...res.cancel);
    }
    expect(complete).toBe(true);
    expect(cancels).toEqual(['peer', 'peer']);
    p.checkInvariants();
  });
});
