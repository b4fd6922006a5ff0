// How each client is started as a benchmark leecher or seeder: plain TCP on 127.0.0.1, no DHT, LSD,
// PEX, uTP, UPnP/NAT-PMP or (where the client allows) encryption, no rate limits.
// A leecher command exits 0 once the download is complete (Transmission's wrapper at its finish
// script); its data lands in OUTDIR/<torrent name>.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
export const ROOT = here('../../');
const LT_HELPERS = here('../../test/interop/helpers/');
const BENCH_HELPERS = here('../helpers/');
const PY = '/usr/bin/python3'; // Debian's python3 has libtorrent (a pyenv python3 may not)

const ARIA2 = [
  '--no-conf=true',
  '--enable-dht=false',
  '--enable-dht6=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--bt-require-crypto=false',
  '--bt-min-crypto-level=plain',
  '--interface=127.0.0.1',
  '--disable-ipv6=true',
  '--summary-interval=0',
  '--console-log-level=warn',
  '--bt-max-peers=0',
  '--max-overall-download-limit=0',
  '--max-overall-upload-limit=0',
  '--max-download-limit=0',
  '--max-upload-limit=0',
];

/** bt-actor's CLI in `btDir` (a checkout or snapshot with bin/ and a built dist/). */
export const btBin = (btDir) => join(btDir, 'bin/bt-actor.js');

export const LEECHERS = ['bt-actor', 'aria2', 'transmission', 'libtorrent', 'webtorrent'];
export const SEEDERS = ['libtorrent', 'transmission', 'bt-actor'];

/**
 * `bt-actor run` of `torrent` into `dir` on 127.0.0.1:`port`, with `extra` flags. `BT_BENCH_NODE_ARGS`
 * (space-separated) goes to node first, e.g. `--cpu-prof --cpu-prof-dir=prof` to profile each run.
 */
function btRun(btDir, torrent, dir, port, extra) {
  const nodeArgs = (process.env.BT_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return {
    cmd: process.execPath,
    args: [
      ...nodeArgs,
      btBin(btDir),
      'run',
      torrent,
      '--out',
      dir,
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      ...extra,
    ],
  };
}

/**
 * The command of leecher `name`: { cmd, args, doneFile? }. `o`: { torrent, outDir, port, timeoutS,
 * workDir, btDir, btArgs (extra bt-actor flags) }.
 */
export function leecherCommand(name, o) {
  switch (name) {
    case 'bt-actor':
      return btRun(o.btDir, o.torrent, o.outDir, o.port, ['--json', ...(o.btArgs ?? [])]);
    case 'aria2':
      return {
        cmd: 'aria2c',
        args: [
          ...ARIA2,
          `--listen-port=${o.port}`,
          '--seed-time=0',
          '--file-allocation=none',
          '--allow-overwrite=true',
          '--auto-file-renaming=false',
          `--bt-stop-timeout=${o.timeoutS}`,
          `--dir=${o.outDir}`,
          o.torrent,
        ],
      };
    case 'transmission':
      return {
        cmd: PY,
        args: [
          join(BENCH_HELPERS, 'transmission.py'),
          'leech',
          o.torrent,
          o.outDir,
          String(o.port),
          join(o.workDir, 'transmission'),
          '--timeout',
          String(o.timeoutS),
        ],
        doneFile: join(o.workDir, 'transmission', 'DONE'),
      };
    case 'libtorrent':
      return {
        cmd: PY,
        args: [join(LT_HELPERS, 'lt_leech.py'), o.torrent, o.outDir, String(o.port), '--timeout', String(o.timeoutS)],
      };
    case 'webtorrent':
      return {
        cmd: process.execPath,
        args: [join(BENCH_HELPERS, 'webtorrent-leech.mjs'), o.torrent, o.outDir, String(o.port), String(o.timeoutS)],
      };
    default:
      throw new Error(`unknown client ${name} (${LEECHERS.join(', ')})`);
  }
}

/**
 * The command of a seeder of `kind`: { cmd, args, readyFile? }. `o`: { torrent, dataDir (holds
 * <name>), port, workDir, btDir }. libtorrent checks the data by hash before it seeds (no seed_mode,
 * whose lazy hashing would load the first leecher's run) and re-announces every second, so it learns
 * of leechers that never dial loopback peers (Transmission) and dials them.
 */
export function seederCommand(kind, o) {
  switch (kind) {
    case 'libtorrent': {
      const readyFile = join(o.workDir, 'ready');
      return {
        cmd: PY,
        args: [
          join(LT_HELPERS, 'lt_seed.py'),
          o.torrent,
          o.dataDir,
          String(o.port),
          '--ready',
          readyFile,
          '--announce-every',
          '1',
        ],
        readyFile,
      };
    }
    case 'transmission':
      return {
        cmd: PY,
        args: [
          join(BENCH_HELPERS, 'transmission.py'),
          'seed',
          o.torrent,
          o.dataDir,
          String(o.port),
          join(o.workDir, 'transmission'),
        ],
      };
    case 'bt-actor':
      return btRun(o.btDir, o.torrent, o.dataDir, o.port, ['--seed', '--json']);
    default:
      throw new Error(`unknown seeder ${kind} (${SEEDERS.join(', ')})`);
  }
}

/** Why `leecher` cannot download from `seeder` seeders on loopback, or undefined if it can. */
export function incompatible(leecher, seeder) {
  if (leecher === 'transmission' && seeder !== 'libtorrent')
    return 'Transmission never dials 127.x peers from a tracker; only re-announcing libtorrent seeders dial it';
  return undefined;
}
