/**
 * Real clients as seeders on 127.0.0.1 for the interop suite: libtorrent (python3-libtorrent), aria2
 * and Transmission (Debian packages). Each runs in its own process group and is stopped by PID.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { decodeHandshake, encodeHandshake } from '../../src/protocol/wire.js';
import { startProcess, waitForPort, type Proc } from './proc.js';

const HELPERS = join(import.meta.dirname, '../interop/helpers');

export interface Seeder {
  kind: string;
  port: number;
  proc: Proc;
  stop: () => Promise<void>;
}

async function waitFor(check: () => boolean, timeoutMs: number, what: string, proc: Proc): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return;
    if (proc.child.exitCode !== null) throw new Error(`${what}: exited ${proc.child.exitCode}: ${proc.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not ready within ${timeoutMs} ms: ${proc.output()}`);
}

/** libtorrent seeding `torrent` from `dataDir` (the payload at dataDir/<name>). `trust` serves unverified data. */
export async function libtorrentSeeder(
  torrent: string,
  dataDir: string,
  port: number,
  opts: {
    trust?: boolean;
    workDir: string;
    uploadLimit?: number;
    forcedEncryption?: boolean;
    /** libtorrent's `unchoke_slots_limit` (0: it unchokes nobody) and BEP 6 `allowed_fast_set_size`. */
    unchokeSlots?: number;
    allowedFast?: number;
  },
): Promise<Seeder> {
  const ready = join(opts.workDir, `lt-ready-${port}`);
  const args = [join(HELPERS, 'lt_seed.py'), torrent, dataDir, String(port), '--ready', ready];
  if (opts.trust) args.push('--trust');
  if (opts.uploadLimit) args.push('--upload-limit', String(opts.uploadLimit));
  if (opts.forcedEncryption) args.push('--forced-encryption');
  if (opts.unchokeSlots !== undefined) args.push('--unchoke-slots', String(opts.unchokeSlots));
  if (opts.allowedFast !== undefined) args.push('--allowed-fast', String(opts.allowedFast));
  const proc = startProcess('/usr/bin/python3', args);
  await waitFor(() => existsSync(ready), 60_000, 'libtorrent seeder', proc);
  return { kind: 'libtorrent', port, proc, stop: () => proc.stop() };
}

/**
 * aria2c settings for loopback, seeder and leecher alike: DHT, LPD and PEX off, plain connections
 * accepted, bound to 127.0.0.1 on `port`, quiet.
 */
export function aria2LoopbackArgs(port: number): string[] {
  return [
    '--enable-dht=false',
    '--enable-dht6=false',
    '--bt-enable-lpd=false',
    '--enable-peer-exchange=false',
    '--bt-require-crypto=false',
    '--bt-min-crypto-level=plain',
    '--interface=127.0.0.1',
    '--disable-ipv6=true',
    `--listen-port=${port}`,
    '--summary-interval=0',
    '--console-log-level=warn',
  ];
}

/** aria2c seeding (no hash check of the data: --bt-seed-unverified). */
export async function aria2Seeder(torrent: string, dataDir: string, port: number): Promise<Seeder> {
  const proc = startProcess('aria2c', [
    ...aria2LoopbackArgs(port),
    '--seed-ratio=0.0',
    '--bt-seed-unverified=true',
    '--check-integrity=false',
    `--dir=${dataDir}`,
    '--bt-max-peers=0',
    '--max-overall-upload-limit=0',
    torrent,
  ]);
  await waitForPort(port, 30_000, proc);
  return { kind: 'aria2', port, proc, stop: () => proc.stop() };
}

/**
 * transmission-cli 3.00 settings for loopback: DHT/LPD/PEX/uTP/port forwarding off, plain connections
 * preferred (`encryption` 0; 2 requires it), bound to 127.0.0.1, no limits.
 */
export function transmissionSettings(port: number, dir: string, encryption: 0 | 1 | 2 = 0): string {
  return JSON.stringify({
    'dht-enabled': false,
    'lpd-enabled': false,
    'pex-enabled': false,
    'utp-enabled': false,
    'port-forwarding-enabled': false,
    encryption,
    'peer-port': port,
    'peer-port-random-on-start': false,
    'bind-address-ipv4': '127.0.0.1',
    'bind-address-ipv6': '::1',
    'rpc-enabled': false,
    'download-dir': dir,
    'incomplete-dir-enabled': false,
    'rename-partial-files': false,
    'ratio-limit-enabled': false,
    'idle-seeding-limit-enabled': false,
    'speed-limit-down-enabled': false,
    'speed-limit-up-enabled': false,
    'alt-speed-enabled': false,
    'blocklist-enabled': false,
    'message-level': 1,
    'peer-limit-global': 200,
    'peer-limit-per-torrent': 60,
    'start-added-torrents': true,
  });
}

/**
 * transmission-cli 3.00 seeding (it verifies the data first, then listens); `requireEncryption`: MSE
 * only, both ways (`encryption` 2, `-er`).
 */
export async function transmissionSeeder(
  torrent: string,
  dataDir: string,
  port: number,
  workDir: string,
  requireEncryption = false,
): Promise<Seeder> {
  const conf = join(workDir, `tr-conf-${port}`);
  await mkdir(conf, { recursive: true });
  await writeFile(join(conf, 'settings.json'), transmissionSettings(port, dataDir, requireEncryption ? 2 : 0));

  const proc = startProcess('transmission-cli', [
    '-g',
    conf,
    '-w',
    dataDir,
    '-p',
    String(port),
    '-M',
    requireEncryption ? '-er' : '-et',
    '-v',
    torrent,
  ]);
  await waitForPort(port, 60_000, proc);
  // Its port is open at once, but it refuses peers of the torrent until it has checked the data (-v):
  // several seconds here. A leecher that dialled it then would back off and might finish without it.
  if (!requireEncryption) {
    const { infoHash } = parseMetainfo(await readFile(torrent));
    await waitFor(handshakeProbe(port, infoHash, proc), 60_000, 'transmission-cli seeding', proc);
  }
  return { kind: 'transmission', port, proc, stop: () => proc.stop() };
}

/**
 * Polls 127.0.0.1:`port` with a plaintext BitTorrent handshake for `infoHash` until the peer answers
 * with its own handshake for that torrent (it is serving it); the returned check says whether it has.
 */
function handshakeProbe(port: number, infoHash: Uint8Array, proc: Proc): () => boolean {
  const hello = encodeHandshake({
    reserved: new Uint8Array(8),
    infoHash,
    peerId: Buffer.from('-PR0000-probeprobe12', 'latin1'),
  });
  let ready = false;
  const attempt = () => {
    if (ready || proc.child.exitCode !== null) return;
    const s = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let over = false;
    const again = () => {
      if (over) return;
      over = true;
      s.destroy();
      if (!ready) setTimeout(attempt, 250).unref();
    };
    s.setTimeout(2000, again);
    s.on('error', again);
    s.on('close', again);
    s.on('connect', () => s.write(hello));
    s.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const r = decodeHandshake(got);
      if (r.kind === 'need') return;
      ready = r.kind === 'handshake' && Buffer.from(r.handshake.infoHash).equals(infoHash);
      again();
    });
  };
  attempt();
  return () => ready;
}
