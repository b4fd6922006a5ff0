import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Script } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cacheFileName, defaultCacheDirs, encodeCacheFile, loadBundle } from '../../src/app/code-cache.js';

/**
 * A bundle shaped like dist/app/cli.bundle.js (one function expression), with enough functions that
 * its cache is more than a header. `value` is a four-character string: two bundles with different
 * values have the same length, which is all V8 itself checks of a cache's source.
 */
function bundleText(value: string): string {
  const fns = Array.from({ length: 50 }, (_, i) => `function f${i}(x) { return x * ${i} + ${value.length}; }`);
  return `(function (exports, require, module, __filename, __dirname, __btImportMetaUrl, __btImport) {
"use strict";
${fns.join('\n')}
exports.value = ${JSON.stringify(value)};
exports.sum = () => [${fns.map((_, i) => `f${i}(1)`).join(', ')}].reduce((a, b) => a + b, 0);
exports.url = __btImportMetaUrl;
exports.path = require.resolve('./other.mjs');
exports.load = () => __btImport('./other.mjs');
})`;
}

let dir: string;
let bundle: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-code-cache-'));
  bundle = join(dir, 'cli.bundle.js');
  await writeFile(bundle, bundleText('AAAA'));
  await writeFile(join(dir, 'other.mjs'), 'export const answer = 42;\n');
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const cacheFile = (label = 'run') => cacheFileName(bundle, dir, label);
const load = (options: Parameters<typeof loadBundle>[1] = {}) =>
  loadBundle(bundle, { label: 'run', dirs: [dir], ...options });

