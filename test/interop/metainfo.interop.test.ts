/**
 * Known vectors computed at test time: torrents made by mktorrent (and libtorrent itself, for BEP 47
 * padding) must get from `bt-actor info --json` the same info hash, pieces and files that
 * libtorrent's Python binding reports. Needs the Debian packages mktorrent and python3-libtorrent
 * (installed by .ci/run).
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBencode, encodeBencode, type BencodeDict } from '../../src/protocol/bencode.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const LT_INFO = join(import.meta.dirname, 'helpers/lt_info.py');
const PY = '/usr/bin/python3';

function requireTool(cmd: string, args: string[], pkg: string) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
  } catch {
    throw new Error(`${cmd} is not usable: install the Debian package ${pkg} (.ci/run does)`);
  }
}

interface LtInfo {
  infoHash: string;
  name: string;
  length: number;
  pieceLength: number;
  pieceCount: number;
  files: { path: string; length: number; padding: boolean }[];
  trackers: [number, string][];
  private: boolean;
}
interface BtInfo {
  infoHash: string;
  name: string;
  length: number;
  pieceLength: number;
  pieceCount: number;
  multiFile: boolean;
  files: { path: string; length: number }[];
  announce: string[][];
  private: boolean;
}

async function libtorrent(file: string): Promise<LtInfo> {
  const { stdout } = await run(PY, [LT_INFO, file]);
  return JSON.parse(stdout) as LtInfo;
}
async function btActor(file: string): Promise<BtInfo> {
  const { stdout } = await run(process.execPath, [BIN, 'info', '--json', file]);
  return JSON.parse(stdout) as BtInfo;
}

/** Asserts that bt-actor and libtorrent read `file` the same way. */
async function expectSameAsLibtorrent(file: string) {
  const [lt, bt] = await Promise.all([libtorrent(file), btActor(file)]);
  expect(bt.infoHash).toBe(lt.infoHash);
  expect(bt.name).toBe(lt.name);
  expect(bt.length).toBe(lt.length);
  expect(bt.pieceLength).toBe(lt.pieceLength);
  expect(bt.pieceCount).toBe(lt.pieceCount);
  expect(bt.private).toBe(lt.private);
  const prefix = bt.multiFile ? `${bt.name}/` : '';
  expect(bt.files.map((f) => ({ path: prefix + f.path, length: f.length }))).toEqual(
    lt.files.filter((f) => !f.padding).map((f) => ({ path: f.path, length: f.length })),
  );
  // libtorrent shuffles the trackers within a tier (BEP 12), so compare each tier as a set.
  const ltTiers: string[][] = [];
  for (const [tier, url] of lt.trackers) (ltTiers[tier] ??= []).push(url);
  const sorted = (tiers: string[][]) => tiers.filter(Boolean).map((t) => [...t].sort());
  expect(sorted(bt.announce)).toEqual(sorted(ltTiers));
  return { lt, bt };
}

let dir: string;
beforeAll(async () => {
  requireTool('mktorrent', ['-h'], 'mktorrent');
  requireTool(PY, ['-c', 'import libtorrent'], 'python3-libtorrent');
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-metainfo-interop-'));
  await writeFile(join(dir, 'single.bin'), randomBytes(3_000_001));
  const multi = join(dir, 'Múlti 日本語 set');
  await mkdir(join(multi, 'nested', 'deeper', 'ёжик'), { recursive: true });
  await writeFile(join(multi, 'nested', 'deeper', 'ёжик', 'data 🎉.bin'), randomBytes(1_234_567));
  await writeFile(join(multi, 'empty-file'), '');
  await writeFile(join(multi, '.hidden'), 'hidden\n');
  await mkdir(join(multi, 'many'));
  for (let i = 0; i < 300; i++)
    await writeFile(join(multi, 'many', `f${String(i).padStart(3, '0')}.txt`), randomBytes(i * 37));
});
afterAll(() => (dir ? rm(dir, { recursive: true, force: true }) : undefined));

