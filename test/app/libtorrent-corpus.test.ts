/**
 * libtorrent's corpus of test torrents (test/fixtures/libtorrent-torrents, see its README): bt-actor
 * must take the same accept/refuse decision as libtorrent for every file, lay every accepted file out
 * inside the download folder, and give the sanitized paths, v2 roots and info hashes libtorrent's
 * test_torrent_info.cpp states. BEP 52 (v2-only and hybrid torrents) included: no file differs.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Metainfo, MetainfoError, foldPath, parseMetainfo, toHex } from '../../src/protocol/metainfo.js';
import type { PathRules } from '../../src/protocol/sanitize-path.js';

const DIR = join(import.meta.dirname, '../fixtures/libtorrent-torrents');

/** test_torrents[] of test_torrent_info.cpp: libtorrent loads these. */
const LOADS = [
  'base.torrent',
  'empty_path.torrent',
  'parent_path.torrent',
  'hidden_parent_path.torrent',
  'single_multi_file.torrent',
  'slash_path.torrent',
  'slash_path2.torrent',
  'slash_path3.torrent',
  'backslash_path.torrent',
  'url_list.torrent',
  'url_list2.torrent',
  'url_list3.torrent',
  'httpseed.torrent',
  'empty_httpseed.torrent',
  'long_name.torrent',
  'whitespace_url.torrent',
  'duplicate_files.torrent',
  'pad_file.torrent',
  'creation_date.torrent',
  'no_creation_date.torrent',
  'url_seed.torrent',
  'url_seed_multi.torrent',
  'url_seed_multi_single_file.torrent',
  'url_seed_multi_space.torrent',
  'url_seed_multi_space_nolist.torrent',
  'empty_path_multi.torrent',
  'duplicate_web_seeds.torrent',
  'invalid_name2.torrent',
  'invalid_name3.torrent',
  'symlink1.torrent',
  'symlink2.torrent',
  'unordered.torrent',
  'symlink_zero_size.torrent',
  'symlink_filtered_path.torrent',
  'pad_file_no_path.torrent',
  'large.torrent',
  'absolute_filename.torrent',
  'invalid_filename.torrent',
  'invalid_filename2.torrent',
  'overlapping_symlinks.torrent',
  'invalid_directory_name.torrent',
  'v2.torrent',
  'v2_multipiece_file.torrent',
  'v2_only.torrent',
  'v2_invalid_filename.torrent',
  'v2_multiple_files.torrent',
  'v2_invalid_filename2.torrent',
  'v2_symlinks.torrent',
  'v2_hybrid.torrent',
  'empty-files-1.torrent',
  'empty-files-2.torrent',
  'empty-files-3.torrent',
  'empty-files-4.torrent',
  'empty-files-5.torrent',
  'v2_no_piece_layers.torrent',
  'v2_incomplete_piece_layer.torrent',
  'similar.torrent',
  'similar2.torrent',
  'collection.torrent',
  'collection2.torrent',
  'dht_nodes.torrent',
  'large_piece_size.torrent',
  // Not in test_torrents[], but loaded by libtorrent's other tests: test_torrent_info.cpp `copy`
  // (sample) and test_create_torrent.cpp's round trips (the two hybrids).
  'sample.torrent',
  'v2_empty_file.torrent',
  'v2_hybrid-missing-tailpad.torrent',
];

/**
 * test_error_torrents[] of test_torrent_info.cpp: libtorrent refuses these, with that error; the second
 * column is the code bt-actor refuses them with.
 */
