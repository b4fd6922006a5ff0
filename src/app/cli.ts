/**
 * The `bt-actor` command line. `main` returns the exit code: 0 success, 1 failure, 2 bad input
 * (unreadable or invalid torrent, bad arguments).
 */
import { ENCRYPTION_POLICIES, type EncryptionPolicy } from '../protocol/mse.js';
import { appendFileSync, constants, readFileSync, statSync } from 'node:fs';
import { access, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createTorrent } from '../io/create-torrent.js';
import { splitHostPort } from '../io/dht-socket.js';
import type { DhtOptions } from './dht-node.js';
import { TrackerClient } from '../io/tracker-client.js';
import { mergeScrapeStats } from '../io/tracker-actors.js';
import { isBtError } from '../protocol/errors.js';
import { MagnetError, magnetHybridV2Hash, parseMagnet, type MagnetLink } from '../protocol/magnet.js';
import {
  checkTorrentFileSize,
  hybridV2Hash,
  MAX_TORRENT_FILE_SIZE,
  MetainfoError,
  parseMetainfo,
  toHex,
  type Metainfo,
} from '../protocol/metainfo.js';
import { missingLayersNote } from '../protocol/piece-verify.js';
import {
  decimalNumber,
  fileIndexList,
  nearest,
  parseArguments,
  suggest,
  UsageError,
  wholeNumber,
  type OptionSpecs,
} from './args.js';
import type { FilePriority } from '../machines/torrent/file-priority.js';
import { formatBytes, formatDate, fsReason, pathChangeWarnings, printable } from './format.js';
import { runDemo } from './demo.js';
import { resolvePeerArg } from './peer-arg.js';
import { rateOption } from './rate-arg.js';
import { prepareOutDir, runDownload } from './run.js';
import { DEFAULT_INSPECT_PORT, parseEventFilter, type InspectionOptions } from './inspect/index.js';

/** For the launcher (bin/bt-actor.js): the code cache is written under V8's default flags. */
export { withDefaultHeapFlags } from './young-generation.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Raw terminal output (progress line); absent off a TTY. */
  tty?: (text: string) => void;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal?: AbortSignal;
}

const defaultIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  ...(process.stdout.isTTY && { tty: (text: string) => process.stdout.write(text) }),
};

const USAGE = `Usage: bt-actor <command> [options]

Commands:
  demo                      A self-contained swarm on 127.0.0.1: seeders, tracker, a verified download
  run <file.torrent>        Download a torrent (--out DIR, --peer HOST:PORT, --seed, --inspect …)
  info <torrent|magnet>     Show what a .torrent file or a magnet link holds (--json: one object)
  create <path>             Make a .torrent of a file or folder
  help [command]            Show this help, or a command's options

Options:
  -h, --help                Show this help
  -V, --version             Show the version

Run 'bt-actor <command> --help' (or 'bt-actor help <command>') for a command's options.

Exit codes: 0 success, 1 failure, 2 bad input (unreadable or invalid torrent, bad arguments).`;

const INFO_USAGE = `Usage: bt-actor info <file.torrent | 'magnet:?…'> [--json] [--scrape]

Shows the name, info hash, size, pieces, files and trackers of a torrent; of a magnet link
(BEP 9), what the link says: name, info hash, size, trackers, peers, web seeds, and the
parameters it ignores (see docs/magnet.md). A BitTorrent v2 (BEP 52) torrent or link also
shows its meta version and v2 info hash (SHA-256); a hybrid both hashes. v2-only magnet links,
and v2-only torrents without their piece layers, are shown, but bt-actor cannot download them yet.

Options:
  --json      Print one JSON object: name, infoHash, length, pieceLength, pieceCount,
              files [{path, length}] (paths relative to the torrent's folder), announce
              (tiers of URLs), private, metaVersion (1 or 2), version ("v1", "v2", "hybrid"),
              and the optional infoHashV2, comment, createdBy, creationDate, urlList.
              For a magnet link: kind "magnet", infoHash, name, exactLength, trackers,
              webSeeds, peers [{host, port}], ignored [{key, value, reason}], and the
              optional infoHashV2 and v2Only.
  --scrape    Also ask each tracker (HTTP/HTTPS by BEP 48, UDP by BEP 15) for its seeders,
              leechers and completed downloads; with --json they are under "scrape".
  --timeout S Seconds to wait for each tracker when scraping (default 10).
  -h, --help  Show this help.

Exit codes: 0 success, 2 unreadable or invalid torrent or magnet link.`;

