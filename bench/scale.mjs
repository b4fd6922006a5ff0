#!/usr/bin/env node
// Scale benchmark of the library engine (docs/performance.md), each figure from a process that holds
// only the engine (bench/scale-engine.mjs); data, torrents, tracker and peers live elsewhere:
//  (a) 1,000 small torrents seeding in one Engine, idle → RSS
//  (b) 200 raw TCP peers (bench/scale-peers.mjs, another process) connected to one torrent,
//      interested and requesting blocks → event-loop delay (max, p99) in the engine
//   node bench/scale.mjs [options]      or      npm run bench -- --scale [options]
import { mkdir } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT } from './lib/clients.mjs';
import { makePayload, makeSingleTorrent } from './lib/data.mjs';
import {
  BenchAbort,
  aborted,
  cleanup,
  freePort,
  installSignalHandlers,
  start,
  tempDir,
  waitExit,
  waitFor,
} from './lib/procs.mjs';
import { environment, save } from './lib/report.mjs';
import { startTracker } from './lib/tracker.mjs';

const ENGINE = fileURLToPath(new URL('./scale-engine.mjs', import.meta.url));
const PEERS = fileURLToPath(new URL('./scale-peers.mjs', import.meta.url));

const HELP = `Usage: node bench/scale.mjs [options]     (or: npm run bench -- --scale [options])

  (a) --torrents N small torrents (--torrent-kib KiB each, 16 KiB pieces) seeding, idle, in one
      engine process → its RSS (target: 1,000 torrents ≤ 500 MB)
  (b) --peers N raw TCP peers in another process connected to one --peer-mib MiB torrent,
      interested and requesting blocks → the engine's event-loop delay (target: max ≤ 50 ms)

Options:
  --part a|b|both     (default both)
  --torrents N        (default 1000)        --torrent-kib K     (default 64)
  --idle S            seconds idle before reading memory in (a) (default 10)
  --tracker KIND      opentracker (default), bittorrent-tracker or none: the torrents of (a) announce to it
  --peers N           (default 200)         --peer-mib M        (default 64)
  --inflight N        block requests each unchoked peer keeps outstanding (default 8)
  --duration S        measured seconds in (b) once every peer is connected (default 20)
  --bt-dir DIR        the bt-actor build (default this checkout)
  --work DIR          temporary data (default /tmp)   --keep   keep it   --no-save   no bench/results/
`;

function parse(argv) {
  const o = {
    part: 'both',
    torrents: 1000,
    torrentKib: 64,
    idle: 10,
    tracker: 'opentracker',
    peers: 200,
    peerMib: 64,
    inflight: 8,
    duration: 20,
    btDir: ROOT,
    work: '/tmp',
    keep: false,
    save: true,
  };
  const num = (k, v) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${k} needs a positive number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) [a, v] = [a.slice(0, eq), a.slice(eq + 1)];
    const val = () => v ?? argv[++i];
    if (a === '-h' || a === '--help') o.help = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--no-save') o.save = false;
    else if (a === '--part') o.part = val();
    else if (a === '--tracker') o.tracker = val();
    else if (a === '--bt-dir') o.btDir = resolve(val());
    else if (a === '--work') o.work = resolve(val());
    else if (a === '--torrents') o.torrents = Math.floor(num(a, val()));
    else if (a === '--torrent-kib') o.torrentKib = num(a, val());
    else if (a === '--idle') o.idle = num(a, val());
    else if (a === '--peers') o.peers = Math.floor(num(a, val()));
    else if (a === '--peer-mib') o.peerMib = num(a, val());
    else if (a === '--inflight') o.inflight = Math.floor(num(a, val()));
    else if (a === '--duration') o.duration = num(a, val());
    else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (!['a', 'b', 'both'].includes(o.part)) throw new Error('--part is a, b or both');
  if (!['opentracker', 'bittorrent-tracker', 'none'].includes(o.tracker))
    throw new Error('--tracker is opentracker, bittorrent-tracker or none');
  return o;
}

