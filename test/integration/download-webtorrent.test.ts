/**
 * bt-actor downloads from a real WebTorrent 3 seeder, finding it through a real bittorrent-tracker
 * server (HTTP), all on 127.0.0.1: a single-file and a multi-file torrent through the engine API,
 * once through the CLI, and a download that resumes from data already half in the folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Server as BtTrackerServer } from 'bittorrent-tracker';
import { createTorrentActor, type TorrentActor } from '../../src/app/torrent-actor.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import type { TorrentProgress } from '../../src/machines/torrent/torrent.machine.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { freePort, startProcess, stopAll } from '../support/proc.js';
import { startWebTorrentSeeder, type WebTorrentSeeder } from '../support/webtorrent-seeder.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const DOWNLOAD_TIMEOUT_MS = 10_000;
/** Per test: the download bound plus a bounded stop. */
const TEST_TIMEOUT_MS = 20_000;

const KiB = 1024;
const MiB = 1024 * KiB;
const SINGLE_NAME = 'single.bin';
const SINGLE_LENGTH = 4 * MiB + 12_345; // a short last piece
const MULTI_NAME = 'Ünïcødé multi – 多文件';

/** The multi-file payload: nested folders, non-ASCII names, zero-length files, pieces across files. */
const MULTI_FILES: [string, number][] = [
  ['a.txt', 100 * KiB + 17],
  ['empty.dat', 0],
  ['docs/readme.md', 3 * KiB],
  ['docs/日本語/ファイル.txt', 10 * KiB + 1],
  ['docs/Ωmega ünïcode/naïve café.bin', 45 * KiB],
  ['nested/deeper/deepest/big.bin', 700 * KiB + 3],
  ['only-empty/inside/zero', 0],
  ...Array.from({ length: 14 }, (_, i): [string, number] => [
    `small/f${String(i).padStart(2, '0')}.dat`,
    1 + ((i * 7919) % 40) * KiB + i,
  ]),
];
const MULTI_PIECE = 64 * KiB;

let root: string;
let tracker: InstanceType<typeof BtTrackerServer>;
let announceUrl: string;
let seeder: WebTorrentSeeder;
const single = { torrentPath: '', meta: undefined as unknown as Metainfo, source: '' };
const multi = { torrentPath: '', meta: undefined as unknown as Metainfo, source: '' };

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bt-actor-wt-'));
  tracker = new BtTrackerServer({ http: true, udp: false, ws: false, stats: false, interval: 60_000 });
  tracker.on('error', () => {});
  tracker.on('warning', () => {});
  await new Promise<void>((resolve) => tracker.listen(0, { http: '127.0.0.1' }, () => resolve()));
  announceUrl = `http://127.0.0.1:${(tracker.http!.address() as { port: number }).port}/announce`;

  // The seeder's data folder holds every file of both torrents at <seed>/<name>.
  const seedDir = join(root, 'seed');
  await mkdir(seedDir);
  single.source = join(seedDir, SINGLE_NAME);
  await writeFile(single.source, randomBytes(SINGLE_LENGTH));
  multi.source = join(seedDir, MULTI_NAME);
  for (const [path, length] of MULTI_FILES) {
    const abs = join(multi.source, ...path.split('/'));
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, randomBytes(length));
  }

  for (const [t, pieceLength] of [
    [single, 256 * KiB],
    [multi, MULTI_PIECE],
  ] as const) {
    const { torrent } = await createTorrent(t.source, { announce: [[announceUrl]], pieceLength });
    t.meta = parseMetainfo(torrent);
    t.torrentPath = join(root, `${t.meta.infoHashHex}.torrent`);
    await writeFile(t.torrentPath, torrent);
  }
  expect(multi.meta.files).toHaveLength(MULTI_FILES.length);

  // One WebTorrent client seeds both torrents from the same folder.
  seeder = await startWebTorrentSeeder({
    torrents: [
      { torrent: await readFile(single.torrentPath), dataDir: seedDir },
      { torrent: await readFile(multi.torrentPath), dataDir: seedDir },
    ],
  });
}, 30_000);

