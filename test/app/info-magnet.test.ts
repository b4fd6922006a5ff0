/**
 * `bt-actor info 'magnet:?…'` (issue 15): what a magnet link says, as text and as one JSON object;
 * `--scrape` asks the link's trackers (a bittorrent-tracker server on 127.0.0.1); a malformed link is
 * one line naming the fault and exit 2 (for `info` and for `run` alike). A v2-only link (BEP 52
 * `urn:btmh:`) is shown by `info` and refused by `run`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Server as BtTrackerServer } from 'bittorrent-tracker';
import { main } from '../../src/app/cli.js';
import { TrackerClient } from '../../src/io/tracker-client.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
const LINK =
  `magnet:?xt=urn:btih:${HEX.toUpperCase()}&dn=Caf%C3%A9+del%20Mar&xl=1048576` +
  '&tr=http%3A%2F%2F127.0.0.1%3A6969%2Fannounce&tr.1=udp://[::1]:6969&tr=wss%3A%2F%2Ftracker.example' +
  '&x.pe=%5B::1%5D:51413&x.pe=127.0.0.1:6881&ws=http%3A%2F%2F127.0.0.1%3A8080%2Ffiles%2F&so=0-2';

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

function bin(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('bt-actor info on a magnet link', () => {
  it('prints the name, info hash, size, trackers, peers, web seeds and what it ignores', async () => {
    const r = await cli('info', LINK);
    expect(r.err).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      'magnet link:   files and pieces come from peers (info does not fetch them)',
      'name:          Café del Mar',
      `info hash:     ${HEX}`,
      'size:          1.00 MiB (1048576 bytes)',
      'trackers:',
      '  http://127.0.0.1:6969/announce',
      '  udp://[::1]:6969',
      'peers:',
      '  [::1]:51413',
      '  127.0.0.1:6881',
      'web seeds:',
      '  http://127.0.0.1:8080/files/',
      'ignored:       tr=wss://tracker.example: scheme wss not supported (only http, https, udp)',
      'ignored:       so=0-2: not a parameter bt-actor uses',
    ]);
  });

  it('--json prints one object', async () => {
    const r = await cli('info', '--json', LINK);
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    expect(JSON.parse(r.out[0]!)).toEqual({
      kind: 'magnet',
      infoHash: HEX,
      name: 'Café del Mar',
      exactLength: 1048576,
      trackers: ['http://127.0.0.1:6969/announce', 'udp://[::1]:6969'],
      webSeeds: ['http://127.0.0.1:8080/files/'],
      peers: [
        { host: '::1', port: 51413 },
        { host: '127.0.0.1', port: 6881 },
      ],
      ignored: [
        { key: 'tr', value: 'wss://tracker.example', reason: 'scheme wss not supported (only http, https, udp)' },
        { key: 'so', value: '0-2', reason: 'not a parameter bt-actor uses' },
      ],
    });
  });

  it('a bare link (hash only, base32) says none for what it lacks; a hostile name is escaped', async () => {
    const r = await cli('info', 'magnet:?xt=urn:btih:YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK');
    expect(r.out).toEqual([
      'magnet link:   files and pieces come from peers (info does not fetch them)',
      'name:          (none given)',
      `info hash:     ${HEX}`,
      'trackers:      none',
      'peers:         none',
      'web seeds:     none',
    ]);
    const hostile = await cli('info', `magnet:?xt=urn:btih:${HEX}&dn=a%1B%5D0%3Bowned%07b`);
    expect(hostile.out[1]).toBe('name:          a\\u001b]0;owned\\u0007b');
    const json = await cli('info', '--json', `magnet:?xt=urn:btih:${HEX}&dn=a%1B%5D0%3Bowned%07b`);
    expect(JSON.parse(json.out[0]!).name).toBe('a\u001b]0;owned\u0007b');
  });

  it('a v2-only link is shown with its v2 hash and a warning; a hybrid one with both hashes', async () => {
    const v2 = 'ab'.repeat(32);
    const r = await cli('info', `magnet:?xt=urn:btmh:1220${v2}&dn=v2`);
    expect(r.code).toBe(0);
    expect(r.out).toEqual([
      'magnet link:   files and pieces come from peers (info does not fetch them)',
      'name:          v2',
      `info hash v2:  ${v2}`,
      'trackers:      none',
      'peers:         none',
      'web seeds:     none',
      'note:          a BitTorrent v2-only link (BEP 52): the piece layers are asked of peers after the metadata',
    ]);
    const json = await cli('info', '--json', `magnet:?xt=urn:btmh:1220${v2}`);
    expect(JSON.parse(json.out[0]!)).toMatchObject({ infoHashV2: v2, v2Only: true });
    const hybrid = await cli('info', `magnet:?xt=urn:btih:${HEX}&xt=urn:btmh:1220${v2}`);
    expect(hybrid.out.slice(2, 4)).toEqual([`info hash:     ${HEX}`, `info hash v2:  ${v2}`]);
    const hybridJson = await cli('info', '--json', `magnet:?xt=urn:btih:${HEX}&xt=urn:btmh:1220${v2}`);
    expect(JSON.parse(hybridJson.out[0]!)).toMatchObject({ infoHash: HEX, infoHashV2: v2 });
    expect(JSON.parse(hybridJson.out[0]!).v2Only).toBeUndefined();
  });

  it('a malformed link: one line naming the fault and its code, exit 2', async () => {
    const cases: [string, RegExp][] = [
      [`magnet:?xt=urn:btmh:1220${'ab'.repeat(31)}`, /multihash 1220 and 64 hex digits.*\[BT_ERR_MAGNET_HASH\]$/],
      ['magnet:?dn=x', /^bt-actor: magnet link: no info hash \(xt=urn:btih:…\) \[BT_ERR_MAGNET_NO_HASH\]$/],
      [
        `magnet:?xt=urn:btih:${HEX.slice(2)}`,
        /^bt-actor: magnet link: xt: .*not 38 characters.*\[BT_ERR_MAGNET_HASH\]$/,
      ],
      [`magnet:?xt=urn:btih:${HEX}&dn=%E2%82`, /not UTF-8 text \[BT_ERR_MAGNET_ENCODING\]$/],
      [`magnet:xt=urn:btih:${HEX}`, /'magnet:' is not followed by '\?' \[BT_ERR_MAGNET_SCHEME\]$/],
      [
        `magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${'0'.repeat(40)}`,
        /two different info hashes .*\[BT_ERR_MAGNET_AMBIGUOUS\]$/,
      ],
    ];
    for (const [uri, line] of cases) {
      const r = await cli('info', uri);
      expect(r.code, uri).toBe(2);
      expect(r.out).toEqual([]);
      expect(r.err).toHaveLength(1);
      expect(r.err[0]).toMatch(line);
    }
  });

  it('the installed bin: info reads a magnet link (a v2-only one too); run refuses a malformed one (exit 2, one line)', async () => {
    const info = await bin('info', '--json', LINK);
    expect(info.code, info.stderr).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ kind: 'magnet', infoHash: HEX });
    const v2info = await bin('info', '--json', `magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}`);
    expect(v2info.code, v2info.stderr).toBe(0);
    expect(JSON.parse(v2info.stdout)).toMatchObject({ infoHashV2: 'ab'.repeat(32), v2Only: true });
    const bad = await bin('run', 'magnet:?xt=urn:btih:xyz', '--json');
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/^bt-actor: magnet link: .*\[BT_ERR_MAGNET_HASH\]\n$/);
  });
});

describe('bt-actor info --scrape on a magnet link', () => {
  let server: InstanceType<typeof BtTrackerServer>;
  let url: string;
  beforeAll(async () => {
    server = new BtTrackerServer({ http: true, udp: false, ws: false, stats: false, interval: 60_000 });
    server.on('error', () => {});
    server.on('warning', () => {});
    await new Promise<void>((resolve) => server.listen(0, { http: '127.0.0.1' }, () => resolve()));
    url = `http://127.0.0.1:${(server.http!.address() as { port: number }).port}/announce`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("asks the link's trackers for the swarm of its info hash", async () => {
    const infoHash = randomBytes(20);
    const peer = new TrackerClient({ peerId: randomBytes(20), port: 41_999, httpTimeoutMs: 2000 });
    await peer.announce({
      url,
      infoHash,
      event: 'started',
      numwant: 0,
      stats: { uploaded: 0, downloaded: 0, left: 10 },
    });
    const link = `magnet:?xt=urn:btih:${infoHash.toString('hex')}&tr=${encodeURIComponent(url)}`;
    const r = await cli('info', '--json', '--scrape', '--timeout', '5', link);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out[0]!).scrape).toEqual([{ url, complete: 0, incomplete: 1, downloaded: 0 }]);
    const text = await cli('info', '--scrape', '--timeout', '5', link);
    expect(text.out.slice(-2)).toEqual(['scrape:', `  ${url}: 0 seeders, 1 leechers, 0 completed`]);
  });
});