const RUN_USAGE = `Usage: bt-actor run <file.torrent | 'magnet:?…'> [--out DIR] [--peer HOST:PORT]... [options]

Downloads the torrent from the peers its trackers name (and any --peer), verifying every piece
before it is written. The data lands at DIR/<name> (single-file) or under DIR/<name>/ (multi-file).
Data already in DIR is checked first (trusting the resume file in DIR/.bt-actor/ when the files
still match it); only missing pieces are fetched.

A magnet link (BEP 9) first fetches the torrent's info dictionary from the peers of its x.pe, its
trackers and --peer, and saves it as DIR/.bt-actor/<info hash>.torrent: run again with the same link
and DIR and it is not fetched again (see docs/magnet.md).

Options:
  -o, --out DIR          Download folder (default: the current folder).
      --peer HOST:PORT   Dial this peer too; repeatable. HOST is an IP address or a name (looked
                         up once, at start); [::1]:6881 for IPv6.
      --port N           Port to accept peers on, announced to trackers: exactly N (refused
                         if in use). Default 6881, or the next free one if taken (said).
      --max-peers N      Most connections at once (default 50).
      --seed             Keep seeding after the download completes, until Ctrl-C / SIGTERM.
      --seed-ratio R     With --seed: stop once uploaded ≥ R × the torrent's size.
      --bind ADDR        Accept peers on this IP address of this machine only, IPv4 or IPv6
                         (::1 or [::1]). Default: all, IPv6 and IPv4 (::; 0.0.0.0 if no IPv6).
      --check            Check all existing data by hash, ignoring the resume file.
      --dht-bootstrap HOST:PORT
                         Bootstrap the DHT from this node; repeatable (default: the usual
                         public routers, by name: router.bittorrent.com, router.utorrent.com,
                         dht.transmissionbt.com, dht.libtorrent.org).
      --no-dht           No DHT (BEP 5). It is on by default for torrents that are not private.
      --state-dir DIR    Where the DHT routing table is kept (dht.json; default
                         $XDG_STATE_HOME/bt-actor, else ~/.local/state/bt-actor).
      --no-pex           No peer exchange (BEP 11).
      --select LIST      Download only these files: indexes as 'bt-actor info' lists them, from
                         0, e.g. 0,3-5. Progress, completion and the exit code count only them.
                         With a magnet link: applied once its metadata arrives. Saved: a later
                         run without --select/--exclude keeps the selection.
      --exclude LIST     Download every file but these (same LIST form; not with --select).
      --sequential       Fetch pieces in order, first to last (still with endgame).
      --encryption MODE  Peer connection encryption (MSE/PE), both ways: prefer (the default:
                         dial encrypted, offering RC4 or plaintext after the key exchange, and
                         once more in plaintext if that fails; accept both), require (only MSE
                         with RC4, both ways: plaintext peers are refused), plaintext (dial in
                         plaintext; accept MSE only with a plaintext payload).
      --stream           Serve every file over HTTP on 127.0.0.1 while downloading (Range
                         requests; only verified bytes; the pieces asked for come first). The
                         URLs are printed; keeps running (and seeding) until Ctrl-C.
      --stream-port P    Port of --stream (default 0: any free port).
      --limit-down RATE  Read at most RATE bytes per second from peers, all together: 2MiB,
                         500KiB, 1.5MB (decimal), 65536 (bytes); 0 or absent: no limit.
      --limit-up RATE    Send at most RATE bytes per second of pieces to peers (same form).
                         Other messages (have, choke, keep-alive…) are never held back.
      --json             JSON lines of events and progress (the default off a TTY).
  -q, --quiet            Only errors.
      --inspect[=MODE]   Watch the actors live (see docs/inspect.md). MODE local (the default):
                         an inspector page served on 127.0.0.1, its URL printed at start.
                         MODE stately: send to a Stately inspector WebSocket server.
      --inspect-port N   Port of the inspector page (default ${DEFAULT_INSPECT_PORT}, the next free one if
                         taken; 0 = any).
      --inspect-url URL  With --inspect=stately: the server (default ws://localhost:8080).
      --inspect-filter F Events left out of the logs / not sent: default (block-level traffic
                         and timers), all (nothing left out), or a comma-separated list of
                         event types and prefix.* patterns (+list adds to the default).
  -h, --help             Show this help.

Exit codes: 0 complete and verified, 1 failed (the reason is printed), 2 bad input
(unreadable or invalid torrent, unusable folder or one another bt-actor uses for this torrent,
--bind or --port that cannot be had, bad arguments).`;

const DEMO_USAGE = `Usage: bt-actor demo [--size MiB] [--seeders N] [--keep] [--json]

Runs a self-contained swarm on 127.0.0.1 that needs no files and no network: makes a sample dataset
(nested folders, non-ASCII names, an empty file) and its torrent, starts an embedded tracker and N
bt-actor seeders, downloads the torrent with the progress display, verifies every file against the
source and prints a summary. Everything is removed afterwards unless --keep.

Options:
      --size MiB      Dataset size (default 128).
      --seeders N     Number of seeders (default 3).
      --keep          Keep the dataset, torrent and download, all in one folder (printed at the end).
      --json          JSON lines instead of the progress display.
  -h, --help          Show this help.`;

const CREATE_USAGE = `Usage: bt-actor create <path> [--announce URL]... [-o out.torrent] [options]

Makes a torrent of a file (single-file torrent) or a folder (multi-file torrent).

Options:
  -a, --announce URL     Tracker URL; repeat for more trackers (one tier each, in order).
  -o, --output FILE      Where to write the torrent (default: <name>.torrent). An existing file
                         is not overwritten without --force.
  -f, --force            Overwrite the output file if it exists.
  -l, --piece-length N   Piece length in bytes, or with a suffix: 256K, 1M, 4M (default: chosen
                         from the size, 16 KiB to 16 MiB, about 1,000-2,000 pieces).
  -p, --private          Mark the torrent private (BEP 27): no DHT or peer exchange.
  -c, --comment TEXT     A comment.
  -n, --name NAME        The torrent's name (default: the file or folder name).
  -w, --web-seed URL     A web seed (BEP 19); repeatable.
      --no-date          Leave out the creation date (reproducible output).
      --v2               A BitTorrent v2 torrent (BEP 52: SHA-256 merkle trees per file),
                         which only v2 clients can use. Needs a power-of-two piece length.
      --hybrid           A hybrid v1 + v2 torrent: every client can use it (files padded to
                         pieces with BEP 47 pad files, as libtorrent makes them).
      --json             Print the result as one JSON object.
  -h, --help             Show this help.

A torrent without --announce is made, with a warning: peers find it only through --peer.

Exit codes: 0 written, 1 failed (the reason is printed), 2 bad input (bad arguments, a missing or
unreadable file or folder, an output file that exists, an output folder that is missing).`;

