import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type LayoutFile,
  type PieceLayout,
  filePieces,
  mapPieceRange,
  pieceLengthAt,
  validateLayout,
} from '../../src/io/piece-map.js';
import { propertyOptions } from '../support/fc.js';

// Small random layouts: up to 8 files of 0..20 bytes (zero-length ones and padding files included),
// pieces of 1..24 bytes.
const layout: fc.Arbitrary<PieceLayout> = fc
  .record({
    files: fc.array(
      fc.record({
        length: fc.oneof(fc.constant(0), fc.nat({ max: 20 })),
        padding: fc.boolean(),
      }),
      { minLength: 1, maxLength: 8 },
    ),
    pieceLength: fc.integer({ min: 1, max: 24 }),
  })
  .filter((l) => l.files.some((f) => f.length > 0))
  .map(({ files, pieceLength }) => {
    let offset = 0;
    const placed: LayoutFile[] = files.map((f) => {
      const file = { offset, length: f.length, padding: f.padding };
      offset += f.length;
      return file;
    });
    return { files: placed, pieceLength, length: offset, pieceCount: Math.ceil(offset / pieceLength) };
  });

// Plain checks (not expect) in the hot loop: the property runs 10,000 layouts.
function ok(cond: boolean, message: string, detail: unknown): void {
  if (!cond) throw new Error(`${message}: ${JSON.stringify(detail)}`);
}

describe('piece map properties', () => {
  it('every piece maps to contiguous segments covering exactly its bytes; all pieces cover every file byte once', () => {
    fc.assert(
      fc.property(layout, (l) => {
        validateLayout(l);
        const covered = l.files.map((f) => new Uint8Array(f.length));
        for (let index = 0; index < l.pieceCount; index++) {
          const segments = mapPieceRange(l, index);
          let pos = index * l.pieceLength; // the torrent byte the next segment must start at
          for (const s of segments) {
            const f = l.files[s.fileIndex]!;
            ok(s.length > 0, 'empty segment', s);
            ok(s.fileOffset >= 0 && s.fileOffset + s.length <= f.length, "segment crosses its file's end", s);
            ok(f.offset + s.fileOffset === pos, 'segments not contiguous', s);
            ok(s.padding === f.padding, 'padding flag differs from the file', s);
            for (let k = s.fileOffset; k < s.fileOffset + s.length; k++) covered[s.fileIndex]![k]!++;
            pos += s.length;
          }
          ok(pos - index * l.pieceLength === pieceLengthAt(l, index), `piece ${index} not covered exactly`, segments);
        }
        covered.forEach((c, i) =>
          ok(
            c.every((n) => n === 1),
            `file ${i} bytes not covered exactly once`,
            [...c],
          ),
        );
      }),
      propertyOptions,
    );
  });

  it('a sub-range of a piece maps to the same bytes as the slice of the whole piece', () => {
    const withRange = layout.chain((l) =>
      fc.integer({ min: 0, max: l.pieceCount - 1 }).chain((index) => {
        const size = pieceLengthAt(l, index);
        return fc
          .integer({ min: 0, max: size - 1 })
          .chain((begin) => fc.integer({ min: 1, max: size - begin }).map((length) => ({ l, index, begin, length })));
      }),
    );
    fc.assert(
      fc.property(withRange, ({ l, index, begin, length }) => {
        const bytes = (segs: ReturnType<typeof mapPieceRange>) =>
          segs.flatMap((s) => Array.from({ length: s.length }, (_, k) => `${s.fileIndex}:${s.fileOffset + k}`));
        expect(bytes(mapPieceRange(l, index, begin, length))).toEqual(
          bytes(mapPieceRange(l, index)).slice(begin, begin + length),
        );
      }),
      propertyOptions,
    );
  });

  it('filePieces names exactly the pieces whose segments touch the file', () => {
    fc.assert(
      fc.property(layout, (l) => {
        const touched = l.files.map(() => new Set<number>());
        for (let index = 0; index < l.pieceCount; index++) {
          for (const s of mapPieceRange(l, index)) touched[s.fileIndex]!.add(index);
        }
        l.files.forEach((_, i) => {
          const { first, end } = filePieces(l, i);
          const want = Array.from({ length: end - first }, (_, k) => first + k).join();
          ok([...touched[i]!].sort((a, b) => a - b).join() === want, `file ${i}: filePieces ${first}..${end}`, [
            ...touched[i]!,
          ]);
        });
      }),
      propertyOptions,
    );
  });
});
