/**
 * IPv6 peers end to end, engines on the loopback ::1 (and 127.0.0.1 beside it):
 * - the default listener is dual-stack (`::`): one seeder serves a leecher dialling [::1] and one dialling
 *   127.0.0.1, and sees the IPv4 one as `127.0.0.1`, never `::ffff:127.0.0.1`;
 * - the peers a tracker hands out in `peers6` (BEP 7) are dialled: an HTTP tracker on [::1] and a leecher
 *   that knows no peer;
 * - the peers a `ut_pex` message names in `added6` (BEP 11) are dialled: a leecher given only a middle
 *   peer learns the seeder's [::1] address from it.
 * No DHT; every engine and tracker is closed after the file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { Engine, type EngineOptions, type TorrentHandle } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { startLocalTracker, type LocalTracker } from '../../src/io/local-tracker.js';
import { buildAnnounceUrl, parseAnnounceResponse } from '../../src/protocol/tracker-http.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { freePort } from '../support/proc.js';

let work: string;
const engines: Engine[] = [];
const trackers: LocalTracker[] = [];
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-ipv6-'));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await Promise.all(trackers.map((t) => t.close()));
  if (work) await rm(work, { recursive: true, force: true });
});

async function engine(options: EngineOptions = {}): Promise<Engine> {
  const e = await Engine.create({ port: 0, ...options });
  engines.push(e);
  return e;
}

/** Random data in `work/name` and its torrent (64 KiB pieces). */
async function dataset(name: string, size: number, announce?: string) {
  const data = randomBytes(size);
  await writeFile(join(work, name), data);
  const { torrent } = await createTorrent(join(work, name), {
    pieceLength: 64 * 1024,
    ...(announce && { announce: [[announce]] }),
  });
  return { data, torrent };
}

/**
 * The keys of the peers a torrent connected to, as its events say; a torrent added `paused` is started
 * once subscribed, so no event is missed.
 */
function connectedKeys(t: TorrentHandle): string[] {
  const keys: string[] = [];
  t.events$.subscribe((e) => {
    if (e.type === 'torrent.peer' && e.event === 'connected') keys.push(e.key);
  });
  if (t.actor === undefined) t.resume();
  return keys;
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)),
  ]);
}

/** Resolves once `pred()` holds (polled every 20 ms). */
async function waitFor(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((r) => setTimeout(r, 20));
}

/** GETs `url` (an announce) and returns the body. */
function get(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
    })
      .on('error', reject)
      .end();
  });
}