const COMMANDS = ['run', 'demo', 'info', 'create', 'help'];
const COMMAND_USAGE: Record<string, string> = {
  run: RUN_USAGE,
  demo: DEMO_USAGE,
  info: INFO_USAGE,
  create: CREATE_USAGE,
};

/** A command's options plus `-h/--help`; throws a {@link UsageError} on a mistake. */
function parse<O extends OptionSpecs>(args: string[], options: O) {
  return parseArguments(args, { ...options, help: { type: 'boolean', short: 'h' } } as const);
}

/** Runs the CLI with `argv` (without node and script). Resolves to the exit code. */
export async function main(argv: string[], rawIo: Io = defaultIo): Promise<number> {
  // Every line printed may carry text from a torrent or a tracker: terminal controls are escaped.
  const io: Io = {
    ...rawIo,
    out: (l) => rawIo.out(printable(l, { lines: true })),
    err: (l) => rawIo.err(printable(l, { lines: true })),
  };
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await runCommand(rest, io);
      case 'demo':
        return await demoCommand(rest, io);
      case 'info':
        return await infoCommand(rest, io);
      case 'create':
        return await createCommand(rest, io);
      case undefined:
        io.out(USAGE);
        return EXIT_BAD_INPUT;
      case 'help':
      case '--help':
      case '-h':
        return helpCommand(rest, io);
      case '--version':
      case '-V':
        io.out(await version());
        return EXIT_OK;
      default:
        return unknownCommand(command, io);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`bt-actor ${command}: ${err.message}`);
      io.err(`Run 'bt-actor ${command} --help' for its options.`);
      return EXIT_BAD_INPUT;
    }
    throw err;
  }
}

/** `bt-actor help [command]`: the general usage, or that command's. */
function helpCommand(args: string[], io: Io): number {
  const [topic, ...more] = args;
  if (topic === undefined) {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (more.length > 0) {
    io.err(`bt-actor help: expected one command, got ${args.length}`);
    io.err(`Run 'bt-actor --help' for the list of commands.`);
    return EXIT_BAD_INPUT;
  }
  const usage = COMMAND_USAGE[topic] ?? (topic === 'help' ? USAGE : undefined);
  if (usage === undefined) return unknownCommand(topic, io);
  io.out(usage);
  return EXIT_OK;
}

/** An unknown command or top-level option: one line with the nearest name, and where the list is. */
function unknownCommand(command: string, io: Io): number {
  if (/^-[a-zA-Z]$/.test(command)) {
    const short = ['-h', '-V'].find((o) => o.toLowerCase() === command.toLowerCase());
    io.err(`bt-actor: unknown option ${command}${short ? ` (did you mean ${short}?)` : ''}`);
  } else if (command.startsWith('-')) {
    const word = command.replace(/^--?/, '').split('=')[0]!;
    io.err(`bt-actor: unknown option ${command}${suggest(word, ['help', 'version'], '--')}`);
  } else {
    const near = nearest(command, COMMANDS);
    io.err(`bt-actor: unknown command '${command}'${near === undefined ? '' : ` (did you mean '${near}'?)`}`);
  }
  io.err(`Run 'bt-actor --help' for the list of commands.`);
  return EXIT_BAD_INPUT;
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `bt-actor ${pkg.version}`;
}

/**
 * Why `file` cannot be read as a .torrent file, in one line: a folder, a magnet link or a URL (not
 * supported yet), or the file-system error.
 */
function unreadable(file: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'EISDIR') return `${file} is a folder, not a .torrent file`;
  if (err.code === 'ENOENT') {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(file))
      return `${file}: give the path of a .torrent file, not a URL (download it first)`;
    return `${file}: no such file`;
  }
  return `${file}: cannot read: ${err.message}`;
}

/** Reads and parses a torrent, printing one line and returning null when it cannot. */
/** One line on stderr per name laid out differently from what the torrent says (docs/metainfo.md). */
function warnPathChanges(meta: Metainfo, io: Io): void {
  for (const w of pathChangeWarnings(meta)) io.err(`bt-actor: ${w}`);
}

async function loadTorrent(file: string, io: Io): Promise<Metainfo | null> {
  let bytes: Uint8Array | undefined;
  let size = 0;
  try {
    // Synchronous, as the checks of the output folder: nothing else runs yet, and each asynchronous call
    // is a round trip through the thread pool before the first announce (docs/performance.md, start-up).
    size = statSync(file).size;
    // The data given instead of its .torrent is not read (checkTorrentFileSize refuses it below).
    if (size <= MAX_TORRENT_FILE_SIZE) bytes = readFileSync(file);
  } catch (err) {
    io.err(`bt-actor: ${unreadable(file, err as NodeJS.ErrnoException)}`);
    return null;
  }
  try {
    checkTorrentFileSize(size);
    return parseMetainfo(bytes!);
  } catch (err) {
    if (err instanceof MetainfoError) {
      io.err(`bt-actor: ${file}: invalid torrent: ${err.message} [${err.code}]`);
      return null;
    }
    throw err;
  }
}