const log = (...a) => console.error(`[scale ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** Starts the engine child; resolves its "@@" messages through `next(pred, ms)`. */
function engineChild(o, cfg, logFile, nodeFlags = []) {
  const messages = [];
  const proc = start(process.execPath, [...nodeFlags, ENGINE, JSON.stringify({ btDir: o.btDir, ...cfg })], {
    log: logFile,
    stdin: true,
    onLine: (l) => {
      if (!l.startsWith('@@ ')) return;
      messages.push(JSON.parse(l.slice(3)));
    },
  });
  const next = (pred, ms, what) => waitFor(() => messages.find(pred), ms, what, { procs: [proc], everyMs: 100 });
  return { proc, next, send: (msg) => proc.child.stdin.write(JSON.stringify(msg) + '\n') };
}

async function partA(o, root) {
  const dir = join(root, 'a-data');
  const tdir = join(root, 'a-torrents');
  await mkdir(dir, { recursive: true });
  await mkdir(tdir, { recursive: true });
  const trackerPort = o.tracker === 'none' ? null : await freePort();
  const announce = trackerPort ? `http://127.0.0.1:${trackerPort}/announce` : undefined;
  log(`(a) making ${o.torrents} torrents of ${o.torrentKib} KiB…`);
  const torrents = [];
  for (let i = 0; i < o.torrents; i++) {
    const name = `t${String(i).padStart(4, '0')}.bin`;
    const p = await makePayload(dir, name, Math.round(o.torrentKib * 1024), 1, `scale-${i}`);
    torrents.push(
      await makeSingleTorrent(join(dir, p.name), join(tdir, `${name}.torrent`), {
        name,
        pieceLength: 16 * 1024,
        announce,
      }),
    );
  }
  const tracker = trackerPort
    ? await startTracker(
        o.tracker,
        trackerPort,
        join(root, 'a-tracker'),
        torrents.map((t) => t.infoHash),
      )
    : null;
  try {
    log(
      `(a) one engine adds ${o.torrents} torrents and seeds them, idle ${o.idle} s${tracker ? `, announcing to ${o.tracker}` : ''}…`,
    );
    const e = engineChild(
      o,
      { mode: 'torrents', torrents: torrents.map((t) => t.path), dir, idleS: o.idle },
      join(root, 'a-engine.log'),
      ['--expose-gc'],
    );
    try {
      const msg = await e.next((m) => m.result, 180_000 + o.torrents * 300 + o.idle * 1000, '(a) engine result');
      await waitExit(e.proc, 30_000);
      return { ...msg.result, torrent_kib: o.torrentKib, tracker: o.tracker };
    } finally {
      await e.proc.stop();
    }
  } finally {
    await tracker?.proc.stop();
  }
}

async function partB(o, root) {
  const dir = join(root, 'b-data');
  await mkdir(dir, { recursive: true });
  const bytes = Math.round(o.peerMib * 2 ** 20);
  const pieceLength = 256 * 1024;
  log(`(b) making a ${o.peerMib} MiB torrent…`);
  const p = await makePayload(dir, 'peers.bin', bytes, 1, 'scale-peers');
  const t = await makeSingleTorrent(join(dir, p.name), join(root, 'peers.torrent'), { name: p.name, pieceLength });
  const e = engineChild(
    o,
    { mode: 'peers', torrent: t.path, dir, maxConnections: o.peers + 50 },
    join(root, 'b-engine.log'),
  );
  let peers;
  try {
    const ready = await e.next((m) => m.ready, 120_000, '(b) engine seeding');
    let last = null;
    peers = start(
      process.execPath,
      [
        PEERS,
        JSON.stringify({
          port: ready.port,
          infoHash: t.infoHash,
          count: o.peers,
          pieceLength,
          length: bytes,
          inflight: o.inflight,
        }),
      ],
      {
        log: join(root, 'b-peers.log'),
        onLine: (l) => {
          if (l.startsWith('@@ ')) last = JSON.parse(l.slice(3));
        },
      },
    );
    log(`(b) ${o.peers} peers connecting to the engine on port ${ready.port}…`);
    const t0 = performance.now();
    await waitFor(
      () => last && last.handshaken >= o.peers,
      60_000,
      `(b) ${o.peers} peers handshaken (last status ${JSON.stringify(last)})`,
      { procs: [peers, e.proc] },
    ).catch((err) => {
      throw new Error(`${err.message}; peers: ${JSON.stringify(last)}`);
    });
    const connectS = (performance.now() - t0) / 1000;
    log(`(b) all ${o.peers} handshaken in ${connectS.toFixed(1)} s; measuring ${o.duration} s…`);
    const before = { ...last };
    e.send({ cmd: 'measure', seconds: o.duration });
    const msg = await e.next((m) => m.result, (o.duration + 30) * 1000, '(b) engine result');
    const after = { ...last };
    await peers.stop();
    e.send({ cmd: 'close' });
    await waitExit(e.proc, 30_000);
    return {
      ...msg.result,
      peers: o.peers,
      inflight: o.inflight,
      torrent_mib: o.peerMib,
      connect_s: +connectS.toFixed(2),
      peers_side: {
        handshaken_at_end: after.handshaken,
        unchoked_at_end: after.unchoked,
        closed: after.closed,
        blocks_in_window: after.blocks - before.blocks,
        errors: after.errors,
      },
    };
  } finally {
    await peers?.stop();
    await e.proc.stop();
  }
}

