/**
 * The inspection collector: an XState inspection observer that keeps, per machine actor of one or
 * more actor systems, its parent, machine, latest state, a bounded ring of recent transitions and a
 * few small fields of its context — and turns them into throttled diffs for the inspector page.
 *
 * Cost model. XState calls the observer for every inspection event of the system (events, snapshots,
 * actions, microsteps: several per received block). The observer does O(1) work per event: a map
 * lookup and a reference comparison of the state value; only when the value object changed does it
 * compute the active leaves (a few short strings) to tell a real transition from an `assign`.
 * Nothing is serialised per event. Contexts are read at flush time only, for the actors marked dirty,
 * at most every `flushMs` for state changes and every `dataMs` for counters.
 */
import type { InspectionEvent } from 'xstate';
import { DEFAULT_HIGH_RATE_EVENTS, eventMatcher, type EventFilter } from './filter.js';
import { isStateMachine, machineDefinition, type ActorLike } from './definitions.js';
import {
  leafPaths,
  type ActorView,
  type DiffMessage,
  type HelloMessage,
  type InspectStats,
  type LogLine,
  type MachineDef,
  INSPECT_PROTOCOL_VERSION,
} from './protocol.js';
import { eventMeaning } from './meanings.js';
import { byteCounters, eventDetail, peerView, pieceMap, smallContext } from './summary.js';
import { realClock, unrefTimer } from '../../io/clock.js';

/** A sample of an actor's byte counters (taken about once a second). */
export interface RateSample {
  at: number;
  down: number;
  up: number;
}

/** Samples kept per actor: five seconds of per-second samples span six of them. */
const RATE_SAMPLES = 6;

/**
 * The transfer rate of a peer in the inspector: the bytes over the last 5 s of per-second samples,
 * divided by the time those samples span (less while fewer samples exist; 0 with fewer than two) —
 * the definition of the peers' own rates, whose sum is the torrent's `progress.downloadRate` /
 * `uploadRate` (the header, and the CLI).
 */
export function windowRate(samples: readonly RateSample[], windowMs = 5000): { down: number; up: number } {
  const last = samples[samples.length - 1];
  if (!last) return { down: 0, up: 0 };
  let first = last;
  for (const s of samples) {
    if (last.at - s.at <= windowMs + 500) {
      first = s;
      break;
    }
  }
  const dt = last.at - first.at;
  if (dt <= 0) return { down: 0, up: 0 };
  return {
    down: Math.max(0, ((last.down - first.down) * 1000) / dt),
    up: Math.max(0, ((last.up - first.up) * 1000) / dt),
  };
}

export interface CollectorOptions {
  /** Most diffs per second is 1000 / flushMs. Default 200 (5 per second). */
  flushMs?: number;
  /** Counters and rates of actors whose state did not change are refreshed this often. Default 1000. */
  dataMs?: number;
  /** Log lines kept per actor. Default 200. */
  logSize?: number;
  /** A stopped actor stays listed (greyed) this long. Default 5000. */
  lingerMs?: number;
  /** Event types not logged unless they change the state (default: {@link DEFAULT_HIGH_RATE_EVENTS}). */
  quiet?: EventFilter;
  /** Wall clock (ms). */
  now?: () => number;
}

interface Rec {
  id: number;
  ref: ActorLike;
  parent: number | null;
  machine: string;
  name: string;
  isPeer: boolean;
  status: ActorView['status'];
  lastValue: unknown;
  leaves: string[];
  leafKey: string;
  changedAt: number;
  transitions: number;
  /** Ring of log lines; `logSeq` numbers the latest. */
  log: LogLine[];
  logSeq: number;
  stateDirty: boolean;
  dataDirty: boolean;
  sentAt: number;
  sentJson: string | undefined;
  endedAt: number | undefined;
  /** Per-second samples of the byte counters (see {@link windowRate}), oldest first. */
  samples: RateSample[];
  rates: { down: number; up: number } | undefined;
}

export type DiffListener = (diff: DiffMessage) => void;

export class InspectCollector {
  readonly flushMs: number;
  private readonly dataMs: number;
  private readonly logSize: number;
  private readonly lingerMs: number;
  private readonly quiet: EventFilter;
  private readonly now: () => number;
  private readonly byRef = new Map<ActorLike, Rec>();
  private readonly byId = new Map<number, Rec>();
  private readonly definitions = new Map<string, MachineDef>();
  private newDefinitions: MachineDef[] = [];
  private readonly removed: number[] = [];
  private readonly listeners = new Set<DiffListener>();
  private readonly logListeners = new Set<(rec: { id: number; seq: number }) => void>();
  private readonly logGrew = new Set<Rec>();
  private nextId = 0;
  private lastDiffAt = 0;
  private timer: unknown;
  private eventCount = 0;
  private rateWindow = { at: 0, count: 0, perSecond: 0 };
  private sampledAt = 0;

