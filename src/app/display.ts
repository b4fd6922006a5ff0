/**
 * The terminal display of `bt-actor run` (and `demo`): a progress line laid out for the terminal's
 * width, messages printed above it on lines of their own, and the summary printed at the end.
 *
 * The layout is pure ({@link layoutProgress}: a snapshot and a width → one line no wider than the
 * width); {@link TtyDisplay} is the renderer that draws it, redraws it on resize, and keeps it below
 * the messages.
 */
import { formatBytes, printable } from './format.js';

// ——— display width ———

// Made at first use: building a Segmenter loads ICU's break rules, ~5-15 ms of every start otherwise
// (docs/performance.md, Profiles, start-up), and plain ASCII text never needs one.
let segmenter: Intl.Segmenter | undefined;
const graphemes = (text: string) => (segmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' })).segment(text);

/** Code point ranges a terminal draws two columns wide (East Asian Wide and Fullwidth, emoji). */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4],
  [0x17000, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f200, 0x1f251],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x1f7e0, 0x1f7eb],
  [0x1f90c, 0x1f9ff],
  [0x1fa70, 0x1faff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function isWide(cp: number): boolean {
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = WIDE[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

const ZERO_WIDTH = /^[\p{M}\p{Cc}\p{Cf}]/u;

/** Columns one grapheme takes: 2 for wide characters and emoji, 0 for a lone mark or control, else 1. */
function graphemeWidth(g: string): number {
  const cp = g.codePointAt(0)!;
  if (ZERO_WIDTH.test(g)) return 0;
  if (isWide(cp) || g.includes('\ufe0f')) return 2;
  return 1;
}

/** How many columns `text` takes on a terminal (graphemes; wide characters count 2, marks 0). */
export function displayWidth(text: string): number {
  if (/^[\x20-\x7e]*$/.test(text)) return text.length;
  let w = 0;
  for (const { segment } of graphemes(text)) w += graphemeWidth(segment);
  return w;
}

/**
 * `text` cut to at most `width` columns, never inside a grapheme (nor a wide character); a cut text
 * ends with `…`.
 */
export function truncateToWidth(text: string, width: number): string {
  if (width <= 0) return '';
  if (displayWidth(text) <= width) return text;
  const room = width - 1; // the ellipsis
  let out = '';
  let w = 0;
  for (const { segment } of graphemes(text)) {
    const gw = graphemeWidth(segment);
    if (w + gw > room) break;
    out += segment;
    w += gw;
  }
  return `${out}…`;
}

// ——— numbers ———

/** Seconds as an ETA: `42s`, `5m03s`, `2h05m`, `3d04h`. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  const two = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${two(Math.floor((s % 86_400) / 3600))}h`;
}

/** A duration for the summary: `0.4 s`, `15.1 s`, `5 min 03 s`, `2 h 05 min`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s > 0 && s < 0.1) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  const r = Math.round(s);
  const two = (n: number) => String(n).padStart(2, '0');
  if (r < 3600) return `${Math.floor(r / 60)} min ${two(r % 60)} s`;
  return `${Math.floor(r / 3600)} h ${two(Math.floor((r % 3600) / 60))} min`;
}

/** A rate in bytes per second: `1.50 MiB/s`, `0 B/s`. */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.max(0, Math.round(bytesPerSecond)))}/s`;
}

/** A rate padded to its widest (`1023 KiB/s`), so that the fields after it stay in place. */
const rate = (bytesPerSecond: number) => formatRate(bytesPerSecond).padStart(10);

/** Percent done with one decimal, rounded down: 100.0 only when everything is there. */
function percentOf(done: number, total: number): string {
  if (total <= 0 || done >= total) return '100.0';
  return (Math.floor((1000 * done) / total) / 10).toFixed(1);
}

// ——— the progress line ———

/** Peers as the display counts them, all read from one snapshot of the torrent's peer actors. */
export interface PeerCounts {
  /** Peers past the handshake. */
  connected: number;
  /** Connections still being made (TCP connect or handshake). */
  connecting: number;
  /** Connected peers we are downloading from (they unchoked us and we ask for blocks). */
  downloadingFrom: number;
  /** Connected peers we unchoked (we upload to them when they ask). */
  uploadingTo: number;
  /** Addresses known from trackers and `--peer` (connected or not). */
  known: number;
}

/** The peer counts from {@link peerStates}' tally of the peer actors' states, and the known addresses. */
export function peerCounts(states: Record<string, number>, known: number): PeerCounts {
  const n = (k: string) => states[k] ?? 0;
  return {
    connected: n('choked') + n('downloading') + n('snubbed') + n('idle'),
    connecting: n('connecting') + n('handshaking'),
    downloadingFrom: n('downloading'),
    uploadingTo: n('uploading'),
    known,
  };
}

/** What the progress line shows. */
export interface ProgressView {
  /** The torrent's name (escaped for the terminal here). */
  name: string;
  /**
   * metadata: a magnet link's info dictionary is fetched from peers; checking: existing data is
   * checked; downloading; seeding: complete, serving peers.
   */
  phase: 'metadata' | 'checking' | 'downloading' | 'seeding';
  /** In the metadata phase: peers connected for it (`peers.connected` counts the download's). */
  metadataPeers?: number;
  /** Bytes verified, and the torrent's size. */
  done: number;
  length: number;
  /** While checking: pieces checked, of `pieceCount`. */
  checked: number;
  pieceCount: number;
  uploaded: number;
  /** Bytes per second (the torrent's sliding-window rates). */
  downloadRate: number;
  uploadRate: number;
  peers: PeerCounts;
  /** BEP 19 web seeds in use (shown when there are any). */
  webseeds?: number;
}

/** One field of the line: its text, its rank (fields of higher rank are left out first), what precedes it. */
interface Field {
  text: string;
  drop: number;
  /** The separator before it (two spaces unless said). */
  sep?: string;
}

/** The bar's width for a line of `width` columns: fixed per range of widths, so it does not jump between redraws. */
function barWidth(width: number): number {
  return width >= 120 ? 30 : width >= 90 ? 20 : width >= 60 ? 15 : 10;
}
const BAR_MIN = 10;
const NAME_MIN = 8;
const NAME_MAX = 32;

/**
 * The progress line for a terminal `width` columns wide: never wider. The bar's width is fixed per
 * range of widths (30, 20, 15, 10 columns); fields are left out as the width shrinks: first the
 * name (shown only when everything else fits, cut by display width), then the known and connecting
 * peers, the per-state peer counts, the upload rate, the bytes, the peer count, the ETA, the download
 * rate, and at last the bar: the percent stays. The name is escaped ({@link printable}).
 *
 * @example
 * layoutProgress(view, 79);
 * // '[######---------]   45.2%  45.2 MiB/100 MiB  ↓ 2.10 MiB/s  ETA 26s    3 peers'
 */
export function layoutProgress(v: ProgressView, width: number): string {
  if (width <= 0) return '';
  const fields: Field[] = [];
  const p = v.peers;
  if (v.phase === 'metadata') {
    const n = v.metadataPeers ?? 0;
    fields.push({ text: `fetching metadata (${n} ${n === 1 ? 'peer' : 'peers'})`, drop: 0 });
  } else if (v.phase === 'checking') {
    fields.push({ text: `checking ${percentOf(v.checked, v.pieceCount)}%`, drop: 0 });
    fields.push({ text: `${v.checked}/${v.pieceCount} pieces`, drop: 5 });
  } else {
    fields.push({ text: `${percentOf(v.done, v.length).padStart(5)}%`, drop: 0 });
    if (v.phase === 'seeding') {
      fields.push({ text: 'seeding', drop: 1 });
      fields.push({ text: `↑ ${rate(v.uploadRate)}`, drop: 2 });
      const ratio = v.length > 0 ? v.uploaded / v.length : 0;
      fields.push({ text: `uploaded ${formatBytes(v.uploaded)}`, drop: 5 });
      fields.push({ text: `ratio ${ratio.toFixed(2)}`, drop: 3 });
    } else {
      fields.push({ text: `${formatBytes(v.done).padStart(8)}/${formatBytes(v.length)}`, drop: 5 });
      fields.push({ text: `↓ ${rate(v.downloadRate)}`, drop: 1 });
      fields.push({ text: `↑ ${rate(v.uploadRate)}`, drop: 6 });
      if (v.done < v.length) {
        const eta = v.downloadRate > 0 ? formatEta((v.length - v.done) / v.downloadRate) : '--';
        fields.push({ text: `ETA ${eta.padEnd(5)}`, drop: 3 });
      }
    }
  }
  const detail = [p.downloadingFrom > 0 && `↓${p.downloadingFrom}`, p.uploadingTo > 0 && `↑${p.uploadingTo}`]
    .filter(Boolean)
    .join(' ');
  if (v.phase !== 'metadata') fields.push({ text: `${p.connected} ${p.connected === 1 ? 'peer' : 'peers'}`, drop: 4 });
  if (detail) fields.push({ text: `(${detail})`, drop: 7, sep: ' ' });
  if (p.connecting > 0) fields.push({ text: `+${p.connecting} connecting`, drop: 8, sep: ' ' });
  if (p.known > 0) fields.push({ text: `${p.known} known`, drop: 8, sep: ', ' });
  const ws = v.webseeds ?? 0;
  if (ws > 0 && v.phase !== 'metadata')
    fields.push({ text: `${ws} ${ws === 1 ? 'web seed' : 'web seeds'}`, drop: 6, sep: ', ' });

  const gap = '  ';
  const join = (fs: Field[]) => fs.reduce((s, f, i) => (i === 0 ? f.text : `${s}${f.sep ?? gap}${f.text}`), '');
  const widthOf = (fs: Field[]) => displayWidth(join(fs));

  let kept = fields;
  // Leave out fields, highest rank first, until the rest and the bar fit; at the last, a smaller bar.
  let bar = barWidth(width);
  const cost = () => widthOf(kept) + bar + 2 + gap.length; // "[…]" and its gap
  for (let rank = 8; rank > 1 && cost() > width; rank--) kept = kept.filter((f) => f.drop < rank);
  if (cost() > width) bar = Math.max(BAR_MIN, width - widthOf(kept) - 2 - gap.length);
  for (let rank = 1; rank > 0 && cost() > width; rank--) kept = kept.filter((f) => f.drop < rank);
  if (cost() > width) return truncateToWidth(join(kept).trim(), width);

  const room = width - cost();
  // The name comes last of all: only when every field is shown and it fits at a useful length.
  let name = '';
  const fullName = printable(v.name);
  if (kept.length === fields.length && room >= NAME_MIN + gap.length) {
    name = truncateToWidth(fullName, Math.min(NAME_MAX, room - gap.length));
  }
  const fraction = v.phase === 'checking' ? v.checked / Math.max(1, v.pieceCount) : v.done / Math.max(1, v.length);
  const filled =
    v.phase === 'metadata' ? 0 : v.length === 0 || fraction >= 1 ? bar : Math.min(bar - 1, Math.floor(fraction * bar));
  const line = `${name ? `${name}${gap}` : ''}[${'#'.repeat(filled)}${'-'.repeat(bar - filled)}]${gap}${join(kept)}`;
  return truncateToWidth(line.trimEnd(), width);
}

// ——— the summary ———

/** What a run did, for {@link summaryLines}. */
export interface RunSummary {
  name: string;
  dir: string;
  /** complete: every piece verified (perhaps seeding since); stopped: stopped before that. */
  state: 'complete' | 'stopped';
  length: number;
  left: number;
  /** Bytes received from peers and sent to them in this run. */
  downloaded: number;
  uploaded: number;
  /** Seconds spent checking existing data, downloading (from the check's end to completion or the stop), seeding. */
  checkSeconds: number;
  downloadSeconds: number;
  /** Set when the run went on seeding after completion. */
  seedSeconds?: number;
}

/**
 * The summary printed when a run ends: what it did, not more. A download says how much it received in
 * how long (and at what mean rate); a run that received nothing says the data was already there; the
 * uploaded bytes and the ratio (uploaded ÷ size, as `--seed-ratio` counts it) always; the time
 * seeding when it seeded.
 *
 * @example
 * summaryLines({ name: 'x', dir: '/d', state: 'complete', length: 1 << 20, left: 0, downloaded: 1 << 20,
 *   uploaded: 0, checkSeconds: 0, downloadSeconds: 2 });
 * // ['x: complete → /d', '  downloaded 1.00 MiB in 2.0 s (512 KiB/s); uploaded 0 B (ratio 0.00)']
 */
export function summaryLines(s: RunSummary): string[] {
  const name = printable(s.name);
  const head =
    s.state === 'complete'
      ? `${name}: complete → ${s.dir}`
      : `${name}: stopped at ${percentOf(s.length - s.left, s.length)}% (${formatBytes(s.length - s.left)} of ${formatBytes(s.length)}) → ${s.dir}`;
  const parts: string[] = [];
  if (s.downloaded > 0) {
    // A mean over at least 10 ms (a small torrent on loopback can take less than a tenth of a second).
    const rate = s.downloadSeconds >= 0.01 ? ` (${formatRate(s.downloaded / s.downloadSeconds)})` : '';
    parts.push(`downloaded ${formatBytes(s.downloaded)} in ${formatDuration(s.downloadSeconds)}${rate}`);
  } else if (s.state === 'complete') {
    parts.push(`already on disk, checked in ${formatDuration(s.checkSeconds)}; nothing to download`);
  } else parts.push('nothing downloaded');
  const ratio = s.length > 0 ? s.uploaded / s.length : 0;
  parts.push(`uploaded ${formatBytes(s.uploaded)} (ratio ${ratio.toFixed(2)})`);
  if (s.seedSeconds !== undefined) parts.push(`seeded for ${formatDuration(s.seedSeconds)}`);
  return [head, `  ${parts.join('; ')}`];
}

// ——— the renderer ———

/** Where a {@link TtyDisplay} draws. */
export interface Terminal {
  /** Writes raw text (no newline added) where the progress line is drawn. */
  write(text: string): void;
  /** Prints one line of message (on stderr in the CLI). */
  message(line: string): void;
  /** The terminal's width in columns now. */
  columns(): number;
  /** Calls `listener` when the terminal is resized; returns the function that stops it. */
  onResize?(listener: () => void): () => void;
}

/**
 * The progress line on a terminal: redrawn in place (`\r`, the line, erase to its end), never wider
 * than the terminal (one column is kept free so that no terminal wraps), laid out again on resize.
 * Messages go above it: the line is erased, the message printed on a line of its own, the line drawn
 * again below.
 */
export class TtyDisplay {
  private view: ProgressView | undefined;
  private drawn = '';
  /** After `finish`, nothing more is drawn: messages print as plain lines. */
  private finished = false;
  private readonly unsubscribe: () => void;

  constructor(private readonly term: Terminal) {
    this.unsubscribe = term.onResize?.(() => this.redraw(true)) ?? (() => {});
  }

  /** The width lines are laid out for: the terminal's less one column, at least 1. */
  get width(): number {
    const c = this.term.columns();
    return Math.max(1, (Number.isFinite(c) && c > 0 ? c : 80) - 1);
  }

  /** Draws `view` (only when the line changed). */
  update(view: ProgressView): void {
    if (this.finished) return;
    this.view = view;
    this.redraw(false);
  }

  /** Prints `line` above the progress line. */
  message(line: string): void {
    if (this.drawn) this.term.write('\r\x1b[K');
    this.term.message(line);
    if (this.drawn) {
      this.drawn = '';
      this.redraw(true);
    }
  }

  /** Draws `view` a last time and ends the line: what follows is printed below it. Only the first call counts. */
  finish(view?: ProgressView): void {
    if (this.finished) return;
    if (view) this.view = view;
    this.redraw(false);
    if (this.drawn) this.term.write('\n');
    this.drawn = '';
    this.view = undefined;
    this.finished = true;
    this.unsubscribe();
  }

  private redraw(force: boolean): void {
    if (!this.view) return;
    const line = layoutProgress(this.view, this.width);
    if (!force && line === this.drawn) return;
    this.drawn = line;
    this.term.write(`\r${line}\x1b[K`);
  }
}
