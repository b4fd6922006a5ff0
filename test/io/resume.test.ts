import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadResume, resumePath, saveResume } from '../../src/io/resume.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';

const meta = parseMetainfo(
  encodeTorrent({
    name: 'r',
    multiFile: true,
    files: [
      { path: ['a'], length: 40000 },
      { path: ['b'], length: 10 },
    ],
    pieceLength: 16384,
    pieces: new Uint8Array(60),
  }),
);
const files = [
  { fileIndex: 0, path: 'a', exists: true, size: 40000, mtimeMs: 1000.5 },
  { fileIndex: 1, path: 'b', exists: true, size: 10, mtimeMs: 2000 },
];
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
});
