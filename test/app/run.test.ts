/**
 * `bt-actor run` is an Engine plus a renderer, with one stop routine: the Engine's. However a run
 * ends (complete, the seed ratio, a signal, a failure of the torrent), it goes through
 * `Engine.close`, its last JSON line is `done`, and its port is free again when `main` returns.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/app/cli.js';
import { Engine } from '../../src/app/engine.js';
import { freePort } from '../support/proc.js';
import { startLocalSwarm, type LocalSwarm } from '../support/local-swarm.js';

let swarm: LocalSwarm;
let work: string;
let runs = 0;

beforeAll(async () => {
  swarm = await startLocalSwarm({ sizeMiB: 2, seeders: 1, pieceLength: 64 * 1024 });
  work = await mkdtemp(join(tmpdir(), 'bt-actor-run-'));
}, 60_000);
afterAll(async () => {
  await swarm?.close();
  if (work) await rm(work, { recursive: true, force: true });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const portIsFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/**
 * Runs `bt-actor run … --json` in-process. `closes` tells, for each call of `Engine.close`, whether
 * the torrent was still running then (the call stopped it) or had already ended by itself.
 */
async function run(
  torrent: string,
  out: string,
  args: string[],
  onLine?: (l: Record<string, unknown>, abort: () => void) => void,
) {
  const closes: { running: boolean }[] = [];
  const close = Engine.prototype.close;
  vi.spyOn(Engine.prototype, 'close').mockImplementation(function (this: Engine) {
    closes.push({ running: this.torrents.some((t) => t.actor !== undefined) });
    return close.call(this);
  });
  const ac = new AbortController();
  const lines: Record<string, unknown>[] = [];
  const err: string[] = [];
  const code = await main(
    ['run', torrent, '--out', out, '--json', '--bind', '127.0.0.1', '--port', String(await freePort()), ...args],
    {
      out: (l) => {
        const line = JSON.parse(l) as Record<string, unknown>;
        lines.push(line);
        onLine?.(line, () => ac.abort());
      },
      err: (l) => err.push(l),
      signal: ac.signal,
    },
  );
  const port = lines[0]!.port as number;
  return { code, lines, err: err.join('\n'), closes, port };
}

const fresh = () => join(work, `out${++runs}`);
const seeder = () => `127.0.0.1:${swarm.seeders[0]!.listener.port}`;

describe('bt-actor run: one stop routine', () => {
  it('a complete download stops through Engine.close, ends with done and frees its port', async () => {
    const r = await run(swarm.quietTorrentPath, fresh(), ['--peer', seeder()]);
    expect(r.code).toBe(0);
    expect(r.lines[0]).toMatchObject({ event: 'listening', port: r.port });
    expect(r.lines.some((l) => l.event === 'complete')).toBe(true);
    expect(r.lines.at(-1)).toMatchObject({
      event: 'done',
      complete: true,
      length: swarm.meta.length,
      downloaded: swarm.meta.length,
    });
    expect(r.closes[0]).toEqual({ running: true }); // Engine.close stopped the torrent
    expect(await portIsFree(r.port)).toBe(true);
  });

  it('with --seed, the seed ratio stops it the same way', async () => {
    const r = await run(swarm.quietTorrentPath, fresh(), ['--peer', seeder(), '--seed', '--seed-ratio', '0']);
    expect(r.code).toBe(0);
    expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: true });
    expect(r.closes[0]).toEqual({ running: true });
    expect(await portIsFree(r.port)).toBe(true);
  });

  it('a signal stops an unfinished download through Engine.close: exit 1, done with complete false, port free', async () => {
    // No trackers and no peers: it can only wait.
    const r = await run(swarm.quietTorrentPath, fresh(), [], (l, abort) => l.event === 'ready' && abort());
    expect(r.code).toBe(1);
    expect(r.err).toContain('stopped before the download completed');
    expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: false, downloaded: 0, length: swarm.meta.length });
    expect(r.closes[0]).toEqual({ running: true });
    expect(await portIsFree(r.port)).toBe(true);
  });

  it('a torrent that fails ends by itself; the engine is closed all the same: exit 2, error then done, port free', async () => {
    const out = fresh();
    await mkdir(join(out, swarm.meta.name), { recursive: true }); // a folder where the torrent's file goes
    const r = await run(swarm.quietTorrentPath, out, []);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/is not a regular file \[BT_ERR_STORAGE_PATH\]/);
    expect(r.lines).toContainEqual(expect.objectContaining({ event: 'error', code: 'BT_ERR_STORAGE_PATH' }));
    expect(r.lines.at(-1)).toMatchObject({ event: 'done', complete: false });
    expect(r.closes[0]).toEqual({ running: false }); // it had ended by itself
    expect(await portIsFree(r.port)).toBe(true);
  });
});
