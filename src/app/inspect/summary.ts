/**
 * Small, JSON-safe views of actor contexts and events for the inspectors. Contexts hold buffers,
 * bitfields, the piece picker and sockets: only numbers, short strings, flags and small plain
 * objects are copied, never the big structures — and nothing here may throw into the engine.
 */
import { toHex } from '../../protocol/bytes.js';
import { MAX_PIECE_CELLS, type PeerFlags, type PeerView, type PieceMapView } from './protocol.js';
import { peerClient } from './peer-client.js';

const MAX_STRING = 160;
const MAX_KEYS = 32;
const MAX_ARRAY = 12;

function isPlainObject(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A JSON-safe, bounded copy of `v`: undefined for what is left out (functions, class instances …). */
export function smallValue(v: unknown, depth: number): unknown {
  switch (typeof v) {
    case 'string':
      return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}…` : v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'boolean':
      return v;
    case 'bigint':
      return String(v);
    case 'object': {
      if (v === null) return null;
      if (v instanceof Uint8Array) return v.length <= 20 ? toHex(v) : `<${v.length} bytes>`;
      if (Array.isArray(v)) {
        if (depth <= 0) return `[${v.length} items]`;
        const items = v.slice(0, MAX_ARRAY).map((x) => smallValue(x, depth - 1) ?? null);
        if (v.length > MAX_ARRAY) items.push(`… ${v.length - MAX_ARRAY} more`);
        return items;
      }
      if (v instanceof Map) return `Map(${v.size})`;
      if (v instanceof Set) return `Set(${v.size})`;
      if (!isPlainObject(v) || depth <= 0) return undefined;
      return smallObject(v as Record<string, unknown>, depth - 1);
    }
    default:
      return undefined;
  }
}

/** The small fields of an object (see {@link smallValue}), at most {@link MAX_KEYS} of them. */
export function smallObject(obj: Record<string, unknown>, depth = 1): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let n = 0;
  for (const key of Object.keys(obj)) {
    if (n >= MAX_KEYS) break;
    let v: unknown;
    try {
      v = smallValue(obj[key], depth);
    } catch {
      continue; // a getter that throws: leave it out
    }
    if (v !== undefined) {
      out[key] = v;
      n++;
    }
  }
  return out;
}

/** Requests outstanding in a peer's pipeline (`sent` from `head` on), if the value has that shape. */
function pipelineLength(p: unknown): number | undefined {
  const x = p as { sent?: unknown; head?: unknown } | undefined;
  return Array.isArray(x?.sent) && typeof x.head === 'number' ? x.sent.length - x.head : undefined;
}

/**
 * Context keys never copied: the torrent's services and peer table, sockets, callbacks, static
 * settings, and a peer's queues and rate windows (summarised instead).
 */
const SKIP_KEYS = new Set([
  'svc',
  'peers',
  'transport',
  'report',
  'trackers',
  'settings',
  'torrent',
  'pipeline',
  'uploads',
  'traffic',
  'seenPeers',
  'bans',
  // the DHT node: its query and lookup tables (their sizes are in its `stats`), its bootstrap data
  'pending',
  'lookups',
  'torrents',
  'bootNodes',
  'ownId',
  'saveText',
  'socket',
  'version',
]);

/**
 * The small fields of an actor's context (see {@link smallValue}) without the big structures; a peer's
 * request pipeline and upload queue contribute their lengths.
 */
export function smallContext(context: unknown): Record<string, unknown> {
  if (!context || typeof context !== 'object') return {};
  try {
    const c = context as Record<string, unknown>;
    const filtered: Record<string, unknown> = {};
    for (const k of Object.keys(c)) if (!SKIP_KEYS.has(k)) filtered[k] = c[k];
    const small = smallObject(filtered, 2);
    const requestsOut = pipelineLength(c.pipeline);
    if (requestsOut !== undefined) small.requestsOut = requestsOut;
    const queued = (c.uploads as { queued?: unknown } | undefined)?.queued;
    if (Array.isArray(queued)) small.uploadsQueued = queued.length;
    if (c.peers && typeof c.peers === 'object') small.peerCount = Object.keys(c.peers).length;
    // A torrent's bans: who, and why (the inspector shows them beside its counters).
    if (Array.isArray(c.bans))
      small.bans = (c.bans as { address?: unknown; reason?: unknown }[])
        .slice(-20)
        .map((b) => `${String(b.address)}: ${String(b.reason)}`);
    return small;
  } catch {
    return {};
  }
}

/** A short text of an event's small fields for a log line (`index=3 reason=timeout`). */
export function eventDetail(event: Record<string, unknown>): string | undefined {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(event)) {
    if (k === 'type' || k === 'at' || parts.length >= 6) continue;
    if (typeof v === 'string') parts.push(`${k}=${v.length > 60 ? `${v.slice(0, 60)}…` : v}`);
    else if (typeof v === 'number' || typeof v === 'boolean') parts.push(`${k}=${v}`);
    else if (Array.isArray(v)) parts.push(`${k}=[${v.length}]`);
  }
  return parts.length > 0 ? parts.join(' ') : undefined;
}

/** An event made safe for JSON (Stately inspector): small fields only, buffers as sizes. */
export function smallEvent(
  event: { type: string } & Record<string, unknown>,
): { type: string } & Record<string, unknown> {
  return { ...smallObject(event, 2), type: event.type };
}

/** The leaf state of the region `name` found anywhere in a state value. */
function regionLeaf(value: unknown, name: string): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k === name) {
      if (typeof v === 'string') return v;
      if (v && typeof v === 'object') return Object.keys(v)[0];
    }
    const deeper = regionLeaf(v, name);
    if (deeper !== undefined) return deeper;
  }
  return undefined;
}

const yes = (leaf: string | undefined, pattern: RegExp) => (leaf === undefined ? undefined : pattern.test(leaf));

/**
 * What the page shows of a peer actor. Read tolerantly: the choke and interest flags come from the
 * state regions of BEP 3's four flags when the machine has them (by name), else from the peer's
 * choke view in its context; anything missing is left undefined.
 */
export function peerView(context: unknown, value: unknown): PeerView {
  const ctx = (context && typeof context === 'object' ? context : {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const flags: PeerFlags = {};
  const set = <K extends keyof PeerFlags>(k: K, v: boolean | undefined) => {
    if (v !== undefined) flags[k] = v;
  };
  set('amChoking', yes(regionLeaf(value, 'amChoking'), /^chok/i));
  set('amInterested', yes(regionLeaf(value, 'amInterested'), /^interested/i));
  set('peerChoking', yes(regionLeaf(value, 'peerChoking'), /^chok/i));
  set('peerInterested', yes(regionLeaf(value, 'peerInterested'), /^interested/i));
  set('snubbed', yes(regionLeaf(value, 'requests'), /^snub/i));
  const out: PeerView = { flags };
  const address = ctx.address as { host?: unknown; port?: unknown } | undefined;
  if (address && typeof address.host === 'string' && typeof address.port === 'number') {
    out.address = address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
  } else if (typeof ctx.key === 'string') out.address = ctx.key;
  if (typeof ctx.direction === 'string') out.direction = ctx.direction;
  const pid = ctx.peerId;
  const pidHex = typeof pid === 'string' ? pid : pid instanceof Uint8Array ? toHex(pid) : undefined;
  if (pidHex && /^[0-9a-f]{40}$/i.test(pidHex)) {
    out.peerId = pidHex;
    const client = peerClient(pidHex);
    if (client !== undefined) out.client = client;
  }
  const requests = pipelineLength(ctx.pipeline);
  if (requests !== undefined) out.requests = requests;
  const queued = (ctx.uploads as { queued?: unknown } | undefined)?.queued;
  if (Array.isArray(queued)) out.uploadsQueued = queued.length;
  const traffic = (ctx.traffic && typeof ctx.traffic === 'object' ? ctx.traffic : {}) as Record<string, unknown>;
  const down = num(traffic.downloaded);
  const up = num(traffic.uploaded);
  if (down !== undefined) out.downloaded = down;
  if (up !== undefined) out.uploaded = up;
  const close = (ctx.close && typeof ctx.close === 'object' ? ctx.close : {}) as Record<string, unknown>;
  if (typeof close.reason === 'string') out.closeReason = close.reason;
  if (typeof close.detail === 'string') out.closeDetail = close.detail;
  return out;
}

/** Byte counters of an actor for its rates: a peer's (in its context) or a torrent's (its progress). */
export function byteCounters(context: unknown): { down: number; up: number } | undefined {
  if (!context || typeof context !== 'object') return undefined;
  const ctx = context as Record<string, unknown>;
  for (const c of [
    ctx.traffic as Record<string, unknown> | undefined,
    ctx.progress as Record<string, unknown> | undefined,
  ]) {
    if (c && typeof c === 'object' && typeof c.downloaded === 'number' && typeof c.uploaded === 'number') {
      return { down: c.downloaded, up: c.uploaded };
    }
  }
  return undefined;
}

/** What {@link pieceMap} reads of a torrent's piece picker (src/machines/torrent/piece-picker.ts). */
interface PickerLike {
  pieceCount: number;
  hasPiece(index: number): boolean;
  startedPieces?(): Iterable<number>;
}

/**
 * A torrent's piece map from its context: which pieces are verified (the picker's bitfield), in
 * progress (blocks requested or received) and missing, in at most `maxCells` cells. Before the
 * picker exists (while the data on disk is checked) every piece counts as missing. O(pieces).
 */
export function pieceMap(context: unknown, maxCells = MAX_PIECE_CELLS): PieceMapView | undefined {
  if (!context || typeof context !== 'object') return undefined;
  const ctx = context as { svc?: { picker?: unknown }; info?: { pieceCount?: unknown } };
  const p = ctx.svc?.picker as PickerLike | undefined;
  const picker = p && typeof p.hasPiece === 'function' && typeof p.pieceCount === 'number' ? p : undefined;
  const count = picker?.pieceCount ?? ctx.info?.pieceCount;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count <= 0) return undefined;
  const per = Math.ceil(count / Math.max(1, maxCells));
  const n = Math.ceil(count / per);
  const doneIn = new Uint32Array(n);
  const started = new Uint8Array(n);
  let done = 0;
  let inProgress = 0;
  if (picker) {
    for (let i = 0; i < count; i++) {
      if (picker.hasPiece(i)) {
        doneIn[Math.floor(i / per)]!++;
        done++;
      }
    }
    for (const i of picker.startedPieces?.() ?? []) {
      if (i >= 0 && i < count && !picker.hasPiece(i)) {
        started[Math.floor(i / per)] = 1;
        inProgress++;
      }
    }
  }
  let cells = '';
  for (let c = 0; c < n; c++) {
    const size = Math.min(per, count - c * per);
    const d = doneIn[c]!;
    const level = d === size ? 8 : d === 0 ? 0 : Math.min(7, Math.max(1, Math.round((8 * d) / size)));
    cells += String.fromCharCode((started[c] && level < 8 ? 97 : 48) + level);
  }
  return { count, done, inProgress, missing: count - done - inProgress, per, cells };
}
