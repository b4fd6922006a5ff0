/**
 * BEP 52 metainfo: v2-only and hybrid torrents built in memory (test/support/v2-torrent.ts): the layout
 * libtorrent gives them (files padded to pieces), v2 info hashes, roots and piece layers, and each
 * refusal with its code and field.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type BencodeNode,
  type CanonicalValue,
  decodeBencodeNodes,
  encodeCanonical,
} from '../../src/protocol/bencode.js';
import { blockHashes, fileRoot, pieceLayer } from '../../src/protocol/merkle.js';
import { MetainfoError, parseMetainfo, toHex } from '../../src/protocol/metainfo.js';
import { pattern, v2Torrent } from '../support/v2-torrent.js';

const hex = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');
const A = pattern(40000, 1); // 3 blocks: 2 pieces of 32 KiB
const B = pattern(5, 2);
const C = pattern(70000, 3);

function refused(bytes: Uint8Array, code: string, field: string | RegExp): MetainfoError {
  try {
    parseMetainfo(bytes, { pathRules: 'posix' });
  } catch (err) {
    expect(err).toBeInstanceOf(MetainfoError);
    const e = err as MetainfoError;
    expect(e.code).toBe(code);
    if (typeof field === 'string') expect(e.field).toBe(field);
    else expect(e.field).toMatch(field);
    return e;
  }
  throw new Error('expected a MetainfoError');
}

/** A torrent as nested Maps keyed by the latin1 text of each key's bytes (binary keys survive). */
type Tree = number | Uint8Array | Tree[] | Map<string, Tree>;
type Dict = Map<string, Tree>;
const toTree = (n: BencodeNode): Tree =>
  n.type === 'dict'
    ? new Map(n.entries.map((e) => [Buffer.from(e.key).toString('latin1'), toTree(e.value)]))
    : n.type === 'list'
      ? n.items.map(toTree)
      : n.value;
const fromTree = (t: Tree): CanonicalValue =>
  t instanceof Map
    ? new Map([...t].map(([k, v]) => [Uint8Array.from(Buffer.from(k, 'latin1')), fromTree(v)]))
    : Array.isArray(t)
      ? t.map(fromTree)
      : t;

/** Decodes, lets `edit` change the torrent's dictionary, re-encodes (keys sorted as bytes). */
function edited(bytes: Uint8Array, edit: (t: Dict, info: Dict) => void): Uint8Array {
  const t = toTree(decodeBencodeNodes(bytes)) as Dict;
  edit(t, t.get('info') as Dict);
  return encodeCanonical(fromTree(t));
}
const dict = (t: Tree | undefined) => t as Dict;

