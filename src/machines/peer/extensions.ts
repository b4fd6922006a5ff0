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

/**
 * The extension messages bt-actor speaks, in the order of their local ids (1, 2, …): BEP 9
 * `ut_metadata` is our message 1, BEP 11 `ut_pex` our message 2. Ids stay fixed; a torrent that does not
 * offer one (a private torrent offers neither, BEP 27) leaves it out of its handshake's `m`.
 */
export const EXTENSIONS: readonly ExtensionSpec[] = [{ name: 'ut_metadata' }, { name: 'ut_pex' }];

/** What the peer's extension handshake told us (the last one: BEP 10 lets it be re-sent). */
export interface ExtensionState {
  /** Extension name → the peer's message id for it. */
  readonly peerIds: Readonly<Record<string, number>>;
  /** Requests the peer queues (BEP 10 `reqq`); unbounded until it says. */
  readonly reqq: number;
  readonly client: string | undefined;
  /** The port the peer listens on (BEP 10 `p`): how an incoming peer can be named in PEX. */
  readonly port?: number | undefined;
  /** The size of the info dictionary the peer has (BEP 9 `metadata_size`). */
  readonly metadataSize?: number | undefined;
}

export const emptyExtensionState: ExtensionState = { peerIds: {}, reqq: Number.POSITIVE_INFINITY, client: undefined };

export interface OurHandshakeOptions {
  reqq: number;
  registry?: readonly ExtensionSpec[];
  /** The names offered (default: the whole registry); the others are left out of `m`. */
  offer?: ReadonlySet<string>;
  /** BEP 9 `metadata_size`: the length of the info dictionary we serve (only with `ut_metadata` offered). */
  metadataSize?: number;
  /** BEP 10 `p`: the port we listen on. */
  port?: number;
}

/**
 * Our handshake's payload: the offered messages of the registry (at their fixed ids), how many requests
 * we queue, who we are, and the size of the metadata we serve.
 *
 * @example ourExtensionHandshake({ reqq: 2000, offer: new Set(['ut_pex']) }) // d1:md6:ut_pexi2ee4:reqq…
 */
export function ourExtensionHandshake(options: OurHandshakeOptions): Uint8Array {
  const m: Record<string, number> = {};
  (options.registry ?? EXTENSIONS).forEach((e, i) => {
    if (!options.offer || options.offer.has(e.name)) m[e.name] = i + 1;
  });
  const h: ExtensionHandshake = { m, reqq: options.reqq, client: 'bt-actor' };
  if (options.metadataSize !== undefined && m.ut_metadata !== undefined) h.metadataSize = options.metadataSize;
  if (options.port !== undefined && options.port >= 1 && options.port <= 65535) h.port = options.port;
  return encodeExtensionHandshake(h);
}

export type ExtendedMessage =
  /** The peer's handshake; the new state replaces the old. */
  | { kind: 'handshake'; state: ExtensionState }
  /** A message of a registered extension. */
  | { kind: 'extension'; name: string; payload: Uint8Array }
  /** A malformed handshake (BEP 10 clients ignore it; so do we) or an id we never offered. */
  | { kind: 'ignored'; reason: string };

/**
 * Routes an `extended` message (id 0: the handshake; otherwise our local id of an extension). With
 * `offer`, a message of a registered extension we did not offer is ignored too.
 */
export function routeExtended(
  id: number,
  payload: Uint8Array,
  registry: readonly ExtensionSpec[] = EXTENSIONS,
  offer?: ReadonlySet<string>,
): ExtendedMessage {
  if (id === 0) {
    try {
      const h = decodeExtensionHandshake(payload);
      return {
        kind: 'handshake',
        state: {
          peerIds: h.m,
          reqq: h.reqq ?? Number.POSITIVE_INFINITY,
          client: h.client,
          ...(h.port !== undefined && { port: h.port }),
          ...(h.metadataSize !== undefined && { metadataSize: h.metadataSize }),
        },
      };
    } catch (err) {
      return { kind: 'ignored', reason: (err as Error).message };
    }
  }
  const spec = registry[id - 1];
  if (!spec || (offer && !offer.has(spec.name)))
    return { kind: 'ignored', reason: `extended message ${id} was never offered` };
  return { kind: 'extension', name: spec.name, payload };
}
