import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isReservedName, loadResume, resumePath, saveResume } from '../../src/io/resume.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { resumeFiles, resumeMeta } from '../support/resume-fixture.js';

const meta = resumeMeta;
const files = resumeFiles;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-resume-unit-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('resume file', () => {
  it('round-trips the verified pieces when the files still match, written atomically', async () => {
    const have = new Bitfield(3);
    have.set(0);
    have.set(2);
    const path = resumePath(dir, meta);
    await saveResume(path, meta, have, files);
    expect((await readdir(join(dir, '.bt-actor'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const back = await loadResume(path, meta, files);
    expect(back && [...back.setBits()]).toEqual([0, 2]);
  });

  it('is not trusted when a file changed size or mtime, or vanished', async () => {
    const path = resumePath(dir, meta);
    await saveResume(path, meta, Bitfield.full(3), files);
    expect(await loadResume(path, meta, [files[0]!, { ...files[1]!, mtimeMs: 2001 }])).toBeNull();
    expect(await loadResume(path, meta, [{ ...files[0]!, size: 39999 }, files[1]!])).toBeNull();
    expect(await loadResume(path, meta, [files[0]!, { ...files[1]!, exists: false, size: 0, mtimeMs: 0 }])).toBeNull();
  });

  it('is not trusted when it is missing, corrupt or for another torrent', async () => {
    expect(await loadResume(join(dir, 'nope.json'), meta, files)).toBeNull();
    const path = join(dir, 'corrupt.json');
    await writeFile(path, '{"version":1,');
    expect(await loadResume(path, meta, files)).toBeNull();
    const other = join(dir, 'other.json');
    await writeFile(
      other,
      JSON.stringify({ version: 1, infoHash: '00'.repeat(20), pieceCount: 3, have: 'AA==', files }),
    );
    expect(await loadResume(other, meta, files)).toBeNull();
  });

  it('a forged file claiming pieces whose files are missing is not trusted (missing matches 0/0)', async () => {
    const gone = files.map((f) => ({ ...f, exists: false, size: 0, mtimeMs: 0 }));
    const forged = join(dir, 'forged.json');
    await writeFile(
      forged,
      JSON.stringify({ version: 1, infoHash: meta.infoHashHex, pieceCount: 3, have: '4A==', files: gone }),
    );
    expect(await loadResume(forged, meta, gone)).toBeNull();
    // Claiming nothing with nothing on disk is the truth, and is trusted.
    await writeFile(
      forged,
      JSON.stringify({ version: 1, infoHash: meta.infoHashHex, pieceCount: 3, have: 'AA==', files: gone }),
    );
    expect([...(await loadResume(forged, meta, gone))!.setBits()]).toEqual([]);
    // A file too short for a claimed piece: not trusted either (piece 1 ends at byte 32768 of 'a').
    const short = [{ ...files[0]!, size: 20000 }, files[1]!];
    const path = join(dir, 'short.json');
    const have = new Bitfield(3);
    have.set(1);
    await saveResume(path, meta, have, short);
    expect(await loadResume(path, meta, short)).toBeNull();
    have.clear(1);
    have.set(0);
    await saveResume(path, meta, have, short);
    expect([...(await loadResume(path, meta, short))!.setBits()]).toEqual([0]);
  });

  it('a malformed entry means a recheck (null), never an exception', async () => {
    const path = join(dir, 'malformed.json');
    const base = { version: 1, infoHash: meta.infoHashHex, pieceCount: 3, have: '4A==', files };
    for (const bad of [
      { ...base, files: [null, files[1]] },
      { ...base, files: [{ ...files[0], size: '40000' }, files[1]] },
      { ...base, files: [{ ...files[0], mtimeMs: -1 }, files[1]] },
      { ...base, files: 'a,b' },
      { ...base, have: 42 },
      { ...base, have: '!!notbase64' },
      { ...base, pieceCount: 3.5 },
      { ...base, infoHash: 'XYZ' },
      [],
      null,
      'text',
    ]) {
      await writeFile(path, JSON.stringify(bad));
      await expect(loadResume(path, meta, files), JSON.stringify(bad)).resolves.toBeNull();
    }
  });

  it("the name '.bt-actor' is reserved (in any case): no torrent can lay files over resume data", () => {
    expect(isReservedName('.bt-actor')).toBe(true);
    expect(isReservedName('.BT-Actor')).toBe(true);
    expect(isReservedName('bt-actor')).toBe(false);
  });
});
