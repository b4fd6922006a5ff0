/**
 * A real WebTorrent 3 leecher downloads from a bt-actor seed, all on 127.0.0.1. WebTorrent dials out
 * only with MSE/PE (it does not retry in plaintext), so this is the listener's MSE responder at work:
 * key exchange, SKEY picked among the two torrents the one listener serves, plaintext selected, then
 * the BitTorrent handshake and the payload in the clear. Single-file and multi-file torrents land
 * byte-identical; a WebTorrent that insists on RC4 gets an RC4 payload stream (the default policy,
 * `prefer`) and its bytes, and is refused with BT_ERR_MSE_METHOD under the policy `plaintext`.
 *
 * The seeds are torrent actors routed by one PeerListener exactly as `bt-actor run` wires them
 * (attachListener); no tracker: the leecher is given the seed's address with `torrent.addPeer`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebTorrent, { type Torrent } from 'webtorrent';
import { attachListener, createTorrentActor, type TorrentActor } from '../../src/app/torrent-actor.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { PeerListener, selfKeys } from '../../src/io/listener.js';
import type { BtError } from '../../src/protocol/errors.js';
import type { EncryptionPolicy } from '../../src/protocol/mse.js';
import { parseMetainfo, type Metainfo } from '../../src/protocol/metainfo.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Bound on one download (about 0.2 s on a quiet machine). */
const DOWNLOAD_MS = 8000;
/** Bound on any other wait. */
const WAIT_MS = 5000;
const TEST_TIMEOUT_MS = 15_000;

const SINGLE_NAME = 'seeded.bin';
const SINGLE_LENGTH = 3 * MiB + 777; // a short last piece
const MULTI_NAME = 'Ünïcødé seed – 多文件';
/** Nested folders, non-ASCII names, pieces across files (no zero-length files: WebTorrent does not create them). */
const MULTI_FILES: [string, number][] = [
  ['a.txt', 40 * KiB + 17],
  ['docs/日本語/ファイル.txt', 10 * KiB + 1],
  ['docs/Ωmega/naïve café.bin', 45 * KiB],
  ['nested/deeper/big.bin', 300 * KiB + 3],
  ...Array.from({ length: 8 }, (_, i): [string, number] => [`small/f${i}.dat`, 1 + ((i * 7919) % 20) * KiB + i]),
];

interface Seeded {
  meta: Metainfo;
  torrent: Uint8Array;
  /** `<seedDir>/<name>`: the source file or folder. */
  source: string;
  actor: TorrentActor;
}

let root: string;
let seedDir: string;
let listener: PeerListener;
const mseErrors: { code: string; message: string; remote: string }[] = [];
/** The listener's encryption policy (read at each connection). */
let policy: EncryptionPolicy = 'prefer';
const seeds: Seeded[] = [];
const unroutes: (() => void)[] = [];
const clients = new Set<WebTorrent>();

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what()}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function seed(source: string, pieceLength: number): Promise<Seeded> {
  const { torrent } = await createTorrent(source, { pieceLength, creationDate: null });
  const meta = parseMetainfo(torrent);
  const actor = createTorrentActor({ meta, dir: seedDir, port: listener.port, selfKeys: selfKeys(listener.port) });
  unroutes.push(attachListener(actor, listener, meta));
  const complete = new Promise<void>((resolve, reject) => {
    const sub = actor.subscribe({
      next: (snap) => {
        if (snap.matches({ active: 'complete' })) {
          sub.unsubscribe();
          resolve();
        }
      },
      error: (err) => reject(err instanceof Error ? err : new Error(String(err))),
    });
  });
  actor.start();
  await within(
    complete,
    WAIT_MS,
    () => `the seed of ${meta.name} verifying its data (${JSON.stringify(actor.getSnapshot().value)})`,
  );
  return { meta, torrent, source, actor };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'bt-actor-up-wt-'));
  seedDir = join(root, 'seed');
  await mkdir(seedDir);
  await writeFile(join(seedDir, SINGLE_NAME), randomBytes(SINGLE_LENGTH));
  for (const [path, length] of MULTI_FILES) {
    const abs = join(seedDir, MULTI_NAME, ...path.split('/'));
    await mkdir(join(abs, '..'), { recursive: true });
    await writeFile(abs, randomBytes(length));
  }
  listener = await PeerListener.listen({
    port: 0,
    host: '127.0.0.1',
    encryption: () => policy,
    onMseError: (e: BtError, remote) => mseErrors.push({ code: e.code, message: e.message, remote }),
  });
  // One listener serves both torrents: the MSE responder must pick the right one by SKEY.
  seeds.push(await seed(join(seedDir, SINGLE_NAME), 256 * KiB));
  seeds.push(await seed(join(seedDir, MULTI_NAME), 32 * KiB));
}, 20_000);

