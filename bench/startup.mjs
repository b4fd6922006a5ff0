// Start-up to the first HTTP announce (issue 18; docs/performance.md, Profiles, start-up).
//
//   node bench/startup.mjs [--runs N] [LAUNCHER ...]
//
// A local HTTP tracker on 127.0.0.1 and a one-file torrent; each LAUNCHER (default: this checkout's
// bin/bt-actor.js; any script taking bt-actor's arguments, e.g. another build's bin/bt-actor.js) runs
// `run T --out DIR --bind 127.0.0.1 --no-dht --json` until the tracker sees its first announce, then is
// killed. Launchers alternate round by round, after a round of warming up. Prefix a launcher with `NOCACHE:` to run it with
// BT_ACTOR_NO_CODE_CACHE=1. For each: the median wall time (spawn → announce request) and the child's CPU
// time at that moment from /proc/PID/task/*/schedstat (all threads; the main thread's alone in brackets),
// which the machine's load disturbs far less than the wall time. Prints the load average: no figure
// without it. Never asserted anywhere (no timed tests).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
let runs = 7;
if (args[0] === '--runs') {
  runs = Number(args[1]);
  args.splice(0, 2);
}
const launchers = args.length > 0 ? args : [join(root, 'bin/bt-actor.js')];
const { encodeTorrent } = await import(join(root, 'dist/protocol/metainfo-encode.js'));

const dir = mkdtempSync(join(tmpdir(), 'bt-actor-startup-'));
let announced;
const tracker = createServer((req, res) => {
  const at = performance.now();
  announced?.(at);
  res.end('d8:intervali1800e5:peers0:e');
});
await new Promise((resolve) => tracker.listen(0, '127.0.0.1', resolve));
const torrent = join(dir, 't.torrent');
writeFileSync(
  torrent,
  encodeTorrent({
    name: 'startup.bin',
    multiFile: false,
    files: [{ path: ['startup.bin'], length: 1 << 20 }],
    pieceLength: 1 << 18,
    pieces: new Uint8Array(80),
    announce: [[`http://127.0.0.1:${tracker.address().port}/announce`]],
  }),
);

/** CPU ms of a live process so far: all its threads, and its main thread. */
function cpuOf(pid) {
  let all = 0;
  let main = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      all += ns;
      if (Number(task) === pid) main = ns;
    } catch {
      // the thread ended meanwhile
    }
  }
  return [all / 1e6, main / 1e6];
}

const results = launchers.map(() => ({ wall: [], cpu: [], main: [] }));
const loadBefore = loadavg()[0];
try {
  // Round 0 warms up: each launcher runs 1.5 s, so that its code cache (written 1 s in) exists.
  for (let round = -1; round < runs; round++) {
    for (const [i, launcher] of launchers.entries()) {
      const noCache = launcher.startsWith('NOCACHE:');
      const first = new Promise((resolve) => (announced = resolve));
      const start = performance.now();
      const child = spawn(
        process.execPath,
        [launcher.replace(/^NOCACHE:/, ''), 'run', torrent, '--out', join(dir, 'out'), '--bind', '127.0.0.1'].concat([
          '--no-dht',
          '--json',
        ]),
        { stdio: 'ignore', env: { ...process.env, ...(noCache && { BT_ACTOR_NO_CODE_CACHE: '1' }) } },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const at = await Promise.race([first, exited.then(() => undefined)]);
      announced = undefined;
      if (at === undefined) throw new Error(`${launcher} exited before announcing`);
      const [all, main] = cpuOf(child.pid);
      if (round < 0) {
        await sleep(1500);
        child.kill('SIGKILL');
        await exited;
        continue;
      }
      results[i].wall.push(at - start);
      results[i].cpu.push(all);
      results[i].main.push(main);
      child.kill('SIGKILL');
      await exited;
    }
  }
} finally {
  tracker.close();
  rmSync(dir, { recursive: true, force: true });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const [i, launcher] of launchers.entries()) {
  const r = results[i];
  console.log(
    `${launcher}: wall median ${median(r.wall).toFixed(0)} ms [${r.wall.map((x) => x.toFixed(0)).join(' ')}]` +
      ` · CPU median ${median(r.cpu).toFixed(0)} ms (main thread ${median(r.main).toFixed(0)})`,
  );
}
console.log(
  `${runs} runs each; load average ${loadBefore.toFixed(2)} → ${loadavg()[0].toFixed(2)}; ${cpus().length} cores`,
);
