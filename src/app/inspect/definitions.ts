/**
 * Machine definitions for the inspector page, read from the running machine's state nodes (the same
 * source as docs/machines.md, see machine-diagrams.ts): whatever the machines look like today is
 * what the page draws.
 */
import type { AnyStateMachine } from 'xstate';
import { withMeanings } from './meanings.js';
import type { MachineDef, StateDef, TransitionDef } from './protocol.js';

/** The parts of an XState v5 StateNode read here. */
interface Node {
  key: string;
  path: string[];
  type: string;
  description?: string;
  states: Record<string, Node>;
  initial?: { target: Node[] };
  transitions: Map<string, { target?: Node[]; guard?: unknown; actions?: unknown[]; reenter?: boolean }[]>;
  always?: { target?: Node[]; guard?: unknown; actions?: unknown[] }[];
  invoke?: { src: unknown; id?: string }[];
  entry?: unknown[];
  exit?: unknown[];
}

/** `xstate.after.keepAliveInterval.peer.connected…` → `after keepAliveInterval`; done/error events shortened. */
export function transitionLabel(eventType: string): string {
  if (eventType === '') return 'always';
  const after = /^xstate\.after\.([^.]+)\./.exec(eventType);
  if (after) return `after ${after[1]}`;
  const done = /^xstate\.done\.actor\.(.+)$/.exec(eventType);
  if (done) return `${done[1]} done`;
  const error = /^xstate\.error\.actor\.(.+)$/.exec(eventType);
  if (error) return `${error[1]} error`;
  const doneState = /^xstate\.done\.state\.(.+)$/.exec(eventType);
  if (doneState) return `${doneState[1]!.split('.').pop()} done`;
  return eventType;
}

function nameOf(x: unknown): string | undefined {
  if (typeof x === 'string') return x;
  if (x && typeof x === 'object' && 'type' in x && typeof (x as { type: unknown }).type === 'string') {
    const t = (x as { type: string }).type;
    // Built-in action creators have internal names (xstate.assign …): keep the short form.
    return t.startsWith('xstate.') ? t.slice(7) : t;
  }
  if (typeof x === 'function') {
    const f = x as { type?: unknown; name?: string };
    if (typeof f.type === 'string') return f.type.startsWith('xstate.') ? f.type.slice(7) : f.type;
    return undefined; // an inline function: unnamed
  }
  return undefined;
}

/** A guard as text: its name, `!a`, `a && b`, `a || b`, `in #peer.connected…` for XState's combinators. */
function guardName(guard: unknown): string | undefined {
  if (!guard) return undefined;
  if (typeof guard === 'function') {
    const g = guard as { name?: string; guards?: unknown[]; stateValue?: unknown };
    if (Array.isArray(g.guards)) {
      const parts = g.guards.map((x) => {
        const t = guardName(x) ?? 'guarded';
        return t.includes(' ') ? `(${t})` : t;
      });
      if (g.name === 'not') return `!${parts[0]}`;
      if (g.name === 'and') return parts.join(' && ');
      if (g.name === 'or') return parts.join(' || ');
    }
    if (g.stateValue !== undefined)
      return `in ${typeof g.stateValue === 'string' ? g.stateValue : JSON.stringify(g.stateValue)}`;
  }
  return nameOf(guard) ?? 'guarded';
}

function names(list: unknown[] | undefined): string[] {
  return (list ?? []).map(nameOf).filter((n): n is string => n !== undefined);
}

function stateType(n: Node): StateDef['type'] {
  if (n.type === 'parallel' || n.type === 'final' || n.type === 'history') return n.type;
  return Object.keys(n.states).length > 0 ? 'compound' : 'atomic';
}

function convert(n: Node): StateDef {
  const path = n.path.join('.');
  const on: TransitionDef[] = [];
  for (const [event, list] of n.transitions) {
    for (const t of list) {
      const guard = guardName(t.guard);
      on.push({
        event,
        label: transitionLabel(event),
        targets: (t.target ?? []).map((x) => x.path.join('.')),
        ...(guard !== undefined && { guard }),
        actions: names(t.actions),
        ...(t.reenter && { reenter: true }),
      });
    }
  }
  for (const t of n.always ?? []) {
    const guard = guardName(t.guard);
    on.push({
      event: '',
      label: 'always',
      targets: (t.target ?? []).map((x) => x.path.join('.')),
      ...(guard !== undefined && { guard }),
      actions: names(t.actions),
    });
  }
  const def: StateDef = {
    key: n.path.length === 0 ? '(machine)' : n.key,
    path,
    type: n.path.length === 0 && stateType(n) === 'atomic' ? 'compound' : stateType(n),
    states: Object.values(n.states).map(convert),
    on,
    invoke: (n.invoke ?? []).map((i) => (typeof i.src === 'string' ? i.src : (i.id ?? 'actor'))),
    entry: names(n.entry),
    exit: names(n.exit),
  };
  const initial = n.initial?.target[0];
  if (initial) def.initial = initial.key;
  if (n.description) def.description = n.description;
  return def;
}

/**
 * The definition of a state machine (logic): its state tree with transitions, guards and actions, and
 * each state's meaning in BitTorrent terms (src/app/inspect/meanings.ts).
 */
export function machineDefinition(machine: AnyStateMachine): MachineDef {
  const root = machine.root as unknown as Node;
  return { id: machine.id, root: withMeanings(machine.id, convert(root)) };
}

/** What the inspectors read of an actor (an XState `Actor`; `_parent` is internal but stable in v5). */
export interface ActorLike {
  id: string;
  sessionId: string;
  logic: unknown;
  system: unknown;
  getSnapshot(): unknown;
  _parent?: ActorLike;
}

/** Whether an actor's logic is a state machine (callback, promise and observable actors are not). */
export function isStateMachine(logic: unknown): logic is AnyStateMachine {
  return (
    !!logic &&
    typeof logic === 'object' &&
    'root' in logic &&
    'id' in logic &&
    typeof (logic as { id: unknown }).id === 'string'
  );
}
