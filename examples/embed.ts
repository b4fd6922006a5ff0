/**
 * Embedding bt-actor: two engines on 127.0.0.1 — one seeds a file, the other downloads it while an
 * RxJS subscription prints its progress — with an embedded tracker between them.
 *
 *   npm run build && node --experimental-strip-types examples/embed.ts   (node ≥ 22.6)
 *   npx vitest run test/app/example.test.ts                                (runs this file's main())
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTorrent, Engine, startLocalTracker } from 'bt-actor';

export async function main(log: (line: string) => void = console.log): Promise<boolean> {
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

    // Typed observables: progress, events, peer states.
    const sub = download.progress$.subscribe((p) =>
      log(`${download.name}: ${p.verifiedPieces}/${p.pieceCount} pieces, ${p.peersConnected} peers`),
    );
    download.events$.subscribe((e) => e.type === 'torrent.peer' && log(`peer ${e.key} ${e.event}`));

    await download.completed;
    sub.unsubscribe();
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
