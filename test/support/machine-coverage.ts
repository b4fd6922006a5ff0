/**
 * Records which states and transitions of the engine's statecharts the tests reach (a vitest setup
 * file; inactive unless BT_MACHINE_COVERAGE names a folder). Every actor system a test starts gets an
 * inspection observer: `@xstate.snapshot` events give the states entered, `@xstate.microstep` events the
 * transitions taken. After each test file the tallies go to a JSON file in that folder, with the
 * structure of every machine of the registry; scripts/machine-coverage.mjs adds them up.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { Actor, type InspectionEvent } from 'xstate';
import { machineRegistry, machineStructure, transitionKey } from '../../src/machines/registry.js';

const dir = process.env.BT_MACHINE_COVERAGE;

if (dir) {
  const names = new Set(machineRegistry.map((m) => m.name));
  const reached = new Map<string, { states: Set<string>; transitions: Set<string> }>();
  const tally = (name: string) => {
    let t = reached.get(name);
    if (!t) reached.set(name, (t = { states: new Set(), transitions: new Set() }));
    return t;
  };
  const machineOf = (ref: unknown): string | undefined => {
    const logic = (ref as { logic?: { id?: unknown; root?: unknown } }).logic;
    const id = logic?.root && typeof logic.id === 'string' ? logic.id : undefined;
    return id !== undefined && names.has(id) ? id : undefined;
  };
  const observe = (e: InspectionEvent) => {
    const name = machineOf(e.actorRef);
    if (!name) return;
    if (e.type === '@xstate.snapshot') {
      const nodes = (e.snapshot as { _nodes?: { id: string; parent?: unknown }[] })._nodes ?? [];
      for (const n of nodes) if (n.parent) tally(name).states.add(n.id);
    } else if (e.type === '@xstate.microstep') {
      const ts = (e as { _transitions?: Parameters<typeof transitionKey>[0][] })._transitions ?? [];
      for (const t of ts) tally(name).transitions.add(transitionKey(t));
      const nodes = (e.snapshot as { _nodes?: { id: string; parent?: unknown }[] })._nodes ?? [];
      for (const n of nodes) if (n.parent) tally(name).states.add(n.id);
    }
  };
  const watched = new WeakSet<object>();
  const start = Actor.prototype.start;
  Actor.prototype.start = function (this: Actor<never>) {
    const system = this.system as unknown as { inspect(o: (e: InspectionEvent) => void): unknown };
    if (!watched.has(system)) {
      watched.add(system);
      system.inspect(observe);
    }
    return start.call(this);
  };
  afterAll(() => {
    mkdirSync(dir, { recursive: true });
    const machines: Record<string, unknown> = {};
    for (const m of machineRegistry) {
      const t = reached.get(m.name);
      machines[m.name] = {
        structure: machineStructure(m.machine),
        states: [...(t?.states ?? [])],
        transitions: [...(t?.transitions ?? [])],
      };
    }
    writeFileSync(join(dir, `${randomUUID()}.json`), JSON.stringify({ machines }));
  });
}
