// Rate limits of the library API (issue 17): `Engine.create({ limits })`, `engine.setLimits`, `add`'s
// `limits` and `handle.setLimits`, changeable while running — measured between two engines on loopback.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type EngineOptions } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { isBtError } from '../../src/protocol/errors.js';

const MiB = 1024 * 1024;
let work: string;
let src: string;
let data: Buffer;
let torrent: Uint8Array;
const engines: Engine[] = [];
async function engine(options: EngineOptions = {}) {
  const e = await Engine.create({ port: 0, host: '127.0.0.1', ...options });
  engines.push(e);
  return e;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-engine-rate-'));
  src = join(work, 'src');
  await mkdir(src, { recursive: true });
  data = randomBytes(6 * MiB);
  await writeFile(join(src, 'payload.bin'), data);
  ({ torrent } = await createTorrent(join(src, 'payload.bin'), { pieceLength: 256 * 1024 }));
});
afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

/** A seeder engine with the payload, and the handle of its torrent. */
async function seeder(options: EngineOptions = {}) {
  const e = await engine(options);
  const t = await e.add(torrent, { dir: src });
  await t.completed;
  return e;
}

/** Seconds from `add` to completion of a download from `from`, and the bytes checked. */
async function timedDownload(from: Engine, leecher: Engine, name: string) {
  const dir = join(work, name);
  const started = performance.now();
  const t = await leecher.add(torrent, { dir, peers: [{ host: '127.0.0.1', port: from.port }] });
  // Not complete in 20 s is a stall, not a slow machine: say what the two sides were doing.
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const seed = from.torrents[0];
      reject(
        new Error(
          `stalled: leecher ${JSON.stringify({ progress: t.progress, peers: t.peers })}; seeder ${JSON.stringify({
            progress: seed?.progress,
            peers: seed?.peers,
          })}`,
        ),
      );
    }, 20_000);
  });
  await Promise.race([t.completed, stalled]).finally(() => clearTimeout(timer));
  const seconds = (performance.now() - started) / 1000;
  expect(Buffer.from(await readFile(join(dir, 'payload.bin'))).equals(data)).toBe(true);
  return seconds;
}

describe('engine rate limits', () => {
  it('limits.down: 6 MiB at 2 MiB/s takes 3 s', async () => {
    const from = await seeder();
    const leecher = await engine({ limits: { down: 2 * MiB } });
    expect(leecher.limits).toEqual({ down: 2 * MiB, up: 0 });
    const s = await timedDownload(from, leecher, 'down');
    // Never faster than the limit; slower only by what a loaded machine costs (the ±10 % over 20 s is
    // measured by test/interop/rate-limit.interop.test.ts).
    expect(s).toBeGreaterThan(3 * 0.9);
    expect(s).toBeLessThan(3 * 1.5);
  }, 30_000);

  it('limits.up at the seeder: 6 MiB at 2 MiB/s takes 3 s', async () => {
    const from = await seeder({ limits: { up: 2 * MiB } });
    const s = await timedDownload(from, await engine(), 'up');
    expect(s).toBeGreaterThan(3 * 0.9);
    expect(s).toBeLessThan(3 * 1.5);
  }, 30_000);

  it("a torrent's own limit, changed while it runs, and the engine's, set while it runs", async () => {
    const from = await seeder();
    const leecher = await engine();
    const dir = join(work, 'per-torrent');
    const t = await leecher.add(torrent, {
      dir,
      peers: [{ host: '127.0.0.1', port: from.port }],
      limits: { down: 1 * MiB },
    });
    expect(t.limits).toEqual({ down: MiB, up: 0 });
    const sample = async (ms: number) => {
      const b0 = t.progress.downloaded;
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, ms));
      return ((t.progress.downloaded - b0) * 1000) / (performance.now() - t0) / MiB;
    };
    await new Promise((r) => setTimeout(r, 500)); // connected and past the first burst
    // `downloaded` moves a piece (256 KiB) at a time: windows of 8 and 6 pieces keep that within ±1/6.
    const slow = await sample(2000);
    expect(slow).toBeGreaterThan(0.7);
    expect(slow).toBeLessThan(1.3);
    // The engine's limit is tighter now: it applies to this torrent too.
    leecher.setLimits({ down: 512 * 1024 });
    expect(leecher.limits.down).toBe(512 * 1024);
    await new Promise((r) => setTimeout(r, 300));
    const slower = await sample(3000);
    expect(slower).toBeGreaterThan(0.35);
    expect(slower).toBeLessThan(0.65);
    // Both lifted: the rest comes at loopback speed.
    leecher.setLimits({ down: 0 });
    t.setLimits({ down: 0 });
    const left = t.progress.left;
    expect(left).toBeGreaterThan(MiB);
    const before = performance.now();
    await t.completed;
    expect((performance.now() - before) / 1000).toBeLessThan(left / MiB / 4);
    expect(Buffer.from(await readFile(join(dir, 'payload.bin'))).equals(data)).toBe(true);
  }, 30_000);

  it('refuses a rate that is not a finite number ≥ 0 (BT_ERR_RATE_LIMIT)', async () => {
    await expect(Engine.create({ port: 0, host: '127.0.0.1', limits: { down: -1 } })).rejects.toSatisfy((e) =>
      isBtError(e, 'BT_ERR_RATE_LIMIT'),
    );
    const e = await engine();
    expect(() => e.setLimits({ up: Number.NaN })).toThrow(/up rate limit/);
    await expect(e.add(torrent, { dir: join(work, 'bad'), limits: { up: Infinity } })).rejects.toSatisfy((err) =>
      isBtError(err, 'BT_ERR_RATE_LIMIT'),
    );
    const t = await e.add(torrent, { dir: join(work, 'bad'), paused: true });
    expect(() => t.setLimits({ down: -5 })).toThrow(/down rate limit/);
    t.setLimits({ up: 1000 });
    expect(t.limits).toEqual({ down: 0, up: 1000 });
  });
});