afterEach(async () => {
  await Promise.all([...clients].map(destroyClient));
});

afterAll(async () => {
  await Promise.all([...clients].map(destroyClient));
  for (const u of unroutes) u();
  await Promise.all(
    seeds.map(async ({ actor }) => {
      if (actor.getSnapshot().status === 'active') {
        actor.send({ type: 'torrent.stop' });
        await Promise.race([
          new Promise<void>((r) => actor.subscribe({ complete: r, error: () => r() })),
          new Promise((r) => setTimeout(r, WAIT_MS)),
        ]);
      }
      actor.stop();
    }),
  );
  if (listener) await within(listener.close(), WAIT_MS, () => 'closing the listener');
  if (root) await rm(root, { recursive: true, force: true });
}, 20_000);

/** A WebTorrent client reaching nothing but the peers it is given: DHT, LSD, uTP, PEX, web seeds, NAT and trackers off. */
function leecherClient(secure: 1 | 2): WebTorrent {
  // WebTorrent warns on the console that RC4 has no native implementation here (secure: 2): expected.
  const warn = console.warn;
  console.warn = () => {};
  const client = new WebTorrent({
    torrentPort: 0,
    dht: false,
    lsd: false,
    utp: false,
    utPex: false,
    webSeeds: false,
    natUpnp: false,
    natPmp: false,
    tracker: false,
    secure,
  });
  console.warn = warn;
  client.on('error', () => {});
  clients.add(client);
  return client;
}

function destroyClient(client: WebTorrent): Promise<void> {
  clients.delete(client);
  return within(
    new Promise<void>((resolve) => (client.destroyed ? resolve() : client.destroy(() => resolve()))),
    WAIT_MS,
    () => 'destroying the WebTorrent client',
  ).catch(() => {});
}

/** What WebTorrent's wire (bittorrent-protocol) tells of its MSE handshake (internal getters). */
interface WireCrypto {
  _cryptoHandshakeDone: boolean;
  _encryptionMethod?: number;
}

/** Adds the torrent to `client` into `dir` and dials the seed once the torrent is ready. */
function leech(client: WebTorrent, s: Seeded, dir: string, wires: WireCrypto[] = []): Torrent {
  const torrent = client.add(s.torrent, { path: dir });
  torrent.on('error', () => {});
  // 'wire' comes once the BitTorrent handshake is through, after MSE.
  torrent.on('wire', (wire) => wires.push(pick(wire as unknown as WireCrypto)));
  const dial = () => torrent.addPeer(`127.0.0.1:${listener.port}`);
  if (torrent.ready) dial();
  else torrent.once('ready', dial);
  return torrent;
}

const pick = (w: WireCrypto): WireCrypto => ({
  _cryptoHandshakeDone: w._cryptoHandshakeDone,
  _encryptionMethod: w._encryptionMethod,
});

