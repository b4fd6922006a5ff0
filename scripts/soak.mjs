// Soak: an in-process swarm with churn, for a bounded time, checked for leaks.
//
//   npm run build && npm run soak                 # 10 minutes
//   npm run soak -- --minutes 2                   # shorter
//
// One engine seeds a 16 MiB torrent on 127.0.0.1. Round after round, until the time is up: a fresh
// leecher engine downloads it (sometimes stopped halfway and resumed, so connections come and go), and
// meanwhile hostile raw peers connect to the seeder — requests for pieces out of range, a flood of
// haves, a second bitfield, a stray block, a reset — and a hostile "seeder" offers the leecher corrupt
// blocks. At the start (after a warm-up round) and at the end it prints, after a forced GC: heap, RSS,
// handles and timers (process.getActiveResourcesInfo), and the live actors of the seeder's torrent (its
// peer children). Exit 1 if any of them grew beyond noise, or a download failed to verify.
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTorrent, Engine, encodeMessage, parseMetainfo } from '../dist/index.js';
import { encodeHandshake, encodePieceHeader, makeReserved } from '../dist/protocol/wire.js';
import { WireFramer } from '../dist/protocol/wire-framing.js';
import { Bitfield } from '../dist/protocol/bitfield.js';

const { values } = parseArgs({
  options: { minutes: { type: 'string', default: '10' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log('node --expose-gc scripts/soak.mjs [--minutes N]   (npm run soak -- --minutes N)');
  process.exit(0);
}
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error(`soak: --minutes '${values.minutes}' must be a positive number`);
  process.exit(2);
}
if (typeof globalThis.gc !== 'function') {
  console.error('soak: run with node --expose-gc (npm run soak does)');
  process.exit(2);
}

const work = await mkdtemp(join(tmpdir(), 'bt-actor-soak-'));
const data = randomBytes(16 * 1024 * 1024);
await writeFile(join(work, 'soak.bin'), data);
const { torrent } = await createTorrent(join(work, 'soak.bin'), { pieceLength: 256 * 1024, creationDate: null });
const meta = parseMetainfo(torrent);
const digest = createHash('sha256').update(data).digest('hex');

const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
const seeding = await seeder.add(torrent, { dir: work });
await seeding.completed;
const seederAddress = { host: '127.0.0.1', port: seeder.port, family: 4 };

/** A hostile seeder for the leechers: says it has everything and serves wrong bytes. */
const liars = new Set();
const liar = createServer((socket) => {
  liars.add(socket);
  socket.on('close', () => liars.delete(socket));
  socket.on('error', () => socket.destroy());
  const framer = new WireFramer({ handshake: true, limits: { pieceCount: meta.pieceCount } });
  socket.on('data', (chunk) => {
    try {
      framer.push(chunk, (e) => {
        if (e.type === 'handshake') {
          socket.write(
            encodeHandshake({ reserved: makeReserved({}), infoHash: meta.infoHash, peerId: randomBytes(20) }),
          );
          socket.write(encodeMessage({ type: 'bitfield', bytes: Bitfield.full(meta.pieceCount).toBytes() }));
          socket.write(encodeMessage({ type: 'unchoke' }));
        } else if (e.type === 'request') {
          socket.write(encodePieceHeader(e.index, e.begin, e.length));
          socket.write(randomBytes(e.length));
        }
      });
    } catch {
      socket.destroy();
    }
  });
});
await new Promise((resolve) => liar.listen(0, '127.0.0.1', resolve));
const liarAddress = { host: '127.0.0.1', port: liar.address().port, family: 4 };

/** One hostile connection to the seeder: handshake, then one misbehaviour, then gone. */
async function attackSeeder(kind) {
  const socket = connect({ host: '127.0.0.1', port: seeder.port });
  socket.on('error', () => undefined);
  socket.on('data', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve).once('error', resolve));
  socket.write(
    encodeHandshake({ reserved: makeReserved({ fast: true }), infoHash: meta.infoHash, peerId: randomBytes(20) }),
  );
  const bits = encodeMessage({ type: 'bitfield', bytes: new Bitfield(meta.pieceCount).toBytes() });
  if (kind === 0) socket.write(encodeMessage({ type: 'request', index: meta.pieceCount + 5, begin: 0, length: 16384 }));
  else if (kind === 1)
    for (let i = 0; i < 2000; i++) socket.write(encodeMessage({ type: 'have', index: i % meta.pieceCount }));
  else if (kind === 2) socket.write(Buffer.concat([bits, bits]));
  else if (kind === 3) socket.write(Buffer.concat([encodePieceHeader(0, 0, 16384), randomBytes(16384)]));
  else socket.write(encodeMessage({ type: 'interested' }));
  await sleep(50);
  if (kind === 4) socket.resetAndDestroy();
  else socket.destroy();
}

/** One leecher round: a fresh engine downloads the torrent (or half of it, stops, resumes). */
async function leechRound(round) {
  const dir = join(work, `leech-${round}`);
  const leecher = await Engine.create({ port: 0, host: '127.0.0.1' });
  try {
    const t = await leecher.add(torrent, { dir, peers: [seederAddress, liarAddress] });
    if (round % 3 === 1) {
      // Churn: stop halfway, resume (from the resume file).
      while (t.progress.verifiedPieces < meta.pieceCount / 2 && t.progress.left > 0) await sleep(10);
      await t.pause();
      await t.resume();
    }
    const attacks = (async () => {
      for (let k = 0; t.progress.left > 0 && k < 20; k++) await attackSeeder(k % 5);
    })();
    await t.completed;
    await attacks;
    const got = createHash('sha256')
      .update(await readFile(join(dir, 'soak.bin')))
      .digest('hex');
    if (got !== digest) throw new Error(`round ${round}: the download differs from the data`);
  } finally {
    await leecher.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await sleep(100);
  }
  const m = process.memoryUsage();
  const resources = process.getActiveResourcesInfo();
  const count = (name) => resources.filter((r) => r === name).length;
  const snap = seeding.actor?.getSnapshot();
  return {
    heapMB: m.heapUsed / 1048576,
    rssMB: m.rss / 1048576,
    handles: resources.filter((r) => r !== 'Timeout' && r !== 'Immediate').length,
    timers: count('Timeout'),
    actors: snap ? Object.keys(snap.children).length : 0,
    peers: snap ? Object.keys(snap.context.peers).length : 0,
  };
}

const show = (label, s) =>
  console.log(
    `${label}: heap ${s.heapMB.toFixed(1)} MB, rss ${s.rssMB.toFixed(1)} MB, handles ${s.handles}, timers ${s.timers}, seeder's child actors ${s.actors} (peers ${s.peers})`,
  );

let failed = false;
let round = 0;
const deadline = Date.now() + minutes * 60_000;
try {
  await leechRound(round++); // warm-up: code loaded, pools and caches filled
  await sleep(2000);
  const start = await measure();
  show('start', start);
  while (Date.now() < deadline) {
    await leechRound(round++);
    if (round % 10 === 0) console.log(`round ${round}: ${((deadline - Date.now()) / 1000).toFixed(0)} s left`);
  }
  // The seeder's connections to departed leechers close; their timers end.
  await sleep(3000);
  const end = await measure();
  show('end  ', end);
  const grew = [];
  if (end.heapMB > start.heapMB * 1.25 + 8) grew.push(`heap ${start.heapMB.toFixed(1)} → ${end.heapMB.toFixed(1)} MB`);
  if (end.handles > start.handles + 2) grew.push(`handles ${start.handles} → ${end.handles}`);
  if (end.timers > start.timers + 4) grew.push(`timers ${start.timers} → ${end.timers}`);
  if (end.actors > start.actors + 1) grew.push(`actors ${start.actors} → ${end.actors}`);
  console.log(`${round} rounds, every download verified`);
  if (grew.length > 0) {
    failed = true;
    console.log(`GREW: ${grew.join('; ')}`);
  } else console.log('nothing grew beyond noise');
} catch (err) {
  failed = true;
  console.error(`soak: ${err?.stack ?? err}`);
} finally {
  for (const s of liars) s.destroy();
  await new Promise((resolve) => liar.close(resolve));
  await seeder.close();
  await rm(work, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
