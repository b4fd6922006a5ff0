// Child processes for the benchmark: each one starts in its own process group (detached) and is
// stopped by its PID as a group (SIGTERM, then SIGKILL after a grace period). Every wait is bounded.
// Ctrl-C (SIGINT) or SIGTERM of the bench stops every registered process and removes every
// registered temporary folder before exiting; a second Ctrl-C kills at once.
import { spawn } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearTimeout, setTimeout } from 'node:timers';

const running = new Set();
const tempDirs = new Set();
let aborting = false;

/** Thrown by bounded waits; `aborted()` is true once the bench is being interrupted. */
export class BenchAbort extends Error {}
export const aborted = () => aborting;

function killGroup(pid, sig) {
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Starts `cmd args` in a new process group. Output goes to `log` (a file path) and the last 64 KiB
 * are kept in memory; `onLine` hears each line of stdout; `stdin: true` opens a pipe (child.stdin).
 * Returns { pid, child, exited (Promise<{code, signal}>), output(), stop(graceMs) }.
 */
export function start(cmd, args, { log, cwd, env, onLine, stdin = false } = {}) {
  if (aborting) throw new BenchAbort('interrupted');
  const child = spawn(cmd, args, {
    cwd,
    env: env ?? process.env,
    detached: true,
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  child.stdin?.on('error', () => undefined); // a child that exits early closes the pipe
  if (onLine) {
    let rest = '';
    child.stdout.on('data', (d) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop();
      for (const l of lines) onLine(l);
    });
  }
  let mem = '';
  const file = log ? createWriteStream(log) : undefined;
  const keep = (d) => {
    if (file) file.write(d);
    mem = (mem + d.toString()).slice(-65536);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let status;
  const exited = new Promise((resolve) => {
    child.once('error', (err) => {
      keep(`spawn error: ${err.message}\n`);
      status ??= { code: null, signal: null, error: err.message };
      resolve(status);
    });
    child.once('close', (code, signal) => {
      status ??= { code, signal };
      resolve(status);
    });
  }).finally(() => {
    running.delete(proc);
    file?.end();
  });
  const proc = {
    cmd: [cmd, ...args].join(' '),
    pid: child.pid,
    child,
    exited,
    get status() {
      return status;
    },
    output: (n = 4000) => mem.slice(-n),
    /** SIGTERM to the group, SIGKILL after `graceMs`; resolves once the process has exited (bounded). */
    async stop(graceMs = 5000) {
      if (child.pid === undefined) return;
      if (status === undefined) killGroup(child.pid, 'SIGTERM');
      const t = setTimeout(() => killGroup(child.pid, 'SIGKILL'), graceMs);
      await Promise.race([exited, sleep(graceMs + 5000)]);
      clearTimeout(t);
      // anything left in the group (a wrapper's children) goes too
      killGroup(child.pid, 'SIGKILL');
    },
  };
  running.add(proc);
  return proc;
}

/** Waits for `proc` to exit, at most `ms`; on timeout it is stopped and { timeout: true } returned. */
export async function waitExit(proc, ms, graceMs = 5000) {
  let timer;
  const r = await Promise.race([
    proc.exited,
    new Promise((resolve) => (timer = setTimeout(() => resolve({ timeout: true }), ms))),
  ]);
  clearTimeout(timer);
  if (r.timeout) await proc.stop(graceMs);
  return r;
}

/** Polls `check` (sync or async) every `everyMs` until truthy, at most `ms`; throws with `what` on timeout. */
export async function waitFor(check, ms, what, { everyMs = 100, procs = [] } = {}) {
  const end = Date.now() + ms;
  for (;;) {
    if (aborting) throw new BenchAbort('interrupted');
    const v = await check();
    if (v) return v;
    for (const p of procs) {
      if (p.status !== undefined)
        throw new Error(
          `${what}: ${p.cmd.split(' ').slice(0, 2).join(' ')} exited (${JSON.stringify(p.status)}): ${p.output(1500)}`,
        );
    }
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(everyMs);
  }
}

/** Runs a command to completion (bounded), returning { code, stdout+stderr }. */
export async function run(cmd, args, { timeoutMs = 60_000, cwd } = {}) {
  const p = start(cmd, args, { cwd });
  const r = await waitExit(p, timeoutMs);
  return { code: r.timeout ? 'timeout' : r.code, output: p.output(65536) };
}

/** A TCP port on 127.0.0.1 that is free right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Registers a folder to delete on exit or interruption (and returns it). */
export function tempDir(dir) {
  tempDirs.add(dir);
  return dir;
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** Stops every running process (in parallel, bounded) and removes the registered folders. */
export async function cleanup(graceMs = 5000) {
  await Promise.all([...running].map((p) => p.stop(graceMs)));
  for (const d of [...tempDirs]) removeDir(d);
}

/** Installs the Ctrl-C / SIGTERM handlers: stop everything, clean up, exit 130. */
export function installSignalHandlers() {
  const onSignal = (sig) => {
    if (aborting) {
      for (const p of running) killGroup(p.pid, 'SIGKILL');
      for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
      process.exit(130);
    }
    aborting = true;
    console.error(`\n[bench] ${sig}: stopping ${running.size} process(es) and removing temporary data…`);
    const hard = setTimeout(() => {
      for (const p of running) killGroup(p.pid, 'SIGKILL');
      process.exit(130);
    }, 15_000);
    cleanup(3000).finally(() => {
      clearTimeout(hard);
      process.exit(130);
    });
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));
}
