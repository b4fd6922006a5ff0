/**
 * One peer connection as an actor: connecting → handshaking → connected → closing → closed.
 *
 * `connected` is a parallel state with the regions of BEP 3 — amChoking, amInterested, peerChoking,
 * peerInterested — plus the request pipeline and the liveness checks. The socket lives in the `wire`
 * actor (src/io/peer-wire.ts) that this machine invokes; the machine sees `wire.*` events and sends
 * `wire.send` commands. What to request comes from the torrent's picker, held by reference.
 *
 * Hot path: a 16 KiB block is one `wire.piece` event; its bytes go straight into the piece buffers
 * (never into context), the counters live in a plain object (no `assign` per block).
 */
import { and, assign, enqueueActions, fromCallback, not, raise, sendTo, setup, stateIn } from 'xstate';
import { decodeBencode, encodeBencode, isDict } from '../../protocol/bencode.js';
import { Bitfield } from '../../protocol/bitfield.js';
import type { WireMessage } from '../../protocol/wire.js';
import { RateMeter, requestQueueDepth } from '../torrent/rate.js';
import {
  defaultPeerSettings,
  type ChokeView,
  type CloseReason,
  type PeerCommand,
  type PeerInput,
  type PeerReport,
  type PeerServices,
  type PeerSettings,
} from './types.js';

/** The `wire` actor's events, as this machine receives them (see src/io/peer-wire.ts). */
type WireIn =
  | { type: 'wire.connected'; at: number }
  | { type: 'wire.handshake'; handshake: { infoHash: Uint8Array; peerId: Uint8Array; reserved: Uint8Array }; at: number }
  | { type: 'wire.protocolError'; code: string; message: string; at: number }
  | { type: 'wire.closed'; error?: { code: string; message: string }; at: number }
  | { type: 'wire.drain'; at: number }
  | { type: 'wire.congested'; at: number }
  | { type: 'wire.keep-alive'; at: number }
  | { type: 'wire.choke'; at: number }
  | { type: 'wire.unchoke'; at: number }
  | { type: 'wire.interested'; at: number }
  | { type: 'wire.not-interested'; at: number }
  | { type: 'wire.have'; index: number; at: number }
  | { type: 'wire.bitfield'; bytes: Uint8Array; at: number }
  | { type: 'wire.request'; index: number; begin: number; length: number; at: number }
  | { type: 'wire.piece'; index: number; begin: number; block: Uint8Array; at: number }
  | { type: 'wire.pieces'; blocks: { index: number; begin: number; block: Uint8Array }[]; at: number }
  | { type: 'wire.cancel'; index: number; begin: number; length: number; at: number }
  | { type: 'wire.port'; port: number; at: number }
  | { type: 'wire.suggest'; index: number; at: number }
  | { type: 'wire.have-all'; at: number }
  | { type: 'wire.have-none'; at: number }
  | { type: 'wire.reject'; index: number; begin: number; length: number; at: number }
  | { type: 'wire.allowed-fast'; index: number; at: number }
  | { type: 'wire.extended'; id: number; payload: Uint8Array; at: number }
  | { type: 'wire.unknown'; id: number; payload: Uint8Array; at: number };

type WireOut =
  | { type: 'wire.send'; message: WireMessage }
  | { type: 'wire.sendMany'; messages: WireMessage[] }
  | { type: 'wire.sendBlock'; index: number; begin: number; block: Uint8Array }
  | { type: 'wire.sendHandshake' }
  | { type: 'wire.close' };

type WithoutKey<T> = T extends unknown ? Omit<T, 'key'> : never;

/** The `reader` actor's answers (src/io/storage-actor.ts `blockReaderActor`). */
type ReaderIn =
  | { type: 'upload.block'; index: number; begin: number; length: number; data: Uint8Array }
  | { type: 'upload.readFailed'; index: number; begin: number; length: number; code: string; message: string };

/**
 * Internal events: `peer.check` (the liveness timer's verdict) and `peer.reconsider`, raised after
 * anything that may change our interest or whether requests can flow (the peer's pieces, ours,
 * choke/unchoke, a snubbed peer delivering): the interest and request regions re-evaluate their
 * guards on it. (Eventless transitions would do the same, but at a cost on every event — every block.)
 */
