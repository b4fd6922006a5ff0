/**
 * `bt-actor run`: download a torrent into a folder, with a progress line on a TTY and JSON lines
 * otherwise. Resolves to the exit code (0 complete and verified, 1 failed, 2 bad input). It is an
 * {@link Engine} holding the one torrent plus a renderer; the engine alone starts and stops it.
 */
import type { EncryptionPolicy } from '../protocol/mse.js';
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { firstValueFrom } from 'rxjs';
import type { TorrentReport } from '../machines/torrent/torrent.machine.js';
import { ListenError } from '../io/listener.js';
import { LockError, lockHolder, lockPath } from '../io/lock.js';
import { isBtError } from '../protocol/errors.js';
import type { MagnetLink } from '../protocol/magnet.js';
import { MetainfoError, type Metainfo } from '../protocol/metainfo.js';
import type { FilePriority } from '../machines/torrent/file-priority.js';
import { startStreamServer, type StreamServer } from './stream-server.js';
import type { PeerAddress } from '../protocol/peer-address.js';
import type { DhtReport } from '../machines/dht/dht.machine.js';
import type { DhtOptions } from './dht-node.js';
import { Engine, type RateLimits, type TorrentOutcome } from './engine.js';
import { formatBytes, fsReason, pathChangeWarnings } from './format.js';
import { peerCounts, summaryLines, TtyDisplay, type ProgressView, type Terminal } from './display.js';
import { peerStates } from './torrent-actor.js';
import { startInspection, type Inspection, type InspectionOptions } from './inspect/index.js';
import { realClock, unrefTimer } from '../io/clock.js';
import { isIpAddress } from '../io/transport.js';
import { holdYoungGeneration } from './young-generation.js';

export interface RunOptions {
  /** The torrent, or (`magnet`) a magnet link whose info dictionary is fetched from peers first. */
  meta?: Metainfo;
  magnet?: MagnetLink;
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
  /** `--select` / `--exclude`: the priority of each file (skipped files are not downloaded). */
  filePriorities?: FilePriority[];
  /** A magnet link's `--select` / `--exclude`: the priority of the files past `filePriorities`' end. */
  otherFiles?: FilePriority;
  /**
   * A magnet link's `--select` / `--exclude`, checked once the metadata tells how many files there are:
   * the refusal's text (the run then ends with exit 2), or undefined.
   */
  checkSelection?: (fileCount: number) => string | undefined;
  /** `--sequential`: pieces in index order. */
  sequential?: boolean;
  /** `--encryption`: MSE/PE policy of peer connections (default `prefer`). */
  encryption?: EncryptionPolicy;
  /** `--stream [--stream-port P]`: every file over HTTP on 127.0.0.1:P (0: any free port) while downloading. */
  stream?: { port: number };
  /** `--limit-down` / `--limit-up`: the engine's rate limits in bytes per second (0: none). */
  limits?: RateLimits;
  out_: (line: string) => void;
  err: (line: string) => void;
  /** Writes without a newline (the TTY progress line). */
  tty?: (text: string) => void;
  /** The terminal's width in columns (default `process.stdout.columns`). */
  columns?: () => number;
  /** Calls `listener` when the terminal is resized; returns the unsubscribe (default stdout's `resize`). */
  onResize?: (listener: () => void) => () => void;
  signal?: AbortSignal;
  /** `--inspect`: the local inspector page or the Stately inspector (docs/inspect.md). Off when absent. */
  inspect?: InspectionOptions;
  /** The DHT (docs/dht.md): off with `false` (`--no-dht`) or when absent. */
  dht?: false | DhtOptions;
  /** BEP 11 peer exchange; `false` with `--no-pex`. Default on. */
  pex?: boolean;
}

