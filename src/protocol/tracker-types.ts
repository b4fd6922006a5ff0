/**
 * Transport-neutral announce shapes, shared by the tracker statecharts (src/machines/tracker) and
 * the transports that perform announces (src/io/tracker-client.ts).
 */
import type { PeerAddress } from './peer-address.js';
import type { AnnounceEvent } from './tracker-http.js';

/** What the torrent reports to trackers; read at the moment of each announce. */
export interface TransferStats {
  uploaded: number;
  downloaded: number;
  left: number;
}

/** One announce to one tracker URL, as the tracker machine asks for it. */
export interface AnnounceInput {
  url: string;
  event?: AnnounceEvent;
  trackerId?: string;
  numwant: number;
  stats: TransferStats;
}

/** A successful reply, whatever the transport (HTTP or UDP). */
export interface AnnounceResult {
  /** Seconds until the next regular announce. */
  interval: number;
  minInterval?: number;
  trackerId?: string;
  warning?: string;
  /** Seeders. */
  complete?: number;
  /** Leechers. */
  incomplete?: number;
  peers: PeerAddress[];
}
