/**
 * tit-for-tat: leechers that upload (contributors) and leechers that barely can (free riders, 8 KiB/s
 * up). By the time the first contributor completes, contributors have given each other more, per
 * peer, than they gave the free riders: the choker rewards those who upload to us.
 */
import type { SimNode } from '../swarm.js';
import { type Scenario } from '../scenario.js';

export const titForTat: Scenario = {
  name: 'tit-for-tat',
  summary: 'peers that upload to us get more from us than free riders',
  defaultNodes: 13,
  async run({ sim, nodes, figures, fail }) {
    const t = sim.torrent({ length: 32 << 20, pieceLength: 256 << 10 });
    await sim.node(t, { complete: true, upBps: 512 << 10, label: 'seed' });
    const contributors: SimNode[] = [];
    const riders: SimNode[] = [];
    for (let i = 0; i < Math.max(2, nodes - 1); i++) {
      if (i % 2 === 0) contributors.push(await sim.node(t, { complete: false, upBps: 1 << 20, label: `c${i}` }));
      else riders.push(await sim.node(t, { complete: false, upBps: 8 << 10, label: `f${i}` }));
    }
    await sim.run(() => contributors.some((n) => n.completedAt !== undefined), 60 * 60_000);
    const given = (to: SimNode[]) => {
      let total = 0;
      for (const from of contributors)
        for (const n of to) if (n !== from) total += sim.net.delivered.get(`${from.host}>${n.host}`) ?? 0;
      return total / Math.max(1, to.length);
    };
    const toContributors = given(contributors);
    const toRiders = given(riders);
    figures['MiB from contributors, per contributor'] = Math.round(toContributors / 2 ** 17) / 8;
    figures['MiB from contributors, per free rider'] = Math.round(toRiders / 2 ** 17) / 8;
    figures['ratio'] = toRiders > 0 ? Math.round((toContributors / toRiders) * 100) / 100 : 'inf';
    if (!(toContributors > toRiders)) fail('free riders got as much from the contributors as the contributors did');
  },
};
