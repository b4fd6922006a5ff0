/**
 * churn: N leechers join at random times over the first minute; 40 % of them leave 1–8 s after joining
 * (half close cleanly, half vanish: connections reset). Every leecher that stays completes; when the
 * swarm is closed no connection stays open and no timer is left (nothing leaked).
 */
import type { SimNode } from '../swarm.js';
import { secs, type Scenario } from '../scenario.js';

export const churn: Scenario = {
  name: 'churn',
  summary: 'peers joining and leaving: all that stay complete; no leaked connections or timers',
  defaultNodes: 50,
  async run({ sim, nodes, figures, fail }) {
    const t = sim.torrent({ length: 16 << 20, pieceLength: 256 << 10 });
    await sim.node(t, { complete: true, upBps: 2 << 20, label: 'seed' });
    const rnd = sim.prng.fork('churn');
    const n = Math.max(2, nodes - 1);
    const plans = Array.from({ length: n }, (_, i) => ({
      i,
      joinAt: Math.round(rnd.between(0, 60_000)),
      leave: rnd.random() < 0.4 ? { at: Math.round(rnd.between(1_000, 8_000)), abrupt: rnd.random() < 0.5 } : undefined,
    }));
    const joined: { node: SimNode; plan: (typeof plans)[number] }[] = [];
    for (const plan of [...plans].sort((a, b) => a.joinAt - b.joinAt || a.i - b.i)) {
      await sim.advance(plan.joinAt - sim.clock.now());
      const node = await sim.node(t, { complete: false, upBps: 1 << 20, label: `l${plan.i}` });
      joined.push({ node, plan });
      if (plan.leave) {
        const { abrupt } = plan.leave;
        sim.clock.setTimeout(() => {
          if (node.completedAt !== undefined) return;
          if (abrupt) sim.net.kill(node.host);
          node.closed = true;
          void node.engine.close();
        }, plan.leave.at);
      }
    }
    const stayers = () => joined.filter((j) => !j.node.closed).map((j) => j.node);
    const why = await sim.run(
      () => stayers().every((s) => s.completedAt !== undefined) && sim.clock.now() > 150_000,
      60 * 60_000,
    );
    const left = joined.filter((j) => j.node.closed).length;
    figures['joined'] = joined.length;
    figures['left early'] = left;
    figures['stayed and completed'] = stayers().filter((s) => s.completedAt !== undefined).length;
    figures['last complete s'] = secs(Math.max(...stayers().map((s) => s.completedAt ?? Infinity)));
    if (why !== 'done')
      fail(`${stayers().filter((s) => s.completedAt === undefined).length} staying leechers incomplete`);
    await sim.close();
    await sim.advance(5_000); // the wire bridges' last "destroy after 1 s" timers
    const open = sim.net.connections().length;
    figures['connections open after close'] = open;
    figures['timers pending after close'] = sim.clock.pending;
    if (open > 0) fail(`${open} connections still open after every engine closed`);
    if (sim.clock.pending > 0) fail(`${sim.clock.pending} timers still pending after every engine closed`);
  },
};
