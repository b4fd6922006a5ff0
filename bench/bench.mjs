#!/usr/bin/env node
// `npm run bench`: bt-actor against aria2, Transmission, libtorrent and WebTorrent on 127.0.0.1.
// A real tracker and real seeders share a generated torrent; each client downloads it as the only
// leecher, into a fresh folder, verified byte for byte; wall time, CPU and peak RSS come from the
// kernel (bench/helpers/measure.py). Nothing is asserted: it prints tables and writes bench/results/.
// See docs/performance.md.
import { mkdir, readFile, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { mkdtempSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { LEECHERS, ROOT, SEEDERS, incompatible, leecherCommand, seederCommand } from './lib/clients.mjs';
import { makePayload, makeTorrent, verify } from './lib/data.mjs';
import {
  BenchAbort,
  aborted,
  cleanup,
  freePort,
  installSignalHandlers,
  removeDir,
  run,
  start,
  tempDir,
  waitExit,
  waitFor,
} from './lib/procs.mjs';
import { caseMarkdown, caseTable, environment, ratios, save, summarize } from './lib/report.mjs';
import { scrape, startTracker } from './lib/tracker.mjs';

// Every bt-actor run of the benchmark is on 127.0.0.1: no DHT (no public router is ever contacted).
process.env.BT_ACTOR_NO_DHT = '1';

const MEASURE = fileURLToPath(new URL('./helpers/measure.py', import.meta.url));
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const HELP = `Usage: npm run bench -- [options]

Benchmarks bt-actor against aria2, Transmission, libtorrent and WebTorrent on 127.0.0.1: a real
tracker, real seeders of a generated torrent, each client downloading it in turn into a fresh folder,
verified by SHA-256. Prints a table per case and writes bench/results/<time>-<mode>.json and latest.json.

Cases:  1  one file of --size MiB, 1 seeder      2  the same file, 4 seeders
        3  --size MiB spread over --files files, 1 seeder

Options:
  --quick              256 MiB; all clients on case 1, bt-actor and libtorrent on cases 2 and 3
                       (under two minutes on 2 cores)
  --cases 1,2,3        which cases (default all)
  --clients a,b,…      leechers: ${LEECHERS.join(', ')} (default all; with --quick see above)
  --size MiB           payload size (default 1024; --quick 256)
  --files N            files in case 3 (default 2000)
  --repeat N           runs per client and case; the tables show medians (default 1)
  --seeder KIND        ${SEEDERS.join(', ')} (default libtorrent)
  --tracker KIND       opentracker or bittorrent-tracker (default opentracker)
  --bt-args "FLAGS"    also run bt-actor with these extra 'run' flags, as its own row
                       "bt-actor FLAGS" (repeatable), e.g. --bt-args "--inspect"
  --bt-dir DIR         the bt-actor build to measure (default this checkout; see bench/snapshot.sh)
  --piece-length N     bytes (default: 256 KiB up to 64 MiB, 512 KiB up to 512 MiB, else 1 MiB)
  --timeout S          per download (default 60 + size/4 s)
  --flat               only bt-actor, case 1 at 256 MiB and at 4 GiB: peak RSS must not grow with size
  --flat-sizes A,B     sizes for --flat in MiB (default 256,4096)
  --scale              run bench/scale.mjs instead (1,000 idle torrents; 200 peers), passing the rest on
  --work DIR           where the temporary data goes (default /tmp)
  --keep               keep the temporary folder (logs, data) instead of deleting it
  --no-save            do not write bench/results/
  -h, --help           this help
`;

/** Splits "--a b 'c d'" like a shell would (quotes, no expansion). */
function splitArgs(s) {
  return [...s.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

function parse(argv) {
  const o = {
    cases: null,
    clients: null,
    size: null,
    files: 2000,
    repeat: 1,
    seeder: 'libtorrent',
    tracker: 'opentracker',
    btArgs: [],
    btDir: ROOT,
    pieceLength: null,
    timeout: null,
    quick: false,
    flat: false,
    flatSizes: [256, 4096],
    work: '/tmp',
    keep: false,
    save: true,
  };
  const list = (v) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) [a, v] = [a.slice(0, eq), a.slice(eq + 1)];
    const val = () => {
      if (v !== undefined) return v;
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) throw new Error(`${a} needs a positive number`);
      return n;
    };
    switch (a) {
      case '--quick':
        o.quick = true;
        break;
      case '--flat':
        o.flat = true;
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--no-save':
        o.save = false;
        break;
      case '--cases':
        o.cases = list(val());
        break;
      case '--clients':
        o.clients = list(val());
        break;
      case '--size':
        o.size = num();
        break;
      case '--files':
        o.files = Math.floor(num());
        break;
      case '--repeat':
        o.repeat = Math.floor(num());
        break;
      case '--seeder':
        o.seeder = val();
        break;
      case '--tracker':
        o.tracker = val();
        break;
      case '--bt-args':
        o.btArgs.push(val());
        break;
      case '--bt-dir':
        o.btDir = resolve(val());
        break;
      case '--piece-length':
        o.pieceLength = num();
        break;
      case '--timeout':
        o.timeout = num();
        break;
      case '--flat-sizes':
        o.flatSizes = list(val()).map(Number);
        break;
      case '--work':
        o.work = resolve(val());
        break;
      case '-h':
      case '--help':
        o.help = true;
        break;
      default:
        throw new Error(`unknown option ${a} (see --help)`);
    }
  }
  for (const c of o.cases ?? []) if (!['1', '2', '3'].includes(c)) throw new Error(`unknown case ${c} (1, 2, 3)`);
  for (const c of o.clients ?? [])
    if (!LEECHERS.includes(c)) throw new Error(`unknown client ${c} (${LEECHERS.join(', ')})`);
  if (!SEEDERS.includes(o.seeder)) throw new Error(`unknown seeder ${o.seeder} (${SEEDERS.join(', ')})`);
  return o;
}

const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

/** The cases to run: [{ id, label, bytes, files, seeders, clients }]. */
function plan(o) {
  const size = o.size ?? (o.quick || o.flat ? 256 : 1024);
  const bytes = Math.round(size * MiB);
  const sizeLabel = bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${size} MiB`;
  if (o.flat) {
    return o.flatSizes.map((mib, k) => {
      const b = Math.round(mib * MiB);
      return {
        id: `flat-${mib}`,
        label: `flat ${k + 1}: ${b % GiB === 0 ? `${b / GiB} GiB` : `${mib} MiB`} single file, 1 ${o.seeder} seeder`,
        bytes: b,
        files: 1,
        seeders: 1,
        clients: ['bt-actor'],
      };
    });
  }
  const all = {
    1: { label: `case 1: ${sizeLabel} single file, 1 ${o.seeder} seeder`, files: 1, seeders: 1 },
    2: { label: `case 2: ${sizeLabel} single file, 4 ${o.seeder} seeders`, files: 1, seeders: 4 },
    3: {
      label: `case 3: ${sizeLabel} over ${o.files.toLocaleString('en-US')} files, 1 ${o.seeder} seeder`,
      files: o.files,
      seeders: 1,
    },
  };
  return (o.cases ?? ['1', '2', '3']).map((id) => ({
    id,
    ...all[id],
    bytes,
    clients: o.clients ?? (o.quick && id !== '1' ? ['bt-actor', 'libtorrent'] : LEECHERS),
  }));
}

/** The rows of a case: each client, and bt-actor once more per --bt-args. */
function rowsOf(c, o) {
  const rows = [];
  for (const client of c.clients) {
    rows.push({ client, name: client, btArgs: [] });
    if (client === 'bt-actor')
      for (const extra of o.btArgs) rows.push({ client, name: `bt-actor ${extra}`, btArgs: splitArgs(extra) });
  }
  return rows;
}

/** One measured download. */
/**
 * CPU seconds (user + system) the seeders' processes have used so far, from /proc/PID/stat (clock
 * ticks of 1/100 s); null where /proc is not there. The difference around a download is the seeders'
 * cost of serving it (the seeders serve nobody else meanwhile).
 */
function seedersCpuS(swarm) {
  try {
    let ticks = 0;
    for (const s of swarm?.seeders ?? []) {
      const stat = readFileSync(`/proc/${s.proc.pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15)
    }
    return ticks / 100;
  } catch {
    return null;
  }
}

