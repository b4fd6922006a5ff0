/**
 * What to tell one remote peer in the next BEP 11 `ut_pex` message.
 *
 * Per remote peer we remember which peers it has been told about (sent as added and not yet as
 * dropped). The next message is the difference between that and our current peers: the ones it does
 * not know yet are added, the ones we no longer have are dropped — at most {@link PEX_MAX_ADDED} and
 * {@link PEX_MAX_DROPPED} of each, the rest waiting for the following message. Nothing changed: no
 * message (some clients take an empty one as an error).
 *
 * Pure: the state is an immutable map, returned anew; time is passed in. The caller keeps, per remote
 * peer, the map and when it last sent, asks {@link pexDue} (BEP 11: at most one message a minute),
 * and never uses PEX for a private torrent (BEP 27).
 */
import { normaliseHost, peerKey, type PeerAddress } from '../../protocol/peer-address.js';
import { PEX_MAX_ADDED, PEX_MAX_DROPPED, type PexPeer, type UtPexMessage } from '../../protocol/ut-pex.js';

/** BEP 11: one `ut_pex` message a minute at most, per peer. */
export const PEX_INTERVAL_MS = 60_000;

/** The peers one remote peer has been told about, by {@link peerKey}. */
export type PexSent = ReadonlyMap<string, PeerAddress>;

export const NO_PEX_SENT: PexSent = new Map();

export interface PexNextOptions {
  /** The remote peer itself (it is never told about itself). */
  to?: Pick<PeerAddress, 'host' | 'port'>;
  /** Most added peers in the message (default and maximum {@link PEX_MAX_ADDED}). */
  maxAdded?: number;
  /** Most dropped peers in the message (default and maximum {@link PEX_MAX_DROPPED}). */
  maxDropped?: number;
}

export interface PexNext {
  /** The message to send, or null when there is nothing new to tell. */
  message: UtPexMessage | null;
  /** What the remote peer will have been told once `message` is sent. */
  sent: PexSent;
}

/**
 * True when a message may go to a peer last sent one at `lastSentAt` (undefined: never).
 *
 * @example if (pexDue(now, peer.pexSentAt)) { const { message, sent } = nextPexMessage(current, peer.pexSent); … }
 */
export function pexDue(now: number, lastSentAt: number | undefined, intervalMs = PEX_INTERVAL_MS): boolean {
  return lastSentAt === undefined || now - lastSentAt >= intervalMs;
}

/**
 * The next message for a remote peer, given our current peers (those we are connected to and may
 * name: BEP 11 wants only established connections) and what it was told before.
 *
 * @example
 * const { message, sent } = nextPexMessage(connectedPeers, state.sent, { to: remote });
 * if (message) send(encodeUtPex(message));
 */
export function nextPexMessage(current: Iterable<PexPeer>, sent: PexSent, options: PexNextOptions = {}): PexNext {
  const maxAdded = Math.max(0, Math.min(options.maxAdded ?? PEX_MAX_ADDED, PEX_MAX_ADDED));
  const maxDropped = Math.max(0, Math.min(options.maxDropped ?? PEX_MAX_DROPPED, PEX_MAX_DROPPED));
  const self = options.to ? peerKey(options.to) : undefined;
  const now = new Map<string, PexPeer>();
  for (const p of current) {
    // Only what the message can carry: an IP address, a port, a flags byte (normalised, so that
    // `::ffff:10.0.0.1` and `10.0.0.1` are one peer).
    const ip = normaliseHost(p.host);
    if (!ip || !Number.isInteger(p.port) || p.port < 1 || p.port > 0xffff) continue;
    if (!Number.isInteger(p.flags) || p.flags < 0 || p.flags > 0xff) continue;
    const key = peerKey(p);
    if (key !== self && !now.has(key)) now.set(key, { host: ip.host, port: p.port, family: ip.family, flags: p.flags });
  }
  const next = new Map(sent);
  const dropped: PeerAddress[] = [];
  for (const [key, p] of sent) {
    if (dropped.length >= maxDropped) break;
    if (now.has(key)) continue;
    dropped.push(p);
    next.delete(key);
  }
  const added: PexPeer[] = [];
  for (const [key, p] of now) {
    if (added.length >= maxAdded) break;
    if (sent.has(key)) continue;
    added.push({ host: p.host, port: p.port, family: p.family, flags: p.flags });
    next.set(key, { host: p.host, port: p.port, family: p.family });
  }
  if (added.length === 0 && dropped.length === 0) return { message: null, sent };
  return { message: { added, dropped }, sent: next };
}
