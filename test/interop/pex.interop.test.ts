/**
 * bt-actor's BEP 11 peer exchange, seen by libtorrent on 127.0.0.1 (no tracker, no DHT), in the lab
 * kit's layout (../shared/lab/dht/run_pex.py): bt-actor is the hub (the .torrent, no data); a libtorrent
 * peer P and then a libtorrent leecher L connect to it and know nobody else. bt-actor names each to the
 * other in its `ut_pex` messages (by their IP and the listen port `p` of their extension handshake), so
 * L and P meet with source `pex`. The same with a private torrent (BEP 27): bt-actor offers no PEX, L
 * and P never meet. Nobody has data, so nobody finishes and every connection stays. And the other way:
 * bt-actor, given only a libtorrent hub, learns a third libtorrent peer from the hub's `ut_pex` and dials it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { writeRandom } from '../support/data.js';
import { stopGracefully } from '../support/bt-actor-run.js';
import { freePort, jsonLines, startProcess, stopAll, waitForPort, type Proc } from '../support/proc.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const HELPERS = join(import.meta.dirname, 'helpers');
let work: string;

/** `bt-actor run` (a leecher with no data); stopped by the returned function. */
function btActor(torrent: string, outDir: string, port: number, peers: number[] = []) {
  const child: ChildProcess = spawn(
    process.execPath,
    [
      BIN,
      'run',
      torrent,
      '--out',
      outDir,
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--json',
      ...peers.flatMap((p) => ['--peer', `127.0.0.1:${p}`]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = jsonLines(child.stdout!) as { event: string; key?: string }[];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    stderr: () => stderr,
    lines,
    stop: () => stopGracefully(child, exited),
  };
}

/** A libtorrent peer (tests/interop/helpers/lt_peers.py) and the peers it reports, as they come. */
function libtorrentPeer(torrent: string, outDir: string, port: number, connect: number[] = [], noPex = false) {
  const args = [join(HELPERS, 'lt_peers.py'), torrent, outDir, String(port), '--timeout', '60'];
  for (const c of connect) args.push('--connect', String(c));
  if (noPex) args.push('--no-pex');
  const proc: Proc = startProcess('/usr/bin/python3', args);
  const peers = jsonLines(proc.child.stdout!) as { ev: string; addr?: string; source?: string[] }[];
  return { proc, peers };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

async function run(isPrivate: boolean, waitMs: number) {
  const { torrent } = await createTorrent(join(work, 'src', 'data.bin'), {
    pieceLength: 64 * 1024,
    creationDate: null,
    announce: [],
    ...(isPrivate && { private: true }),
  });
  const name = isPrivate ? 'private' : 'public';
  const file = join(work, `${name}.torrent`);
  await writeFile(file, torrent);
  expect(parseMetainfo(torrent).private).toBe(isPrivate);
  const [pPort, hubPort, lPort] = [await freePort(), await freePort(), await freePort()];
  for (const d of ['p', 'hub', 'l']) await mkdir(join(work, name, d), { recursive: true });
  const hub = btActor(file, join(work, name, 'hub'), hubPort);
  let p: ReturnType<typeof libtorrentPeer> | undefined;
  try {
    await waitForPort(hubPort, 20_000);
    p = libtorrentPeer(file, join(work, name, 'p'), pPort, [hubPort]);
    const peersOfP = p.peers;
    // P is connected to bt-actor before L arrives.
    expect(await until(() => peersOfP.some((e) => e.ev === 'peer'), 15_000)).toBe(true);
    const l = libtorrentPeer(file, join(work, name, 'l'), lPort, [hubPort]);
    // L learnt P from bt-actor's PEX, or P learnt L (each knows only bt-actor: the other's listen port comes from there).
    const met = () =>
      l.peers.some((e) => e.addr === `127.0.0.1:${pPort}` && e.source?.includes('pex')) ||
      peersOfP.some((e) => e.addr === `127.0.0.1:${lPort}` && e.source?.includes('pex'));
    const learnt = await until(met, waitMs);
    await l.proc.stop();
    return { learnt, met: met(), lPeers: l.peers, pPeers: peersOfP, ports: { p: pPort, hub: hubPort, l: lPort } };
  } finally {
    // Stopped before its download is complete: it exits (non-zero, nothing finished), within the grace time.
    expect(await hub.stop()).not.toBeNull();
    await p?.proc.stop();
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-pex-interop-'));
  await writeRandom(join(work, 'src', 'data.bin'), 4 * 1024 * 1024);
}, 60_000);

afterAll(async () => {
  await stopAll();
  await rm(work, { recursive: true, force: true });
});

describe('bt-actor sends ut_pex (BEP 11)', () => {
  it('a libtorrent leecher that knows only bt-actor learns a third peer from its PEX (or the third learns it)', async () => {
    const r = await run(false, 15_000);
    expect(r.learnt, JSON.stringify([r.ports, r.lPeers, r.pPeers])).toBe(true);
  }, 90_000);

  it('a private torrent (BEP 27): no PEX, the leecher never learns the third peer', async () => {
    const r = await run(true, 8_000);
    expect(r.met, JSON.stringify([r.ports, r.lPeers, r.pPeers])).toBe(false);
    expect(r.lPeers.some((e) => e.ev === 'finished')).toBe(false);
    // It did talk to bt-actor all along.
    expect(r.lPeers.some((e) => e.ev === 'peer')).toBe(true);
  }, 90_000);
});

describe('bt-actor learns peers from ut_pex (BEP 11)', () => {
  /**
   * A libtorrent hub (the .torrent and no data: nobody finishes) and P, which knows only the hub; then
   * bt-actor, given only the hub (no tracker, no DHT): P's address can only come from the hub's PEX
   * (libtorrent sends its first message on a new connection at once). With `pLearns`, P has ut_pex too and
   * learns bt-actor from the hub at the same moment, so both dial each other.
   */
  async function learn(name: string, pLearns: boolean) {
    const { torrent } = await createTorrent(join(work, 'src', 'data.bin'), {
      pieceLength: 64 * 1024,
      creationDate: null,
      announce: [],
    });
    const file = join(work, `${name}.torrent`);
    await writeFile(file, torrent);
    const [hubPort, pPort, ourPort] = [await freePort(), await freePort(), await freePort()];
    for (const d of ['hub', 'p', 'us']) await mkdir(join(work, name, d), { recursive: true });
    const hub = libtorrentPeer(file, join(work, name, 'hub'), hubPort);
    await waitForPort(hubPort, 20_000);
    const p = libtorrentPeer(file, join(work, name, 'p'), pPort, [hubPort], !pLearns);
    expect(await until(() => p.peers.some((e) => e.ev === 'peer'), 15_000)).toBe(true);
    const us = btActor(file, join(work, name, 'us'), ourPort, [hubPort]);
    return {
      pPort,
      hubPort,
      ourPort,
      us,
      p,
      peerLines: () => JSON.stringify(us.lines.filter((l) => l.event.startsWith('peer'))),
      stop: async () => {
        expect(await us.stop()).not.toBeNull();
        await p.proc.stop();
        await hub.proc.stop();
      },
    };
  }

  it('knowing only a libtorrent hub, bt-actor learns a third peer from its PEX and dials it', async () => {
    const r = await learn('learn', false);
    try {
      const dialled = () => r.us.lines.some((l) => l.event === 'peer-connected' && l.key === `127.0.0.1:${r.pPort}`);
      expect(await until(dialled, 20_000), r.peerLines()).toBe(true);
      expect(r.us.lines.some((l) => l.event === 'peer-connected' && l.key === `127.0.0.1:${r.hubPort}`)).toBe(true);
    } finally {
      await r.stop();
    }
  }, 90_000);

  it('when the third peer learns bt-actor at the same moment, one connection stays and bt-actor does not dial it again', async () => {
    const r = await learn('learn-both', true);
    try {
      // P connected to bt-actor (it dialled us, or kept our dial), and the connection stays.
      const pSeesUs = () => r.p.peers.some((e) => e.ev === 'peer' && e.addr === `127.0.0.1:${r.ourPort}`);
      /** bt-actor's connections that are up, but the hub's (by key, from its peer-connected/closed lines). */
      const up = () => {
        const keys = new Set<string>();
        for (const l of r.us.lines) {
          if (l.event === 'peer-connected' && l.key !== `127.0.0.1:${r.hubPort}`) keys.add(l.key!);
          if (l.event === 'peer-closed') keys.delete(l.key!);
        }
        return keys;
      };
      expect(await until(() => pSeesUs() && up().size > 0, 20_000), r.peerLines()).toBe(true);
      // Past the peer book's first retry times (5 s, then 10 s): no duplicate dial was refused again.
      await new Promise((res) => setTimeout(res, 12_000));
      const closedP = r.us.lines.filter((l) => l.event === 'peer-closed' && l.key === `127.0.0.1:${r.pPort}`);
      expect(closedP.length, r.peerLines()).toBeLessThanOrEqual(1);
      expect(up().size, r.peerLines()).toBe(1);
    } finally {
      await r.stop();
    }
  }, 90_000);
});