  constructor(options: CollectorOptions = {}) {
    this.flushMs = options.flushMs ?? 200;
    this.dataMs = options.dataMs ?? 1000;
    this.logSize = options.logSize ?? 200;
    this.lingerMs = options.lingerMs ?? 5000;
    this.quiet = options.quiet ?? eventMatcher(DEFAULT_HIGH_RATE_EVENTS);
    this.now = options.now ?? realClock.now;
    this.rateWindow.at = this.now();
    this.timer = realClock.setInterval(() => this.flush(), this.flushMs);
    unrefTimer(this.timer);
  }

  /**
   * The inspection observer: pass it as `createActor(logic, { inspect: collector.observer })` (or
   * `actor.system.inspect(collector.observer)`). It never throws into the actor system.
   */
  readonly observer = (ev: InspectionEvent): void => {
    this.eventCount++;
    if (ev.type === '@xstate.snapshot') {
      const rec = this.byRef.get(ev.actorRef as unknown as ActorLike);
      if (rec) this.onSnapshot(rec, ev.snapshot as { status?: string; value?: unknown }, ev.event as { type: string });
    } else if (ev.type === '@xstate.actor') {
      try {
        this.onActor(ev.actorRef as unknown as ActorLike);
      } catch {
        /* never break the engine */
      }
    }
  };

  private onActor(ref: ActorLike): void {
    if (this.byRef.has(ref) || !isStateMachine(ref.logic)) return;
    const machine = ref.logic.id;
    if (!this.definitions.has(machine)) {
      const def = machineDefinition(ref.logic);
      this.definitions.set(machine, def);
      this.newDefinitions.push(def);
    }
    const parentRef = ref._parent;
    const rec: Rec = {
      id: ++this.nextId,
      ref,
      parent: parentRef ? (this.byRef.get(parentRef)?.id ?? null) : null,
      machine,
      // A root actor's id is its session id (`x:0`): its machine names it better.
      name: ref.id === ref.sessionId ? machine : ref.id,
      isPeer: machine === 'peer',
      status: 'active',
      lastValue: undefined,
      leaves: [],
      leafKey: '',
      changedAt: this.now(),
      transitions: 0,
      log: [],
      logSeq: 0,
      stateDirty: true,
      dataDirty: false,
      sentAt: 0,
      sentJson: undefined,
      endedAt: undefined,
      samples: [],
      rates: undefined,
    };
    this.byRef.set(ref, rec);
    this.byId.set(rec.id, rec);
  }

  private onSnapshot(rec: Rec, snap: { status?: string; value?: unknown }, event: { type: string }): void {
    try {
      const status = (snap.status ?? 'active') as ActorView['status'];
      if (snap.value === rec.lastValue && status === rec.status) {
        rec.dataDirty = true;
        if (!this.quiet(event.type)) this.append(rec, event, undefined, undefined);
        return;
      }
      rec.lastValue = snap.value;
      const leaves = leafPaths(snap.value);
      const key = leaves.join(',');
      if (key === rec.leafKey && status === rec.status) {
        rec.dataDirty = true; // a new value object with the same states (an assign)
        if (!this.quiet(event.type)) this.append(rec, event, undefined, undefined);
        return;
      }
      const before = new Set(rec.leaves);
      const after = new Set(leaves);
      const from = rec.leaves.filter((l) => !after.has(l));
      const to = leaves.filter((l) => !before.has(l));
      if (status !== rec.status) {
        if (status !== 'active') {
          to.push(`(${status})`);
          rec.endedAt = this.now();
        }
      }
      rec.leaves = leaves;
      rec.leafKey = key;
      rec.status = status;
      rec.changedAt = this.now();
      rec.transitions++;
      rec.stateDirty = true;
      this.append(rec, event, from, to);
    } catch {
      /* never break the engine */
    }
  }

  private append(rec: Rec, event: { type: string }, from: string[] | undefined, to: string[] | undefined): void {
    const line: LogLine = { seq: ++rec.logSeq, t: this.now(), event: event.type };
    const text = eventMeaning(event as unknown as Record<string, unknown>);
    if (text !== undefined) line.text = text;
    if (from !== undefined) line.from = from;
    if (to !== undefined) line.to = to;
    const detail = eventDetail(event as unknown as Record<string, unknown>);
    if (detail !== undefined) line.detail = detail;
    rec.log.push(line);
    if (rec.log.length > this.logSize) rec.log.splice(0, rec.log.length - this.logSize);
    this.logGrew.add(rec);
  }