export type PeerEvent = WireIn | ReaderIn | PeerCommand | { type: 'peer.check' } | { type: 'peer.reconsider' };

/** Mutable per-connection counters, held by reference (updated per block without `assign`). */
export interface PeerStats {
  downloaded: number;
  uploaded: number;
  /** Messages since the last liveness check, and blocks since the last snub check. */
  messagesSinceCheck: number;
  blocksSinceCheck: number;
  /** Milliseconds of silence / of waiting for blocks, counted in check intervals. */
  silentMs: number;
  starvedMs: number;
  /** Timestamp (from the wire events) of the latest message. */
  lastAt: number;
  downRate: RateMeter;
  upRate: RateMeter;
  /** The peer's BEP 10 `reqq`: most requests it accepts queued (bounds our pipeline). */
  peerReqq: number;
  /** Requests the peer made of us, in order, not yet answered (reads may be under way). */
  uploads: { index: number; begin: number; length: number; reading: boolean }[];
  /** Block reads under way for this peer (at most `MAX_READS`), and whether its socket is backed up. */
  readsInFlight: number;
  congested: boolean;
  /** What the choker sees of this peer (registered in `services.registry` while connected). */
  view: ChokeView;
}

export interface PeerContext {
  key: string;
  address: PeerInput['address'];
  direction: PeerInput['direction'];
  services: PeerServices;
  settings: PeerSettings;
  transport: unknown;
  /** The peer's id once its handshake arrived (hex). */
  peerId: string | undefined;
  extensions: { fast: boolean; extended: boolean; dht: boolean };
  /** True once the peer told us what it has (bitfield, have-all or have-none). */
  announcedPieces: boolean;
  stats: PeerStats;
  closeReason: CloseReason | undefined;
  closeDetail: string | undefined;
}

/** Placeholder: src/io provides the socket bridge (`peerWireActor`). */
const wireNotProvided = fromCallback<WireOut, any>(() => { // eslint-disable-line @typescript-eslint/no-explicit-any
  throw new Error('peer machine: no wire actor provided (provide peerWireActor from src/io)');
});

