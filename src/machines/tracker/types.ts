/** Types shared by the tracker statecharts and the transports that src/io provides for them. */
import type { PeerAddress } from '../../protocol/peer-address.js';
import type { AnnounceEvent } from '../../protocol/tracker-http.js';
import type { AnnounceInput, AnnounceResult, TransferStats } from '../../protocol/tracker-types.js';

export type { AnnounceEvent, AnnounceInput, AnnounceResult, PeerAddress, TransferStats };

/**
 * Why an announce failed, as plain data (errors do not belong in snapshots). `code` is the
 * transport's or codec's `BT_ERR_…` code; `retryIn` is the tracker's own BEP 31 advice in seconds.
 */
export interface TrackerFailure {
  code: string;
  message: string;
  retryIn?: number;
  /** BEP 31 'retry in: never': the tracker asks never to be contacted again for this torrent. */
  never?: boolean;
}

/** Timing and request knobs; tests shorten them, users rarely need to. */
export interface TrackerSettings {
  /** Peers asked for per announce. */
  numwant: number;
  /** First retry delay after a failure; doubles per consecutive failure. */
  backoffBaseMs: number;
  /** Longest retry delay. */
  backoffMaxMs: number;
  /** Interval used when a reply's interval is absurdly small, and the floor for min interval. */
  minAnnounceIntervalMs: number;
  /** Ceiling for a tracker's interval (a hostile tracker cannot make us wait for a year). */
  maxAnnounceIntervalMs: number;
  /** How long the `stopped` announce may take at shutdown. */
  stopTimeoutMs: number;
}

export const defaultTrackerSettings: TrackerSettings = {
  numwant: 50,
  backoffBaseMs: 15_000,
  backoffMaxMs: 30 * 60_000,
  minAnnounceIntervalMs: 30_000,
  maxAnnounceIntervalMs: 2 * 60 * 60_000,
  stopTimeoutMs: 5_000,
};

/** Events a tracker actor reports (to its `report` actor, and as emitted events for observers). */
export type TrackerReport =
  | { type: 'tracker.response'; url: string; event?: AnnounceEvent; result: AnnounceResult }
  | { type: 'tracker.failed'; url: string; event?: AnnounceEvent; failure: TrackerFailure; failures: number }
  | { type: 'tracker.warning'; url: string; message: string }
  | { type: 'tracker.stopped'; url: string };

/** Converts whatever a transport rejected with into a {@link TrackerFailure}. */
export function toTrackerFailure(err: unknown): TrackerFailure {
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; message?: unknown; retryIn?: unknown; never?: unknown };
    const failure: TrackerFailure = {
      code: typeof e.code === 'string' ? e.code : 'BT_ERR_TRACKER_UNKNOWN',
      message: typeof e.message === 'string' ? e.message : String(err),
    };
    if (typeof e.retryIn === 'number' && Number.isFinite(e.retryIn)) failure.retryIn = e.retryIn;
    if (e.never === true) failure.never = true;
    return failure;
  }
  return { code: 'BT_ERR_TRACKER_UNKNOWN', message: String(err) };
}