  /** Subscribes to the diffs (at most one per `flushMs`). Returns the unsubscribe function. */
  subscribe(listener: DiffListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called after each flush with the actors whose logs grew (id and latest seq). */
  onLogs(listener: (rec: { id: number; seq: number }) => void): () => void {
    this.logListeners.add(listener);
    return () => this.logListeners.delete(listener);
  }

  /** Everything the page needs to start: definitions and every listed actor. */
  hello(): HelloMessage {
    const now = this.now();
    const actors: ActorView[] = [];
    for (const rec of this.byId.values()) {
      actors.push(this.view(rec));
      // What was broadcast before no longer tells what every page holds: send the next change anyway.
      rec.sentJson = undefined;
    }
    return {
      type: 'hello',
      version: INSPECT_PROTOCOL_VERSION,
      t: now,
      flushMs: this.flushMs,
      definitions: [...this.definitions.values()],
      actors,
      stats: this.stats(),
    };
  }

  /** Log lines of an actor after `afterSeq` (all it keeps when 0); `reset` when some were dropped. */
  logOf(id: number, afterSeq = 0): { lines: LogLine[]; reset: boolean; seq: number } | undefined {
    const rec = this.byId.get(id);
    if (!rec) return undefined;
    const first = rec.log[0]?.seq ?? rec.logSeq + 1;
    const reset = afterSeq === 0 || afterSeq < first - 1;
    const lines = reset ? rec.log.slice() : rec.log.filter((l) => l.seq > afterSeq);
    return { lines, reset, seq: rec.logSeq };
  }

  /** The actor's current view (for tests and the JSON endpoint). */
  actor(id: number): ActorView | undefined {
    const rec = this.byId.get(id);
    return rec ? this.view(rec) : undefined;
  }

  get actorCount(): number {
    return this.byId.size;
  }

  private stats(): InspectStats {
    return { eventsPerSecond: this.rateWindow.perSecond, actors: this.byId.size };
  }

  private view(rec: Rec): ActorView {
    let snap: { status?: string; value?: unknown; context?: unknown } | undefined;
    try {
      snap = rec.ref.getSnapshot() as typeof snap;
    } catch {
      snap = undefined;
    }
    const context = snap?.context;
    const small = smallContext(context);
    const v: ActorView = {
      id: rec.id,
      parent: rec.parent,
      machine: rec.machine,
      name: rec.name,
      status: rec.status,
      value: snap?.value ?? rec.lastValue ?? null,
      changedAt: rec.changedAt,
      transitions: rec.transitions,
      logSeq: rec.logSeq,
      context: small,
    };
    if (rec.isPeer) {
      try {
        v.peer = peerView(context, snap?.value);
        const encryption = this.peerEncryption(rec, context);
        if (encryption !== undefined) v.peer.encryption = encryption;
      } catch {
        /* leave it out */
      }
    }
    if (rec.machine === 'torrent') {
      try {
        const pieces = pieceMap(context);
        if (pieces) v.pieces = pieces;
      } catch {
        /* leave it out */
      }
    }
    if (rec.rates) v.rates = { down: Math.round(rec.rates.down), up: Math.round(rec.rates.up) };
    if (rec.endedAt !== undefined) v.endedAt = rec.endedAt;
    return v;
  }

  /**
   * Once a second: a sample of every actor's byte counters, and its rate over the last samples
   * ({@link windowRate}). An actor that ended keeps being sampled (its counters frozen), so its rate
   * falls to 0 over the 5 s it lingers, and the torrent's sum stays the bytes of the last 5 s.
   */
  private sample(now: number): void {
    if (now - this.sampledAt < 1000 * 0.95) return;
    this.sampledAt = now;
    const torrents: Rec[] = [];
    for (const rec of this.byId.values()) {
      if (rec.machine === 'torrent') {
        torrents.push(rec);
        continue;
      }
      let c: { down: number; up: number } | undefined;
      try {
        c = byteCounters((rec.ref.getSnapshot() as { context?: unknown } | undefined)?.context);
      } catch {
        c = undefined;
      }
      if (!c) continue;
      rec.samples.push({ at: now, down: c.down, up: c.up });
      if (rec.samples.length > RATE_SAMPLES) rec.samples.shift();
      this.setRates(rec, windowRate(rec.samples));
    }
    for (const t of torrents) this.setRates(t, this.torrentRates(t));
    // A web seed's rate is its torrent's figure for it (`progress.webseedRates`), as the CLI shows it.
    for (const rec of this.byId.values()) {
      if (rec.machine !== 'webseed' || rec.parent === null) continue;
      const torrent = this.byId.get(rec.parent);
      if (torrent) this.setRates(rec, { down: this.webSeedRate(torrent, rec), up: 0 });
    }
  }

  /** How a peer's connection is encrypted: its torrent's entry for it says (`peers[key].encryption`). */
  private peerEncryption(peer: Rec, context: unknown): string | undefined {
    const key = (context as { key?: unknown } | undefined)?.key;
    const torrent = peer.parent === null ? undefined : this.byId.get(peer.parent);
    if (typeof key !== 'string' || !torrent) return undefined;
    const peers = (torrent.ref.getSnapshot() as { context?: { peers?: Record<string, { encryption?: unknown }> } })
      ?.context?.peers;
    const e = peers?.[key]?.encryption;
    return typeof e === 'string' ? e : undefined;
  }

  /** The torrent's `progress.webseedRates` entry of this web seed actor (0 once it left the torrent). */
  private webSeedRate(torrent: Rec, webseed: Rec): number {
    try {
      const p = (torrent.ref.getSnapshot() as { context?: { progress?: { webseedRates?: unknown } } } | undefined)
        ?.context?.progress;
      const url = (webseed.ref.getSnapshot() as { context?: { url?: unknown } } | undefined)?.context?.url;
      const rates = p?.webseedRates as Record<string, unknown> | undefined;
      const r = typeof url === 'string' && rates ? rates[url] : undefined;
      return typeof r === 'number' ? r : 0;
    } catch {
      return 0;
    }
  }

  private setRates(rec: Rec, r: { down: number; up: number }): void {
    const rates = { down: r.down < 1 ? 0 : r.down, up: r.up < 1 ? 0 : r.up };
    const was = rec.rates;
    rec.rates = rates;
    if (!was || Math.round(was.down) !== Math.round(rates.down) || Math.round(was.up) !== Math.round(rates.up))
      rec.dataDirty = true;
  }

  /**
   * The header's rate: the torrent's own `progress.downloadRate` / `uploadRate` — its peers' rates over
   * a sliding 5 s window, summed — the very figures the CLI's progress line and `--json` show.
   */
  torrentRates(torrent: Rec): { down: number; up: number } {
    try {
      const ctx = (torrent.ref.getSnapshot() as { context?: { progress?: Record<string, unknown> } } | undefined)
        ?.context;
      const p = ctx?.progress;
      const down = p?.downloadRate;
      const up = p?.uploadRate;
      if (typeof down === 'number' && typeof up === 'number') return { down, up };
    } catch {
      // a snapshot that cannot be read: no rate
    }
    return { down: 0, up: 0 };
  }

  /**
   * Builds and hands out one diff: the actors whose state changed since the last flush, those whose
   * counters changed (at most every `dataMs`), those removed after lingering. Runs on a timer; public
   * for tests and for a last flush before shutdown.
   */
  flush(): void {
    const now = this.now();
    if (now - this.rateWindow.at >= 1000) {
      this.rateWindow.perSecond = Math.round(
        ((this.eventCount - this.rateWindow.count) * 1000) / (now - this.rateWindow.at),
      );
      this.rateWindow = { at: now, count: this.eventCount, perSecond: this.rateWindow.perSecond };
    }
    // Stopped actors linger, then go.
    for (const rec of this.byId.values()) {
      if (rec.endedAt !== undefined && now - rec.endedAt >= this.lingerMs) {
        this.byId.delete(rec.id);
        this.byRef.delete(rec.ref);
        this.removed.push(rec.id);
      }
    }
    this.sample(now);
    if (this.listeners.size === 0) {
      // Nobody watches: keep the bookkeeping small (a page that connects gets `hello`).
      for (const rec of this.byId.values()) rec.stateDirty = rec.dataDirty = false;
      this.newDefinitions = [];
      this.removed.length = 0;
      this.logGrew.clear();
      return;
    }
    const upsert: ActorView[] = [];
    for (const rec of this.byId.values()) {
      const due = rec.stateDirty || (rec.dataDirty && now - rec.sentAt >= this.dataMs);
      if (!due) continue;
      const v = this.view(rec);
      rec.stateDirty = false;
      rec.dataDirty = false;
      const json = JSON.stringify(v);
      if (json === rec.sentJson) continue;
      rec.sentJson = json;
      rec.sentAt = now;
      upsert.push(v);
    }
    const diff: DiffMessage = { type: 'diff', t: now, upsert, remove: this.removed.splice(0), stats: this.stats() };
    if (this.newDefinitions.length > 0) diff.definitions = this.newDefinitions.splice(0);
    if (diff.upsert.length > 0 || diff.remove.length > 0 || diff.definitions || now - this.lastDiffAt >= 1000) {
      this.lastDiffAt = now;
      for (const l of this.listeners) {
        try {
          l(diff);
        } catch {
          /* a broken listener must not stop the others */
        }
      }
    }
    const grew = [...this.logGrew].map((r) => ({ id: r.id, seq: r.logSeq }));
    this.logGrew.clear();
    for (const l of this.logListeners) for (const g of grew) l(g);
  }

  /** Stops the flush timer (the observer keeps working but nothing is handed out). */
  close(): void {
    if (this.timer) realClock.clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
    this.logListeners.clear();
  }
}
