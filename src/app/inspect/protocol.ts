/**
 * The messages between the engine's inspection server and the inspector page (src/inspector-ui).
 * Types only (plus one constant): the browser bundle imports this file too, so it must not import
 * node modules or xstate.
 *
 * Server → page: `hello` once per connection (machine definitions and every actor), then `diff`
 * at most every `flushMs` (actors added/changed/removed, new definitions), and `log` lines of the
 * actor the page selected. Page → server: `select`.
 */

/** Bumped when a message changes shape. */
export const INSPECT_PROTOCOL_VERSION = 2;

/** One state node of a machine definition, as drawn by the page. */
export interface StateDef {
  key: string;
  /** Keys from the root joined with '.', '' for the root: the same paths {@link activePaths} yields. */
  path: string;
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Key of the initial child (compound states). */
  initial?: string;
  states: StateDef[];
  /** Transitions defined on this node, in definition order (eventless ones with event ''). */
  on: TransitionDef[];
  /** Actors this state invokes (their `src`). */
  invoke: string[];
  /** Named entry / exit actions. */
  entry: string[];
  exit: string[];
  description?: string;
  /** What the state means in BitTorrent terms (src/app/inspect/meanings.ts): shown instead of its path. */
  meaning?: string;
}

export interface TransitionDef {
  /** The event type ('' for an eventless `always` transition). */
  event: string;
  /** A short label: `after keepAliveInterval`, `wire done`, `always` … */
  label: string;
  /** Paths of the target states (empty: a targetless transition, actions only). */
  targets: string[];
  guard?: string;
  actions: string[];
  reenter?: boolean;
}

export interface MachineDef {
  /** The machine's id (`torrent`, `peer`, `announcer`, `tracker`, `choker` …): {@link ActorView.machine}. */
  id: string;
  root: StateDef;
}

/** Flags of a peer connection, read from its state (and context): undefined when not known. */
export interface PeerFlags {
  /** We choke the peer (it may not download from us). */
  amChoking?: boolean;
  /** We want pieces the peer has. */
  amInterested?: boolean;
  /** The peer chokes us (we may not download from it). */
  peerChoking?: boolean;
  /** The peer wants pieces we have. */
  peerInterested?: boolean;
  /** The peer sent nothing we asked for in a while. */
  snubbed?: boolean;
}

/** What the page shows of a peer actor besides its state. */
export interface PeerView {
  address?: string;
  direction?: string;
  /** 40 hex digits, once the handshake arrived. */
  peerId?: string;
  /** Client name decoded from the peer id (`Transmission 3.00`, `aria2 1.37.0`, `bt-actor 0.1`). */
  client?: string;
  flags: PeerFlags;
  /** Our block requests to this peer not answered yet. */
  requests?: number;
  /** The peer's requests to us, queued. */
  uploadsQueued?: number;
  downloaded?: number;
  uploaded?: number;
  closeReason?: string;
  closeDetail?: string;
  /** How the connection is encrypted, once its handshake arrived: `rc4`, `plaintext` (after MSE), `none`. */
  encryption?: string;
}

/** One actor as the page sees it. */
export interface ActorView {
  /** The inspector's id (unique across actor systems; XState session ids are per system). */
  id: number;
  parent: number | null;
  /** Key into the definitions (the machine's id). */
  machine: string;
  /** The actor's id in its parent (`peer:127.0.0.1:6881#3`, `announcer`, `tracker:http://…`). */
  name: string;
  status: 'active' | 'done' | 'stopped' | 'error';
  /** The XState state value (a string, or nested objects for compound and parallel states). */
  value: unknown;
  /** Wall-clock ms of the latest state change, and how many changes so far. */
  changedAt: number;
  transitions: number;
  /** Sequence number of the latest log line (lines are numbered from 1). */
  logSeq: number;
  /** Small fields of the context (numbers, strings, flags, small plain objects); never buffers. */
  context: Record<string, unknown>;
  peer?: PeerView;
  /**
   * Bytes/s, measured by the inspector from the actor's byte counters: the bytes over the last 5 s of
   * per-second samples (the CLI's definition).
   */
  rates?: { down: number; up: number };
  /** A torrent's pieces: done, in progress, missing (see {@link PieceMapView}). */
  pieces?: PieceMapView;
  /** When it stopped (it stays listed, greyed, for a few seconds). */
  endedAt?: number;
}