/** `stat` of `p`, or undefined when nothing is there (or a file stands on the way); other errors are thrown. */
function statIfAny(p: string) {
  try {
    return statSync(p);
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
    let st = statIfAny(existing);
    while (!st && dirname(existing) !== existing) {
      existing = dirname(existing);
      st = statIfAny(existing);
    }
    if (st && !st.isDirectory())
      return existing === abs ? `--out ${dir} is a file, not a folder` : `cannot create ${dir}: ${existing} is a file`;
    if (existing !== abs) {
      try {
        accessSync(existing, constants.W_OK);
      } catch (err) {
        return `cannot create ${dir}: ${existing} is not writable: ${fsReason(err)}`;
      }
      try {
        mkdirSync(abs, { recursive: true });
      } catch (err) {
        return `cannot create ${dir}: ${fsReason(err)}`;
      }
    }
    // A folder we cannot write to (read-only mount, no permission) would fail only at the first piece.
    try {
      accessSync(abs, constants.W_OK);
    } catch (err) {
      return `cannot use ${dir}: ${fsReason(err)}`;
    }
    // The torrent's data already there (its file, or its folder for a multi-file torrent) is written too.
    if (meta) {
      const target = join(abs, meta.name);
      if (statIfAny(target))
        try {
          accessSync(target, constants.W_OK);
        } catch (err) {
          return `cannot use ${dir}: ${target} is not writable: ${fsReason(err)}`;
        }
    }
    return null;
  } catch (err) {
    return `cannot use ${dir}: ${fsReason(err)}`;
  }
}

/**
 * The DHT node's reports as JSON lines (`{"event":"dht","type":"started",…}`) or, on the terminal, one line
 * when it starts, fails, and finds peers.
 */
function dhtMessage(e: DhtReport, o: RunOptions, say: (text: string) => void): void {
  if (e.type === 'dht.peers') return; // the torrent reports the peers it dials
  if (o.json) {
    if (o.quiet && e.type !== 'dht.error') return;
    const { type, ...rest } = e;
    o.out_(JSON.stringify({ time: new Date().toISOString(), event: 'dht', type: type.slice(4), ...rest }));
    return;
  }
  if (o.quiet && e.type !== 'dht.error') return;
  if (e.type === 'dht.started')
    say(
      `bt-actor: DHT on UDP port ${e.port}, ${e.nodes} saved nodes, bootstrap ${e.routers.length} node(s)${e.unresolved.length > 0 ? `; not resolved: ${e.unresolved.join(', ')}` : ''}`,
    );
  else if (e.type === 'dht.error') say(`bt-actor: DHT off: ${e.message}`);
}

/** `--bind` without the brackets of an IPv6 address; null when it is not an IP address. */
function bindAddress(bind: string | undefined): string | undefined | null {
  if (bind === undefined) return undefined;
  const host = bind.replace(/^\[(.*)\]$/, '$1');
  return isIpAddress(host) ? host : null;
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
  const infoHashHex = o.meta?.infoHashHex ?? o.magnet!.infoHashHex;
  const holder = await lockHolder(lockPath(dir, infoHashHex));
  if (holder !== undefined) {
    o.err(`bt-actor: ${new LockError(lockPath(dir, infoHashHex), holder, dir).message}`);
    return 2;
  }
  let inspection: Inspection | undefined;
  // Messages go above the progress line once there is one (download() sets it).
  const messages = { say: o.err };
  if (o.inspect) {
    const line = (obj: Record<string, unknown>) => o.out_(JSON.stringify({ time: new Date().toISOString(), ...obj }));
    try {
      inspection = await startInspection({
        ...o.inspect,
        onStatus: (status, detail) => {
          if (o.quiet) return;
          if (o.json) line({ event: 'inspect-status', status, ...(detail !== undefined && { detail }) });
          else messages.say(`bt-actor: Stately inspector ${status}${detail ? `: ${detail}` : ''}`);
        },
      });
    } catch (err) {
      o.err(`bt-actor: cannot start the inspector: ${(err as Error).message}`);
      return 1;
    }
  }
  try {
    return await download(o, inspection, messages);
  } finally {
    await inspection?.close();
  }
}