/** The JSON shape of `bt-actor info --json` (documented in docs/cli.md). */
export function infoJson(meta: Metainfo) {
  const json: Record<string, unknown> = {
    name: meta.name,
    infoHash: meta.infoHashHex,
    length: meta.length,
    pieceLength: meta.pieceLength,
    pieceCount: meta.pieceCount,
    multiFile: meta.multiFile,
    files: meta.files
      .filter((f) => !f.padding)
      .map((f) => ({
        path: f.pathString,
        length: f.length,
        ...(f.originalPath && { originalPath: f.originalPath.join('/') }),
        ...(f.piecesRoot && { piecesRoot: toHex(f.piecesRoot) }),
      })),
    announce: meta.announce,
    private: meta.private,
    urlList: meta.urlList,
    metaVersion: meta.metaVersion,
    version: meta.kind,
  };
  if (meta.infoHashV2Hex !== undefined) json.infoHashV2 = meta.infoHashV2Hex;
  if (meta.comment !== undefined) json.comment = meta.comment;
  if (meta.createdBy !== undefined) json.createdBy = meta.createdBy;
  if (meta.creationDate !== undefined) json.creationDate = meta.creationDate;
  if (meta.warnings.length > 0) json.warnings = meta.warnings;
  if (meta.originalName !== undefined) json.originalName = meta.originalName;
  if (meta.pathChanges.length > 0) json.pathChanges = meta.pathChanges;
  return json;
}

