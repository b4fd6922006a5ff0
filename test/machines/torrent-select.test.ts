/**
 * File selection and priorities in the torrent statechart (issue 17): the picker follows the file
 * priorities given at start and changed while running (`torrent.setFilePriority`, `torrent.setSequential`);
 * `left`, progress and the `complete` state count only the wanted pieces.
 *
 * Geometry of every test: 4 pieces of 32 KiB; files of 40, 48 and 40 KiB, so file 0 is in pieces 0–1,
 * file 1 in pieces 1–2, file 2 in pieces 2–3.
 */
import { describe, expect, it } from 'vitest';
import { FAST, NO_EXT, type TorrentHarness, trackedStart } from './torrent-harness.js';

const KiB = 1024;
const FILES = [40 * KiB, 48 * KiB, 40 * KiB];
const A = '10.0.0.1:1';
const B = '10.0.0.2:1';

const start = trackedStart();

const COMPLETE = { active: { complete: 'seeding' } };
const isComplete = (h: TorrentHarness) => JSON.stringify(h.value()) === JSON.stringify(COMPLETE);
/** Serves A's open requests until the torrent is complete (or nothing more is asked). */
function serveUntilDone(h: TorrentHarness, a: ReturnType<TorrentHarness['peer']>) {
  for (let rounds = 0; rounds < 50 && !isComplete(h); rounds++) if (a.serve() === 0) break;
}
const requested = (p: ReturnType<TorrentHarness['peer']>) => new Set(p.messages('request').map((m) => m.index));

