/**
 * Out of file descriptors: a child process with `ulimit -n 48` writes a piece that spans 300 small files
 * (the pool may hold 500 handles, far above the limit). Opens fail with EMFILE; the storage closes its
 * idle handles and tries again, and every byte lands — the torrent is not failed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-emfile-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const script = (root: string) => `
import { createHash } from 'node:crypto';
import { Storage } from '${root}/dist/io/storage.js';
import { encodeTorrent } from '${root}/dist/protocol/metainfo-encode.js';
import { parseMetainfo } from '${root}/dist/protocol/metainfo.js';
const files = Array.from({ length: 300 }, (_, i) => ({ path: ['f' + i], length: 100 }));
const data = Buffer.alloc(30000, 7);
const pieceLength = 32768;
const pieces = createHash('sha1').update(data).digest();
const meta = parseMetainfo(encodeTorrent({ name: 'many', multiFile: true, files, pieceLength, pieces }));
const s = await Storage.open(meta, process.argv[2], { maxOpenFiles: 500 });
await s.writePiece(0, data);
await s.close();
console.log('written');
`;

describe('storage out of file descriptors', () => {
  it('EMFILE while opening: idle handles closed, the open retried, the write completes', async () => {
    const root = join(import.meta.dirname, '../..');
    await writeFile(join(dir, 'child.mjs'), script(root));
    const r = spawnSync('bash', ['-c', `ulimit -n 48 && exec "${process.execPath}" child.mjs out`], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('written');
    for (const i of [0, 150, 299])
      expect(await readFile(join(dir, 'out', 'many', `f${i}`))).toEqual(Buffer.alloc(100, 7));
  });
});
