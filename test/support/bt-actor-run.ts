/**
 * `bt-actor run … --json` as a child process for the interop tests: its JSON lines (each also handed to
 * `onLine` as it comes), its stderr, its exit code and its peak resident memory (sampled from /proc every
 * 50 ms). Killed after `timeoutMs`.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonLines } from './proc.js';

export const BT_ACTOR_BIN = join(import.meta.dirname, '../../bin/bt-actor.js');

export interface BtActorRun {
  code: number | null;
  lines: Record<string, unknown>[];
  stderr: string;
  /** Peak resident memory of the process (MB). */
  peakRssMB: number;
}

export function runBtActor(
  args: string[],
  timeoutMs: number,
  onLine?: (l: Record<string, unknown>) => void,
): Promise<BtActorRun> {
  return new Promise((resolve) => {
    // No DHT unless the test bootstraps it (on 127.0.0.1, in a network namespace): never a public router.
    const dht = args.some((a) => a.startsWith('--dht-bootstrap') || a === '--no-dht') ? [] : ['--no-dht'];
    const child = spawn(process.execPath, [BT_ACTOR_BIN, 'run', ...args, ...dht, '--json'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const lines = jsonLines(child.stdout, onLine, (text) => (stderr += `non-JSON stdout: ${text}\n`));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let peakRssMB = 0;
    const sample = setInterval(() => {
      try {
        const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (kb) peakRssMB = Math.max(peakRssMB, Number(kb[1]) / 1024);
      } catch {
        // exited
      }
    }, 50);
    child.on('exit', (code) => {
      clearTimeout(timer);
      clearInterval(sample);
      resolve({ code, lines, stderr, peakRssMB });
    });
  });
}
