/**
 * `bt-actor run --limit-down RATE --limit-up RATE` (issue 17): the rate forms, one line and exit 2 for
 * a bad one, the help, and a run from a local seeder that takes as long as its limit says, its JSON
 * lines naming the limits.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { Engine } from '../../src/app/engine.js';
import { parseRate, rateOption } from '../../src/app/rate-arg.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { runBtActor } from '../support/bt-actor-run.js';
import { freePort } from '../support/proc.js';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), errLines: err };
}

const MiB = 1024 * 1024;
let dir: string;
let torrentPath: string;
let data: Buffer;
let seeder: Engine | undefined;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-cli-rate-'));
  await mkdir(join(dir, 'src'));
  data = randomBytes(3 * MiB);
  await writeFile(join(dir, 'src', 'three.bin'), data);
  const { torrent } = await createTorrent(join(dir, 'src', 'three.bin'), { pieceLength: 256 * 1024 });
  torrentPath = join(dir, 'three.torrent');
  await writeFile(torrentPath, torrent);
});
afterAll(async () => {
  await seeder?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('rates on the command line', () => {
  it('parses binary and decimal units, /s, decimals and plain bytes', () => {
    const cases: [string, number | undefined][] = [
      ['2MiB', 2 * MiB],
      ['500KiB', 500 * 1024],
      ['1.5MB', 1_500_000],
      ['65536', 65536],
      ['4M', 4 * MiB],
      ['4m/s', 4 * MiB],
      ['100 kB/s', 100_000],
      ['100KB', 100_000],
      ['1.5Ki', 1536],
      ['1GiB', 1024 ** 3],
      ['2GB', 2e9],
      ['0', 0],
      ['.5MiB', MiB / 2],
      ['12B', 12],
      ['', undefined],
      ['fast', undefined],
      ['-1MiB', undefined],
      ['2 MiBs', undefined],
      ['1e6', undefined],
      ['2TiB', undefined],
      ['1..5M', undefined],
    ];
    for (const [text, bytes] of cases) expect(parseRate(text), text).toBe(bytes);
  });

  it('a limit is 0 or at least 1 KiB/s', () => {
    expect(rateOption('limit-up', undefined)).toBeUndefined();
    expect(rateOption('limit-up', '0')).toBe(0);
    expect(rateOption('limit-up', '1KiB')).toBe(1024);
    expect(() => rateOption('limit-up', '1000')).toThrow(/--limit-up takes bytes per second/);
  });

  it('a bad rate is one line and exit 2', async () => {
    for (const [flag, value] of [
      ['--limit-down', 'fast'],
      ['--limit-up', '-2MiB'],
      ['--limit-down', '10'],
    ] as const) {
      const r = await cli('run', torrentPath, '--out', join(dir, 'never'), flag, value);
      expect(r.code, `${flag} ${value}`).toBe(2);
      expect(r.errLines[0]).toBe(
        `bt-actor run: ${flag} takes bytes per second like 2MiB, 500KiB, 1.5MB or 65536 (at least 1KiB; 0 for no limit), not '${value}'`,
      );
    }
  });

  it('the help lists both options', async () => {
    const r = await cli('run', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--limit-down RATE/);
    expect(r.out).toMatch(/--limit-up RATE/);
  });

  it('run --limit-down 1MiB: 3 MiB from a local seeder take 3 s; the JSON lines carry the limits', async () => {
    seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
    await (
      await seeder.add(torrentPath, { dir: join(dir, 'src') })
    ).completed;
    const out = join(dir, 'out');
    const r = await runBtActor(
      [
        torrentPath,
        '--out',
        out,
        '--peer',
        `127.0.0.1:${seeder.port}`,
        '--port',
        String(await freePort()),
        '--limit-down',
        '1MiB',
        '--limit-up',
        '64KiB',
      ],
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const listening = r.lines.find((l) => l.event === 'listening')!;
    expect(listening.limits).toEqual({ down: MiB, up: 64 * 1024 });
    const progress = r.lines.find((l) => l.event === 'progress');
    expect(progress?.limits).toEqual({ down: MiB, up: 64 * 1024 });
    const at = (l: Record<string, unknown>) => Date.parse(String(l.time));
    const done = r.lines.find((l) => l.event === 'done')!;
    const seconds = (at(done) - at(listening)) / 1000;
    expect(seconds).toBeGreaterThan(3 * 0.9);
    expect(seconds).toBeLessThan(3 * 1.25);
    expect(Buffer.from(await readFile(join(out, 'three.bin'))).equals(data)).toBe(true);
  }, 60_000);

  it('on a terminal the first line names the limits', async () => {
    const err: string[] = [];
    const code = await main(
      [
        'run',
        torrentPath,
        '--out',
        join(dir, 'out-tty'),
        '--peer',
        `127.0.0.1:${seeder!.port}`,
        '--port',
        String(await freePort()),
        '--no-dht',
        '--limit-up',
        '64KiB',
      ],
      { out: () => undefined, err: (l) => err.push(l), tty: () => undefined },
    );
    expect(code).toBe(0);
    expect(err[0]).toMatch(/; accepting peers on port \d+; limits: 64\.0 KiB\/s up$/);
  }, 60_000);
});
