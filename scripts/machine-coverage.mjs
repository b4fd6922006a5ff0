// `npm run coverage:machines`: runs the machine tests (test/machines, test/sim) with every actor system
// watched (test/support/machine-coverage.ts), then prints one line per statechart of the registry,
//   machine NAME states A/B transitions C/D
// followed by what was never reached, and exits 1 unless every machine is at 100 % of both (or the
// tests failed). `--no-run` only adds up the tallies of the last run; `-- FILES` picks other tests.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const args = process.argv.slice(2);
const noRun = args.includes('--no-run');
const files = args.filter((a) => !a.startsWith('--'));
const dir = process.env.BT_MACHINE_COVERAGE ?? mkdtempSync(join(tmpdir(), 'bt-machine-coverage-'));

if (!noRun) {
  const run = spawnSync(
    process.execPath,
    [
      'node_modules/vitest/vitest.mjs',
      'run',
      '--project',
      'default',
      ...(files.length > 0 ? files : ['test/machines', 'test/sim']),
    ],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, BT_MACHINE_COVERAGE: dir } },
  );
  if (run.status !== 0) {
    console.error('coverage:machines: the tests failed');
    process.exit(1);
  }
}

const total = new Map();
for (const f of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const { machines } = JSON.parse(readFileSync(join(dir, f), 'utf8'));
  for (const [name, m] of Object.entries(machines)) {
    const t = total.get(name) ?? { structure: m.structure, states: new Set(), transitions: new Set() };
    for (const s of m.states) t.states.add(s);
    for (const s of m.transitions) t.transitions.add(s);
    total.set(name, t);
  }
}
if (!process.env.BT_MACHINE_COVERAGE) rmSync(dir, { recursive: true, force: true });
if (total.size === 0) {
  console.error('coverage:machines: no tallies were recorded');
  process.exit(1);
}

let ok = true;
const missing = [];
for (const [name, t] of total) {
  const states = t.structure.states.filter((s) => t.states.has(s));
  const transitions = t.structure.transitions.filter((s) => t.transitions.has(s));
  console.log(
    `machine ${name} states ${states.length}/${t.structure.states.length} transitions ${transitions.length}/${t.structure.transitions.length}`,
  );
  if (states.length < t.structure.states.length || transitions.length < t.structure.transitions.length) ok = false;
  for (const s of t.structure.states) if (!t.states.has(s)) missing.push(`  ${name}: state ${s} never entered`);
  for (const s of t.structure.transitions)
    if (!t.transitions.has(s)) missing.push(`  ${name}: transition ${s} never taken`);
}
if (missing.length > 0) console.log(`never reached:\n${missing.join('\n')}`);
process.exit(ok ? 0 : 1);
