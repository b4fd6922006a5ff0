import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { MetainfoError, parseMetainfo, pieceHash, pieceSize } from '../../src/protocol/metainfo.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest('hex');
const hashes = (n: number) => new Uint8Array(20 * n).map((_, i) => i % 251);

function torrent(info: Record<string, unknown>, top: Record<string, unknown> = {}): Uint8Array {
  return encodeBencode({ announce: 'http://127.0.0.1:6969/announce', ...top, info });
}
const single = (over: Record<string, unknown> = {}) => ({
  name: 'a.bin',
  'piece length': 16384,
  length: 40000,
  pieces: hashes(3),
  ...over,
});
const multi = (files: unknown[], over: Record<string, unknown> = {}) => ({
  name: 'dir',
  'piece length': 16384,
  files,
  pieces: hashes(1),
  ...over,
});

function expectError(bytes: Uint8Array, code: string, field: string | RegExp) {
  try {
    parseMetainfo(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(MetainfoError);
    const e = err as MetainfoError;
    expect(e.code).toBe(code);
    if (typeof field === 'string') expect(e.field).toBe(field);
    else expect(e.field).toMatch(field);
    expect(e.message).toContain(e.field);
    return e;
  }
  throw new Error('expected a MetainfoError');
}

describe('parseMetainfo: valid torrents', () => {
  it('reads a single-file torrent', () => {
    const m = parseMetainfo(torrent(single(), { comment: 'hi', 'created by': 'me', 'creation date': 1700000000 }));
    expect(m.name).toBe('a.bin');
    expect(m.multiFile).toBe(false);
    expect(m.files).toEqual([
      {
        path: ['a.bin'],
        pathString: 'a.bin',
        length: 40000,
        offset: 0,
        padding: false,
        executable: false,
        hidden: false,
      },
    ]);
    expect(m.length).toBe(40000);
    expect(m.pieceCount).toBe(3);
    expect(pieceSize(m, 0)).toBe(16384);
    expect(pieceSize(m, 2)).toBe(40000 - 2 * 16384);
    expect(pieceHash(m, 1)).toEqual(hashes(3).subarray(20, 40));
    expect(m.announce).toEqual([['http://127.0.0.1:6969/announce']]);
    expect(m.comment).toBe('hi');
    expect(m.createdBy).toBe('me');
    expect(m.creationDate).toBe(1700000000);
    expect(m.private).toBe(false);
    expect(m.warnings).toEqual([]);
  });

  it('reads a multi-file torrent with offsets, nested folders and a zero-length file', () => {
    const files = [
      { length: 5, path: ['x', 'y.txt'] },
      { length: 0, path: ['empty'] },
      { length: 7, path: ['z'] },
    ];
    const m = parseMetainfo(torrent(multi(files)));
    expect(m.multiFile).toBe(true);
    expect(m.files.map((f) => [f.pathString, f.offset, f.length])).toEqual([
      ['x/y.txt', 0, 5],
      ['empty', 5, 0],
      ['z', 5, 7],
    ]);
    expect(m.length).toBe(12);
  });

  it('hashes the info dictionary as it stands in the file, not a re-encoding', () => {
    // Keys out of order and an unknown key: a re-encoding would sort them and change the hash.
    const info = Buffer.from(
      `d12:piece lengthi16384e4:name5:a.bin6:lengthi10e6:x-keepi1e6:pieces20:${'A'.repeat(20)}e`,
    );
    const file = Buffer.concat([Buffer.from('d8:announce4:none4:info'), info, Buffer.from('e')]);
    const m = parseMetainfo(file);
    expect(m.infoHashHex).toBe(sha1(info));
    expect(m.infoHashHex).not.toBe(
      sha1(
        encodeBencode({
          name: 'a.bin',
          'piece length': 16384,
          length: 10,
          'x-keep': 1,
          pieces: Buffer.from('A'.repeat(20)),
        }),
      ),
    );
    expect(Buffer.from(m.infoBytes).equals(info)).toBe(true);
  });

  it('prefers announce-list (BEP 12) and drops empty tiers and repeated URLs', () => {
    const m = parseMetainfo(
      torrent(single(), {
        'announce-list': [['http://a/announce', 'udp://b:1'], [], ['http://a/announce'], ['http://c/announce']],
      }),
    );
    expect(m.announce).toEqual([['http://a/announce', 'udp://b:1'], ['http://c/announce']]);
  });

  it('reads private (BEP 27), url-list (BEP 19) and non-ASCII names', () => {
    const m = parseMetainfo(
      torrent(single({ private: 1, name: 'Ünïcödé 日本語.bin' }), { 'url-list': 'http://seed/x' }),
    );
    expect(m.private).toBe(true);
    expect(m.urlList).toEqual(['http://seed/x']);
    expect(m.name).toBe('Ünïcödé 日本語.bin');
  });

  it('prefers name.utf-8 and path.utf-8 when they are valid UTF-8', () => {
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]); // "café" in latin1: not UTF-8
    const files = [{ length: 1, path: [latin1], 'path.utf-8': ['café'] }];
    const m = parseMetainfo(torrent(multi(files, { name: latin1, 'name.utf-8': 'café dir' })));
    expect(m.name).toBe('café dir');
    expect(m.files[0]!.pathString).toBe('café');
  });

  it('reads BEP 47 padding files and attributes; identical padding paths are not duplicates', () => {
    const files = [
      { length: 10, path: ['a'], attr: 'x' },
      { length: 16374, path: ['.pad', '16374'], attr: 'p' },
      { length: 10, path: ['b'], attr: 'h' },
      { length: 16374, path: ['.pad', '16374'], attr: 'p' },
      { length: 0, path: ['link'], attr: 'l', 'symlink path': ['a'] },
      { length: 5, path: ['c'] },
    ];
    const m = parseMetainfo(torrent(multi(files, { pieces: hashes(3) })));
    expect(m.files.map((f) => f.padding)).toEqual([false, true, false, true, false, false]);
    expect(m.files[0]!.executable).toBe(true);
    expect(m.files[2]!.hidden).toBe(true);
    expect(m.files[2]!.offset).toBe(16384);
    expect(m.files[4]!.symlinkPath).toEqual(['a']);
  });

  it('tolerates mistyped optional keys outside the info dictionary, with a warning', () => {
    const m = parseMetainfo(torrent(single(), { comment: 5, 'creation date': 'yesterday', announce: 7 }));
    expect(m.comment).toBeUndefined();
    expect(m.creationDate).toBeUndefined();
    expect(m.announce).toEqual([]);
    expect(m.warnings).toHaveLength(3);
  });

  it('round-trips what encodeTorrent writes', () => {
    const bytes = encodeTorrent({
      name: 'set',
      multiFile: true,
      files: [
        { path: ['a', 'b'], length: 3 },
        { path: ['c'], length: 16384 },
      ],
      pieceLength: 16384,
      pieces: hashes(2),
      announce: [['http://t1/announce'], ['udp://t2:80']],
      private: true,
      comment: 'c',
      createdBy: 'bt-actor',
      creationDate: 1,
      urlList: ['http://ws/'],
    });
    const m = parseMetainfo(bytes);
    expect(m.announce).toEqual([['http://t1/announce'], ['udp://t2:80']]);
    expect(m.files.map((f) => f.pathString)).toEqual(['a/b', 'c']);
    expect(m.private).toBe(true);
    expect(m.urlList).toEqual(['http://ws/']);
  });
});