export async function main(argv) {
  const o = parse(argv);
  if (o.help) return void console.log(HELP);
  installSignalHandlers();
  const root = tempDir(mkdtempSync(join(o.work, 'bt-scale-')));
  const env = environment(o.btDir);
  const result = { kind: 'scale', date: new Date().toISOString(), ...env, options: { ...o, help: undefined } };
  log(`bt-actor ${env.commit} (${o.btDir}); work folder ${root}`);
  try {
    if (o.part !== 'b') result.torrents = await partA(o, root);
    if (o.part !== 'a') result.peers = await partB(o, root);
  } finally {
    if (o.keep) log(`kept ${root}`);
    else await cleanup();
  }
  const a = result.torrents;
  const b = result.peers;
  result.targets = [];
  if (a) {
    console.log(
      `\n(a) ${a.torrents} torrents of ${a.torrent_kib} KiB seeding, idle ${a.idle_s} s (tracker: ${a.tracker}): added in ${a.add_s} s, all seeding after ${a.ready_s} s`,
    );
    console.log(
      `    RSS ${a.idle.rss_mb} MB (engine alone ${a.engine_only.rss_mb} MB; after a forced GC ${a.after_gc?.rss_mb ?? '–'} MB; peak ${a.idle.maxrss_mb} MB); heap used ${a.idle.heap_used_mb} MB; idle CPU ${a.idle_cpu_s} s, event loop max ${a.idle_event_loop.max_ms} ms`,
    );
    result.targets.push({
      target: `${a.torrents} idle torrents ≤ 500 MB RSS`,
      value: a.idle.rss_mb,
      met: a.torrents >= 1000 ? a.idle.rss_mb <= 500 : null,
    });
  }
  if (b) {
    console.log(
      `\n(b) ${b.peers} peers on one ${b.torrent_mib} MiB torrent (connected in ${b.connect_s} s; engine saw ${b.peers_connected_min}–${b.peers_connected_max}), ${b.seconds} s measured:`,
    );
    console.log(
      `    event-loop delay max ${b.event_loop.max_ms} ms, p99 ${b.event_loop.p99_ms} ms, p50 ${b.event_loop.p50_ms} ms (while connecting: max ${b.ramp_event_loop.max_ms} ms); ELU ${b.elu}; CPU ${b.cpu_s} s; upload ${b.uploaded_mib_s} MiB/s; RSS ${b.memory.rss_mb} MB`,
    );
    console.log(`    peer states ${JSON.stringify(b.peer_states)}; peers side ${JSON.stringify(b.peers_side)}`);
    result.targets.push({
      target: `${b.peers} peers: event-loop delay ≤ 50 ms`,
      value: b.event_loop.max_ms,
      met: b.peers >= 200 ? b.event_loop.max_ms <= 50 : null,
    });
  }
  for (const t of result.targets)
    console.log(
      `target: ${t.target}: ${t.value} ${t.met === null ? '(n/a at this count)' : t.met ? 'met' : 'NOT met'}`,
    );
  if (o.save) log(`results: ${save(result, 'scale', 'latest-scale.json')}`);
  return result;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => process.exit(aborted() ? 130 : 0),
    async (e) => {
      if (!(e instanceof BenchAbort)) console.error(`scale: ${e.stack ?? e.message}`);
      await cleanup();
      process.exit(e instanceof BenchAbort ? 130 : 1);
    },
  );
}
