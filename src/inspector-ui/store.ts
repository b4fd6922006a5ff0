/**
 * The page's state: what the engine pushed over the WebSocket (definitions, actors, the selected
 * actor's log). Messages arrive at most a few times per second (the engine throttles them); the view
 * re-renders at most once per animation frame.
 */
import type { ActorView, InspectStats, LogLine, MachineDef, ServerMessage, StateDef } from '../app/inspect/protocol.js';
import { statesByPath } from './format.js';

export type Connection = 'connecting' | 'open' | 'closed';

const MAX_LOG = 500;

export class Store {
  connection: Connection = 'connecting';
  definitions = new Map<string, MachineDef>();
  /** Each machine's states by path (their meanings). */
  states = new Map<string, Map<string, StateDef>>();
  /** Show XState's internals (event types, state paths, actor ids, the transitions of the chart). */
  xstate = readXState();
  actors = new Map<number, ActorView>();
  stats: InspectStats = { eventsPerSecond: 0, actors: 0 };
  selected: number | null = null;
  log: LogLine[] = [];
  /** Engine time of the latest message (ages are shown against it). */
  now = Date.now();
  /** Bumped on every change: components compare it. */
  version = 0;
  private ws: WebSocket | undefined;
  private listeners = new Set<() => void>();
  private frame = 0;
  private everOpen = false;

  constructor(private readonly url: string) {}

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private changed(): void {
    this.version++;
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const l of this.listeners) l();
    });
  }

  connect(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.connection = 'open';
      this.everOpen = true;
      this.changed();
    };
    ws.onmessage = (m) => {
      if (typeof m.data !== 'string') return;
      this.receive(JSON.parse(m.data) as ServerMessage);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.connection = this.everOpen ? 'closed' : 'connecting';
      this.changed();
      // The engine may come back on the same port (a new run): try again now and then.
      setTimeout(() => this.connect(), 2000);
    };
  }

  setXState(on: boolean): void {
    this.xstate = on;
    try {
      localStorage.setItem('bt-actor-inspector-xstate', on ? '1' : '0');
    } catch {
      /* private mode: not remembered */
    }
    this.changed();
  }

  private define(defs: MachineDef[], reset: boolean): void {
    if (reset) {
      this.definitions = new Map();
      this.states = new Map();
    }
    for (const d of defs) {
      this.definitions.set(d.id, d);
      this.states.set(d.id, statesByPath(d));
    }
  }

  select(id: number | null): void {
    if (this.selected === id) return;
    this.selected = id;
    this.log = [];
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'select', id }));
    this.changed();
  }

  private receive(msg: ServerMessage): void {
    switch (msg.type) {
      case 'hello': {
        this.define(msg.definitions, true);
        this.actors = new Map(msg.actors.map((a) => [a.id, a]));
        this.stats = msg.stats;
        this.now = msg.t;
        if (this.selected === null || !this.actors.has(this.selected)) {
          const root = msg.actors.find((a) => a.parent === null);
          this.selected = null;
          if (root) this.select(root.id);
        } else if (this.ws?.readyState === WebSocket.OPEN) {
          this.ws.send(JSON.stringify({ type: 'select', id: this.selected }));
        }
        break;
      }
      case 'diff': {
        this.define(msg.definitions ?? [], false);
        for (const a of msg.upsert) this.actors.set(a.id, a);
        for (const id of msg.remove) this.actors.delete(id);
        this.stats = msg.stats;
        this.now = msg.t;
        break;
      }
      case 'log': {
        if (msg.id !== this.selected) return;
        this.log = msg.reset ? msg.lines.slice(-MAX_LOG) : [...this.log, ...msg.lines].slice(-MAX_LOG);
        break;
      }
    }
    this.changed();
  }
}

function readXState(): boolean {
  try {
    return localStorage.getItem('bt-actor-inspector-xstate') === '1';
  } catch {
    return false;
  }
}