/** `; limits: 4.00 MiB/s down, 500 KiB/s up` for the first line (those set), or ''. */
function limitsText(limits: RateLimits | undefined): string {
  const parts = [
    ...(limits?.down ? [`${formatBytes(limits.down)}/s down`] : []),
    ...(limits?.up ? [`${formatBytes(limits.up)}/s up`] : []),
  ];
  return parts.length > 0 ? `; limits: ${parts.join(', ')}` : '';
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
async function download(
  o: RunOptions,
  inspection: Inspection | undefined,
  messages: { say: (line: string) => void },
): Promise<number> {
  const dir = resolve(o.out);
  const bind = bindAddress(o.bind);
  let engine: Engine;
  try {
    engine = await Engine.create({
      port: o.port,
      ...(o.exactPort && { exactPort: true }),
      ...(bind && { host: bind }),
      settings: { maxConnections: o.maxPeers, ...(o.pex === false && { pex: false }) },
      ...(inspection && { inspect: inspection.inspect }),
      dht: o.dht ?? false,
      ...(o.limits && { limits: o.limits }),
      ...(o.encryption && { encryption: o.encryption }),
    });
  } catch (err) {
    // An address not on this machine (--bind), a port in use (--port): bad input, one line.
    if (err instanceof ListenError) {
      o.err(`bt-actor: ${err.message}${bind && err.code === 'BT_ERR_LISTEN_ADDRESS' ? ' (--bind)' : ''}`);
      return 2;
    }
    throw err;
  }
  const started = realClock.now();
  const dhtSub = engine.dht?.events$.subscribe((e) => dhtMessage(e, o, (text) => messages.say(text)));
  // Paused: the renderer subscribes first, then resumes it, and sees every event.
  let t: Awaited<ReturnType<Engine['add']>>;
  try {
    t = await engine.add(o.meta ?? o.magnet!, {
      dir,
      peers: o.peers,
      check: o.check ?? false,
      paused: true,
      ...(o.filePriorities && { filePriorities: o.filePriorities }),
      ...(o.otherFiles && { otherFiles: o.otherFiles }),
      ...(o.sequential && { sequential: true }),
    });
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
  // With -q, JSON lines too are errors only: `error`, and `done` at the end (and `inspect`, asked for).
  const jsonLine = (obj: Record<string, unknown>) => {
    if (!o.quiet || obj.event === 'error') line(obj);
  };
  // Without --port, a default port in use moves to the next free one: said, so peers can be pointed at it.
  const moved = !o.exactPort && o.port !== 0 && engine.port !== o.port;
  if (o.json)
    jsonLine({
      event: 'listening',
      port: engine.port,
      host: engine.host,
      ...(moved && { portInUse: o.port }),
      infoHash: t.infoHash,
      name: t.name,
      ...(o.limits && { limits: o.limits }),
    });
  else if (!o.quiet)
    o.err(
      `bt-actor: ${t.name} (${t.infoHash}); accepting peers on port ${engine.port}${moved ? ` (port ${o.port} is in use)` : ''}${limitsText(o.limits)}`,
    );
  let streams: StreamServer | undefined;
  if (o.stream) {
    try {
      streams = await startStreamServer(t, o.stream.port);
    } catch (err) {
      await engine.close();
      o.err(`bt-actor: --stream-port ${o.stream.port}: ${(err as Error).message}`);
      return 2;
    }
    for (const u of streams.urls)
      if (o.json) line({ event: 'stream', index: u.index, path: u.path, url: u.url });
      else if (!o.quiet) o.err(`bt-actor: stream ${u.index} ${u.path}: ${u.url}`);
  }
  if (inspection) {
    if (o.json) line({ event: 'inspect', mode: inspection.mode, url: inspection.url });
    else if (inspection.mode === 'local') o.err(`bt-actor: inspector page at ${inspection.url}`);
    else o.err(`bt-actor: sending the actors' inspection events to the Stately inspector server at ${inspection.url}`);
  }

  const stop = () => void engine.close();
  const display = o.tty && !o.json && !o.quiet ? new TtyDisplay(terminalOf(o, o.tty)) : undefined;
  /** A message for the user: above the progress line on a TTY. */
  const say = (text: string) => (display ? display.message(text) : o.err(text));
  messages.say = say;
  let complete = false;
  let readyAt: number | undefined;
  let completeAt: number | undefined;
  /** Once complete: stop, unless seeding (then stop at the seed ratio, if any). */
  const stopWhenDone = () => {
    if (!complete) return;
    const p = t.progress;
    if (!o.seed || (o.seedRatio !== undefined && p.uploaded >= o.seedRatio * p.length)) stop();
  };
  // Peer counts are read from the peer actors when shown, beside the progress of the same moment.
  let states: Record<string, number> = {};
  const sample = (fresh = true) => {
    if (fresh && t.actor) states = peerStates(t.actor);
    return { p: t.progress, states };
  };
  /**
   * The download rate shown (line and JSON alike): the torrent's windowed rate — except for a download
   * done before its peers first reported their rates (they do about once a second), where that still
   * reads 0: then the mean over the download, the bytes of the last seconds all the same.
   */
  const downRate = (p: typeof t.progress) =>
    p.downloadRate === 0 && completeAt !== undefined && readyAt !== undefined && completeAt - readyAt < 5_000
      ? (p.downloaded * 1000) / Math.max(1, completeAt - readyAt)
      : p.downloadRate;
  /** What the line shows now; `fresh: false` keeps the peer counts of the last frame (at completion the seeds are being closed). */
  const view = (fresh = true): ProgressView => {
    const { p } = sample(fresh);
    return {
      name: t.name,
      phase: p.metadata
        ? 'metadata'
        : readyAt === undefined
          ? 'checking'
          : complete && o.seed
            ? 'seeding'
            : 'downloading',
      ...(p.metadata && { metadataPeers: p.metadata.peers }),
      // A selection of files: the bar, the sizes and the ETA count only the selected data.
      done: complete ? p.wanted : p.wanted - p.left,
      length: p.wanted,
      checked: p.checked,
      pieceCount: p.pieceCount,
      uploaded: p.uploaded,
      downloadRate: downRate(p),
      uploadRate: p.uploadRate,
      peers: peerCounts(states, p.peersKnown),
      webseeds: p.webseeds,
    };
  };
  /** A magnet's `--select` / `--exclude` naming a file the torrent does not have: said once, exit 2. */
  let badSelection: string | undefined;
  const subs = [
    t.events$.subscribe((e) => {
      if (e.type === 'torrent.metadata' && o.checkSelection && badSelection === undefined) {
        badSelection = o.checkSelection(e.meta.files.filter((f) => !f.padding).length);
        if (badSelection !== undefined) stop();
      }
      if (e.type === 'torrent.ready') readyAt ??= realClock.now();
      if (e.type === 'torrent.complete') {
        readyAt ??= realClock.now();
        completeAt ??= realClock.now();
        complete = true;
        // Seeding from here: V8's young generation may grow again (young-generation.ts).
        holdYoungGeneration(false);
        // The bar at 100% at once; without --seed it is the last frame.
        if (display) {
          if (o.seed) display.update(view(false));
          else display.finish(view(false));
        } else if (o.json && !o.quiet && t.progress.left === 0) jsonProgress();
      }
      if (o.json) printJson(e, jsonLine);
      else if (!o.quiet) printText(e, say);
      if (e.type === 'torrent.complete') stopWhenDone();
    }),
    t.progress$.subscribe(stopWhenDone),
  ];
  const ended = firstValueFrom(t.ended$, { defaultValue: undefined });

  /** A `progress` JSON line (every second, and at completion: the last one says 100). */
  const jsonProgress = () => {
    const { p, states: st } = sample();
    const pct = p.metadata ? 0 : p.wanted > 0 ? (100 * (p.wanted - p.left)) / p.wanted : 100;
    line({
      event: 'progress',
      ...(p.metadata && { phase: 'metadata', metadataPeers: p.metadata.peers }),
      percent: Number(pct.toFixed(2)),
      downloaded: p.downloaded,
      uploaded: p.uploaded,
      left: p.left,
      length: p.length,
      ...(p.wanted !== p.length && { wanted: p.wanted }),
      rate: Math.round(downRate(p)),
      upRate: Math.round(p.uploadRate),
      ...(o.limits && { limits: o.limits }),
      peers: p.peersConnected,
      known: p.peersKnown,
      webseeds: p.webseeds,
      ...(p.webseedRates && {
        webseedRates: Object.fromEntries(Object.entries(p.webseedRates).map(([u, r]) => [u, Math.round(r)])),
      }),
      states: st,
    });
  };
  const timer = realClock.setInterval(
    () => {
      if (display) display.update(view());
      else if (o.json && !o.quiet) jsonProgress();
    },
    o.json ? 1000 : 250,
  );
  unrefTimer(timer);

  // Stopping: the line is ended at once, so that what is printed meanwhile starts on a line of its own.
  const interrupted = () => {
    display?.finish();
    stop();
  };
  o.signal?.addEventListener('abort', interrupted, { once: true });
  // Downloading: V8's young generation stays at its first size until the torrent is complete (a seeding
  // run's check finds it so at once).
  holdYoungGeneration(true);
  t.resume();
  if (o.signal?.aborted) interrupted();
  // However the run ends (completion, the seed ratio, a signal, a failure), the engine closes it.
  await ended;
  holdYoungGeneration(false);
  await streams?.close();
  await engine.close();
  const endedAt = realClock.now();
  o.signal?.removeEventListener('abort', interrupted);
  realClock.clearInterval(timer);
  for (const s of subs) s.unsubscribe();
  dhtSub?.unsubscribe();
  display?.finish();

  if (badSelection !== undefined) {
    o.err(`bt-actor: ${badSelection}`);
    return 2;
  }
  const outcome = t.outcome ?? { state: 'stopped' as const, progress: t.progress };
  if (outcome.state === 'error') {
    if (outcome.code === 'BT_ERR_INTERNAL') o.err(`bt-actor: internal error: ${outcome.message}`);
    else o.err(`bt-actor: ${outcome.message} [${outcome.code}]`);
  } else if (outcome.state === 'stopped') o.err('bt-actor: stopped before the download completed');
  const result = exitCode(outcome);
  const p = outcome.progress;
  const seconds = (endedAt - started) / 1000;
  if (o.json)
    line({
      event: 'done',
      complete: outcome.state === 'complete',
      length: p.length,
      ...(p.wanted !== p.length && { wanted: p.wanted }),
      downloaded: p.downloaded,
      uploaded: p.uploaded,
      wasted: p.wasted,
      seconds,
    });
  else if (!o.quiet && outcome.state !== 'error') {
    const checkEnd = readyAt ?? endedAt;
    const downloadEnd = completeAt ?? endedAt;
    const summary = summaryLines({
      name: t.name,
      dir,
      state: outcome.state,
      length: p.wanted,
      left: p.left,
      downloaded: p.downloaded,
      uploaded: p.uploaded,
      checkSeconds: (checkEnd - started) / 1000,
      downloadSeconds: (downloadEnd - checkEnd) / 1000,
      ...(o.seed && completeAt !== undefined && { seedSeconds: (endedAt - completeAt) / 1000 }),
    });
    for (const l of summary) o.out_(l);
  }
  return result;
}

/** The terminal the progress line is drawn on: `tty`, its width and resizes (stdout's unless given). */
function terminalOf(o: RunOptions, write: (text: string) => void): Terminal {
  return {
    write,
    message: o.err,
    columns: o.columns ?? (() => process.stdout.columns),
    onResize:
      o.onResize ??
      ((listener) => {
        process.stdout.on('resize', listener);
        return () => process.stdout.off('resize', listener);
      }),
  };
}

/** A torrent's report as a JSON line (`--json`). */
function printJson(e: TorrentReport, line: (obj: Record<string, unknown>) => void): void {
  if (e.type === 'torrent.piece') return; // summarised by progress lines
  if (e.type === 'torrent.metadata') {
    // What the fetched info dictionary says (the metainfo itself is not printed).
    const { name, length: size, pieces, pieceLength, files, private: priv } = e;
    const changes = e.meta.pathChanges;
    line({
      event: 'metadata',
      name,
      size,
      pieces,
      pieceLength,
      files,
      private: priv,
      ...(changes.length > 0 && { pathChanges: changes }),
    });
    return;
  }
  if (e.type === 'torrent.metadataFailed') {
    line({ event: 'metadata-failed', peers: e.peers, banned: e.banned });
    return;
  }
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
  if (e.type === 'torrent.webseed') {
    const { type: _t, event, ...rest } = e;
    line({ event: `webseed-${event}`, ...rest });
    return;
  }
  line({
    event: e.type.replace(/^torrent\./, ''),
    ...Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'type')),
  });
}

