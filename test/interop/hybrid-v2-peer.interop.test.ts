/**
 * BEP 52 hybrids with a libtorrent peer that answers only to the v2 hash. libtorrent seeds the hybrid it
 * made; a gate in front of it (test/support/handshake-gate.ts) lets through only plaintext handshakes
 * naming the truncated v2 hash, as a peer that knows the torrent only as v2 would (a libtorrent with the
 * metadata answers to both hashes, so the gate stands in for "knows only v2"). At opentracker (started
 * here, stopped by PID) the gate's address is announced under the v2 hash only. bt-actor, given the
 * hybrid magnet link (btih + btmh) or the hybrid .torrent, announces under both hashes, finds the peer
 * only in the v2 reply, dials it with the v2 hash, and downloads byte-identical (checking the fetched
 * info dictionary against both hashes). `bt-actor info --scrape` scrapes both hashes of the hybrid and
 * reports the larger counts.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrackerClient } from '../../src/io/tracker-client.js';
import { formatMagnet } from '../../src/protocol/magnet.js';
import { hybridV2Hash, parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { BT_ACTOR_BIN, runBtActor } from '../support/bt-actor-run.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { handshakeGate, type HandshakeGate } from '../support/handshake-gate.js';
import { freePort, startProcess, stopAll } from '../support/proc.js';
import { startOpentracker } from '../support/opentracker.js';

const run = promisify(execFile);
const HELPERS = join(import.meta.dirname, 'helpers');
const PY = '/usr/bin/python3';
const NAME = 'hybrid v2 peer';

let work: string;
let src: string;
let url: string;
let meta: Metainfo;
/** libtorrent's hybrid, without a tracker (libtorrent announces nowhere). */
let plain: string;
/** The same info dictionary with `announce` = opentracker (what bt-actor is given). */
let withTracker: string;
let gate: HandshakeGate | undefined;
/** libtorrent's own port (behind the gate). */
let ltPort: number;
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = Date.now() + ms; !pred();) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  try {
    execFileSync(PY, ['-c', 'import libtorrent'], { stdio: 'ignore' });
    execFileSync('sh', ['-c', 'command -v opentracker'], { stdio: 'ignore' });
  } catch {
    throw new Error('python3-libtorrent and opentracker are needed (.ci/run installs them)');
  }
  work = await mkdtemp(join(tmpdir(), 'bt-actor-hybrid-v2-peer-'));
  src = join(work, 'src');
  await writeRandom(join(src, NAME, 'big.bin'), 700_000 + 333);
  await writeRandom(join(src, NAME, 'sub', 'small.bin'), 9_001);
  plain = join(work, 'plain.torrent');
  await run(PY, [join(HELPERS, 'lt_v2.py'), 'make', 'hybrid', join(src, NAME), plain], { timeout: 60_000 });
  meta = parseMetainfo(await readFile(plain));
  expect(meta.kind).toBe('hybrid');

  // opentracker (Debian's: whitelist inside its chroot -d) knowing both hashes.
  const tport = await freePort(true);
  url = `http://127.0.0.1:${tport}/announce`;
  const made = await readFile(plain);
  // `announce` sorts before every key libtorrent writes: spliced in after the opening `d`.
  withTracker = join(work, 'tracker.torrent');
  await writeFile(
    withTracker,
    Buffer.concat([Buffer.from(`d8:announce${Buffer.byteLength(url)}:${url}`), made.subarray(1)]),
  );
  expect(parseMetainfo(await readFile(withTracker)).infoHashV2Hex).toBe(meta.infoHashV2Hex);
  const dir = await mkdtemp(join(work, 'ot-'));
  await startOpentracker(dir, tport, [meta.infoHashHex, hex(hybridV2Hash(meta)!)]);

  // libtorrent seeds; the gate in front of it takes only the v2 hash; listed under v2 only.
  ltPort = await freePort();
  const ready = join(work, 'lt-ready');
  startProcess(PY, [join(HELPERS, 'lt_seed.py'), plain, src, String(ltPort), '--ready', ready]);
  await waitFor(() => existsSync(ready), 60_000, 'the libtorrent seeder');
  gate = await handshakeGate(ltPort, hybridV2Hash(meta)!);
  const client = new TrackerClient({ peerId: randomBytes(20), port: gate.port });
  await client.announce({
    url,
    infoHash: hybridV2Hash(meta)!,
    event: 'started',
    numwant: 0,
    stats: { uploaded: 0, downloaded: 0, left: 0 },
  });
}, 120_000);

