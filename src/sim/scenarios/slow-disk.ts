/**
 * slow-disk: the leechers' disks write 4x slower than the network delivers. They complete, at the
 * disk's pace, and the pieces waiting for the disk never exceed the torrent's write backlog
 * (`writeBacklogBytes`, here 1 MiB: four pieces, a small part of the torrent): memory stays bounded
 * however fast the peers could send, and blocks already requested when the disk fell behind cannot
 * overshoot it (they count against it too).
 */
import type { SimNode } from '../swarm.js';
import { allComplete, secs, type Scenario } from '../scenario.js';

export const slowDisk: Scenario = {
  name: 'slow-disk',
  summary: 'disk slower than the network: all complete, pieces waiting for the disk stay within the write backlog',
  defaultNodes: 5,
  async run({ sim, nodes, figures, fail }) {
    const piece = 256 << 10;
    const t = sim.torrent({ length: 8 << 20, pieceLength: piece });
    await sim.node(t, { complete: true, upBps: 8 << 20, label: 'seed' });
    const writeBps = 512 << 10;
    const backlog = 4 * piece;
    const leechers: SimNode[] = [];
    for (let i = 0; i < Math.max(1, nodes - 1); i++)
      leechers.push(
        await sim.node(t, { complete: false, upBps: 2 << 20, writeBps, settings: { writeBacklogBytes: backlog } }),
      );
    const why = await sim.run(() => allComplete(leechers), 30 * 60_000);
    const maxQueued = Math.max(...leechers.map((n) => n.storage.maxQueued));
    const bound = Math.ceil(backlog / piece) + 1;
    const last = Math.max(...leechers.map((n) => n.completedAt ?? Infinity));
    figures['disk KiB/s'] = writeBps / 1024;
    figures['most pieces waiting for the disk'] = maxQueued;
    figures['bound (write backlog / piece + 1)'] = bound;
    figures['last complete s'] = secs(last);
    figures['disk-bound time s'] = secs((t.meta.length * 1000) / writeBps);
    if (why !== 'done') fail(`${leechers.filter((n) => n.completedAt === undefined).length} leechers incomplete`);
    if (maxQueued > bound) fail(`${maxQueued} pieces waited for the disk at once (bound ${bound})`);
    if (maxQueued < 2) fail('the disk never fell behind: the scenario does not test what it is named for');
  },
};
