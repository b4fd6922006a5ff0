import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

describe('bt-actor demo', () => {
  it('runs a self-contained swarm and verifies the download', async () => {
    const { stdout } = await run(process.execPath, [BIN, 'demo', '--size', '8', '--seeders', '2', '--json'], {
      timeout: 90_000,
    });
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.event === 'done')).toMatchObject({ complete: true, wasted: 0 });
    const last = lines.at(-1)!;
    expect(last.event).toBe('demo');
    expect(String(last.message)).toMatch(/all \d+ files are byte-identical/);
    expect(String(last.message)).toMatch(/seeder 1 sent .*seeder 2 sent/);
  }, 120_000);

  it('refuses bad options with exit code 2', async () => {
    const err = await run(process.execPath, [BIN, 'demo', '--size', '0']).catch((e: { code: number }) => e);
    expect(err).toMatchObject({ code: 2 });
  });
});
