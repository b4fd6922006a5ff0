/**
 * The local inspector: an HTTP server on 127.0.0.1 that serves the inspector page (bundled at build
 * time into dist/inspector-ui, no CDN) and pushes the collector's diffs to it over a WebSocket
 * (`/ws`). A page that cannot keep up is not sent more: once its socket drains it gets a fresh
 * `hello` instead of the diffs it missed, so a slow page never grows the engine's memory.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WebSocketServer, type WebSocket } from 'ws';
import type { InspectCollector } from './collector.js';
import type { ClientMessage, LogMessage } from './protocol.js';
import { realClock, sleep } from '../../io/clock.js';

export interface InspectServerOptions {
  collector: InspectCollector;
  /** Default 127.0.0.1. The page is meant for this machine only. */
  host?: string;
  /** 0 for any free port; a taken port is followed by the next free ones (up to 20). Default 0. */
  port?: number;
  /** Folder of the built page (index.html, inspector.js, inspector.css). Default: dist/inspector-ui. */
  assetsDir?: string;
  /** Bytes queued for a page past which it is sent no diffs (it gets a fresh `hello` later). Default 1 MiB. */
  highWaterBytes?: number;
}

interface Client {
  ws: WebSocket;
  selected: number | null;
  logSeq: number;
  stale: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** Where the built page is: beside the compiled code (dist/), or dist/ seen from src/ (tests). */
export function defaultAssetsDir(): string {
  // dist/app/inspect/server.js, the CLI bundle in dist/app/, or src/app/inspect/server.ts under a test runner.
  const candidates = [
    new URL('../../inspector-ui/', import.meta.url),
    new URL('../inspector-ui/', import.meta.url),
    new URL('../../../dist/inspector-ui/', import.meta.url),
  ];
  for (const c of candidates) {
    const dir = fileURLToPath(c);
    if (existsSync(`${dir}inspector.js`)) return dir;
  }
  return fileURLToPath(candidates[0]!);
}

const MISSING_UI = `<!doctype html><meta charset="utf-8"><title>bt-actor inspector</title>
<p>The inspector page is not built. Run <code>npm run build</code> in the bt-actor checkout.</p>
<p>The engine's state is also served as JSON at <a href="/api/state">/api/state</a>.</p>`;

export class InspectServer {
  private readonly clients = new Set<Client>();
  private unsubscribeDiffs: (() => void) | undefined;
  private readonly unsubscribeLogs: () => void;
  private closed = false;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly collector: InspectCollector,
    private readonly assetsDir: string,
    readonly host: string,
    readonly port: number,
    private readonly highWater: number,
  ) {
    this.unsubscribeLogs = collector.onLogs(({ id, seq }) => {
      for (const c of this.clients) if (c.selected === id && seq > c.logSeq && !c.stale) this.sendLog(c, false);
    });
  }

