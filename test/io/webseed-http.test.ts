// The web seed fetch effect (src/io/webseed-http.ts) against a local Node HTTP server with Range, and
// an engine downloading from such a server: a server that sends bad data is dropped, one that answers
// 503 is backed off from and then used.
import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { fetchWebSeedPiece, WebSeedAgents, webSeedConnectionsActor, WebSeedError } from '../../src/io/webseed-http.js';
import { createActor } from 'xstate';
import { RateLimiter } from '../../src/io/rate-limit.js';
import { realClock } from '../../src/io/clock.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { startWebSeedServer, type WebSeedServer } from '../support/webseed-server.js';

let work: string;
let server: WebSeedServer;
const file = randomBytes(200_000);
const a = randomBytes(30_000);
const b = randomBytes(50_000);
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-webseed-'));
  await mkdir(join(work, 'www', 'set', 'sub'), { recursive: true });
  await writeFile(join(work, 'www', 'file.bin'), file);
  await writeFile(join(work, 'www', 'set', 'a'), a);
  await writeFile(join(work, 'www', 'set', 'sub', 'b'), b);
  server = await startWebSeedServer(join(work, 'www'));
});
afterAll(async () => {
  await server.close();
  await rm(work, { recursive: true, force: true });
});

const reset = () => {
  server.corrupt = false;
  server.missing = false;
  server.overflow = 0;
  server.failNext = { count: 0, status: 503 };
};

async function waitFor(ok: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !ok();) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function failure(p: Promise<unknown>): Promise<WebSeedError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(WebSeedError);
    return err as WebSeedError;
  }
  throw new Error('expected a WebSeedError');
}

