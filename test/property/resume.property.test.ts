/**
 * The resume file is input too (anyone who can write the download folder can write it): any JSON, any
 * bytes, any mutation of a good file gives back a trusted bitfield only if it is the truth, else null —
 * never an exception.
 */
import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadResume, parseResumeData } from '../../src/io/resume.js';
import { resumeFiles, resumeMeta } from '../support/resume-fixture.js';
import { propertyOptions } from '../support/fc.js';

const meta = resumeMeta;
const files = resumeFiles;
const good = { version: 1, infoHash: meta.infoHashHex, pieceCount: 3, have: '4A==', files };
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-resume-prop-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('resume file properties', () => {
  it('parseResumeData: any JSON value gives resume data of the right shape or undefined, never a throw', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        const d = parseResumeData(v);
        if (d !== undefined) {
          expect(d.version).toBe(1);
          expect(Array.isArray(d.files)).toBe(true);
        }
      }),
      propertyOptions,
    );
  });

  it('a good file with one field replaced by any JSON value: trusted only if still well-formed, never a throw', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('version', 'infoHash', 'pieceCount', 'have', 'files'),
        fc.jsonValue(),
        (key, value) => {
          const d = parseResumeData({ ...good, [key]: value });
          if (d !== undefined) expect(typeof d.have).toBe('string');
        },
      ),
      propertyOptions,
    );
  });

  it('loadResume on arbitrary bytes resolves to null (a check by hash), never rejects', async () => {
    const path = join(dir, 'fuzz.json');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        await writeFile(path, bytes);
        await expect(loadResume(path, meta, files)).resolves.toBeNull();
      }),
      propertyOptions,
    );
  });
});