describe('IPv6 peers', () => {
  it('the default listener takes IPv6 and IPv4: one seeder serves a leecher on [::1] and one on 127.0.0.1', async () => {
    const { data, torrent } = await dataset('dual.bin', 1024 * 1024);
    const seed = await engine(); // no host: `::`, dual-stack
    expect(seed.host).toBe('::');
    const st = await seed.add(torrent, { dir: work });
    const seen = connectedKeys(st);
    await st.completed; // checked: a peer that came while it was checking would be refused, and retried 5 s later
    const v6 = await engine({ host: '::1' });
    const v4 = await engine({ host: '127.0.0.1' });
    expect([v6.host, v4.host]).toEqual(['::1', '127.0.0.1']);
    // No PEX: the seeder would name each leecher to the other, and the IPv4 one (its listener bound to
    // 127.0.0.1, its dials not) would connect to the IPv6 one over [::1]; only the seeder's part is tested.
    const t6 = await v6.add(torrent, {
      paused: true,
      dir: join(work, 'dual6'),
      peers: [{ host: '::1', port: seed.port }],
      settings: { pex: false },
    });
    const t4 = await v4.add(torrent, {
      paused: true,
      dir: join(work, 'dual4'),
      peers: [{ host: '127.0.0.1', port: seed.port }],
      settings: { pex: false },
    });
    const k6 = connectedKeys(t6);
    const k4 = connectedKeys(t4);
    await within(Promise.all([t6.completed, t4.completed]), 30_000, 'both complete');
    expect(sha(await readFile(join(work, 'dual6', 'dual.bin')))).toBe(sha(data));
    expect(sha(await readFile(join(work, 'dual4', 'dual.bin')))).toBe(sha(data));
    expect(k6).toEqual([`[::1]:${seed.port}`]);
    expect(k4).toEqual([`127.0.0.1:${seed.port}`]);
    // The seeder saw one peer of each family, the IPv4 one as IPv4 (not `[::ffff:127.0.0.1]:…`).
    expect(seen).toHaveLength(2);
    expect(seen.filter((k) => k.startsWith('[::1]:'))).toHaveLength(1);
    expect(seen.filter((k) => k.startsWith('127.0.0.1:'))).toHaveLength(1);
    expect(seen.some((k) => k.includes('ffff'))).toBe(false);
  });

  it('peers6 of an HTTP tracker on [::1] are dialled: a leecher that knows no peer downloads from an IPv6 seeder', async () => {
    const tracker = await startLocalTracker({ host: '::1' });
    trackers.push(tracker);
    expect(tracker.url).toMatch(/^http:\/\/\[::1\]:\d+\/announce$/);
    const { data, torrent } = await dataset('tracked.bin', 768 * 1024, tracker.url);
    const meta = parseMetainfo(torrent);
    const seed = await engine({ host: '::1' });
    await (
      await seed.add(torrent, { dir: work })
    ).completed;
    // The seeder announced over IPv6: the tracker has it as an IPv6 peer…
    await within(
      waitFor(() => tracker.swarm(meta.infoHashHex).length > 0),
      10_000,
      'the seeder announced',
    );
    expect(tracker.swarm(meta.infoHashHex)).toEqual([{ host: '::1', port: seed.port, family: 6 }]);
    // …and hands it out in `peers6` (BEP 7), none in the IPv4 `peers`.
    const probe = await get(
      buildAnnounceUrl(tracker.url, {
        infoHash: meta.infoHash,
        peerId: randomBytes(20),
        port: 1,
        uploaded: 0,
        downloaded: 0,
        left: 0,
        event: 'stopped',
      }),
    );
    expect(probe.includes(Buffer.from('6:peers618:'))).toBe(true);
    expect(parseAnnounceResponse(probe)).toMatchObject({ peers: [{ host: '::1', port: seed.port, family: 6 }] });
    const leech = await engine({ host: '::1' });
    const t = await leech.add(torrent, { paused: true, dir: join(work, 'tracked') });
    const keys = connectedKeys(t);
    await within(t.completed, 30_000, 'complete');
    expect(sha(await readFile(join(work, 'tracked', 'tracked.bin')))).toBe(sha(data));
    expect(keys).toEqual([`[::1]:${seed.port}`]);
  });

  it('added6 of ut_pex is dialled: a leecher given only a middle peer learns the seeder on [::1] from it', async () => {
    const { data, torrent } = await dataset('pex.bin', 2 * 1024 * 1024);
    // The seeder takes no PEX, so it never dials the leecher itself; only the leecher dials it.
    const seed = await engine({ host: '::1' });
    await (
      await seed.add(torrent, { dir: work, settings: { pex: false } })
    ).completed;
    // The middle peer dials the seeder (an outgoing connection to [::1]: PEX names it, reachable) and
    // downloads slowly, so it is still connected to the seeder (not both complete) when the leecher comes.
    const middle = await engine({ host: '::1' });
    const tm = await middle.add(torrent, {
      paused: true,
      dir: join(work, 'pex-middle'),
      peers: [{ host: '::1', port: seed.port }],
      limits: { down: 32 * 1024 },
    });
    const middleKeys = connectedKeys(tm);
    // The first PEX round with the leecher must name the seeder (the next one is a minute later).
    await within(
      waitFor(() => middleKeys.includes(`[::1]:${seed.port}`)),
      10_000,
      'the middle peer connected to the seeder',
    );
    const leech = await engine({ host: '::1' });
    const t = await leech.add(torrent, {
      paused: true,
      dir: join(work, 'pex-leech'),
      peers: [{ host: '::1', port: middle.port }],
    });
    const keys = connectedKeys(t);
    await within(t.completed, 40_000, 'complete');
    expect(sha(await readFile(join(work, 'pex-leech', 'pex.bin')))).toBe(sha(data));
    expect(keys).toContain(`[::1]:${middle.port}`);
    expect(keys).toContain(`[::1]:${seed.port}`);
  });
});