/** Every file of `meta` under `dir` is byte-identical to the source, and nothing else is there. */
async function expectSameFiles(s: Seeded, dir: string) {
  const target = join(dir, s.meta.name);
  if (!s.meta.multiFile) {
    const [got, want] = await Promise.all([readFile(target), readFile(s.source)]);
    expect(got.length).toBe(want.length);
    expect(sha(got)).toBe(sha(want));
    return;
  }
  for (const f of s.meta.files) {
    const [got, want] = await Promise.all([readFile(join(target, ...f.path)), readFile(join(s.source, ...f.path))]);
    expect(got.length, f.pathString).toBe(want.length);
    expect(sha(got), f.pathString).toBe(sha(want));
  }
  const onDisk = (await readdir(target, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => relative(target, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
  expect(onDisk).toEqual(s.meta.files.map((f) => f.pathString).sort());
}

async function download(s: Seeded, label: string, secure: 1 | 2 = 1) {
  const dir = await mkdtemp(join(root, `${label}-`));
  const client = leecherClient(secure);
  const wires: WireCrypto[] = [];
  const torrent = leech(client, s, dir, wires);
  const started = Date.now();
  const uploadedBefore = s.actor.getSnapshot().context.progress.uploaded;
  await within(
    new Promise<void>((resolve) => (torrent.done ? resolve() : torrent.once('done', () => resolve()))),
    DOWNLOAD_MS,
    () =>
      `WebTorrent downloading ${s.meta.name} (${torrent.downloaded}/${s.meta.length} bytes, ${torrent.numPeers} peers; ` +
      `MSE errors ${JSON.stringify(mseErrors)}, listener refused ${listener.refused})`,
  );
  const ms = Date.now() - started;
  // Close the leecher's files before reading them.
  await destroyClient(client);
  await expectSameFiles(s, dir);
  // The leecher's connections are gone: their final counters are in the seed's progress (live peers
  // report theirs once a second).
  await within(
    new Promise<void>((resolve) => {
      const done = () => {
        if (s.actor.getSnapshot().context.progress.peersConnected !== 0) return;
        sub.unsubscribe();
        resolve();
      };
      const sub = s.actor.subscribe(done);
      done();
    }),
    10_000,
    () => 'the seed still lists the leecher as connected',
  );
  const uploaded = s.actor.getSnapshot().context.progress.uploaded - uploadedBefore;
  return { ms, uploaded, wires };
}

describe('a WebTorrent 3 leecher (MSE/PE, plaintext selected) downloads from a bt-actor seed', () => {
  it(
    'a single-file torrent (3 MiB, 256 KiB pieces) lands byte-identical',
    async () => {
      const r = await download(seeds[0]!, 'single');
      // One connection, MSE-negotiated with plaintext (crypto_select 0x01).
      expect(r.wires).toEqual([{ _cryptoHandshakeDone: true, _encryptionMethod: 1 }]);
      expect(r.uploaded).toBeGreaterThanOrEqual(seeds[0]!.meta.length);
      expect(mseErrors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a multi-file torrent (nested, non-ASCII, pieces across files) lands file by file, from the same listener',
    async () => {
      const { meta } = seeds[1]!;
      const spanning = Array.from(
        { length: meta.pieceCount },
        (_, i) =>
          meta.files.filter((f) => f.offset < (i + 1) * meta.pieceLength && f.offset + f.length > i * meta.pieceLength)
            .length,
      );
      expect(Math.max(...spanning)).toBeGreaterThanOrEqual(3);
      const r = await download(seeds[1]!, 'multi');
      expect(r.wires).toEqual([{ _cryptoHandshakeDone: true, _encryptionMethod: 1 }]);
      expect(r.uploaded).toBeGreaterThanOrEqual(meta.length);
      expect(mseErrors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'a WebTorrent that offers RC4 only (secure: 2) gets an RC4 payload stream and the bytes',
    async () => {
      const r = await download(seeds[0]!, 'rc4', 2);
      expect(r.wires).toEqual([{ _cryptoHandshakeDone: true, _encryptionMethod: 2 }]);
      expect(r.uploaded).toBeGreaterThanOrEqual(seeds[0]!.meta.length);
      expect(mseErrors).toEqual([]);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'under the policy plaintext, a WebTorrent that offers RC4 only is refused with BT_ERR_MSE_METHOD, and gets nothing',
    async () => {
      policy = 'plaintext';
      try {
        const before = mseErrors.length;
        const dir = await mkdtemp(join(root, 'rc4-refused-'));
        const client = leecherClient(2);
        const torrent = leech(client, seeds[0]!, dir);
        await within(
          (async () => {
            while (mseErrors.length === before) await new Promise((r) => setTimeout(r, 10));
          })(),
          WAIT_MS,
          () => `an MSE refusal (refused ${listener.refused})`,
        );
        expect(mseErrors[before]).toMatchObject({
          code: 'BT_ERR_MSE_METHOD',
          message: expect.stringMatching(/only RC4/),
        });
        expect(torrent.downloaded).toBe(0);
        await destroyClient(client);
      } finally {
        policy = 'prefer';
      }
    },
    TEST_TIMEOUT_MS,
  );
});
