/**
 * poisoner: a seed, N honest leechers and one poisoner that claims every piece, serves corrupt blocks
 * and also sends blocks nobody asked for. The poisoner alone is banned (by every leecher that took data
 * from it), and every honest leecher completes.
 */
import { encodeMessage } from '../../protocol/wire.js';
import type { SimNode } from '../swarm.js';
import { allComplete, bannedHosts, type Scenario } from '../scenario.js';

const UP = 1 << 20;

export const poisoner: Scenario = {
  name: 'poisoner',
  summary: 'a peer sending stray and corrupt blocks is banned, alone; everyone else completes',
  defaultNodes: 10,
  async run({ sim, nodes, figures, fail }) {
    const t = sim.torrent({ length: 8 << 20, pieceLength: 256 << 10 });
    const seed = await sim.node(t, { complete: true, upBps: UP, label: 'seed' });
    const bad = await sim.node(t, { complete: true, upBps: 4 * UP, corrupt: () => true, label: 'poisoner' });
    const leechers: SimNode[] = [];
    for (let i = 0; i < Math.max(1, nodes - 2); i++) leechers.push(await sim.node(t, { complete: false, upBps: UP }));
    // Stray blocks: every 2 s, each of the poisoner's connections that is past its handshake gets a
    // piece message for a block nobody requested.
    const rnd = sim.prng.fork('poisoner');
    let strays = 0;
    const timer = sim.clock.setInterval(() => {
      for (const s of sim.net.connections().flatMap((c) => [c, c.peer])) {
        if (!s || s.destroyed || s.host.host !== bad.host || s.sent < 200) continue;
        const index = rnd.int(t.meta.pieceCount);
        const block = t.content.bytes(index * t.meta.pieceLength, 16384);
        block[1] = block[1]! ^ 0x55;
        s.write(encodeMessage({ type: 'piece', index, begin: 0, block }));
        strays++;
      }
    }, 2000);
    const why = await sim.run(() => allComplete(leechers), 30 * 60_000);
    sim.clock.clearInterval(timer);
    const banners = leechers.filter((n) => bannedHosts(n).includes(bad.host));
    const wrong = [seed, ...leechers].flatMap((by) =>
      bannedHosts(by)
        .filter((h) => h !== bad.host)
        .map((h) => `${by.host} banned ${h}`),
    );
    const fed = leechers.filter((n) => (sim.net.delivered.get(`${bad.host}>${n.host}`) ?? 0) > 64 * 1024);
    figures['stray blocks sent'] = strays;
    figures['hash failures'] = leechers.reduce((a, n) => a + n.storage.hashFailed, 0);
    figures['leechers fed by the poisoner'] = fed.length;
    figures['leechers that banned it'] = banners.length;
    if (why !== 'done')
      fail(`${leechers.filter((n) => n.completedAt === undefined).length} honest leechers incomplete`);
    if (wrong.length > 0) fail(`honest peers banned: ${wrong.join(', ')}`);
    if (banners.length === 0) fail('nobody banned the poisoner');
    const missed = fed.filter((n) => !banners.includes(n) && n.storage.hashFailed > 0);
    if (missed.length > 0) fail(`${missed.map((n) => n.host).join(', ')} took bad data from it and did not ban it`);
  },
};