const REFUSES: Record<string, [libtorrent: string, btActor: string]> = {
  'missing_piece_len.torrent': ['torrent_missing_piece_length', 'BT_ERR_METAINFO_MISSING'],
  'invalid_piece_len.torrent': ['torrent_missing_piece_length', 'BT_ERR_METAINFO_TYPE'],
  'negative_piece_len.torrent': ['torrent_missing_piece_length', 'BT_ERR_METAINFO_LENGTH'],
  'no_name.torrent': ['torrent_missing_name', 'BT_ERR_METAINFO_MISSING'],
  'bad_name.torrent': ['torrent_missing_name', 'BT_ERR_METAINFO_BENCODE'],
  'invalid_name.torrent': ['torrent_missing_name', 'BT_ERR_METAINFO_TYPE'],
  'invalid_info.torrent': ['torrent_missing_info', 'BT_ERR_METAINFO_TYPE'],
  'string.torrent': ['torrent_is_no_dict', 'BT_ERR_METAINFO_TYPE'],
  'negative_size.torrent': ['torrent_invalid_length', 'BT_ERR_METAINFO_LENGTH'],
  'negative_file_size.torrent': ['torrent_invalid_length', 'BT_ERR_METAINFO_LENGTH'],
  'invalid_path_list.torrent': ['torrent_invalid_name', 'BT_ERR_METAINFO_TYPE'],
  'missing_path_list.torrent': ['torrent_missing_name', 'BT_ERR_METAINFO_MISSING'],
  'invalid_pieces.torrent': ['torrent_missing_pieces', 'BT_ERR_METAINFO_TYPE'],
  'unaligned_pieces.torrent': ['torrent_invalid_hashes', 'BT_ERR_METAINFO_PIECES'],
  'invalid_file_size.torrent': ['torrent_invalid_length', 'BT_ERR_METAINFO_TYPE'],
  'invalid_symlink.torrent': ['torrent_invalid_name', 'BT_ERR_METAINFO_TYPE'],
  'many_pieces.torrent': ['too_many_pieces_in_torrent', 'BT_ERR_METAINFO_PIECES'],
  'no_files.torrent': ['no_files_in_torrent', 'BT_ERR_METAINFO_MISSING'],
  'zero.torrent': ['torrent_invalid_length', 'BT_ERR_METAINFO_LENGTH'],
  'zero2.torrent': ['torrent_invalid_length', 'BT_ERR_METAINFO_LENGTH'],
  'v2_mismatching_metadata.torrent': ['torrent_inconsistent_files', 'BT_ERR_METAINFO_INCONSISTENT'],
  'v2_no_power2_piece.torrent': ['torrent_missing_piece_length', 'BT_ERR_METAINFO_LENGTH'],
  'v2_invalid_file.torrent': ['torrent_file_parse_failed', 'BT_ERR_METAINFO_TYPE'],
  'v2_deep_recursion.torrent': ['depth_exceeded', 'BT_ERR_METAINFO_BENCODE'],
  'v2_non_multiple_piece_layer.torrent': ['torrent_invalid_piece_layer', 'BT_ERR_METAINFO_PIECE_LAYERS'],
  'v2_piece_layer_invalid_file_hash.torrent': ['torrent_invalid_piece_layer', 'BT_ERR_METAINFO_PIECE_LAYERS'],
  'v2_invalid_piece_layer.torrent': ['torrent_invalid_piece_layer', 'BT_ERR_METAINFO_PIECE_LAYERS'],
  'v2_invalid_piece_layer_root.torrent': ['torrent_invalid_piece_layer', 'BT_ERR_METAINFO_PIECE_LAYERS'],
  'v2_unknown_piece_layer_entry.torrent': ['torrent_invalid_piece_layer', 'BT_ERR_METAINFO_PIECE_LAYERS'],
  'v2_invalid_piece_layer_size.torrent': ['torrent_invalid_piece_layer', 'BT_ERR_METAINFO_PIECE_LAYERS'],
  'v2_bad_file_alignment.torrent': ['torrent_inconsistent_files', 'BT_ERR_METAINFO_INCONSISTENT'],
  'v2_unordered_files.torrent': ['invalid_bencoding', 'BT_ERR_METAINFO_BENCODE'],
  'v2_overlong_integer.torrent': ['invalid_bencoding', 'BT_ERR_METAINFO_BENCODE'],
  'v2_missing_file_root_invalid_symlink.torrent': ['torrent_missing_pieces_root', 'BT_ERR_METAINFO_MISSING'],
  'v2_large_file.torrent': ['torrent_invalid_length', 'BT_ERR_METAINFO_LENGTH'],
  'v2_large_offset.torrent': ['too_many_pieces_in_torrent', 'BT_ERR_METAINFO_PIECES'],
  'v2_piece_size.torrent': ['torrent_missing_piece_length', 'BT_ERR_METAINFO_LENGTH'],
  'v2_invalid_pad_file.torrent': ['torrent_invalid_pad_file', 'BT_ERR_METAINFO_TYPE'],
  'v2_zero_root.torrent': ['torrent_missing_pieces_root', 'BT_ERR_METAINFO_MISSING'],
  'v2_zero_root_small.torrent': ['torrent_missing_pieces_root', 'BT_ERR_METAINFO_MISSING'],
  'v2_empty_filename.torrent': ['torrent_file_parse_failed', 'BT_ERR_METAINFO_BENCODE'],
  'duplicate_files2.torrent': ['too_many_duplicate_filenames', 'BT_ERR_METAINFO_DUPLICATE_PATH'],
  // Not in test_error_torrents[]: test_add_torrent.cpp refuses it with torrent_invalid_piece_layer.
  'v2_invalid_root_hash.torrent': ['torrent_invalid_piece_layer', 'BT_ERR_METAINFO_PIECE_LAYERS'],
};

