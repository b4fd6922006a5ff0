/**
 * bt-actor's DHT (BEP 5) against real DHT implementations, each run inside a private network namespace
 * that has only `lo` (helpers/netns.ts; ../shared/lab/dht's layout and libtorrent settings): no default
 * router, no DNS, nothing but 127.0.0.1 can be reached, whatever any program tries.
 *
 * (a) bt-actor, given a .torrent with no tracker and no --peer, only `--dht-bootstrap 127.0.0.1:P`, finds a
 *     libtorrent seeder through a DHT of libtorrent and bittorrent-dht nodes and downloads it byte-identical;
 *     its routing table is saved in --state-dir.
 * (b) a libtorrent leecher finds a bt-actor seeder through the DHT (bt-actor announced it), and
 * (c) a bittorrent-dht node's get_peers finds bt-actor's announce.
 * (d) with default settings (the public routers, by name) in such a namespace, bt-actor sends nothing to any
 *     address outside 127/8: the names do not resolve there, which does not stop the run.
 * (e) issue 15's "done when": `bt-actor run 'magnet:?xt=urn:btih:HEX' --dht-bootstrap 127.0.0.1:P` — no
 *     tracker, no --peer, no x.pe — gets the metadata and the data from the libtorrent seeder, and libtorrent's
 *     own magnet leecher does the same in the same setup (both times printed; figures in docs/dht.md).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { stopAll } from '../support/proc.js';
import { netns, waitFor, type Netns, type NsProc } from './helpers/netns.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const HELPERS = join(import.meta.dirname, 'helpers');
const PY = '/usr/bin/python3';
const BOOT = 47000;
let work: string;
let torrent: string;
let meta: Metainfo;
let ns: Netns | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-dht-interop-'));
  // 4 MiB, as the kit's run_magnet.py: the same setup as the libtorrent figures in docs/dht.md.
  await writeRandom(join(work, 'src', 'payload.bin'), 4 * 1024 * 1024);
  const made = await createTorrent(join(work, 'src', 'payload.bin'), { creationDate: null, announce: [] });
  torrent = join(work, 'payload.torrent');
  await writeFile(torrent, made.torrent);
  meta = parseMetainfo(made.torrent);
  expect(meta.private).toBe(false);
  expect(meta.announce).toEqual([]);
});
afterEach(async () => {
  await stopAll();
  await ns?.stop();
  ns = undefined;
});
afterAll(async () => {
  await stopAll();
  await rm(work, { recursive: true, force: true });
});

/** A libtorrent node (the kit's lt_node.py: DHT on 127.0.0.1 with the settings loopback needs). */
function ltNode(n: Netns, port: number, ...args: string[]): NsProc {
  return n.start(PY, [join(HELPERS, 'lt_node.py'), '--port', String(port), '--timeout', '150', ...args]);
}
/** A bittorrent-dht node (the kit's dht_node.mjs; bittorrent-dht from our node_modules). */
function jsNode(n: Netns, port: number, ...args: string[]): NsProc {
  return n.start(process.execPath, [
    join(HELPERS, 'dht_node.mjs'),
    '--port',
    String(port),
    '--timeout',
    '150',
    ...args,
  ]);
}
function btActor(n: Netns, args: string[], env: NodeJS.ProcessEnv = process.env): NsProc {
  return n.start(process.execPath, [BIN, 'run', ...args, '--bind', '127.0.0.1', '--json'], { env });
}
const has = (p: NsProc, ev: string, pred: (l: Record<string, unknown>) => boolean = () => true) =>
  p.lines.some((l) => l.ev === ev && pred(l));

/** A DHT of 2 libtorrent and 2 bittorrent-dht nodes, all bootstrapped from the first. */
async function dhtNetwork(n: Netns): Promise<NsProc[]> {
  const boot = ltNode(n, BOOT, '--every', '2');
  await waitFor(() => has(boot, 'listen'), 15_000, 'the libtorrent bootstrap node');
  const b = `127.0.0.1:${BOOT}`;
  const nodes = [boot, jsNode(n, BOOT + 1, '--bootstrap', b), ltNode(n, BOOT + 2, '--bootstrap', b)];
  nodes.push(jsNode(n, BOOT + 3, '--bootstrap', b));
  await waitFor(() => has(nodes[1]!, 'listening') && has(nodes[3]!, 'listening'), 15_000, 'the bittorrent-dht nodes');
  return nodes;
}

