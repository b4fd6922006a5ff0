/**
 * The terminal display of `bt-actor run`: the pure layout of the progress line (never wider than the
 * terminal, fields left out in order as it narrows, names cut by display width), the summary, and the
 * renderer that keeps messages above the line, re-lays it out on resize and ends on its last frame.
 * What it draws is replayed on a small terminal emulator (test/support/terminal.ts) with autowrap.
 */
import { describe, expect, it } from 'vitest';
import {
  displayWidth,
  formatEta,
  layoutProgress,
  peerCounts,
  summaryLines,
  truncateToWidth,
  TtyDisplay,
  type ProgressView,
} from '../../src/app/display.js';
import { printText } from '../../src/app/run.js';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { Terminal, textWidth } from '../support/terminal.js';

const MiB = 1024 * 1024;
const PEERS = { connected: 3, connecting: 2, downloadingFrom: 2, uploadingTo: 1, known: 40 };
const view = (over: Partial<ProgressView> = {}): ProgressView => ({
  name: 'ubuntu-24.04.1-desktop-amd64.iso',
  phase: 'downloading',
  done: 45.2 * MiB,
  length: 100 * MiB,
  checked: 0,
  pieceCount: 400,
  uploaded: 3 * MiB,
  downloadRate: 2.1 * MiB,
  uploadRate: 12_000,
  peers: PEERS,
  ...over,
});

const NAMES = [
  'ubuntu-24.04.1-desktop-amd64.iso',
  '日本語のファイル名がとても長いトレントの名前です、本当に長い',
  'ünïcødé — e\u0301te\u0301 (combining) ' + 'x'.repeat(200),
  'emoji 👨‍👩‍👧‍👦 family 🇫🇷 flag ✨ sparkles',
  'evil\x1b]0;pwned\x07\x1b[2Jname\u202e',
  '',
];
const VIEWS: ProgressView[] = [
  view(),
  view({ phase: 'checking', checked: 120, done: 0 }),
  view({ phase: 'seeding', done: 100 * MiB, uploaded: 250 * MiB }),
  view({
    done: 0,
    downloadRate: 0,
    peers: { connected: 0, connecting: 0, downloadingFrom: 0, uploadingTo: 0, known: 0 },
  }),
  view({ done: 1023 * MiB, length: 8 * 1024 * MiB, downloadRate: 1023.9 * 1024, uploadRate: 1023.9 * 1024 }),
];