async function infoCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    scrape: { type: 'boolean' },
    timeout: { type: 'string' },
  });
  if (values.help) {
    io.out(INFO_USAGE);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one torrent file, got ${positionals.length}`);
  const timeoutS = decimalNumber('timeout', values.timeout, 10, 0, 'a number of seconds', true)!;
  if (/^magnet:/i.test(positionals[0]!)) return magnetInfo(positionals[0]!, values, timeoutS, io);
  const meta = await loadTorrent(positionals[0]!, io);
  if (!meta) return EXIT_BAD_INPUT;
  warnPathChanges(meta, io);
  const scrape = values.scrape
    ? await scrapeAll(meta.announce.flat(), meta, timeoutS * 1000, hybridV2Hash(meta))
    : undefined;
  if (values.json) {
    io.out(JSON.stringify({ ...infoJson(meta), ...(scrape && { scrape }) }));
    return EXIT_OK;
  }
  const files = meta.files.filter((f) => !f.padding);
  const lines = [`name:          ${printable(meta.name)}`, ...hashLines(meta)];
  lines.push(
    `size:          ${formatBytes(meta.length)} (${meta.length} bytes)`,
    `pieces:        ${meta.pieceCount} × ${formatBytes(meta.pieceLength)}`,
    `private:       ${meta.private ? 'yes' : 'no'}`,
  );
  if (meta.createdBy !== undefined) lines.push(`created by:    ${printable(meta.createdBy)}`);
  if (meta.creationDate !== undefined) lines.push(`creation date: ${formatDate(meta.creationDate)}`);
  if (meta.comment !== undefined) lines.push(`comment:       ${printable(meta.comment)}`);
  // Each file with its index, as `run --select` / `--exclude` take them.
  lines.push(`files (${files.length}):`);
  const w = String(Math.max(0, files.length - 1)).length;
  files.forEach((f, i) =>
    lines.push(
      `  ${String(i).padStart(w)}  ${formatBytes(f.length).padStart(10)}  ${printable(`${meta.multiFile ? `${meta.name}/` : ''}${f.pathString}`)}`,
    ),
  );
  if (meta.announce.length === 0) lines.push('trackers:      none');
  else {
    lines.push('trackers:');
    meta.announce.forEach((tier, i) => lines.push(`  tier ${i + 1}: ${tier.join('  ')}`));
  }
  if (meta.urlList.length > 0) lines.push(`web seeds:     ${meta.urlList.join('  ')}`);
  for (const w of meta.warnings) lines.push(`warning:       ${w}`);
  const missingLayers = missingLayersNote(meta);
  if (missingLayers) lines.push(`note:          ${missingLayers}`);
  pushScrape(lines, scrape);
  for (const l of lines) io.out(l);
  return EXIT_OK;
}

/** The hash lines of `info`: a v1 torrent's info hash; a v2 or hybrid one's meta version and hashes. */
function hashLines(meta: Metainfo): string[] {
  if (meta.kind === 'v1') return [`info hash:     ${meta.infoHashHex}`];
  return [
    `meta version:  2 (${meta.kind === 'hybrid' ? 'hybrid: BitTorrent v1 and v2' : 'BitTorrent v2 only'})`,
    ...(meta.kind === 'hybrid' ? [`info hash:     ${meta.infoHashHex}`] : []),
    `info hash v2:  ${meta.infoHashV2Hex!}`,
  ];
}

/** The JSON shape of `bt-actor info --json` for a magnet link (documented in docs/cli.md). */
export function magnetInfoJson(link: MagnetLink) {
  return {
    kind: 'magnet',
    infoHash: link.infoHashHex,
    ...(link.infoHashV2Hex !== undefined && { infoHashV2: link.infoHashV2Hex }),
    ...(link.v2Only && { v2Only: true }),
    ...(link.name !== undefined && { name: link.name }),
    ...(link.exactLength !== undefined && { exactLength: link.exactLength }),
    trackers: link.trackers,
    webSeeds: link.webSeeds,
    peers: link.peers.map((p) => ({ host: p.host, port: p.port })),
    ignored: link.ignored,
  };
}

/** `bt-actor info 'magnet:?…'`: what the link says; a malformed link is one line and exit 2. */
async function magnetInfo(
  uri: string,
  values: { json?: boolean; scrape?: boolean },
  timeoutS: number,
  io: Io,
): Promise<number> {
  let link: MagnetLink;
  try {
    link = parseMagnet(uri, { v2Only: true });
  } catch (err) {
    if (!(err instanceof MagnetError)) throw err;
    io.err(`bt-actor: ${printable(err.message)} [${err.code}]`);
    return EXIT_BAD_INPUT;
  }
  const scrape = values.scrape
    ? await scrapeAll(link.trackers, link, timeoutS * 1000, magnetHybridV2Hash(link))
    : undefined;
  if (values.json) {
    io.out(JSON.stringify({ ...magnetInfoJson(link), ...(scrape && { scrape }) }));
    return EXIT_OK;
  }
  const hostPort = (p: { host: string; port: number }) =>
    p.host.includes(':') ? `[${p.host}]:${p.port}` : `${p.host}:${p.port}`;
  const lines = [
    'magnet link:   files and pieces come from peers (info does not fetch them)',
    `name:          ${link.name === undefined ? '(none given)' : printable(link.name)}`,
    ...(link.v2Only ? [] : [`info hash:     ${link.infoHashHex}`]),
    ...(link.infoHashV2Hex === undefined ? [] : [`info hash v2:  ${link.infoHashV2Hex}`]),
  ];
  if (link.exactLength !== undefined)
    lines.push(`size:          ${formatBytes(link.exactLength)} (${link.exactLength} bytes)`);
  const list = (label: string, items: string[]) => {
    if (items.length === 0) lines.push(`${label}none`);
    else lines.push(`${label.trimEnd()}`, ...items.map((i) => `  ${printable(i)}`));
  };
  list('trackers:      ', link.trackers);
  list('peers:         ', link.peers.map(hostPort));
  list('web seeds:     ', link.webSeeds);
  for (const i of link.ignored)
    lines.push(`ignored:       ${printable(`${i.key}=${i.value}`)}: ${printable(i.reason)}`);
  if (link.v2Only)
    lines.push(
      'note:          a BitTorrent v2-only link (BEP 52): the piece layers are asked of peers after the metadata',
    );
  pushScrape(lines, scrape);
  for (const l of lines) io.out(l);
  return EXIT_OK;
}

function pushScrape(lines: string[], scrape: ScrapeLine[] | undefined): void {
  if (!scrape) return;
  lines.push('scrape:');
  if (scrape.length === 0) lines.push('  no trackers to scrape');
  for (const r of scrape) {
    lines.push(
      'error' in r
        ? `  ${r.url}: ${r.error.message} [${r.error.code}]`
        : `  ${r.url}: ${r.complete} seeders, ${r.incomplete} leechers, ${r.downloaded} completed`,
    );
  }
}

type ScrapeLine =
  | { url: string; complete: number; incomplete: number; downloaded: number }
  | { url: string; error: { code: string; message: string } };

/** Scrapes every tracker in `urls` for one torrent in parallel, each bounded by `timeoutMs`. */
async function scrapeAll(
  urls: string[],
  meta: Pick<Metainfo, 'infoHash' | 'infoHashHex'>,
  timeoutMs: number,
  /** BEP 52: a hybrid's v2 hash cut to 20 bytes: scraped too, in the same request, the counts merged. */
  v2?: Uint8Array,
): Promise<ScrapeLine[]> {
  const hashes = v2 ? [meta.infoHash, v2] : [meta.infoHash];
  const hashesHex = hashes.map(toHex);
  const client = new TrackerClient({
    peerId: randomBytes(20),
    port: 0,
    httpTimeoutMs: timeoutMs,
    udpRetransmitBaseMs: Math.min(15_000, timeoutMs / 3),
    udpMaxRetransmits: 1,
  });
  return Promise.all(
    urls.map(async (url): Promise<ScrapeLine> => {
      try {
        const s = mergeScrapeStats(await client.scrape(url, hashes), hashesHex);
        return { url, complete: s.complete, incomplete: s.incomplete, downloaded: s.downloaded };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        return { url, error: { code: e.code ?? 'BT_ERR_TRACKER_UNKNOWN', message: e.message ?? String(err) } };
      }
    }),
  );
}

/** Most file indexes `--select` / `--exclude` may name for a magnet link, whose files are not known yet. */
const MAX_MAGNET_FILE_INDEX = 1 << 20;

/**
 * The file priorities of `--select` / `--exclude` (undefined when neither is given). Their indexes are
 * checked against the torrent's files. A magnet link's files are not known before its metadata: the
 * list is taken as it is (`otherFiles` the priority of the files it does not reach) and checked once
 * the metadata arrives (`check`: the refusal's text for an index past the last file).
 */
function fileSelection(
  select: string | undefined,
  exclude: string | undefined,
  meta: Metainfo | undefined,
): { files: FilePriority[]; otherFiles?: FilePriority; check?: (count: number) => string | undefined } | undefined {
  const text = select ?? exclude;
  if (text === undefined) return undefined;
  const name = select !== undefined ? 'select' : 'exclude';
  const count = meta ? meta.files.filter((f) => !f.padding).length : undefined;
  const chosen = new Set(fileIndexList(name, text, count ?? MAX_MAGNET_FILE_INDEX));
  const of = (i: number) => (chosen.has(i) === (select !== undefined) ? ('normal' as const) : ('skip' as const));
  if (count !== undefined) return { files: Array.from({ length: count }, (_, i) => of(i)) };
  return {
    files: Array.from({ length: Math.max(...chosen) + 1 }, (_, i) => of(i)),
    otherFiles: select !== undefined ? 'skip' : 'normal',
    check: (n) => {
      try {
        fileIndexList(name, text, n);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    },
  };
}

async function runCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    out: { type: 'string', short: 'o' },
    peer: { type: 'string', multiple: true },
    port: { type: 'string' },
    'max-peers': { type: 'string' },
    seed: { type: 'boolean' },
    'seed-ratio': { type: 'string' },
    bind: { type: 'string' },
    check: { type: 'boolean' },
    select: { type: 'string' },
    exclude: { type: 'string' },
    sequential: { type: 'boolean' },
    encryption: { type: 'string' },
    stream: { type: 'boolean' },
    'stream-port': { type: 'string' },
    'limit-down': { type: 'string' },
    'limit-up': { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    inspect: { type: 'string', bare: 'local' }, // bare: the local page
    'inspect-port': { type: 'string' },
    'inspect-url': { type: 'string' },
    'inspect-filter': { type: 'string' },
    'dht-bootstrap': { type: 'string', multiple: true },
    'no-dht': { type: 'boolean' },
    'state-dir': { type: 'string' },
    'no-pex': { type: 'boolean' },
  });
  if (values.help) {
    io.out(RUN_USAGE);
    return EXIT_OK;
  }
  if (positionals.length !== 1)
    throw new UsageError(`expected one torrent file or magnet link, got ${positionals.length}`);
  const port = wholeNumber('port', values.port, 6881, 1, 65535);
  const maxPeers = wholeNumber('max-peers', values['max-peers'], 50, 1);
  const seedRatio = decimalNumber('seed-ratio', values['seed-ratio'], undefined, 0);
  const limits = {
    down: rateOption('limit-down', values['limit-down']) ?? 0,
    up: rateOption('limit-up', values['limit-up']) ?? 0,
  };
  const inspect = inspectOptions(values);
  const dht = dhtOptions(values);
  if (values.select !== undefined && values.exclude !== undefined)
    throw new UsageError('--select and --exclude cannot be given together');
  const encryption = values.encryption;
  if (encryption !== undefined && !ENCRYPTION_POLICIES.includes(encryption as EncryptionPolicy))
    throw new UsageError(`--encryption must be ${ENCRYPTION_POLICIES.join(', ')}, not '${printable(encryption)}'`);
  const peers = [];
  for (const p of values.peer ?? []) {
    const addr = await resolvePeerArg(p);
    if (typeof addr === 'string') {
      io.err(`bt-actor: ${addr}`);
      return EXIT_BAD_INPUT;
    }
    peers.push(addr);
  }
  // A magnet link: its info dictionary is fetched from peers (docs/magnet.md); a malformed or v2-only
  // link is one line and exit 2.
  let magnet: MagnetLink | undefined;
  let meta: Metainfo | null | undefined;
  if (/^magnet:/i.test(positionals[0]!)) {
    try {
      magnet = parseMagnet(positionals[0]!, { v2Only: true });
    } catch (err) {
      if (!(err instanceof MagnetError)) throw err;
      io.err(`bt-actor: ${printable(err.message)} [${err.code}]`);
      return EXIT_BAD_INPUT;
    }
  } else {
    meta = await loadTorrent(positionals[0]!, io);
    if (!meta) return EXIT_BAD_INPUT;
    if (!values.quiet) warnPathChanges(meta, io);
  }
  const filePriorities = fileSelection(values.select, values.exclude, meta ?? undefined);
  const out = values.out ?? '.';
  const problem = await prepareOutDir(out, meta ?? undefined);
  if (problem) {
    io.err(`bt-actor run: ${problem}`);
    return EXIT_BAD_INPUT;
  }
  const json = values.json ?? !io.tty;
  const { signal, dispose } = interruptSignal(io);
  try {
    return await runDownload({
      ...(meta ? { meta } : { magnet: magnet! }),
      out,
      peers,
      port,
      exactPort: values.port !== undefined,
      maxPeers,
      json,
      quiet: values.quiet ?? false,
      // --stream keeps serving (and seeding) after completion, until Ctrl-C.
      seed: values.seed ?? (seedRatio !== undefined || values.stream === true),
      ...(seedRatio !== undefined && { seedRatio }),
      ...(values.bind !== undefined && { bind: values.bind }),
      check: values.check ?? false,
      ...(filePriorities && { filePriorities: filePriorities.files }),
      ...(filePriorities?.otherFiles && { otherFiles: filePriorities.otherFiles }),
      ...(filePriorities?.check && { checkSelection: filePriorities.check }),
      ...(values.sequential && { sequential: true }),
      ...(encryption !== undefined && { encryption: encryption as EncryptionPolicy }),
      ...(values.stream && { stream: { port: wholeNumber('stream-port', values['stream-port'], 0, 0, 65535) } }),
      ...((limits.down > 0 || limits.up > 0) && { limits }),
      out_: io.out,
      err: io.err,
      ...(io.tty && !json && { tty: io.tty }),
      signal,
      ...(inspect && { inspect }),
      dht,
      pex: !(values['no-pex'] ?? false),
    });
  } finally {
    dispose();
  }
}

/**
 * The DHT options of `run`: `--no-dht`, `--dht-bootstrap` (each checked: HOST:PORT), `--state-dir`.
 * `BT_ACTOR_NO_DHT=1` in the environment means `--no-dht` unless `--dht-bootstrap` is given (the test
 * suite sets it, so that no test reaches a public router); `BT_ACTOR_DHT_TRACE=FILE` appends every
 * datagram's destination and every bootstrap name's resolution to FILE.
 */
function dhtOptions(values: {
  'dht-bootstrap'?: string[];
  'no-dht'?: boolean;
  'state-dir'?: string;
}): false | DhtOptions {
  const bootstrap = values['dht-bootstrap'];
  if (values['no-dht'] && bootstrap) throw new UsageError('--no-dht and --dht-bootstrap cannot go together');
  for (const b of bootstrap ?? [])
    if (!splitHostPort(b))
      throw new UsageError(`--dht-bootstrap ${b}: not HOST:PORT (a host name or IP address, [::1]:6881 for IPv6)`);
  if (values['no-dht']) {
    if (values['state-dir'] !== undefined) throw new UsageError('--state-dir goes with the DHT, not with --no-dht');
    return false;
  }
  if (!bootstrap && process.env.BT_ACTOR_NO_DHT === '1') return false;
  const file = process.env.BT_ACTOR_DHT_TRACE;
  const trace = file
    ? {
        onSend: (to: { host: string; port: number }, bytes: number) =>
          appendFileSync(file, `send ${to.host} ${to.port} ${bytes}\n`),
        onResolve: (entry: string, result: { host: string; port: number }[] | string) =>
          appendFileSync(
            file,
            `resolve ${entry} ${typeof result === 'string' ? `failed ${result}` : result.map((a) => `${a.host}:${a.port}`).join(',')}\n`,
          ),
      }
    : undefined;
  return {
    ...(bootstrap && { bootstrap }),
    ...(values['state-dir'] !== undefined && { stateDir: resolve(values['state-dir']) }),
    ...(trace && { trace }),
  };
}

/** The `--inspect*` options: undefined when inspection is off; throws a {@link UsageError} when malformed. */
function inspectOptions(values: {
  inspect?: string;
  'inspect-port'?: string;
  'inspect-url'?: string;
  'inspect-filter'?: string;
}): InspectionOptions | undefined {
  const mode = values.inspect;
  if (mode === undefined) {
    const stray = (['inspect-port', 'inspect-url', 'inspect-filter'] as const).find((k) => values[k] !== undefined);
    if (stray) throw new UsageError(`--${stray} needs --inspect`);
    return undefined;
  }
  if (mode !== 'local' && mode !== 'stately')
    throw new UsageError(`--inspect='${mode}' must be local or stately${suggest(mode, ['local', 'stately'])}`);
  const o: InspectionOptions = { mode };
  if (values['inspect-port'] !== undefined) {
    if (mode !== 'local') throw new UsageError('--inspect-port goes with --inspect=local');
    o.port = wholeNumber('inspect-port', values['inspect-port'], 0, 0, 65535);
  }
  if (values['inspect-url'] !== undefined) {
    const url = values['inspect-url'];
    if (mode !== 'stately' || !URL.canParse(url) || !/^wss?:$/.test(new URL(url).protocol))
      throw new UsageError(`--inspect-url '${url}' must be a ws:// or wss:// URL, with --inspect=stately`);
    o.url = url;
  }
  if (values['inspect-filter'] !== undefined) {
    const f = parseEventFilter(values['inspect-filter']);
    if (!f)
      throw new UsageError(
        `--inspect-filter '${values['inspect-filter']}' must be default, all, or a comma-separated list of event types`,
      );
    o.filter = f.filter;
  }
  return o;
}

