// @ts-check
/**
 * Embedding bt-actor: two engines on 127.0.0.1 — one seeds a file, the other downloads it while an
 * RxJS subscription prints its progress — with an embedded tracker between them.
 *
 * Plain JavaScript, so it runs on every Node.js the package supports (≥ 20) with nothing to compile;
 * its JSDoc types are checked by TypeScript against the package's .d.ts (test/app/docs-types.test.ts).
 *
 *   npm run build && node examples/embed.mjs
 *   npx vitest run test/app/example.test.ts      (runs this file's main())
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { throttleTime } from 'rxjs';
import { createTorrent, Engine, startLocalTracker } from 'bt-actor';

/**
 * @param {(line: string) => void} [log] where the lines go (the console by default)
 * @returns {Promise<boolean>} whether the downloaded file is byte-identical to the source
 */
export async function main(log = console.log) {
  const work = await mkdtemp(join(tmpdir(), 'bt-actor-example-'));
  const tracker = await startLocalTracker();
  const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
  const leecher = await Engine.create({ port: 0, host: '127.0.0.1' });
  try {
    // Some data and its torrent.
    const data = randomBytes(8 * 1024 * 1024);
    await writeFile(join(work, 'example.bin'), data);
    const { torrent } = await createTorrent(join(work, 'example.bin'), { announce: [[tracker.url]] });

    // The seeder finds its data already in `work` (checked by hash), the leecher starts empty.
    await seeder.add(torrent, { dir: work });
    const download = await leecher.add(torrent, { dir: join(work, 'download') });

    // Typed observables: progress (at most a line a second), events.
    /** @param {import('bt-actor').TorrentProgress} p */
    const show = (p) => log(`${download.name}: ${p.verifiedPieces}/${p.pieceCount} pieces, ${p.peersConnected} peers`);
    const sub = download.progress$.pipe(throttleTime(1000)).subscribe(show);
    download.events$.subscribe((e) => e.type === 'torrent.peer' && log(`peer ${e.key} ${e.event}`));

    await download.completed;
    sub.unsubscribe();
    show(download.progress); // the last one
    const same =
      createHash('sha256')
        .update(await readFile(join(work, 'download', 'example.bin')))
        .digest('hex') === createHash('sha256').update(data).digest('hex');
    log(same ? 'downloaded and verified: byte-identical' : 'MISMATCH');
    return same;
  } finally {
    await leecher.close();
    await seeder.close();
    await tracker.close();
    await rm(work, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then((ok) => process.exit(ok ? 0 : 1));
}
