/**
 * The start and end of a connection, as the peer statechart and the metadata-peer statechart both run
 * it: `connecting` until the wire actor says the socket is up, `handshaking` until the peer's handshake
 * names our torrent (and is not from ourselves), each bounded by its timeout; a socket that closes or a
 * protocol error ends the connection with its reason. Both machines provide the actions and guards these
 * name (`setClose`, `isOurTorrent`, `isSelf`) and the delays (`connectTimeout`, `handshakeTimeout`).
 *
 * Plain state-config fragments, typed by the machine that spreads them in.
 */
import { not } from 'xstate';
import type { CloseReason } from './types.js';

/** The `setClose` action for a close of `reason` (with `detail`). */
const closeWith = (reason: CloseReason, detail?: string) =>
  ({ type: 'setClose', params: { reason, ...(detail !== undefined && { detail }) } }) as const;

/** `connecting`: the socket (or MSE) is being set up; closed after `connectTimeout`. */
export const connectingState = {
  after: { connectTimeout: { target: 'closing', actions: closeWith('timeout', 'connect') } },
  on: { 'wire.connected': 'handshaking' },
} as const;

/** `handshaking`'s bound: closed after `handshakeTimeout`. */
export const handshakeTimeoutAfter = {
  handshakeTimeout: { target: 'closing', actions: closeWith('timeout', 'handshake') },
} as const;

/** The first answers to `wire.handshake`: another torrent's handshake, or our own (a dial to ourselves), is closed. */
export const refusedHandshakes = [
  { guard: not('isOurTorrent'), target: 'closing', actions: closeWith('info-hash-mismatch') },
  { guard: 'isSelf', target: 'closing', actions: closeWith('self') },
] as const;

/** Why the connection ended, from the wire actor's `wire.closed`. */
export function closedReason(error: { code: string; message: string } | undefined): {
  reason: CloseReason;
  detail?: string;
} {
  return error ? { reason: 'socket-error', detail: `${error.code}: ${error.message}` } : { reason: 'closed-by-peer' };
}

/** Why the connection ends, from the wire actor's `wire.protocolError`. */
export function protocolErrorReason(e: { code: string; message: string }): { reason: CloseReason; detail: string } {
  return { reason: 'protocol-error', detail: `${e.code}: ${e.message}` };
}
