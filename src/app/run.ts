/**
 * `bt-actor run`: download a torrent into a folder, with a progress line on a TTY and JSON lines
 * otherwise. Resolves to the exit code (0 complete and verified, 1 failed, 2 bad input). It is an
 * {@link Engine} holding the one torrent plus a renderer; the engine alone starts and stops it.
 */
import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { firstValueFrom } from 'rxjs';
import type { TorrentReport } from '../machines/torrent/torrent.machine.js';
import { ListenError } from '../io/listener.js';
import { LockError, lockHolder, lockPath } from '../io/lock.js';
import { isBtError } from '../protocol/errors.js';
import { MetainfoError, type Metainfo } from '../protocol/metainfo.js';
import type { PeerAddress } from '../protocol/peer-address.js';
import { Engine, type TorrentOutcome } from './engine.js';
import { formatBytes, fsReason } from './format.js';
import { startInspection, type Inspection, type InspectionOptions } from './inspect/index.js';

export interface RunOptions {
  meta: Metainfo;
  out: string;
  peers: PeerAddress[];
  port: number;
  /** `--port` given: that port or a refusal (exit 2), never another one. */
  exactPort?: boolean;
  maxPeers: number;
  json: boolean;
  quiet: boolean;
  /** Keep seeding after completion until stopped (or until `seedRatio`). */
  seed: boolean;
  seedRatio?: number;
  /** Address to accept peers on (default all interfaces). */
  bind?: string;
  /** Ignore the resume file and check existing data by hash. */
  check?: boolean;
  out_: (line: string) => void;
  err: (line: string) => void;
  /** Writes without a newline (the TTY progress line). */
  tty?: (text: string) => void;
  signal?: AbortSignal;
  /** `--inspect`: the local inspector page or the Stately inspector (docs/inspect.md). Off when absent. */
  inspect?: InspectionOptions;
}

