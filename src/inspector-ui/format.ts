/** Display helpers of the inspector page (pure: test/app/inspect-meanings.test.ts runs them). */
import { leafPaths, type MachineDef, type StateDef } from '../app/inspect/protocol.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 || u === 0 ? Math.round(v) : v.toFixed(1)} ${UNITS[u]}`;
}

export function rate(n: number | undefined): string {
  if (!n) return '–';
  return `${bytes(n)}/s`;
}

export function clock(t: number): string {
  const d = new Date(t);
  const p = (x: number, w = 2) => String(x).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function ago(t: number, now: number): string {
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  return `${Math.floor(s / 3600)} h`;
}

/** A state value as text: `connected`, `active.downloading`, `a: x · b: y` for parallel regions. */
export function stateText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return '';
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 1) {
    const [k, v] = entries[0]!;
    const rest = stateText(v);
    return rest ? `${k}.${rest}` : k;
  }
  return entries.map(([k, v]) => `${k}: ${stateText(v)}`).join(' · ');
}

/** The top-level state of a value (`connected` of `{ connected: {…} }`). */
export function topState(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') return Object.keys(value)[0] ?? '';
  return '';
}

/** A context value as short text. */
export function short(v: unknown): string {
  if (v === null || v === undefined) return '–';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return JSON.stringify(v);
}

/** The states of a machine definition by path ('' the root): where the page finds a state's meaning. */
export function statesByPath(def: MachineDef | undefined): Map<string, StateDef> {
  const out = new Map<string, StateDef>();
  const walk = (n: StateDef) => {
    out.set(n.path, n);
    n.states.forEach(walk);
  };
  if (def) walk(def.root);
  return out;
}

/** A state path in words: its meaning from the definition, else the path itself. */
export function pathWords(states: Map<string, StateDef> | undefined, path: string): string {
  return states?.get(path)?.meaning ?? path;
}

/**
 * A state value in words: the meanings of its active leaf states (`the peer chokes us · we are
 * interested …` for a peer's parallel regions), each falling back to its path.
 */
export function stateWords(states: Map<string, StateDef> | undefined, value: unknown): string {
  return leafPaths(value)
    .map((p) => pathWords(states, p))
    .join(' · ');
}

/** The top-level state of a value in words (`connected`, `exchanging the BitTorrent handshake`). */
export function topWords(states: Map<string, StateDef> | undefined, value: unknown): string {
  return pathWords(states, topState(value));
}

/** What a log line's event was, in words: the engine's meaning, else the event type without XState's prefix. */
export function eventWords(line: { event: string; text?: string }): string {
  if (line.text !== undefined) return line.text;
  return line.event.startsWith('xstate.') ? line.event.slice('xstate.'.length).replace(/\./g, ' ') : line.event;
}

/** An actor's name in words: `peer 127.0.0.1:7102`, `tracker http://…`, `torrent ubuntu.iso`, `choker`. */
export function actorWords(a: {
  machine: string;
  name: string;
  context: Record<string, unknown>;
  peer?: { address?: string };
}): string {
  if (a.peer?.address !== undefined) return `peer ${a.peer.address}`;
  const url = typeof a.context.url === 'string' ? a.context.url : undefined;
  if (url !== undefined) return `${a.machine} ${url}`;
  const info = a.context.info as { name?: unknown } | undefined;
  if (typeof info?.name === 'string') return `${a.machine} ${info.name}`;
  return a.machine;
}
