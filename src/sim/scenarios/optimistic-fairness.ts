/**
 * optimistic-fairness: a seed with more interested leechers than unchoke slots. Every interested
 * leecher is unchoked by the seed within 3 optimistic rounds (3 × 30 s, after the first rechoke).
 * Read from the seed's peer actors every second.
 */
import type { SimNode } from '../swarm.js';
import { secs, unchokedBy, type Scenario } from '../scenario.js';

const ROUND_MS = 30_000;

export const optimisticFairness: Scenario = {
  name: 'optimistic-fairness',
  summary: 'every interested peer is unchoked by the seed within 3 optimistic rounds',
  defaultNodes: 10,
  async run({ sim, nodes, figures, fail }) {
    // Big enough that nobody completes in the window: the leechers stay interested in the seed.
    const t = sim.torrent({ length: 64 << 20, pieceLength: 1 << 20 });
    const seed = await sim.node(t, { complete: true, upBps: 256 << 10, label: 'seed' });
    const leechers: SimNode[] = [];
    for (let i = 0; i < Math.max(1, nodes - 1); i++)
      leechers.push(await sim.node(t, { complete: false, upBps: 32 << 10 }));
    const firstUnchoke = new Map<string, number>();
    const interestedSince = new Map<string, number>();
    const timer = sim.clock.setInterval(() => {
      for (const [host, s] of unchokedBy(seed)) {
        if (s.interested && !interestedSince.has(host)) interestedSince.set(host, sim.clock.now());
        if (s.unchoked && !firstUnchoke.has(host)) firstUnchoke.set(host, sim.clock.now());
      }
    }, 1000);
    const window = 3 * ROUND_MS + 10_000;
    await sim.advance(window + 5_000);
    sim.clock.clearInterval(timer);
    const waits = leechers.map((n) => {
      const since = interestedSince.get(n.host);
      const at = firstUnchoke.get(n.host);
      return since === undefined ? undefined : (at ?? Infinity) - since;
    });
    const seen = waits.filter((w): w is number => w !== undefined);
    figures['leechers interested in the seed'] = seen.length;
    figures['unchoked within the window'] = seen.filter((w) => w <= window).length;
    const longest = seen.length ? Math.max(...seen) : 0;
    figures['longest wait s'] = Number.isFinite(longest) ? secs(longest) : 'never unchoked';
    if (seen.length < leechers.length) fail(`${leechers.length - seen.length} leechers never interested in the seed`);
    const starved = leechers.filter((_, i) => waits[i] !== undefined && waits[i]! > window);
    if (starved.length > 0) fail(`${starved.map((n) => n.host).join(', ')} not unchoked within 3 optimistic rounds`);
  },
};