describe('parseMetainfo: every broken torrent names its field', () => {
  it('not bencode', () => expectError(Buffer.from('d4:infod'), 'BT_ERR_METAINFO_BENCODE', 'file'));
  it('not a dictionary', () => expectError(Buffer.from('li1ee'), 'BT_ERR_METAINFO_TYPE', 'file'));
  it('no info', () => expectError(encodeBencode({ announce: 'x' }), 'BT_ERR_METAINFO_MISSING', 'info'));
  it('info not a dictionary', () => expectError(encodeBencode({ info: 3 }), 'BT_ERR_METAINFO_TYPE', 'info'));
  it('no piece length', () =>
    expectError(torrent(single({ 'piece length': undefined })), 'BT_ERR_METAINFO_MISSING', 'info.piece length'));
  it('piece length a string', () =>
    expectError(torrent(single({ 'piece length': '16384' })), 'BT_ERR_METAINFO_TYPE', 'info.piece length'));
  it('piece length zero', () =>
    expectError(torrent(single({ 'piece length': 0 })), 'BT_ERR_METAINFO_LENGTH', 'info.piece length'));
  it('piece length absurd', () =>
    expectError(torrent(single({ 'piece length': 2 ** 40 })), 'BT_ERR_METAINFO_LENGTH', 'info.piece length'));
  it("piece length one byte above libtorrent's limit (32767 × 16 KiB)", () =>
    expectError(
      torrent(single({ 'piece length': 32767 * 16384 + 1, length: 1, pieces: hashes(1) })),
      'BT_ERR_METAINFO_LENGTH',
      'info.piece length',
    ));
  it('bytes other than whitespace after the dictionary', () => {
    const e = expectError(new Uint8Array([...torrent(single()), 0x20, 0x78]), 'BT_ERR_METAINFO_BENCODE', 'file');
    expect(e.message).toMatch(/after the end/);
  });
  it('no pieces', () => expectError(torrent(single({ pieces: undefined })), 'BT_ERR_METAINFO_MISSING', 'info.pieces'));
  it('a file tree without meta version 2 (as libtorrent: torrent_missing_meta_version)', () => {
    const e = expectError(torrent(single({ 'file tree': {} })), 'BT_ERR_METAINFO_MISSING', 'info.meta version');
    expect(e.message).toMatch(/BEP 52/);
  });
  it('a meta version above 2', () =>
    expectError(torrent(single({ 'meta version': 3 })), 'BT_ERR_METAINFO_UNSUPPORTED', 'info.meta version'));
  it('pieces not a multiple of 20', () => {
    const e = expectError(torrent(single({ pieces: new Uint8Array(33) })), 'BT_ERR_METAINFO_PIECES', 'info.pieces');
    expect(e.message).toMatch(/33 is not a multiple of 20/);
  });
  it('piece count inconsistent with length', () => {
    const e = expectError(torrent(single({ pieces: hashes(2) })), 'BT_ERR_METAINFO_PIECES', 'info.pieces');
    expect(e.message).toMatch(/holds 2 hashes but 40000 bytes in pieces of 16384 need 3/);
  });
  it('no name', () => expectError(torrent(single({ name: undefined })), 'BT_ERR_METAINFO_MISSING', 'info.name'));
  it('negative length', () => expectError(torrent(single({ length: -1 })), 'BT_ERR_METAINFO_LENGTH', 'info.length'));
  it('absurd length', () => expectError(torrent(single({ length: 2 ** 52 })), 'BT_ERR_METAINFO_LENGTH', 'info.length'));
  it('no length and no files', () =>
    expectError(torrent(single({ length: undefined })), 'BT_ERR_METAINFO_MISSING', 'info.length'));
  it('both length and files', () => expectError(torrent(single({ files: [] })), 'BT_ERR_METAINFO_TYPE', 'info'));
  it('empty files list', () => expectError(torrent(multi([])), 'BT_ERR_METAINFO_MISSING', 'info.files'));
  it('file without length', () =>
    expectError(torrent(multi([{ path: ['a'] }])), 'BT_ERR_METAINFO_MISSING', 'info.files[0].length'));
  it('file without path', () =>
    expectError(torrent(multi([{ length: 1 }])), 'BT_ERR_METAINFO_MISSING', 'info.files[0].path'));
  it('empty path', () =>
    expectError(torrent(multi([{ length: 1, path: [] }])), 'BT_ERR_METAINFO_PATH', 'info.files[0].path'));
  it("a path more than 100 elements deep (libtorrent's max_directory_depth)", () => {
    const deep = (n: number) => torrent(multi([{ length: 1, path: Array.from({ length: n }, () => 'd') }]));
    expect(parseMetainfo(deep(100)).files[0]!.path).toHaveLength(100);
    const e = expectError(deep(101), 'BT_ERR_METAINFO_PATH', 'info.files[0].path');
    expect(e.message).toMatch(/101 elements deep \(at most 100\)/);
    expectError(
      torrent(
        multi([
          { length: 0, attr: 'l', path: ['l'], 'symlink path': Array.from({ length: 101 }, () => 'd') },
          { length: 1, path: ['f'] },
        ]),
      ),
      'BT_ERR_METAINFO_PATH',
      'info.files[0].symlink path',
    );
  });
  it('path element not a string', () =>
    expectError(torrent(multi([{ length: 1, path: [5] }])), 'BT_ERR_METAINFO_TYPE', 'info.files[0].path[0]'));
  it('zero total length', () =>
    expectError(
      torrent(multi([{ length: 0, path: ['a'] }], { pieces: new Uint8Array(0) })),
      'BT_ERR_METAINFO_LENGTH',
      'info.files',
    ));
});

