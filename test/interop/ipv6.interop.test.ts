/**
 * bt-actor and libtorrent over IPv6, inside a private network namespace with only `lo` (helpers/netns.ts),
 * so bt-actor's default listener (`::`, every interface) reaches nothing but the loopback addresses:
 *
 * (a) a libtorrent seeder listening on [::1] only; bt-actor `--bind ::1 --peer [::1]:P` downloads from it,
 *     byte-identical;
 * (b) a bt-actor seeder with no --bind (dual-stack `::`): a libtorrent leecher on [::1] and one on 127.0.0.1
 *     both download from it, byte-identical, and bt-actor names them `[::1]:…` and `127.0.0.1:…` (an IPv4
 *     peer on the dual-stack socket is IPv4, not `::ffff:127.0.0.1`).
 *
 * No tracker, no DHT. Every process is stopped by PID, the namespace's holder too.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTorrent } from '../../src/io/create-torrent.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { expectSameData, writeRandom } from '../support/data.js';
import { stopAll } from '../support/proc.js';
import { netns, waitFor, type Netns, type NsProc } from './helpers/netns.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const HELPERS = join(import.meta.dirname, 'helpers');
const PY = '/usr/bin/python3';
let work: string;
let torrent: string;
let meta: Metainfo;
let ns: Netns | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-ipv6-interop-'));
  await writeRandom(join(work, 'src', 'payload.bin'), 16 * 1024 * 1024 + 12_345);
  const made = await createTorrent(join(work, 'src', 'payload.bin'), { creationDate: null, pieceLength: 256 * 1024 });
  torrent = join(work, 'payload.torrent');
  await writeFile(torrent, made.torrent);
  meta = parseMetainfo(made.torrent);
});
afterEach(async () => {
  await stopAll();
  await ns?.stop();
  ns = undefined;
});
afterAll(async () => {
  await stopAll();
  if (work) await rm(work, { recursive: true, force: true });
});

/** `bt-actor run … --no-dht --json` inside the namespace. */
const btActor = (n: Netns, args: string[]): NsProc =>
  n.start(process.execPath, [BIN, 'run', torrent, ...args, '--no-dht', '--json']);

/** Waits for `p` to exit (stopped after `ms`); its exit code. */
async function exitOf(p: NsProc, ms: number): Promise<number | null> {
  const timer = setTimeout(() => void p.stop(), ms);
  const code = await p.exited;
  clearTimeout(timer);
  return code;
}

describe('IPv6 with libtorrent (inside a network namespace with only lo)', () => {
  it('(a) bt-actor --bind ::1 --peer [::1]:P downloads from a libtorrent seeder listening on [::1] only', async () => {
    ns = await netns();
    const ready = join(work, 'lt-ready-a');
    const seeder = ns.start(PY, [
      join(HELPERS, 'lt_seed.py'),
      torrent,
      join(work, 'src'),
      '7001',
      '--host',
      '::1',
      '--ready',
      ready,
    ]);
    await waitFor(() => existsSync(ready), 60_000, 'the libtorrent seeder');
    // libtorrent listens on ::1 only: nothing answers on 127.0.0.1.
    const sockets = ns.exec('ss', ['-Hltn', 'sport = :7001']);
    expect(sockets).toMatch(/\[::1\]/);
    expect(sockets).not.toMatch(/127\.0\.0\.1|\*:7001|\[::\]:7001/);
    const out = join(work, 'out-a');
    const bt = btActor(ns, ['--out', out, '--bind', '::1', '--port', '7002', '--peer', '[::1]:7001']);
    const code = await exitOf(bt, 90_000);
    expect(code, bt.output()).toBe(0);
    await expectSameData(meta, join(work, 'src'), out);
    expect(bt.lines[0]).toMatchObject({ event: 'listening', host: '::1', port: 7002 });
    expect(bt.lines).toContainEqual(expect.objectContaining({ event: 'peer-connected', key: '[::1]:7001' }));
    expect(bt.lines.at(-1)).toMatchObject({ event: 'done', complete: true, downloaded: meta.length });
    await seeder.stop();
  }, 150_000);

  it('(b) a bt-actor seeder on the default address serves libtorrent on [::1] and on 127.0.0.1', async () => {
    ns = await netns();
    const seed = btActor(ns, ['--out', join(work, 'src'), '--seed']);
    await waitFor(() => seed.lines.some((l) => l.event === 'complete'), 60_000, 'bt-actor seeding');
    expect(seed.lines[0]).toMatchObject({ event: 'listening', host: '::', port: 6881 });
    const leech = (host: string, port: number, out: string) =>
      ns!.start(PY, [
        join(HELPERS, 'lt_leech.py'),
        torrent,
        out,
        String(port),
        '--host',
        host,
        '--peer',
        '6881',
        '--timeout',
        '90',
      ]);
    const v6 = leech('::1', 7003, join(work, 'out-b6'));
    const v4 = leech('127.0.0.1', 7004, join(work, 'out-b4'));
    expect(await exitOf(v6, 100_000), v6.output()).toBe(0);
    expect(await exitOf(v4, 100_000), v4.output()).toBe(0);
    await expectSameData(meta, join(work, 'src'), join(work, 'out-b6'));
    await expectSameData(meta, join(work, 'src'), join(work, 'out-b4'));
    // Each leecher reached the seeder in its own family.
    expect(v6.output()).toContain('peers: [::1]:6881');
    expect(v4.output()).toContain('peers: 127.0.0.1:6881');
    await seed.stop();
    expect(await seed.exited).toBe(0);
    const keys = seed.lines.filter((l) => l.event === 'peer-connected').map((l) => l.key as string);
    expect(keys.filter((k) => k.startsWith('[::1]:'))).toHaveLength(1);
    expect(keys.filter((k) => k.startsWith('127.0.0.1:'))).toHaveLength(1);
    expect(keys.some((k) => k.includes('ffff'))).toBe(false);
    expect(seed.lines.at(-1)!.uploaded as number).toBeGreaterThanOrEqual(2 * meta.length);
  }, 200_000);
});
