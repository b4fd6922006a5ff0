/**
 * The selection file (`<dir>/.bt-actor/<info hash>.selection.json`) is input too: anyone who can write
 * the download folder can write it. Any JSON value gives back either a list of known priorities of this
 * torrent or undefined — never an exception, never another value; a saved selection reads back as it was.
 */
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadSelection,
  parseSelection,
  saveSelection,
  SELECTION_PRIORITIES,
  selectionPath,
} from '../../src/io/resume.js';
import { propertyOptions } from '../support/fc.js';

const HASH = 'ab'.repeat(20);
const priority = fc.constantFrom(...SELECTION_PRIORITIES);
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-selection-prop-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('the selection file', () => {
  it('any JSON value: a list of known priorities of this torrent, or undefined', () => {
    const shaped = fc.record({
      version: fc.oneof(fc.constant(1), fc.jsonValue()),
      infoHash: fc.oneof(fc.constant(HASH), fc.string()),
      files: fc.oneof(fc.array(priority), fc.array(fc.oneof(priority, fc.jsonValue()))),
    });
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), shaped), (value) => {
        const got = parseSelection(value, HASH);
        if (got === undefined) return;
        const v = value as { version: unknown; infoHash: unknown; files: unknown[] };
        expect(v.version).toBe(1);
        expect(v.infoHash).toBe(HASH);
        expect(got).toEqual(v.files);
        for (const p of got) expect(SELECTION_PRIORITIES).toContain(p);
      }),
      propertyOptions,
    );
  });

  it('a saved selection reads back as it was; another torrent’s or a damaged file reads as undefined', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(priority, { maxLength: 50 }), async (files) => {
        const path = selectionPath(dir, HASH);
        await saveSelection(path, HASH, files);
        expect(await loadSelection(path, HASH)).toEqual(files);
        expect(await loadSelection(path, 'cd'.repeat(20))).toBeUndefined();
      }),
      { numRuns: 200 },
    );
    const path = selectionPath(dir, HASH);
    await writeFile(path, '{"version":1,"infoHash":"' + HASH + '","files":["skip"');
    expect(await loadSelection(path, HASH)).toBeUndefined();
    expect(await loadSelection(join(dir, 'absent.json'), HASH)).toBeUndefined();
  });
});
