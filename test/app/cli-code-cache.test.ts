/**
 * bin/bt-actor.js from an install of its own (a copy of bin/, the built dist/app files it loads and
 * package.json, at a path with a space in it): `--version`, `info` and `run` work, the V8 code cache is
 * written beside the bundle after a first run and used by the next, a corrupt cache is ignored and
 * written again, and a read-only install works with no cache, no error and nothing written in the
 * current directory (src/app/code-cache.ts, docs/performance.md).
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { encodeAnnounceResponse } from '../../src/protocol/tracker-http.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let dir: string;
let install: string;
let torrent: string;
let server: Server;
const announces: string[] = [];

/** The launcher's environment: no cache switch, and a per-user cache folder inside the test's folder. */
const env = () => ({ ...process.env, BT_ACTOR_NO_CODE_CACHE: '', XDG_CACHE_HOME: join(dir, 'xdg') });
const bin = () => join(install, 'bin/bt-actor.js');
const cacheOf = (label: string) => join(install, 'dist/app', `cli.bundle.js.${label}.v8cache`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-cli-cache-'));
  install = join(dir, 'a fresh clone');
  await mkdir(join(install, 'dist/app'), { recursive: true });
  await cp(join(ROOT, 'bin'), join(install, 'bin'), { recursive: true });
  await cp(join(ROOT, 'package.json'), join(install, 'package.json'));
  for (const f of ['cli.bundle.js', 'code-cache.cjs'])
    await cp(join(ROOT, 'dist/app', f), join(install, 'dist/app', f));

  server = createServer((req, res) => {
    announces.push(req.url ?? '');
    res.end(Buffer.from(encodeAnnounceResponse({ type: 'success', interval: 1800, peers: [] })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  torrent = join(dir, 't.torrent');
  await writeFile(
    torrent,
    encodeTorrent({
      name: 'cached.bin',
      multiFile: false,
      files: [{ path: ['cached.bin'], length: 1 << 20 }],
      pieceLength: 1 << 18,
      pieces: new Uint8Array(80),
      announce: [[`http://127.0.0.1:${(server.address() as { port: number }).port}/announce`]],
    }),
  );
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await chmod(install, 0o755).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

describe('bt-actor from an install of its own, with its code cache', () => {
  it('--version: writes the cache at the first run, uses it at the second, rewrites a corrupt one', async () => {
    const first = await run(process.execPath, [bin(), '--version'], { env: env() });
    expect(first.stdout.trim()).toBe(`bt-actor ${VERSION}`);
    expect(first.stderr).toBe('');
    const written = await stat(cacheOf('other'));
    expect((await readFile(cacheOf('other'))).subarray(0, 8).toString('latin1')).toBe('BTV8CC01');

    const second = await run(process.execPath, [bin(), '-V'], { env: env() });
    expect(second.stdout.trim()).toBe(`bt-actor ${VERSION}`);
    expect(second.stderr).toBe('');
    // Used, not written again (a write renames a new file into place).
    expect((await stat(cacheOf('other'))).ino).toBe(written.ino);

    await writeFile(cacheOf('other'), Buffer.alloc(written.size, 0x41));
    const third = await run(process.execPath, [bin(), '--version'], { env: env() });
    expect(third.stdout.trim()).toBe(`bt-actor ${VERSION}`);
    expect(third.stderr).toBe('');
    expect((await readFile(cacheOf('other'))).subarray(0, 8).toString('latin1')).toBe('BTV8CC01');
    // Nothing left in the per-user folder: the install's own folder was writable.
    await expect(readdir(join(dir, 'xdg'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('info: the same output with and without its cache', async () => {
    const args = [bin(), 'info', torrent, '--json'];
    const first = await run(process.execPath, args, { env: env() });
    expect(JSON.parse(first.stdout)).toMatchObject({ name: 'cached.bin', length: 1 << 20 });
    const cached = await stat(cacheOf('info'));
    const second = await run(process.execPath, args, { env: env() });
    expect(second.stdout).toBe(first.stdout);
    expect(second.stderr).toBe('');
    expect((await stat(cacheOf('info'))).ino).toBe(cached.ino);
  });

  it('run: announces to the tracker, stops on SIGTERM; the next run uses the cache it wrote', async () => {
    for (const round of [1, 2]) {
      const before = announces.length;
      const child = spawn(
        process.execPath,
        [bin(), 'run', torrent, '--out', join(dir, 'out'), '--bind', '127.0.0.1', '--no-dht', '--json'],
        { env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        const deadline = Date.now() + 20_000;
        while (!announces.slice(before).some((u) => u.includes('event=started')) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 20));
        }
        expect(announces.slice(before).some((u) => u.includes('event=started'))).toBe(true);
        const cache = await stat(cacheOf('run')).catch(() => undefined);
        child.kill('SIGTERM');
        expect(await exited).not.toBeNull();
        expect(err).not.toMatch(/internal error|Error:|Warning/);
        if (round === 1)
          await stat(cacheOf('run')); // written by now (1 s after start, or at exit)
        // Round 2 started with that cache: it was used, not written again.
        else expect((await stat(cacheOf('run'))).ino).toBe(cache!.ino);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      }
    }
  });

  it('a read-only install: works, with no cache, no error and nothing written in the current directory', async () => {
    await rm(join(install, 'dist/app', 'cli.bundle.js.other.v8cache'), { force: true });
    const cwd = await mkdtemp(join(tmpdir(), 'bt-actor-cwd-'));
    try {
      // The per-user folder is inside the read-only tree too, and HOME points into it.
      const roEnv = { ...env(), XDG_CACHE_HOME: join(install, 'xdg'), HOME: install };
      let result: { stdout: string; stderr: string };
      if (process.getuid?.() === 0) {
        // Root writes through permission bits: make the install a read-only mount in a namespace of its own.
        const script = 'mount --bind -o ro "$1" "$1" && cd "$2" && exec "$3" "$1/bin/bt-actor.js" --version';
        result = await run(
          'unshare',
          ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', install, cwd, process.execPath],
          { env: roEnv },
        );
      } else {
        await chmod(join(install, 'dist/app'), 0o555);
        await chmod(install, 0o555);
        try {
          result = await run(process.execPath, [bin(), '--version'], { env: roEnv, cwd });
        } finally {
          await chmod(install, 0o755);
          await chmod(join(install, 'dist/app'), 0o755);
        }
      }
      expect(result.stdout.trim()).toBe(`bt-actor ${VERSION}`);
      expect(result.stderr).toBe('');
      expect(await readdir(cwd)).toEqual([]);
      expect((await readdir(join(install, 'dist/app'))).sort()).not.toContain('cli.bundle.js.other.v8cache');
      await expect(readdir(join(install, 'xdg'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });

  it('a read-only install folder with a writable per-user cache folder: the cache goes there', async () => {
    await rm(join(install, 'dist/app', 'cli.bundle.js.other.v8cache'), { force: true });
    const xdg = join(dir, 'xdg-user');
    const userEnv = { ...env(), XDG_CACHE_HOME: xdg };
    const version = async () => {
      if (process.getuid?.() === 0) {
        const script = 'mount --bind -o ro "$1/dist" "$1/dist" && exec "$2" "$1/bin/bt-actor.js" --version';
        return run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', install, process.execPath], {
          env: userEnv,
        });
      }
      await chmod(join(install, 'dist/app'), 0o555);
      try {
        return await run(process.execPath, [bin(), '--version'], { env: userEnv });
      } finally {
        await chmod(join(install, 'dist/app'), 0o755);
      }
    };
    const first = await version();
    expect(first.stdout.trim()).toBe(`bt-actor ${VERSION}`);
    expect(first.stderr).toBe('');
    const files = await readdir(join(xdg, 'bt-actor'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^cli\.bundle\.js\.[0-9a-f]{16}\.other\.v8cache$/);
    const cached = await stat(join(xdg, 'bt-actor', files[0]!));
    expect((await version()).stdout.trim()).toBe(`bt-actor ${VERSION}`);
    expect((await stat(join(xdg, 'bt-actor', files[0]!))).ino).toBe(cached.ino);
  });
});