afterAll(async () => {
  await stopAll();
  await seeder?.stop();
  if (tracker) await new Promise<void>((resolve) => tracker.close(() => resolve()));
  if (root) await rm(root, { recursive: true, force: true });
});

// ---- the engine API ----

const running = new Set<TorrentActor>();

afterEach(async () => {
  // Whatever a failed test left running is stopped (bounded), then torn down.
  await Promise.all(
    [...running].map(async (actor) => {
      running.delete(actor);
      if (actor.getSnapshot().status === 'active') {
        actor.send({ type: 'torrent.stop' });
        await Promise.race([
          new Promise<void>((r) => actor.subscribe({ complete: r, error: () => r() })),
          new Promise((r) => setTimeout(r, 6_000)),
        ]);
      }
      actor.stop();
    }),
  );
});

interface Downloaded {
  ms: number;
  progress: TorrentProgress;
  ready: { have: number; total: number } | undefined;
  events: string[];
  peersConnected: string[];
}

/** Downloads `meta` into `dir` with the torrent actor (trackers only), stopping it once complete. */
async function download(meta: Metainfo, dir: string): Promise<Downloaded> {
  const actor = createTorrentActor({ meta, dir, port: await freePort() });
  running.add(actor);
  const events: string[] = [];
  const peersConnected: string[] = [];
  let ready: Downloaded['ready'];
  actor.on('*', (e) => {
    if (e.type === 'torrent.piece') return;
    if (e.type === 'torrent.ready') ready = { have: e.have, total: e.total };
    if (e.type === 'torrent.peer' && e.event === 'connected') peersConnected.push(e.key);
    events.push(
      JSON.stringify(e, (_k, v: unknown) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)).slice(0, 400),
    );
  });
  const started = Date.now();
  const finished = new Promise<void>((resolve, reject) => {
    let stopping = false;
    actor.subscribe({
      next: (snap) => {
        if (!stopping && snap.matches({ active: 'complete' })) {
          stopping = true;
          actor.send({ type: 'torrent.stop' });
        }
      },
      complete: () => resolve(),
      error: (err) => reject(err instanceof Error ? err : new Error(String(err))),
    });
  });
  actor.start();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const snap = actor.getSnapshot();
      reject(
        new Error(
          `download of ${meta.name} did not finish in ${DOWNLOAD_TIMEOUT_MS} ms; state ${JSON.stringify(snap.value)}, ` +
            `progress ${JSON.stringify(snap.context.progress)}, seeder warnings ${JSON.stringify(seeder.warnings)}\nevents:\n${events.slice(-40).join('\n')}`,
        ),
      );
    }, DOWNLOAD_TIMEOUT_MS);
  });
  try {
    await Promise.race([finished, timeout]);
  } finally {
    clearTimeout(timer);
  }
  const snap = actor.getSnapshot();
  running.delete(actor);
  expect(snap.value, `events:\n${events.join('\n')}`).toBe('stopped');
  expect(snap.context.error).toBeUndefined();
  return { ms: Date.now() - started, progress: snap.context.progress, ready, events, peersConnected };
}