afterAll(async () => {
  await gate?.close();
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

/** `bt-actor run SOURCE` (plaintext dials, so the gate can read them) until it is done. */
async function download(source: string, out: string) {
  const r = await runBtActor(
    [source, '--out', out, '--port', String(await freePort()), '--bind', '127.0.0.1', '--encryption', 'plaintext'],
    90_000,
  );
  expect(r.code, `${r.stderr}\n${JSON.stringify(r.lines.slice(-5))}`).toBe(0);
  await expectSameData(meta, src, out);
  return r;
}

describe('a libtorrent peer reachable only by the v2 hash, listed under v2 only at opentracker', () => {
  it('bt-actor given the hybrid magnet link (btih + btmh) fetches the metadata and the data from it', async () => {
    const before = gate!.seen.length;
    const link = formatMagnet({ infoHash: meta.infoHash, infoHashV2: meta.infoHashV2!, trackers: [url] });
    const r = await download(link, join(work, 'out-magnet'));
    expect(r.lines).toContainEqual(expect.objectContaining({ event: 'metadata' }));
    const seen = gate!.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([hex(hybridV2Hash(meta)!)]));
  }, 120_000);

  it('bt-actor given the hybrid .torrent dials it with the v2 hash and downloads', async () => {
    const before = gate!.seen.length;
    await download(withTracker, join(work, 'out-torrent'));
    const seen = gate!.seen.slice(before);
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set([hex(hybridV2Hash(meta)!)]));
  }, 120_000);

  it('inside MSE too: bt-actor --encryption require reaches libtorrent itself, listed under v2 only', async () => {
    // libtorrent's own port, listed under the v2 hash only (no gate: the key exchange hides the handshake),
    // so it is dialled with the v2 hash, as the gate shows above: the MSE key exchange is keyed by that
    // hash (SKEY) and libtorrent finds the torrent by it. Encryption required: no plaintext fallback.
    const client = new TrackerClient({ peerId: randomBytes(20), port: ltPort });
    const stats = { uploaded: 0, downloaded: 0, left: 0 };
    await client.announce({ url, infoHash: hybridV2Hash(meta)!, event: 'started', numwant: 0, stats });
    try {
      const out = join(work, 'out-mse');
      const r = await runBtActor(
        [
          withTracker,
          '--out',
          out,
          '--port',
          String(await freePort()),
          '--bind',
          '127.0.0.1',
          '--encryption',
          'require',
        ],
        90_000,
      );
      expect(r.code, `${r.stderr}\n${JSON.stringify(r.lines.slice(-5))}`).toBe(0);
      await expectSameData(meta, src, out);
      expect(r.lines).toContainEqual(
        expect.objectContaining({ event: 'peer-connected', key: `127.0.0.1:${ltPort}`, encryption: 'rc4' }),
      );
    } finally {
      await client.announce({ url, infoHash: hybridV2Hash(meta)!, event: 'stopped', numwant: 0, stats });
    }
  }, 120_000);

  it('bt-actor info --scrape counts the seeder listed under the v2 hash (both hashes scraped, merged)', async () => {
    // Under v1 nobody is left (bt-actor's runs said `stopped`); under v2 the gate's seeder is.
    const c = new TrackerClient({ peerId: randomBytes(20), port: 1 });
    const files = await c.scrape(url, [meta.infoHash, hybridV2Hash(meta)!]);
    expect(files.get(meta.infoHashHex)?.complete ?? 0).toBe(0);
    expect(files.get(hex(hybridV2Hash(meta)!))?.complete).toBe(1);
    const info = async (source: string) => {
      const { stdout } = await run(process.execPath, [BT_ACTOR_BIN, 'info', '--json', '--scrape', source], {
        timeout: 30_000,
      });
      return (JSON.parse(stdout) as { scrape: unknown[] }).scrape;
    };
    expect(await info(withTracker)).toEqual([{ url, complete: 1, incomplete: 0, downloaded: expect.any(Number) }]);
    const link = formatMagnet({ infoHash: meta.infoHash, infoHashV2: meta.infoHashV2!, trackers: [url] });
    expect(await info(link)).toEqual([{ url, complete: 1, incomplete: 0, downloaded: expect.any(Number) }]);
  }, 60_000);
});
