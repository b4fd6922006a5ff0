/**
 * Liveness and keep-alive of one peer connection, as an immutable value counted in check intervals
 * (the peer statechart checks at each tick of its torrent, `peer.tick`, once a second): how long the
 * peer has been silent, how long we have waited for a block while requests were outstanding, and when
 * our next keep-alive is due. Pure.
 */

export interface LivenessState {
  /** Messages since the last check, and blocks among them. */
  readonly messages: number;
  readonly blocks: number;
  /** Milliseconds without any message / without a block while waiting for one. */
  readonly silentMs: number;
  readonly starvedMs: number;
  /** Milliseconds since our last keep-alive (BEP 3: one every two minutes). */
  readonly keepAliveMs: number;
}

export const freshLiveness: LivenessState = { messages: 0, blocks: 0, silentMs: 0, starvedMs: 0, keepAliveMs: 0 };

export interface LivenessSettings {
  /** A peer that sends nothing for this long is dropped. */
  silenceLimitMs: number;
  /** A peer that sends no block for this long while we wait for some is snubbed. */
  snubTimeoutMs: number;
  /** We send a keep-alive this often. */
  keepAliveIntervalMs: number;
}

/** A message arrived (`blocks` of them carried blocks). */
export function heard(l: LivenessState, blocks = 0): LivenessState {
  return {
    messages: l.messages + 1,
    blocks: l.blocks + blocks,
    silentMs: l.silentMs,
    starvedMs: l.starvedMs,
    keepAliveMs: l.keepAliveMs,
  };
}

export type LivenessVerdict = 'alive' | 'silent' | 'starved';

/**
 * The check after `dt` ms: the new counts, the verdict — `silent` (drop the peer), `starved` (snub it:
 * it has our requests and sends nothing) or `alive` — and whether a keep-alive is due. `waiting`:
 * requests are outstanding.
 */
export function check(
  l: LivenessState,
  dt: number,
  waiting: boolean,
  s: LivenessSettings,
): { liveness: LivenessState; verdict: LivenessVerdict; deliveredSinceCheck: boolean; keepAlive: boolean } {
  const silentMs = l.messages > 0 ? 0 : l.silentMs + dt;
  const starvedMs = l.blocks > 0 || !waiting ? 0 : l.starvedMs + dt;
  const due = l.keepAliveMs + dt >= s.keepAliveIntervalMs;
  const liveness = { messages: 0, blocks: 0, silentMs, starvedMs, keepAliveMs: due ? 0 : l.keepAliveMs + dt };
  const verdict: LivenessVerdict =
    silentMs >= s.silenceLimitMs ? 'silent' : starvedMs >= s.snubTimeoutMs ? 'starved' : 'alive';
  return { liveness, verdict, deliveredSinceCheck: l.blocks > 0, keepAlive: due };
}
