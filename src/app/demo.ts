/**
 * `bt-actor demo`: a self-contained swarm on 127.0.0.1 that needs no files and no network. It makes
 * a sample dataset and its torrent, starts an embedded tracker and a few bt-actor seeders (an
 * {@link Engine} each, on its own port of 127.0.0.1), downloads the torrent through the `run` path
 * (an engine and the normal display), verifies every file and prints a summary.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createTorrent } from '../io/create-torrent.js';
import { startLocalTracker } from '../io/local-tracker.js';
import { parseMetainfo } from '../protocol/metainfo.js';
import { Engine, type TorrentHandle } from './engine.js';
import { formatBytes } from './format.js';
import { runDownload } from './run.js';

export interface DemoOptions {
  /** Dataset size in MiB. */
  sizeMiB: number;
  seeders: number;
  keep: boolean;
  json: boolean;
  out: (line: string) => void;
  err: (line: string) => void;
  tty?: (text: string) => void;
  signal?: AbortSignal;
}

async function writeRandomFile(path: string, size: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  try {
    for (let done = 0; done < size;) {
      const n = Math.min(4 << 20, size - done);
      await fh.write(randomBytes(n));
      done += n;
    }
  } finally {
    await fh.close();
  }
}

/** The sample dataset: nested folders, non-ASCII names, an empty file, files of many sizes. */
async function makeDataset(root: string, total: number): Promise<void> {
  const big = Math.max(1 << 20, total - 6 * (256 << 10) - 40_000);
  await writeRandomFile(join(root, 'video', 'big-buck-bytes.bin'), big);
  for (let i = 1; i <= 6; i++)
    await writeRandomFile(join(root, 'photos', `IMG_${String(i).padStart(4, '0')}.raw`), 256 << 10);
  await writeRandomFile(join(root, 'docs', 'ünïcødé — 日本語.txt'), 30_000);
  await writeRandomFile(join(root, 'docs', 'README.txt'), 10_000);
  await writeRandomFile(join(root, 'empty.txt'), 0);
}

/** SHA-256 of a file, read in chunks (a demo of many GiB must not hold a file in memory). */
async function sha(p: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const work = await mkdtemp(join(tmpdir(), 'bt-actor-demo-'));
  const seeders: Engine[] = [];
  const tracker = await startLocalTracker();
  const say = (line: string, fields: Record<string, unknown> = {}) =>
    o.json
      ? o.out(JSON.stringify({ time: new Date().toISOString(), event: 'demo', message: line, ...fields }))
      : o.err(line);
  const name = 'bt-actor demo set';
  const seedDir = join(work, 'seed');
  const outDir = join(work, 'download');
  const torrentPath = join(work, `${name}.torrent`);
  try {
    say(`making a ${o.sizeMiB} MiB sample dataset in ${seedDir}`);
    await makeDataset(join(seedDir, name), o.sizeMiB * 1024 * 1024);
    const { torrent } = await createTorrent(join(seedDir, name), {
      announce: [[tracker.url]],
      comment: 'bt-actor demo',
      creationDate: null,
    });
    await writeFile(torrentPath, torrent);
    const meta = parseMetainfo(torrent);
    say(
      `torrent ${meta.infoHashHex}: ${meta.files.length} files, ${formatBytes(meta.length)}, ${meta.pieceCount} pieces; tracker ${tracker.url}`,
    );
    const seeds: TorrentHandle[] = [];
    for (let i = 0; i < o.seeders; i++) {
      const engine = await Engine.create({ port: 0, host: '127.0.0.1', dir: seedDir, dht: false });
      seeders.push(engine);
      seeds.push(await engine.add(meta));
    }
    try {
      await Promise.all(seeds.map((s) => s.completed));
    } catch (err) {
      o.err(`bt-actor demo: a seeder failed: ${(err as Error).message}`);
      return 1;
    }
    say(`${o.seeders} bt-actor seeders ready on ports ${seeders.map((e) => e.port).join(', ')}; downloading…`);
    const code = await runDownload({
      meta,
      out: outDir,
      peers: [],
      port: 0,
      bind: '127.0.0.1',
      dht: false, // a swarm on 127.0.0.1: no DHT, nothing leaves the machine
      maxPeers: 50,
      json: o.json,
      quiet: false,
      seed: false,
      out_: o.out,
      err: o.err,
      ...(o.tty && { tty: o.tty }),
      ...(o.signal && { signal: o.signal }),
    });
    if (code !== 0) return code;
    let verified = 0;
    for (const f of meta.files.filter((x) => !x.padding)) {
      const a = join(seedDir, meta.name, ...f.path);
      const b = join(outDir, meta.name, ...f.path);
      if ((await sha(a)) !== (await sha(b))) {
        o.err(`bt-actor demo: ${f.pathString} differs from the source`);
        return 1;
      }
      verified++;
    }
    // A seeder's byte counts are final once it stopped (a live peer's come in its reports once a second).
    await Promise.all(seeders.map((e) => e.close()));
    const sent = seeds.map((s, i) => `seeder ${i + 1} sent ${formatBytes(s.progress.uploaded)}`);
    say(`verified: all ${verified} files are byte-identical to the source (SHA-256); ${sent.join(', ')}`);
    return 0;
  } finally {
    await Promise.all(seeders.map((e) => e.close()));
    await tracker.close();
    // Everything the demo made is under `work`: the torrent, the source (seed/), the download (download/).
    if (o.keep)
      say(`kept ${work}: the torrent ${torrentPath}, the source under ${seedDir}, the download under ${outDir}`, {
        kept: work,
        torrent: torrentPath,
      });
    else await rm(work, { recursive: true, force: true });
  }
}