/**
 * Aborts on the first Ctrl-C / SIGTERM (clean stop); exits at once on the second signal (128 + its
 * number: 130 for SIGINT, 143 for SIGTERM).
 */
function interruptSignal(io: Io): { signal: AbortSignal; dispose: () => void } {
  if (io.signal) return { signal: io.signal, dispose: () => {} };
  const ac = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts > 1) process.exit(sig === 'SIGTERM' ? 143 : 130);
    // Aborted first: the run ends its progress line, and the message below starts on a line of its own.
    ac.abort();
    // Whoever sent SIGTERM (kill, systemd, docker stop) is not at a keyboard.
    io.err(
      sig === 'SIGTERM'
        ? 'bt-actor: SIGTERM: stopping cleanly (telling trackers, closing files); a second signal quits at once'
        : 'bt-actor: stopping (press Ctrl-C again to quit at once)',
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

async function demoCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    size: { type: 'string' },
    seeders: { type: 'string' },
    keep: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(DEMO_USAGE);
    return EXIT_OK;
  }
  if (positionals.length > 0) throw new UsageError(`takes no file or folder, got '${positionals[0]}'`);
  const sizeMiB = wholeNumber('size', values.size, 128, 1, 65536);
  const seeders = wholeNumber('seeders', values.seeders, 3, 1, 20);
  const json = values.json ?? !io.tty;
  const { signal, dispose } = interruptSignal(io);
  try {
    return await runDemo({
      sizeMiB,
      seeders,
      keep: values.keep ?? false,
      json,
      out: io.out,
      err: io.err,
      ...(io.tty && !json && { tty: io.tty }),
      signal,
    });
  } finally {
    dispose();
  }
}

