/**
 * BEP 6 (Fast extension) against libtorrent on 127.0.0.1, both ways, with a recording proxy between
 * the two that shows what crossed the wire (plaintext):
 * - a libtorrent seeder with `unchoke_slots_limit` 0 that allows every piece fast: a bt-actor engine takes
 *   its `allowed-fast` messages and downloads byte-identical (libtorrent 2.0.8 unchokes us anyway);
 * - a bt-actor seeder that unchokes nobody (`choker.slots` 0): a libtorrent leecher completes through
 *   our allowed-fast set, and our side of the wire holds `allowed-fast` messages and no `unchoke`.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { MessageId } from '../../src/protocol/wire.js';
import { writeRandom } from '../support/data.js';
import { libtorrentLeecher } from '../support/leechers.js';
import { freePort, stopAll } from '../support/proc.js';
import { closeRecordingProxies, messageIds, recordingProxy } from '../support/recording-proxy.js';
import { libtorrentSeeder, type Seeder } from '../support/seeders.js';

const PIECE = 64 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let work: string;
let file: string;
let torrent: Uint8Array;
const seeders: Seeder[] = [];
const engines: Engine[] = [];

const count = (ids: number[], id: number) => ids.filter((x) => x === id).length;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-fast-interop-'));
  await writeRandom(join(work, 'src', 'fast.bin'), 5 * PIECE + 999); // 6 pieces
  ({ torrent } = await createTorrent(join(work, 'src', 'fast.bin'), { pieceLength: PIECE, creationDate: null }));
  file = join(work, 'fast.torrent');
  await writeFile(file, torrent);
});
afterEach(async () => {
  await Promise.all(seeders.splice(0).map((s) => s.stop()));
  await Promise.all(engines.splice(0).map((e) => e.close()));
});
afterAll(async () => {
  await closeRecordingProxies();
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('BEP 6 with libtorrent', () => {
  it('libtorrent seeder allowing every piece fast (unchoke_slots_limit 0): bt-actor downloads byte-identical', async () => {
    const port = await freePort();
    seeders.push(
      await libtorrentSeeder(file, join(work, 'src'), port, { workDir: work, unchokeSlots: 0, allowedFast: 10 }),
    );
    const proxy = await recordingProxy(port);
    const leech = await Engine.create({ port: 0, host: '127.0.0.1', encryption: 'plaintext' });
    engines.push(leech);
    const t = await leech.add(torrent, { dir: join(work, 'out-lt'), peers: [{ host: '127.0.0.1', port: proxy.port }] });
    await Promise.race([t.completed, new Promise((_, no) => setTimeout(() => no(new Error('no download')), 60_000))]);
    const got = await readFile(join(work, 'out-lt', 'fast.bin'));
    expect(sha(got)).toBe(sha(await readFile(join(work, 'src', 'fast.bin'))));
    const fromSeeder = messageIds(proxy.down());
    // libtorrent 2.0.8 unchokes us even with unchoke_slots_limit 0, so this shows its allowed-fast
    // messages taken (every piece) with the download intact, not requests while choked (the other test,
    // and test/app/fast-extension.test.ts between engines, show those).
    expect({
      haveAll: fromSeeder.includes(MessageId.haveAll),
      allowedFast: count(fromSeeder, MessageId.allowedFast),
      pieces: count(fromSeeder, MessageId.piece),
    }).toEqual({ haveAll: true, allowedFast: 6, pieces: 5 * 4 + 1 });
    proxy.close();
  }, 90_000);

  it('bt-actor seeder unchoking nobody: a libtorrent leecher completes through our allowed-fast set', async () => {
    const seed = await Engine.create({ port: 0, host: '127.0.0.1', encryption: 'plaintext' });
    engines.push(seed);
    await seed.add(torrent, {
      dir: join(work, 'src'),
      settings: { choker: { slots: 0 }, peer: { allowedFastSetSize: 10 } },
    });
    const proxy = await recordingProxy(seed.port);
    const out = join(work, 'out-bt');
    await libtorrentLeecher(file, out, await freePort(), { peers: [proxy.port], timeoutMs: 60_000 });
    expect(sha(await readFile(join(out, 'fast.bin')))).toBe(sha(await readFile(join(work, 'src', 'fast.bin'))));
    const fromUs = messageIds(proxy.down());
    expect({
      allowedFast: count(fromUs, MessageId.allowedFast),
      unchoke: fromUs.includes(MessageId.unchoke),
      pieces: count(fromUs, MessageId.piece) >= 5 * 4 + 1,
    }).toEqual({ allowedFast: 6, unchoke: false, pieces: true });
    proxy.close();
  }, 90_000);
});
