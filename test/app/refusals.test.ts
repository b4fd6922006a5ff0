/**
 * Refusals that explain (issue 14): bad input to `bt-actor run` / `info` is one line on stderr
 * (`bt-actor…: …` naming the cause), exit 2, no stack trace, and nothing started — no listening line,
 * no announce. Each case runs the installed bin as a child process. Also the download-folder lock:
 * a second bt-actor on the same folder and torrent is refused while the first runs, a stale lock is
 * taken over, and the library's `Engine.add` refuses with `BT_ERR_LOCKED`.
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { Engine } from '../../src/app/engine.js';
import { lockPath } from '../../src/io/lock.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';
import { freePort, jsonLines, startProcess, stopAll, type Proc } from '../support/proc.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
let dir: string;
let torrent: string;
let meta: Metainfo;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-refusals-'));
  // No tracker and no data anywhere: a run of it waits for peers until stopped.
  const bytes = encodeTorrent({
    name: 'nowhere.bin',
    multiFile: false,
    files: [{ path: ['nowhere.bin'], length: 1 << 20 }],
    pieceLength: 1 << 18,
    pieces: new Uint8Array(80),
    announce: [],
  });
  torrent = join(dir, 'nowhere.torrent');
  await writeFile(torrent, bytes);
  meta = parseMetainfo(bytes);
  await writeFile(join(dir, 'a-file'), 'not a folder');
});
afterEach(() => stopAll());
afterAll(() => rm(dir, { recursive: true, force: true }));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bin to its end (bounded), never throwing for a non-zero exit. */
function bt(...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

/** Exit 2, exactly one line on stderr matching `pattern`, no stack frame, nothing on stdout. */
function expectRefusal(r: Result, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^bt-actor( \w+)?: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/internal error/);
  expect(r.stdout).toBe(''); // not even the `listening` line
}