/** Placeholder reader: without storage nothing can be uploaded, so every read fails. */
const readerNotProvided = fromCallback<{ type: 'upload.read'; index: number; begin: number; length: number }>(({ sendBack, receive }) => {
  receive(({ index, begin, length }) => sendBack({ type: 'upload.readFailed', index, begin, length, code: 'BT_ERR_NO_READER', message: 'no block reader provided' }));
});

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const peerMachine = setup({
  types: {
    input: {} as PeerInput,
    context: {} as PeerContext,
    events: {} as PeerEvent,
  },
  actors: { wire: wireNotProvided, reader: readerNotProvided },
  delays: {
    connectTimeout: ({ context }) => context.settings.connectTimeoutMs,
    handshakeTimeout: ({ context }) => context.settings.handshakeTimeoutMs,
    keepAliveInterval: ({ context }) => context.settings.keepAliveIntervalMs,
    checkInterval: ({ context }) => context.settings.checkIntervalMs,
  },
  guards: {
    isOurTorrent: ({ context, event }) =>
      event.type === 'wire.handshake' && equalBytes(event.handshake.infoHash, context.services.infoHash),
    isSelf: ({ context, event }) => event.type === 'wire.handshake' && equalBytes(event.handshake.peerId, context.services.peerId),
    isIncoming: ({ context }) => context.direction === 'incoming',
    isInterested: ({ context }) => context.services.picker.isInterestedIn(context.key),
    isNotInterested: ({ context }) => !context.services.picker.isInterestedIn(context.key),
    /** Liveness check: silent for too long. */
    isStarved: ({ context }) => context.stats.starvedMs >= context.settings.snubTimeoutMs,
    isUnchokingUs: stateIn('#peer.connected.peerChoking.unchoked'),
    /** Requests cannot flow: the peer chokes us, or has nothing we want. */
    isStalled: not(and(['isUnchokingUs', 'isInterested'])),
    hasDeliveredAgain: ({ context }) => context.stats.blocksSinceCheck > 0,
  },
  actions: {
    sendWire: sendTo('wire', (_, cmd: WireOut) => cmd),
    report: enqueueActions(({ enqueue, context }, report: WithoutKey<PeerReport>) => {
      enqueue.sendParent({ ...report, key: context.key } as PeerReport);
    }),
    /** Fills the request pipeline up to the depth this peer's rate earns. */
    fillPipeline: enqueueActions(({ context, enqueue }) => {
      const cmd = pipelineRequests(context);
      if (cmd) enqueue.sendTo('wire', cmd);
    }),
    /** Refills the pipeline when requests are flowing (after a reject, a new `have` …). */
    maybeFill: enqueueActions(({ context, check, enqueue }) => {
      if (!check(stateIn('#peer.connected.requests.active') as never)) return;
      const cmd = pipelineRequests(context, true);
      if (cmd) enqueue.sendTo('wire', cmd);
    }),
    /** Tops the pipeline up after blocks arrived (in `requests.active`), once enough slots are free. */
    refill: enqueueActions(({ context, enqueue }) => {
      const cmd = pipelineRequests(context, true);
      if (cmd) enqueue.sendTo('wire', cmd);
    }),
    reconsider: raise({ type: 'peer.reconsider' }),
    /** `wire.piece` / `wire.pieces`: see {@link receiveBlock}. */
    receiveBlocks: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.piece' && event.type !== 'wire.pieces') return;
      const reports: PeerReport[] = [];
      const blocks = event.type === 'wire.piece' ? [event] : event.blocks;
      for (const b of blocks) {
        const bad = receiveBlock(context, b, event.at, reports);
        if (bad !== undefined) {
          enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: bad });
          break;
        }
      }
      for (const r of reports) enqueue.sendParent(r);
    }),
    releaseRequests: ({ context }) => {
      context.services.picker.releasePeer(context.key);
    },
    countMessage: ({ context, event }) => {
      const s = context.stats;
      s.messagesSinceCheck++;
      if ('at' in event) s.lastAt = event.at;
    },
    setClose: assign((_, params: { reason: CloseReason; detail?: string }) => ({
      closeReason: params.reason,
      closeDetail: params.detail,
    })),
  },
}).createMachine({
  id: 'peer',
  context: ({ input }) => ({
    key: input.key,
    address: input.address,
    direction: input.direction,
    services: input.services,
    settings: { ...defaultPeerSettings, ...input.settings },
    transport: input.transport,
    peerId: undefined,
    extensions: { fast: false, extended: false, dht: false },
    announcedPieces: false,
    stats: {
      downloaded: 0,
      uploaded: 0,
      messagesSinceCheck: 0,
      blocksSinceCheck: 0,
      silentMs: 0,
      starvedMs: 0,
      lastAt: 0,
      downRate: new RateMeter(),
      upRate: new RateMeter(),
      peerReqq: Number.POSITIVE_INFINITY,
      uploads: [],
      readsInFlight: 0,
      congested: false,
      view: undefined as unknown as ChokeView,
    },
    closeReason: undefined,
    closeDetail: undefined,
  }),
  invoke: [
    { id: 'reader', src: 'reader' },
    {
    id: 'wire',
    src: 'wire',
    input: ({ context }: { context: PeerContext }) => ({
      ...(context.direction === 'outgoing'
        ? { connect: { host: context.address.host, port: context.address.port } }
        : (context.transport as object)),
      handshake: {
        reserved: reservedBytes(),
        infoHash: context.services.infoHash,
        peerId: context.services.peerId,
      },
      pieceCount: context.services.pieceCount,
    }),
    },
  ],
  initial: 'connecting',
  on: {
    'wire.closed': {
      target: '.closed',
      actions: {
        type: 'setClose',
        params: ({ event }) => (event.error ? { reason: 'socket-error' as const, detail: `${event.error.code}: ${event.error.message}` } : { reason: 'closed-by-peer' as const }),
      },
    },
    'wire.protocolError': {
      target: '.closing',
      actions: { type: 'setClose', params: ({ event }) => ({ reason: 'protocol-error' as const, detail: `${event.code}: ${event.message}` }) },
    },
    'peer.close': {
      target: '.closing',
      actions: { type: 'setClose', params: ({ event }) => ({ reason: event.reason, ...(event.detail !== undefined && { detail: event.detail }) }) },
    },
  },
  states: {
    connecting: {
      after: {
        connectTimeout: { target: 'closing', actions: { type: 'setClose', params: { reason: 'timeout', detail: 'connect' } } },
      },
      on: { 'wire.connected': 'handshaking' },
    },
    handshaking: {
      after: {
        handshakeTimeout: { target: 'closing', actions: { type: 'setClose', params: { reason: 'timeout', detail: 'handshake' } } },
      },
      on: {
        'wire.handshake': [
          {
            guard: not('isOurTorrent'),
            target: 'closing',
            actions: { type: 'setClose', params: { reason: 'info-hash-mismatch' } },
          },
          {
            guard: 'isSelf',
            target: 'closing',
            actions: { type: 'setClose', params: { reason: 'self' } },
          },
          {
            target: 'connected',
            actions: [
              assign(({ event }) => ({
                peerId: hex(event.handshake.peerId),
                extensions: {
                  dht: (event.handshake.reserved[7]! & 0x01) !== 0,
                  fast: (event.handshake.reserved[7]! & 0x04) !== 0,
                  extended: (event.handshake.reserved[5]! & 0x10) !== 0,
                },
              })),
              enqueueActions(({ context, enqueue }) => {
                if (context.direction === 'incoming') enqueue({ type: 'sendWire', params: { type: 'wire.sendHandshake' } });
              }),
              { type: 'report', params: ({ event }) => ({ type: 'peer.handshake' as const, peerId: event.handshake.peerId }) },
            ],
          },
        ],
      },
    },
    connected: {
      type: 'parallel',
      entry: [
        // Until it says otherwise, the peer has nothing (BEP 3: the bitfield may be omitted).
        ({ context }) => {
          context.services.picker.addPeer(context.key, 'none');
          const s = context.stats;
          s.view = {
            key: context.key,
            peerInterested: false,
            amChoking: true,
            snubbed: false,
            downRate: () => s.downRate.rate(s.lastAt),
            upRate: () => s.upRate.rate(s.lastAt),
          };
          context.services.registry.set(context.key, s.view);
        },
        enqueueActions(({ context, enqueue }) => {
          if (context.extensions.extended) {
            // BEP 10: tell the peer how many requests it may queue with us, and who we are.
            const payload = encodeBencode({ m: {}, v: 'bt-actor', reqq: context.settings.maxQueuedRequests });
            enqueue({ type: 'sendWire', params: { type: 'wire.send', message: { type: 'extended', id: 0, payload } } });
          }
          const have = context.services.picker.bitfield();
          if (context.extensions.fast && have.isComplete) enqueue({ type: 'sendWire', params: { type: 'wire.send', message: { type: 'have-all' } } });
          else if (context.extensions.fast && have.isEmpty) enqueue({ type: 'sendWire', params: { type: 'wire.send', message: { type: 'have-none' } } });
          else if (!have.isEmpty) enqueue({ type: 'sendWire', params: { type: 'wire.send', message: { type: 'bitfield', bytes: have.toBytes() } } });
        }),
        'reconsider',
      ],
      exit: ({ context }) => {
        context.services.picker.removePeer(context.key);
        context.services.registry.delete(context.key);
        context.stats.uploads.length = 0;
      },
      on: {
        'wire.bitfield': {
          actions: [
            'countMessage',
            enqueueActions(({ context, event, enqueue }) => {
              let bits: Bitfield;
              try {
                bits = Bitfield.fromBytes(event.bytes, context.services.pieceCount);
              } catch (err) {
                enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: (err as Error).message });
                return;
              }
              context.services.picker.addPeer(context.key, bits);
              enqueue(assign({ announcedPieces: true }));
            }),
            'reconsider',
            'maybeFill',
          ],
        },
        'wire.have': {
          actions: [
            'countMessage',
            enqueueActions(({ context, event, enqueue, check }) => {
              if (!Number.isInteger(event.index) || event.index < 0 || event.index >= context.services.pieceCount) {
                enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: `have for piece ${event.index} of ${context.services.pieceCount}` });
                return;
              }
              context.services.picker.have(context.key, event.index);
              // A have only ever makes the peer more interesting: nothing to reconsider once we are
              // interested (every peer sends one per piece it completes).
              if (!check(stateIn('#peer.connected.amInterested.interested') as never)) enqueue('reconsider');
            }),
            'maybeFill',
          ],
        },
        'wire.have-all': {
          actions: ['countMessage', ({ context }) => void context.services.picker.addPeer(context.key, 'all'), assign({ announcedPieces: true }), 'reconsider', 'maybeFill'],
        },
        'wire.have-none': {
          actions: ['countMessage', ({ context }) => void context.services.picker.addPeer(context.key, 'none'), assign({ announcedPieces: true }), 'reconsider'],
        },
        'wire.keep-alive': { actions: 'countMessage' },
        'wire.port': { actions: 'countMessage' },
        'wire.suggest': { actions: 'countMessage' },
        'wire.allowed-fast': { actions: 'countMessage' },
        'wire.extended': {
          actions: [
            'countMessage',
            ({ context, event }) => {
              // BEP 10 extension handshake: honour the peer's request queue limit (`reqq`).
              if (event.id !== 0) return;
              try {
                const { value } = decodeBencode(event.payload);
                const reqq = isDict(value) ? value.reqq : undefined;
                if (typeof reqq === 'number' && reqq > 0) context.stats.peerReqq = Math.min(reqq, 10_000);
              } catch {
                /* a malformed extension handshake is ignored, as BEP 10 clients do */
              }
            },
          ],
        },
        'wire.unknown': { actions: 'countMessage' },
        'wire.request': {
          actions: [
            'countMessage',
            enqueueActions(({ context, event, enqueue, check }) => {
              const { picker, pieceCount } = context.services;
              const { index, begin, length } = event;
              const reject = () => {
                if (context.extensions.fast) enqueue({ type: 'sendWire', params: { type: 'wire.send', message: { type: 'reject', index, begin, length } } });
              };
              const bad = (detail: string) => enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail });
              if (!Number.isInteger(index) || index < 0 || index >= pieceCount) return bad(`request for piece ${index} of ${pieceCount}`);
              const size = picker.pieceBytes(index);
              if (length <= 0 || begin < 0 || begin + length > size) return bad(`request ${index}:${begin}+${length} outside the piece (${size} bytes)`);
              if (length > context.settings.maxRequestLength) return reject(); // oversized: refused, not served
              // BEP 3: requests while choked are ignored (BEP 6: rejected); so are pieces we lack.
              if (check(stateIn('#peer.connected.amChoking.choking') as never) || !picker.hasPiece(index)) return reject();
              const queue = context.stats.uploads;
              if (queue.length >= context.settings.maxQueuedRequests) return bad(`more than ${context.settings.maxQueuedRequests} requests queued (flood)`);
              queue.push({ index, begin, length, reading: false });
              for (const cmd of nextReads(context)) enqueue.sendTo('reader', cmd);
            }),
          ],
        },
        'wire.cancel': {
          actions: [
            'countMessage',
            ({ context, event }) => {
              const q = context.stats.uploads;
              const i = q.findIndex((r) => r.index === event.index && r.begin === event.begin && r.length === event.length);
              if (i >= 0) q.splice(i, 1);
            },
          ],
        },
        'upload.block': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            // Send it only if still wanted: not cancelled, and not dropped by a choke.
            const s = context.stats;
            s.readsInFlight--;
            const q = s.uploads;
            const i = q.findIndex((r) => r.index === event.index && r.begin === event.begin && r.length === event.length);
            if (i >= 0) {
              q.splice(i, 1);
              s.uploaded += event.length;
              context.services.counters.uploaded += event.length;
              s.upRate.add(event.length, s.lastAt);
              enqueue.sendTo('wire', { type: 'wire.sendBlock', index: event.index, begin: event.begin, block: event.data });
            }
            for (const cmd of nextReads(context)) enqueue.sendTo('reader', cmd);
          }),
        },
        'upload.readFailed': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            context.stats.readsInFlight--;
            const q = context.stats.uploads;
            const i = q.findIndex((r) => r.index === event.index && r.begin === event.begin && r.length === event.length);
            if (i >= 0) q.splice(i, 1);
            if (context.extensions.fast) {
              enqueue.sendTo('wire', { type: 'wire.send', message: { type: 'reject', index: event.index, begin: event.begin, length: event.length } });
            }
            for (const cmd of nextReads(context)) enqueue.sendTo('reader', cmd);
          }),
        },
        // Backpressure: while the socket is backed up no more blocks are read for this peer; its
        // requests wait in the queue (and a peer that never reads ends at the flood cap).
        'wire.congested': { actions: ({ context }) => void (context.stats.congested = true) },
        'wire.drain': {
          actions: enqueueActions(({ context, enqueue }) => {
            context.stats.congested = false;
            for (const cmd of nextReads(context)) enqueue.sendTo('reader', cmd);
          }),
        },
        'peer.refill': { actions: ['reconsider', 'maybeFill'] },
        'peer.have': {
          actions: [
            // We completed a piece: the peer may have nothing more we want (only then is there anything
            // to reconsider: our own piece never makes a peer more interesting).
            enqueueActions(({ context, enqueue }) => {
              if (!context.services.picker.isInterestedIn(context.key)) enqueue('reconsider');
            }),
            // A piece left the write backlog: requests held back for it may go out now.
            'maybeFill',
            { type: 'sendWire', params: ({ event }) => ({ type: 'wire.send' as const, message: { type: 'have' as const, index: event.index } }) },
          ],
        },
        'peer.cancel': {
          actions: [
            ({ context, event }) => void context.services.picker.cancelRequest(context.key, event.index, event.begin),
            {
              type: 'sendWire',
              params: ({ event }) => ({ type: 'wire.send' as const, message: { type: 'cancel' as const, index: event.index, begin: event.begin, length: event.length } }),
            },
          ],
        },
      },
      states: {
        amChoking: {
          initial: 'choking',
          states: {
            choking: {
              on: {
                'peer.unchoke': {
                  target: 'unchoked',
                  actions: [
                    ({ context }) => void (context.stats.view.amChoking = false),
                    { type: 'sendWire', params: { type: 'wire.send', message: { type: 'unchoke' } } },
                  ],
                },
              },
            },
            unchoked: {
              on: {
                'peer.choke': {
                  target: 'choking',
                  actions: [
                    ({ context }) => void (context.stats.view.amChoking = true),
                    { type: 'sendWire', params: { type: 'wire.send', message: { type: 'choke' } } },
                    // Queued requests are discarded (BEP 6 peers are told so with rejects).
                    enqueueActions(({ context, enqueue }) => {
                      const q = context.stats.uploads.splice(0);
                      if (!context.extensions.fast) return;
                      for (const r of q) enqueue.sendTo('wire', { type: 'wire.send', message: { type: 'reject', ...r } });
                    }),
                  ],
                },
              },
            },
          },
        },
        peerInterested: {
          initial: 'notInterested',
          states: {
            // A repeated message changes nothing but still shows the peer is alive.
            notInterested: {
              on: {
                'wire.interested': {
                  target: 'interested',
                  actions: [
                    'countMessage',
                    ({ context }) => void (context.stats.view.peerInterested = true),
                    { type: 'report', params: { type: 'peer.interested' as const } },
                  ],
                },
                'wire.not-interested': { actions: 'countMessage' },
              },
            },
            interested: {
              on: {
                'wire.not-interested': {
                  target: 'notInterested',
                  actions: ['countMessage', ({ context }) => void (context.stats.view.peerInterested = false)],
                },
                'wire.interested': { actions: 'countMessage' },
              },
            },
          },
        },
        amInterested: {
          initial: 'notInterested',
          states: {
            notInterested: {
              on: {
                'peer.reconsider': {
                  guard: 'isInterested',
                  target: 'interested',
                  actions: { type: 'sendWire', params: { type: 'wire.send', message: { type: 'interested' } } },
                },
              },
            },
            interested: {
              on: {
                'peer.reconsider': {
                  guard: 'isNotInterested',
                  target: 'notInterested',
                  actions: { type: 'sendWire', params: { type: 'wire.send', message: { type: 'not-interested' } } },
                },
              },
            },
          },
        },
        peerChoking: {
          initial: 'choked',
          states: {
            choked: {
              on: {
                'wire.unchoke': { target: 'unchoked', actions: ['countMessage', 'reconsider'] },
                'wire.choke': { actions: 'countMessage' },
              },
            },
            unchoked: {
              on: {
                'wire.unchoke': { actions: 'countMessage' },
                'wire.choke': {
                  target: 'choked',
                  // BEP 3: a choke discards our pending requests (BEP 6 peers reject them explicitly).
                  actions: ['countMessage', enqueueActions(({ context, enqueue }) => { if (!context.extensions.fast) enqueue('releaseRequests'); }), 'reconsider'],
                },
              },
            },
          },
        },
        requests: {
          initial: 'idle',
          on: {
            // Blocks while idle (late, after a choke) are still taken; `active` and `snubbed` add to this.
            'wire.piece': { actions: ['countMessage', 'receiveBlocks'] },
            // The blocks of one socket read: one event, each block handled as a `wire.piece`.
            'wire.pieces': { actions: ['countMessage', 'receiveBlocks'] },
            'wire.reject': {
              actions: ['countMessage', ({ context, event }) => void context.services.picker.rejected(context.key, event.index, event.begin), 'maybeFill'],
            },
          },
          states: {
            idle: {
              on: { 'peer.reconsider': { guard: and(['isUnchokingUs', 'isInterested']), target: 'active' } },
            },
            active: {
              entry: 'fillPipeline',
              on: {
                'peer.reconsider': { guard: 'isStalled', target: 'idle' },
                'wire.piece': { actions: ['countMessage', 'receiveBlocks', 'refill'] },
                'wire.pieces': { actions: ['countMessage', 'receiveBlocks', 'refill'] },
                'peer.check': [
                  { guard: 'isStarved', target: 'snubbed' },
                  // Blocks may have become wanted with no event of ours (another peer closed): top up.
                  { actions: 'fillPipeline' },
                ],
              },
            },
            snubbed: {
              // Its requests go elsewhere; it is asked again once it delivers a block, or after a
              // choke and unchoke (otherwise a snubbed peer that discarded our requests is never asked again).
              entry: [
                'releaseRequests',
                ({ context }) => {
                  context.stats.starvedMs = 0;
                  context.stats.view.snubbed = true;
                },
              ],
              exit: ({ context }) => void (context.stats.view.snubbed = false),
              on: {
                'peer.reconsider': [
                  { guard: 'isStalled', target: 'idle' },
                  { guard: 'hasDeliveredAgain', target: 'active' },
                ],
                'wire.piece': { actions: ['countMessage', 'receiveBlocks', 'reconsider'] },
                'wire.pieces': { actions: ['countMessage', 'receiveBlocks', 'reconsider'] },
              },
            },
          },
        },
        liveness: {
          initial: 'watching',
          states: {
            watching: {
              after: {
                checkInterval: { target: 'watching', reenter: true, actions: enqueueActions(({ context, enqueue }) => {
                  const s = context.stats;
                  const dt = context.settings.checkIntervalMs;
                  s.silentMs = s.messagesSinceCheck > 0 ? 0 : s.silentMs + dt;
                  const waiting = context.services.picker.outstandingCount(context.key) > 0;
                  s.starvedMs = s.blocksSinceCheck > 0 || !waiting ? 0 : s.starvedMs + dt;
                  s.messagesSinceCheck = 0;
                  s.blocksSinceCheck = 0;
                  const { picker } = context.services;
                  if (picker.isComplete && picker.isSeed(context.key)) {
                    enqueue.raise({ type: 'peer.close', reason: 'not-useful', detail: 'both sides have everything' });
                  } else if (s.silentMs >= context.settings.silenceLimitMs) {
                    enqueue.raise({ type: 'peer.close', reason: 'timeout', detail: `silent for ${s.silentMs / 1000} s` });
                  } else {
                    enqueue.raise({ type: 'peer.check' });
                  }
                }) },
              },
            },
          },
        },
        keepAlive: {
          initial: 'waiting',
          states: {
            waiting: {
              after: {
                keepAliveInterval: {
                  target: 'waiting',
                  reenter: true,
                  actions: { type: 'sendWire', params: { type: 'wire.send', message: { type: 'keep-alive' } } },
                },
              },
            },
          },
        },
      },
    },
    closing: {
      entry: [
        { type: 'sendWire', params: { type: 'wire.close' } },
      ],
      always: 'closed',
    },
    closed: {
      type: 'final',
      entry: [
        ({ context }) => {
          // Whatever was requested from this peer goes back to wanted.
          context.services.picker.removePeer(context.key);
        },
        {
          type: 'report',
          params: ({ context }) => ({
            type: 'peer.closed' as const,
            reason: context.closeReason ?? 'closed-by-peer',
            ...(context.closeDetail !== undefined && { detail: context.closeDetail }),
            downloaded: context.stats.downloaded,
            uploaded: context.stats.uploaded,
          }),
        },
      ],
    },
  },
});

