/**
 * `bt-actor run … --json` as a child process for the interop tests: its JSON lines (each also handed to
 * `onLine` as it comes), its stderr, its exit code and its peak resident memory (sampled from /proc every
 * 50 ms). Killed after `timeoutMs`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
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

/** A `bt-actor run --seed` child process, seeding (its `complete` line seen). */
export interface BtActorSeed {
  child: ChildProcess;
  /** Its JSON lines so far (the array grows as they come). */
  lines: Record<string, unknown>[];
  stderr: () => string;
  /** SIGTERM (SIGKILL after 8 s); resolves with the exit code. */
  stop: () => Promise<number | null>;
}

/**
 * Starts `bt-actor run TORRENT --out DATADIR --seed --port PORT --bind 127.0.0.1 --json --no-dht` (plus
 * `extra` arguments) and resolves once it seeds; rejects when it exits first or is not seeding in 60 s.
 */
export async function startBtActorSeed(
  torrent: string,
  dataDir: string,
  port: number,
  extra: string[] = [],
): Promise<BtActorSeed> {
  const args = ['run', torrent, '--out', dataDir, '--seed', '--port', String(port), '--bind', '127.0.0.1'];
  const child = spawn(process.execPath, [BT_ACTOR_BIN, ...args, ...extra, '--json', '--no-dht'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let lines: Record<string, unknown>[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bt-actor seed not ready: ${stderr}`)), 60_000);
    lines = jsonLines(child.stdout, (l) => {
      if (l.event === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`bt-actor seed exited ${code}: ${stderr}`));
    });
  });
  return {
    child,
    lines,
    stderr: () => stderr,
    stop: () => stopGracefully(child, exited),
  };
}

/**
 * Stops a bt-actor child as a user would (SIGTERM: it tells its trackers and closes its files), killing
 * it if it is still there 8 s later; resolves with its exit code. `exited` is its exit, awaited once.
 */
export async function stopGracefully(child: ChildProcess, exited: Promise<number | null>): Promise<number | null> {
  if (child.exitCode === null) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}
