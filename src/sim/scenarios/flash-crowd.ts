/**
 * flash-crowd: one seed and N leechers arrive together; every leecher completes, and the last one
 * within 1.5× the fluid-model bound of the upload capacity: T ≥ max(F / u_seed, N·F / (u_seed + Σ u_leechers))
 * (download links unbounded).
 */
import type { SimNode } from '../swarm.js';
import { allComplete, secs, type Scenario } from '../scenario.js';

/** Torrent size in MiB: 64, or `SIM_FLASH_MIB` (the test suite runs smaller swarms). */
const sizeMiB = () => Number(process.env.SIM_FLASH_MIB ?? 64);
const UP = 1 << 20;

export const flashCrowd: Scenario = {
  name: 'flash-crowd',
  summary: '1 seed, N leechers at once: all complete within 1.5x the fluid-model bound',
  defaultNodes: 50,
  async run({ sim, nodes, figures, fail }) {
    const MIB = sizeMiB();
    const t = sim.torrent({ length: MIB << 20, pieceLength: 256 << 10 });
    const seed = await sim.node(t, { complete: true, upBps: UP, label: 'seed' });
    const leechers: SimNode[] = [];
    for (let i = 0; i < nodes; i++) leechers.push(await sim.node(t, { complete: false, upBps: UP }));
    const F = t.meta.length;
    const bound = Math.max(F / UP, (nodes * F) / (UP * (nodes + 1))) * 1000;
    const why = await sim.run(() => allComplete(leechers), bound * 4);
    const done = leechers.map((n) => n.completedAt ?? Infinity);
    const last = Math.max(...done);
    figures['size MiB'] = MIB;
    figures['fluid bound s'] = secs(bound);
    figures['last complete s'] = Number.isFinite(last) ? secs(last) : 'never';
    figures['first complete s'] = secs(Math.min(...done));
    figures['ratio'] = Number.isFinite(last) ? Math.round((last / bound) * 100) / 100 : 'inf';
    // What the seed's uplink carried (payload and protocol): a swarm cannot finish before the seed sent
    // every piece once, so every MiB above the torrent's size is a piece it sent again.
    let fromSeed = 0;
    for (const [pair, bytes] of sim.net.delivered) if (pair.startsWith(`${seed.host}>`)) fromSeed += bytes;
    figures['seed uploaded MiB'] = Math.round((fromSeed / (1 << 20)) * 10) / 10;
    if (why !== 'done')
      fail(`${leechers.filter((n) => n.completedAt === undefined).length} leechers incomplete (${why})`);
    else if (last > 1.5 * bound) fail(`last leecher at ${secs(last)} s > 1.5 x fluid bound ${secs(bound)} s`);
  },
};