describe('torrent statechart: file selection', () => {
  it('fetches only the pieces of selected files; complete, left and progress count only them', () => {
    const h = start({ peers: [A], files: FILES, filePriorities: ['normal', 'skip', 'skip'] });
    expect(h.context().progress).toMatchObject({ wanted: 64 * KiB, left: 64 * KiB, length: 128 * KiB });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    serveUntilDone(h, a);
    expect(h.value()).toEqual(COMPLETE);
    expect([...requested(a)].sort()).toEqual([0, 1]);
    expect(h.storage.writes.map((w) => w.index).sort()).toEqual([0, 1]);
    expect(h.context().progress).toMatchObject({ verifiedPieces: 2, left: 0, wanted: 64 * KiB });
    expect(h.events).toContainEqual({ type: 'torrent.complete' });
    // The seed still has pieces we may select later: it is not closed as useless.
    expect(h.events.some((e) => e.type === 'torrent.peer' && e.event === 'closed')).toBe(false);
  });

  it('serves high priority pieces first, and follows a priority change while running', () => {
    const h = start({ peers: [A], files: FILES, filePriorities: ['normal', 'normal', 'high'] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    // Pieces 2 and 3 hold bytes of file 2 (high): they are asked for first.
    const first = a.messages('request').map((m) => m.index);
    expect(first.slice(0, 4)).toEqual([2, 2, 3, 3].slice(0, Math.min(4, first.length)));
    expect(first[0]).toBeGreaterThanOrEqual(2);
    // Deselect file 0 (piece 0 only; piece 1 also holds file 1).
    h.actor.send({ type: 'torrent.setFilePriority', index: 0, priority: 'skip' });
    expect(h.context().selection.files).toEqual(['skip', 'normal', 'high']);
    expect(h.context().progress.wanted).toBe(96 * KiB);
    expect(h.value()).toEqual({ active: 'downloading' });
    const before = a.messages('request').length;
    serveUntilDone(h, a);
    expect(h.value()).toEqual(COMPLETE);
    const after = a.messages('request').slice(before);
    expect(after.some((m) => m.index === 0)).toBe(false);
    expect(h.picker().hasPiece(0)).toBe(false);
    expect(h.context().tally.left).toBe(0);
  });

  it('a complete selection that gains a file downloads again, and completes again', () => {
    const h = start({ peers: [A], files: FILES, filePriorities: ['skip', 'skip', 'normal'] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    serveUntilDone(h, a);
    expect(h.value()).toEqual(COMPLETE);
    expect([...requested(a)].sort()).toEqual([2, 3]);
    // Skipping a file that is here already changes nothing: still complete.
    h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'low' });
    expect(h.value()).toEqual(COMPLETE);
    h.actor.send({ type: 'torrent.setFilePriority', index: 0, priority: 'normal' });
    expect(h.value()).toEqual({ active: 'downloading' });
    expect(h.context().progress.left).toBe(64 * KiB);
    serveUntilDone(h, a);
    expect(h.value()).toEqual(COMPLETE);
    expect(h.events.filter((e) => e.type === 'torrent.complete')).toHaveLength(2);
    expect(h.storage.writes.map((w) => w.index).sort()).toEqual([0, 1, 2, 3]);
  });

  it('deselecting every file still lacking completes the torrent at once', () => {
    const h = start({ peers: [A], files: FILES, filePriorities: ['normal', 'skip', 'skip'], have: [0, 1] });
    expect(h.value()).toEqual(COMPLETE);
    h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'high' });
    expect(h.value()).toEqual({ active: 'downloading' });
    h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'skip' });
    expect(h.value()).toEqual(COMPLETE);
    expect(h.context().progress.left).toBe(0);
  });

  it('while complete, a selection figure made stale by a newer change is counted again', () => {
    const h = start({ peers: [A], files: FILES, filePriorities: ['skip', 'skip', 'normal'] });
    // Two changes queued at once, while the torrent enters `complete`: the first one's figure is stale.
    let once = true;
    h.actor.on('torrent.complete', () => {
      if (!once) return;
      once = false;
      h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'low' });
      h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'high' });
    });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    serveUntilDone(h, a);
    expect(once).toBe(false);
    expect(h.value()).toEqual(COMPLETE);
    expect(h.context().selection).toMatchObject({ files: ['skip', 'skip', 'high'], version: 2 });
    expect(h.picker().priorityOf(3)).toBe(3);
    expect(h.context().tally.left).toBe(0);
  });

  it('deadlines: the pieces a stream waits for are asked for before any other', () => {
    const h = start({ peers: [A], pieces: 8, sequential: true, peerSettings: { minQueue: 2, maxQueue: 2 } });
    h.actor.send({ type: 'torrent.setDeadlines', pieces: [6, 5] });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    expect(a.messages('request').map((m) => m.index)).toEqual([6, 6]);
    a.serve();
    expect(h.picker().hasPiece(6)).toBe(true);
    expect(a.open().map((m) => m.index)).toEqual([5, 5]);
    expect(h.picker().deadlinePieces).toEqual([5]);
    serveUntilDone(h, a);
    expect(h.value()).toEqual(COMPLETE);
  });

  it('a priority for a file the torrent does not have is ignored', () => {
    const h = start({ files: FILES });
    h.actor.send({ type: 'torrent.setFilePriority', index: 3, priority: 'skip' });
    h.actor.send({ type: 'torrent.setFilePriority', index: -1, priority: 'skip' });
    expect(h.context().selection.version).toBe(0);
    expect(h.context().selection.files).toEqual([]);
  });

  it('interest follows the selection: a peer with only skipped pieces becomes interesting once they are wanted', () => {
    const h = start({ peers: [B], files: FILES, filePriorities: ['normal', 'normal', 'skip'] });
    const b = h.peer(B);
    b.connect(NO_EXT, 0x72);
    b.bitfield([3]);
    expect(b.messages('interested')).toHaveLength(0);
    h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'normal' });
    expect(b.messages('interested')).toHaveLength(1);
    h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'skip' });
    expect(b.messages().at(-1)).toEqual({ type: 'not-interested' });
  });

  it('sequential order: new pieces are asked for in index order, changeable while running', () => {
    const h = start({ peers: [A], pieces: 8, sequential: true, peerSettings: { minQueue: 4, maxQueue: 4 } });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    expect(a.messages('request').map((m) => m.index)).toEqual([0, 0, 1, 1]);
    h.actor.send({ type: 'torrent.setSequential', sequential: false });
    expect(h.context().selection.sequential).toBe(false);
    expect(h.picker().sequential).toBe(false);
    serveUntilDone(h, a);
    expect(h.value()).toEqual(COMPLETE);
  });

  it('a selection figure made stale by a piece verified meanwhile is counted again', () => {
    let armed = false;
    const h: TorrentHarness = start({
      peers: [A, B],
      files: FILES,
      filePriorities: ['normal', 'normal', 'skip'],
      storage: 'manual',
      onCommand: (wire, cmd) => {
        // Runs while the torrent handles the first change: a second change and a verified piece queue up.
        if (!armed || wire.key !== B || cmd.type !== 'wire.send' || cmd.message.type !== 'interested') return;
        armed = false;
        h.actor.send({ type: 'torrent.setFilePriority', index: 1, priority: 'high' });
        h.answerWrite();
      },
    });
    const a = h.peer(A);
    a.seed(FAST, 0x71);
    const b = h.peer(B);
    b.connect(NO_EXT, 0x72);
    b.bitfield([3]);
    // One piece of A's blocks arrives and waits for the disk.
    for (let i = 0; i < 10 && h.storage.pending.length === 0; i++) a.serve();
    expect(h.storage.pending.length).toBeGreaterThan(0);
    armed = true;
    h.actor.send({ type: 'torrent.setFilePriority', index: 2, priority: 'normal' });
    expect(armed).toBe(false);
    expect(h.context().tally.left).toBe(h.picker().wantedLeft);
    expect(h.context().tally.verifiedPieces).toBe(1);
    while (h.answerWrite() !== undefined);
    for (let i = 0; i < 50 && !isComplete(h); i++) {
      a.serve();
      while (h.answerWrite() !== undefined);
    }
    expect(h.value()).toEqual(COMPLETE);
  });
});
