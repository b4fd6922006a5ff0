/**
 * One peer connection of a torrent that has only its info hash (a magnet link): connecting →
 * handshaking → extending → fetching → closing → closed. It exists only while the torrent is in its
 * `metadata` state and does one thing: the BitTorrent and BEP 10 handshakes, then BEP 9 `ut_metadata`
 * requests for the pieces its torrent picks (`meta.request`), reporting each piece (`meta.data`) or
 * reject (`meta.reject`). Once the info dictionary is known the torrent stops these actors and dials
 * the same addresses again with the full peer machine (rqbit does the same).
 *
 * Why a machine of its own rather than a "no metadata yet" mode of the peer machine: without the info
 * dictionary there is no piece count, so nothing a peer says about pieces (bitfield, have, have-all,
 * suggest, allowed-fast) can be checked, and nothing can be requested or served. This machine takes
 * none of it: every such message is ignored (the bitfield's length is only bounded by the framer's
 * default cap), and we send no bitfield and no interest. The peer machine keeps its invariants (every
 * index checked against the torrent's geometry) untouched.
 *
 * What it refuses: a handshake for another info hash, ourselves, a peer without the extension
 * protocol (BEP 10) or whose extension handshake names no `ut_metadata` id or no `metadata_size`
 * (BEP 9: never ask a peer that did not advertise the size) — each closes the connection, with the
 * reason. A `ut_metadata` message that does not decode against the advertised size is a protocol
 * error. Requests from the peer for our metadata are answered with `reject` (we have none yet).
 */
import { assign, enqueueActions, fromCallback, not, sendTo, setup, stopChild, type AnyActorRef } from 'xstate';
import {
  closedReason,
  connectingState,
  handshakeTimeoutAfter,
  protocolErrorReason,
  refusedHandshakes,
} from './lifecycle.js';
import { equalBytes, toHex } from '../../protocol/bytes.js';
import type { PeerAddress } from '../../protocol/peer-address.js';
import type { PeerWireCommand, PeerWireEvent, PeerWireInput } from '../../protocol/peer-wire-types.js';
import { decodeUtMetadata, encodeUtMetadata, MAX_METADATA_SIZE } from '../../protocol/ut-metadata.js';
import { handshakeExtensions, makeReserved, type WireMessage } from '../../protocol/wire.js';
import { EXTENSIONS, ourExtensionHandshake, routeExtended } from './extensions.js';
import { defaultPeerSettings, type CloseReason, type PeerSettings } from './types.js';

/** What we offer in our extension handshake while fetching: `ut_metadata` only, and no `metadata_size`. */
const OFFER: ReadonlySet<string> = new Set(['ut_metadata']);

export interface MetadataPeerInput {
  key: string;
  address: PeerAddress;
  direction: 'outgoing' | 'incoming';
  infoHash: Uint8Array;
  /**
   * BEP 52: the other hash of a hybrid torrent (as handshakes carry it: 20 bytes) a peer may name it by
   * too; an incoming peer is answered with the hash it named. An outgoing handshake names `infoHash`.
   */
  altInfoHash?: Uint8Array;
  /** Our peer id (a connection to it is a connection to ourselves). */
  peerId: Uint8Array;
  /** The actor that receives the {@link MetadataPeerReport}s (its torrent). */
  report: AnyActorRef;
  settings?: Partial<PeerSettings>;
  /** For an incoming connection: the listener's handle, passed through to the `wire` actor untouched. */
  transport?: unknown;
  /** Our listening port (`p` in our BEP 10 handshake). */
  listenPort?: number;
  /** Largest `metadata_size` taken from a peer (default 16 MiB); a peer advertising more is closed. */
  maxMetadataSize?: number;
}

/** What a metadata peer tells its torrent. */
export type MetadataPeerReport =
  /** Its BitTorrent handshake named our torrent (hex peer id): the torrent may close a banned one. */
  | { type: 'meta.handshake'; key: string; peerId: string }
  /** Its extension handshake advertised `ut_metadata` and this `metadata_size`: it may be asked. */
  | { type: 'meta.ready'; key: string; metadataSize: number }
  /** A data piece, checked against the advertised size (`data` is a view of the socket's buffer: copy it). */
  | { type: 'meta.data'; key: string; piece: number; data: Uint8Array }
  /** BEP 9 `reject` of a piece we asked for. */
  | { type: 'meta.reject'; key: string; piece: number }
  | { type: 'meta.closed'; key: string; reason: CloseReason; detail?: string };

/** What the torrent tells a metadata peer. */
export type MetadataPeerCommand =
  /** Ask for these metadata pieces (the torrent's assembler picked them for this peer). */
  { type: 'meta.request'; pieces: number[] } | { type: 'meta.close'; reason: CloseReason; detail?: string };