describe('fetchWebSeedPiece', () => {
  it('fetches a range of a file, and a piece across files with padding as zeros', async () => {
    reset();
    const url = `${server.url}/file.bin`;
    const got = await fetchWebSeedPiece({
      ranges: [{ url, start: 65_536, length: 32_768, padding: false }],
      length: 32_768,
    });
    expect(Buffer.from(got).equals(file.subarray(65_536, 98_304))).toBe(true);
    expect(server.requests.at(-1)).toMatchObject({ range: 'bytes=65536-98303', status: 206 });
    const piece = await fetchWebSeedPiece({
      ranges: [
        { url: `${server.url}/set/a`, start: 20_000, length: 10_000, padding: false },
        { url: '', start: 0, length: 100, padding: true },
        { url: `${server.url}/set/sub/b`, start: 0, length: 5_000, padding: false },
      ],
      length: 15_100,
    });
    expect(Buffer.from(piece.subarray(0, 10_000)).equals(a.subarray(20_000))).toBe(true);
    expect(piece.subarray(10_000, 10_100).every((x) => x === 0)).toBe(true);
    expect(Buffer.from(piece.subarray(10_100)).equals(b.subarray(0, 5_000))).toBe(true);
  });

  it('a download limit shapes a web seed: every byte charged, the response paused while the limiter is in debt', async () => {
    reset();
    const limiter = new RateLimiter(realClock, 64 * 1024);
    const t0 = performance.now();
    const got = await fetchWebSeedPiece(
      { ranges: [{ url: `${server.url}/file.bin`, start: 0, length: 192 * 1024, padding: false }], length: 192 * 1024 },
      { down: limiter },
    );
    const seconds = (performance.now() - t0) / 1000;
    expect(Buffer.from(got).equals(file.subarray(0, 192 * 1024))).toBe(true);
    // 192 KiB at 64 KiB/s is 3 s, less the bucket's burst (0.1 s, at least 16 KiB): never much faster.
    expect(seconds).toBeGreaterThan(2.5);
    // Unlimited, the same range comes at once (the limit did the waiting).
    const t1 = performance.now();
    await fetchWebSeedPiece(
      { ranges: [{ url: `${server.url}/file.bin`, start: 0, length: 192 * 1024, padding: false }], length: 192 * 1024 },
      { down: new RateLimiter(realClock, 0) },
    );
    expect((performance.now() - t1) / 1000).toBeLessThan(seconds / 2);
  }, 30_000);

  it('404 is permanent; 503 is not, with Retry-After; a longer body than the range, or a shorter one, fails', async () => {
    reset();
    const range = (path: string, start = 0, length = 1000) => ({
      ranges: [{ url: `${server.url}${path}`, start, length, padding: false }],
      length,
    });
    const missing = await failure(fetchWebSeedPiece(range('/nope')));
    expect(missing).toMatchObject({ code: 'BT_ERR_WEBSEED_NOT_FOUND', permanent: true });
    server.failNext = { count: 1, status: 503, retryAfter: 7 };
    const busy = await failure(fetchWebSeedPiece(range('/file.bin')));
    expect(busy).toMatchObject({ code: 'BT_ERR_WEBSEED_HTTP_STATUS', permanent: false, retryAfterMs: 7000 });
    server.overflow = 100_000;
    expect((await failure(fetchWebSeedPiece(range('/file.bin', 1000)))).code).toBe('BT_ERR_WEBSEED_TOO_LARGE');
    server.overflow = 0;
    // Past the end of the file: the server's Content-Range names a shorter range.
    const short = await failure(fetchWebSeedPiece(range('/file.bin', 199_500, 1000)));
    expect(short.permanent).toBe(false);
    const ftp = { ranges: [{ url: 'ftp://h/x', start: 0, length: 1, padding: false }], length: 1 };
    expect(await failure(fetchWebSeedPiece(ftp))).toMatchObject({ code: 'BT_ERR_WEBSEED_URL', permanent: true });
  });

  it('keep-alive: many ranges of one web seed over one connection, closed by its connections actor', async () => {
    reset();
    const agents = new WebSeedAgents();
    const seed = `${server.url}/file.bin`;
    const before = server.connections;
    const beforeRequests = server.requests.length;
    // Its connections actor, as the web seed statechart invokes it for its whole life.
    const life = createActor(webSeedConnectionsActor(agents), { input: { seed } }).start();
    for (let i = 0; i < 12; i++) {
      const start = i * 16_384;
      const got = await fetchWebSeedPiece(
        { ranges: [{ url: seed, start, length: 16_384, padding: false }], length: 16_384, seed },
        { agents },
      );
      expect(Buffer.from(got).equals(file.subarray(start, start + 16_384))).toBe(true);
    }
    expect(server.requests.length - beforeRequests).toBe(12);
    expect(server.connections - before).toBe(1);
    const openBefore = server.open - 1;
    // A piece across two files of another web seed: its own agent, one more connection for both ranges.
    await fetchWebSeedPiece(
      {
        ranges: [
          { url: `${server.url}/set/a`, start: 0, length: 30_000, padding: false },
          { url: `${server.url}/set/sub/b`, start: 0, length: 50_000, padding: false },
        ],
        length: 80_000,
        seed: `${server.url}/set`,
      },
      { agents },
    );
    expect(server.connections - before).toBe(2);
    expect(agents.size).toBe(2);
    // The web seed stops: its connection closes (the other web seed's stays).
    life.stop();
    expect(agents.size).toBe(1);
    await waitFor(() => server.open === openBefore + 1);
    agents.closeAll();
    await waitFor(() => server.open === openBefore);
    expect(agents.size).toBe(0);
  });

  it('keep-alive: a kept socket the server closed meanwhile is retried once on a new connection', async () => {
    reset();
    const agents = new WebSeedAgents({ idleMs: 60_000 });
    const seed = `${server.url}/file.bin`;
    const range = { ranges: [{ url: seed, start: 0, length: 1000, padding: false }], length: 1000, seed };
    const before = server.connections;
    await fetchWebSeedPiece(range, { agents });
    // The server drops its idle keep-alive connections; the agent still holds its end for a moment.
    server.closeIdle();
    const got = await fetchWebSeedPiece(range, { agents });
    expect(Buffer.from(got).equals(file.subarray(0, 1000))).toBe(true);
    expect(server.connections - before).toBe(2);
    agents.closeAll();
  });

  it('follows a redirect; a server that never answers times out on the clock', async () => {
    reset();
    const hang: ServerResponse[] = [];
    const other = createServer((req, res) => {
      if (req.url === '/hang') return void hang.push(res);
      res.writeHead(302, { Location: `${server.url}/file.bin` });
      res.end();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', () => r()));
    const port = (other.address() as { port: number }).port;
    try {
      const got = await fetchWebSeedPiece({
        ranges: [{ url: `http://127.0.0.1:${port}/moved`, start: 10, length: 20, padding: false }],
        length: 20,
      });
      expect(Buffer.from(got).equals(file.subarray(10, 30))).toBe(true);
      const slow = await failure(
        fetchWebSeedPiece(
          { ranges: [{ url: `http://127.0.0.1:${port}/hang`, start: 0, length: 20, padding: false }], length: 20 },
          { timeoutMs: 200 },
        ),
      );
      expect(slow.code).toBe('BT_ERR_WEBSEED_TIMEOUT');
    } finally {
      for (const r of hang) r.destroy();
      other.closeAllConnections();
      await new Promise<void>((r) => other.close(() => r()));
    }
  });
});

describe('an engine with a web seed as the only source', () => {
  async function download(name: string, pieceLength: number) {
    const { torrent } = await createTorrent(join(work, 'www', name), { pieceLength, urlList: [`${server.url}/`] });
    const engine = await Engine.create({ port: 0, host: '127.0.0.1' });
    const events: TorrentReport[] = [];
    const out = join(work, `out-${name}-${Math.random().toString(36).slice(2)}`);
    const t = await engine.add(torrent, {
      dir: out,
      settings: { webSeed: { backoffBaseMs: 100, backoffMaxMs: 400 } },
    });
    t.events$.subscribe((e) => events.push(e));
    return { engine, t, events, out };
  }

  it('drops a web seed that serves bad data (three pieces fail their hash); the torrent does not complete', async () => {
    reset();
    server.corrupt = true;
    const { engine, t, events } = await download('file.bin', 16_384);
    try {
      const dropped = await firstValueFrom(
        t.events$.pipe(filter((e) => e.type === 'torrent.webseed' && e.event === 'dropped')),
      );
      expect(dropped).toMatchObject({ code: 'BT_ERR_WEBSEED_BAD_DATA', url: `${server.url}/` });
      expect(events.filter((e) => e.type === 'torrent.hashFailed')).toHaveLength(3);
      expect(t.progress).toMatchObject({ webseeds: 0, verifiedPieces: 0, hashFailures: 3 });
    } finally {
      await engine.close();
    }
  });

  it('keep-alive: an engine fetches every piece over one connection, closed when the torrent is removed', async () => {
    reset();
    const before = server.connections;
    const beforeRequests = server.requests.length;
    const openBefore = server.open; // (a connection an earlier test left hanging on the server, if any)
    const { engine, t, out } = await download('file.bin', 8_192); // 25 pieces
    try {
      await t.completed;
      expect(Buffer.from(await readFile(join(out, 'file.bin'))).equals(file)).toBe(true);
      expect(server.requests.length - beforeRequests).toBe(25);
      expect(server.connections - before).toBe(1);
      expect(server.open - openBefore).toBe(1); // kept alive while the torrent seeds
      await engine.remove(t);
      await waitFor(() => server.open === openBefore);
    } finally {
      await engine.close();
    }
  });

  it('backs off from a 503 and then completes byte-identical from the same web seed', async () => {
    reset();
    server.failNext = { count: 2, status: 503 };
    const { engine, t, events, out } = await download('file.bin', 32_768);
    try {
      await t.completed;
      expect(Buffer.from(await readFile(join(out, 'file.bin'))).equals(file)).toBe(true);
      expect(events.filter((e) => e.type === 'torrent.webseed' && e.event === 'failed')).toHaveLength(2);
      expect(t.progress.webseeds).toBe(1);
    } finally {
      await engine.close();
    }
  });
});
