/**
 * `bt-actor run`'s DHT options: `--dht-bootstrap` (checked), `--no-dht`, `--state-dir`, `--no-pex`; the
 * `dht` JSON lines; `BT_ACTOR_NO_DHT=1` (set for the whole test suite) turning the DHT off unless
 * `--dht-bootstrap` is given. Every DHT here is bootstrapped from 127.0.0.1.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { DhtNode } from '../../src/app/dht-node.js';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { writeRandom } from '../support/data.js';
import { freePort } from '../support/proc.js';

let work: string;
let torrent: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-dht-cli-'));
  await writeRandom(join(work, 'src', 'data.bin'), 1024 * 1024);
  const made = await createTorrent(join(work, 'src', 'data.bin'), { creationDate: null, announce: [] });
  torrent = join(work, 'data.torrent');
  await writeFile(torrent, made.torrent);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  const json = () => out.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, out, err, json };
}

describe('run: DHT options', () => {
  it('refuses a --dht-bootstrap that is not HOST:PORT, and --no-dht with --dht-bootstrap or --state-dir', async () => {
    const cases: [string[], string][] = [
      [['--dht-bootstrap', 'router'], 'bt-actor run: --dht-bootstrap router: not HOST:PORT'],
      [['--dht-bootstrap', '127.0.0.1:0'], 'bt-actor run: --dht-bootstrap 127.0.0.1:0: not HOST:PORT'],
      [
        ['--no-dht', '--dht-bootstrap', '127.0.0.1:6881'],
        'bt-actor run: --no-dht and --dht-bootstrap cannot go together',
      ],
      [['--no-dht', '--state-dir', work], 'bt-actor run: --state-dir goes with the DHT, not with --no-dht'],
    ];
    for (const [args, line] of cases) {
      const r = await cli('run', torrent, '--out', join(work, 'never'), ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err[0]).toContain(line);
    }
    const help = await cli('run', '--help');
    for (const o of ['--dht-bootstrap HOST:PORT', '--no-dht', '--state-dir DIR', '--no-pex', 'router.bittorrent.com'])
      expect(help.out.join('\n')).toContain(o);
  });

  it('with --dht-bootstrap the node starts (dht JSON lines) and saves its table in --state-dir; without, it is off here', async () => {
    expect(process.env.BT_ACTOR_NO_DHT).toBe('1'); // the suite's setting (vitest.config.ts)
    const seeder = await Engine.create({ port: 0, host: '127.0.0.1', dht: false });
    await seeder.add(torrent, { dir: join(work, 'src') });
    const boot = new DhtNode({ port: 0, host: '127.0.0.1', bootstrap: [], stateDir: join(work, 'boot') });
    const bootPort = new Promise<number>((resolve) =>
      boot.events$.subscribe((e) => e.type === 'dht.started' && resolve(e.port)),
    );
    await boot.add(new Uint8Array(20).fill(3));
    try {
      const state = join(work, 'state');
      const on = await cli(
        'run',
        torrent,
        '--out',
        join(work, 'out-on'),
        '--peer',
        `127.0.0.1:${seeder.port}`,
        '--port',
        String(await freePort(true)),
        '--bind',
        '127.0.0.1',
        '--dht-bootstrap',
        `127.0.0.1:${await bootPort}`,
        '--state-dir',
        state,
        '--no-pex',
        '--json',
      );
      expect(on.code, on.err.join('\n')).toBe(0);
      const dht = on.json().filter((l) => l.event === 'dht');
      expect(dht[0]).toMatchObject({ type: 'started', routers: [{ host: '127.0.0.1', port: await bootPort }] });
      expect(JSON.parse(await readFile(join(state, 'dht.json'), 'utf8'))).toMatchObject({ v: 1 });

      const offState = join(work, 'state-off');
      const off = await cli(
        'run',
        torrent,
        '--out',
        join(work, 'out-off'),
        '--peer',
        `127.0.0.1:${seeder.port}`,
        '--port',
        String(await freePort(true)),
        '--bind',
        '127.0.0.1',
        '--state-dir',
        offState,
        '--json',
      );
      expect(off.code, off.err.join('\n')).toBe(0);
      expect(off.json().filter((l) => l.event === 'dht')).toEqual([]);
      await expect(stat(offState)).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await seeder.close();
      await boot.close();
    }
  }, 60_000);
});
