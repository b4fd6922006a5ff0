/**
 * The engine-wide cap on connections: with `maxConnections: 1` an engine seeding one torrent takes one
 * incoming peer and closes the next at once, whatever the torrent's own limit.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { encodeHandshake, makeReserved } from '../../src/protocol/wire.js';

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

function peer(port: number, infoHash: Uint8Array): Promise<{ socket: Socket; answered: Promise<boolean> }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(encodeHandshake({ reserved: makeReserved({}), infoHash, peerId: randomBytes(20) }));
      // A handshake back: taken. The connection closed first: refused.
      const answered = new Promise<boolean>((done) => {
        socket.once('data', () => done(true));
        socket.once('close', () => done(false));
      });
      resolve({ socket, answered });
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
  });
}

describe('engine-wide connection cap', () => {
  it('past the engine’s maxConnections an incoming peer is closed at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bt-actor-engine-cap-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'x.bin'), randomBytes(100_000));
    const { torrent } = await createTorrent(join(dir, 'x.bin'), { creationDate: null });
    const meta = parseMetainfo(torrent);
    const engine = await Engine.create({ port: 0, host: '127.0.0.1', maxConnections: 1 });
    cleanup.push(() => engine.close());
    const t = await engine.add(torrent, { dir });
    await t.completed;
    const first = await peer(engine.port, meta.infoHash);
    cleanup.push(async () => first.socket.destroy());
    expect(await first.answered).toBe(true);
    const second = await peer(engine.port, meta.infoHash);
    cleanup.push(async () => second.socket.destroy());
    expect(await second.answered).toBe(false);
  });
});