/** `stat` of `p`, or undefined when nothing is there (or a file stands on the way); other errors are thrown. */
async function statIfAny(p: string) {
  try {
    return await stat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

/**
 * Checks (and creates) the download folder before anything starts, so that an unusable one is one
 * line and exit 2, not a failure at the first piece. Names the real cause: the path (or a folder on
 * the way to it) that is a file, the read-only or forbidden folder under which it cannot be created,
 * or a folder (or the torrent's data already in it) that cannot be written. Returns the line, or null.
 */
export async function prepareOutDir(dir: string, meta?: Metainfo): Promise<string | null> {
  const abs = resolve(dir);
  try {
    // The deepest part of the path that exists: it must be a folder, and writable when we create under it.
    let existing = abs;
    let st = await statIfAny(existing);
    while (!st && dirname(existing) !== existing) {
      existing = dirname(existing);
      st = await statIfAny(existing);
    }
    if (st && !st.isDirectory())
      return existing === abs ? `--out ${dir} is a file, not a folder` : `cannot create ${dir}: ${existing} is a file`;
    if (existing !== abs) {
      try {
        await access(existing, constants.W_OK);
      } catch (err) {
        return `cannot create ${dir}: ${existing} is not writable: ${fsReason(err)}`;
      }
      try {
        await mkdir(abs, { recursive: true });
      } catch (err) {
        return `cannot create ${dir}: ${fsReason(err)}`;
      }
    }
    // A folder we cannot write to (read-only mount, no permission) would fail only at the first piece.
    try {
      await access(abs, constants.W_OK);
    } catch (err) {
      return `cannot use ${dir}: ${fsReason(err)}`;
    }
    // The torrent's data already there (its file, or its folder for a multi-file torrent) is written too.
    if (meta) {
      const target = join(abs, meta.name);
      if (await statIfAny(target))
        try {
          await access(target, constants.W_OK);
        } catch (err) {
          return `cannot use ${dir}: ${target} is not writable: ${fsReason(err)}`;
        }
    }
    return null;
  } catch (err) {
    return `cannot use ${dir}: ${fsReason(err)}`;
  }
}

/** `--bind` without the brackets of an IPv6 address; null when it is not an IP address. */
function bindAddress(bind: string | undefined): string | undefined | null {
  if (bind === undefined) return undefined;
  const host = bind.replace(/^\[(.*)\]$/, '$1');
  return isIP(host) === 0 ? null : host;
}

export async function runDownload(o: RunOptions): Promise<number> {
  // Refusals before any port is opened (the inspector's, the peers'): --bind takes an address of this
  // machine, never a name to look up; another bt-actor on this folder and torrent (the engine's lock
  // decides; this only says it earlier).
  if (bindAddress(o.bind) === null) {
    o.err(`bt-actor: --bind '${o.bind}' is not an IP address`);
    return 2;
  }
  const dir = resolve(o.out);
  const holder = await lockHolder(lockPath(dir, o.meta.infoHashHex));
  if (holder !== undefined) {
    o.err(`bt-actor: ${new LockError(lockPath(dir, o.meta.infoHashHex), holder, dir).message}`);
    return 2;
  }
  let inspection: Inspection | undefined;
  if (o.inspect) {
    const line = (obj: Record<string, unknown>) => o.out_(JSON.stringify({ time: new Date().toISOString(), ...obj }));
    try {
      inspection = await startInspection({
        ...o.inspect,
        onStatus: (status, detail) => {
          if (o.json) line({ event: 'inspect-status', status, ...(detail !== undefined && { detail }) });
          else if (!o.quiet) o.err(`bt-actor: Stately inspector ${status}${detail ? `: ${detail}` : ''}`);
        },
      });
    } catch (err) {
      o.err(`bt-actor: cannot start the inspector: ${(err as Error).message}`);
      return 1;
    }
  }
  try {
    return await download(o, inspection);
  } finally {
    await inspection?.close();
  }
}

/** The exit code of a run that ended so: 0 complete, 2 for a torrent or folder the storage refuses, else 1. */
function exitCode(outcome: TorrentOutcome): number {
  if (outcome.state === 'complete') return 0;
  // A torrent whose paths would leave the folder, or a folder we cannot use, is bad input.
  if (outcome.state === 'error' && (outcome.code === 'BT_ERR_STORAGE_PATH' || outcome.code === 'BT_ERR_STORAGE_LAYOUT'))
    return 2;
  return 1;
}

/**
 * An {@link Engine} with the one torrent, and a renderer: JSON lines or the TTY progress line from the
 * handle's observables. The engine's stop routine is the only one: at completion (unless seeding), at
 * the seed ratio, on the abort signal, or when the torrent fails, `engine.close()` stops it; the summary
 * and the `done` line are printed from its final progress.
 */
async function download(o: RunOptions, inspection: Inspection | undefined): Promise<number> {
  const dir = resolve(o.out);
  const bind = bindAddress(o.bind);
  let engine: Engine;
  try {
    engine = await Engine.create({
      port: o.port,
      ...(o.exactPort && { exactPort: true }),
      ...(bind && { host: bind }),
      settings: { maxConnections: o.maxPeers },
      ...(inspection && { inspect: inspection.inspect }),
    });
  } catch (err) {
    // An address not on this machine (--bind), a port in use (--port): bad input, one line.
    if (err instanceof ListenError) {
      o.err(`bt-actor: ${err.message}${bind && err.code === 'BT_ERR_LISTEN_ADDRESS' ? ' (--bind)' : ''}`);
      return 2;
    }
    throw err;
  }
  const started = Date.now();
  // Paused: the renderer subscribes first, then resumes it, and sees every event.
  let t: Awaited<ReturnType<Engine['add']>>;
  try {
    t = await engine.add(o.meta, { dir, peers: o.peers, check: o.check ?? false, paused: true });
  } catch (err) {
    await engine.close();
    // A torrent the engine will not lay out (its name is the resume folder's): bad input, one line.
    if (err instanceof MetainfoError) {
      o.err(`bt-actor: invalid torrent: ${err.message} [${err.code}]`);
      return 2;
    }
    // The folder is another bt-actor's for this torrent, or cannot be written: bad input, one line.
    if (err instanceof LockError || isBtError(err, 'BT_ERR_STORAGE_IO')) {
      o.err(`bt-actor: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const line = (obj: Record<string, unknown>) => o.out_(JSON.stringify({ time: new Date().toISOString(), ...obj }));
  // Without --port, a default port in use moves to the next free one: said, so peers can be pointed at it.
  const moved = !o.exactPort && o.port !== 0 && engine.port !== o.port;
  if (o.json)
    line({
      event: 'listening',
      port: engine.port,
      ...(moved && { portInUse: o.port }),
      infoHash: o.meta.infoHashHex,
      name: o.meta.name,
    });
  else if (!o.quiet)
    o.err(
      `bt-actor: ${o.meta.name} (${o.meta.infoHashHex}); accepting peers on port ${engine.port}${moved ? ` (port ${o.port} is in use)` : ''}`,
    );
  if (inspection) {
    if (o.json) line({ event: 'inspect', mode: inspection.mode, url: inspection.url });
    else if (inspection.mode === 'local') o.err(`bt-actor: inspector page at ${inspection.url}`);
    else o.err(`bt-actor: sending the actors' inspection events to the Stately inspector server at ${inspection.url}`);
  }

  const stop = () => void engine.close();
  let complete = false;
  /** Once complete: stop, unless seeding (then stop at the seed ratio, if any). */
  const stopWhenDone = () => {
    if (!complete) return;
    const p = t.progress;
    if (!o.seed || (o.seedRatio !== undefined && p.uploaded >= o.seedRatio * p.length)) stop();
  };
  let states: Record<string, number> = {};
  const subs = [
    t.events$.subscribe((e) => {
      if (o.json) printJson(e, line);
      else printText(e, o);
      if (e.type === 'torrent.complete') {
        complete = true;
        stopWhenDone();
      }
    }),
    t.peerStates$.subscribe((s) => (states = s)),
    t.progress$.subscribe(stopWhenDone),
  ];
  const ended = firstValueFrom(t.ended$, { defaultValue: undefined });

  let lastDown = 0;
  let lastUp = 0;
  let lastAt = started;
  const timer = setInterval(
    () => {
      if (o.quiet) return;
      const p = t.progress;
      const now = Date.now();
      const dt = Math.max(1, now - lastAt);
      const rate = ((p.downloaded - lastDown) * 1000) / dt;
      const upRate = ((p.uploaded - lastUp) * 1000) / dt;
      lastDown = p.downloaded;
      lastUp = p.uploaded;
      lastAt = now;
      const pct = p.length > 0 ? (100 * (p.length - p.left)) / p.length : 100;
      if (o.json) {
        line({
          event: 'progress',
          percent: Number(pct.toFixed(2)),
          downloaded: p.downloaded,
          uploaded: p.uploaded,
          left: p.left,
          length: p.length,
          rate: Math.round(rate),
          upRate: Math.round(upRate),
          peers: p.peersConnected,
          known: p.peersKnown,
          states,
        });
      } else if (o.tty) {
        const eta = rate > 0 ? Math.round(p.left / rate) : undefined;
        const width = 24;
        const filled = Math.round((pct / 100) * width);
        const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
        const st = Object.entries(states)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${n} ${k}`)
          .join(', ');
        o.tty(
          `\r\x1b[K[${bar}] ${pct.toFixed(1).padStart(5)}%  ${formatBytes(p.length - p.left)}/${formatBytes(p.length)}  ↓ ${formatBytes(rate)}/s ↑ ${formatBytes(upRate)}/s  ETA ${eta === undefined ? '--' : `${eta}s`}  peers ${p.peersConnected}/${p.peersKnown}${st ? ` (${st})` : ''}`,
        );
      }
    },
    o.json ? 1000 : 250,
  );
  timer.unref();

  o.signal?.addEventListener('abort', stop, { once: true });
  t.resume();
  if (o.signal?.aborted) stop();
  // However the run ends (completion, the seed ratio, a signal, a failure), the engine closes it.
  await ended;
  await engine.close();
  o.signal?.removeEventListener('abort', stop);
  clearInterval(timer);
  for (const s of subs) s.unsubscribe();

  const outcome = t.outcome ?? { state: 'stopped' as const, progress: t.progress };
  if (outcome.state === 'error') {
    if (outcome.code === 'BT_ERR_INTERNAL') o.err(`bt-actor: internal error: ${outcome.message}`);
    else o.err(`bt-actor: ${outcome.message} [${outcome.code}]`);
  } else if (outcome.state === 'stopped') o.err('bt-actor: stopped before the download completed');
  const result = exitCode(outcome);
  const p = outcome.progress;
  const seconds = (Date.now() - started) / 1000;
  if (o.json)
    line({
      event: 'done',
      complete: p.left === 0,
      length: p.length,
      downloaded: p.downloaded,
      uploaded: p.uploaded,
      wasted: p.wasted,
      seconds,
    });
  else {
    if (o.tty) o.tty('\n');
    if (!o.quiet && result === 0)
      o.out_(
        `${o.meta.name}: complete, ${formatBytes(p.length)} verified in ${seconds.toFixed(1)} s (${formatBytes(p.length / Math.max(seconds, 0.001))}/s) → ${dir}`,
      );
  }
  return result;
}

/** A torrent's report as a JSON line (`--json`). */
function printJson(e: TorrentReport, line: (obj: Record<string, unknown>) => void): void {
  if (e.type === 'torrent.piece') return; // summarised by progress lines
  if (e.type === 'announcer.peers') {
    line({ event: 'peers', tracker: e.url, count: e.peers.length });
    return;
  }
  if (e.type === 'announcer.tracker') {
    const r = e.report;
    if (r.type === 'tracker.response')
      line({
        event: 'tracker',
        url: r.url,
        announce: r.event ?? 'regular',
        peers: r.result.peers.length,
        seeders: r.result.complete,
        leechers: r.result.incomplete,
      });
    else if (r.type === 'tracker.failed')
      line({ event: 'tracker-error', url: r.url, code: r.failure.code, message: r.failure.message });
    else if (r.type === 'tracker.warning') line({ event: 'tracker-warning', url: r.url, message: r.message });
    return;
  }
  if (e.type === 'torrent.peer') {
    const { type: _t, event, ...rest } = e;
    line({ event: `peer-${event}`, ...rest });
    return;
  }
  line({
    event: e.type.replace(/^torrent\./, ''),
    ...Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'type')),
  });
}

/** The reports shown on stderr beside the TTY progress line: failed pieces, tracker failures and warnings. */
function printText(e: TorrentReport, o: RunOptions): void {
  const bans = (b: { peer: string; reason: string }[]) => b.map((x) => `${x.peer} (${x.reason})`).join(', ');
  if (e.type === 'torrent.hashFailed')
    o.err(`piece ${e.index} failed its hash check${e.banned.length ? `; banned ${bans(e.banned)}` : ''}`);
  if (e.type === 'torrent.banned') o.err(`piece ${e.index} verified; banned ${bans(e.banned)}`);
  if (e.type === 'torrent.diskFull')
    o.err(`disk full: the download waits for space (verified pieces kept in memory) — ${e.message}`);
  if (e.type === 'torrent.diskOk') o.err('disk space is back: the download goes on');
  if (e.type === 'announcer.tracker' && e.report.type === 'tracker.failed' && !o.quiet)
    o.err(`tracker ${e.report.url}: ${e.report.failure.message} [${e.report.failure.code}]`);
  if (e.type === 'announcer.tracker' && e.report.type === 'tracker.warning' && !o.quiet)
    o.err(`tracker ${e.report.url} warns: ${e.report.message}`);
}
