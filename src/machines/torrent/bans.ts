/**
 * Bans of peers that sent bad data, as immutable values the torrent keeps in its context.
 *
 * A ban outlives the connection: it names the peer's IP, so the peer cannot come back from another
 * port. Where several peers legitimately share one IP — loopback (tests, local swarms), or a NAT when
 * the `multipleConnectionsPerIp` setting says so, as libtorrent's `allow_multiple_connections_per_ip`
 * does — the ban names the IP together with the peer id and the port we knew it by, so the others behind
 * that IP stay reachable. Bans expire (`banMs`); at most {@link MAX_BANS} are kept (the oldest go).
 * Pure: time is passed in (the torrent's clock), never read.
 */
import { isLoopback, peerKey, type PeerAddress } from '../../protocol/peer-address.js';

export { isLoopback };

export interface Ban {
  /** The address the banned connection had (`ip:port`), for reports. */
  address: string;
  ip: string;
  /** `ip`: every connection from the IP; `peer`: the IP with this peer id or this port. */
  scope: 'ip' | 'peer';
  peerId: string | undefined;
  port: number;
  /** Clock time (ms) at which the ban ends. */
  until: number;
  reason: string;
}

export type Bans = readonly Ban[];

/** Bans kept at most: a swarm of liars cannot grow the list without bound. */
export const MAX_BANS = 1_000;

/** Whether peers behind one IP are told apart (by peer id and port) rather than banned together. */
export function sharesIp(ip: string, multipleConnectionsPerIp: boolean): boolean {
  return multipleConnectionsPerIp || isLoopback(ip);
}

export interface BanRequest {
  address: PeerAddress;
  peerId: string | undefined;
  reason: string;
}

/** `bans` with `req` added (or an existing ban of the same peer renewed), expired bans dropped. */
export function addBan(
  bans: Bans,
  req: BanRequest,
  now: number,
  settings: { banMs: number; multipleConnectionsPerIp: boolean },
): Bans {
  const ip = req.address.host;
  const scope = sharesIp(ip, settings.multipleConnectionsPerIp) ? 'peer' : 'ip';
  const ban: Ban = {
    address: peerKey(req.address),
    ip,
    scope,
    peerId: req.peerId,
    port: req.address.port,
    until: now + settings.banMs,
    reason: req.reason,
  };
  const kept = bans.filter(
    (b) => b.until > now && !(b.ip === ip && b.scope === scope && b.port === ban.port && b.peerId === ban.peerId),
  );
  kept.push(ban);
  return kept.length > MAX_BANS ? kept.slice(kept.length - MAX_BANS) : kept;
}

/** The ban that applies to a peer at `address` (with `peerId` once known) at `now`, if any. */
export function banOf(bans: Bans, address: PeerAddress, peerId: string | undefined, now: number): Ban | undefined {
  for (const b of bans) {
    if (b.until <= now || b.ip !== address.host) continue;
    if (b.scope === 'ip') return b;
    if (b.port === address.port) return b;
    if (peerId !== undefined && b.peerId !== undefined && b.peerId === peerId) return b;
  }
  return undefined;
}
