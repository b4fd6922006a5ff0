/**
 * Durability: `Storage.sync()` fdatasyncs every file written since the last sync (and only those), and
 * the storage actor syncs before it writes a resume file that claims the pieces. FileHandle's
 * `datasync` and `sync` are counted through its prototype.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createActor, createMachine } from 'xstate';
import { resumePath } from '../../src/io/resume.js';
import { storageActor } from '../../src/io/storage-actor.js';
import { Storage } from '../../src/io/storage.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { pieceHashList } from '../support/data.js';

let dir: string;
let proto: FileHandle;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-sync-'));
  const fh = await open(join(dir, 'probe'), 'w');
  proto = Object.getPrototypeOf(fh) as FileHandle;
  await fh.close();
});
afterEach(() => vi.restoreAllMocks());
afterAll(() => rm(dir, { recursive: true, force: true }));

const PIECE = 16384;
function torrent(files: number) {
  const data = randomBytes(files * 1000);
  const pieces = pieceHashList(data, PIECE);
  const meta = parseMetainfo(
    encodeTorrent({
      name: `t${files}`,
      multiFile: true,
      files: Array.from({ length: files }, (_, i) => ({ path: [`f${i}`], length: 1000 })),
      pieceLength: PIECE,
      pieces: Buffer.concat(pieces),
    }),
  );
  return { meta, data };
}

describe('durability', () => {
  it('sync() fdatasyncs the files written since the last sync, and only those', async () => {
    const { meta, data } = torrent(20);
    const s = await Storage.open(meta, join(dir, 'a'));
    const synced: string[] = [];
    const datasync = proto.datasync;
    vi.spyOn(proto, 'datasync').mockImplementation(function (this: FileHandle) {
      synced.push(String(this.fd));
      return datasync.call(this);
    });
    await s.writePiece(0, data.subarray(0, PIECE)); // files 0 … 16
    await s.sync();
    expect(synced).toHaveLength(17);
    synced.length = 0;
    await s.sync();
    expect(synced).toHaveLength(0); // nothing new
    await s.writePiece(1, data.subarray(PIECE)); // files 16 … 19
    await s.sync();
    expect(synced).toHaveLength(4);
    await s.close();
  });

  it('the storage actor syncs the data before the resume file that claims it is written', async () => {
    const { meta, data } = torrent(4);
    const out = join(dir, 'b');
    const order: string[] = [];
    const datasync = proto.datasync;
    vi.spyOn(proto, 'datasync').mockImplementation(async function (this: FileHandle) {
      await datasync.call(this);
      order.push('datasync');
    });
    const events: { type: string }[] = [];
    const parent = createMachine({
      invoke: {
        id: 'storage',
        src: storageActor(meta, out, { resumePath: resumePath(out, meta), resumeSaveIntervalMs: 10 }),
      },
      on: { '*': { actions: ({ event }) => events.push(event) } },
    });
    const actor = createActor(parent).start();
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
      expect(pred()).toBe(true);
    };
    await until(() => events.some((e) => e.type === 'storage.ready'));
    actor.getSnapshot().children.storage!.send({ type: 'storage.write', index: 0, data: data.subarray(0, 4000) });
    await until(() => events.some((e) => e.type === 'storage.verified'));
    await until(() => {
      try {
        return (JSON.parse(readFileSync(resumePath(out, meta), 'utf8')) as { have?: string }).have !== undefined;
      } catch {
        return false;
      }
    });
    // Four data files, then the resume file's temporary copy: data first.
    expect(order.slice(0, 4)).toEqual(['datasync', 'datasync', 'datasync', 'datasync']);
    expect(order.length).toBeGreaterThanOrEqual(5);
    actor.stop();
  });
});