describe('DHT interop (inside a network namespace with only lo)', () => {
  it('(a) bt-actor finds a libtorrent seeder through a libtorrent + bittorrent-dht DHT: no tracker, no --peer', async () => {
    ns = await netns();
    await dhtNetwork(ns);
    const seeder = ltNode(ns, 47010, '--seed', torrent, '--dir', join(work, 'src'), '--bootstrap', `127.0.0.1:${BOOT}`);
    await waitFor(() => has(seeder, 'listen'), 15_000, 'the libtorrent seeder');
    await new Promise((r) => setTimeout(r, 2000)); // as run_magnet.py: the seeder's first announce
    const out = join(work, 'out-a');
    const state = join(work, 'state-a');
    const t0 = Date.now();
    const bt = btActor(ns, [
      torrent,
      '--out',
      out,
      '--port',
      '47020',
      '--dht-bootstrap',
      `127.0.0.1:${BOOT}`,
      '--state-dir',
      state,
    ]);
    const timer = setTimeout(() => void bt.stop(), 90_000);
    const code = await bt.exited;
    clearTimeout(timer);
    const seconds = (Date.now() - t0) / 1000;
    console.log(`(a) bt-actor: DHT lookup + download of 4 MiB from the libtorrent seeder in ${seconds.toFixed(1)} s`);
    expect(code, bt.output()).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
    const dht = bt.lines.filter((l) => l.event === 'dht');
    expect(dht[0]).toMatchObject({ type: 'started', port: 47020, routers: [{ host: '127.0.0.1', port: BOOT }] });
    const found = dht.find((l) => l.type === 'lookupDone' && l.purpose === 'torrent' && (l.peers as number) > 0);
    expect(found, JSON.stringify(dht)).toMatchObject({ target: meta.infoHashHex });
    // The seeder was dialled: the DHT gave its address (no tracker, no --peer).
    expect(bt.lines.some((l) => l.event === 'peer-connected' && l.key === '127.0.0.1:47010')).toBe(true);
    // The routing table was saved on exit, with our id and the nodes that answered.
    const saved = JSON.parse(await readFile(join(state, 'dht.json'), 'utf8')) as { nodes: unknown[] };
    expect(saved.nodes.length).toBeGreaterThan(0);
  }, 150_000);

  it('(b) a libtorrent leecher finds a bt-actor seeder through the DHT; (c) a bittorrent-dht get_peers finds it too', async () => {
    ns = await netns();
    await dhtNetwork(ns);
    const bt = btActor(ns, [
      torrent,
      '--out',
      join(work, 'src'),
      '--port',
      '47030',
      '--seed',
      '--dht-bootstrap',
      `127.0.0.1:${BOOT}`,
      '--state-dir',
      join(work, 'state-b'),
    ]);
    // bt-actor announces after its first lookup (it finds nobody: it is the only one with the torrent).
    await waitFor(
      () => bt.lines.some((l) => l.event === 'dht' && l.type === 'lookupDone' && (l.announced as number) > 0),
      30_000,
      "bt-actor's announce",
    );
    const getter = jsNode(
      ns,
      47040,
      '--bootstrap',
      `127.0.0.1:${BOOT}`,
      '--get-peers',
      meta.infoHashHex,
      '--every',
      '1',
    );
    const out = join(work, 'out-b');
    const leecher = ltNode(
      ns,
      47050,
      '--torrent',
      torrent,
      '--dir',
      out,
      '--bootstrap',
      `127.0.0.1:${BOOT}`,
      '--exit-when-done',
    );
    await waitFor(() => has(leecher, 'finished'), 90_000, 'the libtorrent leecher to finish');
    await expectSameData(meta, join(work, 'src'), out);
    // libtorrent dialled bt-actor as a peer it learnt from the DHT.
    expect(
      has(leecher, 'peer', (l) => l.addr === '127.0.0.1:47030' && (l.source as string[]).includes('dht')),
      JSON.stringify(leecher.lines.filter((l) => l.ev === 'peer')),
    ).toBe(true);
    await waitFor(
      () => has(getter, 'dht_peers', (l) => (l.peers as string[]).includes('127.0.0.1:47030')),
      30_000,
      "bittorrent-dht's get_peers to return bt-actor",
    );
    await bt.stop();
  }, 150_000);

  it('(d) default settings (the public routers, by name): nothing is sent outside 127/8, and the run goes on', async () => {
    ns = await netns();
    const trace = join(work, 'trace-d.txt');
    await writeFile(trace, '');
    const env = { ...process.env, BT_ACTOR_NO_DHT: '', BT_ACTOR_DHT_TRACE: trace };
    const seeder = ltNode(ns, 47060, '--seed', torrent, '--dir', join(work, 'src'), '--no-dht');
    await waitFor(() => has(seeder, 'listen'), 15_000, 'the libtorrent seeder');
    const out = join(work, 'out-d');
    // A --peer so that the run completes: the DHT runs beside it with its default bootstrap list.
    const bt = btActor(
      ns,
      [torrent, '--out', out, '--port', '47070', '--peer', '127.0.0.1:47060', '--state-dir', join(work, 'state-d')],
      env,
    );
    const timer = setTimeout(() => void bt.stop(), 60_000);
    const code = await bt.exited;
    clearTimeout(timer);
    expect(code, bt.output()).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
    const started = bt.lines.find((l) => l.event === 'dht' && l.type === 'started');
    // The four routers were named, and none resolved in the namespace.
    expect(started, bt.output()).toMatchObject({ routers: [] });
    expect((started!.unresolved as string[]).map((u) => u.split(' ')[0])).toEqual([
      'router.bittorrent.com:6881',
      'router.utorrent.com:6881',
      'dht.transmissionbt.com:6881',
      'dht.libtorrent.org:25401',
    ]);
    const lines = (await readFile(trace, 'utf8')).trim().split('\n');
    expect(lines.filter((l) => l.startsWith('resolve ')).every((l) => / failed /.test(l))).toBe(true);
    expect(lines.filter((l) => l.startsWith('resolve '))).toHaveLength(4);
    const sends = lines.filter((l) => l.startsWith('send '));
    for (const s of sends) expect(s).toMatch(/^send 127\.\d+\.\d+\.\d+ /);
    expect(bt.output()).not.toMatch(/\n\s+at /); // no stack trace
  }, 120_000);

  it("(e) bt-actor downloads a bare magnet link (info hash only) through the DHT; libtorrent's magnet leecher too", async () => {
    const link = `magnet:?xt=urn:btih:${meta.infoHashHex}`;
    /** A fresh namespace, DHT and libtorrent seeder for each leecher, so neither finds the DHT warmed by the other. */
    const fresh = async () => {
      await ns?.stop();
      ns = await netns();
      await dhtNetwork(ns);
      const seeder = ltNode(
        ns,
        47110,
        '--seed',
        torrent,
        '--dir',
        join(work, 'src'),
        '--bootstrap',
        `127.0.0.1:${BOOT}`,
      );
      await waitFor(() => has(seeder, 'listen'), 15_000, 'the libtorrent seeder');
      await new Promise((r) => setTimeout(r, 2000)); // as run_magnet.py: the seeder's first announce
      return ns;
    };
    let n = await fresh();
    const out = join(work, 'out-e');
    const t0 = Date.now();
    const bt = btActor(n, [
      link,
      '--out',
      out,
      '--port',
      '47120',
      '--dht-bootstrap',
      `127.0.0.1:${BOOT}`,
      '--state-dir',
      join(work, 'state-e'),
    ]);
    const timer = setTimeout(() => void bt.stop(), 90_000);
    const code = await bt.exited;
    clearTimeout(timer);
    const ours = (Date.now() - t0) / 1000;
    expect(code, bt.output()).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
    expect(bt.lines.find((l) => l.event === 'metadata')).toMatchObject({ name: meta.name, size: meta.length });
    // The seeder's address came from the DHT: the link names no peer and no tracker.
    expect(bt.lines.some((l) => l.event === 'peer-connected' && l.key === '127.0.0.1:47110')).toBe(true);
    // libtorrent's magnet leecher in the same setup.
    n = await fresh();
    const t1 = Date.now();
    const lt = ltNode(n, 47130, '--magnet', link, '--dir', join(work, 'out-e-lt'), '--bootstrap', `127.0.0.1:${BOOT}`);
    await waitFor(() => has(lt, 'finished'), 90_000, "libtorrent's magnet leecher to finish");
    const theirs = (Date.now() - t1) / 1000;
    await expectSameData(meta, join(work, 'src'), join(work, 'out-e-lt'));
    console.log(
      `(e) magnet over the DHT, 4 MiB from the libtorrent seeder: bt-actor ${ours.toFixed(1)} s, libtorrent ${theirs.toFixed(1)} s`,
    );
  }, 300_000);
});