/** `message` without the `URL: ` it may start with (the transport's errors name their tracker). */
function withoutUrl(message: string, url: string): string {
  return message.startsWith(`${url}: `) ? message.slice(url.length + 2) : message;
}

/**
 * The reports shown as messages (above the TTY progress line, on stderr): failed pieces, bans, a full
 * disk, tracker failures and warnings — each tracker URL once.
 */
export function printText(e: TorrentReport, say: (line: string) => void): void {
  const bans = (b: { peer: string; reason: string }[]) => b.map((x) => `${x.peer} (${x.reason})`).join(', ');
  if (e.type === 'torrent.hashFailed')
    say(`piece ${e.index} failed its hash check${e.banned.length ? `; banned ${bans(e.banned)}` : ''}`);
  if (e.type === 'torrent.banned')
    say(
      e.kind === 'badBlock'
        ? `piece ${e.index}: its proven block hashes (BEP 52) name the bad blocks' senders; banned ${bans(e.banned)}`
        : `piece ${e.index} verified; banned ${bans(e.banned)}`,
    );
  if (e.type === 'torrent.metadata') {
    say(`metadata: ${e.name}, ${e.pieces} ${e.pieces === 1 ? 'piece' : 'pieces'} of ${e.pieceLength} bytes`);
    for (const w of pathChangeWarnings(e.meta)) say(w);
  }
  if (e.type === 'torrent.metadataFailed')
    say(
      `metadata from ${e.peers.join(', ')} failed its hash; fetching it again${e.banned.length ? `; banned ${bans(e.banned)}` : ''}`,
    );
  if (e.type === 'torrent.diskFull')
    say(`disk full: the download waits for space (verified pieces kept in memory) — ${e.message}`);
  if (e.type === 'torrent.diskOk') say('disk space is back: the download goes on');
  if (e.type === 'torrent.webseed')
    say(
      `web seed ${e.url}: ${withoutUrl(e.message, e.url)} [${e.code}]; ${e.event === 'dropped' ? 'dropped' : 'backing off'}`,
    );
  if (e.type === 'announcer.tracker' && e.report.type === 'tracker.failed') {
    const { url, failure } = e.report;
    say(`tracker ${url}: ${withoutUrl(failure.message, url)} [${failure.code}]`);
  }
  if (e.type === 'announcer.tracker' && e.report.type === 'tracker.warning')
    say(`tracker ${e.report.url} warns: ${withoutUrl(e.report.message, e.report.url)}`);
}
