import { describe, expect, it } from 'vitest';
import { piecePriorities, selectedBytes } from '../../src/machines/torrent/file-priority.js';
import { PiecePicker } from '../../src/machines/torrent/piece-picker.js';
import { isBtError } from '../../src/protocol/errors.js';
import { seeded } from '../support/random.js';

describe('file priorities → piece priorities', () => {
  it('gives a piece the highest priority of the files it holds bytes of', () => {
    // pieces of 8: [0,8) [8,16) [16,20); files [0,10) [10,20)
    expect([...piecePriorities([{ length: 10 }, { length: 10 }], ['skip', 'high'], 8)]).toEqual([0, 3, 3]);
    expect([...piecePriorities([{ length: 10 }, { length: 10 }], ['low', 'skip'], 8)]).toEqual([1, 1, 0]);
    expect([...piecePriorities([{ length: 10 }, { length: 10 }], [], 8)]).toEqual([2, 2, 2]);
  });

  it('numbers files without padding files, which count for nothing, and ignores empty files', () => {
    const files = [{ length: 5 }, { length: 3, padding: true }, { length: 0 }, { length: 8 }];
    expect([...piecePriorities(files, ['skip', 'high', 'low'], 8)]).toEqual([0, 1]);
    expect(selectedBytes(files, ['skip', 'high', 'low'])).toBe(8);
    expect(selectedBytes(files, ['normal', 'skip', 'skip'])).toBe(5);
  });
});

describe('PiecePicker priorities', () => {
  const BLOCK = 16 * 1024;
  const make = (priorities: number[], sequential = false) =>
    new PiecePicker<string>({
      pieceLength: BLOCK,
      length: priorities.length * BLOCK,
      random: seeded(3),
      priorities: Uint8Array.from(priorities),
      sequential,
    });

  it('never picks a skipped piece, and is not interested in a peer that has only skipped pieces', () => {
    const p = make([0, 2, 0, 2]);
    p.addPeer('a', 'all');
    expect(
      p
        .pick('a', 10)
        .map((r) => r.index)
        .sort(),
    ).toEqual([1, 3]);
    expect(p.wantedLeft).toBe(2 * BLOCK);
    expect(p.left).toBe(4 * BLOCK);
    const q = make([0, 2]);
    const only0 = q.bitfield();
    only0.set(0);
    expect(q.addPeer('b', only0)).toBe(false);
    q.checkInvariants();
  });

  it('picks high before normal before low, and in index order when sequential', () => {
    const p = make([1, 2, 3, 2, 1, 3]);
    p.addPeer('a', 'all');
    const levels = p.pick('a', 6).map((r) => p.priorityOf(r.index));
    expect(levels).toEqual([3, 3, 2, 2, 1, 1]);
    const s = make([2, 2, 2, 2, 2, 2], true);
    s.addPeer('a', 'all');
    expect(s.pick('a', 6).map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('changes priorities while running: a skipped piece in progress stops counting, a selected one starts', () => {
    const p = make([2, 2, 2]);
    p.addPeer('a', 'all');
    const [first] = p.pick('a', 1);
    p.setPriorities(Uint8Array.from([0, 0, 0].map((_, i) => (i === first!.index ? 0 : 2))));
    expect(p.wantedLeft).toBe(2 * BLOCK);
    // The outstanding block still arrives and verifies; it is not wanted, so nothing changes for the selection.
    expect(p.blockReceived('a', first!.index, 0, BLOCK).pieceComplete).toBe(true);
    p.pieceVerified(first!.index);
    expect(p.wantedLeft).toBe(2 * BLOCK);
    p.setPriorities(Uint8Array.from([0, 0, 0]));
    expect(p.isFinished).toBe(true);
    expect(p.inEndgame).toBe(false);
    expect(p.pick('a', 5)).toEqual([]);
    p.setPriorities(Uint8Array.from([3, 3, 3]));
    expect(p.isFinished).toBe(false);
    expect(p.pick('a', 5)).toHaveLength(2);
    p.checkInvariants();
  });

  it('refuses priorities of the wrong length or level with a typed error', () => {
    const p = make([2, 2]);
    for (const bad of [Uint8Array.from([2]), Uint8Array.from([2, 4])]) {
      let err: unknown;
      try {
        p.setPriorities(bad);
      } catch (e) {
        err = e;
      }
      expect(isBtError(err) && err.code).toBe('BT_ERR_PICKER_OPTIONS');
    }
  });
});
