/**
 * Mermaid state diagrams generated from the machine definitions themselves, so the pictures in
 * docs/machines.md cannot drift from the code (test/app/machine-diagrams.test.ts regenerates and
 * compares; `npm run docs:machines` rewrites the file).
 */
import type { AnyStateMachine } from 'xstate';
import { machineRegistry, type MachineEntry } from '../machines/registry.js';
import { transitionLabel } from './inspect/definitions.js';

interface Node {
  id: string;
  key: string;
  type: string;
  states: Record<string, Node>;
  initial?: { target: Node[] };
  transitions: Map<string, { target?: Node[]; guard?: unknown; eventType: string }[]>;
  always?: { target?: Node[]; guard?: unknown }[];
}

const mid = (n: Node) => n.id.replace(/[^A-Za-z0-9]/g, '_');

function guardName(guard: unknown): string {
  if (!guard) return '';
  if (typeof guard === 'string') return ` [${guard}]`;
  if (typeof guard === 'object' && guard !== null && 'type' in guard && typeof guard.type === 'string')
    return ` [${guard.type}]`;
  return ' [guarded]';
}

function render(node: Node, indent: string, lines: string[]): void {
  const children = Object.values(node.states);
  if (node !== undefined && children.length > 0) {
    if (node.type === 'parallel') {
      children.forEach((c, i) => {
        if (i > 0) lines.push(`${indent}--`);
        renderState(c, indent, lines);
      });
    } else {
      const initial = node.initial?.target[0];
      if (initial) lines.push(`${indent}[*] --> ${mid(initial)}`);
      for (const c of children) renderState(c, indent, lines);
    }
  }
}

function renderState(node: Node, indent: string, lines: string[]): void {
  const children = Object.values(node.states);
  if (children.length > 0) {
    lines.push(`${indent}state "${node.key}${node.type === 'parallel' ? ' (parallel)' : ''}" as ${mid(node)} {`);
    render(node, `${indent}  `, lines);
    lines.push(`${indent}}`);
  } else {
    lines.push(`${indent}state "${node.key}" as ${mid(node)}`);
  }
  if (node.type === 'final') lines.push(`${indent}${mid(node)} --> [*]`);
}

/** Every transition with a target, as `from --> to: event [guard]`, in definition order. */
function edges(node: Node, out: string[]): void {
  for (const [eventType, list] of node.transitions) {
    for (const t of list) {
      for (const target of t.target ?? []) {
        if (target === node && eventType.startsWith('xstate.after')) continue; // timer re-arming itself
        out.push(`  ${mid(node)} --> ${mid(target)}: ${transitionLabel(eventType)}${guardName(t.guard)}`);
      }
    }
  }
  for (const t of node.always ?? []) {
    for (const target of t.target ?? []) out.push(`  ${mid(node)} --> ${mid(target)}: always${guardName(t.guard)}`);
  }
  for (const c of Object.values(node.states)) edges(c, out);
}

/** The Mermaid `stateDiagram-v2` of a machine. */
export function mermaidDiagram(machine: AnyStateMachine): string {
  const root = machine.root as unknown as Node;
  const lines = ['stateDiagram-v2'];
  render(root, '  ', lines);
  const out: string[] = [];
  edges(root, out);
  // Transitions on the machine itself apply in every state: draw them from an "any state" box.
  if (out.some((e) => e.startsWith(`  ${mid(root)} -->`))) lines.push(`  state "(any state)" as ${mid(root)}`);
  // The same arrow can stand for several events: merge them.
  const merged = new Map<string, string[]>();
  for (const e of out) {
    const [arrow, text] = e.split(': ');
    merged.set(arrow!, [...(merged.get(arrow!) ?? []), text!]);
  }
  for (const [arrow, texts] of merged) lines.push(`${arrow}: ${[...new Set(texts)].join(' / ')}`);
  return lines.join('\n');
}

export const documentedMachines: readonly MachineEntry[] = machineRegistry;

/** The whole of docs/machines.md. */
export function machinesMarkdown(): string {
  const parts = [
    '# The statecharts',
    '',
    'Generated from the machine definitions by `npm run docs:machines` (src/app/machine-diagrams.ts);',
    'a test regenerates this page and fails when it is stale. Each machine has its own page in',
    '[docs/machines/](machines/) with its invariants and flows.',
  ];
  for (const m of documentedMachines) {
    parts.push('', `## ${m.name}`, '', `\`${m.source}\``, '', '```mermaid', mermaidDiagram(m.machine), '```');
  }
  return `${parts.join('\n')}\n`;
}
