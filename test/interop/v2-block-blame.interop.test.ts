/**
 * BEP 52 block blame with libtorrent (python3-libtorrent) as the honest peer, on 127.0.0.1: a v2-only
 * torrent made by libtorrent (test/interop/helpers/lt_v2.py, 32 KiB pieces: 2 leaves each) downloads in
 * a bt-actor engine from a libtorrent seeder (which hashed the data when it was added) and a lying peer
 * (a scripted seeder flipping a byte of every block, rejecting hash requests), each with one request out
 * at a time so that pieces hold blocks of both. The failed piece's leaves are asked with a `hash request`
 * of base layer 0; libtorrent answers them, they prove against the piece hash, and the liar alone is
 * banned on its first bad piece; the files land byte-identical.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { writeRandom } from '../support/data.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { freePort, stopAll } from '../support/proc.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';
import { pieceSpace } from '../support/v2-torrent.js';

const run = promisify(execFile);
const LT_V2 = join(import.meta.dirname, 'helpers/lt_v2.py');
const PY = '/usr/bin/python3';

let work: string;
let src: string;

beforeAll(async () => {
  try {
    execFileSync(PY, ['-c', 'import libtorrent'], { stdio: 'ignore' });
  } catch {
    throw new Error('python3-libtorrent is not usable: install the Debian package python3-libtorrent (.ci/run does)');
  }
  work = await mkdtemp(join(tmpdir(), 'bt-actor-blame-interop-'));
  src = join(work, 'src');
  await writeRandom(join(src, 'set', 'big.bin'), 1024 * 1024 + 7_000); // 33 pieces of 32 KiB, the last short
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('BEP 52 block blame: libtorrent proves the leaves', () => {
  it('a liar sharing pieces with a libtorrent seeder is banned on its first bad piece by the leaves libtorrent gives', async () => {
    const file = join(work, 'v2.torrent');
    await run(PY, [LT_V2, 'make', 'v2', join(src, 'set'), file], { timeout: 60_000 });
    const meta = parseMetainfo(await readFile(file));
    expect(meta.kind).toBe('v2');
    const big = meta.files.find((f) => !f.padding)!;
    const data = await readFile(join(src, 'set', 'big.bin'));
    const liar = await hostileSeeder(meta, pieceSpace(meta, [{ path: big.path, data }]), {
      corrupt: 'all',
      rejectHashes: true,
    });
    const ltPort = await freePort();
    let lt: Seeder | undefined;
    const leech = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      lt = await libtorrentSeeder(file, join(src, 'set'), ltPort, { workDir: work }); // a one-file torrent: named big.bin
      const honest = `127.0.0.1:${ltPort}`;
      const out = join(work, 'out');
      const events: TorrentReport[] = [];
      const t = await leech.add(await readFile(file), {
        dir: out,
        peers: [
          { host: '127.0.0.1', port: liar.port, family: 4 },
          { host: '127.0.0.1', port: ltPort, family: 4 },
        ],
        settings: { peer: { minQueue: 1, maxQueue: 1 } },
      });
      t.events$.subscribe((e) => events.push(e));
      await t.completed;
      expect(Buffer.from(await readFile(join(out, ...big.path))).equals(data)).toBe(true);

      const first = events.find((e) => e.type === 'torrent.hashFailed' && e.peers.includes(liar.key));
      expect(first).toMatchObject({ banned: [] });
      const bans = events.filter((e) => e.type === 'torrent.banned');
      expect(bans[0]).toMatchObject({
        kind: 'badBlock',
        index: first!.type === 'torrent.hashFailed' ? first!.index : -1,
        banned: [{ peer: liar.key }],
      });
      const struck = events.flatMap((e) =>
        e.type === 'torrent.banned' || e.type === 'torrent.hashFailed' ? e.banned.map((b) => b.peer) : [],
      );
      expect(struck).not.toContain(honest);
    } finally {
      await leech.close();
      await lt?.stop();
      await liar.stop();
    }
  });
});
