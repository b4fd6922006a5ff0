// Minimal types for the webtorrent npm package (3.x ships none), as test/support/webtorrent-seeder.ts uses it.
declare module 'webtorrent' {
  import type { EventEmitter } from 'node:events';
  import type { AddressInfo } from 'node:net';

  export interface WebTorrentOptions {
    /** TCP (and uTP) listening port; 0 picks a free one. */
    torrentPort?: number;
    dht?: boolean | object;
    lsd?: boolean;
    utp?: boolean;
    utPex?: boolean;
    webSeeds?: boolean;
    natUpnp?: boolean | 'permanent';
    natPmp?: boolean;
    /** Options of bittorrent-tracker's client; `false` turns trackers off. */
    tracker?: false | { announce?: string[]; getAnnounceOpts?: () => Record<string, unknown> };
    /** Dial peers the trackers give once the torrent is complete (default true). */
    seedOutgoingConnections?: boolean;
    /** Protocol encryption: 0 off, 1 MSE/PE with plaintext fallback (default), 2 RC4 only. */
    secure?: 0 | 1 | 2;
    maxConns?: number;
  }

  export interface AddOptions {
    /** Folder the data lives in: `<path>/<name>` (single-file) or `<path>/<name>/…`. */
    path?: string;
    skipVerify?: boolean;
    announce?: string[];
  }

  export interface Wire extends EventEmitter {
    remoteAddress: string;
    remotePort: number;
    uploaded: number;
  }

  export interface Torrent extends EventEmitter {
    readonly infoHash: string;
    readonly name: string;
    readonly length: number;
    readonly done: boolean;
    readonly ready: boolean;
    readonly uploaded: number;
    readonly numPeers: number;
    readonly wires: Wire[];
    readonly announce: string[];
    readonly downloaded: number;
    /** Dials `host:port` (valid once the info hash is known, e.g. from 'ready' on). */
    addPeer(peer: string): boolean;
    on(event: 'ready' | 'done' | 'metadata' | 'trackerAnnounce', listener: () => void): this;
    on(event: 'error' | 'warning', listener: (err: Error | string) => void): this;
    on(event: 'wire', listener: (wire: Wire, addr?: string) => void): this;
    once(event: 'ready' | 'done' | 'trackerAnnounce', listener: () => void): this;
    once(event: 'error' | 'warning', listener: (err: Error | string) => void): this;
  }

  export default class WebTorrent extends EventEmitter {
    constructor(options?: WebTorrentOptions);
    static readonly VERSION: string;
    readonly torrents: Torrent[];
    readonly destroyed: boolean;
    readonly listening: boolean;
    readonly torrentPort: number;
    add(torrentId: Uint8Array | string, options?: AddOptions, onTorrent?: (torrent: Torrent) => void): Torrent;
    address(): AddressInfo | null;
    destroy(cb?: (err?: Error | null) => void): void;
    on(event: 'error', listener: (err: Error | string) => void): this;
    on(event: 'listening', listener: () => void): this;
    once(event: 'error', listener: (err: Error | string) => void): this;
    once(event: 'listening', listener: () => void): this;
  }
}
