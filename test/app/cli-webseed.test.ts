// BEP 19 web seeds end to end (issue 17): `bt-actor run` of a torrent whose only source is a web seed
// (a local Node HTTP server with Range) completes byte-identical, single- and multi-file.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
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

async function run(torrentPath: string, out: string) {
  const port = await freePort();
  const { stdout } = await exec(
    process.execPath,
    [BIN, 'run', torrentPath, '--out', out, '--port', String(port), '--json', '--no-dht'],
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
});