/**
 * A block arrived: checked against our requests by the picker, counted, and copied into its piece;
 * reports for the torrent are pushed to `reports`. Returns the close detail when the block was never
 * requested (the connection is then closed).
 */
function receiveBlock(context: PeerContext, b: { index: number; begin: number; block: Uint8Array }, at: number, reports: PeerReport[]): string | undefined {
  const { picker, buffers } = context.services;
  const len = b.block.length;
  const r = picker.blockReceived(context.key, b.index, b.begin, len);
  if (r.status === 'unexpected') return `unrequested block ${b.index}:${b.begin}+${len}`;
  const s = context.stats;
  s.blocksSinceCheck++;
  s.downloaded += len;
  context.services.counters.downloaded += len;
  s.downRate.add(len, at);
  if (r.status !== 'accepted') return undefined;
  buffers.addBlock(b.index, b.begin, b.block);
  const key = context.key;
  if (r.cancel.length > 0) reports.push({ type: 'peer.cancelElsewhere', key, peers: r.cancel, index: b.index, begin: b.begin, length: len });
  if (r.pieceComplete) reports.push({ type: 'peer.pieceComplete', key, index: b.index });
  return undefined;
}

/** Block reads kept under way per peer when uploading. */
const MAX_READS = 16;

/** The reads to start for queued requests: none while the socket is congested, at most MAX_READS at once. */
function nextReads(context: PeerContext): { type: 'upload.read'; index: number; begin: number; length: number }[] {
  const s = context.stats;
  const out: { type: 'upload.read'; index: number; begin: number; length: number }[] = [];
  if (s.congested) return out;
  for (const r of s.uploads) {
    if (s.readsInFlight >= MAX_READS) break;
    if (r.reading) continue;
    r.reading = true;
    s.readsInFlight++;
    out.push({ type: 'upload.read', index: r.index, begin: r.begin, length: r.length });
  }
  return out;
}

