/**
 * The engine's DHT on 127.0.0.1 (every node bootstrapped from 127.0.0.1 only, never a public router):
 * a leecher engine that knows no peer finds a seeder engine through the DHT and downloads; the node is
 * started only by a torrent that may use it (a private one never starts it); the table is saved in the
 * state folder at close and loaded by the next engine.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { DhtNode } from '../../src/app/dht-node.js';
import { InspectCollector } from '../../src/app/inspect/collector.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { expectSameData, writeRandom } from '../support/data.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-engine-dht-'));
  await writeRandom(join(work, 'src', 'data.bin'), 3 * 1024 * 1024 + 5);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function torrentOf(isPrivate: boolean): Promise<Uint8Array> {
  const { torrent } = await createTorrent(join(work, 'src', 'data.bin'), {
    creationDate: null,
    announce: [],
    ...(isPrivate && { private: true }),
  });
  return torrent;
}

describe('engine DHT on 127.0.0.1', () => {
  it('a leecher that knows no peer finds the seeder through the DHT; the tables are saved and loaded', async () => {
    const torrent = await torrentOf(false);
    const meta = parseMetainfo(torrent);
    const bootDir = join(work, 'state-boot');
    // A bootstrap node of our own: an engine-less DHT node with no bootstrap list.
    const boot = new DhtNode({ port: 0, host: '127.0.0.1', bootstrap: [], stateDir: bootDir });
    const started = new Promise<number>((resolve) =>
      boot.events$.subscribe((e) => e.type === 'dht.started' && resolve(e.port)),
    );
    await boot.add(new Uint8Array(20).fill(1)); // starts it (a lookup for an info hash nobody has)
    const bootPort = await started;
    const dht = (name: string) => ({ bootstrap: [`127.0.0.1:${bootPort}`], stateDir: join(work, name) });
    const collector = new InspectCollector();
    const seeder = await Engine.create({
      port: 0,
      host: '127.0.0.1',
      dht: dht('state-seed'),
      inspect: collector.observer,
    });
    const leecher = await Engine.create({ port: 0, host: '127.0.0.1', dht: dht('state-leech') });
    try {
      expect(seeder.dht!.started).toBe(false); // no torrent yet: no DHT node, no UDP port
      await seeder.add(torrent, { dir: join(work, 'src') });
      expect(seeder.dht!.started).toBe(true);
      // The seeder announces after its first lookup (which finds nobody).
      await new Promise<void>((resolve) =>
        seeder.dht!.events$.subscribe((e) => e.type === 'dht.lookupDone' && e.announced > 0 && resolve()),
      );
      const found: string[] = [];
      leecher.dht!.events$.subscribe((e) => {
        if (e.type === 'dht.peers') found.push(...e.peers.map((p) => `${p.host}:${p.port}`));
      });
      const t = await leecher.add(torrent, { dir: join(work, 'out') });
      await t.completed;
      expect(found).toContain(`127.0.0.1:${seeder.port}`);
      await expectSameData(meta, join(work, 'src'), join(work, 'out'));
      expect(leecher.dht!.stats!.nodes).toBeGreaterThan(0);
      // The inspector lists the seeder's DHT node as an actor, in its state, with its counters.
      const node = collector.hello().actors.find((a) => a.machine === 'dht')!;
      expect(node).toMatchObject({ name: expect.any(String), value: { active: 'ready' } });
      expect(node.context.stats).toMatchObject({
        nodes: expect.any(Number),
        inFlight: expect.any(Number),
        lookups: expect.any(Number),
      });
      expect((node.context.stats as { nodes: number }).nodes).toBeGreaterThan(0);
      expect(node.context.pending).toBeUndefined(); // the query table stays out of the page
    } finally {
      collector.close();
      await leecher.close();
      await seeder.close();
      await boot.close();
    }
    const saved = JSON.parse(await readFile(join(work, 'state-leech', 'dht.json'), 'utf8')) as {
      id: string;
      nodes: [string, string, number][];
    };
    expect(saved.nodes.some(([, host, port]) => host === '127.0.0.1' && port === bootPort)).toBe(true);
    expect((await stat(join(work, 'state-leech'))).mode & 0o777).toBe(0o700);
    expect((await stat(join(work, 'state-leech', 'dht.json'))).mode & 0o777).toBe(0o600);
    // The next engine with that state folder starts from the saved table, under the same id.
    const again = await Engine.create({
      port: 0,
      host: '127.0.0.1',
      dht: { bootstrap: [], stateDir: join(work, 'state-leech') },
    });
    try {
      const startedAgain = new Promise<number>((resolve) =>
        again.dht!.events$.subscribe((e) => e.type === 'dht.started' && resolve(e.nodes)),
      );
      await again.add(torrent, { dir: join(work, 'out'), paused: true });
      expect(await startedAgain).toBe(saved.nodes.length);
      expect(again.dht!.ref!.getSnapshot().context.ownId).toEqual(Uint8Array.from(Buffer.from(saved.id, 'hex')));
    } finally {
      await again.close();
    }
  }, 60_000);

  it('a private torrent never starts the DHT (BEP 27); dht: false has no node at all', async () => {
    const torrent = await torrentOf(true);
    const engine = await Engine.create({
      port: 0,
      host: '127.0.0.1',
      dht: { bootstrap: [], stateDir: join(work, 'p') },
    });
    const off = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      await engine.add(torrent, { dir: join(work, 'private-out'), paused: true });
      expect(engine.dht!.started).toBe(false);
      expect(off.dht).toBeUndefined();
    } finally {
      await engine.close();
      await off.close();
    }
    await expect(stat(join(work, 'p', 'dht.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