/**
 * A torrent's piece map, compact for 10 to 100,000 pieces: the counts, and at most
 * {@link MAX_PIECE_CELLS} cells each covering `per` consecutive pieces (the last one maybe fewer).
 * A cell is one character: `'0'`…`'8'` how much of it is done in eighths (`'8'` all, `'0'` none), and
 * `'a'`…`'h'` the same levels 0…7 when one of its pieces is in progress. See {@link pieceCell}.
 */
export interface PieceMapView {
  count: number;
  done: number;
  inProgress: number;
  missing: number;
  per: number;
  cells: string;
}

/** Most cells of a {@link PieceMapView}. */
export const MAX_PIECE_CELLS = 2048;

/** A cell of a {@link PieceMapView}: its done level (0…8 eighths) and whether a piece in it is in progress. */
export function pieceCell(ch: string): { level: number; inProgress: boolean } {
  const c = ch.charCodeAt(0);
  if (c >= 97 && c <= 104) return { level: c - 97, inProgress: true };
  return { level: Math.min(8, Math.max(0, c - 48)), inProgress: false };
}

/** One line of an actor's log. */
export interface LogLine {
  seq: number;
  /** Wall-clock ms. */
  t: number;
  event: string;
  /** What the event means in BitTorrent terms (`peer 127.0.0.1:7102 disconnected: timed out`), if known. */
  text?: string;
  /** The leaf states left and entered (absent when the event changed no state). */
  from?: string[];
  to?: string[];
  /** A few small fields of the event (`index`, `reason` …). */
  detail?: string;
}

export interface InspectStats {
  /** Inspection events (XState's: events, snapshots, actions) handled per second, over the last second. */
  eventsPerSecond: number;
  /** Actors tracked (listed). */
  actors: number;
}

export interface HelloMessage {
  type: 'hello';
  version: number;
  t: number;
  flushMs: number;
  definitions: MachineDef[];
  actors: ActorView[];
  stats: InspectStats;
}

export interface DiffMessage {
  type: 'diff';
  t: number;
  definitions?: MachineDef[];
  upsert: ActorView[];
  remove: number[];
  stats: InspectStats;
}

export interface LogMessage {
  type: 'log';
  id: number;
  /** True: replace what the page holds for this actor (first answer to `select`, or lines were lost). */
  reset: boolean;
  lines: LogLine[];
}

export type ServerMessage = HelloMessage | DiffMessage | LogMessage;

export type ClientMessage = { type: 'select'; id: number | null };

/**
 * The paths of the active states of a state value: `{ connected: { peerChoking: 'choked' } }` →
 * `['', 'connected', 'connected.peerChoking', 'connected.peerChoking.choked']`.
 */
export function activePaths(value: unknown, prefix = '', out: string[] = ['']): string[] {
  if (typeof value === 'string') {
    out.push(prefix ? `${prefix}.${value}` : value);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const p = prefix ? `${prefix}.${k}` : k;
      out.push(p);
      activePaths(v, p, out);
    }
  }
  return out;
}

/** The active leaf states of a state value, as paths (`connected.peerChoking.choked`). */
export function leafPaths(value: unknown, prefix = '', out: string[] = []): string[] {
  if (typeof value === 'string') out.push(prefix ? `${prefix}.${value}` : value);
  else if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && prefix) out.push(prefix);
    for (const [k, v] of entries) leafPaths(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}