async function download(row, c, ds, o, caseDir, k, swarm) {
  const slug = `${row.name.replace(/[^a-z0-9]+/gi, '-')}-${k}`;
  const outDir = join(caseDir, `out-${slug}`);
  const workDir = join(caseDir, `run-${slug}`);
  await mkdir(outDir, { recursive: true });
  await mkdir(workDir, { recursive: true });
  const port = await freePort();
  const timeoutS = o.timeout ?? Math.ceil(60 + c.bytes / MiB / 4);
  const spec = leecherCommand(row.client, {
    torrent: ds.torrent.path,
    outDir,
    port,
    timeoutS,
    workDir,
    btDir: o.btDir,
    btArgs: row.btArgs,
  });
  const measureFile = join(workDir, 'measure.json');
  const args = [
    MEASURE,
    '--out',
    measureFile,
    ...(spec.doneFile ? ['--done-file', spec.doneFile] : []),
    '--',
    spec.cmd,
    ...spec.args,
  ];
  log(`${c.id} · ${row.name} · run ${k}: downloading ${(c.bytes / MiB).toFixed(0)} MiB`);
  const t0 = performance.now();
  const seedCpu0 = seedersCpuS(swarm);
  const p = start('/usr/bin/python3', args, { log: join(workDir, 'leecher.log'), cwd: workDir });
  const exit = await waitExit(p, (timeoutS + 30) * 1000);
  const seedCpu1 = seedersCpuS(swarm);
  const harnessS = (performance.now() - t0) / 1000;
  let m = {};
  try {
    m = JSON.parse(await readFile(measureFile, 'utf8'));
  } catch {
    /* killed before it could write */
  }
  const seconds = m.done_s ?? m.wall_s ?? harnessS;
  const cpu = (m.user_s ?? 0) + (m.sys_s ?? 0);
  const rec = {
    case: c.id,
    client: row.name,
    run: k,
    rc: exit.timeout ? 'timeout' : (m.rc ?? exit.code),
    seconds: +seconds.toFixed(3),
    wall_s: m.wall_s ?? null,
    done_s: m.done_s ?? null,
    mib_s: +(c.bytes / MiB / seconds).toFixed(2),
    user_s: m.user_s ?? null,
    sys_s: m.sys_s ?? null,
    cpu_s: +cpu.toFixed(3),
    cpu_s_per_gib: +(cpu / (c.bytes / GiB)).toFixed(3),
    seeder_cpu_s: seedCpu0 === null || seedCpu1 === null ? null : +(seedCpu1 - seedCpu0).toFixed(2),
    maxrss_mb: m.maxrss_kb ? +((m.maxrss_kb * 1024) / 1e6).toFixed(1) : null,
    peak_rss_mb: m.peak_rss_kb ? +((m.peak_rss_kb * 1024) / 1e6).toFixed(1) : null,
    peak_anon_mb: m.peak_anon_kb ? +((m.peak_anon_kb * 1024) / 1e6).toFixed(1) : null,
    verified: false,
    load1: +loadavg()[0].toFixed(2),
  };
  if (rec.rc === 0) {
    const bad = await verify(ds.payload, outDir);
    rec.verified = bad.length === 0;
    if (bad.length) rec.bad = bad;
  }
  rec.ok = rec.rc === 0 && rec.verified;
  if (!rec.ok) rec.log_tail = p.output(1500);
  log(
    `${c.id} · ${row.name} · run ${k}: ${rec.ok ? 'ok' : `FAILED (rc ${rec.rc}, verified ${rec.verified})`} ${rec.mib_s} MiB/s, ${rec.cpu_s} CPU s, ${rec.maxrss_mb} MB RSS, seeders ${rec.seeder_cpu_s ?? '–'} CPU s`,
  );
  if (!o.keep) {
    await rm(outDir, { recursive: true, force: true });
    if (rec.ok) await rm(workDir, { recursive: true, force: true });
  }
  return rec;
}