describe('info hash and layout agree with libtorrent', () => {
  it('single-file torrent made by mktorrent', async () => {
    const t = join(dir, 'single.torrent');
    await run('mktorrent', ['-l', '15', '-a', 'http://127.0.0.1:6969/announce', '-o', t, join(dir, 'single.bin')]);
    const { bt } = await expectSameAsLibtorrent(t);
    expect(bt.pieceCount).toBe(Math.ceil(3_000_001 / 32768));
  });

  it('multi-file torrent made by mktorrent: nested folders, non-ASCII names, 300 small files, an empty file', async () => {
    const t = join(dir, 'multi.torrent');
    await run('mktorrent', [
      '-l',
      '16',
      '-a',
      'http://127.0.0.1:6969/announce',
      '-o',
      t,
      join(dir, 'Múlti 日本語 set'),
    ]);
    const { bt } = await expectSameAsLibtorrent(t);
    expect(bt.files.length).toBeGreaterThanOrEqual(302);
  });

  it('private torrent with tiers, web seed and comment made by mktorrent', async () => {
    const t = join(dir, 'private.torrent');
    await run('mktorrent', [
      '-p',
      '-c',
      'a comment',
      '-w',
      'http://127.0.0.1:8080/ws',
      '-a',
      'http://127.0.0.1:1/announce,udp://127.0.0.1:2',
      '-a',
      'http://127.0.0.1:3/announce',
      '-o',
      t,
      join(dir, 'single.bin'),
    ]);
    const { bt } = await expectSameAsLibtorrent(t);
    expect(bt.private).toBe(true);
    expect(bt.announce).toEqual([
      ['http://127.0.0.1:1/announce', 'udp://127.0.0.1:2'],
      ['http://127.0.0.1:3/announce'],
    ]);
  });

  it('a non-canonical info dictionary (keys out of order, an extra key) is hashed as it stands', async () => {
    const src = join(dir, 'multi.torrent');
    const { value } = decodeBencode(await readFile(src));
    const info = (value as BencodeDict).info as BencodeDict;
    // Re-write the info dictionary with its keys reversed and a private extension key.
    const entries = [...Object.entries(info).reverse(), ['x-extra', encodeBencode('kept')] as const];
    const infoBytes = Buffer.concat([
      Buffer.from('d'),
      ...entries.map(([k, v]) =>
        Buffer.concat([encodeBencode(k), k === 'x-extra' ? (v as Uint8Array) : encodeBencode(v)]),
      ),
      Buffer.from('e'),
    ]);
    const file = Buffer.concat([
      Buffer.from('d8:announce30:http://127.0.0.1:6969/announce4:info'),
      infoBytes,
      Buffer.from('e'),
    ]);
    const t = join(dir, 'noncanonical.torrent');
    await writeFile(t, file);
    const { bt } = await expectSameAsLibtorrent(t);
    expect(bt.infoHash).toBe(createHash('sha1').update(infoBytes).digest('hex'));
    expect(bt.infoHash).not.toBe((await btActor(src)).infoHash);
  });

  it('BEP 47 padding files written by libtorrent are recognised', async () => {
    const t = join(dir, 'padded.torrent');
    const script = `
import libtorrent as lt, sys
fs = lt.file_storage()
lt.add_files(fs, sys.argv[1])
ct = lt.create_torrent(fs, 16384, flags=lt.create_torrent.v1_only | lt.create_torrent.canonical_files)
lt.set_piece_hashes(ct, sys.argv[2])
ct.add_tracker('http://127.0.0.1:6969/announce')
open(sys.argv[3], 'wb').write(lt.bencode(ct.generate()))
`;
    await run(PY, ['-c', script, join(dir, 'Múlti 日本語 set'), dir, t]);
    const { lt } = await expectSameAsLibtorrent(t);
    expect(lt.files.some((f) => f.padding)).toBe(true);
  });

  it('torrents made by bt-actor create are read identically by libtorrent', async () => {
    for (const [src, name] of [
      ['single.bin', 'own-single'],
      ['Múlti 日本語 set', 'own-multi'],
    ] as const) {
      const t = join(dir, `${name}.torrent`);
      await run(process.execPath, [BIN, 'create', join(dir, src), '-a', 'http://127.0.0.1:6969/announce', '-o', t]);
      await expectSameAsLibtorrent(t);
    }
  });
});
