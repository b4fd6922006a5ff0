/**
 * A local HTTP server for BEP 19 web seed tests: serves the files under `root` (URL path = file path,
 * URL-decoded) with `Range: bytes=S-E` (206), or whole (200). Its behaviour can be changed between
 * requests: `corrupt` flips a byte of every answer, `failNext` answers the next N requests with a status
 * (e.g. 503 with `Retry-After`), `missing` answers 404, `delayMs` slows every answer. It records every request it got,
 * and counts the TCP connections it accepted (`connections`) and those still open (`open`).
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize } from 'node:path';

export interface WebSeedServer {
  url: string;
  port: number;
  requests: { path: string; range: string | undefined; status: number }[];
  corrupt: boolean;
  missing: boolean;
  /** Extra bytes appended past the range (a server that sends too much). */
  overflow: number;
  failNext: { count: number; status: number; retryAfter?: number };
  /** Milliseconds each answer waits (a slower server). */
  delayMs: number;
  /** TCP connections accepted so far, and those not closed yet. */
  connections: number;
  open: number;
  /** Closes the connections that wait idle for a next request (as a server's keep-alive timeout does). */
  closeIdle(): void;
  close(): Promise<void>;
}

export async function startWebSeedServer(root: string): Promise<WebSeedServer> {
  const s: WebSeedServer = {
    url: '',
    port: 0,
    requests: [],
    corrupt: false,
    missing: false,
    overflow: 0,
    failNext: { count: 0, status: 503 },
    delayMs: 0,
    connections: 0,
    open: 0,
    closeIdle: () => server.closeIdleConnections(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const range = req.headers.range;
      if (s.delayMs > 0) await new Promise((r) => setTimeout(r, s.delayMs));
      const answer = (status: number, body?: Uint8Array, headers: Record<string, string> = {}) => {
        s.requests.push({ path, range, status });
        res.writeHead(status, headers);
        res.end(body);
      };
      if (s.failNext.count > 0) {
        s.failNext.count--;
        const h: Record<string, string> =
          s.failNext.retryAfter !== undefined ? { 'Retry-After': String(s.failNext.retryAfter) } : {};
        return answer(s.failNext.status, undefined, h);
      }
      let data: Buffer;
      try {
        if (s.missing) throw new Error('missing');
        data = await readFile(join(root, normalize(path).replace(/^(\.\.[/\\])+/, '')));
      } catch {
        return answer(404);
      }
      let body = data;
      let status = 200;
      const headers: Record<string, string> = {};
      const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
      if (m) {
        const start = Number(m[1]);
        const end = Math.min(Number(m[2]), data.length - 1);
        body = Buffer.concat([data.subarray(start, end + 1), Buffer.alloc(s.overflow)]);
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${data.length}`;
      }
      if (s.corrupt && body.length > 0) {
        body = Buffer.from(body);
        body[0] = body[0]! ^ 0xff;
      }
      answer(status, body, headers);
    })();
  });
  server.on('connection', (socket) => {
    s.connections++;
    s.open++;
    socket.on('close', () => s.open--);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const addr = server.address();
  s.port = typeof addr === 'object' && addr ? addr.port : 0;
  s.url = `http://127.0.0.1:${s.port}`;
  return s;
}
