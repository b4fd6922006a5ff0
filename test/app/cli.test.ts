import { existsSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/app/cli.js';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n'), errLines: err };
}

/** A 12-byte torrent with a duplicate path and a `..` path (laid out as `foo/bar.1.txt` and `_/_/etc/passwd`). */
async function awkwardTorrent(file: string, pieces: Uint8Array): Promise<string> {
  const path = join(dir, file);
  const files = [
    { length: 3, path: ['foo', 'bar.txt'] },
    { length: 4, path: ['foo', 'bar.txt'] },
    { length: 5, path: ['..', '..', 'etc', 'passwd'] },
  ];
  await writeFile(path, encodeBencode({ info: { name: 'temp', 'piece length': 16384, files, pieces } }));
  return path;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-cli-'));
  await mkdir(join(dir, 'data', 'sub'), { recursive: true });
  await writeFile(join(dir, 'data', 'a.txt'), 'hello world\n'.repeat(5000));
  await writeFile(join(dir, 'data', 'sub', 'ü.bin'), Buffer.alloc(70_000, 7));
  await writeFile(join(dir, 'data', 'zero'), '');
  await writeFile(join(dir, 'one.bin'), Buffer.alloc(100_000, 1));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('bt-actor create / info', () => {
  it('creates a multi-file torrent that info reads back as JSON', async () => {
    const out = join(dir, 'data.torrent');
    const created = await cli(
      'create',
      join(dir, 'data'),
      '-a',
      'http://127.0.0.1:6969/announce',
      '-a',
      'udp://127.0.0.1:6969',
      '-o',
      out,
      '--piece-length',
      '16K',
      '--private',
    );
    expect(created.code).toBe(0);
    const info = await cli('info', '--json', out);
    expect(info.code).toBe(0);
    const json = JSON.parse(info.out);
    expect(json).toMatchObject({
      name: 'data',
      length: 60_000 + 70_000,
      pieceLength: 16384,
      pieceCount: Math.ceil(130_000 / 16384),
      files: [
        { path: 'a.txt', length: 60_000 },
        { path: 'sub/ü.bin', length: 70_000 },
        { path: 'zero', length: 0 },
      ],
      announce: [['http://127.0.0.1:6969/announce'], ['udp://127.0.0.1:6969']],
      private: true,
    });
    expect(json.infoHash).toBe(parseMetainfo(await readFile(out)).infoHashHex);
    expect(json.infoHash).toMatch(/^[0-9a-f]{40}$/);
  });

  it('creates a single-file torrent; the human output lists name, hash, size, pieces, files and trackers', async () => {
    const out = join(dir, 'one.torrent');
    expect((await cli('create', join(dir, 'one.bin'), '-a', 'http://t/announce', '-o', out, '--no-date')).code).toBe(0);
    const info = await cli('info', out);
    expect(info.code).toBe(0);
    const meta = parseMetainfo(await readFile(out));
    expect(info.out).toContain(`name:          one.bin`);
    expect(info.out).toContain(`info hash:     ${meta.infoHashHex}`);
    expect(info.out).toContain('(100000 bytes)');
    expect(info.out).toContain(`pieces:        ${meta.pieceCount} ×`);
    expect(info.out).toContain('one.bin');
    expect(info.out).toContain('tier 1: http://t/announce');
    expect(meta.creationDate).toBeUndefined();
  });

  it('a broken torrent gives one line naming the problem and exit code 2', async () => {
    const bad = join(dir, 'bad.torrent');
    await writeFile(
      bad,
      encodeBencode({ info: { name: 'x', 'piece length': 16384, length: 10, pieces: new Uint8Array(33) } }),
    );
    const r = await cli('info', bad);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.errLines).toHaveLength(1);
    expect(r.err).toMatch(/info\.pieces: length 33 is not a multiple of 20/);
  });

  it('a torrent with twin info dictionaries (info and BOM+info) is refused with exit 2, naming the key', async () => {
    const a = encodeBencode({ name: 'a', 'piece length': 16384, length: 10, pieces: new Uint8Array(20) });
    const b = encodeBencode({ name: 'b', 'piece length': 16384, length: 20, pieces: new Uint8Array(40) });
    const twin = join(dir, 'twin.torrent');
    await writeFile(
      twin,
      Buffer.concat([
        Buffer.from('d4:info'),
        a,
        Buffer.from('7:'),
        Buffer.from([0xef, 0xbb, 0xbf]),
        Buffer.from('info'),
        b,
        Buffer.from('e'),
      ]),
    );
    const r = await cli('info', twin);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.errLines).toHaveLength(1);
    expect(r.err).toMatch(/key 'info' appears twice/);
  });

  it('info escapes terminal controls in names, comments and paths (no ESC]0; window retitle, no bidi tricks)', async () => {
    const evil = join(dir, 'evil.torrent');
    const name = 'x\u001b]0;pwned\u0007\u202egpj.exe';
    await writeFile(
      evil,
      encodeBencode({
        comment: 'see \u009b31m red',
        info: {
          name,
          'piece length': 16384,
          files: [{ length: 10, path: ['a\u001b[2Jb'] }],
          pieces: new Uint8Array(20),
        },
      }),
    );
    const r = await cli('info', evil);
    expect(r.code).toBe(0);
    // eslint-disable-next-line no-control-regex
    expect(r.out + r.err).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    // Names and paths are sanitized (controls become _, the direction override goes); the warnings show
    // the torrent's own names, escaped.
    expect(r.out).toContain('name:          x_]0;pwned_gpj.exe');
    expect(r.out).toContain('comment:       see \\u009b31m red');
    expect(r.out).toContain('x_]0;pwned_gpj.exe/a_[2Jb');
    expect(r.errLines).toEqual([
      "bt-actor: warning: info.name 'x\\u001b]0;pwned\\u0007\\u202egpj.exe' is laid out as 'x_]0;pwned_gpj.exe' (control character, invisible character)",
      "bt-actor: warning: info.files[0].path 'a\\u001b[2Jb' is laid out as 'a_[2Jb' (control character)",
    ]);
    const j = await cli('info', evil, '--json');
    const json = JSON.parse(j.out);
    expect(json.name).toBe('x_]0;pwned_gpj.exe');
    expect(json.originalName).toBe(name); // JSON keeps the exact name, escaped as JSON
    expect(json.files).toEqual([{ path: 'a_[2Jb', length: 10, originalPath: 'a\u001b[2Jb' }]);
    expect(json.pathChanges.map((c: { field: string }) => c.field)).toEqual(['info.name', 'info.files[0].path']);
  });

  it('info lists the sanitized layout of awkward paths, one warning line per change', async () => {
    const awkward = await awkwardTorrent('awkward.torrent', new Uint8Array(20));
    const r = await cli('info', awkward);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/files \(3\):\n.*temp\/foo\/bar\.txt\n.*temp\/foo\/bar\.1\.txt\n.*temp\/_\/_\/etc\/passwd/);
    expect(r.errLines).toEqual([
      "bt-actor: warning: info.files[1].path 'foo/bar.txt' is laid out as 'foo/bar.1.txt' (duplicate path)",
      "bt-actor: warning: info.files[2].path '../../etc/passwd' is laid out as '_/_/etc/passwd' (dot name)",
    ]);
  });

  it('run warns of each renamed path too, and checks the data where the sanitized layout puts it', async () => {
    const data = Buffer.from('abcdefghijkl'); // 3 + 4 + 5 bytes, one piece
    const awkward = await awkwardTorrent('awkward-run.torrent', createHash('sha1').update(data).digest());
    const out = join(dir, 'awkward-out');
    await mkdir(join(out, 'temp', 'foo'), { recursive: true });
    await mkdir(join(out, 'temp', '_', '_', 'etc'), { recursive: true });
    await writeFile(join(out, 'temp', 'foo', 'bar.txt'), data.subarray(0, 3));
    await writeFile(join(out, 'temp', 'foo', 'bar.1.txt'), data.subarray(3, 7));
    await writeFile(join(out, 'temp', '_', '_', 'etc', 'passwd'), data.subarray(7));
    const r = await cli('run', awkward, '--out', out, '--bind', '127.0.0.1', '--json');
    expect(r.code, r.err).toBe(0);
    expect(r.errLines.slice(0, 2)).toEqual([
      "bt-actor: warning: info.files[1].path 'foo/bar.txt' is laid out as 'foo/bar.1.txt' (duplicate path)",
      "bt-actor: warning: info.files[2].path '../../etc/passwd' is laid out as '_/_/etc/passwd' (dot name)",
    ]);
    expect(r.out).toContain('"event":"complete"');
    // -q: no warnings.
    const q = await cli('run', awkward, '--out', out, '--bind', '127.0.0.1', '--json', '-q');
    expect(q.code, q.err).toBe(0);
    expect(q.errLines.filter((l) => l.includes('warning'))).toEqual([]);
  });

  it('a missing file, garbage and bad arguments exit 2', async () => {
    expect((await cli('info', join(dir, 'nope.torrent'))).code).toBe(2);
    await writeFile(join(dir, 'garbage.torrent'), 'not a torrent at all');
    const g = await cli('info', join(dir, 'garbage.torrent'));
    expect(g.code).toBe(2);
    expect(g.err).toMatch(/not valid bencode/);
    expect((await cli('info')).code).toBe(2);
    expect((await cli('info', '--bogus', 'x')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('create', join(dir, 'data'), '--piece-length', 'huge')).code).toBe(2);
    expect((await cli('create', join(dir, 'nothing-here'))).code).toBe(2);
  });

  it('run: bad input exits 2 (invalid torrent, a folder that is a file, bad --peer, bad --port)', async () => {
    const bad = join(dir, 'bad-run.torrent');
    await writeFile(bad, 'd4:infoi1ee');
    expect((await cli('run', bad, '--out', join(dir, 'o1'))).code).toBe(2);
    const good = join(dir, 'run-one.torrent');
    expect((await cli('create', join(dir, 'one.bin'), '-o', good)).code).toBe(0);
    const r = await cli('run', good, '--out', join(dir, 'one.bin'));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/cannot use|not a folder/);
    expect(await cli('run', good, '--peer', 'nohost')).toMatchObject({ code: 2 });
    expect(await cli('run', good, '--port', '70000')).toMatchObject({ code: 2 });
    expect(await cli('run', good, '--seed-ratio', '-1')).toMatchObject({ code: 2 });
  });

  it("run: a torrent named '.bt-actor' (the resume folder's name) exits 2 with one line; nothing is written", async () => {
    await writeFile(join(dir, '.bt-actor'), 'planted');
    const t = join(dir, 'reserved.torrent');
    expect((await cli('create', join(dir, '.bt-actor'), '-o', t)).code).toBe(0);
    const out = join(dir, 'reserved-out');
    const r = await cli('run', t, '--out', out, '--bind', '127.0.0.1');
    expect(r.code).toBe(2);
    expect(r.errLines).toHaveLength(1);
    expect(r.err).toMatch(/'\.bt-actor' is where bt-actor keeps resume data/);
    expect(existsSync(join(out, '.bt-actor'))).toBe(false);
  });

  it('each command has --help', async () => {
    for (const c of ['info', 'create', 'run', 'demo']) {
      const r = await cli(c, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`Usage: bt-actor ${c}`));
    }
  });

  it('runs as the installed bin', async () => {
    const out = join(dir, 'bin.torrent');
    await run(process.execPath, [BIN, 'create', join(dir, 'data'), '-o', out]);
    const { stdout } = await run(process.execPath, [BIN, 'info', '--json', out]);
    expect(JSON.parse(stdout).name).toBe('data');
    const failed = await run(process.execPath, [BIN, 'info', join(dir, 'nope.torrent')]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).toMatchObject({ code: 2 });
  });
});
