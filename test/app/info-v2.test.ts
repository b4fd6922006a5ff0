/**
 * BEP 52 in the CLI and the engine: `bt-actor info` on v2-only and hybrid torrents (text and --json:
 * meta version, both hashes, each file's root), `info` noting and `Engine.add` taking a v2-only torrent
 * without its piece layers (asked of peers: test/app/v2-hash-requests.test.ts), `create --v2` / `--hybrid`
 * writing torrents that read back as such, and a hybrid torrent
 * downloading between two engines from a hybrid magnet link (through its v1 half).
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { fileRoot } from '../../src/protocol/merkle.js';
import { parseMetainfo, toHex } from '../../src/protocol/metainfo.js';
import { pattern } from '../support/v2-torrent.js';

const CORPUS = join(import.meta.dirname, '../fixtures/libtorrent-torrents');
let work: string;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-v2-'));
  await mkdir(join(work, 'data', 'sub'), { recursive: true });
  await writeFile(join(work, 'data', 'a.bin'), pattern(100_000, 1));
  await writeFile(join(work, 'data', 'sub', 'b.txt'), pattern(7, 2));
});
afterAll(() => rm(work, { recursive: true, force: true }));

describe('bt-actor info on BEP 52 torrents', () => {
  it('a v2-only torrent: meta version, the v2 hash, and no warning (it has its piece layers)', async () => {
    const r = await cli('info', join(CORPUS, 'v2_only.torrent'));
    expect(r.code).toBe(0);
    expect(r.out.slice(0, 3)).toEqual([
      'name:          test1MB',
      'meta version:  2 (BitTorrent v2 only)',
      'info hash v2:  95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192',
    ]);
    expect(r.out.filter((l) => l.startsWith('warning:'))).toEqual([]);
    const json = JSON.parse((await cli('info', '--json', join(CORPUS, 'v2_only.torrent'))).out[0]!);
    expect(json).toMatchObject({
      metaVersion: 2,
      version: 'v2',
      infoHash: '95e04d0c4bad94ab206efa884666fd89777dbe4f',
      infoHashV2: '95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192',
      files: [
        {
          path: 'test1MB',
          length: 1048576,
          piecesRoot: '515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008',
        },
      ],
    });
  });

  it('a hybrid torrent: both hashes; a v1 torrent as before, meta version 1 in --json', async () => {
    const meta = parseMetainfo(await readFile(join(CORPUS, 'v2.torrent')));
    const r = await cli('info', join(CORPUS, 'v2.torrent'));
    expect(r.out.slice(1, 4)).toEqual([
      'meta version:  2 (hybrid: BitTorrent v1 and v2)',
      `info hash:     ${meta.infoHashHex}`,
      'info hash v2:  597b180c1a170a585dfc5e85d834d69013ceda174b8f357d5bb1a0ca509faf0a',
    ]);
    expect(r.out.filter((l) => l.startsWith('warning:'))).toEqual([]);
    const v1 = await cli('info', '--json', join(CORPUS, 'base.torrent'));
    const json = JSON.parse(v1.out[0]!);
    expect(json).toMatchObject({ metaVersion: 1, version: 'v1' });
    expect(json.infoHashV2).toBeUndefined();
    const text = await cli('info', join(CORPUS, 'base.torrent'));
    expect(text.out[1]).toMatch(/^info hash: {5}[0-9a-f]{40}$/);
  });

  it('a v2-only torrent without piece layers: info notes the layers are asked of peers; Engine.add takes it', async () => {
    const file = join(CORPUS, 'v2_no_piece_layers.torrent');
    const note =
      'a BitTorrent v2-only torrent without the piece layers of 1 file(s): they are asked of peers (BEP 52 hash requests)';
    const info = (await cli('info', file)).out;
    expect(info).toContain(`note:          ${note}`);
    expect(info.filter((l) => l.startsWith('warning:'))).toEqual([]);
    const e = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      const t = await e.add(file, { dir: join(work, 'no-layers') });
      expect(t.infoHash).toBe(parseMetainfo(await readFile(file)).infoHashHex);
    } finally {
      await e.close();
    }
  });
});

describe('bt-actor create --v2 / --hybrid', () => {
  it('--v2 writes a v2-only torrent whose roots are those of the files', async () => {
    const out = join(work, 'v2.torrent');
    const r = await cli('create', '--v2', '--no-date', '-l', '32K', '-o', out, join(work, 'data'));
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out[0]).toMatch(/: data, .* 5 pieces, v2 only, info hash v2 [0-9a-f]{64}$/);
    const m = parseMetainfo(await readFile(out));
    expect(m.kind).toBe('v2');
    expect(m.files.filter((f) => !f.padding).map((f) => [f.pathString, toHex(f.piecesRoot!)])).toEqual([
      ['a.bin', toHex(fileRoot(pattern(100_000, 1))!)],
      ['sub/b.txt', toHex(fileRoot(pattern(7, 2))!)],
    ]);
    expect(m.files[0]!.pieceLayer).toHaveLength(4 * 32);
  });

  it('--hybrid writes both halves; --json says so', async () => {
    const out = join(work, 'hybrid.torrent');
    const r = await cli('create', '--hybrid', '--json', '--no-date', '-l', '16K', '-o', out, join(work, 'data'));
    expect(r.code, r.err.join('\n')).toBe(0);
    const json = JSON.parse(r.out[0]!);
    const m = parseMetainfo(await readFile(out));
    expect(json).toMatchObject({ version: 'hybrid', infoHash: m.infoHashHex, infoHashV2: m.infoHashV2Hex });
    expect(m.files.map((f) => [f.pathString, f.length])).toEqual([
      ['a.bin', 100_000],
      ['.pad/14688', 14688],
      ['sub/b.txt', 7],
      ['.pad/16377', 16377],
    ]);
  });

  it('a hybrid torrent downloads between two engines from a hybrid magnet link (btih + btmh), through v1', async () => {
    const { torrent } = await createTorrent(join(work, 'data'), { version: 'hybrid', pieceLength: 16384 });
    const meta = parseMetainfo(torrent);
    const seed = await Engine.create({ port: 0, host: '127.0.0.1' });
    const leech = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      await (
        await seed.add(torrent, { dir: work })
      ).completed;
      const out = join(work, 'hybrid-out');
      const link = `magnet:?xt=urn:btih:${meta.infoHashHex}&xt=urn:btmh:1220${meta.infoHashV2Hex!}&x.pe=127.0.0.1:${seed.port}`;
      const t = await leech.add(link, { dir: out });
      expect(t.magnet?.infoHashV2Hex).toBe(meta.infoHashV2Hex);
      await t.completed;
      expect(t.meta).toMatchObject({
        kind: 'hybrid',
        infoHashHex: meta.infoHashHex,
        infoHashV2Hex: meta.infoHashV2Hex,
      });
      expect(Buffer.from(await readFile(join(out, 'data', 'a.bin'))).equals(pattern(100_000, 1))).toBe(true);
      expect(Buffer.from(await readFile(join(out, 'data', 'sub', 'b.txt'))).equals(pattern(7, 2))).toBe(true);
    } finally {
      await Promise.all([seed.close(), leech.close()]);
    }
  });

  it('refuses --v2 with --hybrid, and a piece length that is not a power of two', async () => {
    const both = await cli('create', '--v2', '--hybrid', join(work, 'data'));
    expect([both.code, both.err[0]]).toEqual([2, 'bt-actor create: --v2 and --hybrid cannot be given together']);
    const odd = await cli('create', '--v2', '-l', '48K', join(work, 'data'));
    expect(odd.code).toBe(2);
    expect(odd.err[0]).toMatch(/--piece-length of a --v2 torrent must be a power of two/);
  });
});
