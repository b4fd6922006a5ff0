// Summarises a V8 CPU profile (node --cpu-prof): self time by function and by package.
//   node bench/profile-top.mjs DIR_OR_FILE [--top 30]
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' } },
});
const target = positionals[0];
if (!target) {
  console.error('usage: node bench/profile-top.mjs DIR_OR_FILE [--top N]');
  process.exit(2);
}
const file = statSync(target).isDirectory()
  ? join(
      target,
      readdirSync(target)
        .filter((f) => f.endsWith('.cpuprofile'))
        .sort()
        .at(-1),
    )
  : target;
const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
let total = 0;
profile.samples.forEach((id, i) => {
  const dt = profile.timeDeltas[i] ?? 0;
  self.set(id, (self.get(id) ?? 0) + dt);
  total += dt;
});
const byFunction = new Map();
const byPackage = new Map();
for (const [id, t] of self) {
  const { functionName, url, lineNumber } = nodes.get(id).callFrame;
  const short = url.split('/').slice(-2).join('/');
  const fn = `${functionName || '(anonymous)'} ${short}${url ? `:${lineNumber + 1}` : ''}`;
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + t);
  const pkg = url.includes('node_modules/')
    ? url.split('node_modules/').at(-1).split('/')[0]
    : url.includes('/dist/')
      ? `bt-actor ${url.split('/dist/')[1].split('/')[0]}`
      : url.startsWith('node:')
        ? 'node'
        : functionName || 'other';
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + t);
}
const row = ([k, t]) => `${(t / 1000).toFixed(1).padStart(9)} ms ${((100 * t) / total).toFixed(1).padStart(5)} %  ${k}`;
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled\n\nby package`);
for (const r of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(row(r));
console.log('\nby function (self time)');
for (const r of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top))) console.log(row(r));