describe('layoutProgress', () => {
  it('never lays out a line wider than the width, from 200 columns down to 1, whatever the name', () => {
    for (const name of NAMES)
      for (const v of VIEWS)
        for (let width = 1; width <= 200; width++) {
          const line = layoutProgress({ ...v, name }, width);
          // Measured by the emulator's own widths, and by the module's.
          expect(textWidth(line), `${width}: ${line}`).toBeLessThanOrEqual(width);
          expect(displayWidth(line)).toBeLessThanOrEqual(width);
          // eslint-disable-next-line no-control-regex
          expect(line).not.toMatch(/[\x00-\x1f\x7f\u202e]/);
        }
  });

  it('at 200 columns shows everything: name, bar, percent, bytes, both rates, ETA, peers by state and known', () => {
    const line = layoutProgress(view(), 200);
    expect(line).toMatch(/^ubuntu-24\.04\.1-desktop-amd64\.iso {2}\[#{13}-{17}\] +45\.2% {2}45\.2 MiB\/100 MiB/);
    expect(line).toContain('↓ 2.10 MiB/s');
    expect(line).toContain('↑ 11.7 KiB/s');
    expect(line).toContain('ETA 26s');
    expect(line).toContain('3 peers (↓2 ↑1) +2 connecting, 40 known');
  });

  it('at 80 columns leaves out the name and the peer details first; at 40 keeps bar, percent and rate', () => {
    const at80 = layoutProgress(view(), 79);
    expect(at80).not.toContain('ubuntu');
    expect(at80).toMatch(/^\[#+-+\] +45\.2% {2}45\.2 MiB\/100 MiB {2}↓ 2\.10 MiB\/s {2}ETA 26s +3 peers$/);
    const at40 = layoutProgress(view(), 39);
    expect(at40).toMatch(/^\[#{4}-{6}\] +45\.2% {2}↓ 2\.10 MiB\/s$/);
    expect(layoutProgress(view(), 20)).toBe('[####------]   45.2%');
    expect(layoutProgress(view(), 8)).toBe('45.2%');
  });

  it('web seeds in use follow the peers; left out before the peer count as the width shrinks', () => {
    expect(layoutProgress(view({ webseeds: 2 }), 200)).toMatch(
      /3 peers \(↓2 ↑1\) \+2 connecting, 40 known, 2 web seeds$/,
    );
    expect(layoutProgress(view({ webseeds: 1, peers: { ...view().peers, known: 0, connecting: 0 } }), 200)).toMatch(
      /3 peers \(↓2 ↑1\), 1 web seed$/,
    );
    expect(layoutProgress(view({ webseeds: 1 }), 79)).toMatch(/3 peers$/);
    expect(layoutProgress(view({ webseeds: 0 }), 200)).not.toContain('web seed');
  });

  it('seeding shows the upload side: rate, uploaded, ratio (uploaded ÷ size)', () => {
    const line = layoutProgress(VIEWS[2]!, 200);
    expect(line).toMatch(
      /\[#{30}\] +100\.0% {2}seeding {2}↑ 11\.7 KiB\/s {2}uploaded 250 MiB {2}ratio 2\.50 {2}3 peers/,
    );
    expect(line).not.toContain('ETA');
  });

  it('a magnet link before its metadata: fetching metadata (n peers), an empty bar, no byte counts', () => {
    const line = layoutProgress(
      view({ name: 'dn-name', phase: 'metadata', metadataPeers: 2, done: 0, length: 0, pieceCount: 0 }),
      120,
    );
    expect(line).toMatch(/^dn-name {2}\[-{30}\] {2}fetching metadata \(2 peers\)/);
    expect(line).not.toMatch(/MiB|%/);
    expect(layoutProgress(view({ phase: 'metadata', metadataPeers: 1 }), 60)).toContain('fetching metadata (1 peer)');
  });

  it('checking shows the pieces checked', () => {
    expect(layoutProgress(VIEWS[1]!, 120)).toMatch(/\[#{9}-{21}\] {2}checking 30\.0% {2}120\/400 pieces {2}3 peers/);
  });

  it('100.0% only when every byte is there; ETA from the rate, -- without one', () => {
    expect(layoutProgress(view({ done: 100 * MiB - 1 }), 200)).toContain(' 99.9%');
    expect(layoutProgress(view({ done: 100 * MiB - 1 }), 200)).toContain('[#############################-]');
    expect(layoutProgress(view({ downloadRate: 0 }), 200)).toContain('ETA --');
    expect(formatEta(42)).toBe('42s');
    expect(formatEta(303)).toBe('5m03s');
    expect(formatEta(7500)).toBe('2h05m');
    expect(formatEta(3 * 86_400 + 4 * 3600)).toBe('3d04h');
  });

  it('fields keep their place from one redraw to the next (rates and bytes padded, the bar fixed per width)', () => {
    const a = layoutProgress(view({ done: 1.5 * MiB, downloadRate: 800 }), 100);
    const b = layoutProgress(view({ done: 45.25 * MiB, downloadRate: 1000.5 * 1024 }), 100);
    expect(a.indexOf('↓')).toBe(b.indexOf('↓'));
    expect(a.indexOf('ETA')).toBe(b.indexOf('ETA'));
    expect(a.indexOf(']')).toBe(b.indexOf(']'));
  });

  it('names: escaped, and cut by display width without splitting a character', () => {
    const wide = layoutProgress(view({ name: NAMES[1]! }), 200);
    const name = wide.slice(0, wide.indexOf('  ['));
    expect(name.endsWith('…')).toBe(true);
    expect(textWidth(name)).toBeLessThanOrEqual(32);
    expect(NAMES[1]!.startsWith(name.slice(0, -1))).toBe(true);
    const evil = layoutProgress(view({ name: NAMES[4]!, peers: { ...PEERS, known: 0, connecting: 0 } }), 200);
    expect(evil.startsWith('evil\\u001b]0;pwned\\u0007')).toBe(true);
  });
});

describe('display width', () => {
  it('counts wide characters as 2 columns, marks as 0, and truncates between graphemes', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('日本語')).toBe(6);
    expect(displayWidth('e\u0301te\u0301')).toBe(3);
    expect(displayWidth('👨‍👩‍👧‍👦')).toBe(2);
    expect(truncateToWidth('日本語のファイル', 7)).toBe('日本語…');
    expect(truncateToWidth('e\u0301e\u0301e\u0301e\u0301', 3)).toBe('e\u0301e\u0301…');
    expect(truncateToWidth('a👨‍👩‍👧‍👦b', 3)).toBe('a…');
    expect(truncateToWidth('short', 10)).toBe('short');
  });
});

describe('peer counts', () => {
  it('add up: connected peers are those past the handshake, each counted once; uploading is a subset', () => {
    // The seeder of the report: one leecher, choking us (it has nothing we want), unchoked by us.
    const seeder = peerCounts(
      { connecting: 0, handshaking: 0, choked: 1, downloading: 0, snubbed: 0, idle: 0, uploading: 1 },
      0,
    );
    expect(seeder).toEqual({ connected: 1, connecting: 0, downloadingFrom: 0, uploadingTo: 1, known: 0 });
    expect(layoutProgress(view({ phase: 'seeding', done: 100 * MiB, peers: seeder }), 200)).toMatch(/ 1 peer \(↑1\)$/);
    const busy = peerCounts(
      { connecting: 2, handshaking: 1, choked: 3, downloading: 4, snubbed: 1, idle: 2, uploading: 4 },
      50,
    );
    expect(busy).toEqual({ connected: 10, connecting: 3, downloadingFrom: 4, uploadingTo: 4, known: 50 });
  });
});

describe('summaryLines', () => {
  const base = { name: 'set', dir: '/d', length: 16 * MiB, left: 0, checkSeconds: 0.2 };
  it('a download: how much, how long, the mean rate; uploaded and ratio', () => {
    expect(
      summaryLines({ ...base, state: 'complete', downloaded: 16 * MiB, uploaded: 4 * MiB, downloadSeconds: 4 }),
    ).toEqual(['set: complete → /d', '  downloaded 16.0 MiB in 4.0 s (4.00 MiB/s); uploaded 4.00 MiB (ratio 0.25)']);
  });
  it('data already there (e.g. --check): no made-up speed', () => {
    const [, l] = summaryLines({ ...base, state: 'complete', downloaded: 0, uploaded: 0, downloadSeconds: 0 });
    expect(l).toBe('  already on disk, checked in 0.2 s; nothing to download; uploaded 0 B (ratio 0.00)');
    expect(l).not.toMatch(/\/s/);
  });
  it('a seeding run: time seeding, uploaded, ratio', () => {
    const [, l] = summaryLines({
      ...base,
      state: 'complete',
      downloaded: 0,
      uploaded: 32 * MiB,
      downloadSeconds: 0,
      seedSeconds: 905,
    });
    expect(l).toBe(
      '  already on disk, checked in 0.2 s; nothing to download; uploaded 32.0 MiB (ratio 2.00); seeded for 15 min 05 s',
    );
  });
  it('a stopped run: how far it got', () => {
    expect(
      summaryLines({
        ...base,
        state: 'stopped',
        left: 12 * MiB,
        downloaded: 4 * MiB,
        uploaded: 0,
        downloadSeconds: 65,
      }),
    ).toEqual([
      'set: stopped at 25.0% (4.00 MiB of 16.0 MiB) → /d',
      '  downloaded 4.00 MiB in 1 min 05 s (63.0 KiB/s); uploaded 0 B (ratio 0.00)',
    ]);
  });
});

/** A TtyDisplay on the emulator, its stdout and stderr on the same screen (as in a terminal). */
function screen(columns: number) {
  const term = new Terminal(columns);
  let resize: (() => void) | undefined;
  const writes: { text: string; columns: number }[] = [];
  const display = new TtyDisplay({
    write: (t) => {
      writes.push({ text: t, columns: term.columns });
      term.write(t);
    },
    message: (l) => term.write(`${l}\n`),
    columns: () => term.columns,
    onResize: (fn) => {
      resize = fn;
      return () => (resize = undefined);
    },
  });
  return {
    term,
    display,
    writes,
    resize: (c: number) => {
      term.resize(c);
      resize?.();
    },
    hasResizeListener: () => resize !== undefined,
  };
}

describe('TtyDisplay', () => {
  it('redraws one line in place, prints messages above it, and ends on its last frame', () => {
    const s = screen(80);
    for (let i = 0; i <= 50; i++) s.display.update(view({ done: i * MiB }));
    s.display.message('tracker http://tracker.example/announce: connection refused [BT_ERR_TRACKER_CONNECT]');
    for (let i = 51; i < 100; i++) s.display.update(view({ done: i * MiB }));
    s.display.message('piece 7 failed its hash check');
    s.display.finish(view({ done: 100 * MiB }));
    // Once finished, nothing more is drawn (a timer's late frame included).
    s.display.update(view({ done: 99 * MiB }));
    s.display.finish(view({ done: 99 * MiB }));
    s.term.write('set: complete → /d\n');
    expect(s.term.unknown).toEqual([]);
    // The long message wraps (once: it is 84 columns), as any text does; the progress line never.
    expect(s.term.wraps).toBe(1);
    expect(s.term.screen()).toEqual([
      'tracker http://tracker.example/announce: connection refused [BT_ERR_TRACKER_CONN',
      'ECT]',
      'piece 7 failed its hash check',
      expect.stringMatching(/^\[#{15}\] {2}100\.0% {3}100 MiB\/100 MiB {2}↓ 2\.10 MiB\/s {2}3 peers$/),
      'set: complete → /d',
    ]);
    expect(s.hasResizeListener()).toBe(false);
  });

  it('lays the line out again when the terminal is resized, and no frame is wider than the terminal', () => {
    const s = screen(120);
    s.display.update(view());
    expect(s.term.screen()[0]).toContain('3 peers (↓2 ↑1)');
    s.resize(40);
    expect(s.term.screen()).toEqual(['[####------]   45.2%  ↓ 2.10 MiB/s']);
    s.display.update(view({ done: 46 * MiB }));
    s.resize(80);
    expect(s.term.screen()[0]).toMatch(/^\[#+-+\] +46\.0% .* 3 peers$/);
    expect(s.term.wraps).toBe(0);
    // Every frame written fits the terminal's width of that moment (120, then 40, then 80).
    expect(new Set(s.writes.map((w) => w.columns))).toEqual(new Set([120, 40, 80]));
    // eslint-disable-next-line no-control-regex
    for (const w of s.writes) expect(textWidth(w.text.replace(/\r|\x1b\[K|\n/g, ''))).toBeLessThan(w.columns);
  });
});

describe('messages', () => {
  it('name a tracker URL once', () => {
    const said: string[] = [];
    const url = 'http://127.0.0.1:9/announce';
    printText(
      {
        type: 'announcer.tracker',
        report: {
          type: 'tracker.failed',
          url,
          failure: { code: 'BT_ERR_TRACKER_CONNECT', message: `${url}: ECONNREFUSED` },
          failures: 1,
        },
      } as Parameters<typeof printText>[0],
      (l) => said.push(l),
    );
    expect(said).toEqual([`tracker ${url}: ECONNREFUSED [BT_ERR_TRACKER_CONNECT]`]);
  });

  it("a magnet's fetched metadata: what it says, then one warning per renamed path", () => {
    const said: string[] = [];
    const files = [
      { length: 3, path: ['foo', 'bar.txt'] },
      { length: 4, path: ['foo', 'bar.txt'] },
    ];
    const meta = parseMetainfo(
      encodeBencode({ info: { name: 'temp', 'piece length': 16384, files, pieces: new Uint8Array(20) } }),
    );
    printText(
      {
        type: 'torrent.metadata',
        meta,
        name: meta.name,
        length: meta.length,
        pieceLength: meta.pieceLength,
        pieces: meta.pieceCount,
        files: 2,
        private: false,
      },
      (l) => said.push(l),
    );
    expect(said).toEqual([
      'metadata: temp, 1 piece of 16384 bytes',
      "warning: info.files[1].path 'foo/bar.txt' is laid out as 'foo/bar.1.txt' (duplicate path)",
    ]);
  });
});
