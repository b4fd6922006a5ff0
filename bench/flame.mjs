// A flame graph (self-contained SVG) of bt-actor downloading, from a V8 CPU profile (issue 18).
//
//   node bench/flame.mjs [--size MiB] [--seeder libtorrent] [--out FILE.svg] [--bt-dir DIR]
//   node bench/flame.mjs --profile FILE.cpuprofile [--out FILE.svg] [--title TEXT]
//
// Without --profile it runs one bench download of --size MiB (default 1024; `bench/bench.mjs --cases 1
// --clients bt-actor`, one seeder on loopback) with bt-actor under `node --cpu-prof`
// (BT_BENCH_NODE_ARGS), then draws the profile it wrote. Stacks are merged by function (name, script, line); a frame's width is its share
// of the samples (inclusive time), the root at the bottom; frames under 0.1 % are dropped. Colours say
// where the code is: bt-actor, xstate, rxjs, other packages (in the CLI bundle by the module comment
// esbuild puts before each module's code), Node's internals, the garbage collector / program / idle. Each frame's tooltip gives its function, place, ms and %.
// Never asserted anywhere (no timed tests).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    profile: { type: 'string' },
    size: { type: 'string', default: '1024' },
    seeder: { type: 'string', default: 'libtorrent' },
    out: { type: 'string' },
    title: { type: 'string' },
    'bt-dir': { type: 'string', default: root },
    width: { type: 'string', default: '1200' },
    'min-percent': { type: 'string', default: '0.1' },
  },
});