describe('parseMetainfo: harmless oddities are tolerated', () => {
  it('whitespace after the top-level dictionary: a warning, and the same info hash', () => {
    const bytes = torrent(single());
    const m = parseMetainfo(new Uint8Array([...bytes, 0x0a, 0x20, 0x0d, 0x09]));
    expect(m.warnings).toEqual(["4 byte(s) of whitespace after the torrent's dictionary: ignored"]);
    expect(m.infoHashHex).toBe(parseMetainfo(bytes).infoHashHex);
  });
  it("piece lengths up to libtorrent's limit, 32767 × 16 KiB", () => {
    const m = parseMetainfo(torrent(single({ 'piece length': 32767 * 16384, length: 1, pieces: hashes(1) })));
    expect(m.pieceLength).toBe(536854528);
  });
});

describe('parseMetainfo: paths are sanitized, never refused, when a safe layout exists', () => {
  const paths = (files: unknown[], over: Record<string, unknown> = {}) => {
    const m = parseMetainfo(torrent(multi(files, over)), { pathRules: 'posix' });
    return { m, paths: m.files.map((f) => f.pathString) };
  };

  it('drops empty and . elements; replaces .. and names of dots; removes separators inside an element', () => {
    const { m, paths: p } = paths([
      { length: 1, path: ['a', '', 'b'] },
      { length: 1, path: ['a', '.', 'c'] },
      { length: 1, path: ['a', '..', '..', 'x'] },
      { length: 1, path: ['/etc', 'passwd'] },
      { length: 1, path: ['a/../../y'] },
      { length: 1, path: ['\\', 'z'] },
    ]);
    expect(p).toEqual(['a/b', 'a/c', 'a/_/_/x', 'etc/passwd', 'a....y', '_/z']);
    expect(m.files[2]!.originalPath).toEqual(['a', '..', '..', 'x']);
    expect(m.files[0]!.originalPath).toEqual(['a', '', 'b']);
    expect(m.pathChanges.map((c) => [c.field, c.from, c.to])).toEqual([
      ['info.files[0].path', 'a//b', 'a/b'],
      ['info.files[1].path', 'a/./c', 'a/c'],
      ['info.files[2].path', 'a/../../x', 'a/_/_/x'],
      ['info.files[3].path', '/etc/passwd', 'etc/passwd'],
      ['info.files[4].path', 'a/../../y', 'a....y'],
      ['info.files[5].path', '\\/z', '_/z'],
    ]);
    expect(m.pathChanges[0]!.reasons).toEqual(['empty element dropped']);
    expect(m.pathChanges[2]!.reasons).toEqual(['dot name']);
    expect(m.pathChanges[3]!.reasons).toEqual(['separator']);
  });

  it('a path with nothing left becomes _', () => {
    expect(paths([{ length: 1, path: ['', '.'] }]).paths).toEqual(['_']);
  });

  it('control characters (NUL included) become _, invisible direction marks are removed', () => {
    const { m, paths: p } = paths([{ length: 1, path: ['a\0b\nc', 'evil\u202etxt.exe'] }]);
    expect(p).toEqual(['a_b_c/eviltxt.exe']);
    expect(m.pathChanges[0]!.reasons).toEqual(['control character', 'invisible character']);
  });

  it('bytes that are not UTF-8 become _ (path.utf-8 wins when valid)', () => {
    const { m, paths: p } = paths([{ length: 1, path: [new Uint8Array([0x61, 0xff, 0x62])] }]);
    expect(p).toEqual(['a_b']);
    expect(m.pathChanges[0]!.reasons).toEqual(['not UTF-8']);
  });

  it('cuts elements longer than 255 bytes on a character boundary, keeping the extension', () => {
    const long = `${'é'.repeat(200)}.mkv`;
    const { paths: p } = paths([{ length: 1, path: [long] }]);
    expect(Buffer.byteLength(p[0]!)).toBeLessThanOrEqual(255);
    expect(p[0]).toBe(`${'é'.repeat(125)}.mkv`);
  });

  it('renames duplicates name.1.ext, name.2.ext, as libtorrent (case and normalisation folded)', () => {
    const { m, paths: p } = paths([
      { length: 1, path: ['a', 'b.txt'] },
      { length: 1, path: ['a', 'b.txt'] },
      { length: 1, path: ['A', 'B.TXT'] },
      { length: 1, path: ['caf\u00e9'] },
      { length: 1, path: ['cafe\u0301'] },
    ]);
    expect(p).toEqual(['a/b.txt', 'a/b.1.txt', 'A/B.2.TXT', 'caf\u00e9', 'cafe\u0301.1']);
    expect(m.pathChanges.map((c) => c.reasons)).toEqual([['duplicate path'], ['duplicate path'], ['duplicate path']]);
    expect(m.files[1]!.originalPath).toEqual(['a', 'b.txt']);
  });

  it('a file that is also a folder of another file is renamed, whichever comes first', () => {
    expect(
      paths([
        { length: 1, path: ['a'] },
        { length: 1, path: ['a', 'b'] },
      ]).paths,
    ).toEqual(['a.1', 'a/b']);
    expect(
      paths([
        { length: 1, path: ['notes', 'x'] },
        { length: 1, path: ['Notes'] },
      ]).paths,
    ).toEqual(['notes/x', 'Notes.1']);
  });

  it('refuses a torrent whose duplicates would take more than 500 renaming attempts', () => {
    const files = Array.from({ length: 40 }, () => ({ length: 1, path: ['same'] }));
    expect(() => paths(files)).toThrow(/renaming them gave up/);
    // 32 copies: the k-th rename finds k − 1 names taken, 0 + 1 + … + 30 = 465 in all: still fine.
    expect(paths(files.slice(0, 32)).paths[31]).toBe('same.31');
  });

  it('a name that is .., empty or only separators becomes the info hash; a / in the name is removed', () => {
    for (const name of ['..', '.', '', '/', '\u200b']) {
      const m = parseMetainfo(torrent(single({ name })), { pathRules: 'posix' });
      expect(m.name).toBe(m.infoHashHex);
      expect(m.files[0]!.path).toEqual([m.infoHashHex]);
      expect(m.originalName).toBe(name);
      expect(m.pathChanges[0]!.field).toBe('info.name');
    }
    const m = parseMetainfo(torrent(single({ name: 'a/b' })), { pathRules: 'posix' });
    expect([m.name, m.originalName, m.files[0]!.originalPath]).toEqual(['ab', 'a/b', ['a/b']]);
  });

  it('pad files need no path; BitComet padding names are padding; padding may share a path', () => {
    const { m, paths: p } = paths(
      [
        { length: 5, path: ['a'] },
        { length: 3, attr: 'p' },
        { length: 3, path: ['_____padding_file_0'] },
        { length: 3, path: ['_____padding_file_0'] },
      ],
      { pieces: hashes(1) },
    );
    expect(p).toEqual(['a', '.pad/3', '_____padding_file_0', '_____padding_file_0']);
    expect(m.files.map((f) => f.padding)).toEqual([false, true, true, true]);
    expect(m.pathChanges.map((c) => c.reasons)).toEqual([['pad file without a path']]);
  });

  it('a symlink entry holds no data whatever its length says; its target is sanitized; it may share a path', () => {
    const { m } = paths([
      { length: 4, path: ['a'] },
      { length: 99, attr: 'l', path: ['link'], 'symlink path': ['..', 'x', '.', 'a/b'] },
      { length: 0, attr: 'l', path: ['a'], 'symlink path': ['a'] },
      { length: 7, attr: 'l', path: ['nolink'] },
    ]);
    expect(m.files.map((f) => [f.pathString, f.length, f.offset, f.symlinkPath])).toEqual([
      ['a', 4, 0, undefined],
      ['link', 0, 4, ['x', 'ab']],
      ['a', 0, 4, ['a']],
      ['nolink', 0, 4, undefined],
    ]);
    expect(m.length).toBe(4);
  });

  it('the info hash is that of the original bytes, whatever was sanitized', () => {
    const bytes = torrent(multi([{ length: 1, path: ['..', 'x'] }]));
    const m = parseMetainfo(bytes, { pathRules: 'posix' });
    const start = Buffer.from(bytes).indexOf('4:infod') + 6;
    expect(m.infoHashHex).toBe(sha1(bytes.subarray(start, bytes.length - 1)));
  });

  describe('windows rules', () => {
    const win = (files: unknown[]) =>
      parseMetainfo(torrent(multi(files)), { pathRules: 'windows' }).files.map((f) => f.pathString);
    it('replaces <>:"|?*, strips trailing dots and spaces, prefixes device names', () => {
      expect(
        win([
          { length: 1, path: ['C:', 'a?b*.txt'] },
          { length: 1, path: ['name. .'] },
          { length: 1, path: ['CON'] },
          { length: 1, path: ['nul.txt'] },
          { length: 1, path: ['lpt1', 'x'] },
          { length: 1, path: ['...'] },
        ]),
      ).toEqual(['C_/a_b_.txt', 'name', '_CON', '_nul.txt', '_lpt1/x', '_']);
    });
    it('posix keeps those names as they are', () => {
      const m = parseMetainfo(torrent(multi([{ length: 1, path: ['C:', 'a?b*.txt '] }])), { pathRules: 'posix' });
      expect(m.files[0]!.pathString).toBe('C:/a?b*.txt ');
      expect(m.pathChanges).toEqual([]);
    });
  });
});
