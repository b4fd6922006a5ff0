// The measured process of bench/scale.mjs: one bt-actor Engine (the library API from dist/), nothing
// else — the torrents are made and the peers run in other processes, so their cost is not counted.
//   node [--expose-gc] bench/scale-engine.mjs '<json>'
// json: { btDir, mode: 'torrents', torrents: [paths], dir, idleS }
//     adds every torrent (seeding the data in dir), waits until all are ready, stays idle idleS
//     seconds, reports memory, then closes.
//   | { btDir, mode: 'peers', torrent, dir, maxConnections }
//     seeds one torrent, reports { ready, port }, then on stdin {"cmd":"measure","seconds":S} measures
//     the event-loop delay (perf_hooks.monitorEventLoopDelay) while the peers run; {"cmd":"close"} ends.
// Messages to the parent are stdout lines "@@ <json>"; anything else is a log.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearTimeout, setTimeout } from 'node:timers';
import { pathToFileURL } from 'node:url';

const cfg = JSON.parse(process.argv[2]);
const { Engine } = await import(pathToFileURL(join(cfg.btDir, 'dist/index.js')).href);
const say = (msg) => process.stdout.write(`@@ ${JSON.stringify(msg)}\n`);
const mb = (b) => +(b / 1e6).toFixed(1);

function memory() {
  const m = process.memoryUsage();
  return {
    rss_mb: mb(m.rss),
    heap_used_mb: mb(m.heapUsed),
    heap_total_mb: mb(m.heapTotal),
    external_mb: mb(m.external),
    array_buffers_mb: mb(m.arrayBuffers),
    maxrss_mb: mb(process.resourceUsage().maxRSS * 1024),
  };
}

function histogram(h) {
  const ms = (ns) => +(ns / 1e6).toFixed(2);
  return {
    max_ms: ms(h.max),
    p99_ms: ms(h.percentile(99)),
    p50_ms: ms(h.percentile(50)),
    mean_ms: ms(h.mean),
    samples: h.count,
  };
}

/** Resolves when `handle` is ready with every piece verified (or rejects after `ms`). */
function seeding(handle, ms) {
  return new Promise((resolve, reject) => {
    let done = false;
    let sub;
    const timer = setTimeout(() => {
      sub?.unsubscribe();
      reject(new Error(`${handle.name} not seeding within ${ms} ms`));
    }, ms);
    sub = handle.progress$.subscribe((p) => {
      if (done || p.verifiedPieces !== p.pieceCount) return;
      done = true;
      clearTimeout(timer);
      sub?.unsubscribe();
      resolve();
    });
    if (done) sub.unsubscribe();
  });
}

async function closeEngine(engine) {
  await Promise.race([engine.close(), sleep(20_000)]);
}

if (cfg.mode === 'torrents') {
  const engine = await Engine.create({ port: 0, host: '127.0.0.1' });
  const base = memory();
  const t0 = performance.now();
  const handles = [];
  for (const t of cfg.torrents) handles.push(await engine.add(t, { dir: cfg.dir }));
  const addS = (performance.now() - t0) / 1000;
  await Promise.all(handles.map((h) => seeding(h, 120_000 + cfg.torrents.length * 200)));
  const readyS = (performance.now() - t0) / 1000;
  const loaded = memory();
  const elu0 = performance.eventLoopUtilization();
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  const cpu0 = process.cpuUsage();
  await sleep(cfg.idleS * 1000);
  h.disable();
  const cpu = process.cpuUsage(cpu0);
  const idle = memory();
  globalThis.gc?.();
  const afterGc = globalThis.gc ? memory() : null;
  say({
    result: {
      torrents: handles.length,
      add_s: +addS.toFixed(2),
      ready_s: +readyS.toFixed(2),
      engine_only: base,
      loaded,
      idle,
      after_gc: afterGc,
      idle_s: cfg.idleS,
      idle_cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2),
      idle_elu: +performance.eventLoopUtilization(elu0).utilization.toFixed(3),
      idle_event_loop: histogram(h),
      peers_connected: handles.reduce((n, x) => n + Object.keys(x.actor?.getSnapshot().context.peers ?? {}).length, 0),
    },
  });
  await closeEngine(engine);
  process.exit(0);
} else if (cfg.mode === 'peers') {
  const engine = await Engine.create({ port: 0, host: '127.0.0.1', settings: { maxConnections: cfg.maxConnections } });
  const handle = await engine.add(cfg.torrent, { dir: cfg.dir });
  let progress;
  let states = {};
  handle.progress$.subscribe((p) => (progress = p));
  handle.peerStates$.subscribe((s) => (states = s));
  await seeding(handle, 120_000);
  const ramp = monitorEventLoopDelay({ resolution: 1 });
  ramp.enable();
  say({ ready: true, port: engine.port, pieceCount: progress.pieceCount });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'measure') {
      ramp.disable();
      const h = monitorEventLoopDelay({ resolution: 1 });
      const up0 = progress.uploaded;
      const cpu0 = process.cpuUsage();
      const elu0 = performance.eventLoopUtilization();
      const peersSeen = [];
      h.enable();
      const t0 = performance.now();
      while (performance.now() - t0 < cmd.seconds * 1000) {
        await sleep(1000);
        peersSeen.push(progress.peersConnected);
      }
      h.disable();
      const s = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      say({
        result: {
          seconds: +s.toFixed(2),
          event_loop: histogram(h),
          ramp_event_loop: histogram(ramp),
          elu: +performance.eventLoopUtilization(elu0).utilization.toFixed(3),
          cpu_s: +((cpu.user + cpu.system) / 1e6).toFixed(2),
          uploaded_mib_s: +((progress.uploaded - up0) / 2 ** 20 / s).toFixed(1),
          peers_connected_min: Math.min(...peersSeen),
          peers_connected_max: Math.max(...peersSeen),
          peer_states: states,
          memory: memory(),
        },
      });
    } else if (cmd.cmd === 'close') {
      break;
    }
  }
  await closeEngine(engine);
  process.exit(0);
} else {
  throw new Error(`unknown mode ${cfg.mode}`);
}