describe('refusals: one line, exit 2, nothing started', () => {
  it('--bind an address not on this machine (EADDRNOTAVAIL)', async () => {
    const r = await bt('run', torrent, '--out', join(dir, 'b1'), '--bind', '10.9.9.9', '--json');
    expectRefusal(r, /cannot listen on 10\.9\.9\.9: not an address of this machine \(--bind\)/);
  });

  it('--bind something that is not an IP address (never looked up)', async () => {
    for (const bad of ['1.2.3.999', 'nonsense', '[::1']) {
      const r = await bt('run', torrent, '--out', join(dir, 'b2'), '--bind', bad, '--json');
      expectRefusal(r, new RegExp(`--bind '${bad.replace(/[.[]/g, '\\$&')}' is not an IP address`));
    }
  });

  it('--port N in use: refused naming the port, never moved to another', async () => {
    const port = await freePort();
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
    try {
      const r = await bt('run', torrent, '--out', join(dir, 'p1'), '--bind', '127.0.0.1', '--port', String(port));
      expectRefusal(r, new RegExp(`^bt-actor: port ${port} is in use \\(127\\.0\\.0\\.1:${port}\\)$`));
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('--out a regular file, or a folder under a regular file', async () => {
    const file = join(dir, 'a-file');
    expectRefusal(
      await bt('run', torrent, '--out', file, '--json'),
      /^bt-actor run: --out .*a-file is a file, not a folder$/,
    );
    expectRefusal(
      await bt('run', torrent, '--out', join(file, 'sub', 'deeper'), '--json'),
      /^bt-actor run: cannot create .*a-file\/sub\/deeper: .*a-file is a file$/,
    );
    expect(await readFile(file, 'utf8')).toBe('not a folder');
  });

  it('info or run on a folder: "is a folder, not a .torrent file" (not EISDIR)', async () => {
    for (const cmd of ['info', 'run']) {
      expectRefusal(await bt(cmd, dir), /^bt-actor: .* is a folder, not a \.torrent file$/);
    }
  });

  it('a malformed magnet link (run), or a URL (run and info)', async () => {
    expectRefusal(
      await bt('run', 'magnet:?xt=urn:btih:c12f&dn=x'),
      /^bt-actor: magnet link: .*\[BT_ERR_MAGNET_HASH\]$/,
    );
    for (const cmd of ['info', 'run']) {
      for (const url of ['https://example.org/x.torrent', 'http://127.0.0.1:1/x.torrent'])
        expectRefusal(await bt(cmd, url), /give the path of a \.torrent file, not a URL/);
    }
  });

  it('the data given instead of its .torrent (3 GiB, sparse): refused by its size, not read', async () => {
    const iso = join(dir, 'data.iso');
    const fh = await open(iso, 'w');
    await fh.truncate(3 * 1024 ** 3);
    await fh.close();
    const tooLarge =
      /larger than any \.torrent file \(at most 104857600\): the data rather than its \.torrent\? \[BT_ERR_METAINFO_LENGTH\]$/;
    for (const cmd of ['info', 'run']) expectRefusal(await bt(cmd, iso), tooLarge);
    // The library: Engine.add of the path refuses it with the same typed error.
    const engine = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      await expect(engine.add(iso, { dir: join(dir, 'never') })).rejects.toMatchObject({
        name: 'MetainfoError',
        code: 'BT_ERR_METAINFO_LENGTH',
      });
    } finally {
      await engine.close();
      await rm(iso);
    }
  });

  it('a missing torrent file says so in words', async () => {
    expectRefusal(await bt('info', join(dir, 'nope.torrent')), /^bt-actor: .*nope\.torrent: no such file$/);
  });
});

/** Starts `bt-actor run` of the torrent in `out` (JSON lines); resolves once it listens. */
async function startRun(
  out: string,
  ...extra: string[]
): Promise<{ proc: Proc; stderr: () => string; lines: Record<string, unknown>[] }> {
  const proc = startProcess(process.execPath, [
    BIN,
    'run',
    torrent,
    '--out',
    out,
    '--bind',
    '127.0.0.1',
    '--json',
    ...extra,
  ]);
  let stderr = '';
  proc.child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = jsonLines(proc.child.stdout!);
  const deadline = Date.now() + 20_000;
  while (!lines.some((l) => l.event === 'listening')) {
    if (proc.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`bt-actor run did not start (${proc.child.exitCode}): ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { proc, stderr: () => stderr, lines };
}

function exited(proc: Proc): Promise<number | null> {
  if (proc.child.exitCode !== null) return Promise.resolve(proc.child.exitCode);
  return new Promise((r) => proc.child.once('exit', (code) => r(code)));
}

describe('the download-folder lock', () => {
  it('a second run on the same folder and torrent is refused naming the first one’s pid; SIGTERM releases it', async () => {
    const out = join(dir, 'shared');
    const first = await startRun(out);
    const lock = lockPath(out, meta.infoHashHex);
    expect(await readFile(lock, 'utf8')).toBe(`${first.proc.pid}\n`);

    const second = await bt('run', torrent, '--out', out, '--bind', '127.0.0.1', '--json');
    expectRefusal(
      second,
      new RegExp(
        `is in use for this torrent by another bt-actor \\(pid ${first.proc.pid}\\); if no such process runs, remove .*\\.lock$`,
      ),
    );
    // The same refusal through the library: a stable code, the pid.
    const engine = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      await expect(engine.add(meta, { dir: out, paused: true })).rejects.toMatchObject({
        code: 'BT_ERR_LOCKED',
        pid: first.proc.pid,
      });
      expect(engine.torrents).toHaveLength(0);
    } finally {
      await engine.close();
    }

    // SIGTERM: a clean stop that says so (not "press Ctrl-C"), and the lock is gone.
    process.kill(first.proc.pid, 'SIGTERM');
    expect(await exited(first.proc)).toBe(1); // stopped before completion
    expect(first.stderr()).toMatch(/^bt-actor: SIGTERM: stopping cleanly/m);
    expect(first.stderr()).not.toMatch(/Ctrl-C/);
    expect(existsSync(lock)).toBe(false);
  }, 30_000);

  it('a stale lock (its pid is not running) is taken over; the lock is removed at exit', async () => {
    const out = join(dir, 'stale');
    const lock = lockPath(out, meta.infoHashHex);
    await mkdir(join(out, '.bt-actor'), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid; // a pid that has exited
    await writeFile(lock, `${dead}\n`);
    const run = await startRun(out);
    expect(await readFile(lock, 'utf8')).toBe(`${run.proc.pid}\n`);
    process.kill(run.proc.pid, 'SIGTERM');
    expect(await exited(run.proc)).toBe(1);
    expect(existsSync(lock)).toBe(false);
  }, 30_000);

  it('engines of one process share a folder’s lock (the demo’s seeders); the last one out removes it', async () => {
    const out = join(dir, 'in-process');
    const a = await Engine.create({ port: 0, host: '127.0.0.1' });
    const b = await Engine.create({ port: 0, host: '127.0.0.1' });
    try {
      await a.add(meta, { dir: out, paused: true });
      await b.add(meta, { dir: out, paused: true });
      const lock = lockPath(out, meta.infoHashHex);
      expect(await readFile(lock, 'utf8')).toBe(`${process.pid}\n`);
      await a.close();
      expect(existsSync(lock)).toBe(true);
      await b.close();
      expect(existsSync(lock)).toBe(false);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('the default port', () => {
  it('without --port, 6881 in use moves to the next free port and says so', async () => {
    // 6881 held (by us, or already by someone else: either way in use on 127.0.0.1).
    const server: Server = createServer();
    await new Promise<void>((r) => {
      server.once('error', () => r());
      server.listen(6881, '127.0.0.1', () => r());
    });
    try {
      const run = await startRun(join(dir, 'moved'));
      const listening = run.lines.find((l) => l.event === 'listening')!;
      expect(listening.port).not.toBe(6881);
      expect(listening.portInUse).toBe(6881);
      process.kill(run.proc.pid, 'SIGTERM');
      expect(await exited(run.proc)).toBe(1);

      // The text display (a terminal) says it on its first line.
      const err: string[] = [];
      const ac = new AbortController();
      const code = main(['run', torrent, '--out', join(dir, 'moved-text'), '--bind', '127.0.0.1'], {
        out: () => undefined,
        err: (l) => err.push(l),
        tty: () => undefined,
        signal: ac.signal,
      });
      const deadline = Date.now() + 10_000;
      while (err.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      ac.abort();
      expect(await code).toBe(1);
      expect(err[0]).toMatch(
        /^bt-actor: nowhere\.bin \([0-9a-f]{40}\); accepting peers on port \d+ \(port 6881 is in use\)$/,
      );
      expect(err[0]).not.toMatch(/port 6881 \(/);
    } finally {
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
    }
  }, 30_000);
});
