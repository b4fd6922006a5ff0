// Medians, ratios to bt-actor, the printed tables and the JSON results of the benchmark.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const RESULTS = fileURLToPath(new URL('../results/', import.meta.url));

export const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

const round = (x, d = 2) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);

/** Median figures of the successful runs of one row. */
export function summarize(runs) {
  const ok = runs.filter((r) => r.ok);
  const m = (k) => median(ok.map((r) => r[k]));
  return {
    runs: runs.length,
    ok: ok.length,
    seconds: round(m('seconds')),
    mib_s: round(m('mib_s'), 1),
    cpu_s: round(m('cpu_s')),
    cpu_s_per_gib: round(m('cpu_s_per_gib')),
    maxrss_mb: round(m('maxrss_mb'), 1),
    peak_anon_mb: round(m('peak_anon_mb'), 1),
    seeder_cpu_s: round(m('seeder_cpu_s')),
  };
}

/** bt-actor's figures divided by the row's: speed (≥ 1 = bt-actor as fast or faster), CPU per GiB and RSS (≤ 1 = bt-actor uses no more). */
export function ratios(bt, row) {
  const div = (a, b) => (a && b ? round(a / b) : null);
  return {
    speed: div(bt?.mib_s, row.mib_s),
    cpu_per_gib: div(bt?.cpu_s_per_gib, row.cpu_s_per_gib),
    rss: div(bt?.maxrss_mb, row.maxrss_mb),
  };
}

function table(headers, rows) {
  const cells = rows.map((r) => r.map((c) => (c === null || c === undefined ? '–' : String(c))));
  const w = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(headers), w.map((n) => '-'.repeat(n)).join('  '), ...cells.map(line)].join('\n');
}

const x2 = (v) => (typeof v === 'number' ? v.toFixed(2) : v);

export const ROW_HEADERS = [
  'client',
  'ok',
  'MiB/s',
  'wall s',
  'CPU s',
  'CPU s/GiB',
  'RSS MB',
  'anon MB',
  'bt speed ×',
  'bt CPU ×',
  'bt RSS ×',
  'seed CPU s',
];

/** The printed table of one case: one line per client with its medians and bt-actor's ratios to it. */
export function caseTable(c) {
  return table(
    ROW_HEADERS,
    c.rows.map((r) => [
      r.client,
      r.skipped ? 'skip' : `${r.median.ok}/${r.median.runs}`,
      r.median?.mib_s,
      r.median?.seconds,
      r.median?.cpu_s,
      r.median?.cpu_s_per_gib,
      r.median?.maxrss_mb,
      r.median?.peak_anon_mb,
      x2(r.ratios?.speed),
      x2(r.ratios?.cpu_per_gib),
      x2(r.ratios?.rss),
      r.median?.seeder_cpu_s,
    ]),
  );
}

/** A Markdown version of the same table (for docs/performance.md). */
export function caseMarkdown(c) {
  const head = `| ${ROW_HEADERS.join(' | ')} |\n|${ROW_HEADERS.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`;
  const body = c.rows.map((r) => {
    const m = r.median ?? {};
    const cells = [
      r.client,
      r.skipped ? 'skipped' : `${m.ok}/${m.runs}`,
      m.mib_s,
      m.seconds,
      m.cpu_s,
      m.cpu_s_per_gib,
      m.maxrss_mb,
      m.peak_anon_mb,
      x2(r.ratios?.speed),
      x2(r.ratios?.cpu_per_gib),
      x2(r.ratios?.rss),
      m.seeder_cpu_s,
    ];
    return `| ${cells.map((x) => (x === null || x === undefined ? '–' : x)).join(' | ')} |`;
  });
  return [head, ...body].join('\n');
}

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 }).trim();
  } catch (e) {
    return (e.stdout || e.stderr || '').toString().trim() || null;
  }
}

function pkgVersion(name) {
  try {
    return JSON.parse(
      readFileSync(fileURLToPath(new URL(`../../node_modules/${name}/package.json`, import.meta.url)), 'utf8'),
    ).version;
  } catch {
    return null;
  }
}

function btVersion(btDir) {
  try {
    return JSON.parse(readFileSync(join(btDir, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** The commit bt-actor was built from: `.bench-commit` of a snapshot, or git (with "+dirty" for local changes in src/ or bin/). */
export function commitOf(btDir) {
  const stamp = join(btDir, '.bench-commit');
  if (existsSync(stamp)) return readFileSync(stamp, 'utf8').trim();
  const head = sh('git', ['-C', btDir, 'rev-parse', '--short=12', 'HEAD']);
  const dirty = sh('git', ['-C', btDir, 'status', '--porcelain', '--', 'src', 'bin']);
  return head ? head + (dirty ? '+dirty' : '') : null;
}

/** The machine and the version of every client, queried from the programs themselves. */
export function environment(btDir) {
  const first = (s) => (s ? s.split('\n')[0] : null);
  let debian = null;
  try {
    debian = readFileSync('/etc/debian_version', 'utf8').trim();
  } catch {
    /* not Debian */
  }
  return {
    machine: {
      cpus: cpus().length,
      cpu: cpus()[0]?.model ?? null,
      mem_gb: round(totalmem() / 1e9, 1),
      loadavg_at_start: loadavg().map((x) => round(x)),
      kernel: release(),
      debian,
    },
    versions: {
      node: process.version,
      'bt-actor': btVersion(btDir),
      aria2: first(sh('aria2c', ['--version'])),
      transmission: first(sh('transmission-cli', ['--version'])),
      libtorrent: sh('/usr/bin/python3', ['-c', 'import libtorrent as lt; print(lt.__version__)']),
      webtorrent: pkgVersion('webtorrent'),
      opentracker: sh('dpkg-query', ['-W', '-f', '${Version}', 'opentracker']),
      'bittorrent-tracker': pkgVersion('bittorrent-tracker'),
      mktorrent: sh('dpkg-query', ['-W', '-f', '${Version}', 'mktorrent']),
    },
    commit: commitOf(btDir),
  };
}

/** Writes RESULTS/<timestamp>-<mode>.json and RESULTS/<latest>; returns the timestamped path. */
export function save(result, mode, latest) {
  mkdirSync(RESULTS, { recursive: true });
  const ts = result.date.replace(/[:.]/g, '-');
  const file = join(RESULTS, `${ts}-${mode}.json`);
  const text = JSON.stringify(result, null, 2) + '\n';
  writeFileSync(file, text);
  writeFileSync(join(RESULTS, latest), text);
  return file;
}
