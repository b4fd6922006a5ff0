/**
 * endgame-finishes: a leecher with one fast seed and several very slow ones (4 KiB/s: 4 s a block). Its
 * last blocks, requested from the slow seeds, do not hold it up: endgame asks the fast seed too, and it
 * completes within 1.25× of the fast seed's transfer time plus 3 s.
 */
import type { SimNode } from '../swarm.js';
import { secs, type Scenario } from '../scenario.js';

export const endgame: Scenario = {
  name: 'endgame-finishes',
  summary: 'the last blocks from slow peers do not stall the download',
  defaultNodes: 6,
  async run({ sim, nodes, figures, fail }) {
    const t = sim.torrent({ length: 8 << 20, pieceLength: 256 << 10 });
    const fastBps = 2 << 20;
    await sim.node(t, { complete: true, upBps: fastBps, label: 'fast seed' });
    for (let i = 0; i < Math.max(1, nodes - 2); i++)
      await sim.node(t, { complete: true, upBps: 4 << 10, label: `slow ${i}` });
    const leecher: SimNode = await sim.node(t, { complete: false, upBps: 1 << 20, label: 'leecher' });
    const bound = 1.25 * ((t.meta.length * 1000) / fastBps) + 3_000;
    const why = await sim.run(() => leecher.completedAt !== undefined, 30 * 60_000);
    const slowBytes = sim.nodes
      .filter((n) => n.label.startsWith('slow'))
      .reduce((a, n) => a + (sim.net.delivered.get(`${n.host}>${leecher.host}`) ?? 0), 0);
    figures['complete s'] = leecher.completedAt === undefined ? 'never' : secs(leecher.completedAt);
    figures['bound s'] = secs(bound);
    figures['KiB from the slow seeds'] = Math.round(slowBytes / 1024);
    if (why !== 'done') fail('the leecher did not complete');
    else if (leecher.completedAt! > bound) fail(`complete at ${secs(leecher.completedAt!)} s > ${secs(bound)} s`);
    const asked = sim.nodes.filter((n) => n.label.startsWith('slow')).reduce((a, n) => a + n.storage.blocksRead, 0);
    figures['blocks the slow seeds were asked for'] = asked;
    if (asked === 0) fail('nobody asked the slow seeds for a block: the scenario does not test what it is named for');
  },
};
