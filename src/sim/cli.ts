/**
 * `npm run sim -- --scenario NAME --seed S [--nodes N]`: runs one scenario, prints its figures and ends
 * with `sim NAME seed S nodes N trace HEX ok` (exit 0) or `… FAILED: reason` and the replay command
 * (exit 1). `--seeds K` sweeps seeds 1..K (or from `--seed`) and prints every failing seed with the
 * command that replays it. `--list` names the scenarios. Bad arguments: one line, exit 2.
 */
import { replayCommand, runScenario, verdictLine, type ScenarioResult } from './scenario.js';
import { scenarioNamed, scenarios } from './scenarios/index.js';
import { writeReport } from './report.js';

interface SimArgs {
  scenario?: string;
  seed?: number;
  seeds?: number;
  nodes?: number;
  report?: string;
  list: boolean;
}

const usage = 'usage: npm run sim -- --scenario NAME (--seed S | --seeds K) [--nodes N] [--report FILE.html] | --list';

function parse(argv: string[]): SimArgs | string {
  const out: SimArgs = { list: false };
  const int = (flag: string, v: string | undefined, min: number): number | string => {
    const n = Number(v);
    return v !== undefined && Number.isInteger(n) && n >= min ? n : `${flag} needs an integer ≥ ${min}`;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    if (a === '--list') out.list = true;
    else if ((a === '--scenario' || a === '--report') && v) {
      out[a.slice(2) as 'scenario' | 'report'] = v;
      i++;
    } else if (a === '--seed' || a === '--seeds' || a === '--nodes') {
      const n = int(a, v, a === '--seed' ? 0 : 1);
      if (typeof n === 'string') return n;
      out[a.slice(2) as 'seed' | 'seeds' | 'nodes'] = n;
      i++;
    } else return `unknown argument ${a}`;
  }
  return out;
}

function printResult(r: ScenarioResult, out: (s: string) => void): void {
  for (const [k, v] of Object.entries(r.figures)) out(`  ${k}: ${v}`);
  out(`  virtual time s: ${Math.round(r.sim.clock.now() / 100) / 10}`);
  out(`  wall ms: ${r.wallMs}`);
  out(`  trace entries: ${r.sim.trace.count}`);
}

export async function main(argv: string[], out = (s: string) => console.log(s)): Promise<number> {
  const args = parse(argv);
  if (typeof args === 'string') {
    console.error(`bt-actor: sim: ${args}\n${usage}`);
    return 2;
  }
  if (args.list) {
    for (const s of scenarios) out(`${s.name}: ${s.summary}`);
    return 0;
  }
  const scenario = args.scenario ? scenarioNamed(args.scenario) : undefined;
  if (!scenario) {
    console.error(
      `bt-actor: sim: ${args.scenario ? `no scenario '${args.scenario}'` : '--scenario is required'} (one of ${scenarios.map((s) => s.name).join(', ')})\n${usage}`,
    );
    return 2;
  }
  if (args.seeds !== undefined) {
    const from = args.seed ?? 1;
    const failing: ScenarioResult[] = [];
    for (let seed = from; seed < from + args.seeds; seed++) {
      const r = await runScenario(scenario, seed, args.nodes);
      if (!r.ok) {
        failing.push(r);
        out(verdictLine(r));
        out(`  replay: ${replayCommand(r)}`);
      }
    }
    out(
      `sim ${scenario.name} seeds ${from}..${from + args.seeds - 1}: ${args.seeds - failing.length} ok, ${failing.length} failed`,
    );
    return failing.length === 0 ? 0 : 1;
  }
  const r = await runScenario(scenario, args.seed ?? 1, args.nodes);
  out(`sim ${r.name}: ${scenario.summary}`);
  printResult(r, out);
  if (args.report) {
    await writeReport(args.report, r);
    out(`  report: ${args.report}`);
  }
  if (!r.ok) out(`  replay: ${replayCommand(r)}`);
  out(verdictLine(r));
  return r.ok ? 0 : 1;
}
