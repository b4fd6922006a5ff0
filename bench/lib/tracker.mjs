// A real HTTP tracker on 127.0.0.1 for the benchmark (aria2 uses UDP trackers only with its DHT on):
// opentracker (Debian; built with an info-hash whitelist, chrooted to its folder) or bittorrent-tracker
// (npm). Scrape tells when the seeders are ready.
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { Buffer } from 'node:buffer';
import { fileURLToPath } from 'node:url';
import bencode from 'bencode';
import { start, waitFor } from './procs.mjs';

const TRACKER_BIN = fileURLToPath(new URL('../../node_modules/bittorrent-tracker/bin/cmd.js', import.meta.url));

function tcpOpen(port) {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts the tracker on 127.0.0.1:port for `infoHashes` (hex; opentracker's whitelist). Returns
 * { kind, port, announce, proc }.
 */
export async function startTracker(kind, port, dir, infoHashes) {
  await mkdir(dir, { recursive: true });
  let proc;
  if (kind === 'opentracker') {
    await writeFile(join(dir, 'whitelist'), infoHashes.map((h) => `${h}\n`).join(''));
    proc = start(
      'opentracker',
      ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-d', dir, '-w', '/whitelist'],
      { log: join(dir, '..', 'tracker.log') },
    );
  } else if (kind === 'bittorrent-tracker') {
    proc = start(
      process.execPath,
      [
        TRACKER_BIN,
        '--port',
        String(port),
        '--http',
        '--http-hostname',
        '127.0.0.1',
        '--quiet',
        '--interval',
        '600000',
      ],
      { log: join(dir, '..', 'tracker.log') },
    );
  } else {
    throw new Error(`unknown tracker ${kind} (opentracker or bittorrent-tracker)`);
  }
  await waitFor(() => tcpOpen(port), 15_000, `${kind} on port ${port}`, { procs: [proc] });
  return { kind, port, announce: `http://127.0.0.1:${port}/announce`, proc };
}

/** { complete, incomplete } for one torrent from the tracker's scrape (bounded to 3 s). */
export function scrape(port, infoHashHex) {
  const q = Buffer.from(infoHashHex, 'hex').reduce((s, b) => s + '%' + b.toString(16).padStart(2, '0'), '');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/scrape?info_hash=${q}`, timeout: 3000 }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        try {
          const files = bencode.decode(Buffer.concat(parts)).files ?? {};
          const st = Object.values(files)[0] ?? {};
          resolve({ complete: st.complete ?? 0, incomplete: st.incomplete ?? 0 });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('scrape timeout')));
    req.on('error', reject);
    req.end();
  });
}