/** What test_torrent_info.cpp states of the sanitized layout (paths include the torrent's name). */
interface Stated {
  files?: number;
  minFiles?: number;
  paths?: Record<number, string>;
  symlinks?: Record<number, string>;
  padding?: Record<number, boolean>;
  name?: string;
  /** Where libtorrent states a Windows-only result (trailing spaces are not allowed there). */
  windowsName?: string;
  pieceLength?: number;
  tracker?: string;
  /** BEP 52: which halves the torrent has, its v2 info hash, files' `pieces root` by index. */
  kind?: 'v1' | 'v2' | 'hybrid';
  infoHashV2?: string;
  roots?: Record<number, string>;
  lengths?: Record<number, number>;
}
const STATED: Record<string, Stated> = {
  'slash_path.torrent': { files: 1, paths: { 0: 'temp/_/_/bar' } },
  'slash_path2.torrent': { files: 1, paths: { 0: 'temp/abc....def/_/bar' } },
  'slash_path3.torrent': { files: 1, paths: { 0: 'temp....abc' } },
  'whitespace_url.torrent': { tracker: 'udp://test.com/announce' },
  'duplicate_files.torrent': { files: 2, paths: { 0: 'temp/foo/bar.txt', 1: 'temp/foo/bar.1.txt' } },
  'pad_file.torrent': { files: 2, padding: { 0: false, 1: true } },
  'invalid_name2.torrent': { name: 'b61560c2918f463768cd122b6d2fdd47b77bdb35' },
  'invalid_name3.torrent': { name: 'foobar ', windowsName: 'foobar' },
  'symlink1.torrent': { files: 2, symlinks: { 1: 'temp/a/b/bar' } },
  'symlink2.torrent': {
    files: 5,
    symlinks: { 0: 'Some.framework/Versions/A/SDL2', 4: 'Some.framework/Versions/A' },
  },
  'symlink_zero_size.torrent': { files: 2, symlinks: { 1: 'temp/a/b/bar' } },
  'symlink_filtered_path.torrent': { files: 2, paths: { 0: 'temp/a/_/bar' }, symlinks: { 1: 'temp/a/_/bar' } },
  // libtorrent keeps pad files under '.pad' outside the torrent's folder; compared without the name.
  'pad_file_no_path.torrent': { files: 2, paths: { 1: '.pad/2124' } },
  'absolute_filename.torrent': { files: 2, paths: { 0: 'temp/abcde', 1: 'temp/foobar' } },
  'invalid_filename.torrent': { files: 2 },
  'invalid_filename2.torrent': { files: 3 },
  'overlapping_symlinks.torrent': {
    minFiles: 4,
    symlinks: {
      0: 'SDL2.framework/Versions/Current/Headers',
      1: 'SDL2.framework/Versions/Current/Resources',
      2: 'SDL2.framework/Versions/Current/SDL2',
    },
  },
  'invalid_directory_name.torrent': { files: 2, paths: { 0: 'test2/_/foo', 1: 'test2/_/foo.1' } },
  'large_piece_size.torrent': { pieceLength: 32767 * 0x4000 },
  'v2.torrent': {
    files: 1,
    paths: { 0: 'test64K' },
    lengths: { 0: 65536 },
    roots: { 0: '60aae9c7b428f87e0713e88229e18f0adf12cd7b22a0dd8a92bb2485eb7af242' },
    kind: 'hybrid',
    infoHashV2: '597b180c1a170a585dfc5e85d834d69013ceda174b8f357d5bb1a0ca509faf0a',
  },
  'v2_multipiece_file.torrent': {
    files: 1,
    paths: { 0: 'test1MB' },
    lengths: { 0: 1048576 },
    roots: { 0: '515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008' },
    kind: 'hybrid',
    infoHashV2: '108ac2c3718ce722e6896edc56c4afa98f1d711ecaace7aad74fca418ebd03de',
  },
  'v2_only.torrent': {
    files: 1,
    paths: { 0: 'test1MB' },
    lengths: { 0: 1048576 },
    roots: { 0: '515ea9181744b817744ded9d2e8e9dc6a8450c0b0c52e24b5077f302ffbd9008' },
    kind: 'v2',
    infoHashV2: '95e04d0c4bad94ab206efa884666fd89777dbe4f7bd9945af1829037a85c6192',
  },
  'v2_invalid_filename.torrent': { files: 1, paths: { 0: '_estMB' } },
  // libtorrent counts the padding it adds after each file; these counts are what it states.
  'v2_multiple_files.torrent': { files: 5, kind: 'v2' },
  'v2_invalid_filename2.torrent': {
    files: 3,
    paths: { 0: 'test/_', 1: 'test/_.1', 2: 'test/stress_test2' },
  },
  'v2_symlinks.torrent': {
    minFiles: 4,
    symlinks: {
      0: 'SDL2.framework/Versions/Current/Headers',
      1: 'SDL2.framework/Versions/Current/Resources',
      2: 'SDL2.framework/Versions/Current/SDL2',
    },
  },
  'v2_hybrid.torrent': { kind: 'hybrid' },
  'empty-files-1.torrent': { kind: 'hybrid' },
  'empty-files-2.torrent': { kind: 'hybrid' },
  'empty-files-3.torrent': { kind: 'hybrid' },
  'empty-files-4.torrent': { kind: 'hybrid' },
  'empty-files-5.torrent': { kind: 'hybrid' },
  'v2_no_piece_layers.torrent': { kind: 'v2' },
  'v2_incomplete_piece_layer.torrent': { kind: 'v2' },
  'sample.torrent': {
    files: 3,
    paths: { 0: 'sample/text_file2.txt', 1: 'sample/.____padding_file/0', 2: 'sample/text_file.txt' },
  },
};