/** Most free pipeline slots a top-up waits for (see {@link pipelineRequests}). */
const REFILL_BATCH = 32;

/** Requests kept outstanding per peer once the picker is in endgame. */
const ENDGAME_DEPTH = 4;

/** The `request` messages (one command) that top this peer's pipeline up to the depth its rate earns. */
function pipelineRequests(context: PeerContext, batched = false): WireOut | undefined {
  const { picker } = context.services;
  const s = context.settings;
  const depth = requestQueueDepth(context.stats.downRate.rate(context.stats.lastAt), {
    seconds: s.queueSeconds,
    min: Math.min(s.minQueue, context.stats.peerReqq),
    max: Math.max(1, Math.min(s.maxQueue, context.stats.peerReqq)),
  });
  // In endgame every remaining block is already out: duplicates are only worth it for a peer that is
  // about to run dry, so keep its pipeline short there (deep pipelines would fetch most of the tail twice).
  // Pieces wait for the disk past the cap: no new requests until the torrent writes some (its `have`
  // to this peer tops the pipeline up again).
  if (context.services.buffers.backlogged) return undefined;
  const want = (picker.inEndgame ? Math.min(depth, ENDGAME_DEPTH) : depth) - picker.outstandingCount(context.key);
  if (want <= 0) return undefined;
  // A top-up after a block waits until an eighth of a deep pipeline is free (at most 32 slots): the
  // requests then leave in one write, not one system call per block (costly at loopback rates).
  if (batched && !picker.inEndgame && want < Math.min(REFILL_BATCH, Math.ceil(depth / 8))) return undefined;
  const picked = picker.pick(context.key, want);
  if (picked.length === 0) return undefined;
  return { type: 'wire.sendMany', messages: picked.map((r) => ({ type: 'request' as const, index: r.index, begin: r.begin, length: r.length })) };
}

function reservedBytes(): Uint8Array {
  const r = new Uint8Array(8);
  r[5] = 0x10; // BEP 10 extension protocol
  r[7] = 0x04; // BEP 6 fast extension
  return r;
}

export type PeerMachine = typeof peerMachine;
