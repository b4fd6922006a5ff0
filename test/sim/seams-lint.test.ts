/**
 * The seams rule of eslint.config.js: outside src/io/clock.ts and src/io/transport.ts (and the browser
 * inspector), src/ may not read the wall clock, start timers, draw from Math.random or import node:net —
 * everything time and network goes through the runtime seams (docs/simulation.md).
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });
const CODE = [
  "import { connect } from 'node:net';",
  'export const c = connect;',
  'export const a = Date.now() + Math.random() + performance.now();',
  'setTimeout(() => a, 1);',
  'setInterval(() => a, 1);',
  '',
].join('\n');

async function ruleHits(filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(CODE, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId?.startsWith('no-restricted'))
    .map((m) => `${m.line}:${m.ruleId}`);
}

describe('the seams lint rule', () => {
  it('flags node:net, Date.now, Math.random, performance and timers in the engine (app, io, machines, sim)', async () => {
    for (const file of ['src/app/x.ts', 'src/io/x.ts', 'src/sim/x.ts', 'src/machines/x.ts']) {
      const hits = await ruleHits(file);
      for (const line of [1, 3, 4, 5])
        expect(
          hits.some((h) => h.startsWith(`${line}:`)),
          `${file} line ${line}`,
        ).toBe(true);
    }
  });

  it('allows them in the two seam modules: time in clock.ts, time and node:net in transport.ts', async () => {
    expect(await ruleHits('src/io/clock.ts')).toEqual(['1:no-restricted-imports']);
    expect(await ruleHits('src/io/transport.ts')).toEqual([]);
  });

  it('allows a type-only import of node:net', async () => {
    const [result] = await eslint.lintText("import type { Socket } from 'node:net';\nexport type S = Socket;\n", {
      filePath: 'src/app/x.ts',
    });
    expect(result?.messages.filter((m) => m.ruleId === 'no-restricted-imports')).toEqual([]);
  });
});
