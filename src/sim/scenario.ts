/**
 * Running a named scenario for one seed: a fresh {@link Sim}, the scenario's setup and checks, its
 * figures, the trace digest and a verdict. `runScenario` never throws for a failing check: it returns
 * `ok: false` with the reason (and a thrown error is a failure too), so a sweep can go on.
 */
import { monotonicNow } from '../io/clock.js';
import { Sim, type SimNode } from './swarm.js';

export type Figures = Record<string, string | number>;

export interface ScenarioContext {
  sim: Sim;
  nodes: number;
  /** Figures to print (name → value). */
  figures: Figures;
  /** Records a failed check (the run goes on; any failure fails the run). */
  fail(reason: string): void;
}

export interface Scenario {
  name: string;
  /** What it asserts, one line. */
  summary: string;
  /** `--nodes` when not given. */
  defaultNodes: number;
  run(ctx: ScenarioContext): Promise<void>;
}

export interface ScenarioResult {
  name: string;
  seed: number;
  nodes: number;
  ok: boolean;
  failures: string[];
  figures: Figures;
  trace: string;
  wallMs: number;
  sim: Sim;
}

/** Runs `scenario` with `seed` on `nodes` nodes (its default when undefined). */
export async function runScenario(scenario: Scenario, seed: number, nodes?: number): Promise<ScenarioResult> {
  const started = monotonicNow();
  const n = nodes ?? scenario.defaultNodes;
  const sim = new Sim({ seed });
  const failures: string[] = [];
  const figures: Figures = {};
  try {
    await scenario.run({ sim, nodes: n, figures, fail: (r) => failures.push(r) });
  } catch (err) {
    failures.push(`threw: ${(err as Error)?.stack ?? String(err)}`);
  }
  try {
    await sim.close();
  } catch (err) {
    failures.push(`close threw: ${String(err)}`);
  }
  if (sim.errors.length > 0) failures.push(`torrent errors: ${sim.errors.slice(0, 3).join('; ')}`);
  return {
    name: scenario.name,
    seed,
    nodes: n,
    ok: failures.length === 0,
    failures,
    figures,
    trace: sim.trace.digest(),
    wallMs: Math.round(monotonicNow() - started),
    sim,
  };
}

/** The line a run ends with: `sim NAME seed S nodes N trace HEX ok` or `… FAILED: reason`. */
export function verdictLine(r: ScenarioResult): string {
  const head = `sim ${r.name} seed ${r.seed} nodes ${r.nodes} trace ${r.trace}`;
  return r.ok ? `${head} ok` : `${head} FAILED: ${r.failures.join('; ')}`;
}

/** The command that replays a run. */
export function replayCommand(r: Pick<ScenarioResult, 'name' | 'seed' | 'nodes'>): string {
  return `npm run sim -- --scenario ${r.name} --seed ${r.seed} --nodes ${r.nodes}`;
}

/** Seconds, one decimal. */
export const secs = (ms: number): number => Math.round(ms / 100) / 10;

/** Whether every node in `nodes` completed. */
export const allComplete = (nodes: readonly SimNode[]): boolean => nodes.every((n) => n.completedAt !== undefined);

/** Hosts that `by` has banned (from its torrent's ban list). */
export function bannedHosts(by: SimNode): string[] {
  const bans = by.handle.actor?.getSnapshot().context.bans ?? [];
  return bans.map((b) => b.address.replace(/:\d+$/, ''));
}

/**
 * For each peer `by` is connected to, whether `by` unchokes it now (read from `by`'s peer actors):
 * host → unchoked.
 */
export function unchokedBy(by: SimNode): Map<string, { unchoked: boolean; interested: boolean }> {
  const out = new Map<string, { unchoked: boolean; interested: boolean }>();
  const children = (by.handle.actor?.getSnapshot().children ?? {}) as Record<
    string,
    { getSnapshot(): { status: string; value: unknown } } | undefined
  >;
  for (const [id, child] of Object.entries(children)) {
    if (!id.startsWith('peer:') || !child) continue;
    const snap = child.getSnapshot();
    const v = snap.value as { connected?: Record<string, string> } | string;
    if (snap.status !== 'active' || typeof v !== 'object' || !v.connected) continue;
    const host = id.slice(5).replace(/#\d+$/, '').replace(/:\d+$/, '');
    out.set(host, {
      unchoked: v.connected.amChoking === 'unchoked',
      interested: v.connected.peerInterested === 'interested',
    });
  }
  return out;
}