/** `bt-actor run … --json` in-process; `abort` (the signal, as Ctrl-C) is handed to `onLine`. */
async function cli(args: string[], onLine?: (l: Record<string, unknown>, abort: () => void) => void) {
  const ac = new AbortController();
  const lines: Record<string, unknown>[] = [];
  const err: string[] = [];
  const code = await main(['run', ...args, '--json'], {
    out: (l) => {
      const line = JSON.parse(l) as Record<string, unknown>;
      lines.push(line);
      onLine?.(line, () => ac.abort());
    },
    err: (l) => err.push(l),
    signal: ac.signal,
  });
  return { code, lines, err: err.join('\n') };
}

describe('bt-actor run on IPv6', () => {
  it('a seeder with --bind ::1 and a leecher with --bind [::1] --peer [::1]:P: the file arrives over IPv6', async () => {
    const { data, torrent } = await dataset('cli6.bin', 512 * 1024);
    const torrentPath = join(work, 'cli6.torrent');
    await writeFile(torrentPath, torrent);
    const seedPort = await freePort();
    let stopSeeder: (() => void) | undefined;
    let seederListening: (l: Record<string, unknown>) => void = () => undefined;
    const listening = new Promise<Record<string, unknown>>((resolve) => (seederListening = resolve));
    const seeder = cli(
      [torrentPath, '--out', work, '--bind', '::1', '--port', String(seedPort), '--seed'],
      (l, abort) => {
        stopSeeder = abort;
        if (l.event === 'listening') seederListening(l);
      },
    );
    expect(await within(listening, 10_000, 'seeder listening')).toMatchObject({ port: seedPort, host: '::1' });
    const leech = await within(
      cli([
        torrentPath,
        '--out',
        join(work, 'cli6'),
        '--bind',
        '[::1]',
        '--port',
        String(await freePort()),
        '--peer',
        `[::1]:${seedPort}`,
      ]),
      30_000,
      'leecher',
    );
    stopSeeder!();
    const seeded = await within(seeder, 15_000, 'seeder stopped');
    expect(leech.err).toBe('');
    expect(leech.code).toBe(0);
    expect(leech.lines[0]).toMatchObject({ event: 'listening', host: '::1' });
    expect(leech.lines).toContainEqual(expect.objectContaining({ event: 'peer-connected', key: `[::1]:${seedPort}` }));
    expect(leech.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
    expect(sha(await readFile(join(work, 'cli6', 'cli6.bin')))).toBe(sha(data));
    expect(seeded.code).toBe(0);
  });

  it('without --bind the listening line says :: (IPv6 and IPv4); --bind with a name is refused, exit 2', async () => {
    const { torrent } = await dataset('cli-any.bin', 64 * 1024);
    const torrentPath = join(work, 'cli-any.torrent');
    await writeFile(torrentPath, torrent);
    const r = await cli(
      [torrentPath, '--out', join(work, 'cli-any'), '--port', String(await freePort())],
      (l, abort) => {
        if (l.event === 'ready') abort();
      },
    );
    expect(r.lines[0]).toMatchObject({ event: 'listening', host: '::' });
    const bad = await cli([torrentPath, '--out', join(work, 'cli-any'), '--bind', 'localhost']);
    expect(bad.code).toBe(2);
    expect(bad.err).toBe("bt-actor: --bind 'localhost' is not an IP address");
  });
});