describe('v2-only torrents', () => {
  const bytes = v2Torrent(
    [
      { path: ['a.bin'], data: A },
      { path: ['dir', 'b.txt'], data: B },
      { path: ['empty'], data: new Uint8Array(0) },
    ],
    { pieceLength: 32768 },
  );
  const m = parseMetainfo(bytes);

  it('is known by its SHA-256 (cut to 20 bytes), has no SHA-1 pieces', () => {
    expect(m).toMatchObject({ kind: 'v2', metaVersion: 2, multiFile: true, name: 'folder' });
    expect(m.infoHashV2Hex).toBe(hex('sha256', m.infoBytes));
    expect(m.infoHashHex).toBe(m.infoHashV2Hex!.slice(0, 40));
    expect(m.pieces).toHaveLength(0);
  });

  it('pads every file holding data to a piece (the tail too), as libtorrent lays it out', () => {
    expect(m.files.map((f) => [f.pathString, f.length, f.offset, f.padding])).toEqual([
      ['a.bin', 40000, 0, false],
      ['.pad/25536', 25536, 40000, true],
      ['dir/b.txt', 5, 65536, false],
      ['.pad/32763', 32763, 65541, true],
      ['empty', 0, 98304, false],
    ]);
    expect([m.length, m.pieceCount]).toEqual([98304, 3]);
  });

  it('gives each file its root and piece layer (the root itself for a file of one piece)', () => {
    expect(toHex(m.files[0]!.piecesRoot!)).toBe(toHex(fileRoot(A)!));
    expect(toHex(m.files[0]!.pieceLayer!)).toBe(toHex(Buffer.concat(pieceLayer(blockHashes(A), 32768))));
    expect(toHex(m.files[2]!.pieceLayer!)).toBe(toHex(fileRoot(B)!));
    expect(m.files[4]!.piecesRoot).toBeUndefined();
  });

  it('a single file at the top is a single-file torrent named after it', () => {
    const one = parseMetainfo(v2Torrent([{ path: ['x.iso'], data: C }], { multiFile: false }));
    expect(one).toMatchObject({ kind: 'v2', multiFile: false, name: 'x.iso' });
    expect(one.files.map((f) => f.pathString)).toEqual(['x.iso', '.pad/11920']);
  });

  it('keeps the file tree order of its bytes (a name "10" before "9", unlike a JavaScript object)', () => {
    const t = parseMetainfo(
      v2Torrent([
        { path: ['10'], data: B },
        { path: ['9'], data: B },
      ]),
    );
    expect(t.files.filter((f) => !f.padding).map((f) => f.pathString)).toEqual(['10', '9']);
  });

  it("sanitizes the tree's names like v1 paths and reports them by file", () => {
    const t = parseMetainfo(
      v2Torrent([
        { path: ['..', 'x'], data: B },
        { path: ['_', 'x'], data: B },
      ]),
      { pathRules: 'posix' },
    );
    expect(t.files.filter((f) => !f.padding).map((f) => f.pathString)).toEqual(['_/x', '_/x.1']);
    expect(t.pathChanges).toEqual([
      { field: 'info.file tree[0]', from: '../x', to: '_/x', reasons: ['dot name'] },
      { field: 'info.file tree[1]', from: '_/x', to: '_/x.1', reasons: ['duplicate path'] },
    ]);
  });

  it('a torrent without piece layers is read like a magnet link: roots, no layers', () => {
    const t = parseMetainfo(edited(bytes, (top) => top.delete('piece layers')));
    expect(t.files[0]!.piecesRoot).toBeDefined();
    expect(t.files[0]!.pieceLayer).toBeUndefined();
  });
});

describe('hybrid torrents', () => {
  const files = [
    { path: ['a.bin'], data: A },
    { path: ['b', 'c.txt'], data: B },
  ];
  const bytes = v2Torrent(files, { version: 'hybrid', pieceLength: 32768 });

  it('are known by their SHA-1, with the SHA-256 beside it; the v1 files carry the v2 roots', () => {
    const m = parseMetainfo(bytes);
    expect(m).toMatchObject({ kind: 'hybrid', metaVersion: 2 });
    expect(m.infoHashHex).toBe(hex('sha1', m.infoBytes));
    expect(m.infoHashV2Hex).toBe(hex('sha256', m.infoBytes));
    expect(m.files.map((f) => [f.pathString, f.padding, f.piecesRoot && toHex(f.piecesRoot)])).toEqual([
      ['a.bin', false, toHex(fileRoot(A)!)],
      ['.pad/25536', true, undefined],
      ['b/c.txt', false, toHex(fileRoot(B)!)],
      ['.pad/32763', true, undefined],
    ]);
  });

  it('a v1 list without the tail padding (libtorrent 2.0.0–2.0.7) still agrees', () => {
    const m = parseMetainfo(
      edited(bytes, (_, info) => {
        (info.get('files') as Tree[]).pop();
        info.set('pieces', (info.get('pieces') as Uint8Array).subarray(0, 60));
      }),
    );
    expect(m.files).toHaveLength(3);
    expect(m.length).toBe(65541);
  });

  it('halves that disagree are refused (a path, a length, the padding)', () => {
    const path = edited(bytes, (_, info) => {
      (dict((info.get('files') as Tree[])[2]).get('path') as Tree[])[1] = Buffer.from('d.txt');
    });
    expect(refused(path, 'BT_ERR_METAINFO_INCONSISTENT', 'info.file tree').message).toMatch(
      /entry 2 is 'b\/d.txt' \(5 bytes at 65536\) in v1, 'b\/c.txt'/,
    );
    const length = edited(bytes, (_, info) => dict((info.get('files') as Tree[])[1]).set('length', 25535));
    refused(length, 'BT_ERR_METAINFO_INCONSISTENT', 'info.file tree');
    const noPad = edited(bytes, (_, info) => (info.get('files') as Tree[]).splice(1, 1));
    refused(noPad, 'BT_ERR_METAINFO_INCONSISTENT', 'info.file tree');
  });
});

