// Minimal types for the bittorrent-tracker npm package's server, as the tests use it.
declare module 'bittorrent-tracker' {
  import type { EventEmitter } from 'node:events';
  import type { Server as HttpServer } from 'node:http';
  import type { Socket } from 'node:dgram';
  export interface ServerOptions {
    http?: boolean;
    udp?: boolean;
    ws?: boolean;
    stats?: boolean;
    interval?: number;
    trustProxy?: boolean;
    filter?: (infoHash: string, params: unknown, cb: (err: Error | null) => void) => void;
  }
  export class Server extends EventEmitter {
    constructor(options?: ServerOptions);
    http: HttpServer | null;
    udp4: Socket | null;
    udp6: Socket | null;
    listen(
      port: number,
      hostname: string | { http?: string; udp?: string; udp6?: string },
      onListening?: () => void,
    ): void;
    close(cb?: () => void): void;
  }
}
