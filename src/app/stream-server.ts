/**
 * `bt-actor run --stream`: every file of a torrent over HTTP on 127.0.0.1 while it downloads, with Range
 * requests (RFC 9110), so a media player can start at once and seek. A request is answered from
 * `file.createReadStream` (src/app/engine.ts): only verified bytes, their pieces asked for first.
 * URLs are `http://127.0.0.1:PORT/<index>/<file name>`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TorrentHandle } from './engine.js';

export interface StreamServer {
  port: number;
  /** One URL per file (padding left out), as `bt-actor info` numbers them. */
  urls: { index: number; path: string; url: string }[];
  close(): Promise<void>;
}

/**
 * The byte range a `Range` header asks of a `size`-byte file: `{ start, end }` (inclusive), `undefined`
 * for the whole file (no header, or a form we do not serve partially: several ranges), or `'unsatisfiable'`.
 *
 * @example
 * ```ts
 * parseRange('bytes=100-', 1000); // { start: 100, end: 999 }
 * parseRange('bytes=-10', 1000); // { start: 990, end: 999 }
 * ```
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | undefined | 'unsatisfiable' {
  if (header === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return header.includes(',') ? undefined : 'unsatisfiable';
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Serves the files of `t` on 127.0.0.1:`port` (0: any free port). */
export async function startStreamServer(t: TorrentHandle, port: number): Promise<StreamServer> {
  const server: Server = createServer((req, res) => serve(t, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  const urls = t.files.map((f) => ({
    index: f.index,
    path: f.path,
    url: `http://127.0.0.1:${actual}/${f.index}/${encodeURIComponent(f.path.split('/').at(-1)!)}`,
  }));
  return {
    port: actual,
    urls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function serve(t: TorrentHandle, req: IncomingMessage, res: ServerResponse): void {
  const index = Number(/^\/(\d+)(?:\/|$)/.exec(req.url ?? '')?.[1] ?? NaN);
  const file = Number.isSafeInteger(index) ? t.files[index] : undefined;
  if (!file) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('no such file\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  const size = file.length;
  const range = parseRange(req.headers.range, size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    return;
  }
  const { start, end } = range ?? { start: 0, end: size - 1 };
  const headers = {
    'accept-ranges': 'bytes',
    'content-type': 'application/octet-stream',
    'content-length': String(Math.max(0, end - start + 1)),
    ...(range && { 'content-range': `bytes ${start}-${end}/${size}` }),
  };
  res.writeHead(range ? 206 : 200, headers);
  if (req.method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  const stream = file.createReadStream({ start, end });
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}
