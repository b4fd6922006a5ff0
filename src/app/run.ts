/**
 * `bt-actor run`: download a torrent into a folder, with a progress line on a TTY and JSON lines
 * otherwise. Resolves to the exit code (0 complete and verified, 1 failed, 2 bad input).
 */
import { mkdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { normaliseHost, type PeerAddress } from '../protocol/peer-address.js';
import type { Metainfo } from '../protocol/metainfo.js';
import { formatBytes } from './format.js';
import { PeerListener, selfKeys } from '../io/listener.js';
import { resumePath } from '../io/resume.js';
import { attachListener, createTorrentActor, peerStates, type TorrentActor } from './torrent-actor.js';
import { startInspection, type Inspection, type InspectionOptions } from './inspect/index.js';

export interface RunOptions {
  meta: Metainfo;
  out: string;
  peers: PeerAddress[];
  port: number;
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

/** Parses `HOST:PORT`, `[IPv6]:PORT`; null when malformed. */
export function parsePeerArg(s: string): PeerAddress | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:]+):(\d+)$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  const host = m[1] === 'localhost' ? '127.0.0.1' : m[1]!;
  const norm = normaliseHost(host);
  if (!norm) return null;
  return { host: norm.host, port, family: norm.family };
}

/** Checks (and creates) the download folder. Returns an error line, or null when usable. */
export async function prepareOutDir(dir: string): Promise<string | null> {
  try {
    await mkdir(dir, { recursive: true });
    const st = await stat(dir);
    if (!st.isDirectory()) return `${dir} is not a folder`;
    return null;
  } catch (err) {
    return `cannot use ${dir}: ${(err as Error).message}`;
  }
}