function load(file: string, pathRules: PathRules = 'posix'): Metainfo {
  return parseMetainfo(readFileSync(join(DIR, file)), { pathRules });
}

function refusal(file: string): MetainfoError | 'accepted' {
  try {
    load(file);
    return 'accepted';
  } catch (err) {
    expect(err).toBeInstanceOf(MetainfoError);
    return err as MetainfoError;
  }
}

/** A file's path as libtorrent's file_path() gives it: under the name, except pad files without a path. */
function fullPath(m: Metainfo, i: number): string {
  const f = m.files[i]!;
  if (f.padding && f.originalPath?.length === 0) return f.pathString;
  return m.multiFile ? `${m.name}/${f.pathString}` : f.pathString;
}

function expectInside(m: Metainfo, file: string) {
  const root = resolve('/srv/downloads');
  const seen = new Set<string>();
  for (const f of m.files) {
    if (f.padding || f.symlinkPath !== undefined) continue;
    const rel = relative(root, resolve(root, m.name, ...(m.multiFile ? f.path : [])));
    expect(rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel), `${file}: ${rel}`).toBe(false);
    for (const e of [m.name, ...f.path]) expect(['', '.', '..']).not.toContain(e);
    expect(seen.has(foldPath(f.pathString)), `${file}: ${f.pathString} twice`).toBe(false);
    seen.add(foldPath(f.pathString));
  }
}

