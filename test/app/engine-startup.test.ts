// Start-up order (docs/performance.md, Profiles, start-up): a torrent with nothing on disk is announced
// to while its folder is still being opened, and says `left` = everything; a torrent with data on disk
// is announced to only after its check, with what the check left. The trackers are a recording seam.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import type { TrackerSeam } from '../../src/app/runtime.js';
import { partsPath } from '../../src/io/resume.js';
import { nothingOnDisk } from '../../src/io/storage.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { pieceHashList } from '../support/data.js';

const PIECE = 16384;
let work: string;
const engines: Engine[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-startup-'));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

/** A multi-file torrent `name`: an empty file (created when the storage opens) and 3.5 pieces of data. */
function torrent(name: string) {
  const data = randomBytes(3 * PIECE + PIECE / 2);
  const pieces = pieceHashList(data, PIECE);
  const bytes = encodeTorrent({
    name,
    multiFile: true,
    files: [
      { path: ['empty'], length: 0 },
      { path: ['data.bin'], length: data.length },
    ],
    pieceLength: PIECE,
    pieces: Buffer.concat(pieces),
    announce: [['http://tracker.invalid/announce']],
  });
  return { bytes, meta: parseMetainfo(bytes), data };
}

interface Seen {
  event: string | undefined;
  left: number;
  /** Whether the storage had opened the folder (it creates the empty file then). */
  opened: boolean;
  /** The torrent's reports so far. */
  before: string[];
}

/** An engine whose trackers are a seam recording each announce (never a socket). */
async function engineRecording(dir: string, name: string, reports: string[]) {
  const seen: Seen[] = [];
  const tracker: TrackerSeam = {
    announce(req) {
      seen.push({
        event: req.event,
        left: req.stats.left,
        opened: existsSync(join(dir, name, 'empty')),
        before: [...reports],
      });
      return Promise.resolve({ interval: 1800, peers: [] });
    },
  };
  const e = await Engine.create({ port: 0, host: '127.0.0.1', runtime: { tracker } });
  engines.push(e);
  return { e, seen };
}

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(pred()).toBe(true);
}

describe('the first announce', () => {
  it('of a new download goes out before the storage has opened its folder, with left = the whole size', async () => {
    const dir = join(work, 'new');
    const { bytes, meta } = torrent('fresh');
    const reports: string[] = [];
    const { e, seen } = await engineRecording(dir, 'fresh', reports);
    const t = await e.add(bytes, { dir, paused: true });
    t.events$.subscribe((ev) => reports.push(ev.type));
    t.resume();
    await until(() => seen.length > 0);
    expect(seen[0]).toMatchObject({ event: 'started', left: meta.length, opened: false });
    expect(seen[0]!.before).toContain('torrent.ready');
    // The folder is opened all the same (the empty file is created then).
    await until(() => existsSync(join(dir, 'fresh', 'empty')));
    await t.pause();
  });

  it('of a download with data on disk waits for the check and says what is left', async () => {
    const dir = join(work, 'resumed');
    const { bytes, meta, data } = torrent('partial');
    await mkdir(join(dir, 'partial'), { recursive: true });
    // Pieces 0 and 1 on disk; the rest of the file zeros.
    const onDisk = Buffer.alloc(data.length);
    data.copy(onDisk, 0, 0, 2 * PIECE);
    await writeFile(join(dir, 'partial', 'data.bin'), onDisk);
    const reports: string[] = [];
    const { e, seen } = await engineRecording(dir, 'partial', reports);
    const t = await e.add(bytes, { dir, paused: true });
    t.events$.subscribe((ev) => reports.push(ev.type));
    t.resume();
    await until(() => seen.length > 0);
    expect(seen[0]).toMatchObject({ event: 'started', left: meta.length - 2 * PIECE, opened: true });
    expect(seen[0]!.before).toContain('torrent.ready');
    expect(t.progress.verifiedPieces).toBe(2);
    await t.pause();
  });
});

describe('nothingOnDisk', () => {
  it('is true only when neither the top entry nor the part file exists', async () => {
    const dir = join(work, 'probe');
    await mkdir(dir, { recursive: true });
    const { meta } = torrent('probe-t');
    const parts = partsPath(dir, meta.infoHashHex);
    expect(await nothingOnDisk(meta, dir, { partPath: parts })).toBe(true);
    expect(await nothingOnDisk(meta, join(dir, 'no', 'such', 'folder'))).toBe(true);
    await mkdir(join(dir, '.bt-actor'), { recursive: true });
    await writeFile(parts, '');
    expect(await nothingOnDisk(meta, dir, { partPath: parts })).toBe(false);
    expect(await nothingOnDisk(meta, dir)).toBe(true);
    await mkdir(join(dir, 'probe-t'));
    expect(await nothingOnDisk(meta, dir)).toBe(false);
  });

  it('is false for a name the storage refuses (the open reports it)', async () => {
    const { meta } = torrent('x');
    expect(await nothingOnDisk({ ...meta, name: '..' }, work)).toBe(false);
  });
});