  /** The page's address. */
  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this.port}/`;
  }

  /** Starts listening; resolves once the port is open. */
  static async start(options: InspectServerOptions): Promise<InspectServer> {
    const host = options.host ?? '127.0.0.1';
    const assetsDir = options.assetsDir ?? defaultAssetsDir();
    const holder: { server?: InspectServer } = {};
    const http = createServer((req, res) => {
      if (!holder.server) {
        res.statusCode = 503;
        res.end();
        return;
      }
      holder.server.handle(req, res).catch(() => {
        if (!res.headersSent) res.statusCode = 500;
        res.end();
      });
    });
    const wanted = options.port ?? 0;
    let port = wanted;
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          http.once('error', reject);
          http.listen(port, host, () => {
            http.off('error', reject);
            resolve();
          });
        });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || wanted === 0 || attempt >= 20 || port >= 65535)
          throw err;
        port++;
      }
    }
    const actual = (http.address() as AddressInfo).port;
    const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
    const server = new InspectServer(
      http,
      wss,
      options.collector,
      assetsDir,
      host,
      actual,
      options.highWaterBytes ?? 1 << 20,
    );
    holder.server = server;
    http.on('upgrade', (req, socket, head) => {
      if (server.closed || !req.url?.startsWith('/ws') || !server.allowedHost(req) || !server.allowedOrigin(req)) {
        socket.destroy();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => server.accept(ws));
    });
    return server;
  }

  /** Host header check: the page answers under its own address only (no DNS rebinding). */
  private allowedHost(req: IncomingMessage): boolean {
    const h = req.headers.host;
    if (!h) return true;
    const ok = [`127.0.0.1:${this.port}`, `localhost:${this.port}`, `[::1]:${this.port}`, `${this.host}:${this.port}`];
    return ok.includes(h.toLowerCase());
  }

  /** A browser's WebSocket must come from the page itself; other tools send no Origin. */
  private allowedOrigin(req: IncomingMessage): boolean {
    const o = req.headers.origin;
    if (!o) return true;
    try {
      const u = new URL(o);
      return ['127.0.0.1', 'localhost', '[::1]', this.host].includes(u.hostname) && Number(u.port) === this.port;
    } catch {
      return false;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.allowedHost(req)) {
      res.statusCode = 421;
      res.end('wrong host');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (url.pathname === '/api/state') {
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(this.collector.hello()));
      return;
    }
    if (url.pathname === '/api/log') {
      const log = this.collector.logOf(Number(url.searchParams.get('id')));
      res.statusCode = log ? 200 : 404;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify(log?.lines ?? []));
      return;
    }
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    if (!/^[\w.-]+$/.test(name)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(`${this.assetsDir}${name}`);
    } catch {
      if (name === 'index.html') {
        res.setHeader('Content-Type', TYPES['.html']!);
        res.end(MISSING_UI);
        return;
      }
      res.statusCode = 404;
      res.end();
      return;
    }
    const ext = /\.[a-z]+$/.exec(name)?.[0] ?? '';
    res.setHeader('Content-Type', TYPES[ext] ?? 'application/octet-stream');
    res.end(body);
  }

  private accept(ws: WebSocket): void {
    const client: Client = { ws, selected: null, logSeq: 0, stale: false };
    this.clients.add(client);
    if (!this.unsubscribeDiffs)
      this.unsubscribeDiffs = this.collector.subscribe((diff) => this.broadcast(JSON.stringify(diff)));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: ClientMessage;
      try {
        msg = JSON.parse(String(data)) as ClientMessage;
      } catch {
        return;
      }
      if (msg?.type === 'select') {
        client.selected = typeof msg.id === 'number' ? msg.id : null;
        client.logSeq = 0;
        if (client.selected !== null) this.sendLog(client, true);
      }
    });
    const drop = () => {
      this.clients.delete(client);
      if (this.clients.size === 0 && this.unsubscribeDiffs) {
        this.unsubscribeDiffs();
        this.unsubscribeDiffs = undefined;
      }
    };
    ws.on('close', drop);
    ws.on('error', drop);
    ws.send(JSON.stringify(this.collector.hello()));
  }

  private broadcast(json: string): void {
    for (const c of this.clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue;
      if (c.ws.bufferedAmount > this.highWater) {
        c.stale = true;
        continue;
      }
      if (c.stale) {
        c.stale = false;
        c.ws.send(JSON.stringify(this.collector.hello()));
        if (c.selected !== null) this.sendLog(c, true);
        continue;
      }
      c.ws.send(json);
    }
  }

  private sendLog(c: Client, reset: boolean): void {
    if (c.selected === null || c.ws.readyState !== c.ws.OPEN) return;
    const log = this.collector.logOf(c.selected, reset ? 0 : c.logSeq);
    if (!log) return;
    c.logSeq = log.seq;
    const msg: LogMessage = { type: 'log', id: c.selected, reset: log.reset, lines: log.lines };
    c.ws.send(JSON.stringify(msg));
  }

  /** Pages connected now. */
  get clientCount(): number {
    return this.clients.size;
  }

  /**
   * Sends a last diff (the final states), waits a little for the pages to receive it, then closes
   * every connection and the port.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.collector.flush();
    this.closed = true;
    const deadline = realClock.now() + 500;
    while ([...this.clients].some((c) => c.ws.bufferedAmount > 0) && realClock.now() < deadline)
      await sleep(realClock, 20);
    this.unsubscribeLogs();
    this.unsubscribeDiffs?.();
    for (const c of this.clients) c.ws.close(1001, 'the engine stopped');
    const closeBy = realClock.now() + 300;
    while (this.clients.size > 0 && realClock.now() < closeBy) await sleep(realClock, 20);
    for (const c of this.clients) c.ws.terminate();
    this.clients.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}