/** Every file of `meta` under `dir` is byte-identical to the source, and nothing else is there. */
async function expectSameFiles(meta: Metainfo, sourceRoot: string, dir: string) {
  const target = join(dir, meta.name);
  if (!meta.multiFile) {
    const [got, want] = await Promise.all([readFile(target), readFile(sourceRoot)]);
    expect(got.length, meta.name).toBe(want.length);
    expect(sha(got), meta.name).toBe(sha(want));
    return;
  }
  for (const f of meta.files) {
    const [got, want] = await Promise.all([
      readFile(join(target, ...f.path)).catch(() => null),
      readFile(join(sourceRoot, ...f.path)),
    ]);
    expect(got, `${f.pathString} was not created`).not.toBeNull();
    expect(got!.length, f.pathString).toBe(want.length);
    expect(sha(got!), f.pathString).toBe(sha(want));
  }
  const onDisk = (await readdir(target, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => relative(target, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
  expect(onDisk).toEqual(meta.files.map((f) => f.pathString).sort());
}

const freshDir = (label: string) => mkdtemp(join(root, `${label}-`));

describe('bt-actor downloads from a WebTorrent seeder found through bittorrent-tracker', () => {
  it(
    'a single-file torrent (4 MiB, 256 KiB pieces) lands byte-identical',
    async () => {
      const dir = await freshDir('single');
      const r = await download(single.meta, dir);
      expect(r.ready).toEqual({ have: 0, total: single.meta.pieceCount });
      expect(r.progress).toMatchObject({
        left: 0,
        verifiedPieces: single.meta.pieceCount,
        pieceCount: single.meta.pieceCount,
        hashFailures: 0,
      });
      expect(r.peersConnected).toContain(`127.0.0.1:${seeder.port}`);
      await expectSameFiles(single.meta, single.source, dir);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a multi-file torrent (nested, non-ASCII, zero-length files, pieces across files) lands file by file',
    async () => {
      // The layout really has pieces spanning several files and zero-length files.
      const ends = multi.meta.files.map((f) => f.offset + f.length);
      const spanning = Array.from(
        { length: multi.meta.pieceCount },
        (_, i) =>
          multi.meta.files.filter(
            (f) => f.length > 0 && f.offset < (i + 1) * MULTI_PIECE && f.offset + f.length > i * MULTI_PIECE,
          ).length,
      );
      expect(Math.max(...spanning)).toBeGreaterThanOrEqual(3);
      expect(multi.meta.files.filter((f) => f.length === 0)).toHaveLength(2);
      expect(ends.at(-1)).toBe(multi.meta.length);

      const dir = await freshDir('multi');
      const r = await download(multi.meta, dir);
      expect(r.progress).toMatchObject({ left: 0, verifiedPieces: multi.meta.pieceCount, hashFailures: 0 });
      expect(r.peersConnected).toContain(`127.0.0.1:${seeder.port}`);
      await expectSameFiles(multi.meta, multi.source, dir);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'resumes from the first half of the file already in the folder and fetches only the rest',
    async () => {
      const dir = await freshDir('partial');
      const half = Math.floor(SINGLE_LENGTH / 2);
      const src = await open(single.source, 'r');
      const dst = await open(join(dir, SINGLE_NAME), 'w');
      try {
        const buf = Buffer.alloc(half);
        await src.read(buf, 0, half, 0);
        await dst.write(buf, 0, half, 0);
      } finally {
        await src.close();
        await dst.close();
      }
      const { pieceLength, pieceCount, length } = single.meta;
      const present = Math.floor(half / pieceLength);
      const r = await download(single.meta, dir);
      expect(r.ready).toEqual({ have: present, total: pieceCount });
      expect(present).toBeGreaterThan(0);
      const missing = length - present * pieceLength;
      expect(r.progress.left).toBe(0);
      expect(r.progress.downloaded).toBeGreaterThanOrEqual(missing);
      expect(r.progress.downloaded, 'bytes downloaded beyond the missing pieces').toBeLessThan(missing + pieceLength);
      await expectSameFiles(single.meta, single.source, dir);
    },
    TEST_TIMEOUT_MS,
  );
});

describe('bt-actor run (the CLI) against the same swarm', () => {
  it(
    'downloads the multi-file torrent: exit 0, JSON lines ending in done/complete',
    async () => {
      const dir = await freshDir('cli');
      const port = await freePort();
      const proc = startProcess(process.execPath, [
        BIN,
        'run',
        multi.torrentPath,
        '--out',
        dir,
        '--json',
        '--port',
        String(port),
      ]);
      let stdout = '';
      proc.child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), DOWNLOAD_TIMEOUT_MS);
        proc.child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      await proc.stop();
      expect(code, `bt-actor run did not exit 0; output:\n${proc.output()}`).toBe(0);
      const lines = stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.find((l) => l.event === 'ready')).toMatchObject({ have: 0, total: multi.meta.pieceCount });
      expect(lines.some((l) => l.event === 'tracker' && l.url === announceUrl)).toBe(true);
      expect(lines.at(-1)).toMatchObject({ event: 'done', complete: true, length: multi.meta.length });
      await expectSameFiles(multi.meta, multi.source, dir);
    },
    TEST_TIMEOUT_MS,
  );
});
