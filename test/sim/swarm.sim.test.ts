/**
 * The swarm simulator (src/sim): every named scenario passes for a fixed seed on a small swarm, a
 * seed fixes the whole run (same seed, same trace digest; another seed, another digest), and the
 * command's last line is the one the issue names. Small swarms keep this file well under a minute of
 * wall time on two cores; `npm run sim -- --seeds N` sweeps further (docs/simulation.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/sim/cli.js';
import { runScenario, type ScenarioResult } from '../../src/sim/scenario.js';
import { scenarioNamed, scenarios } from '../../src/sim/scenarios/index.js';
import { Sim } from '../../src/sim/swarm.js';

/** Nodes per scenario here (their defaults are the full-size runs of the command). */
const SMALL: Record<string, number> = {
  'flash-crowd': 6,
  poisoner: 6,
  churn: 10,
  'optimistic-fairness': 8,
  'tit-for-tat': 7,
  'endgame-finishes': 4,
  'tracker-failover': 4,
  'seed-dies-mid-piece': 5,
  'slow-disk': 4,
};

const said = (r: ScenarioResult) => `${r.failures.join('; ')} (replay: seed ${r.seed}, nodes ${r.nodes})`;

let saved: string | undefined;
beforeAll(() => {
  saved = process.env.SIM_FLASH_MIB;
  process.env.SIM_FLASH_MIB = '64';
});
afterAll(() => {
  if (saved === undefined) delete process.env.SIM_FLASH_MIB;
  else process.env.SIM_FLASH_MIB = saved;
});

describe('swarm simulator: the named scenarios, seed 1, small swarms', () => {
  it('lists every scenario the issue names', () => {
    expect(scenarios.map((s) => s.name).sort()).toEqual(
      [
        'churn',
        'endgame-finishes',
        'flash-crowd',
        'optimistic-fairness',
        'poisoner',
        'seed-dies-mid-piece',
        'slow-disk',
        'tit-for-tat',
        'tracker-failover',
      ].sort(),
    );
  });

  for (const name of Object.keys(SMALL).filter((n) => n !== 'flash-crowd')) {
    it(name, async () => {
      const r = await runScenario(scenarioNamed(name)!, 1, SMALL[name]);
      expect(r.ok, said(r)).toBe(true);
    });
  }
});

describe('swarm simulator: one seed, one run', () => {
  it('the same seed gives the same trace digest; another seed another', async () => {
    const poisoner = scenarioNamed('poisoner')!;
    const a = await runScenario(poisoner, 3, 5);
    const b = await runScenario(poisoner, 3, 5);
    const c = await runScenario(poisoner, 4, 5);
    expect(a.ok && b.ok && c.ok, [a, b, c].map(said).join(' / ')).toBe(true);
    expect(a.sim.trace.count).toBeGreaterThan(500);
    expect(b.trace).toBe(a.trace);
    expect(b.sim.trace.count).toBe(a.sim.trace.count);
    expect(b.sim.clock.now()).toBe(a.sim.clock.now());
    expect(c.trace).not.toBe(a.trace);
  });

  it('flash-crowd: every leecher completes, and twice the same seed gives the same trace', async () => {
    process.env.SIM_FLASH_MIB = '4';
    const flash = scenarioNamed('flash-crowd')!;
    const a = await runScenario(flash, 7, 5);
    const b = await runScenario(flash, 7, 5);
    // Every leecher completed (the 1.5x-of-fluid-bound check is the full-size run's: docs/simulation.md).
    expect(a.sim.nodes.every((n) => n.completedAt !== undefined)).toBe(true);
    expect(b.trace).toBe(a.trace);
    expect(b.figures).toEqual(a.figures);
  });
});

describe('swarm simulator: the network and the command', () => {
  it('a node that dials a host with no listener is refused, through the real wire bridge', async () => {
    const sim = new Sim({ seed: 1 });
    const t = sim.torrent({ length: 1 << 20, pieceLength: 256 << 10, announce: [] });
    const n = await sim.node(t, { complete: false, upBps: 1 << 20 });
    await n.handle.pause();
    sim.net.addHost('10.9.9.9', { upBps: 1 << 20 });
    const s = sim.net.transportFor(n.host).dial('10.9.9.9', 6881);
    const seen: string[] = [];
    s.on('error', (e) => seen.push(e.code ?? '?'));
    s.on('close', () => seen.push('close'));
    await sim.advance(1000);
    expect(seen).toEqual(['ECONNREFUSED', 'close']);
    await sim.close();
  });

  it('npm run sim ends with `sim NAME seed S nodes N trace HEX ok`, exit 0; bad input is one line, exit 2', async () => {
    const lines: string[] = [];
    const code = await main(['--scenario', 'tracker-failover', '--seed', '5', '--nodes', '3'], (s) => lines.push(s));
    expect(code).toBe(0);
    expect(lines.at(-1)).toMatch(/^sim tracker-failover seed 5 nodes 3 trace [0-9a-f]{16} ok$/);
    expect(lines.some((l) => l.includes('announces answered by the live tier'))).toBe(true);
    expect(await main(['--scenario', 'nope', '--seed', '1'], () => undefined)).toBe(2);
    expect(await main(['--seed', 'x'], () => undefined)).toBe(2);
  });
});
