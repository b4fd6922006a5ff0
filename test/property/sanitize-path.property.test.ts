import { isAbsolute, relative, resolve, sep } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { type Metainfo, MetainfoError, foldPath, parseMetainfo } from '../../src/protocol/metainfo.js';
import { type PathRules, sanitizeElement } from '../../src/protocol/sanitize-path.js';
import { propertyOptions } from '../support/fc.js';

// Hostile and ordinary path elements: dot names, separators, drive letters, device names, control and
// invisible characters, bytes that are not UTF-8, names far over 255 bytes.
const element: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.constantFrom('', '.', '..', '...', '/', '\\', '/etc', 'C:', 'C:\\x', 'CON', 'nul.txt', 'a', 'A', 'a.txt', 'A.TXT'),
  fc.constantFrom(' ', 'x. ', '\u202etxt.exe', '\u200b', 'caf\u00e9', 'cafe\u0301', '\0', 'a\nb', '_____padding_file_'),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.uint8Array({ maxLength: 6 }),
  fc.string({ unit: 'grapheme', minLength: 200, maxLength: 300 }),
  fc.constantFrom('.', '..').chain((d) => fc.string({ maxLength: 3 }).map((s) => `${s}${d}/${s}`)),
);
const files = fc.array(
  fc.record({
    path: fc.array(element, { minLength: 1, maxLength: 4 }),
    length: fc.nat({ max: 3 }),
    attr: fc.constantFrom(undefined, 'p', 'l', 'x'),
  }),
  { minLength: 1, maxLength: 8 },
);
const rules = fc.constantFrom<PathRules>('posix', 'windows');

function torrentBytes(name: string | Uint8Array, list: { path: unknown[]; length: number; attr?: string }[]) {
  const total = list.reduce((a, f) => a + f.length, 0);
  const entries = list.map((f) => ({ ...f, ...(f.attr === undefined && { attr: undefined }) }));
  return encodeBencode({
    info: {
      name,
      'piece length': 16384,
      files: entries,
      pieces: new Uint8Array(20 * Math.max(1, Math.ceil(total / 16384))),
    },
  });
}

/** Parses, or returns null for the refusals a sanitizer cannot avoid (no data, or a symlink with data only). */
function parse(bytes: Uint8Array, pathRules: PathRules): Metainfo | null {
  try {
    return parseMetainfo(bytes, { pathRules });
  } catch (err) {
    expect(err).toBeInstanceOf(MetainfoError);
    const code = (err as MetainfoError).code;
    expect(['BT_ERR_METAINFO_LENGTH', 'BT_ERR_METAINFO_PIECES']).toContain(code);
    return null;
  }
}

const stored = (m: Metainfo) => m.files.filter((f) => !f.padding && f.symlinkPath === undefined);

function expectLegal(e: string, r: PathRules) {
  expect(e).not.toBe('');
  expect(e).not.toBe('.');
  expect(e).not.toBe('..');
  expect(e).not.toMatch(/[/\\\0]/);
  expect(Buffer.byteLength(e)).toBeLessThanOrEqual(255);
  if (r === 'windows') {
    expect(e).not.toMatch(/[<>:"|?*]|[. ]$/);
    expect(e).not.toMatch(/^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/i);
  }
}

describe('sanitized layouts', () => {
  it('every file lands inside the download folder, with legal names, unique, and stable', () => {
    const root = resolve('/tmp/bt-actor-download-root');
    fc.assert(
      fc.property(element, files, rules, (name, list, r) => {
        const m = parse(torrentBytes(name, list), r);
        if (m === null) return;
        expectLegal(m.name, r);
        const seen = new Set<string>();
        for (const f of stored(m)) {
          for (const e of f.path) expectLegal(e, r);
          const full = resolve(root, m.name, ...f.path);
          const rel = relative(root, full);
          expect(rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)).toBe(false);
          expect(seen.has(foldPath(f.pathString))).toBe(false);
          seen.add(foldPath(f.pathString));
        }
        // No file is another file's folder.
        for (const f of stored(m))
          for (let k = 1; k < f.path.length; k++) expect(seen.has(foldPath(f.path.slice(0, k).join('/')))).toBe(false);
        // Every change is reported, and only changes.
        const changed = m.files.flatMap((f, i) => (f.originalPath === undefined ? [] : [`info.files[${i}].path`]));
        expect(m.pathChanges.map((c) => c.field).filter((x) => x !== 'info.name')).toEqual(changed);
        // Stable: the same bytes give the same layout, and the layout, written as a torrent, is kept as it is.
        expect(parse(torrentBytes(name, list), r)!.files).toEqual(m.files);
        const again = parse(
          torrentBytes(
            m.name,
            m.files.map((f, i) => ({ path: f.path, length: list[i]!.length, attr: list[i]!.attr })),
          ),
          r,
        )!;
        expect(again.files.map((f) => f.pathString)).toEqual(m.files.map((f) => f.pathString));
        expect(again.pathChanges.filter((c) => c.field !== 'info.name')).toEqual([]);
      }),
      { ...propertyOptions, numRuns: Math.min(propertyOptions.numRuns, 3000) },
    );
  });

  it('sanitizeElement is idempotent and only drops empty and . elements', () => {
    fc.assert(
      fc.property(element, rules, (e, r) => {
        const s = sanitizeElement(e, r);
        const text = typeof e === 'string' ? e : Buffer.from(e).toString();
        if (s.value === null) {
          expect(['', '.']).toContain(text);
          return;
        }
        expectLegal(s.value, r);
        expect(sanitizeElement(s.value, r)).toEqual({ value: s.value, fixes: [], placeholder: false });
        expect(s.fixes.length === 0).toBe(s.value === text);
      }),
      propertyOptions,
    );
  });
});