/** Tracker and seeders for one case, ready (the tracker counts them complete). */
async function startSwarm(c, ds, o, caseDir) {
  const tracker = await startTracker(o.tracker, ds.trackerPort, join(caseDir, 'tracker'), [ds.torrent.infoHash]);
  const seeders = [];
  try {
    for (let i = 0; i < c.seeders; i++) {
      const dataDir = join(caseDir, `seed${i}`);
      const workDir = join(caseDir, `seed${i}-work`);
      await mkdir(dataDir, { recursive: true });
      await mkdir(workDir, { recursive: true });
      if (!existsSync(join(dataDir, ds.payload.name))) {
        // hard links: no copy
        const cp = await run('cp', ['-al', join(ds.payload.root, ds.payload.name), dataDir], { timeoutMs: 120_000 });
        if (cp.code !== 0) throw new Error(`cp -al failed: ${cp.output}`);
      }
      const spec = seederCommand(o.seeder, {
        torrent: ds.torrent.path,
        dataDir,
        port: await freePort(),
        workDir,
        btDir: o.btDir,
      });
      seeders.push({ spec, proc: start(spec.cmd, spec.args, { log: join(workDir, 'seeder.log'), cwd: workDir }) });
    }
    const procs = [tracker.proc, ...seeders.map((s) => s.proc)];
    const readyMs = 60_000 + (c.seeders * c.bytes) / MiB / 0.1; // hash checks: 100 MiB/s per seeder at worst
    for (const s of seeders)
      if (s.spec.readyFile)
        await waitFor(() => existsSync(s.spec.readyFile), readyMs, `${o.seeder} seeder check`, { procs });
    await waitFor(
      async () =>
        (await scrape(tracker.port, ds.torrent.infoHash).catch(() => ({ complete: 0 }))).complete >= c.seeders,
      readyMs,
      `${c.seeders} seeder(s) announced complete`,
      { procs, everyMs: 200 },
    );
    log(`${c.id}: tracker (${o.tracker}) and ${c.seeders} ${o.seeder} seeder(s) ready`);
    return { tracker, seeders };
  } catch (e) {
    await Promise.all([tracker.proc, ...seeders.map((s) => s.proc)].map((p) => p.stop()));
    throw e;
  }
}