describe('v2 refusals (each as libtorrent refuses it)', () => {
  const bytes = v2Torrent([{ path: ['a.bin'], data: A }], { pieceLength: 16384 });
  const root = parseMetainfo(bytes).files[0]!.piecesRoot!;
  const leaf = (info: Dict) => dict(dict(dict(info.get('file tree')).get('a.bin')).get(''));

  it('a piece length that is not a power of two of at least 16 KiB', () => {
    for (const pl of [8192, 49152])
      refused(
        edited(bytes, (_, info) => info.set('piece length', pl)),
        'BT_ERR_METAINFO_LENGTH',
        'info.piece length',
      );
  });

  it('keys out of order in the info dictionary', () => {
    const text = Buffer.from(bytes).toString('latin1');
    const swapped = text
      .replace('12:meta versioni2e', '')
      .replace('4:name6:folder', '4:name6:folder12:meta versioni2e');
    expect(swapped).not.toBe(text);
    refused(Buffer.from(swapped, 'latin1'), 'BT_ERR_METAINFO_BENCODE', 'info');
  });

  it('no file tree; a pad file in it; a file without its root; a zero root; an empty name', () => {
    refused(
      edited(bytes, (_, info) => info.delete('file tree')),
      'BT_ERR_METAINFO_MISSING',
      'info.file tree',
    );
    refused(
      edited(bytes, (_, info) => leaf(info).set('attr', Buffer.from('p'))),
      'BT_ERR_METAINFO_TYPE',
      'info.file tree/a.bin/attr',
    );
    refused(
      edited(bytes, (_, info) => leaf(info).delete('pieces root')),
      'BT_ERR_METAINFO_MISSING',
      'info.file tree/a.bin/pieces root',
    );
    refused(
      edited(bytes, (_, info) => leaf(info).set('pieces root', new Uint8Array(32))),
      'BT_ERR_METAINFO_MISSING',
      'info.file tree/a.bin/pieces root',
    );
    refused(
      edited(bytes, (_, info) => dict(info.get('file tree')).set('', new Map([['', leaf(info)]]))),
      'BT_ERR_METAINFO_PATH',
      'info.file tree/',
    );
  });

  it('piece layers: a wrong hash, a wrong count, an unknown root, a file of one piece', () => {
    const layers = (top: Dict) => dict(top.get('piece layers'));
    const wrong = edited(bytes, (top) => {
      const [k, v] = [...layers(top)][0]!;
      const layer = Uint8Array.from(v as Uint8Array);
      layer[0]! ^= 1;
      layers(top).set(k, layer);
    });
    expect(refused(wrong, 'BT_ERR_METAINFO_PIECE_LAYERS', `piece layers/${toHex(root)}`).message).toMatch(
      /do not hash up/,
    );
    const short = edited(bytes, (top) => {
      const [k, v] = [...layers(top)][0]!;
      layers(top).set(k, (v as Uint8Array).subarray(32));
    });
    expect(refused(short, 'BT_ERR_METAINFO_PIECE_LAYERS', /^piece layers\//).message).toMatch(
      /2 hashes for a file of 3/,
    );
    const small = v2Torrent([{ path: ['b'], data: B }], { pieceLength: 16384 });
    const smallRoot = parseMetainfo(small).files[0]!.piecesRoot!;
    const extra = edited(small, (top) =>
      top.set('piece layers', new Map([[Buffer.from(smallRoot).toString('latin1'), smallRoot]])),
    );
    expect(refused(extra, 'BT_ERR_METAINFO_PIECE_LAYERS', /^piece layers\//).message).toMatch(/names no file/);
    const unknown = edited(bytes, (top) => layers(top).set('x'.repeat(32), new Uint8Array(96)));
    expect(refused(unknown, 'BT_ERR_METAINFO_PIECE_LAYERS', /^piece layers\//).message).toMatch(/names no file/);
  });

  it('a v2 file too large for its merkle tree (2^30 - 1 blocks)', () => {
    refused(
      edited(bytes, (_, info) => leaf(info).set('length', (2 ** 30 - 1) * 16384)),
      'BT_ERR_METAINFO_LENGTH',
      'info.file tree/a.bin/length',
    );
  });
});
