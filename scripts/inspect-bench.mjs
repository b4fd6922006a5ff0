#!/usr/bin/env node
// What inspection costs a download: `bt-actor run` from bt-actor seeders on 127.0.0.1, without
// inspection, with the local inspector page being watched (a WebSocket client that selects a peer, or
// headless Chromium with --browser), and with --inspect=stately sending to a local WebSocket sink.
// Runs the modes interleaved, several times, and prints medians of wall time and the leecher's CPU
// time (user + system, from the shell's `times`). Not a test: nothing is asserted.
//
//   npm run build && node scripts/inspect-bench.mjs [--size MiB] [--seeders N] [--repeat N] [--browser]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { WebSocket, WebSocketServer } from 'ws';
import { createTorrent } from '../dist/io/create-torrent.js';

// Every bt-actor run of the benchmark is on 127.0.0.1: no DHT (no public router is ever contacted).
process.env.BT_ACTOR_NO_DHT = '1';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '1024' },
    seeders: { type: 'string', default: '3' },
    repeat: { type: 'string', default: '3' },
    browser: { type: 'boolean', default: false },
  },
});
const SIZE = Number(values.size) * 1024 * 1024;
const BIN = new URL('../bin/bt-actor.js', import.meta.url).pathname;
const CHROMIUM = '/usr/bin/chromium';

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/**
 * Starts `node bin/bt-actor.js args` in its own process group, under sh so that its CPU time can be
 * read (`times`). `stop()` ends the whole group.
 */
function btActor(args, onLine) {
  const child = spawn('sh', ['-c', '"$@"; s=$?; times >&2; exit $s', 'sh', process.execPath, BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let buf = '';
  let err = '';
  child.stdout.on('data', (d) => {
    buf += d;
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        onLine?.(JSON.parse(line));
      } catch {
        /* not JSON */
      }
    }
  });
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  const done = new Promise((resolve) =>
    child.on('exit', (code) => {
      // `times`: the shell's user/system, then its children's: "0m3.120000s 0m0.410000s".
      const last = err.trim().split('\n').at(-1) ?? '';
      const secs = [...last.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      resolve({ code, cpu: secs.length === 2 ? secs[0] + secs[1] : Number.NaN, err });
    }),
  );
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* gone */
    }
    return done;
  };
  return { child, done, stop };
}

