/**
 * BEP 6 between two engines over real TCP on 127.0.0.1: a seeder whose choker unchokes nobody
 * (`choker.slots: 0`) still lets a fast leecher download the pieces of its allowed-fast set — here every
 * piece, the torrent having fewer pieces than the set size — while choking it the whole time. A
 * recording proxy between them shows what crossed the wire: the seeder's `allowed-fast` messages, no
 * `unchoke`, the leecher's requests, and the file arrives byte-identical. With no allowed-fast set the
 * same choked leecher gets nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { MessageId } from '../../src/protocol/wire.js';
import { closeRecordingProxies, messageIds, recordingProxy } from '../support/recording-proxy.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const PIECE = 64 * 1024;

let work: string;
let data: Buffer;
let torrent: Uint8Array;
const engines: Engine[] = [];

async function engine() {
  const e = await Engine.create({ port: 0, host: '127.0.0.1', encryption: 'plaintext' });
  engines.push(e);
  return e;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-fast-'));
  data = randomBytes(5 * PIECE + 777); // 6 pieces: fewer than the allowed-fast set size (10)
  await writeFile(join(work, 'data.bin'), data);
  ({ torrent } = await createTorrent(join(work, 'data.bin'), { pieceLength: PIECE }));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await closeRecordingProxies();
  await rm(work, { recursive: true, force: true });
});

describe('BEP 6 between engines', () => {
  it('a seeder that unchokes nobody serves its allowed-fast pieces: the choked leecher completes byte-identical', async () => {
    const seed = await engine();
    // Checked before the leecher dials (a torrent still checking its data refuses connections).
    await (
      await seed.add(torrent, { dir: work, settings: { choker: { slots: 0 }, peer: { allowedFastSetSize: 10 } } })
    ).completed;
    const proxy = await recordingProxy(seed.port);
    const leech = await engine();
    const t = await leech.add(torrent, { dir: join(work, 'af'), peers: [{ host: '127.0.0.1', port: proxy.port }] });
    await t.completed;
    expect(sha(await readFile(join(work, 'af', 'data.bin')))).toBe(sha(data));
    const fromSeeder = messageIds(proxy.down());
    const fromLeecher = messageIds(proxy.up());
    expect({
      allowedFast: fromSeeder.filter((id) => id === MessageId.allowedFast).length,
      unchoke: fromSeeder.includes(MessageId.unchoke),
      haveAll: fromSeeder.includes(MessageId.haveAll),
      pieces: fromSeeder.filter((id) => id === MessageId.piece).length,
      requests: fromLeecher.filter((id) => id === MessageId.request).length,
    }).toEqual({ allowedFast: 6, unchoke: false, haveAll: true, pieces: 5 * 4 + 1, requests: 5 * 4 + 1 });
    proxy.close();
  }, 30_000);

  it('with no allowed-fast set (allowedFastSetSize 0) the same choked leecher gets nothing', async () => {
    const seed = await engine();
    await (
      await seed.add(torrent, { dir: work, settings: { choker: { slots: 0 }, peer: { allowedFastSetSize: 0 } } })
    ).completed;
    const leech = await engine();
    const t = await leech.add(torrent, { dir: join(work, 'none'), peers: [{ host: '127.0.0.1', port: seed.port }] });
    await new Promise((r) => setTimeout(r, 3000));
    expect(t.progress.verifiedPieces).toBe(0);
    expect(t.progress.peersConnected).toBeGreaterThan(0);
  }, 30_000);
});