/** Payload and torrent of a case (kept for the next case that needs the same). */
async function dataset(c, o, root, cache) {
  const key = `${c.bytes}-${c.files}`;
  if (cache.has(key)) return cache.get(key);
  for (const [k, old] of cache) {
    removeDir(old.dir);
    cache.delete(k);
  }
  const dir = join(root, `data-${key}`);
  const name = c.files === 1 ? `bench-${c.bytes / MiB}MiB.bin` : `bench-${c.bytes / MiB}MiB-${c.files}files`;
  log(`generating ${(c.bytes / MiB).toFixed(0)} MiB in ${c.files} file(s)…`);
  const payload = await makePayload(join(dir, 'payload'), name, c.bytes, c.files);
  const trackerPort = await freePort();
  const torrent = await makeTorrent(
    payload,
    `http://127.0.0.1:${trackerPort}/announce`,
    join(dir, `${name}.torrent`),
    o.pieceLength ?? undefined,
  );
  const ds = { dir, payload, torrent, trackerPort };
  cache.set(key, ds);
  return ds;
}

async function main(argv) {
  const o = parse(argv);
  if (o.help) return void console.log(HELP);
  if (!existsSync(join(o.btDir, 'dist/index.js'))) throw new Error(`no build in ${o.btDir}/dist: run npm run build`);
  installSignalHandlers();
  const cases = plan(o);
  const root = tempDir(mkdtempSync(join(o.work, 'bt-bench-')));
  const env = environment(o.btDir);
  const mode = o.flat ? 'flat' : o.quick ? 'quick' : 'full';
  const result = {
    kind: 'bench',
    mode,
    date: new Date().toISOString(),
    ...env,
    options: { ...o, btDir: o.btDir, help: undefined },
    cases: [],
  };
  log(`bt-actor ${env.commit} (${o.btDir}); work folder ${root}`);
  const t0 = performance.now();
  const cache = new Map();
  try {
    for (const c of cases) {
      const ds = await dataset(c, o, root, cache);
      const caseDir = join(root, `case-${c.id}`);
      await mkdir(caseDir, { recursive: true });
      const rows = rowsOf(c, o).map((r) => ({ ...r, runs: [], skipped: incompatible(r.client, o.seeder) }));
      const active = rows.filter((r) => !r.skipped);
      // Transmission keys its peers by IP address: once one leecher on 127.0.0.1 has completed, a
      // Transmission seeder takes 127.0.0.1 for a seed and refuses every later leecher. So its
      // seeders (and the tracker) start afresh for each download; their resume files spare a recheck.
      const fresh = o.seeder === 'transmission';
      let swarm;
      const stopSwarm = async () => {
        if (swarm) await Promise.all([swarm.tracker.proc, ...swarm.seeders.map((s) => s.proc)].map((p) => p.stop()));
        swarm = undefined;
      };
      try {
        for (let k = 1; k <= o.repeat; k++) {
          for (const r of active) {
            swarm ??= await startSwarm(c, ds, o, caseDir);
            r.runs.push(await download(r, c, ds, o, caseDir, k, swarm));
            if (fresh) await stopSwarm();
            await sleep(300);
          }
        }
      } finally {
        await stopSwarm();
        if (!o.keep) await rm(caseDir, { recursive: true, force: true });
      }
      for (const r of rows) r.median = summarize(r.runs);
      const bt = rows.find((r) => r.name === 'bt-actor')?.median;
      for (const r of rows) r.ratios = bt && !r.skipped ? ratios(bt, r.median) : null;
      const out = {
        id: c.id,
        label: c.label,
        bytes: c.bytes,
        files: c.files,
        seeders: c.seeders,
        seeder: o.seeder,
        pieceLength: ds.torrent.pieceLength,
        rows: rows.map((r) => ({
          client: r.name,
          skipped: r.skipped ?? null,
          median: r.median,
          ratios: r.ratios,
          runs: r.runs,
        })),
      };
      result.cases.push(out);
      console.log(`\n${c.label} (median of ${o.repeat}; bt × = bt-actor's figure ÷ the row's)\n${caseTable(out)}\n`);
      for (const r of out.rows) {
        if (r.skipped) console.log(`  ${r.client} skipped: ${r.skipped}`);
        const bad = r.runs.find((x) => !x.ok);
        if (bad) {
          const why = bad.bad?.join('; ') ?? bad.log_tail?.trim().split('\n').slice(-3).join(' | ');
          console.log(`  ${r.client} run ${bad.run} failed (exit ${bad.rc}, verified ${bad.verified}): ${why}`);
        }
      }
    }
  } finally {
    if (o.keep) log(`kept ${root}`);
    else await cleanup();
  }
  result.seconds = +((performance.now() - t0) / 1000).toFixed(1);
  result.machine.loadavg_at_end = loadavg().map((x) => +x.toFixed(2));
  if (o.flat) result.flat = flatSummary(result);
  else result.targets = targets(result);
  printSummary(result);
  if (o.save) log(`results: ${save(result, mode, o.flat ? 'latest-flat.json' : 'latest.json')}`);
  result.markdown = result.cases.map((c) => `**${c.label}**\n\n${caseMarkdown(c)}`).join('\n\n');
  return result;
}

