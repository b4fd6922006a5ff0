// The library API's promises of docs/api.md: every error `add` throws carries a stable `code`, and
// `peers` takes `{ host, port }` — an IP address or a host name, the family derived.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, EngineError } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { isBtError } from '../../src/protocol/errors.js';

let work: string;
const engines: Engine[] = [];
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function engine() {
  const e = await Engine.create({ port: 0, host: '127.0.0.1' });
  engines.push(e);
  return e;
}

/** A torrent with no tracker: its only peers are the ones `add` is given. */
async function dataset(name: string, size: number) {
  const data = randomBytes(size);
  await writeFile(join(work, name), data);
  const { torrent } = await createTorrent(join(work, name), { pieceLength: 64 * 1024 });
  return { data, torrent };
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: unknown }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: unknown };
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-engine-api-'));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('Engine.add errors carry a stable code', () => {
  it('a duplicate is an EngineError BT_ERR_TORRENT_DUPLICATE, and the first handle stays', async () => {
    const { torrent } = await dataset('dup.bin', 128 * 1024);
    const e = await engine();
    const first = await e.add(torrent, { dir: work, paused: true });
    const err = await rejection(e.add(torrent, { dir: work }));
    expect(err).toBeInstanceOf(EngineError);
    expect(isBtError(err, 'BT_ERR_TORRENT_DUPLICATE')).toBe(true);
    expect(err.message).toContain(first.infoHash);
    expect(e.get(first.infoHash)).toBe(first);
  });

  it('a closed engine refuses with BT_ERR_ENGINE_CLOSED', async () => {
    const { torrent } = await dataset('closed.bin', 64 * 1024);
    const e = await engine();
    await e.close();
    const err = await rejection(e.add(torrent, { dir: work }));
    expect(isBtError(err, 'BT_ERR_ENGINE_CLOSED')).toBe(true);
    expect(e.torrents).toEqual([]);
  });

  it('an unreadable path keeps Node’s code; invalid bytes are a MetainfoError with its code', async () => {
    const e = await engine();
    expect((await rejection(e.add(join(work, 'missing.torrent')))).code).toBe('ENOENT');
    expect((await rejection(e.add(work))).code).toBe('EISDIR');
    const bad = await rejection(e.add(new TextEncoder().encode('not bencode')));
    expect(bad.name).toBe('MetainfoError');
    expect(String(bad.code)).toMatch(/^BT_ERR_METAINFO_/);
    expect(e.torrents).toEqual([]);
  });

  it('a peer with a port outside 1..65535 is BT_ERR_PEER_ADDRESS, and nothing is added', async () => {
    const { torrent } = await dataset('badpeer.bin', 64 * 1024);
    const e = await engine();
    const err = await rejection(e.add(torrent, { dir: work, peers: [{ host: '127.0.0.1', port: 70000 }] }));
    expect(isBtError(err, 'BT_ERR_PEER_ADDRESS')).toBe(true);
    expect(err.message).toContain('127.0.0.1:70000');
    expect(e.torrents).toEqual([]);
  });
});

describe('Engine.add peers', () => {
  it('takes { host, port } with a host name and no family, resolves it, and downloads from that peer', async () => {
    const { data, torrent } = await dataset('named.bin', 512 * 1024);
    const seeder = await engine();
    await (
      await seeder.add(torrent, { dir: work })
    ).completed; // checked: it has every piece
    const leecher = await engine();
    const t = await leecher.add(torrent, {
      dir: join(work, 'named-out'),
      peers: [{ host: 'localhost', port: seeder.port }],
      paused: true,
    });
    const connected: string[] = [];
    t.events$.subscribe((e) => e.type === 'torrent.peer' && e.event === 'connected' && connected.push(e.key));
    t.resume();
    await t.completed;
    // Dialled under its address (the name resolved), not as `localhost:PORT`.
    expect(connected).toContain(`127.0.0.1:${seeder.port}`);
    expect(connected.filter((k) => k.startsWith('localhost'))).toEqual([]);
    expect(sha(await readFile(join(work, 'named-out', 'named.bin')))).toBe(sha(data));
    expect(t.progress.downloaded).toBeGreaterThanOrEqual(data.length);
  });
});
