// Compares two bt-actor builds on the `--quick` benchmark, interleaved so that both see the same
// machine: round after round, A then B, `--repeat` runs each, bt-actor only; then the medians per case.
//
//   bench/snapshot.sh REV_A; bench/snapshot.sh REV_B          # builds into /tmp/bt-actor-<sha>
//   node bench/ab.mjs /tmp/bt-actor-<a> /tmp/bt-actor-<b> [--rounds 5] [--repeat 2] [--cases 1,2,3]
//
// Prints one line per run as it goes and a table at the end: MiB/s, CPU s and peak RSS (medians), and
// B's throughput and CPU relative to A's. Exit status 1 if a run failed.
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '2' },
    cases: { type: 'string', default: '1,2,3' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help || positionals.length !== 2) {
  console.log('node bench/ab.mjs DIR_A DIR_B [--rounds N] [--repeat N] [--cases 1,2,3]');
  process.exit(values.help ? 0 : 2);
}
const dirs = positionals;
const runs = new Map(); // `${dir} ${case}` → [{ mibs, cpu, rss }]
let failed = false;

function bench(dir) {
  return new Promise((resolve) => {
    const args = ['bench/bench.mjs', '--quick', '--clients', 'bt-actor', '--cases', values.cases, '--bt-dir', dir];
    const child = spawn(process.execPath, [...args, '--repeat', values.repeat, '--no-save'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // The benchmark reports each run on stderr.
    let buf = '';
    child.stderr.on('data', (d) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = / (\d) · bt-actor · run \d+: ok ([\d.]+) MiB\/s, ([\d.]+) CPU s, ([\d.]+) MB RSS/.exec(line);
        if (m) {
          const key = `${dir} ${m[1]}`;
          runs.set(key, [...(runs.get(key) ?? []), { mibs: +m[2], cpu: +m[3], rss: +m[4] }]);
          console.log(`${basename(dir)} ${line.trim()}`);
        } else if (/failed|FAIL/.test(line)) {
          failed = true;
          console.log(`${basename(dir)} ${line.trim()}`);
        }
      }
    });
    child.on('close', (code) => {
      if (code !== 0) failed = true;
      resolve();
    });
  });
}

for (let r = 1; r <= Number(values.rounds); r++) for (const d of dirs) await bench(d);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`\ncase  build                     runs  MiB/s  CPU s  RSS MB  B/A MiB/s  B/A CPU`);
for (const c of values.cases.split(',')) {
  const stats = dirs.map((d) => {
    const rs = runs.get(`${d} ${c}`) ?? [];
    return {
      d,
      n: rs.length,
      mibs: median(rs.map((x) => x.mibs)),
      cpu: median(rs.map((x) => x.cpu)),
      rss: median(rs.map((x) => x.rss)),
    };
  });
  for (const [i, s] of stats.entries()) {
    const rel =
      i === 1
        ? `${(s.mibs / stats[0].mibs).toFixed(3).padStart(9)}  ${(s.cpu / stats[0].cpu).toFixed(3).padStart(7)}`
        : '';
    console.log(
      `${c.padEnd(5)} ${basename(s.d).padEnd(25)} ${String(s.n).padStart(4)} ${s.mibs.toFixed(1).padStart(6)} ${s.cpu.toFixed(2).padStart(6)} ${s.rss.toFixed(0).padStart(7)}  ${rel}`,
    );
  }
}
process.exit(failed ? 1 : 0);