export type MetadataPeerEvent = PeerWireEvent | MetadataPeerCommand;

export interface MetadataPeerContext {
  key: string;
  address: PeerAddress;
  direction: 'outgoing' | 'incoming';
  infoHash: Uint8Array;
  altInfoHash: Uint8Array | undefined;
  peerId: Uint8Array;
  report: AnyActorRef;
  settings: PeerSettings;
  transport: unknown;
  listenPort: number | undefined;
  maxMetadataSize: number;
  /** The peer's message id for `ut_metadata` and the size it advertised, once its extension handshake came. */
  peer: { id: number; metadataSize: number } | undefined;
  /** Pieces asked for and not yet answered (a data or reject for another piece is not taken). */
  asked: readonly number[];
  close: { reason: CloseReason; detail?: string } | undefined;
}

const wireNotProvided = fromCallback<PeerWireCommand, PeerWireInput>(() => {
  throw new Error('metadata peer machine: no wire actor provided (provide peerWireActor from src/io)');
});

const send = (message: WireMessage): PeerWireCommand => ({ type: 'wire.send', message });

export const metadataPeerMachine = setup({
  types: {
    input: {} as MetadataPeerInput,
    context: {} as MetadataPeerContext,
    events: {} as MetadataPeerEvent,
  },
  actors: { wire: wireNotProvided },
  delays: {
    connectTimeout: ({ context }) => context.settings.connectTimeoutMs,
    handshakeTimeout: ({ context }) => context.settings.handshakeTimeoutMs,
  },
  guards: {
    isOurTorrent: ({ context, event }) =>
      event.type === 'wire.handshake' &&
      (equalBytes(event.handshake.infoHash, context.infoHash) ||
        (context.altInfoHash !== undefined && equalBytes(event.handshake.infoHash, context.altInfoHash))),
    isSelf: ({ context, event }) =>
      event.type === 'wire.handshake' && equalBytes(event.handshake.peerId, context.peerId),
    isExtended: ({ event }) =>
      event.type === 'wire.handshake' && handshakeExtensions(event.handshake.reserved).extended,
    /** Its extension handshake gave a `ut_metadata` id and an acceptable `metadata_size`. */
    knowsMetadataSize: ({ context }) => context.peer !== undefined,
  },
  actions: {
    setClose: assign((_, params: { reason: CloseReason; detail?: string }) => ({ close: params })),
  },
}).createMachine({
  id: 'metadataPeer',
  context: ({ input }) => ({
    key: input.key,
    address: input.address,
    direction: input.direction,
    infoHash: input.infoHash,
    altInfoHash: input.altInfoHash,
    peerId: input.peerId,
    report: input.report,
    settings: { ...defaultPeerSettings, ...input.settings },
    transport: input.transport,
    listenPort: input.listenPort,
    maxMetadataSize: input.maxMetadataSize ?? MAX_METADATA_SIZE,
    peer: undefined,
    asked: [],
    close: undefined,
  }),
  invoke: {
    id: 'wire',
    src: 'wire',
    input: ({ context }): PeerWireInput => ({
      ...(context.direction === 'outgoing'
        ? { connect: { host: context.address.host, port: context.address.port } }
        : { transport: context.transport }),
      handshake: {
        reserved: makeReserved({ extended: true }),
        infoHash: context.infoHash,
        peerId: context.peerId,
      },
    }),
  },
  initial: 'connecting',
  on: {
    'wire.closed': {
      target: '.closed',
      actions: { type: 'setClose', params: ({ event }) => closedReason(event.error) },
    },
    'wire.protocolError': {
      target: '.closing',
      actions: { type: 'setClose', params: ({ event }) => protocolErrorReason(event) },
    },
    'meta.close': {
      target: '.closing',
      actions: {
        type: 'setClose',
        params: ({ event }) => ({ reason: event.reason, ...(event.detail !== undefined && { detail: event.detail }) }),
      },
    },
  },
  states: {
    connecting: connectingState,
    handshaking: {
      after: handshakeTimeoutAfter,
      on: {
        'wire.handshake': [
          ...refusedHandshakes,
          {
            guard: not('isExtended'),
            target: 'closing',
            actions: {
              type: 'setClose',
              params: { reason: 'not-useful', detail: 'no extension protocol (BEP 10): cannot send metadata' },
            },
          },
          {
            target: 'extending',
            actions: enqueueActions(({ context, event, enqueue }) => {
              // An incoming peer spoke first; we answer only once its handshake named our torrent, with
              // the hash it named (BEP 52: a hybrid's v1 or truncated v2 hash).
              if (context.direction === 'incoming')
                enqueue.sendTo('wire', { type: 'wire.sendHandshake', infoHash: event.handshake.infoHash });
              const payload = ourExtensionHandshake({
                reqq: context.settings.maxQueuedRequests,
                registry: EXTENSIONS,
                offer: OFFER,
                ...(context.listenPort !== undefined && { port: context.listenPort }),
              });
              enqueue.sendTo('wire', send({ type: 'extended', id: 0, payload }));
              enqueue.sendTo(context.report, {
                type: 'meta.handshake',
                key: context.key,
                peerId: toHex(event.handshake.peerId),
              } satisfies MetadataPeerReport);
            }),
          },
        ],
      },
    },
    // Waiting for the peer's extension handshake: does it have the metadata, and how large is it?
    extending: {
      after: {
        handshakeTimeout: {
          target: 'closing',
          actions: { type: 'setClose', params: { reason: 'timeout', detail: 'extension handshake' } },
        },
      },
      on: {
        'wire.extended': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const m = routeExtended(event.id, event.payload, EXTENSIONS, OFFER);
            if (m.kind !== 'handshake') return; // nothing else is expected before it
            const id = m.state.peerIds.ut_metadata;
            const size = m.state.metadataSize;
            const fail = (detail: string) => enqueue.raise({ type: 'meta.close', reason: 'not-useful', detail });
            if (id === undefined) return fail('no ut_metadata (BEP 9) in its extension handshake');
            if (size === undefined) return fail('no metadata_size: it does not have the metadata');
            if (size > context.maxMetadataSize)
              return fail(`metadata_size ${size} is over the cap of ${context.maxMetadataSize} bytes`);
            enqueue.assign({ peer: { id, metadataSize: size } });
            enqueue.sendTo(context.report, {
              type: 'meta.ready',
              key: context.key,
              metadataSize: size,
            } satisfies MetadataPeerReport);
          }),
        },
        // Everything about pieces is ignored: without the info dictionary none of it can be checked.
        'wire.*': {},
      },
      always: { guard: 'knowsMetadataSize', target: 'fetching' },
    },
    fetching: {
      on: {
        'meta.request': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const p = context.peer!;
            const messages = event.pieces.map((piece): WireMessage => ({
              type: 'extended',
              id: p.id,
              payload: encodeUtMetadata({ type: 'request', piece }, { metadataSize: p.metadataSize }),
            }));
            enqueue.assign({ asked: [...context.asked, ...event.pieces] });
            enqueue.sendTo('wire', { type: 'wire.sendMany', messages });
          }),
        },
        'wire.extended': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const p = context.peer!;
            const m = routeExtended(event.id, event.payload, EXTENSIONS, OFFER);
            if (m.kind !== 'extension') return; // a repeated extension handshake, or an id never offered
            let msg;
            try {
              msg = decodeUtMetadata(m.payload, {
                metadataSize: p.metadataSize,
                maxMetadataSize: context.maxMetadataSize,
              });
            } catch (err) {
              enqueue.raise({ type: 'meta.close', reason: 'protocol-error', detail: (err as Error).message });
              return;
            }
            if (msg.type === 'request') {
              // BEP 9: a peer without the metadata rejects requests for it.
              const payload = encodeUtMetadata({ type: 'reject', piece: msg.piece }, { metadataSize: p.metadataSize });
              enqueue.sendTo('wire', send({ type: 'extended', id: p.id, payload }));
              return;
            }
            if (msg.type === 'unknown') return;
            const i = context.asked.indexOf(msg.piece);
            if (i < 0) return; // never asked (or answered already): not taken
            enqueue.assign({ asked: context.asked.filter((_, j) => j !== i) });
            enqueue.sendTo(
              context.report,
              (msg.type === 'data'
                ? { type: 'meta.data', key: context.key, piece: msg.piece, data: msg.data }
                : { type: 'meta.reject', key: context.key, piece: msg.piece }) satisfies MetadataPeerReport,
            );
          }),
        },
        'wire.*': {},
      },
    },
    closing: {
      entry: sendTo('wire', { type: 'wire.close' } satisfies PeerWireCommand),
      always: 'closed',
    },
    closed: {
      type: 'final',
      entry: [
        stopChild('wire'),
        enqueueActions(({ context, enqueue }) =>
          enqueue.sendTo(context.report, {
            type: 'meta.closed',
            key: context.key,
            reason: context.close?.reason ?? 'closed-by-peer',
            ...(context.close?.detail !== undefined && { detail: context.close.detail }),
          } satisfies MetadataPeerReport),
        ),
      ],
    },
  },
});

export type MetadataPeerMachine = typeof metadataPeerMachine;
