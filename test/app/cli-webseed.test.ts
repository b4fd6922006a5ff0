// BEP 19 web seeds end to end (issue 17): `bt-actor run` of a torrent whose only source is a web seed
// (a local Node HTTP server with Range) completes byte-identical, single- and multi-file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { freePort } from '../support/proc.js';
import { startWebSeedServer, type WebSeedServer } from '../support/webseed-server.js';

const exec = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

let work: string;
let server: WebSeedServer;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-cli-webseed-'));
  await mkdir(join(work, 'www'), { recursive: true });
  server = await startWebSeedServer(join(work, 'www'));
});
afterAll(async () => {
  await server.close();
  await rm(work, { recursive: true, force: true });
});

async function run(torrentPath: string, out: string, ...more: string[]) {
  const port = await freePort();
  const { stdout } = await exec(
    process.execPath,
    [BIN, 'run', torrentPath, '--out', out, '--port', String(port), '--json', '--no-dht', ...more],
    { timeout: 30_000 },
  );
  return stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('bt-actor run with a web seed as the only source', () => {
  it('completes a single-file torrent byte-identical (the URL names a folder: + name)', async () => {
    const data = randomBytes(300_000);
    await writeFile(join(work, 'www', 'one file.bin'), data);
    const { torrent } = await createTorrent(join(work, 'www', 'one file.bin'), {
      pieceLength: 32 * 1024,
      urlList: [`${server.url}/`],
    });
    const t = join(work, 'one.torrent');
    await writeFile(t, torrent);
    const before = server.requests.length;
    const lines = await run(t, join(work, 'out1'));
    expect(Buffer.from(await readFile(join(work, 'out1', 'one file.bin'))).equals(data)).toBe(true);
    expect(lines.find((l) => l.event === 'done')).toMatchObject({ complete: true });
    const progress = lines.filter((l) => l.event === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatchObject({ percent: 100, webseeds: 1, peers: 0 });
    // One range request per piece (10 pieces), each a Range of the piece.
    const got = server.requests.slice(before);
    expect(got.every((r) => r.status === 206 && r.path === '/one file.bin')).toBe(true);
    expect(new Set(got.map((r) => r.range))).toContain(`bytes=294912-299999`);
  });

  it("counts a slow web seed's bytes in the download rate: JSON progress `rate` and `webseedRates`, the API's progress$", async () => {
    const data = randomBytes(20 * 16 * 1024);
    await writeFile(join(work, 'www', 'slow.bin'), data);
    const url = `${server.url}/slow.bin`;
    const { torrent } = await createTorrent(join(work, 'www', 'slow.bin'), { pieceLength: 16 * 1024, urlList: [url] });
    const t = join(work, 'slow.torrent');
    await writeFile(t, torrent);
    server.delayMs = 150; // 20 pieces, one at a time: about 3 s
    try {
      const lines = await run(t, join(work, 'out-slow'));
      expect(Buffer.from(await readFile(join(work, 'out-slow', 'slow.bin'))).equals(data)).toBe(true);
      // While downloading, with no peer at all, the rate is the web seed's.
      const during = lines.filter((l) => l.event === 'progress' && (l.percent as number) < 100);
      expect(during.length).toBeGreaterThan(0);
      expect(during.every((l) => l.peers === 0)).toBe(true);
      const moving = during.filter((l) => (l.rate as number) > 0);
      expect(moving.length).toBeGreaterThan(0);
      for (const l of moving) expect(l.webseedRates).toEqual({ [url]: l.rate });

      // The library: torrent.progress$ says the same.
      const engine = await Engine.create({ port: 0, host: '127.0.0.1' });
      try {
        const tt = await engine.add(torrent, { dir: join(work, 'out-slow-api') });
        const rates: number[] = [];
        const sub = tt.progress$.subscribe((p) => {
          if (p.left > 0 && p.peersConnected === 0) rates.push(p.downloadRate);
        });
        await tt.completed;
        sub.unsubscribe();
        expect(Math.max(...rates)).toBeGreaterThan(0);
      } finally {
        await engine.close();
      }
    } finally {
      server.delayMs = 0;
    }
  });

  it('completes a multi-file torrent byte-identical (URL + name + path; pieces spanning files)', async () => {
    const files = { 'a b.txt': randomBytes(70_000), 'sub/c%d.bin': randomBytes(50_001), 'sub/e': randomBytes(10) };
    for (const [name, bytes] of Object.entries(files)) {
      await mkdir(join(work, 'www', 'seeds', 'set', name, '..'), { recursive: true });
      await writeFile(join(work, 'www', 'seeds', 'set', name), bytes);
    }
    const { torrent } = await createTorrent(join(work, 'www', 'seeds', 'set'), {
      pieceLength: 16 * 1024,
      urlList: [`${server.url}/seeds`],
    });
    const t = join(work, 'set.torrent');
    await writeFile(t, torrent);
    await run(t, join(work, 'out2'));
    for (const [name, bytes] of Object.entries(files))
      expect(Buffer.from(await readFile(join(work, 'out2', 'set', name))).equals(bytes), name).toBe(true);
    expect(server.requests.some((r) => r.path === '/seeds/set/sub/c%d.bin')).toBe(true);
  });

  it('mixed with a peer (another engine seeding): both serve pieces, the file is byte-identical', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    await mkdir(join(work, 'seed'), { recursive: true });
    await writeFile(join(work, 'www', 'mixed.bin'), data);
    await writeFile(join(work, 'seed', 'mixed.bin'), data);
    const { torrent } = await createTorrent(join(work, 'www', 'mixed.bin'), {
      pieceLength: 32 * 1024,
      urlList: [`${server.url}/mixed.bin`],
    });
    const t = join(work, 'mixed.torrent');
    await writeFile(t, torrent);
    const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      const seed = await seeder.add(torrent, { dir: join(work, 'seed') });
      await seed.completed;
      const before = server.requests.length;
      const lines = await run(t, join(work, 'out3'), '--peer', `127.0.0.1:${seeder.port}`);
      expect(Buffer.from(await readFile(join(work, 'out3', 'mixed.bin'))).equals(data)).toBe(true);
      expect(lines.find((l) => l.event === 'done')).toMatchObject({ complete: true });
      const fromWeb = server.requests.slice(before).filter((r) => r.status === 206).length;
      expect(fromWeb).toBeGreaterThan(0);
      expect(fromWeb).toBeLessThan(96); // 96 pieces: the peer served some of them
      expect(seed.progress.uploaded).toBeGreaterThan(0);
    } finally {
      await seeder.close();
    }
  });

  it("a magnet link's ws= web seed is used once the metadata came from a peer", async () => {
    const data = randomBytes(400_000);
    await mkdir(join(work, 'seed2'), { recursive: true });
    await writeFile(join(work, 'www', 'mag.bin'), data);
    await writeFile(join(work, 'seed2', 'mag.bin'), data);
    const { torrent } = await createTorrent(join(work, 'www', 'mag.bin'), { pieceLength: 16 * 1024 });
    const meta = parseMetainfo(torrent);
    const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      const seed = await seeder.add(torrent, { dir: join(work, 'seed2') });
      await seed.completed;
      const before = server.requests.length;
      const magnet =
        `magnet:?xt=urn:btih:${meta.infoHashHex}&dn=mag.bin` +
        `&ws=${encodeURIComponent(`${server.url}/mag.bin`)}&x.pe=127.0.0.1:${seeder.port}`;
      const lines = await run(magnet, join(work, 'out4'));
      expect(Buffer.from(await readFile(join(work, 'out4', 'mag.bin'))).equals(data)).toBe(true);
      expect(lines.find((l) => l.event === 'done')).toMatchObject({ complete: true });
      expect(server.requests.slice(before).some((r) => r.path === '/mag.bin' && r.status === 206)).toBe(true);
    } finally {
      await seeder.close();
    }
  });
});
