/**
 * Every statechart of the engine, by name, with its source file: the docs generator, the inspector and
 * the machine coverage report (`npm run coverage:machines`) all walk this list, so a machine added here
 * is drawn, inspected and held to 100 % coverage.
 */
import type { AnyStateMachine } from 'xstate';
import { chokerMachine } from './choker/choker.machine.js';
import { metadataPeerMachine } from './peer/metadata-peer.machine.js';
import { dhtLookupMachine } from './dht/dht-lookup.machine.js';
import { dhtQueryMachine } from './dht/dht-query.machine.js';
import { dhtTickerMachine } from './dht/dht-ticker.machine.js';
import { dhtMachine } from './dht/dht.machine.js';
import { peerMachine } from './peer/peer.machine.js';
import { torrentMachine } from './torrent/torrent.machine.js';
import { announcerMachine } from './tracker/announcer.machine.js';
import { trackerMachine } from './tracker/tracker.machine.js';
import { webSeedMachine } from './webseed/webseed.machine.js';

export interface MachineEntry {
  name: string;
  source: string;
  machine: AnyStateMachine;
}

export const machineRegistry: readonly MachineEntry[] = [
  { name: 'torrent', source: 'src/machines/torrent/torrent.machine.ts', machine: torrentMachine },
  { name: 'peer', source: 'src/machines/peer/peer.machine.ts', machine: peerMachine },
  {
    name: 'metadataPeer',
    source: 'src/machines/peer/metadata-peer.machine.ts',
    machine: metadataPeerMachine,
  },
  { name: 'announcer', source: 'src/machines/tracker/announcer.machine.ts', machine: announcerMachine },
  { name: 'tracker', source: 'src/machines/tracker/tracker.machine.ts', machine: trackerMachine },
  { name: 'choker', source: 'src/machines/choker/choker.machine.ts', machine: chokerMachine },
  { name: 'webseed', source: 'src/machines/webseed/webseed.machine.ts', machine: webSeedMachine },
  { name: 'dht', source: 'src/machines/dht/dht.machine.ts', machine: dhtMachine },
  { name: 'dhtLookup', source: 'src/machines/dht/dht-lookup.machine.ts', machine: dhtLookupMachine },
  { name: 'dhtQuery', source: 'src/machines/dht/dht-query.machine.ts', machine: dhtQueryMachine },
  { name: 'dhtTicker', source: 'src/machines/dht/dht-ticker.machine.ts', machine: dhtTickerMachine },
];

/** A state node as the structure walk sees it (XState's StateNode, reduced to what is read here). */
interface NodeLike {
  id: string;
  parent?: NodeLike;
  states: Record<string, NodeLike>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
}

interface TransitionLike {
  source: NodeLike;
  eventType: string;
}

/**
 * A stable name for a transition definition: its source state, its event, and its place among the
 * alternatives for that event (`guard ? a : b` are two transitions). The same in every `provide()`d copy
 * of a machine.
 */
export function transitionKey(t: TransitionLike): string {
  const list = t.eventType === '' ? (t.source.always ?? []) : (t.source.transitions.get(t.eventType) ?? []);
  return `${t.source.id} ${t.eventType === '' ? '(always)' : t.eventType} #${list.indexOf(t)}`;
}

/** Every state (but the root) and every transition of a machine, by id and {@link transitionKey}. */
export function machineStructure(machine: AnyStateMachine): { states: string[]; transitions: string[] } {
  const states: string[] = [];
  const transitions: string[] = [];
  const walk = (node: NodeLike) => {
    if (node.parent) states.push(node.id);
    for (const list of node.transitions.values()) for (const t of list) transitions.push(transitionKey(t));
    for (const t of node.always ?? []) transitions.push(transitionKey(t));
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(machine.root as unknown as NodeLike);
  return { states, transitions };
}
