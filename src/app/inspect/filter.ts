/**
 * Which events are "high-rate": block- and piece-level traffic, the peers' periodic checks and
 * timers, and the commands the machines send to their socket and disk actors. They are left out of
 * the inspector's logs and of the Stately stream by default (a transition they cause is still shown).
 */

/**
 * Event types left out by default. `*` at the end matches any suffix. Block level: a 16 KiB block
 * is one `wire.piece` (or one batch `wire.pieces`), with its requests (or a batch `wire.requests`),
 * cancels and rejects, and the upload side's reads and sends (`upload.read`, `upload.blocks`).
 */
export const DEFAULT_HIGH_RATE_EVENTS: readonly string[] = [
  'wire.piece',
  'wire.pieces',
  'wire.have',
  'wire.haves',
  'wire.request',
  'wire.requests',
  'wire.cancel',
  'wire.reject',
  'wire.keep-alive',
  'wire.drain',
  'wire.congested',
  'wire.allowed-fast',
  'wire.suggest',
  'wire.port',
  // Commands to the socket actor: wire.send, wire.sendMany, wire.sendBlocks …
  'wire.send*',
  'upload.*',
  // Between a peer and its torrent: per block batch, per piece, per second.
  'peer.blocks',
  'peer.request',
  'peer.wants',
  'peer.returned',
  'peer.have',
  'peer.announce',
  'peer.tick',
  'peer.cancel',
  'peer.refill',
  'peer.check',
  'peer.stats',
  'peer.interest',
  'torrent.deliver',
  'storage.write',
  'storage.verified',
  'storage.checkProgress',
  'torrent.tick',
  // The DHT node: its clock, its datagrams (in and out) and what its named actions send back.
  'dht.tick',
  'dht.out',
  'dht.plan',
  'socket.message',
  'socket.malformed',
  'socket.send',
  'query.slow',
  'lookup.query',
  'lookup.response',
  'lookup.failed',
  'lookup.slow',
  'xstate.after.*',
];

/** A predicate: true for the event types to leave out. */
export type EventFilter = (eventType: string) => boolean;

/** Matches event types against patterns (`wire.piece`, `upload.*`). Results are cached per type. */
export function eventMatcher(patterns: readonly string[]): EventFilter {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const p of patterns) {
    if (p.endsWith('*')) prefixes.push(p.slice(0, -1));
    else exact.add(p);
  }
  const cache = new Map<string, boolean>();
  return (type) => {
    let hit = cache.get(type);
    if (hit === undefined) {
      hit = exact.has(type) || prefixes.some((p) => type.startsWith(p));
      if (cache.size < 4096) cache.set(type, hit);
    }
    return hit;
  };
}

/**
 * The filter named on the command line: `default` (the high-rate events above), `all` (nothing left
 * out), or a comma-separated list of event types / `prefix.*` patterns to leave out; a list starting
 * with `+` adds to the default one (`+choker.*`). Returns undefined for an empty or malformed spec.
 */
export function parseEventFilter(spec: string): { filter: EventFilter; patterns: readonly string[] } | undefined {
  const s = spec.trim();
  if (s === 'default') return { filter: eventMatcher(DEFAULT_HIGH_RATE_EVENTS), patterns: DEFAULT_HIGH_RATE_EVENTS };
  if (s === 'all' || s === 'none') return { filter: () => false, patterns: [] };
  const add = s.startsWith('+');
  const list = (add ? s.slice(1) : s)
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (list.length === 0 || list.some((p) => !/^[\w.*@:-]+$/.test(p))) return undefined;
  const patterns = add ? [...DEFAULT_HIGH_RATE_EVENTS, ...list] : list;
  return { filter: eventMatcher(patterns), patterns };
}
