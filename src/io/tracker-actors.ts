/**
 * The effect actors the tracker statecharts invoke, bound to a {@link TrackerClient} and a torrent.
 * `trackerMachine.provide({ actors: { announce: announceActor(client, infoHash) } })`.
 *
 * BEP 52: a hybrid torrent is announced under both its info hashes — each announce of the tracker
 * machine is two requests to the same tracker, the v1 (SHA-1) hash and the v2 hash cut to 20 bytes,
 * with the same peer id, port and counters (as libtorrent does), and the two replies become one result
 * ({@link mergeAnnounceResults}).
 */
import { fromPromise } from 'xstate';
import { peerKey } from '../protocol/peer-address.js';
import type { AnnounceInput, AnnounceResult } from '../protocol/tracker-types.js';
import type { AnnounceRequest } from './tracker-client.js';
import type { ScrapeStats } from '../protocol/tracker-http.js';

type AnnounceClient = { announce(req: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResult> };

export function announceActor(client: AnnounceClient, infoHash: Uint8Array, hybridV2Hash?: Uint8Array) {
  return fromPromise<AnnounceResult, AnnounceInput>(({ input, signal }) =>
    hybridV2Hash
      ? announceBoth(client, input, infoHash, hybridV2Hash, signal)
      : client.announce({ ...input, infoHash }, signal),
  );
}

/**
 * Announces under both hashes at once. It fails only when both fail (with the v1 announce's error): a
 * tracker that knows the torrent under one hash only still gives us its peers.
 */
async function announceBoth(
  client: AnnounceClient,
  input: AnnounceInput,
  v1: Uint8Array,
  v2: Uint8Array,
  signal: AbortSignal | undefined,
): Promise<AnnounceResult> {
  // The tracker id a tracker gave (BEP 3) belongs to the v1 announce, whose reply is the one kept.
  const { trackerId, ...v2Input } = input;
  void trackerId;
  const [a, b] = await Promise.allSettled([
    client.announce({ ...input, infoHash: v1 }, signal),
    // The v2 reply's peers are marked: one the v1 reply lacks may know the torrent by its v2 hash only
    // (the merge keeps the v1 reply's entry of a peer in both).
    client
      .announce({ ...v2Input, infoHash: v2 }, signal)
      .then((r) => ({ ...r, peers: r.peers.map((p) => ({ ...p, viaV2: true as const })) })),
  ]);
  const ok = [a, b].flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (ok.length === 0) throw (a as PromiseRejectedResult).reason;
  return mergeAnnounceResults(ok);
}

/**
 * One result from the replies to the announces of one torrent under several hashes (the first is the
 * v1 one when it answered): the next announce comes after the shortest interval but not before the
 * longest minimum; the tracker id is the first reply's; the swarm counts are the largest (a hybrid
 * peer is counted under both hashes); the peers are every reply's, each address once; warnings joined.
 *
 * @example
 * mergeAnnounceResults([{ interval: 1800, peers: [a] }, { interval: 900, peers: [a, b] }]);
 * // → { interval: 900, peers: [a, b] }
 */
export function mergeAnnounceResults(results: readonly AnnounceResult[]): AnnounceResult {
  const [first, ...rest] = results;
  if (!first) throw new RangeError('mergeAnnounceResults: no result');
  if (rest.length === 0) return first;
  const seen = new Set<string>();
  const peers = results
    .flatMap((r) => r.peers)
    .filter((p) => {
      const key = peerKey(p);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined);
  const mins = defined(results.map((r) => r.minInterval));
  const complete = defined(results.map((r) => r.complete));
  const incomplete = defined(results.map((r) => r.incomplete));
  const warnings = [...new Set(results.flatMap((r) => (r.warning !== undefined ? [r.warning] : [])))];
  return {
    interval: Math.min(...results.map((r) => r.interval)),
    ...(mins.length > 0 && { minInterval: Math.max(...mins) }),
    ...(first.trackerId !== undefined && { trackerId: first.trackerId }),
    ...(warnings.length > 0 && { warning: warnings.join('; ') }),
    ...(complete.length > 0 && { complete: Math.max(...complete) }),
    ...(incomplete.length > 0 && { incomplete: Math.max(...incomplete) }),
    peers,
  };
}

/**
 * One torrent's counts from a scrape that asked for it under several hashes (BEP 52: a hybrid's v1 hash
 * and its v2 hash cut to 20 bytes), keyed by 40-hex hash as `TrackerClient.scrape` returns them: the
 * largest of each count, as {@link mergeAnnounceResults} does. Not the sum: a hybrid peer (bt-actor,
 * libtorrent) announces under both hashes and is counted under each, so a sum would count it twice; the
 * maximum never counts a peer twice, and is the whole swarm when every peer announces both or one hash
 * holds them all. A hash the tracker does not know is left out; none known: all zero.
 *
 * @example
 * mergeScrapeStats(files, [v1Hex, v2Hex]); // → { complete: 3, incomplete: 1, downloaded: 7 }
 */
export function mergeScrapeStats(files: ReadonlyMap<string, ScrapeStats>, hashesHex: readonly string[]): ScrapeStats {
  const known = hashesHex.flatMap((h) => {
    const s = files.get(h);
    return s ? [s] : [];
  });
  const max = (pick: (s: ScrapeStats) => number) => Math.max(0, ...known.map(pick));
  return {
    complete: max((s) => s.complete),
    incomplete: max((s) => s.incomplete),
    downloaded: max((s) => s.downloaded),
  };
}
