/**
 * Real clients as leechers on 127.0.0.1 for the interop suite: each resolves when its download is
 * complete (or rejects on failure / timeout), and is stopped by PID either way.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startProcess, type Proc } from './proc.js';
import { aria2LoopbackArgs, transmissionSettings } from './seeders.js';

const HELPERS = join(import.meta.dirname, '../interop/helpers');

function exitOf(proc: Proc, timeoutMs: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void proc.stop();
      reject(new Error(`${what}: no completion within ${timeoutMs} ms: ${proc.output().slice(-1500)}`));
    }, timeoutMs);
    proc.child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${what}: exit ${code}: ${proc.output().slice(-1500)}`));
    });
  });
}

/** libtorrent downloading through the torrent's trackers (and `peers`). */
export async function libtorrentLeecher(
  torrent: string,
  outDir: string,
  port: number,
  opts: { peers?: number[]; timeoutMs: number; forcedEncryption?: boolean },
): Promise<void> {
  const args = [
    join(HELPERS, 'lt_leech.py'),
    torrent,
    outDir,
    String(port),
    '--timeout',
    String(opts.timeoutMs / 1000),
  ];
  for (const p of opts.peers ?? []) args.push('--peer', String(p));
  if (opts.forcedEncryption) args.push('--forced-encryption');
  const proc = startProcess('/usr/bin/python3', args);
  try {
    await exitOf(proc, opts.timeoutMs + 5000, 'libtorrent leecher');
  } finally {
    await proc.stop();
  }
}

/** aria2c downloading through the torrent's HTTP tracker (aria2 uses UDP trackers only with DHT on). */
export async function aria2Leecher(torrent: string, outDir: string, port: number, timeoutMs: number): Promise<void> {
  const proc = startProcess('aria2c', [
    ...aria2LoopbackArgs(port),
    '--seed-time=0',
    '--file-allocation=none',
    `--dir=${outDir}`,
    '--bt-max-peers=0',
    '--max-overall-download-limit=0',
    torrent,
  ]);
  try {
    await exitOf(proc, timeoutMs, 'aria2 leecher');
  } finally {
    await proc.stop();
  }
}

/**
 * transmission-cli 3.00 downloading. On loopback it never dials 127.x peers from a tracker, so the
 * seeder must dial it: start this first, then the seeder, which learns of it from the tracker.
 */
export async function transmissionLeecher(
  torrent: string,
  outDir: string,
  port: number,
  workDir: string,
  timeoutMs: number,
  /** MSE only, both ways (`encryption` 2, `-er`). */
  requireEncryption = false,
): Promise<{ done: Promise<void> }> {
  const conf = join(workDir, `tr-leech-${port}`);
  await mkdir(conf, { recursive: true });
  await mkdir(outDir, { recursive: true });
  const doneFile = join(conf, 'DONE');
  await writeFile(join(conf, 'done.sh'), `#!/bin/sh\ntouch '${doneFile}'\n`, { mode: 0o755 });
  await writeFile(join(conf, 'settings.json'), transmissionSettings(port, outDir, requireEncryption ? 2 : 0));

  const proc = startProcess('transmission-cli', [
    '-g',
    conf,
    '-w',
    outDir,
    '-p',
    String(port),
    '-M',
    requireEncryption ? '-er' : '-et',
    '-f',
    join(conf, 'done.sh'),
    torrent,
  ]);
  const done = (async () => {
    const end = Date.now() + timeoutMs;
    try {
      while (Date.now() < end) {
        if (existsSync(doneFile)) return;
        if (proc.child.exitCode !== null)
          throw new Error(`transmission leecher exited ${proc.child.exitCode}: ${proc.output().slice(-1500)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`transmission leecher: no completion within ${timeoutMs} ms: ${proc.output().slice(-1500)}`);
    } finally {
      await proc.stop();
    }
  })();
  // Give it a moment to announce before the seeder starts.
  await new Promise((r) => setTimeout(r, 1500));
  return { done };
}
