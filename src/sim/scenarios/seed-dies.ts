/**
 * seed-dies-mid-piece: of two seeds, the fast one dies (its connections reset, its address refuses)
 * while the leechers hold half-received pieces from it. The pieces are finished from the slow seed and
 * from each other: every leecher completes, no piece fails its hash, no peer is banned.
 */
import type { SimNode } from '../swarm.js';
import { allComplete, bannedHosts, secs, type Scenario } from '../scenario.js';

export const seedDies: Scenario = {
  name: 'seed-dies-mid-piece',
  summary: 'the fast seed dies mid-piece: the slow seed and the swarm finish every piece, no hash failure',
  defaultNodes: 8,
  async run({ sim, nodes, figures, fail }) {
    const t = sim.torrent({ length: 8 << 20, pieceLength: 1 << 20 });
    const fast = await sim.node(t, { complete: true, upBps: 4 << 20, label: 'fast seed' });
    await sim.node(t, { complete: true, upBps: 512 << 10, label: 'slow seed' });
    const leechers: SimNode[] = [];
    for (let i = 0; i < Math.max(1, nodes - 2); i++)
      leechers.push(await sim.node(t, { complete: false, upBps: 512 << 10 }));
    // Dies once the swarm holds about a third of the data: mid-piece, as 1 MiB pieces take a while.
    const third = (t.meta.pieceCount * leechers.length) / 3;
    await sim.run(() => leechers.reduce((a, n) => a + n.handle.progress.verifiedPieces, 0) >= third, 10 * 60_000);
    const partial = leechers.filter((n) => (n.handle.actor?.getSnapshot().context.svc.buffers?.size ?? 0) > 0).length;
    const diedAt = sim.clock.now();
    sim.net.kill(fast.host);
    await sim.closeNode(fast);
    const why = await sim.run(() => allComplete(leechers), diedAt + 30 * 60_000);
    figures['seed died at s'] = secs(diedAt);
    figures['leechers with pieces in progress then'] = partial;
    figures['last complete s'] = secs(Math.max(...leechers.map((n) => n.completedAt ?? Infinity)));
    figures['hash failures'] = leechers.reduce((a, n) => a + n.storage.hashFailed, 0);
    if (why !== 'done') fail(`${leechers.filter((n) => n.completedAt === undefined).length} leechers incomplete`);
    if (leechers.some((n) => n.storage.hashFailed > 0)) fail('a piece failed its hash');
    const bans = leechers.flatMap((n) => bannedHosts(n));
    if (bans.length > 0) fail(`bans: ${bans.join(', ')}`);
  },
};
