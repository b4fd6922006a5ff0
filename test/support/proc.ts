/**
 * Child processes and ports for tests: every process is started in its own process group and
 * killed by PID (the whole group) when the test ends, with a bounded wait.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer, Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import type { Readable } from 'node:stream';

export interface Proc {
  child: ChildProcess;
  pid: number;
  output: () => string;
  stop: () => Promise<void>;
}

const running = new Set<Proc>();

/** Starts `cmd` in a new process group; its stdout/stderr are kept (last 64 KiB) for diagnostics. */
export function startProcess(cmd: string, args: string[], options: SpawnOptions = {}): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...options });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-65536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const proc: Proc = {
    child,
    pid: child.pid ?? -1,
    output: () => out.slice(-4000),
    stop: async () => {
      running.delete(proc);
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
      const kill = (sig: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          /* already gone */
        }
      };
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
  running.add(proc);
  return proc;
}

/** Stops every process this module started (for afterAll hooks). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** A TCP port free on 127.0.0.1 right now (and, when `udp`, free for UDP too). */
export async function freePort(udp = false): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    if (!udp) return port;
    const ok = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port');
}

/** Resolves once 127.0.0.1:`port` accepts TCP connections; rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000, proc?: Proc): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.connect(port, '127.0.0.1');
    });
    if (ok) return;
    if (proc && proc.child.exitCode !== null)
      throw new Error(`process exited (${proc.child.exitCode}): ${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`port ${port} did not open within ${timeoutMs} ms${proc ? `: ${proc.output()}` : ''}`);
}

/**
 * Calls `onLine` with each JSON line a process writes (bt-actor's `--json` output), parsed; a line
 * that is not JSON goes to `onOther` (ignored without it). Collects the parsed lines, returned.
 */
export function jsonLines(
  stream: Readable,
  onLine?: (line: Record<string, unknown>) => void,
  onOther?: (text: string) => void,
): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        onOther?.(text);
        continue;
      }
      lines.push(line);
      onLine?.(line);
    }
  });
  return lines;
}