describe('code cache', () => {
  it('an ASCII bundle (as esbuild writes) and one with UTF-8 in it both load, their strings intact', async () => {
    // AAAA: ASCII, read as Latin-1. The second has a non-ASCII value (UTF-8 on disk): read as UTF-8.
    expect(load({ enabled: false }).exports.value).toBe('AAAA');
    await writeFile(bundle, bundleText('é—日本'));
    expect(load({ enabled: false }).exports.value).toBe('é—日本');
    const cached = load();
    cached.save();
    expect(load().status).toBe('used');
    expect(load().exports.value).toBe('é—日本');
  });

  it('the first load compiles from source and writes the cache; the second uses it', async () => {
    const first = load();
    expect(first.status).toBe('missing');
    expect(first.exports.value).toBe('AAAA');
    expect((first.exports.sum as () => number)()).toBe(1225 + 50 * 4);
    expect(first.save()).toBe(cacheFile());
    expect(first.save()).toBeUndefined(); // once
    const written = await readFile(cacheFile());
    expect(written.subarray(0, 8).toString('latin1')).toBe('BTV8CC01');

    const { ino } = await stat(cacheFile());
    const second = load();
    expect(second.status).toBe('used');
    expect(second.file).toBe(cacheFile());
    expect(second.exports.value).toBe('AAAA');
    expect(second.save()).toBeUndefined(); // a used cache is not written again (a write renames a new file)
    expect((await stat(cacheFile())).ino).toBe(ino);
  });

  it('gives the bundle its URL, a require beside it and an import() that resolves beside it', async () => {
    const { exports } = load();
    expect(exports.url).toBe(pathToFileURL(bundle).href);
    expect(exports.path).toBe(join(dir, 'other.mjs'));
    expect(await (exports.load as () => Promise<{ answer: number }>)()).toMatchObject({ answer: 42 });
  });

  it('never runs old code: a cache of another bundle of the same length is stale (V8 alone would take it)', async () => {
    load().save();
    await writeFile(bundle, bundleText('BBBB'));
    // What the key guards against: V8 checks only the source's length and runs the cached code.
    const v8 = new Script(bundleText('BBBB'), {
      filename: bundle,
      cachedData: (await readFile(cacheFile())).subarray(72),
    });
    expect(v8.cachedDataRejected).toBe(false);
    const stale = load();
    expect(stale.status).toBe('stale');
    expect(stale.exports.value).toBe('BBBB');
    expect(stale.save()).toBe(cacheFile());
    expect(load().status).toBe('used');
    expect(load().exports.value).toBe('BBBB');
  });

  it.each([
    ['a flipped byte in the cached data', (b: Buffer) => b.map((x, i) => (i === b.length - 10 ? x ^ 0xff : x))],
    ['a truncated file', (b: Buffer) => b.subarray(0, b.length >> 1)],
    ['a header alone', (b: Buffer) => b.subarray(0, 72)],
    ['garbage', (b: Buffer) => Buffer.alloc(b.length, 0x5a)],
    ['an empty file', () => Buffer.alloc(0)],
  ])('ignores a corrupt cache (%s) and writes it again', async (_, corrupt) => {
    load().save();
    await writeFile(cacheFile(), corrupt(await readFile(cacheFile())));
    const loaded = load();
    expect(loaded.status).toBe('corrupt');
    expect(loaded.exports.value).toBe('AAAA');
    expect(loaded.save()).toBe(cacheFile());
    expect(load().status).toBe('used');
  });

  it('ignores a well-formed cache that V8 rejects (made for another script) and writes it again', async () => {
    const other = new Script('(function () { return 1; })', { filename: 'other.js' });
    other.runInThisContext();
    await writeFile(cacheFile(), encodeCacheFile(await readFile(bundle), other.createCachedData()));
    const loaded = load();
    expect(loaded.status).toBe('rejected');
    expect(loaded.file).toBeUndefined();
    expect(loaded.exports.value).toBe('AAAA');
    expect(loaded.save()).toBe(cacheFile());
    expect(load().status).toBe('used');
  });

  it('keeps one cache per command (each holds what its command compiled)', async () => {
    load({ label: 'run' }).save();
    load({ label: 'info' }).save();
    load({ label: 'no-such-command' }).save();
    expect((await readdir(dir)).filter((f) => f.endsWith('.v8cache')).sort()).toEqual([
      'cli.bundle.js.info.v8cache',
      'cli.bundle.js.other.v8cache',
      'cli.bundle.js.run.v8cache',
    ]);
    expect(load({ label: 'info' }).status).toBe('used');
    expect(load({ label: 'create' }).status).toBe('missing');
  });

  it('a folder that cannot be written is no error: no cache; the next folder is used when there is one', async () => {
    // A regular file where a folder should be: no write can succeed there, not even as root.
    const blocked = join(dir, 'blocked');
    await writeFile(blocked, '');
    const unwritable = join(blocked, 'cache');
    const alone = loadBundle(bundle, { label: 'run', dirs: [unwritable] });
    expect(alone.exports.value).toBe('AAAA');
    expect(alone.save()).toBeUndefined();
    expect(loadBundle(bundle, { label: 'run', dirs: [unwritable] }).status).toBe('missing');

    const user = join(dir, 'user-cache', 'bt-actor');
    const dirs = [unwritable, user];
    expect(loadBundle(bundle, { label: 'run', dirs }).save()).toBe(cacheFileName(bundle, user, 'run'));
    const again = loadBundle(bundle, { label: 'run', dirs });
    expect(again.status).toBe('used');
    expect(again.file).toBe(cacheFileName(bundle, user, 'run'));
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a stale cache in the first folder does not hide a valid one in the next', async () => {
    const user = join(dir, 'user');
    loadBundle(bundle, { label: 'run', dirs: [join(dir, 'user')] }).save();
    await writeFile(cacheFile(), 'not a cache');
    const loaded = loadBundle(bundle, { label: 'run', dirs: [dir, user] });
    expect(loaded.status).toBe('used');
    expect(loaded.file).toBe(cacheFileName(bundle, user, 'run'));
  });

  it('off: reads and writes nothing', async () => {
    load().save();
    const before = await readFile(cacheFile());
    const off = load({ enabled: false });
    expect(off.status).toBe('off');
    expect(off.exports.value).toBe('AAAA');
    expect(off.save()).toBeUndefined();
    await rm(cacheFile());
    expect(load({ enabled: false }).save()).toBeUndefined();
    expect((await readdir(dir)).filter((f) => f.endsWith('.v8cache'))).toEqual([]);
    expect(before.length).toBeGreaterThan(72);
  });

  it('the default folders: beside the bundle, then the per-user cache; relative variables are ignored', () => {
    expect(defaultCacheDirs('/opt/b/dist/app/cli.bundle.js', { XDG_CACHE_HOME: '/x/cache', HOME: '/home/u' })).toEqual([
      '/opt/b/dist/app',
      '/x/cache/bt-actor',
    ]);
    expect(defaultCacheDirs('/opt/b/cli.bundle.js', { HOME: '/home/u' })).toEqual([
      '/opt/b',
      '/home/u/.cache/bt-actor',
    ]);
    expect(defaultCacheDirs('/opt/b/cli.bundle.js', { XDG_CACHE_HOME: 'cache', HOME: '/home/u' })).toEqual([
      '/opt/b',
      '/home/u/.cache/bt-actor',
    ]);
    expect(defaultCacheDirs('/opt/b/cli.bundle.js', { XDG_CACHE_HOME: 'cache', HOME: 'home' })).toEqual(['/opt/b']);
    // Two installs share a per-user folder without sharing a file.
    expect(cacheFileName('/a/cli.bundle.js', '/c', 'run')).not.toBe(cacheFileName('/b/cli.bundle.js', '/c', 'run'));
  });
});