describe('the libtorrent corpus', () => {
  const all = readdirSync(DIR).filter((f) => f.endsWith('.torrent'));

  it('the table covers every file of the corpus, each once', () => {
    expect(all).toHaveLength(108);
    expect([...LOADS, ...Object.keys(REFUSES)].sort()).toEqual([...all].sort());
  });

  it('every torrent libtorrent loads, bt-actor loads, inside the download folder', () => {
    expect(LOADS).toHaveLength(65);
    for (const file of LOADS) {
      for (const rules of ['posix', 'windows'] as const) {
        let m: Metainfo;
        try {
          m = load(file, rules);
        } catch (err) {
          throw new Error(`${file} (${rules}): ${(err as Error).message}`);
        }
        expectInside(m, file);
      }
    }
  });

  it('every torrent libtorrent refuses, bt-actor refuses, with the code in the table', () => {
    const refused = Object.entries(REFUSES);
    expect(refused).toHaveLength(43);
    for (const [file, [, code]] of refused) {
      const r = refusal(file);
      expect(r === 'accepted' ? `${file}: accepted` : `${file}: ${r.code}`).toBe(`${file}: ${code}`);
    }
  });

  it('the sanitized layouts equal what test_torrent_info.cpp states', () => {
    for (const [file, stated] of Object.entries(STATED)) {
      const m = load(file);
      const at = (i: number) => `${file} file ${i}`;
      if (stated.files !== undefined) expect(m.files, file).toHaveLength(stated.files);
      if (stated.minFiles !== undefined) expect(m.files.length, file).toBeGreaterThanOrEqual(stated.minFiles);
      for (const [i, p] of Object.entries(stated.paths ?? {})) expect(fullPath(m, Number(i)), at(Number(i))).toBe(p);
      for (const [i, p] of Object.entries(stated.symlinks ?? {})) {
        const target = m.files[Number(i)]!.symlinkPath;
        expect(target, at(Number(i))).toBeDefined();
        expect([m.name, ...target!].join('/'), at(Number(i))).toBe(p);
      }
      for (const [i, p] of Object.entries(stated.padding ?? {}))
        expect(m.files[Number(i)]!.padding, at(Number(i))).toBe(p);
      if (stated.name !== undefined) expect(m.name, file).toBe(stated.name);
      if (stated.windowsName !== undefined) expect(load(file, 'windows').name, file).toBe(stated.windowsName);
      if (stated.pieceLength !== undefined) expect(m.pieceLength, file).toBe(stated.pieceLength);
      if (stated.tracker !== undefined) expect(m.announce[0]?.[0], file).toBe(stated.tracker);
      if (stated.kind !== undefined) expect(m.kind, file).toBe(stated.kind);
      if (stated.infoHashV2 !== undefined) expect(m.infoHashV2Hex, file).toBe(stated.infoHashV2);
      for (const [i, n] of Object.entries(stated.lengths ?? {}))
        expect(m.files[Number(i)]!.length, at(Number(i))).toBe(n);
      for (const [i, r] of Object.entries(stated.roots ?? {}))
        expect(toHex(m.files[Number(i)]!.piecesRoot!), at(Number(i))).toBe(r);
    }
  });

  it('each renamed file reports its original path; the info hash is that of the file bytes', () => {
    const m = load('duplicate_files.torrent');
    expect(m.files[1]!.originalPath).toEqual(['foo', 'bar.txt']);
    expect(m.pathChanges).toEqual([
      { field: 'info.files[1].path', from: 'foo/bar.txt', to: 'foo/bar.1.txt', reasons: ['duplicate path'] },
    ]);
    const n = load('invalid_name2.torrent');
    expect([n.originalName, n.infoHashHex]).toEqual(['..', 'b61560c2918f463768cd122b6d2fdd47b77bdb35']);
    expect(load('large_piece_size.torrent').warnings).toEqual([
      "1 byte(s) of whitespace after the torrent's dictionary: ignored",
    ]);
  });

  it('v2: the info hash is the SHA-256 of the info bytes (cut to 20 for a v2-only torrent); piece layers are read', () => {
    const sha = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');
    const only = load('v2_only.torrent');
    expect(only.infoHashHex).toBe(only.infoHashV2Hex!.slice(0, 40));
    expect(only.infoHashV2Hex).toBe(sha('sha256', only.infoBytes));
    expect([only.metaVersion, only.pieces.length, only.pieceCount]).toEqual([2, 0, 16]);
    expect(only.files[0]!.pieceLayer).toHaveLength(16 * 32);
    const hybrid = load('v2_hybrid.torrent');
    expect(hybrid.infoHashHex).toBe(sha('sha1', hybrid.infoBytes));
    expect(hybrid.infoHashV2Hex).toBe(sha('sha256', hybrid.infoBytes));
    // Every v1 file holding data has its v2 root, and its piece layer from 'piece layers'.
    for (const f of hybrid.files.filter((f) => !f.padding)) {
      expect(f.piecesRoot, f.pathString).toHaveLength(32);
      const pieces = Math.ceil(f.length / hybrid.pieceLength);
      expect(f.pieceLayer, f.pathString).toHaveLength(pieces > 1 ? pieces * 32 : 32);
    }
    // stress_test1 has no entry in 'piece layers': its layer is left for peers to give.
    const incomplete = load('v2_incomplete_piece_layer.torrent').files.filter((f) => !f.padding);
    expect(incomplete.map((f) => f.pieceLayer?.length)).toEqual([1000 * 32, undefined, 1001 * 32]);
    expect(load('base.torrent')).toMatchObject({ kind: 'v1', metaVersion: 1 });
    expect(load('base.torrent').infoHashV2).toBeUndefined();
  });
});
