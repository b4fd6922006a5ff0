/**
 * The inspector's BitTorrent vocabulary and its pure figures: every state of every machine has a
 * meaning (a state added without one fails here), events read in BitTorrent terms, the piece map from
 * a real piece picker at 10 and 100,000 pieces, and the sliding-window rate.
 */
import { describe, expect, it } from 'vitest';
import { InspectCollector, windowRate } from '../../src/app/inspect/collector.js';
import { machineDefinition } from '../../src/app/inspect/definitions.js';
import { closeReasonText, eventMeaning, STATE_MEANINGS } from '../../src/app/inspect/meanings.js';
import { MAX_PIECE_CELLS, pieceCell, type StateDef } from '../../src/app/inspect/protocol.js';
import { pieceMap } from '../../src/app/inspect/summary.js';
import { machineRegistry, machineStructure } from '../../src/machines/registry.js';
import { PiecePicker } from '../../src/machines/torrent/piece-picker.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { actorWords, eventWords, stateWords, statesByPath, topWords } from '../../src/inspector-ui/format.js';

/** Every state path of a machine but the root (`active.waiting.cooling`), from XState's own ids. */
function statePaths(entry: (typeof machineRegistry)[number]): string[] {
  const prefix = `${entry.machine.id}.`;
  return machineStructure(entry.machine).states.map((id) => (id.startsWith(prefix) ? id.slice(prefix.length) : id));
}

describe('state meanings', () => {
  it('every state of every machine in the registry has a meaning, and the table names no other state', () => {
    expect(machineRegistry.map((m) => m.machine.id).sort()).toEqual(Object.keys(STATE_MEANINGS).sort());
    for (const m of machineRegistry) {
      const paths = statePaths(m);
      expect(paths.length).toBeGreaterThan(0);
      const table = STATE_MEANINGS[m.machine.id]!;
      for (const p of paths) expect(table[p], `${m.machine.id}: state ${p} has no meaning`).toMatch(/\S/);
      for (const p of Object.keys(table)) expect(paths, `${m.machine.id}: ${p} is no state`).toContain(p);
    }
  });

  it('the definitions sent to the page carry each meaning, in words rather than paths', () => {
    for (const m of machineRegistry) {
      const def = machineDefinition(m.machine);
      const walk = (n: StateDef) => {
        if (n.path !== '') {
          expect(n.meaning, `${def.id}: ${n.path}`).toBe(STATE_MEANINGS[def.id]![n.path]);
          expect(n.meaning).not.toMatch(/xstate\./);
        }
        n.states.forEach(walk);
      };
      walk(def.root);
    }
    const tracker = machineDefinition(machineRegistry.find((m) => m.machine.id === 'tracker')!.machine);
    const cooling = tracker.root.states
      .find((s) => s.key === 'active')!
      .states.find((s) => s.key === 'waiting')!
      .states.find((s) => s.key === 'cooling')!;
    expect(cooling.meaning).toMatch(/^waiting/);
  });
});

