/**
 * BEP 52 hybrid torrents (made by libtorrent) and libtorrent peers that know them only by their v2 hash:
 * a libtorrent leecher given a `urn:btmh:` magnet (no v1 hash) names the torrent by its SHA-256 cut to
 * 20 bytes in its handshake; bt-actor's listener routes that to the hybrid and answers with the same
 * hash, and the leecher gets the metadata (BEP 9) and the data. At a tracker (opentracker, started here
 * and stopped by PID), bt-actor announces the hybrid under both hashes, so a libtorrent that announces
 * only the v2 hash finds it there.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrackerClient } from '../../src/io/tracker-client.js';
import { hybridV2Hash, parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { BT_ACTOR_BIN } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { freePort, jsonLines, startProcess, stopAll, type Proc } from '../support/proc.js';
import { startOpentracker } from '../support/opentracker.js';

const run = promisify(execFile);
const HELPERS = join(import.meta.dirname, 'helpers');
const PY = '/usr/bin/python3';
const NAME = 'hybrid set';

let work: string;
let src: string;

/** libtorrent makes a hybrid torrent of the folder; `announce` (outside the info dictionary) is added. */
async function ltHybrid(announce?: string): Promise<{ file: string; meta: Metainfo }> {
  const file = join(work, `hybrid-${announce ? 'tracker' : 'plain'}.torrent`);
  await run(PY, [join(HELPERS, 'lt_v2.py'), 'make', 'hybrid', join(src, NAME), file], { timeout: 60_000 });
  if (announce) {
    const made = await readFile(file);
    // `announce` sorts before every key libtorrent writes: spliced in after the opening `d`.
    expect(made.subarray(0, 9).toString()).not.toBe('d8:announ');
    const url = Buffer.from(announce);
    const withTracker = Buffer.concat([
      Buffer.from('d8:announce'),
      Buffer.from(`${url.length}:`),
      url,
      made.subarray(1),
    ]);
    // The info dictionary is untouched (same hashes): the tracker is not part of it.
    expect(parseMetainfo(withTracker).infoHashV2Hex).toBe(parseMetainfo(made).infoHashV2Hex);
    await writeFile(file, withTracker);
  }
  const meta = parseMetainfo(await readFile(file));
  expect(meta.kind).toBe('hybrid');
  return { file, meta };
}

/** `bt-actor run --seed` over the data in `src` (stopped by PID); resolves once it is seeding. */
async function btActorSeed(torrent: string, port: number) {
  const proc = startProcess(process.execPath, [
    BT_ACTOR_BIN,
    'run',
    torrent,
    '--out',
    src,
    '--seed',
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--json',
    '--no-dht',
  ]);
  const lines = jsonLines(proc.child.stdout!);
  for (let i = 0; i < 600 && !lines.some((l) => l.event === 'complete'); i++) {
    if (proc.child.exitCode !== null) throw new Error(`bt-actor seed exited: ${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!lines.some((l) => l.event === 'complete')) throw new Error(`bt-actor seed not ready: ${proc.output()}`);
  return { proc, lines };
}

/** libtorrent fetching `magnet` with lt_magnet.py; resolves with its exit code and log. */
async function libtorrentMagnet(magnet: string, outDir: string, timeoutS: number) {
  const proc = startProcess(PY, [
    join(HELPERS, 'lt_magnet.py'),
    magnet,
    outDir,
    String(await freePort()),
    '--timeout',
    String(timeoutS),
  ]);
  try {
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), (timeoutS + 10) * 1000);
      proc.child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    return { code, output: proc.output() };
  } finally {
    await proc.stop();
  }
}

const btmh = (meta: Metainfo) => `magnet:?xt=urn:btmh:1220${meta.infoHashV2Hex!}`;

beforeAll(async () => {
  try {
    execFileSync(PY, ['-c', 'import libtorrent'], { stdio: 'ignore' });
  } catch {
    throw new Error('python3-libtorrent is not usable: install the Debian package python3-libtorrent (.ci/run does)');
  }
  work = await mkdtemp(join(tmpdir(), 'bt-actor-hybrid-interop-'));
  src = join(work, 'src');
  await writeRandom(join(src, NAME, 'big.bin'), 1024 * 1024 + 777);
  await writeRandom(join(src, NAME, 'sub', 'small.bin'), 20_001);
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('hybrid torrents with a libtorrent that knows only the v2 hash', () => {
  it('a urn:btmh: magnet leecher (x.pe = bt-actor) gets the metadata and the data from a bt-actor seeder', async () => {
    const { file, meta } = await ltHybrid();
    const port = await freePort();
    const seed = await btActorSeed(file, port);
    const out = join(work, 'out-magnet');
    try {
      const r = await libtorrentMagnet(`${btmh(meta)}&x.pe=127.0.0.1:${port}`, out, 60);
      expect(r.output).toContain(`metadata ${meta.infoBytes.length} bytes`);
      expect(r.code, r.output).toBe(0);
      await expectSameData(meta, src, out);
    } finally {
      await seed.proc.stop();
    }
    expect(seed.lines).toContainEqual(expect.objectContaining({ event: 'peer-connected' }));
  }, 120_000);

  describe('at opentracker', () => {
    let tracker: Proc | undefined;
    afterAll(async () => {
      await tracker?.stop();
    });

    it('bt-actor announces under both hashes; a libtorrent announcing only the v2 hash finds it and downloads', async () => {
      try {
        execFileSync('sh', ['-c', 'command -v opentracker'], { stdio: 'ignore' });
      } catch {
        throw new Error('opentracker is not installed: apt-get install opentracker (.ci/run does)');
      }
      const tport = await freePort(true);
      const url = `http://127.0.0.1:${tport}/announce`;
      const { file, meta } = await ltHybrid(url);
      const v2 = Buffer.from(hybridV2Hash(meta)!).toString('hex');
      // Debian's opentracker is built with a whitelist and chroots to -d: the list lives inside it.
      const dir = await mkdtemp(join(work, 'ot-'));
      tracker = await startOpentracker(dir, tport, [meta.infoHashHex, v2]);
      const seed = await btActorSeed(file, await freePort());
      const out = join(work, 'out-tracker');
      try {
        // opentracker counts the seed under both hashes (a scrape of each; bounded wait: announces are async).
        const client = new TrackerClient({ peerId: randomBytes(20), port: 1 });
        const hashes = [meta.infoHash, hybridV2Hash(meta)!];
        const seeds = async () => {
          const m = await client.scrape(url, hashes);
          return [meta.infoHashHex, v2].map((h) => m.get(h)?.complete ?? 0);
        };
        let counts = await seeds();
        for (let i = 0; i < 100 && counts.some((n) => n === 0); i++) {
          await new Promise((r) => setTimeout(r, 100));
          counts = await seeds();
        }
        expect(counts).toEqual([1, 1]);
        const r = await libtorrentMagnet(`${btmh(meta)}&tr=${encodeURIComponent(url)}`, out, 60);
        expect(r.code, r.output).toBe(0);
        await expectSameData(meta, src, out);
      } finally {
        await seed.proc.stop();
      }
    }, 120_000);
  });
});
