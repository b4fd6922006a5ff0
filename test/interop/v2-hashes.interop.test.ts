/**
 * BEP 52 hash requests answered by bt-actor, with libtorrent (python3-libtorrent) on 127.0.0.1: a
 * libtorrent leecher that knows a multi-file v2-only torrent only by its `urn:btmh:` magnet link (or by
 * a .torrent stripped of its `piece layers`) gets the info dictionary over ut_metadata, then every piece
 * layer over `hash request` / `hashes` from `bt-actor run --seed`, and downloads the files
 * byte-identical. Two files have more than 512 pieces, so libtorrent asks for their layers in two
 * ranges, the second with uncle hashes (64 hashes, and a single one).
 *
 * And asked by bt-actor: `bt-actor run` given the .torrent stripped of its `piece layers` asks a
 * libtorrent seeder for every missing layer (512-hash ranges, the second of each large file with uncle
 * hashes), checks each answer against the file's `pieces root`, and downloads the files byte-identical.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import bencode from 'bencode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { runBtActor, startBtActorSeed } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { libtorrentLeecher } from '../support/leechers.js';
import { freePort, startProcess, stopAll } from '../support/proc.js';
import { libtorrentSeeder } from '../support/seeders.js';

const run = promisify(execFile);
const HELPERS = join(import.meta.dirname, 'helpers');
const PY = '/usr/bin/python3';
const NAME = 'v2 hashes set';

let work: string;
let src: string;
let torrent: string;
let meta: Metainfo;

/** `bt-actor run --seed` over the data in `src`; resolves once it is seeding (every piece checked). */
async function btActorSeed(port: number) {
  return startBtActorSeed(torrent, src, port);
}

beforeAll(async () => {
  try {
    execFileSync(PY, ['-c', 'import libtorrent'], { stdio: 'ignore' });
  } catch {
    throw new Error('python3-libtorrent is not usable: install the Debian package python3-libtorrent (.ci/run does)');
  }
  work = await mkdtemp(join(tmpdir(), 'bt-actor-v2hashes-interop-'));
  src = join(work, 'src');
  const set = join(src, NAME);
  await writeRandom(join(set, 'large.bin'), 17 * 1024 * 1024 + 54_321); // 546 pieces of 32 KiB: two ranges
  await writeRandom(join(set, 'edge.bin'), 513 * 32_768 - 100); // 513 pieces: the second range is 1 hash
  await writeRandom(join(set, 'sub', 'mid.bin'), 300_000); // 10 pieces
  await writeRandom(join(set, 'sub', 'small.bin'), 20_000); // one piece: no layer to ask for
  await writeRandom(join(set, 'tiny'), 7);
  await writeFile(join(set, 'empty'), '');
  torrent = join(work, 'v2.torrent');
  await run(PY, [join(HELPERS, 'lt_v2.py'), 'make', 'v2', set, torrent], { timeout: 60_000 });
  meta = parseMetainfo(await readFile(torrent));
  expect(meta.kind).toBe('v2');
  expect(meta.files.filter((f) => !f.padding && f.pieceLayer && f.length > meta.pieceLength).length).toBe(3);
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('BEP 52 hash requests: libtorrent gets the piece layers from bt-actor', () => {
  it('a libtorrent leecher with only the v2 magnet link downloads from bt-actor, byte-identical', async () => {
    const seedPort = await freePort();
    const seed = await btActorSeed(seedPort);
    const out = join(work, 'magnet-out');
    const magnet = `magnet:?xt=urn:btmh:1220${meta.infoHashV2Hex!}&x.pe=127.0.0.1:${seedPort}`;
    const proc = startProcess(PY, [
      join(HELPERS, 'lt_magnet.py'),
      magnet,
      out,
      String(await freePort()),
      '--timeout',
      '90',
      '--count-hashes',
    ]);
    try {
      const code = await new Promise<number | null>((resolve) => proc.child.once('exit', resolve));
      expect(code, proc.output()).toBe(0);
      await expectSameData(meta, src, out);
      const counted = /hash messages: (\{.*\})/.exec(proc.output());
      expect(counted, proc.output()).not.toBeNull();
      const hashes = JSON.parse(counted![1]!) as Record<string, number>;
      // large.bin in two ranges (512 + 64 with uncles), edge.bin in two (512 + 1), mid.bin in one: every
      // request answered.
      expect(hashes['sent HASH_REQUEST']).toBeGreaterThanOrEqual(5);
      expect(hashes['received HASHES']).toBe(hashes['sent HASH_REQUEST']);
      expect(hashes['received HASH_REJECT']).toBeUndefined();
    } finally {
      await proc.stop();
      expect(await seed.stop()).toBe(0);
    }
    expect(seed.lines).toContainEqual(expect.objectContaining({ event: 'peer-connected' }));
  });

  it('a libtorrent leecher with a .torrent without its piece layers downloads from bt-actor, byte-identical', async () => {
    const stripped = bencode.decode(await readFile(torrent)) as Record<string, unknown>;
    expect(stripped['piece layers']).toBeDefined();
    delete stripped['piece layers'];
    const file = join(work, 'v2-no-layers.torrent');
    await writeFile(file, bencode.encode(stripped));
    const seedPort = await freePort();
    const seed = await btActorSeed(seedPort);
    const out = join(work, 'stripped-out');
    try {
      await libtorrentLeecher(file, out, await freePort(), { peers: [seedPort], timeoutMs: 90_000 });
      await expectSameData(meta, src, out);
    } finally {
      expect(await seed.stop()).toBe(0);
    }
  });
});

describe('BEP 52 hash requests: bt-actor gets the piece layers from libtorrent', () => {
  it('bt-actor with a .torrent without its piece layers downloads from a libtorrent seeder, byte-identical', async () => {
    const stripped = bencode.decode(await readFile(torrent)) as Record<string, unknown>;
    delete stripped['piece layers'];
    const file = join(work, 'v2-no-layers-lt.torrent');
    await writeFile(file, bencode.encode(stripped));
    expect(
      parseMetainfo(await readFile(file)).files.filter((f) => f.length > meta.pieceLength && !f.pieceLayer),
    ).toHaveLength(3);
    const port = await freePort();
    // libtorrent seeds the full .torrent (it has the layers to answer with).
    const seeder = await libtorrentSeeder(torrent, src, port, { workDir: work });
    try {
      const out = join(work, 'bt-out');
      const r = await runBtActor([file, '--out', out, '--peer', `127.0.0.1:${port}`], 120_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
      expect(r.lines.filter((l) => l.event === 'hashFailed' || l.event === 'banned')).toEqual([]);
      await expectSameData(meta, src, out);
    } finally {
      await seeder.stop();
    }
  });

  it('bt-actor with only the v2 magnet link (urn:btmh:) downloads from a libtorrent seeder, byte-identical', async () => {
    const port = await freePort();
    const seeder = await libtorrentSeeder(torrent, src, port, { workDir: work });
    try {
      const out = join(work, 'bt-magnet-out');
      const link = `magnet:?xt=urn:btmh:1220${meta.infoHashV2Hex!}&x.pe=127.0.0.1:${port}`;
      const r = await runBtActor([link, '--out', out], 120_000);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
      expect(r.lines.filter((l) => l.event === 'hashFailed' || l.event === 'banned')).toEqual([]);
      await expectSameData(meta, src, out);
    } finally {
      await seeder.stop();
    }
  });
});
