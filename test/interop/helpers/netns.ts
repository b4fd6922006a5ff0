/**
 * A private network namespace with only `lo` (as ../shared/lab/dht/netns.sh makes): a holder process
 * (`unshare -n … sleep`) keeps it alive, and every process of a test is started inside it with
 * `nsenter --net=/proc/HOLDER/ns/net`, so nothing but 127.0.0.1 / ::1 is reachable — no default router,
 * no DNS server, whatever a program tries. Every process is started by test/support/proc.ts and stopped
 * by PID.
 */
import { execFileSync, type SpawnOptions } from 'node:child_process';
import { jsonLines, startProcess, type Proc } from '../../support/proc.js';

export interface Netns {
  /** Starts `cmd args` inside the namespace; its JSON lines on stdout are collected in `lines`. */
  start(cmd: string, args: string[], options?: SpawnOptions): NsProc;
  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: string, args: string[]): string;
  stop(): Promise<void>;
}

export interface NsProc extends Proc {
  lines: Record<string, unknown>[];
  exited: Promise<number | null>;
}

export async function netns(): Promise<Netns> {
  const holder = startProcess('unshare', ['-n', '--', 'sh', '-c', 'ip link set lo up && exec sleep 900']);
  const ns = `--net=/proc/${holder.pid}/ns/net`;
  const exec = (cmd: string, args: string[]) =>
    execFileSync('nsenter', [ns, '--', cmd, ...args], { encoding: 'utf8', timeout: 10_000 });
  // Wait until lo is up inside.
  for (let i = 0; ; i++) {
    try {
      if (/state UNKNOWN|UP/.test(exec('ip', ['-o', 'link', 'show', 'lo']))) break;
    } catch {
      // not yet
    }
    if (i > 100) throw new Error(`network namespace not ready: ${holder.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const links = exec('ip', ['-o', 'link', 'show']).trim().split('\n');
  if (links.length !== 1) throw new Error(`the namespace has more than lo: ${links.join(' | ')}`);
  return {
    exec,
    start: (cmd, args, options = {}) => {
      const p = startProcess('nsenter', [ns, '--', cmd, ...args], options) as NsProc;
      p.lines = jsonLines(p.child.stdout!);
      p.exited = new Promise((resolve) => {
        if (p.child.exitCode !== null) resolve(p.child.exitCode);
        p.child.once('exit', (code) => resolve(code));
      });
      return p;
    },
    stop: () => holder.stop(),
  };
}

/** Resolves once `pred()` holds (polled every 100 ms); rejects after `ms` with `what`. */
export async function waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