/** CPU seconds used so far by Chromium: its process group (Playwright starts it detached), from /proc. */
function chromiumCpu(pgid) {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields after the name: state(3) ppid(4) pgrp(5) … utime(14) stime(15), numbered from 1.
      if (Number(f[2]) === pgid) ticks += Number(f[11]) + Number(f[12]);
    } catch {
      /* gone */
    }
  }
  return ticks / 100; // USER_HZ
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const work = await mkdtemp(join(tmpdir(), 'bt-actor-inspect-bench-'));
const seeders = [];
let chromium;
let browserServer;
const sink = new WebSocketServer({ host: '127.0.0.1', port: 0 });
let sinkMessages = 0;
sink.on('connection', (ws) => ws.on('message', () => sinkMessages++));
try {
  console.error(`making ${values.size} MiB of data in ${work}`);
  const fh = await open(join(work, 'payload.bin'), 'w');
  for (let done = 0; done < SIZE; done += 8 << 20) await fh.write(randomBytes(Math.min(8 << 20, SIZE - done)));
  await fh.close();
  const { torrent } = await createTorrent(join(work, 'payload.bin'), { creationDate: null });
  const torrentPath = join(work, 'payload.torrent');
  await writeFile(torrentPath, torrent);

  const peers = [];
  for (let i = 0; i < Number(values.seeders); i++) {
    const port = await freePort();
    let ready;
    const isReady = new Promise((r) => (ready = r));
    const s = btActor(
      ['run', torrentPath, '--out', work, '--seed', '--port', String(port), '--bind', '127.0.0.1', '--json'],
      (l) => l.event === 'complete' && ready(),
    );
    seeders.push(s);
    await isReady;
    peers.push('--peer', `127.0.0.1:${port}`);
  }
  console.error(`${seeders.length} bt-actor seeders ready`);
  if (values.browser && existsSync(CHROMIUM)) {
    ({ chromium } = await import('playwright-core'));
    browserServer = await chromium.launchServer({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
    });
  }

  const modes = [
    { name: 'off', args: [] },
    {
      name: values.browser ? '--inspect (page open in Chromium)' : '--inspect (page watched: WebSocket client)',
      args: ['--inspect', '--inspect-port', '0'],
      watch: true,
    },
    {
      name: '--inspect=stately (local sink)',
      args: ['--inspect=stately', '--inspect-url', `ws://127.0.0.1:${sink.address().port}`],
    },
  ];
  const results = new Map(modes.map((m) => [m.name, []]));
  for (let r = 0; r < Number(values.repeat); r++) {
    for (const mode of modes) {
      const out = join(work, `leech-${r}-${modes.indexOf(mode)}`);
      let watcher;
      let browser;
      let page;
      let received = 0;
      if (browserServer && mode.watch) {
        // A warm browser with a blank tab, as a user who opens the page has: Chromium's own start-up
        // is not the inspector's cost (loading the page is, and is counted).
        browser = await chromium.connect(browserServer.wsEndpoint());
        page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
        await page.goto('about:blank');
        await sleep(3000);
      }
      const browserCpu0 = browserServer && mode.watch ? chromiumCpu(browserServer.process().pid) : undefined;
      const t0 = performance.now();
      const run = btActor(
        [
          'run',
          torrentPath,
          '--out',
          out,
          ...peers,
          '--port',
          String(await freePort()),
          '--bind',
          '127.0.0.1',
          '--json',
          ...mode.args,
        ],
        (l) => {
          if (l.event !== 'inspect' || !mode.watch) return;
          if (page) {
            void (async () => {
              await page.goto(l.url);
              await page.waitForSelector('table.peers tr.row', { timeout: 10_000 }).catch(() => {});
              await page.click('table.peers tr.row').catch(() => {});
            })().catch(() => {});
          } else {
            watcher = new WebSocket(`${l.url.replace('http', 'ws')}ws`);
            watcher.on('error', () => {});
            watcher.on('message', (d) => {
              received += d.length;
              const m = JSON.parse(String(d));
              const peer = (m.upsert ?? m.actors ?? []).find((a) => a.machine === 'peer');
              if (peer && !watcher.selected) {
                watcher.selected = true;
                watcher.send(JSON.stringify({ type: 'select', id: peer.id }));
              }
            });
          }
        },
      );
      const { code, cpu, err } = await run.done;
      const wall = (performance.now() - t0) / 1000;
      const pageCpu = browserCpu0 !== undefined ? chromiumCpu(browserServer.process().pid) - browserCpu0 : undefined;
      watcher?.terminate();
      await browser?.close().catch(() => {});
      await rm(out, { recursive: true, force: true });
      if (code !== 0) {
        console.error(`${mode.name}: exit ${code}\n${err}`);
        continue;
      }
      results.get(mode.name).push({ wall, cpu });
      console.error(
        `run ${r + 1} ${mode.name}: ${wall.toFixed(2)} s, ${(SIZE / 2 ** 20 / wall).toFixed(1)} MiB/s, CPU ${cpu.toFixed(2)} s${received ? `, page got ${(received / 1024).toFixed(0)} KiB` : ''}${pageCpu !== undefined ? `, Chromium CPU ${pageCpu.toFixed(2)} s` : ''}`,
      );
    }
  }
  const base = results.get('off');
  const baseWall = median(base.map((x) => x.wall));
  const baseCpu = median(base.map((x) => x.cpu));
  console.log(
    `\n${values.size} MiB from ${seeders.length} bt-actor seeders on 127.0.0.1, median of ${values.repeat}; ${cpus().length} cores, load average ${loadavg()[0].toFixed(2)}`,
  );
  console.log(
    'mode'.padEnd(48),
    'MiB/s'.padStart(7),
    'wall s'.padStart(8),
    'CPU s'.padStart(7),
    'throughput'.padStart(11),
    'CPU'.padStart(8),
  );
  for (const [name, xs] of results) {
    if (xs.length === 0) continue;
    const wall = median(xs.map((x) => x.wall));
    const cpu = median(xs.map((x) => x.cpu));
    const speed = (baseWall / wall - 1) * 100;
    const cost = (cpu / baseCpu - 1) * 100;
    console.log(
      name.padEnd(48),
      (SIZE / 2 ** 20 / wall).toFixed(1).padStart(7),
      wall.toFixed(2).padStart(8),
      cpu.toFixed(2).padStart(7),
      `${speed >= 0 ? '+' : ''}${speed.toFixed(1)}%`.padStart(11),
      `${cost >= 0 ? '+' : ''}${cost.toFixed(1)}%`.padStart(8),
    );
  }
  console.log(`(the Stately sink received ${sinkMessages} messages in all)`);
} finally {
  await Promise.all(seeders.map((s) => s.stop()));
  await browserServer?.close();
  sink.close();
  await rm(work, { recursive: true, force: true });
}
