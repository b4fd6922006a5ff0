/**
 * A TCP proxy on 127.0.0.1 that slows one direction down: what the upstream (a seeder) sends reaches
 * the client at most `bytesPerSecond` (one token bucket shared by the proxy's connections); the other
 * direction passes untouched. `dropAfterMs` cuts every connection that long after it opened, so the
 * client sees the peer leave (and come back when it redials). For tests that must watch a download.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ThrottleProxy {
  port: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export interface ThrottleOptions {
  bytesPerSecond: number;
  dropAfterMs?: number;
}

export async function throttleProxy(upstreamPort: number, options: ThrottleOptions): Promise<ThrottleProxy> {
  const sockets = new Set<Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const rate = options.bytesPerSecond;
  const burst = Math.max(16 * 1024, rate / 10);
  let tokens = burst;
  let refilledAt = Date.now();
  let connections = 0;
  const refill = () => {
    const now = Date.now();
    tokens = Math.min(burst, tokens + ((now - refilledAt) * rate) / 1000);
    refilledAt = now;
  };
  const later = (fn: () => void, ms: number) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const server: Server = createServer((client) => {
    connections++;
    const upstream = connect(upstreamPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    const queue: Buffer[] = [];
    let pumping = false;
    const pump = () => {
      pumping = false;
      if (client.destroyed) return;
      refill();
      while (queue.length > 0 && tokens >= 1) {
        const chunk = queue[0]!;
        const n = Math.min(chunk.length, Math.floor(tokens));
        client.write(chunk.subarray(0, n));
        tokens -= n;
        if (n === chunk.length) queue.shift();
        else queue[0] = chunk.subarray(n);
      }
      if (queue.length > 0) {
        upstream.pause();
        pumping = true;
        later(pump, 20);
      } else upstream.resume();
    };
    upstream.on('data', (chunk: Buffer) => {
      queue.push(chunk);
      if (!pumping) pump();
    });
    if (options.dropAfterMs !== undefined) later(() => client.destroy(), options.dropAfterMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    get connections() {
      return connections;
    },
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
