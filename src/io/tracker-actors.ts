/**
 * The effect actors the tracker statecharts invoke, bound to a {@link TrackerClient} and a torrent.
 * `trackerMachine.provide({ actors: { announce: announceActor(client, infoHash) } })`.
 */
import { fromPromise } from 'xstate';
import type { AnnounceInput, AnnounceResult } from '../protocol/tracker-types.js';
import type { AnnounceRequest } from './tracker-client.js';

export function announceActor(
  client: { announce(req: AnnounceRequest, signal?: AbortSignal): Promise<AnnounceResult> },
  infoHash: Uint8Array,
) {
  return fromPromise<AnnounceResult, AnnounceInput>(({ input, signal }) =>
    client.announce({ ...input, infoHash }, signal),
  );
}