describe('event meanings', () => {
  it('names peers by their address and says why they left, in BitTorrent terms', () => {
    expect(eventMeaning({ type: 'xstate.done.actor.peer:127.0.0.1:7102#5' })).toBe('peer 127.0.0.1:7102 finished');
    expect(eventMeaning({ type: 'xstate.done.actor.peer:[::1]:7102#12' })).toBe('peer [::1]:7102 finished');
    expect(
      eventMeaning({ type: 'peer.closed', key: '127.0.0.1:7102', reason: 'timeout', detail: 'silent for 120 s' }),
    ).toBe('peer 127.0.0.1:7102 disconnected: timed out (silent for 120 s)');
    expect(eventMeaning({ type: 'peer.closed', key: '10.0.0.2:6881', reason: 'closed-by-peer' })).toBe(
      'peer 10.0.0.2:6881 disconnected: closed by the peer',
    );
    expect(eventMeaning({ type: 'wire.unchoke' })).toBe('the peer unchoked us');
    expect(eventMeaning({ type: 'peer.interest', interested: true })).toMatch(/: interested$/);
    expect(eventMeaning({ type: 'peer.interest', interested: false })).toMatch(/: not interested$/);
    expect(eventMeaning({ type: 'xstate.init' })).toBe('started');
    expect(eventMeaning({ type: 'tracker.response', peers: [1, 2, 3] })).toBe('tracker answered: 3 peers');
    expect(eventMeaning({ type: 'xstate.error.actor.announce' })).toBe('the announce failed');
    expect(eventMeaning({ type: 'xstate.after.minInterval.tracker.active.waiting.cooling' })).toBe(
      'timer: min interval',
    );
    expect(eventMeaning({ type: 'something.new' })).toBeUndefined();
    expect(closeReasonText('not-useful')).toBe('nothing to exchange');
  });

  it('every event a machine handles that has a meaning reads without XState words', () => {
    for (const m of machineRegistry) {
      const walk = (n: StateDef) => {
        for (const t of n.on) {
          const text = eventMeaning({ type: t.event });
          if (text !== undefined) expect(text, t.event).not.toMatch(/xstate|#\d/);
        }
        n.states.forEach(walk);
      };
      walk(machineDefinition(m.machine).root);
    }
  });

  it('the collector writes the meaning beside the raw event type in its log lines', () => {
    const c = new InspectCollector();
    try {
      // An actor-like with a state machine logic: the peer machine, never started (no I/O).
      const peer = machineRegistry.find((m) => m.machine.id === 'peer')!.machine;
      const ref = {
        id: 'peer:127.0.0.1:7102#5',
        sessionId: 'x:1',
        logic: peer,
        system: {},
        getSnapshot: () => ({ status: 'active', value: 'connecting', context: {} }),
      };
      c.observer({ type: '@xstate.actor', actorRef: ref, rootId: 'x:1' } as never);
      c.observer({
        type: '@xstate.snapshot',
        actorRef: ref,
        rootId: 'x:1',
        snapshot: { status: 'active', value: 'connecting' },
        event: { type: 'xstate.init' },
      } as never);
      c.observer({
        type: '@xstate.snapshot',
        actorRef: ref,
        rootId: 'x:1',
        snapshot: { status: 'active', value: 'handshaking' },
        event: { type: 'wire.connected' },
      } as never);
      const log = c.logOf(1)!.lines;
      expect(log.map((l) => [l.event, l.text])).toEqual([
        ['xstate.init', 'started'],
        ['wire.connected', 'TCP connection open'],
      ]);
      expect(log[1]).toMatchObject({ from: ['connecting'], to: ['handshaking'] });
    } finally {
      c.close();
    }
  });
});

describe('piece map', () => {
  const picker = (pieces: number) => new PiecePicker<string>({ pieceLength: 16384, length: pieces * 16384 });

  it('10 pieces: one cell each, done, in progress and missing counted from the picker', () => {
    const p = picker(10);
    p.pieceVerified(0);
    p.pieceVerified(3);
    p.addPeer('a', 'all');
    const asked = p.pick('a', 2); // the next two pieces (one block each) are now in progress
    expect(asked).toHaveLength(2);
    const map = pieceMap({ svc: { picker: p }, info: { pieceCount: 10 } })!;
    expect(map).toMatchObject({ count: 10, done: 2, inProgress: 2, missing: 6, per: 1 });
    expect(map.cells).toHaveLength(10);
    expect(map.cells[0]).toBe('8');
    expect(map.cells[3]).toBe('8');
    for (const r of asked) expect(pieceCell(map.cells[r.index]!)).toEqual({ level: 0, inProgress: true });
    expect([...map.cells].filter((ch) => ch === '0')).toHaveLength(6);
  });

  it('100,000 pieces fit in the cell budget, each cell telling how much of its range is done', () => {
    const n = 100_000;
    const p = picker(n);
    for (let i = 0; i < n / 2; i++) p.pieceVerified(i); // the first half
    const map = pieceMap({ svc: { picker: p } })!;
    expect(map.count).toBe(n);
    expect(map.done).toBe(n / 2);
    expect(map.missing).toBe(n / 2);
    expect(map.cells.length).toBeLessThanOrEqual(MAX_PIECE_CELLS);
    expect(map.cells.length).toBe(Math.ceil(n / map.per));
    const levels = [...map.cells].map((ch) => pieceCell(ch).level);
    // Whole cells before the middle are done, after it missing; the one straddling it is partly done.
    const mid = Math.floor(n / 2 / map.per);
    expect(levels.slice(0, mid).every((l) => l === 8)).toBe(true);
    expect(levels.slice(mid + 1).every((l) => l === 0)).toBe(true);
    expect(levels[mid]!).toBeGreaterThan(0);
    expect(levels[mid]!).toBeLessThan(8);
  });

  it('while the data is being checked (no picker yet) every piece is missing', () => {
    expect(pieceMap({ info: { pieceCount: 7 } })).toEqual({
      count: 7,
      done: 0,
      inProgress: 0,
      missing: 7,
      per: 1,
      cells: '0000000',
    });
    expect(pieceMap({})).toBeUndefined();
    expect(pieceMap(null)).toBeUndefined();
  });

  it('counts a resumed bitfield as done', () => {
    const p = PiecePicker.fromMetainfo<string>(
      { pieceLength: 16384, length: 8 * 16384 },
      { have: Bitfield.fromBytes(new Uint8Array([0b1111_0000]), 8) },
    );
    expect(pieceMap({ svc: { picker: p } })).toMatchObject({ done: 4, missing: 4, cells: '88880000' });
  });
});

describe("windowRate (the rate shown per peer; the header shows the torrent's progress rates)", () => {
  it('is the bytes over the last 5 s of per-second samples', () => {
    const samples = [0, 1, 2, 3, 4, 5].map((s) => ({ at: 10_000 + s * 1000, down: s * 100_000, up: s * 1000 }));
    expect(windowRate(samples)).toEqual({ down: 100_000, up: 1000 });
    // An uneven flow: 500 kB in the first second, nothing after — still 100 kB/s over the window.
    const bursty = [0, 1, 2, 3, 4, 5].map((s) => ({ at: s * 1000, down: s === 0 ? 0 : 500_000, up: 0 }));
    expect(windowRate(bursty).down).toBe(100_000);
  });

  it('uses what it has while young, and is 0 with fewer than two samples', () => {
    expect(windowRate([])).toEqual({ down: 0, up: 0 });
    expect(windowRate([{ at: 0, down: 5, up: 5 }])).toEqual({ down: 0, up: 0 });
    expect(
      windowRate([
        { at: 0, down: 0, up: 0 },
        { at: 2000, down: 4000, up: 0 },
      ]).down,
    ).toBe(2000);
  });

  it('ignores samples older than the window', () => {
    const s = [
      { at: 0, down: 0, up: 0 },
      { at: 10_000, down: 1_000_000, up: 0 },
      { at: 15_000, down: 1_500_000, up: 0 },
    ];
    expect(windowRate(s).down).toBe(100_000);
  });
});

describe("the page's words (src/inspector-ui/format.ts)", () => {
  const def = (id: string) => machineDefinition(machineRegistry.find((m) => m.machine.id === id)!.machine);

  it("shows a state value as the meanings of its active states, a peer's regions side by side", () => {
    const tracker = statesByPath(def('tracker'));
    expect(stateWords(tracker, { active: { waiting: 'cooling' } })).toBe(
      STATE_MEANINGS.tracker!['active.waiting.cooling'],
    );
    const peer = statesByPath(def('peer'));
    const words = stateWords(peer, {
      connected: {
        amChoking: 'choking',
        peerInterested: 'interested',
        amInterested: 'interested',
        peerChoking: 'unchoked',
        requests: 'active',
      },
    });
    expect(words.split(' · ')).toHaveLength(5);
    expect(words).toContain('the peer unchokes us (we may download)');
    expect(words).not.toMatch(/connected\.|amChoking/);
    expect(topWords(peer, 'handshaking')).toBe('exchanging the BitTorrent handshake');
    // A state the page has no meaning for shows as its path rather than nothing.
    expect(stateWords(peer, 'somewhereNew')).toBe('somewhereNew');
  });

  it('names actors and events without XState words', () => {
    expect(
      actorWords({ machine: 'peer', name: 'peer:127.0.0.1:7102#5', context: {}, peer: { address: '127.0.0.1:7102' } }),
    ).toBe('peer 127.0.0.1:7102');
    expect(
      actorWords({ machine: 'tracker', name: 'tracker:http://t/announce', context: { url: 'http://t/announce' } }),
    ).toBe('tracker http://t/announce');
    expect(actorWords({ machine: 'choker', name: 'choker', context: {} })).toBe('choker');
    expect(eventWords({ event: 'xstate.done.actor.peer:1.2.3.4:5#6', text: 'peer 1.2.3.4:5 finished' })).toBe(
      'peer 1.2.3.4:5 finished',
    );
    expect(eventWords({ event: 'xstate.done.state.x' })).toBe('done state x');
    expect(eventWords({ event: 'wire.port' })).toBe('wire.port');
  });
});

const machine = (id: string) => machineRegistry.find((m) => m.machine.id === id)!.machine;
/** A downloading torrent actor as the collector sees it; `context` is read at every flush (change it in place). */
const fakeTorrent = (context: object) => ({
  id: 'x:0',
  sessionId: 'x:0',
  logic: machine('torrent'),
  system: {},
  getSnapshot: () => ({ status: 'active', value: { active: 'downloading' }, context }),
});

describe('the collector measures the rates the page shows', () => {
  it("each peer's rate is its window rate; the torrent's (the header's) is its progress rate, the CLI's figure", () => {
    let now = 100_000;
    const c = new InspectCollector({ now: () => now });
    try {
      const torrentCtx = { info: { pieceCount: 4 }, svc: {}, progress: { downloadRate: 0, uploadRate: 0 } };
      const torrent = fakeTorrent(torrentCtx);
      const traffic = [
        { downloaded: 0, uploaded: 0 },
        { downloaded: 0, uploaded: 0 },
      ];
      const peers = traffic.map((t, i) => ({
        id: `peer:127.0.0.1:700${i}#${i}`,
        sessionId: `x:${i + 1}`,
        logic: machine('peer'),
        system: {},
        _parent: torrent,
        getSnapshot: () => ({ status: 'active', value: 'handshaking', context: { traffic: t } }),
      }));
      for (const ref of [torrent, ...peers])
        c.observer({ type: '@xstate.actor', actorRef: ref, rootId: 'x:0' } as never);
      // Six per-second samples: peer 0 at 100 kB/s down, peer 1 at 50 kB/s down and 10 kB/s up.
      for (let s = 0; s < 6; s++) {
        traffic[0]!.downloaded = s * 100_000;
        traffic[1]!.downloaded = s * 50_000;
        traffic[1]!.uploaded = s * 10_000;
        // The torrent's own figure: its peers' window rates summed (see the torrent machine's progressOf).
        if (s > 0) torrentCtx.progress = { downloadRate: 150_000, uploadRate: 10_000 };
        c.flush();
        now += 1000;
      }
      const hello = c.hello();
      const byName = new Map(hello.actors.map((a) => [a.name, a]));
      expect(byName.get('peer:127.0.0.1:7000#0')!.rates).toEqual({ down: 100_000, up: 0 });
      expect(byName.get('peer:127.0.0.1:7001#1')!.rates).toEqual({ down: 50_000, up: 10_000 });
      const t = hello.actors.find((a) => a.machine === 'torrent')!;
      expect(t.rates).toEqual({ down: 150_000, up: 10_000 });
      expect(t.pieces).toMatchObject({ count: 4, done: 0, missing: 4 });
      // Peer 1 stops sending: its rate falls over the window, and the sum with it.
      for (let s = 0; s < 3; s++) {
        traffic[0]!.downloaded += 100_000;
        torrentCtx.progress = { downloadRate: 100_000 + (s === 2 ? 20_000 : 40_000), uploadRate: 0 };
        c.flush();
        now += 1000;
      }
      const later = c.hello();
      const p1 = later.actors.find((a) => a.name === 'peer:127.0.0.1:7001#1')!;
      const t2 = later.actors.find((a) => a.machine === 'torrent')!;
      expect(p1.rates!.down).toBe(20_000); // 100 kB over the last 5 s
      expect(t2.rates!.down).toBe(120_000);
    } finally {
      c.close();
    }
  });

  it("a peer's encryption is its torrent's entry for it (`peers[key].encryption`)", () => {
    const c = new InspectCollector();
    try {
      const key = '127.0.0.1:7000';
      const torrentCtx = {
        info: { pieceCount: 4 },
        svc: {},
        peers: { [key]: { encryption: 'rc4' } } as Record<string, { encryption: string }>,
      };
      const torrent = fakeTorrent(torrentCtx);
      const peer = {
        id: `peer:${key}#1`,
        sessionId: 'x:1',
        logic: machine('peer'),
        system: {},
        _parent: torrent,
        getSnapshot: () => ({
          status: 'active',
          value: 'handshaking',
          context: { key, traffic: { downloaded: 0, uploaded: 0 } },
        }),
      };
      for (const ref of [torrent, peer]) c.observer({ type: '@xstate.actor', actorRef: ref, rootId: 'x:0' } as never);
      c.flush();
      expect(c.hello().actors.find((a) => a.machine === 'peer')!.peer!.encryption).toBe('rc4');
      torrentCtx.peers = {};
      c.flush();
      expect(c.hello().actors.find((a) => a.machine === 'peer')!.peer!.encryption).toBeUndefined();
    } finally {
      c.close();
    }
  });

  it("a web seed's rate is its torrent's `progress.webseedRates` figure for its URL", () => {
    let now = 100_000;
    const c = new InspectCollector({ now: () => now });
    try {
      const url = 'http://127.0.0.1:1/file.bin';
      const torrentCtx = {
        info: { pieceCount: 4 },
        svc: {},
        progress: { downloadRate: 70_000, uploadRate: 0, webseedRates: { [url]: 70_000 } as Record<string, number> },
      };
      const torrent = fakeTorrent(torrentCtx);
      const webseed = {
        id: `webseed:${url}`,
        sessionId: 'x:1',
        logic: machine('webseed'),
        system: {},
        _parent: torrent,
        getSnapshot: () => ({ status: 'active', value: 'fetching', context: { url, key: `ws:${url}` } }),
      };
      for (const ref of [torrent, webseed])
        c.observer({ type: '@xstate.actor', actorRef: ref, rootId: 'x:0' } as never);
      c.flush();
      const ws = () => c.hello().actors.find((a) => a.machine === 'webseed')!;
      expect(ws().rates).toEqual({ down: 70_000, up: 0 });
      expect(c.hello().actors.find((a) => a.machine === 'torrent')!.rates).toEqual({ down: 70_000, up: 0 });
      torrentCtx.progress = { downloadRate: 0, uploadRate: 0, webseedRates: { [url]: 0 } };
      now += 1000;
      c.flush();
      expect(ws().rates).toEqual({ down: 0, up: 0 });
    } finally {
      c.close();
    }
  });
});
