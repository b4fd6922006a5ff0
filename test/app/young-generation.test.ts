/**
 * young-generation.ts in processes of its own (V8's flags are per process): held, the young generation
 * stays at its first size however much survives; let go, it grows; and a code cache written through
 * withDefaultHeapFlags while it is held is one the next start (V8's defaults) accepts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
let dir: string;
let module: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-young-'));
  module = join(dir, 'young-generation.mjs');
  await build({
    entryPoints: [join(import.meta.dirname, '../../src/app/young-generation.ts')],
    outfile: module,
    bundle: true,
    format: 'esm',
    platform: 'node',
    logLevel: 'error',
  });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs `body` as an ES module with the module's exports in scope; returns what it printed, parsed. */
async function child(body: string): Promise<Record<string, unknown>> {
  const file = join(dir, `child-${Math.random().toString(36).slice(2)}.mjs`);
  await writeFile(
    file,
    `import { holdYoungGeneration, withDefaultHeapFlags } from ${JSON.stringify(module)};
import v8 from 'node:v8';
import vm from 'node:vm';
import { readFileSync, writeFileSync } from 'node:fs';
const newSpace = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
/** Allocates a million small objects that all survive: what makes V8 grow its young generation. */
const churn = () => { const keep = []; for (let i = 0; i < 1e6; i++) keep.push({ i }); return keep.length; };
${body}`,
  );
  const { stdout } = await run(process.execPath, [file], { timeout: 60_000 });
  return JSON.parse(stdout) as Record<string, unknown>;
}

const MiB = 1024 * 1024;
const SOURCE = 'function f(x) { return x + 1; } f(1);';

describe('young generation', () => {
  it('held, it keeps its first size while a million objects survive; let go, it grows', async () => {
    const r = await child(`
const first = newSpace();
holdYoungGeneration(true);
churn();
const held = newSpace();
holdYoungGeneration(false);
churn();
console.log(JSON.stringify({ first, held, grown: newSpace() }));`);
    // Its first size: one semi-space (1 MiB) before the first scavenge, both after it.
    expect(r.held as number).toBeLessThanOrEqual(2 * (r.first as number));
    expect(r.held as number).toBeLessThanOrEqual(2 * MiB);
    expect(r.grown as number).toBeGreaterThanOrEqual(8 * (r.held as number));
  });

  it('a code cache written through withDefaultHeapFlags while held is accepted by a start with the defaults', async () => {
    const write = (wrapped: boolean, file: string) =>
      child(`
holdYoungGeneration(true);
const script = new vm.Script(${JSON.stringify(SOURCE)}, { filename: 'x.js' });
script.runInThisContext();
const make = () => script.createCachedData();
writeFileSync(${JSON.stringify(file)}, ${wrapped ? 'withDefaultHeapFlags(make)' : 'make()'});
// The hold is back after the cache is written: the young generation stays small.
churn();
console.log(JSON.stringify({ stillHeld: newSpace() <= ${2 * 1024 * 1024} }));`);
    const read = (file: string) =>
      child(`
const script = new vm.Script(${JSON.stringify(SOURCE)}, { filename: 'x.js', cachedData: readFileSync(${JSON.stringify(file)}) });
console.log(JSON.stringify({ rejected: script.cachedDataRejected }));`);
    const good = join(dir, 'good.cache');
    const bad = join(dir, 'bad.cache');
    expect(await write(true, good)).toEqual({ stillHeld: true });
    await write(false, bad);
    expect(await read(good)).toEqual({ rejected: false });
    // Why the launcher needs it: made under the hold, the cache is refused at the next start.
    expect(await read(bad)).toEqual({ rejected: true });
  });
});
