/**
 * The extension protocol (BEP 10) of one peer connection: our handshake, what the peer's handshake
 * told us, and the registry of extension messages bt-actor speaks. Pure.
 *
 * Adding an extension (ut_metadata, BEP 9; ut_pex, BEP 11) is one entry in {@link EXTENSIONS}: it gets a
 * local message id (its position + 1) in our handshake's `m`, and the peer's messages for it come out
 * of {@link routeExtended} as `{ kind: 'extension', name, payload }` for the peer coordinator to hand to
 * the extension's owner — one module and one line of the coordinator.
 */
import {
  decodeExtensionHandshake,
  encodeExtensionHandshake,
  type ExtensionHandshake,
} from '../../protocol/extension-handshake.js';

export interface ExtensionSpec {
  /** Its name in the handshake's `m` dictionary, e.g. `ut_metadata`. */
  readonly name: string;
}

/** The extension messages bt-actor speaks, in the order of their local ids (1, 2, …). */
export const EXTENSIONS: readonly ExtensionSpec[] = [];

/** What the peer's extension handshake told us (the last one: BEP 10 lets it be re-sent). */
export interface ExtensionState {
  /** Extension name → the peer's message id for it. */
  readonly peerIds: Readonly<Record<string, number>>;
  /** Requests the peer queues (BEP 10 `reqq`); unbounded until it says. */
  readonly reqq: number;
  readonly client: string | undefined;
}

export const emptyExtensionState: ExtensionState = { peerIds: {}, reqq: Number.POSITIVE_INFINITY, client: undefined };

/** Our handshake's payload: the registry's messages, how many requests we queue, who we are. */
export function ourExtensionHandshake(options: { reqq: number; registry?: readonly ExtensionSpec[] }): Uint8Array {
  const m: Record<string, number> = {};
  (options.registry ?? EXTENSIONS).forEach((e, i) => (m[e.name] = i + 1));
  const h: ExtensionHandshake = { m, reqq: options.reqq, client: 'bt-actor' };
  return encodeExtensionHandshake(h);
}

export type ExtendedMessage =
  /** The peer's handshake; the new state replaces the old. */
  | { kind: 'handshake'; state: ExtensionState }
  /** A message of a registered extension. */
  | { kind: 'extension'; name: string; payload: Uint8Array }
  /** A malformed handshake (BEP 10 clients ignore it; so do we) or an id we never offered. */
  | { kind: 'ignored'; reason: string };

/** Routes an `extended` message (id 0: the handshake; otherwise our local id of an extension). */
export function routeExtended(
  id: number,
  payload: Uint8Array,
  registry: readonly ExtensionSpec[] = EXTENSIONS,
): ExtendedMessage {
  if (id === 0) {
    try {
      const h = decodeExtensionHandshake(payload);
      return { kind: 'handshake', state: { peerIds: h.m, reqq: h.reqq ?? Number.POSITIVE_INFINITY, client: h.client } };
    } catch (err) {
      return { kind: 'ignored', reason: (err as Error).message };
    }
  }
  const spec = registry[id - 1];
  if (!spec) return { kind: 'ignored', reason: `extended message ${id} was never offered` };
  return { kind: 'extension', name: spec.name, payload };
}