/** "256K" → 262144, "4M" → 4194304, "65536" → 65536; NaN when malformed. */
export function parseSize(s: string): number {
  const m = /^(\d+)([kKmMgG]?)(i?[bB])?$/.exec(s.trim());
  if (!m) return Number.NaN;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

async function createCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {
    announce: { type: 'string', short: 'a', multiple: true },
    output: { type: 'string', short: 'o' },
    force: { type: 'boolean', short: 'f' },
    'piece-length': { type: 'string', short: 'l' },
    private: { type: 'boolean', short: 'p' },
    comment: { type: 'string', short: 'c' },
    name: { type: 'string', short: 'n' },
    'web-seed': { type: 'string', short: 'w', multiple: true },
    'no-date': { type: 'boolean' },
    v2: { type: 'boolean' },
    hybrid: { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help) {
    io.out(CREATE_USAGE);
    return EXIT_OK;
  }
  if (positionals.length !== 1) throw new UsageError(`expected one file or folder, got ${positionals.length}`);
  const input = positionals[0]!;
  if (values.v2 && values.hybrid) throw new UsageError('--v2 and --hybrid cannot be given together');
  const version = values.v2 ? 'v2' : values.hybrid ? 'hybrid' : 'v1';
  let pieceLength: number | undefined;
  if (values['piece-length'] !== undefined) {
    pieceLength = parseSize(values['piece-length']);
    if (!Number.isSafeInteger(pieceLength) || pieceLength < 16 * 1024 || pieceLength > 256 * 1024 * 1024)
      throw new UsageError(`--piece-length must be 16K to 256M, not '${values['piece-length']}'`);
    if (version !== 'v1' && (pieceLength & (pieceLength - 1)) !== 0)
      throw new UsageError(
        `--piece-length of a --${version} torrent must be a power of two (BEP 52), not '${values['piece-length']}'`,
      );
  }
  for (const [option, urls] of [
    ['announce', values.announce],
    ['web-seed', values['web-seed']],
  ] as const)
    for (const url of urls ?? []) if (!URL.canParse(url)) throw new UsageError(`--${option} '${url}' is not a URL`);
  // The output is checked before the data is hashed (which can take minutes), and written only if new.
  const output = values.output ?? `${values.name ?? basename(resolve(input))}.torrent`;
  const force = values.force ?? false;
  const unusable = await outputProblem(output, force);
  if (unusable) {
    io.err(`bt-actor create: ${unusable}`);
    return EXIT_BAD_INPUT;
  }
  let created;
  try {
    created = await createTorrent(input, {
      announce: (values.announce ?? []).map((u) => [u]),
      ...(pieceLength !== undefined && { pieceLength }),
      private: values.private ?? false,
      ...(values.comment !== undefined && { comment: values.comment }),
      ...(values.name !== undefined && { name: values.name }),
      ...(values['web-seed'] && { urlList: values['web-seed'] }),
      ...(values['no-date'] && { creationDate: null }),
      ...(version !== 'v1' && { version }),
    });
  } catch (err) {
    if (isBtError(err)) {
      io.err(`bt-actor create: ${err.message}`);
      return EXIT_BAD_INPUT;
    }
    if (isFsError(err)) {
      io.err(`bt-actor create: cannot read ${err.path ?? input}: ${fsReason(err)}`);
      return EXIT_BAD_INPUT;
    }
    throw err;
  }
  const meta = parseMetainfo(created.torrent); // what we wrote must be what every client reads
  try {
    await writeFile(output, created.torrent, { flag: force ? 'w' : 'wx' });
  } catch (err) {
    if (!isFsError(err)) throw err;
    io.err(
      `bt-actor create: ${err.code === 'EEXIST' ? overwriteRefusal(output) : `cannot write ${output}: ${fsReason(err)}`}`,
    );
    return BAD_PATH_CODES.has(err.code) ? EXIT_BAD_INPUT : EXIT_FAILED;
  }
  if (values.json) io.out(JSON.stringify({ output, ...infoJson(meta) }));
  else
    io.out(
      `${output}: ${meta.name}, ${formatBytes(meta.length)}, ${meta.pieceCount} pieces, ` +
        (meta.kind === 'v1'
          ? `info hash ${meta.infoHashHex}`
          : meta.kind === 'hybrid'
            ? `hybrid, info hash ${meta.infoHashHex}, v2 ${meta.infoHashV2Hex!}`
            : `v2 only, info hash v2 ${meta.infoHashV2Hex!}`),
    );
  if (meta.announce.length === 0)
    io.err('bt-actor create: warning: no tracker: peers can find it only through --peer (add one with -a URL)');
  return EXIT_OK;
}

const overwriteRefusal = (output: string) => `${output} already exists (add --force to overwrite it)`;

/** Why `create` cannot write `output` (an existing file without --force, a missing folder …), or null. */
async function outputProblem(output: string, force: boolean): Promise<string | null> {
  try {
    const st = await stat(output);
    if (st.isDirectory()) return `${output} is a folder (-o names the .torrent file to write)`;
    return force ? null : overwriteRefusal(output);
  } catch (err) {
    // ENOENT, ENOTDIR: the folder is missing or is no folder, said below.
    if (!isFsError(err) || (err.code !== 'ENOENT' && err.code !== 'ENOTDIR'))
      return `cannot write ${output}: ${fsReason(err)}`;
  }
  const folder = dirname(output);
  try {
    if (!(await stat(folder)).isDirectory()) return `cannot write ${output}: ${folder} is not a folder`;
    await access(folder, constants.W_OK); // a read-only folder would fail only after the hashing
  } catch (err) {
    if (isFsError(err) && err.code === 'ENOENT') return `cannot write ${output}: the folder ${folder} does not exist`;
    return `cannot write ${output}: ${fsReason(err)}`;
  }
  return null;
}

type FsError = Error & { code: string; path?: string };
const isFsError = (err: unknown): err is FsError =>
  err instanceof Error && typeof (err as { code?: unknown }).code === 'string' && !isBtError(err);

/** Errors that mean a path the user gave cannot be used (exit 2), not that something failed on the way. */
const BAD_PATH_CODES = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'EEXIST', 'ENAMETOOLONG']);
