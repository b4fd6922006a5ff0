/**
 * bin/bt-actor.js caps V8's young generation at 8 MiB (bin/young-generation.js: the semi-space growth
 * factor set to 1 once the new space has reached the cap), unless the user's own Node flags say
 * something of the semi-spaces: a probe preloaded into the launcher's process allocates, once the
 * command is done, objects that survive a few scavenges (what makes V8 grow the young generation), in
 * steps with the event loop between them, and reports the new space's size.
 * docs/performance.md, Targets (issue 18).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

const PROBE = `let ran = false;
process.on('beforeExit', () => {
  if (ran) return;
  ran = true;
  const keep = [];
  let round = 0;
  const step = () => {
    const batch = [];
    for (let i = 0; i < 5000; i++) batch.push({ a: i, b: [i, i + 1] });
    keep.push(batch);
    if (keep.length > 30) keep.shift();
    if (++round < 300) return setImmediate(step);
    const space = require('node:v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    process.stderr.write('new_space ' + space.space_size + '\\n');
  };
  setImmediate(step);
});
`;

let dir: string;
let probe: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bt-actor-launcher-heap-'));
  probe = join(dir, 'probe.cjs');
  await writeFile(probe, PROBE);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The new space's size (bytes) after the probe's allocations, in a process started with `args`. */
async function newSpace(args: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  const { stderr } = await run(process.execPath, ['--require', probe, ...args], {
    env: { ...process.env, NODE_OPTIONS: '', BT_ACTOR_NO_CODE_CACHE: '1', ...env },
  });
  const m = /new_space (\d+)/.exec(stderr);
  expect(m, stderr).not.toBeNull();
  return Number(m![1]);
}

const MiB = 1 << 20;

describe('the launcher and the young generation', () => {
  it('without the launcher, the same allocations grow the new space to 32 MiB', async () => {
    expect(await newSpace(['-e', '0'])).toBeGreaterThanOrEqual(32 * MiB);
  });

  it('bt-actor lets it grow to 8 MiB and no further', async () => {
    expect(await newSpace([BIN, '--version'])).toBe(8 * MiB);
  });

  it("a semi-space flag of the user's own wins, on the command line or in NODE_OPTIONS", async () => {
    expect(await newSpace(['--max-semi-space-size=16', BIN, '--version'])).toBeGreaterThanOrEqual(32 * MiB);
    expect(await newSpace([BIN, '--version'], { NODE_OPTIONS: '--max-semi-space-size=16' })).toBeGreaterThanOrEqual(
      8 * MiB,
    );
  });
});
