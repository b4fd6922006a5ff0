/**
 * tracker-failover: the torrent's first tier is a dead tracker, its second a live one (BEP 12). Every
 * node gives up on the first tier, finds the swarm through the second, and every leecher completes.
 */
import type { SimNode } from '../swarm.js';
import { allComplete, secs, type Scenario } from '../scenario.js';

const DEAD = 'http://dead.sim/announce';
const LIVE = 'http://tracker.sim/announce';

export const trackerFailover: Scenario = {
  name: 'tracker-failover',
  summary: 'first tier dead, second works: every leecher finds the swarm and completes',
  defaultNodes: 6,
  async run({ sim, nodes, figures, fail }) {
    sim.tracker.dead.add(DEAD);
    const t = sim.torrent({ length: 2 << 20, pieceLength: 256 << 10, announce: [[DEAD], [LIVE]] });
    await sim.node(t, { complete: true, upBps: 1 << 20, label: 'seed' });
    const leechers: SimNode[] = [];
    for (let i = 0; i < Math.max(1, nodes - 1); i++)
      leechers.push(await sim.node(t, { complete: false, upBps: 1 << 20 }));
    const why = await sim.run(() => allComplete(leechers), 10 * 60_000);
    figures['announces answered by the live tier'] = sim.tracker.announces.get(LIVE) ?? 0;
    figures['announces answered by the dead tier'] = sim.tracker.announces.get(DEAD) ?? 0;
    figures['last complete s'] = secs(Math.max(...leechers.map((n) => n.completedAt ?? Infinity)));
    if (why !== 'done') fail(`${leechers.filter((n) => n.completedAt === undefined).length} leechers incomplete`);
    if ((sim.tracker.announces.get(LIVE) ?? 0) < nodes) fail('not every node announced to the second tier');
  },
};
