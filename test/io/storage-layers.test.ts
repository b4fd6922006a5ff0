/**
 * BEP 52 piece layers fetched from peers, in `Storage`: a v2-only torrent without `piece layers` cannot
 * verify the pieces of a file longer than one piece until `addPieceLayer` gives that file's layer, which
 * must fit the file and hash up to its `pieces root` (else `BT_ERR_STORAGE_LAYOUT`); `allPieceLayers`
 * lists every layer once all are known (what the storage actor saves with the .torrent). The storage
 * actor given such a layer (`storage.layer`) checks that file's pieces already on disk against it and
 * answers which it found good (`storage.layerChecked`): data copied there is not fetched again.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bencode from 'bencode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, createMachine, type AnyEventObject } from 'xstate';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { storageActor } from '../../src/io/storage-actor.js';
import { Storage } from '../../src/io/storage.js';
import { parseMetainfo, pieceSize, type Metainfo } from '../../src/protocol/metainfo.js';
import { pattern, pieceSpace, v2Torrent, type V2File } from '../support/v2-torrent.js';

const PIECE = 16_384;
const FILES: V2File[] = [
  { path: ['a.bin'], data: pattern(5 * PIECE + 7, 1) }, // 6 pieces
  { path: ['b.bin'], data: pattern(100, 2) }, // one piece: its root is its layer
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-storage-layers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Storage: BEP 52 piece layers fetched from peers', () => {
  it('verifies a file of many pieces only once its layer is added; a layer that does not fit is refused', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const full = parseMetainfo(torrent);
    const d = bencode.decode(torrent) as Record<string, unknown>;
    delete d['piece layers'];
    const meta: Metainfo = parseMetainfo(bencode.encode(d));
    const space = pieceSpace(meta, FILES);
    const piece = (i: number) => space.subarray(i * PIECE, i * PIECE + pieceSize(meta, i));
    const s = await Storage.open(meta, dir, {});
    try {
      const a = meta.files.findIndex((f) => f.pathString === 'a.bin');
      const b = meta.files.findIndex((f) => f.pathString === 'b.bin');
      const bPiece = meta.files[b]!.offset / PIECE;
      expect(s.verifyPiece(0, piece(0))).toBe(false); // a.bin's layer unknown
      expect(s.verifyPiece(bPiece, piece(bPiece))).toBe(true); // b.bin: checked by its root
      expect(s.allPieceLayers()).toBeUndefined();
      const layer = full.files[a]!.pieceLayer!;
      const wrong = Uint8Array.from(layer);
      wrong[0]! ^= 1;
      for (const bad of [wrong, layer.subarray(32), new Uint8Array(0)])
        expect(() => s.addPieceLayer(a, bad)).toThrow(expect.objectContaining({ code: 'BT_ERR_STORAGE_LAYOUT' }));
      expect(() => s.addPieceLayer(b, layer)).toThrow(expect.objectContaining({ code: 'BT_ERR_STORAGE_LAYOUT' }));
      expect(s.verifyPiece(0, piece(0))).toBe(false);
      s.addPieceLayer(a, layer);
      for (let i = 0; i < 6; i++) expect(s.verifyPiece(i, piece(i)), `piece ${i}`).toBe(true);
      const flipped = Uint8Array.from(piece(3));
      flipped[10]! ^= 1;
      expect(s.verifyPiece(3, flipped)).toBe(false);
      const all = s.allPieceLayers()!;
      expect(all.map((l) => [Buffer.from(l.root).toString('hex'), Buffer.from(l.layer).toString('hex')])).toEqual([
        [Buffer.from(meta.files[a]!.piecesRoot!).toString('hex'), Buffer.from(layer).toString('hex')],
      ]);
    } finally {
      await s.close();
    }
  });

  it('the storage actor checks the pieces of a file already on disk once its layer comes (storage.layerChecked)', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const full = parseMetainfo(torrent);
    const d = bencode.decode(torrent) as Record<string, unknown>;
    delete d['piece layers'];
    const meta: Metainfo = parseMetainfo(bencode.encode(d));
    const a = meta.files.findIndex((f) => f.pathString === 'a.bin');
    const b = meta.files.findIndex((f) => f.pathString === 'b.bin');
    // a.bin copied there but damaged: piece 2 has a flipped byte, the last piece (7 bytes) is cut off.
    const out = join(dir, 'actor');
    await mkdir(join(out, meta.name), { recursive: true });
    const damaged = Uint8Array.from(FILES[0]!.data.subarray(0, 5 * PIECE));
    damaged[2 * PIECE + 5]! ^= 1;
    await writeFile(join(out, meta.name, 'a.bin'), damaged);
    await writeFile(join(out, meta.name, 'b.bin'), FILES[1]!.data);
    const events: AnyEventObject[] = [];
    const parent = createMachine({
      invoke: { id: 'storage', src: storageActor(meta, out, {}) },
      on: { '*': { actions: ({ event }) => void events.push(event) } },
    });
    const actor = createActor(parent).start();
    const until = async (type: string) => {
      for (let i = 0; i < 500 && !events.some((e) => e.type === type); i++) await new Promise((r) => setTimeout(r, 10));
      return events.find((e) => e.type === type);
    };
    try {
      const ready = (await until('storage.ready')) as { have: Uint8Array } | undefined;
      // At start only b.bin (checked by its root) verifies: a.bin's layer is unknown.
      expect([...Bitfield.fromBytes(ready!.have, meta.pieceCount).setBits()]).toEqual([meta.files[b]!.offset / PIECE]);
      actor.getSnapshot().children.storage!.send({ type: 'storage.layer', file: a, layer: full.files[a]!.pieceLayer! });
      expect(await until('storage.layerChecked')).toEqual({
        type: 'storage.layerChecked',
        file: a,
        have: [0, 1, 3, 4],
      });
      // The pieces found are verified: a write of the missing one verifies, the damaged one is still wanted.
      const space = pieceSpace(meta, FILES);
      actor.getSnapshot().children.storage!.send({
        type: 'storage.write',
        index: 5,
        data: space.subarray(5 * PIECE, 5 * PIECE + pieceSize(meta, 5)),
      });
      expect(await until('storage.verified')).toEqual({ type: 'storage.verified', index: 5 });
      expect(events.filter((e) => e.type === 'storage.error')).toEqual([]);
    } finally {
      actor.getSnapshot().children.storage!.send({ type: 'storage.close' });
      await until('storage.closed');
      actor.stop();
    }
  });
});