/** bt-actor's peak RSS at each size, and whether it stays flat (the largest ≤ 1.2 × the smallest) and ≤ 150 MB. */
function flatSummary(result) {
  const sizes = result.cases.map((c) => ({
    mib: c.bytes / MiB,
    maxrss_mb: c.rows.find((r) => r.client === 'bt-actor')?.median?.maxrss_mb ?? null,
    mib_s: c.rows.find((r) => r.client === 'bt-actor')?.median?.mib_s ?? null,
  }));
  const rss = sizes.map((s) => s.maxrss_mb).filter((x) => x !== null);
  const growth = rss.length >= 2 ? +(rss[rss.length - 1] / rss[0]).toFixed(2) : null;
  return {
    sizes,
    growth,
    flat: growth !== null && growth <= 1.2,
    under_150_mb: rss.length > 0 && Math.max(...rss) <= 150,
  };
}

/** The issue's throughput, CPU and RSS targets (libtorrent seeders; throughput and CPU on single-file cases). */
function targets(result) {
  const t = [];
  if (result.options.seeder !== 'libtorrent') return t; // the issue's targets are against libtorrent seeders
  for (const c of result.cases) {
    const bt = c.rows.find((r) => r.client === 'bt-actor');
    const lt = c.rows.find((r) => r.client === 'libtorrent');
    if (!bt?.median?.ok) continue;
    if (lt?.median?.ok && c.files === 1) {
      t.push({
        case: c.id,
        target: 'throughput ≥ 1.0 × libtorrent',
        value: lt.ratios?.speed ?? null,
        met: (bt.median.mib_s ?? 0) >= (lt.median.mib_s ?? Infinity),
      });
      t.push({
        case: c.id,
        target: 'CPU s/GiB ≤ libtorrent',
        value: lt.ratios?.cpu_per_gib ?? null,
        met: (bt.median.cpu_s_per_gib ?? Infinity) <= (lt.median.cpu_s_per_gib ?? 0),
      });
    }
    t.push({
      case: c.id,
      target: 'peak RSS ≤ 150 MB',
      value: bt.median.maxrss_mb,
      met: (bt.median.maxrss_mb ?? Infinity) <= 150,
    });
  }
  return t;
}

function printSummary(result) {
  if (result.flat) {
    const f = result.flat;
    console.log(
      `bt-actor peak RSS: ${f.sizes.map((s) => `${s.mib} MiB → ${s.maxrss_mb} MB`).join(', ')}; growth ×${f.growth} (${f.flat ? 'flat' : 'NOT flat'}), ${f.under_150_mb ? '≤' : '>'} 150 MB`,
    );
  }
  for (const t of result.targets ?? [])
    console.log(`target case ${t.case}: ${t.target}: ${t.value} ${t.met ? 'met' : 'NOT met'}`);
  console.log(`bench took ${result.seconds} s`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const scale = argv.includes('--scale');
  const job = scale ? import('./scale.mjs').then((m) => m.main(argv.filter((a) => a !== '--scale'))) : main(argv);
  job.then(
    (result) =>
      process.exit(aborted() ? 130 : result?.cases?.some((c) => c.rows.some((r) => r.runs.some((x) => !x.ok))) ? 1 : 0),
    async (e) => {
      if (!(e instanceof BenchAbort)) console.error(`bench: ${e.message}`);
      await cleanup();
      process.exit(e instanceof BenchAbort ? 130 : 1);
    },
  );
}

export { main };
