/**
 * BEP 52 against libtorrent (python3-libtorrent, test/interop/helpers/lt_v2.py): torrents made by
 * `bt-actor create --v2` / `--hybrid` are read by libtorrent with the same v1 and v2 info hashes and
 * files, and libtorrent's hash check of the data finds every piece (the SHA-1 pieces of the v1 half,
 * the merkle roots and piece layers of the v2 half); torrents libtorrent makes (v2-only and hybrid)
 * are read by `bt-actor info --json` with the hashes libtorrent computes. No network: a libtorrent
 * session with DHT and the rest off, no peers.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const LT_V2 = join(import.meta.dirname, 'helpers/lt_v2.py');
const PY = '/usr/bin/python3';

interface LtV2 {
  v1: string | null;
  v2: string | null;
  name: string;
  length: number;
  pieceLength: number;
  pieceCount: number;
  files: { path: string; length: number; padding: boolean }[];
}
interface BtInfo {
  infoHash: string;
  infoHashV2?: string;
  version: string;
  metaVersion: number;
  name: string;
  multiFile: boolean;
  length: number;
  pieceLength: number;
  pieceCount: number;
  files: { path: string; length: number; piecesRoot?: string }[];
}

const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function ltInfo(file: string): Promise<LtV2> {
  const { stdout } = await run(PY, [LT_V2, 'info', file], { timeout: 30_000 });
  return lines(stdout)[0] as unknown as LtV2;
}
async function btInfo(file: string): Promise<BtInfo> {
  const { stdout } = await run(process.execPath, [BIN, 'info', '--json', file], { timeout: 30_000 });
  return JSON.parse(stdout) as BtInfo;
}

/** bt-actor and libtorrent read `file` alike: hashes, sizes, pieces and the files that hold data. */
async function expectSame(file: string, version: 'v2' | 'hybrid') {
  const [lt, bt] = await Promise.all([ltInfo(file), btInfo(file)]);
  expect(bt.version).toBe(version);
  expect(bt.metaVersion).toBe(2);
  expect(bt.infoHashV2).toBe(lt.v2);
  if (version === 'hybrid') expect(bt.infoHash).toBe(lt.v1);
  else {
    expect(lt.v1).toBeNull();
    expect(bt.infoHash).toBe(lt.v2!.slice(0, 40));
  }
  expect([bt.name, bt.length, bt.pieceLength, bt.pieceCount]).toEqual([
    lt.name,
    lt.length,
    lt.pieceLength,
    lt.pieceCount,
  ]);
  const prefix = bt.multiFile ? `${bt.name}/` : '';
  expect(bt.files.map((f) => ({ path: prefix + f.path, length: f.length }))).toEqual(
    lt.files.filter((f) => !f.padding).map((f) => ({ path: f.path, length: f.length })),
  );
  return { lt, bt };
}

let dir: string;
beforeAll(async () => {
  try {
    execFileSync(PY, ['-c', 'import libtorrent'], { stdio: 'ignore' });
  } catch {
    throw new Error('python3-libtorrent is not usable: install the Debian package python3-libtorrent (.ci/run does)');
  }
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-v2-interop-'));
  const set = join(dir, 'v2 sét');
  await mkdir(join(set, 'a', 'deeper'), { recursive: true });
  // Tree order ('a' before 'a.txt') differs from the order of the joined paths ('a.txt' < 'a/…').
  await writeFile(join(set, 'a', 'deeper', 'big.bin'), randomBytes(300_001)); // several pieces
  await writeFile(join(set, 'a', 'small'), randomBytes(5));
  await writeFile(join(set, 'a.txt'), randomBytes(32_768)); // exactly one piece of 32 KiB
  await writeFile(join(set, 'empty'), '');
  await writeFile(join(set, 'ёжик 🎉.bin'), randomBytes(40_000));
  await writeFile(join(dir, 'single.bin'), randomBytes(1_000_003));
});
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

describe('BEP 52 torrents between bt-actor and libtorrent', () => {
  it('bt-actor create --v2 / --hybrid: libtorrent reads the same hashes, and its hash check finds every piece', async () => {
    const made: string[] = [];
    for (const version of ['v2', 'hybrid'] as const) {
      for (const [src, pieceLength] of [
        ['v2 sét', '32K'],
        ['single.bin', '64K'],
      ] as const) {
        const t = join(dir, `own-${version}-${src === 'single.bin' ? 'single' : 'multi'}.torrent`);
        await run(process.execPath, [BIN, 'create', `--${version}`, '-l', pieceLength, '-o', t, join(dir, src)], {
          timeout: 60_000,
        });
        await expectSame(t, version);
        made.push(t);
      }
    }
    const { stdout } = await run(PY, [LT_V2, 'check', dir, ...made], { timeout: 120_000 });
    const checked = lines(stdout);
    expect(checked).toHaveLength(made.length);
    for (const c of checked) {
      expect(c.state, String(c.file)).toBe('seeding');
      expect(c.pieces, String(c.file)).toBe(c.pieceCount);
    }
  });

  it('torrents libtorrent makes (v2-only and hybrid) are read by bt-actor with the hashes libtorrent computes', async () => {
    for (const version of ['v2', 'hybrid'] as const) {
      for (const src of ['v2 sét', 'single.bin']) {
        const t = join(dir, `lt-${version}-${src === 'single.bin' ? 'single' : 'multi'}.torrent`);
        await run(PY, [LT_V2, 'make', version, join(dir, src), t], { timeout: 60_000 });
        const { bt } = await expectSame(t, version);
        for (const f of bt.files) if (f.length > 0) expect(f.piecesRoot, f.path).toMatch(/^[0-9a-f]{64}$/);
      }
    }
  });

  it('bt-actor and libtorrent make byte-identical info dictionaries (same v1 and v2 hashes)', async () => {
    for (const version of ['v2', 'hybrid'] as const) {
      const ours = join(dir, `same-${version}-bt.torrent`);
      const theirs = join(dir, `same-${version}-lt.torrent`);
      await run(process.execPath, [BIN, 'create', `--${version}`, '-l', '32K', '-o', ours, join(dir, 'v2 sét')], {
        timeout: 60_000,
      });
      await run(PY, [LT_V2, 'make', version, join(dir, 'v2 sét'), theirs], { timeout: 60_000 });
      const [a, b] = await Promise.all([btInfo(ours), btInfo(theirs)]);
      expect([a.infoHash, a.infoHashV2]).toEqual([b.infoHash, b.infoHashV2]);
    }
  });
});