export async function runDownload(o: RunOptions): Promise<number> {
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

async function download(o: RunOptions, inspection: Inspection | undefined): Promise<number> {
  const dir = resolve(o.out);
  const listener = await PeerListener.listen({ port: o.port, ...(o.bind !== undefined && { host: o.bind }) });
  const actor: TorrentActor = createTorrentActor({
    meta: o.meta,
    dir,
    peers: o.peers,
    port: listener.port,
    selfKeys: selfKeys(listener.port),
    settings: { maxConnections: o.maxPeers },
    storage: { resumePath: resumePath(dir, o.meta), forceCheck: o.check ?? false },
    ...(inspection && { inspect: inspection.inspect }),
  });
  const unroute = attachListener(actor, listener, o.meta);
  const line = (obj: Record<string, unknown>) => o.out_(JSON.stringify({ time: new Date().toISOString(), ...obj }));
  if (o.json) line({ event: 'listening', port: listener.port, infoHash: o.meta.infoHashHex, name: o.meta.name });
  else if (!o.quiet) o.err(`bt-actor: ${o.meta.name} (${o.meta.infoHashHex}); accepting peers on port ${listener.port}`);
  if (inspection) {
    if (o.json) line({ event: 'inspect', mode: inspection.mode, url: inspection.url });
    else if (inspection.mode === 'local') o.err(`bt-actor: inspector page at ${inspection.url}`);
    else o.err(`bt-actor: sending the actors' inspection events to the Stately inspector server at ${inspection.url}`);
  }
  const started = Date.now();
  let lastDown = 0;
  let lastAt = started;

  let lastUp = 0;
  const progressText = () => {
    const p = actor.getSnapshot().context.progress;
    const now = Date.now();
    const dt = Math.max(1, now - lastAt);
    const rate = ((p.downloaded - lastDown) * 1000) / dt;
    const upRate = ((p.uploaded - lastUp) * 1000) / dt;
    lastDown = p.downloaded;
    lastUp = p.uploaded;
    lastAt = now;
    const done = p.length - p.left;
    const pct = p.length > 0 ? (100 * done) / p.length : 100;
    const eta = rate > 0 ? Math.round(p.left / rate) : undefined;
    return { p, pct, rate, upRate, eta, done, states: peerStates(actor) };
  };

  const subs = [
    actor.on('*', (e) => {
      if (e.type === 'torrent.refused') return;
      if (!o.json) {
        if (e.type === 'torrent.hashFailed') o.err(`piece ${e.index} failed its hash check${e.banned.length ? `; banned ${e.banned.join(', ')}` : ''}`);
        if (e.type === 'announcer.tracker' && e.report.type === 'tracker.failed' && !o.quiet) o.err(`tracker ${e.report.url}: ${e.report.failure.message} [${e.report.failure.code}]`);
        if (e.type === 'announcer.tracker' && e.report.type === 'tracker.warning' && !o.quiet) o.err(`tracker ${e.report.url} warns: ${e.report.message}`);
        return;
      }
      if (e.type === 'torrent.piece') return; // summarised by progress lines
      if (e.type === 'announcer.peers') {
        line({ event: 'peers', tracker: e.url, count: e.peers.length });
        return;
      }
      if (e.type === 'announcer.tracker') {
        const r = e.report;
        if (r.type === 'tracker.response') line({ event: 'tracker', url: r.url, announce: r.event ?? 'regular', peers: r.result.peers.length, seeders: r.result.complete, leechers: r.result.incomplete });
        else if (r.type === 'tracker.failed') line({ event: 'tracker-error', url: r.url, code: r.failure.code, message: r.failure.message });
        else if (r.type === 'tracker.warning') line({ event: 'tracker-warning', url: r.url, message: r.message });
        return;
      }
      if (e.type === 'torrent.peer') {
        const { type: _t, event, ...rest } = e;
        line({ event: `peer-${event}`, ...rest });
        return;
      }
      line({ event: e.type.replace(/^torrent\./, ''), ...Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'type')) });
    }),
  ];

  const timer = setInterval(() => {
    if (o.quiet) return;
    const { p, pct, rate, upRate, eta, states } = progressText();
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
  }, o.json ? 1000 : 250);
  timer.unref();

  const result = await new Promise<number>((resolveRun) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      actor.send({ type: 'torrent.stop' });
    };
    o.signal?.addEventListener('abort', stop, { once: true });
    actor.subscribe({
      next: (snap) => {
        // (snap.matches walks the state value; this runs on every snapshot, i.e. every piece.)
        const v = snap.value as { active?: unknown };
        if (typeof v !== 'object' || typeof v.active !== 'object' || v.active === null || !('complete' in v.active)) return;
        if (!o.seed) return stop();
        const p = snap.context.progress;
        if (o.seedRatio !== undefined && p.uploaded >= o.seedRatio * p.length) stop();
      },
      complete: () => {
        const snap = actor.getSnapshot();
        if (snap.value === 'error') {
          const e = snap.context.error!;
          o.err(`bt-actor: ${e.message} [${e.code}]`);
          // A torrent whose paths would leave the folder, or a folder we cannot use, is bad input.
          resolveRun(e.code === 'BT_ERR_STORAGE_PATH' || e.code === 'BT_ERR_STORAGE_LAYOUT' ? 2 : 1);
        } else if (snap.context.progress.left === 0) resolveRun(0);
        else {
          o.err('bt-actor: stopped before the download completed');
          resolveRun(1);
        }
      },
      error: (err) => {
        o.err(`bt-actor: internal error: ${(err as Error).stack ?? String(err)}`);
        resolveRun(1);
      },
    });
    actor.start();
  });
  clearInterval(timer);
  for (const s of subs) s.unsubscribe();
  unroute();
  await listener.close();
  const p = actor.getSnapshot().context.progress;
  const seconds = (Date.now() - started) / 1000;
  if (o.json) line({ event: 'done', complete: p.left === 0, length: p.length, downloaded: p.downloaded, uploaded: p.uploaded, wasted: p.wasted, seconds });
  else {
    if (o.tty) o.tty('\n');
    if (!o.quiet && result === 0) o.out_(`${o.meta.name}: complete, ${formatBytes(p.length)} verified in ${seconds.toFixed(1)} s (${formatBytes(p.length / Math.max(seconds, 0.001))}/s) → ${dir}`);
  }
  return result;
}