/** Runs one bench download with bt-actor profiled; returns the .cpuprofile it wrote. */
function profileDownload() {
  const dir = mkdtempSync(join(tmpdir(), 'bt-flame-'));
  const args = [
    join(root, 'bench/bench.mjs'),
    '--size',
    values.size,
    '--seeder',
    values.seeder,
    '--clients',
    'bt-actor',
    '--cases',
    '1',
    '--no-save',
    '--bt-dir',
    values['bt-dir'],
  ];
  console.error(
    `flame: node ${args.map((a) => relative(process.cwd(), a) || a).join(' ')} (load ${loadavg()[0].toFixed(1)})`,
  );
  const r = spawnSync(process.execPath, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, BT_BENCH_NODE_ARGS: `--cpu-prof --cpu-prof-dir=${dir}` },
  });
  if (r.status !== 0) throw new Error(`bench exited ${r.status}`);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(dir, f))
    .sort((a, b) => statSync(b).size - statSync(a).size);
  if (files.length === 0) throw new Error(`no profile written in ${dir}`);
  return { file: files[0], cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * For a bundle (esbuild marks each module's code with a `// node_modules/…` or `// src/…` comment line):
 * the module each line belongs to, as sorted [first line (0-based), path] pairs; empty for other files.
 */
const bundleModules = new Map();
function modulesOf(url) {
  let mods = bundleModules.get(url);
  if (mods) return mods;
  mods = [];
  if (url.endsWith('.bundle.js') || url.endsWith('.bundle.mjs')) {
    try {
      const lines = readFileSync(url.replace(/^file:\/\//, ''), 'utf8').split('\n');
      lines.forEach((line, i) => {
        const m = /^\/\/ ((?:node_modules|src|dist)\/\S+)$/.exec(line);
        if (m) mods.push([i, m[1]]);
      });
    } catch {
      // not readable: the frames keep the bundle's name
    }
  }
  bundleModules.set(url, mods);
  return mods;
}

/** Where a frame's code is: its colour class (inside a bundle, by the module its line belongs to). */
function kindOf({ url, functionName, lineNumber }) {
  if (!url) return functionName === '(garbage collector)' ? 'gc' : 'vm';
  let where = url;
  const mods = modulesOf(url);
  if (mods.length > 0) {
    let lo = -1;
    for (let a = 0, b = mods.length - 1; a <= b;) {
      const m = (a + b) >> 1;
      if (mods[m][0] <= lineNumber) {
        lo = m;
        a = m + 1;
      } else b = m - 1;
    }
    if (lo >= 0) where = mods[lo][1];
  }
  if (where.includes('node_modules/xstate')) return 'xstate';
  if (where.includes('node_modules/rxjs')) return 'rxjs';
  if (where.includes('node_modules/')) return 'package';
  if (where.startsWith('node:')) return 'node';
  return 'bt-actor';
}
const COLOURS = {
  'bt-actor': [214, 110, 40],
  xstate: [70, 130, 200],
  rxjs: [150, 90, 190],
  package: [120, 160, 90],
  node: [190, 170, 60],
  gc: [200, 70, 70],
  vm: [150, 150, 150],
};

/** The profile's stacks merged by function: a tree of { name, kind, total (µs), children }. */
function mergedTree(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const tree = { name: 'all', kind: 'vm', total: 0, children: new Map() };
  for (const [id, t] of self) {
    if (t <= 0) continue;
    const stack = [];
    for (let at = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at).callFrame);
    stack.reverse();
    let node = tree;
    node.total += t;
    for (const f of stack) {
      if (f.functionName === '(root)') continue;
      const place = f.url
        ? `${f.url
            .replace(/^file:\/\//, '')
            .split('/')
            .slice(-2)
            .join('/')}:${f.lineNumber + 1}`
        : '';
      const key = `${f.functionName || '(anonymous)'} ${place}`;
      let child = node.children.get(key);
      if (!child) {
        child = { name: key.trim(), kind: kindOf(f), total: 0, children: new Map() };
        node.children.set(key, child);
      }
      child.total += t;
      node = child;
    }
  }
  return tree;
}

const escape = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The SVG of `tree`: root at the bottom, `width` px wide. */
function render(tree, { width, title, minPercent }) {
  const rowH = 16;
  const minTotal = (tree.total * minPercent) / 100;
  const rects = [];
  let depth = 0;
  const walk = (node, x, level) => {
    depth = Math.max(depth, level);
    rects.push({ node, x, level });
    let cx = x;
    for (const c of [...node.children.values()].sort((a, b) => b.total - a.total)) {
      if (c.total < minTotal) continue;
      walk(c, cx, level + 1);
      cx += c.total;
    }
  };
  walk(tree, 0, 0);
  const top = 40;
  const height = top + (depth + 1) * rowH + 30;
  const scale = width / tree.total;
  const out = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="monospace" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="6" y="16" font-size="14">${escape(title)}</text>`);
  let lx = 6;
  for (const [k, [r, g, b]] of Object.entries(COLOURS)) {
    out.push(`<rect x="${lx}" y="24" width="10" height="10" fill="rgb(${r},${g},${b})"/>`);
    out.push(`<text x="${lx + 13}" y="33">${k}</text>`);
    lx += 13 + k.length * 7 + 14;
  }
  for (const { node, x, level } of rects) {
    const w = node.total * scale;
    if (w < 0.3) continue;
    const y = height - 30 - (level + 1) * rowH;
    const [r, g, b] = COLOURS[node.kind];
    const shade = (h) => Math.min(255, Math.round(h * (0.85 + (0.15 * ((node.name.length * 7) % 10)) / 10)));
    const ms = node.total / 1000;
    const pct = (100 * node.total) / tree.total;
    const label = `${node.name} — ${ms.toFixed(0)} ms, ${pct.toFixed(1)} %`;
    out.push(
      `<g><title>${escape(label)}</title><rect x="${(x * scale).toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${rowH - 1}" fill="rgb(${shade(r)},${shade(g)},${shade(b)})"/>`,
    );
    const chars = Math.floor((w - 4) / 6.6);
    if (chars >= 3) {
      const text = node.name.length > chars ? `${node.name.slice(0, chars - 1)}…` : node.name;
      out.push(`<text x="${(x * scale + 2).toFixed(2)}" y="${y + 11}">${escape(text)}</text>`);
    }
    out.push('</g>');
  }
  out.push(
    `<text x="6" y="${height - 10}" fill="#555">${escape(`${(tree.total / 1e6).toFixed(2)} s sampled; width = share of samples (inclusive); frames under ${minPercent} % left out`)}</text>`,
  );
  out.push('</svg>');
  return out.join('\n');
}

const run = values.profile ? { file: values.profile, cleanup: () => undefined } : profileDownload();
try {
  const profile = JSON.parse(readFileSync(run.file, 'utf8'));
  const tree = mergedTree(profile);
  const title =
    values.title ??
    `bt-actor leeching ${values.size} MiB from one ${values.seeder} seeder on loopback — CPU profile (node --cpu-prof)`;
  const svg = render(tree, { width: Number(values.width), title, minPercent: Number(values['min-percent']) });
  const out = values.out ?? join(root, `docs/images/flame-${values.size}mib.svg`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, svg);
  const top = [...tree.children.values()].sort((a, b) => b.total - a.total).slice(0, 5);
  console.log(`flame: ${out} (${(tree.total / 1e6).toFixed(2)} s sampled from ${run.file})`);
  for (const c of top) console.log(`  ${((100 * c.total) / tree.total).toFixed(1).padStart(5)} %  ${c.name}`);
} finally {
  run.cleanup();
}
