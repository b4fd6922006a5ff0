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
  it('no pieces', () => expectError(torrent(single({ pieces: undefined })), 'BT_ERR_METAINFO_MISSING', 'info.pieces'));
  it('v2-only torrent', () => {
    const e = expectError(
      torrent(single({ pieces: undefined, 'file tree': {}, 'meta version': 2 })),
      'BT_ERR_METAINFO_UNSUPPORTED',
      'info.pieces',
    );
    expect(e.message).toMatch(/BEP 52/);
  });
  it('pieces not a multiple of 20', () => {
    const e = expectError(torrent(single({ pieces: new Uint8Array(33) })), 'BT_ERR_METAINFO_PIECES', 'info.pieces');
    expect(e.message).toMatch(/33 is not a multiple of 20/);
  });
  it('piece count inconsistent with length', () => {
    const e = expectError(torrent(single({ pieces: hashes(2) })), 'BT_ERR_METAINFO_PIECES', 'info.pieces');
    expect(e.message).toMatch(/holds 2 hashes but 40000 bytes in pieces of 16384 need 3/);
  });
  it('no name', () => expectError(torrent(single({ name: undefined })), 'BT_ERR_METAINFO_MISSING', 'info.name'));
  it('name with a slash', () => expectError(torrent(single({ name: 'a/b' })), 'BT_ERR_METAINFO_PATH', 'info.name'));
  it('name ..', () => expectError(torrent(single({ name: '..' })), 'BT_ERR_METAINFO_PATH', 'info.name'));
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
  it('empty path element', () =>
    expectError(torrent(multi([{ length: 1, path: ['a', ''] }])), 'BT_ERR_METAINFO_PATH', 'info.files[0].path[1]'));
  it('absolute path', () =>
    expectError(
      torrent(multi([{ length: 1, path: ['/etc', 'passwd'] }])),
      'BT_ERR_METAINFO_PATH',
      'info.files[0].path[0]',
    ));
  it('.. in a path', () =>
    expectError(
      torrent(multi([{ length: 1, path: ['a', '..', '..', 'x'] }])),
      'BT_ERR_METAINFO_PATH',
      'info.files[0].path[1]',
    ));
  it('slash inside an element', () =>
    expectError(torrent(multi([{ length: 1, path: ['a/../../x'] }])), 'BT_ERR_METAINFO_PATH', 'info.files[0].path[0]'));
  it('NUL inside an element', () => {
    const e = expectError(
      torrent(multi([{ length: 1, path: ['a\0b'] }])),
      'BT_ERR_METAINFO_PATH',
      'info.files[0].path[0]',
    );
    expect(e.message).toContain('NUL');
  });
  it('path element not a string', () =>
    expectError(torrent(multi([{ length: 1, path: [5] }])), 'BT_ERR_METAINFO_TYPE', 'info.files[0].path[0]'));
  it('duplicate paths', () => {
    const e = expectError(
      torrent(
        multi([
          { length: 1, path: ['a', 'b'] },
          { length: 1, path: ['a', 'b'] },
        ]),
      ),
      'BT_ERR_METAINFO_DUPLICATE_PATH',
      'info.files[1].path',
    );
    expect(e.message).toMatch(/info\.files\[0\]/);
  });
  it('paths that differ only in case or Unicode normalisation (one file on macOS and Windows)', () => {
    const e = expectError(
      torrent(
        multi([
          { length: 1, path: ['Dir', 'A.txt'] },
          { length: 1, path: ['dir', 'a.TXT'] },
        ]),
      ),
      'BT_ERR_METAINFO_DUPLICATE_PATH',
      'info.files[1].path',
    );
    expect(e.message).toContain('differ only in case or Unicode normalisation');
    expectError(
      torrent(
        multi([
          { length: 1, path: ['caf\u00e9'] },
          { length: 1, path: ['cafe\u0301'] },
        ]),
      ),
      'BT_ERR_METAINFO_DUPLICATE_PATH',
      'info.files[1].path',
    );
    // A file whose folder differs from another file's name only in case is a clash too.
    expectError(
      torrent(
        multi([
          { length: 1, path: ['Notes'] },
          { length: 1, path: ['notes', 'x'] },
        ]),
      ),
      'BT_ERR_METAINFO_DUPLICATE_PATH',
      'info.files[0].path',
    );
  });
  it('a file that is also a folder', () =>
    expectError(
      torrent(
        multi([
          { length: 1, path: ['a'] },
          { length: 1, path: ['a', 'b'] },
        ]),
      ),
      'BT_ERR_METAINFO_DUPLICATE_PATH',
      'info.files[0].path',
    ));
  it('zero total length', () =>
    expectError(
      torrent(multi([{ length: 0, path: ['a'] }], { pieces: new Uint8Array(0) })),
      'BT_ERR_METAINFO_LENGTH',
      'info.files',
    ));
});
