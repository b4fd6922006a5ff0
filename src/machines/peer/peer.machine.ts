/**
 * One peer connection as an actor: connecting → handshaking → connected → closing → closed.
 *
 * `connected` is a parallel state with the regions of BEP 3 — amChoking, amInterested, peerChoking,
 * peerInterested — plus the request pipeline (idle / active / fast / snubbed). Liveness (silence and
 * snubbing, keep-alives, counters reported to the torrent) is checked on the torrent's tick
 * (`peer.tick`, once a second): the peer keeps no timer of its own once connected. The socket lives in
 * the `wire` actor that src/io provides; the machine sees `wire.*` events and sends `wire.*` commands
 * (src/protocol/peer-wire-types.ts).
 *
 * The machine is a thin coordinator over pure modules: the request pipeline (pipeline.ts), the upload
 * queue (upload-queue.ts), the extension protocol (extensions.ts) and liveness (liveness.ts). Its
 * context is immutable data — no picker, no buffers, no shared object — so `transition()` computes
 * its next state and actions from (snapshot, event) alone. What to request is the torrent's decision:
 * the peer says how many slots are free (`peer.wants`, `peer.blocks`) and sends what the torrent
 * picks (`peer.request`); blocks go to the torrent (`peer.blocks`) only if they were requested.
 */
import {
  and,
  assign,
  enqueueActions,
  fromCallback,
  not,
  raise,
  sendTo,
  setup,
  stateIn,
  stopChild,
  type AnyActorRef,
} from 'xstate';
import {
  closedReason,
  connectingState,
  handshakeTimeoutAfter,
  protocolErrorReason,
  refusedHandshakes,
} from './lifecycle.js';
import { Bitfield } from '../../protocol/bitfield.js';
import { equalBytes, toHex } from '../../protocol/bytes.js';
import { isPieceIndex, type BlockRequest } from '../../protocol/layout.js';
import type {
  BlockReadEvent,
  ReaderCommand,
  PeerWireCommand,
  PeerWireEvent,
  PeerWireInput,
  PieceBlock,
} from '../../protocol/peer-wire-types.js';
import { handshakeExtensions, makeReserved, type HashRange, type WireMessage } from '../../protocol/wire.js';
import { encodeUtPex } from '../../protocol/ut-pex.js';
import {
  EXTENSIONS,
  emptyExtensionState,
  ourExtensionHandshake,
  routeExtended,
  type ExtensionState,
} from './extensions.js';
import {
  answerMetadata,
  emptyExtMessages,
  offeredExtensions,
  receivePex,
  type ExtMessagesState,
} from './ext-messages.js';
import { serveHashRequest } from './hash-serving.js';
import { answerLeafRequest } from '../../protocol/hash-tree.js';
import { admitFast, allowFast, emptyFast, pieceVerified, serveChoked, suggest, type FastState } from './fast.js';
import { check as checkLiveness, freshLiveness, heard, type LivenessState } from './liveness.js';
import { laterAnnouncement, type Announced } from './announced.js';
import {
  addRequests,
  emptyPipeline,
  freeSlots,
  giveUp,
  giveUpAll,
  outstanding,
  outstandingCount,
  pipelineDepth,
  refillBatch,
  takeBlocks,
  type PipelineState,
} from './pipeline.js';
import { addBytes, rateOf, rateWindow, type RateWindow } from './rate.js';
import {
  cancelUpload,
  dropAll,
  emptyUploads,
  enqueue as enqueueUpload,
  queueRoom,
  readsDone,
  setCongested,
  startReads,
  validateRequest,
  type UploadQueueState,
} from './upload-queue.js';
import {
  defaultPeerSettings,
  type CloseReason,
  type PeerCommand,
  type PeerInput,
  type PeerReport,
  type PeerSettings,
  type PeerTorrent,
  type PeerView,
  type PickHints,
  type NewHaves,
  HAVE_BATCH,
} from './types.js';

/** The range of a `hashes` or `hash reject` message, without its other fields. */
const hashRangeOf = (m: HashRange): HashRange => ({
  piecesRoot: m.piecesRoot,
  baseLayer: m.baseLayer,
  index: m.index,
  length: m.length,
  proofLayers: m.proofLayers,
});

type WithoutKey<T> = T extends unknown ? Omit<T, 'key'> : never;

/**
 * Internal events: `peer.check` (the liveness check's verdict, raised only when it is `starved`) and `peer.reconsider`, raised after
 * anything that may change whether requests can flow (choke/unchoke, our interest, a snubbed peer
 * delivering): the request region re-evaluates its guards on it.
 */
export type PeerInternalEvent = { type: 'peer.check'; starved: boolean } | { type: 'peer.reconsider' };

export type PeerEvent = PeerWireEvent | BlockReadEvent | PeerCommand | PeerInternalEvent;

export interface PeerContext {
  key: string;
  address: PeerInput['address'];
  direction: PeerInput['direction'];
  torrent: PeerTorrent;
  /** The actor that receives this peer's reports (its torrent). */
  report: AnyActorRef;
  settings: PeerSettings;
  transport: unknown;
  /** The peer's id once its handshake arrived (hex). */
  peerId: string | undefined;
  extensions: { fast: boolean; extended: boolean; dht: boolean };
  /** What the peer's BEP 10 handshake said. */
  ext: ExtensionState;
  /** What this connection did with `ut_metadata` and `ut_pex` (src/machines/peer/ext-messages.ts). */
  extMessages: ExtMessagesState;
  /** What each side has, as far as the haves go. */
  pieces: PiecesState;
  /** BEP 6: pieces the peer allows us while choked and suggests; our allowed-fast set for it (fast.ts). */
  fast: FastState;
  pipeline: PipelineState;
  uploads: UploadQueueState;
  liveness: LivenessState;
  traffic: Traffic;
  /** Why the connection ends, once it does. */
  close: { reason: CloseReason; detail?: string } | undefined;
}

/**
 * Bytes and rates of the connection, both ways (one value, replaced on each change: a machine's context
 * keeps few top-level fields, see docs/architecture.md).
 */
export interface Traffic {
  down: RateWindow;
  up: RateWindow;
  /** Payload bytes received in blocks we asked for, and sent in blocks the peer asked for. */
  downloaded: number;
  uploaded: number;
  /** Timestamp (ms, from the wire events) of the latest message. */
  lastAt: number;
  /**
   * The counters as last reported, and whether that report showed a rate above zero: `peer.stats` goes
   * out while they change, and once more when the rates have fallen to zero.
   */
  reported: { downloaded: number; uploaded: number; moving: boolean };
  /** Blocks received and dropped: late (their request given up) or never asked for. */
  dropped: number;
}

/** What each side of the connection has, as far as the peer machine needs to know. */
export interface PiecesState {
  /**
   * The peer told us what it has (bitfield, have-all, have-none, or a first have): `false` until then;
   * its latest bitfield's bytes or `'all'`, for a later announcement to be checked against (announced.ts).
   */
  announced: Announced;
  /** `have` messages received: a peer that sends more than the torrent has pieces (plus slack) is flooding. */
  received: number;
  /**
   * Those of them not yet told to the torrent, in order: haves of pieces we have already, which change
   * nothing but their availability; they ride on the next report (`NewHaves`).
   */
  unsent: readonly number[];
  /**
   * Our pieces (bitfield bytes) as the torrent last said (`peer.admit`, `peer.announce`): a have of a
   * piece we lack is told to the torrent at once (it may make the peer interesting, and its blocks can be
   * asked for). The torrent's own bytes, replaced on each announce, never changed.
   */
  ours: Uint8Array;
}

/** Whether bitfield `bytes` has piece `index` (BEP 3: high bit first). */
const hasPiece = (bytes: Uint8Array, index: number): boolean =>
  ((bytes[index >> 3] ?? 0) & (0x80 >> (index & 7))) !== 0;

/** `have`s beyond the piece count a peer may send (duplicates happen) before it counts as a flood. */
export const HAVE_SLACK = 64;

/** Placeholder: src/io provides the socket bridge (`peerWireActor`). */
const wireNotProvided = fromCallback<PeerWireCommand, PeerWireInput>(() => {
  throw new Error('peer machine: no wire actor provided (provide peerWireActor from src/io)');
});

/** Placeholder reader: without storage nothing can be uploaded, so every read fails. */
const readerNotProvided = fromCallback<ReaderCommand>(({ sendBack, receive }) => {
  receive((cmd) => {
    if (cmd.type === 'hash.leaves') {
      sendBack({ type: 'hash.leavesFailed', range: cmd.range, code: 'BT_ERR_NO_READER', message: 'no reader' });
      return;
    }
    const failed: BlockReadEvent = {
      type: 'upload.blocks',
      blocks: [],
      failed: cmd.blocks.map((b) => ({ ...b, code: 'BT_ERR_NO_READER', message: 'no block reader provided' })),
    };
    sendBack(failed);
  });
});

/** The request pipeline depth the peer's measured rate earns. */
function depthOf(c: PeerContext): number {
  return pipelineDepth(rateOf(c.traffic.down, c.traffic.lastAt), c.settings, c.ext.reqq);
}

/** Most requests ever outstanding to the peer: our cap, and what the peer said it queues (BEP 10 `reqq`). */
export function pipelineCap(c: PeerContext): number {
  return Math.max(1, Math.min(c.settings.maxQueue, c.ext.reqq));
}

/** "Now" for rates: the latest wire timestamp, moved on by the silence the liveness checks counted. */
const nowOf = (c: PeerContext) => c.traffic.lastAt + c.liveness.silentMs;

const send = (message: WireMessage): PeerWireCommand => ({ type: 'wire.send', message });

/**
 * `check(stateIn(id))` inside an `enqueueActions` of `setup({ actions })`: there XState types `check`
 * before the machine's guards exist (as taking `never`), so the one call site is typed here.
 */
function inState(check: unknown, id: string): boolean {
  return (check as (guard: ReturnType<typeof stateIn>) => boolean)(stateIn(id));
}

/** Our pieces as the peer should first hear them: bitfield, or BEP 6 have-all / have-none. */
function piecesMessage(c: PeerContext, bytes: Uint8Array): WireMessage | undefined {
  const have = Bitfield.fromBytes(bytes, c.torrent.geometry.pieceCount);
  if (c.extensions.fast && have.isComplete) return { type: 'have-all' };
  if (c.extensions.fast && have.isEmpty) return { type: 'have-none' };
  return have.isEmpty ? undefined : { type: 'bitfield', bytes: have.toBytes() };
}

/**
 * BEP 6 hints for the torrent's picker: while the peer chokes us (`choked`) only its allowed-fast pieces;
 * while it unchokes us the pieces it suggested, first.
 */
function hintsOf(c: PeerContext, choked: boolean): PickHints {
  if (choked) return { only: c.fast.allowedIn };
  return c.fast.suggested.length > 0 ? { prefer: c.fast.suggested } : NO_HINTS;
}
/** Shared, so the hot path (a `peer.blocks` per socket read) allocates nothing for no hints. */
const NO_HINTS: PickHints = Object.freeze({});
const NO_HAVES: readonly number[] = Object.freeze([]);

/** The `have`s waiting to be told to the torrent, as a report's field (none: no field). */
const newHavesOf = (c: PeerContext): NewHaves =>
  c.pieces.unsent.length > 0 ? { haves: c.pieces.unsent } : NO_NEW_HAVES;
/** The context change that marks the waiting haves told (none if none wait). */
const havesTold = (c: PeerContext): Partial<PeerContext> =>
  c.pieces.unsent.length > 0 ? { pieces: { ...c.pieces, unsent: NO_HAVES } } : {};
const NO_NEW_HAVES: NewHaves = Object.freeze({});

/**
 * Our newly verified `pieces` told to the peer (`peer.announce`, or riding on `peer.tick`): the `have`s
 * to send (one write), with BEP 6 `allowed-fast` for a piece of its allowed-fast set we now have (its
 * hints for it go); our pieces as the torrent said (`have`); and whether the requests must be
 * reconsidered (the last allowed piece we lacked is ours now: `requests.fast` has nothing left to ask for).
 */
function announce(
  c: PeerContext,
  pieces: readonly number[],
  have: Uint8Array,
): { send: PeerWireCommand; pieces: PiecesState; fast: FastState; reconsider: boolean } {
  const messages: WireMessage[] = pieces.map((index) => ({ type: 'have', index }));
  let fast = c.fast;
  for (const index of pieces) {
    const f = pieceVerified(fast, index);
    fast = f.state;
    if (f.announce) messages.push({ type: 'allowed-fast', index });
  }
  return {
    send: messages.length === 1 ? send(messages[0]!) : { type: 'wire.sendMany', messages },
    pieces: { ...c.pieces, ours: have },
    fast,
    reconsider: fast.allowedIn.length === 0 && c.fast.allowedIn.length > 0,
  };
}

const requestsOf = (requests: readonly BlockRequest[]): WireMessage[] =>
  requests.map((r) => ({ type: 'request', index: r.index, begin: r.begin, length: r.length }));

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
  },
  guards: {
    isOurTorrent: ({ context, event }) =>
      event.type === 'wire.handshake' &&
      (equalBytes(event.handshake.infoHash, context.torrent.infoHash) ||
        (context.torrent.hybridV2Hash !== undefined &&
          equalBytes(event.handshake.infoHash, context.torrent.hybridV2Hash))),
    isSelf: ({ context, event }) =>
      event.type === 'wire.handshake' && equalBytes(event.handshake.peerId, context.torrent.peerId),
    isUnchokingUs: stateIn('#peer.connected.peerChoking.unchoked'),
    isInterested: stateIn('#peer.connected.amInterested.interested'),
    /** Requests can flow: the peer unchokes us and has pieces we want. */
    canRequest: and(['isUnchokingUs', 'isInterested']),
    isStalled: not('canRequest'),
    /** BEP 6: the peer chokes us but allows us some pieces, and we are interested: ask for those. */
    canRequestFast: and([
      not('isUnchokingUs'),
      'isInterested',
      ({ context }) => context.extensions.fast && context.fast.allowedIn.length > 0,
    ]),
    cannotRequestFast: not('canRequestFast'),
    isStarved: ({ event }) => event.type === 'peer.check' && event.starved,
    hasDeliveredAgain: ({ context }) => context.liveness.blocks > 0,
    wantsInterest: ({ event }) => event.type === 'peer.interest' && event.interested,
    wantsNoInterest: ({ event }) => event.type === 'peer.interest' && !event.interested,
    isFast: ({ context }) => context.extensions.fast,
    hasAnnouncedPieces: ({ context }) => context.pieces.announced !== false,
  },
  actions: {
    sendWire: sendTo('wire', (_, cmd: PeerWireCommand) => cmd),
    report: enqueueActions(({ context, enqueue }, report: WithoutKey<PeerReport>) => {
      enqueue.sendTo(context.report, { ...report, key: context.key } as PeerReport);
    }),
    /**
     * The peer's haves (`wire.have`, or a read's run of them as `wire.haves`). A have of a piece we lack
     * is told at once (it may make the peer interesting, its blocks can be asked for); one of a piece we
     * have changes only its availability: it waits for the next report (`NewHaves`), or until HAVE_BATCH
     * wait. (Holding back the lacking ones too while we are interested made interest flap: our torrent
     * judged the peer on pieces it had not heard of yet.) A have counts as saying what the peer has: no
     * bitfield may follow (`announced`). A piece index out of range, or far more haves than pieces (a
     * flood: each would cost the torrent an event), closes the connection.
     */
    takeHaves: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.have' && event.type !== 'wire.haves') return;
      const indices = event.type === 'wire.have' ? [event.index] : event.indices;
      const { geometry } = context.torrent;
      const bad = indices.find((index) => !isPieceIndex(geometry, index));
      if (bad !== undefined) {
        enqueue.raise({
          type: 'peer.close',
          reason: 'protocol-error',
          detail: `have for piece ${bad} of ${geometry.pieceCount}`,
        });
        return;
      }
      const haves = context.pieces.received + indices.length;
      if (haves > geometry.pieceCount + HAVE_SLACK) {
        enqueue.raise({
          type: 'peer.close',
          reason: 'protocol-error',
          detail: `${haves} haves for a torrent of ${geometry.pieceCount} pieces`,
        });
        return;
      }
      const p = context.pieces;
      const unsent = [...p.unsent, ...indices];
      const now = unsent.length >= HAVE_BATCH || indices.some((index) => !hasPiece(p.ours, index));
      enqueue.assign({
        pieces: { ...p, announced: p.announced || true, received: haves, unsent: now ? NO_HAVES : unsent },
      });
      if (now)
        enqueue.sendTo(context.report, { type: 'peer.have', key: context.key, pieces: unsent } satisfies PeerReport);
    }),
    /** Any message shows the peer is alive. */
    heard: assign(({ context, event }) => {
      const t = context.traffic;
      const at = 'at' in event && typeof event.at === 'number' && event.at > t.lastAt ? event.at : t.lastAt;
      return { liveness: heard(context.liveness), ...(at !== t.lastAt && { traffic: { ...t, lastAt: at } }) };
    }),
    reconsider: raise({ type: 'peer.reconsider' }),
    /**
     * Asks the torrent for blocks when the pipeline has free slots (`choked`: in `requests.fast`, only of
     * the pieces the peer allows us).
     */
    askForBlocks: enqueueActions(({ context, enqueue }, params: { choked: boolean }) => {
      const count = freeSlots(context.pipeline, depthOf(context));
      if (count === 0) return;
      enqueue.sendTo(context.report, {
        type: 'peer.wants',
        key: context.key,
        count,
        ...hintsOf(context, params.choked),
        ...newHavesOf(context),
      } satisfies PeerReport);
      if (context.pieces.unsent.length > 0) enqueue.assign(havesTold(context));
    }),
    /** `wire.piece` / `wire.pieces`: blocks we asked for go to the torrent; one we never asked for closes. */
    receiveBlocks: enqueueActions(({ context, event, enqueue }, params: { requesting: boolean; choked?: boolean }) => {
      if (event.type !== 'wire.piece' && event.type !== 'wire.pieces') return;
      const blocks =
        event.type === 'wire.piece' ? [{ index: event.index, begin: event.begin, block: event.block }] : event.blocks;
      const r = takeBlocks(context.pipeline, blocks);
      let bytes = 0;
      for (const b of r.accepted) bytes += b.block.length;
      const t = context.traffic;
      const at = Math.max(t.lastAt, event.at);
      // Blocks of requests given up lately (cancelled, rejected, choked) are dropped, and counted.
      const dropped = t.dropped + r.late + (r.unrequested ? 1 : 0);
      const traffic: Traffic =
        bytes > 0
          ? { ...t, down: addBytes(t.down, bytes, at), downloaded: t.downloaded + bytes, lastAt: at, dropped }
          : { ...t, lastAt: at, dropped };
      enqueue.assign({
        pipeline: r.pipeline,
        liveness: heard(context.liveness, r.accepted.length + r.late),
        traffic,
        // Waiting haves ride on the `peer.blocks` report (sent when a block was accepted).
        ...(r.accepted.length > 0 && havesTold(context)),
      });
      if (r.accepted.length > 0) {
        // Free slots as of after this delivery (the pipeline and the rate just changed).
        const depth = pipelineDepth(rateOf(traffic.down, at), context.settings, context.ext.reqq);
        // In `requests.active` (which it is exactly while the peer unchokes us and we are interested)
        // the torrent tops the pipeline up with what this delivery freed.
        const want = params.requesting ? freeSlots(r.pipeline, depth) : 0;
        enqueue.sendTo(context.report, {
          type: 'peer.blocks',
          key: context.key,
          blocks: r.accepted,
          want,
          batch: refillBatch(depth),
          ...(want > 0 ? hintsOf(context, params.choked === true) : NO_HINTS),
          ...newHavesOf(context),
        } satisfies PeerReport);
      }
      if (r.unrequested) {
        const u = r.unrequested;
        enqueue.raise({
          type: 'peer.close',
          reason: 'protocol-error',
          detail: `unrequested block ${u.index}:${u.begin}+${u.block.length}`,
        });
      }
    }),
    /** Every outstanding request is given up (a choke without BEP 6, a snub): the torrent takes them back. */
    giveUpAll: enqueueActions(({ context, enqueue }) => {
      const { pipeline, dropped } = giveUpAll(context.pipeline);
      if (dropped.length === 0) return;
      enqueue.assign({ pipeline });
      enqueue.sendTo(context.report, {
        type: 'peer.returned',
        key: context.key,
        requests: dropped,
      } satisfies PeerReport);
    }),
    /**
     * Requests the torrent picked, sent (in `requests.active`) — never more than the peer queues (its
     * `reqq`) nor our cap: any beyond go back.
     */
    sendRequests: enqueueActions(({ context, event, enqueue }, params: { choked: boolean }) => {
      if (event.type !== 'peer.request' || event.requests.length === 0) return;
      // While the peer chokes us (BEP 6) only its allowed-fast pieces may be asked for.
      const allowed = params.choked ? context.fast.allowedIn : undefined;
      const sendable = allowed ? event.requests.filter((r) => allowed.includes(r.index)) : event.requests;
      const room = Math.max(0, pipelineCap(context) - outstandingCount(context.pipeline));
      const sent = sendable.slice(0, room);
      const back = allowed
        ? event.requests.filter((r) => !allowed.includes(r.index) || !sent.includes(r))
        : event.requests.slice(room);
      if (sent.length > 0) {
        enqueue.assign({ pipeline: addRequests(context.pipeline, sent) });
        enqueue.sendTo('wire', { type: 'wire.sendMany', messages: requestsOf(sent) });
      }
      if (back.length > 0)
        enqueue.sendTo(context.report, {
          type: 'peer.returned',
          key: context.key,
          requests: back,
        } satisfies PeerReport);
    }),
    /** Requests that arrive when they cannot be sent (choked, not interested, snubbed, not connected) go back. */
    returnRequests: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'peer.request' || event.requests.length === 0) return;
      enqueue.sendTo(context.report, {
        type: 'peer.returned',
        key: context.key,
        requests: event.requests,
      } satisfies PeerReport);
    }),
    /** What the peer looks like to the choker; `change` is what this transition changes. */
    reportState: enqueueActions(({ context, enqueue, check }, change: Partial<PeerView>) => {
      const view: PeerView = {
        peerInterested: inState(check, '#peer.connected.peerInterested.interested'),
        amChoking: inState(check, '#peer.connected.amChoking.choking'),
        snubbed: inState(check, '#peer.connected.requests.snubbed'),
        ...change,
      };
      enqueue.sendTo(context.report, { type: 'peer.state', key: context.key, ...view } satisfies PeerReport);
    }),
    /**
     * `wire.request` / `wire.requests` from the peer: each checked, then queued — or, while we choke it
     * (`serving: false`; BEP 3 ignores such requests, BEP 6 rejects them) or when it is too long, rejected
     * (the rejects of a batch leave as one `wire.sendMany`). The reads the batch allows start as one reader
     * command. A request outside the torrent, or one past the queue's cap (a flood), closes the connection
     * (what came before it in the batch is queued, as if it had come alone).
     */
    takeRequests: enqueueActions(({ context, event, enqueue }, params: { serving: boolean }) => {
      if (event.type !== 'wire.request' && event.type !== 'wire.requests') return;
      const requests =
        event.type === 'wire.request'
          ? [{ index: event.index, begin: event.begin, length: event.length }]
          : event.requests;
      const room = queueRoom(context.uploads, context.settings.maxQueuedRequests);
      const accepted: BlockRequest[] = [];
      let fast: FastState | undefined;
      const rejects: WireMessage[] = [];
      let close: string | undefined;
      for (const r of requests) {
        const v = validateRequest(context.torrent.geometry, r, context.settings.maxRequestLength);
        if (v.verdict === 'error') {
          close = v.detail;
          break;
        }
        // While we choke a BEP 6 peer, a piece of the allowed-fast set we sent it is served (up to a budget).
        const served =
          v.verdict === 'ok' && !params.serving && context.extensions.fast
            ? serveChoked(fast ?? context.fast, r.index, context.torrent.geometry)
            : undefined;
        if (v.verdict === 'reject' || (!params.serving && !served)) {
          if (context.extensions.fast)
            rejects.push({ type: 'reject', index: r.index, begin: r.begin, length: r.length });
          continue;
        }
        if (accepted.length >= room) {
          close = `more than ${context.settings.maxQueuedRequests} requests queued (flood)`;
          break;
        }
        accepted.push(r);
        if (served) fast = served;
      }
      const started = startReads(enqueueUpload(context.uploads, accepted));
      if (started.queue !== context.uploads) enqueue.assign({ uploads: started.queue, ...(fast && { fast }) });
      if (started.read) enqueue.sendTo('reader', started.read);
      if (rejects.length > 0)
        enqueue.sendTo('wire', rejects.length === 1 ? send(rejects[0]!) : { type: 'wire.sendMany', messages: rejects });
      if (close !== undefined) enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: close });
    }),
    /** BEP 6 `allowed-fast` from a fast peer: a piece we may request while it chokes us (bounded). */
    takeAllowedFast: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.allowed-fast' || !context.extensions.fast) return;
      const a = allowFast(context.fast, event.index, context.torrent.geometry.pieceCount);
      if (a.added) enqueue.assign({ fast: a.state });
    }),
    /** BEP 6 `suggest` from a fast peer: a hint for the picker (bounded, newest last). */
    takeSuggest: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.suggest' || !context.extensions.fast) return;
      const next = suggest(context.fast, event.index, context.torrent.geometry.pieceCount);
      if (next !== context.fast) enqueue.assign({ fast: next });
    }),
    /**
     * BEP 6 `reject`: the request goes back to the torrent. A requesting pipeline (`ask`; `choked`: in
     * `requests.fast`) has a free slot now: the same report asks for the top-up (`want`).
     */
    takeReject: enqueueActions(({ context, event, enqueue }, params: { ask?: { choked: boolean } }) => {
      if (event.type !== 'wire.reject') return;
      const r = { index: event.index, begin: event.begin, length: event.length };
      const g = giveUp(context.pipeline, r);
      const ask = params.ask;
      const want = ask ? freeSlots(g.pipeline, depthOf(context)) : 0;
      const extra = want > 0 && ask ? { ...hintsOf(context, ask.choked), ...newHavesOf(context) } : undefined;
      if (g.found) {
        enqueue.assign({ pipeline: g.pipeline, ...(extra && havesTold(context)) });
        enqueue.sendTo(context.report, {
          type: 'peer.returned',
          key: context.key,
          requests: [r],
          ...(extra && { want, ...extra }),
        } satisfies PeerReport);
      } else if (extra) {
        // A reject of nothing outstanding: still a chance to top up, as any reject while requesting.
        enqueue.assign(havesTold(context));
        enqueue.sendTo(context.report, {
          type: 'peer.wants',
          key: context.key,
          count: want,
          ...extra,
        } satisfies PeerReport);
      }
    }),
    /**
     * A bitfield or have-all after the peer said what it has: the pieces it adds go to the torrent as
     * `peer.have`s (aria2 sends these instead of many haves); one that adds nothing or takes a piece
     * back closes the connection (announced.ts).
     */
    takeLaterAnnouncement: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'wire.bitfield' && event.type !== 'wire.have-all') return;
      const later = event.type === 'wire.have-all' ? 'all' : event.bytes;
      const a = laterAnnouncement(context.pieces.announced, later, context.torrent.geometry.pieceCount);
      if (a.kind === 'close') {
        enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: a.detail });
        return;
      }
      // The haves still waiting go first, so the torrent hears every have once and in order.
      const pieces = [...context.pieces.unsent, ...a.indexes];
      enqueue.assign({ pieces: { ...context.pieces, announced: a.announced, unsent: NO_HAVES } });
      enqueue.sendTo(context.report, { type: 'peer.have', key: context.key, pieces } satisfies PeerReport);
    }),
    closeForProtocol: raise((_, params: { detail: string }) => ({
      type: 'peer.close' as const,
      reason: 'protocol-error' as const,
      detail: params.detail,
    })),
    setClose: assign((_, params: { reason: CloseReason; detail?: string }) => ({ close: params })),
  },
}).createMachine({
  id: 'peer',
  context: ({ input }) => ({
    key: input.key,
    address: input.address,
    direction: input.direction,
    torrent: input.torrent,
    report: input.report,
    settings: { ...defaultPeerSettings, ...input.settings },
    transport: input.transport,
    peerId: undefined,
    extensions: { fast: false, extended: false, dht: false },
    ext: emptyExtensionState,
    extMessages: emptyExtMessages,
    pieces: { announced: false, received: 0, unsent: NO_HAVES, ours: new Uint8Array(0) },
    fast: emptyFast,
    pipeline: emptyPipeline,
    uploads: emptyUploads,
    liveness: freshLiveness,
    traffic: {
      down: rateWindow(),
      up: rateWindow(),
      downloaded: 0,
      uploaded: 0,
      lastAt: 0,
      reported: { downloaded: 0, uploaded: 0, moving: false },
      dropped: 0,
    },
    close: undefined,
  }),
  invoke: [
    { id: 'reader', src: 'reader' },
    {
      id: 'wire',
      src: 'wire',
      input: ({ context }): PeerWireInput => ({
        ...(context.direction === 'outgoing'
          ? { connect: { host: context.address.host, port: context.address.port } }
          : { transport: context.transport }),
        handshake: {
          reserved: makeReserved({
            extended: true,
            fast: true,
            dht: context.torrent.dhtPort !== undefined,
            v2: context.torrent.v2 === true,
          }),
          infoHash: context.torrent.infoHash,
          peerId: context.torrent.peerId,
        },
        pieceCount: context.torrent.geometry.pieceCount,
      }),
    },
  ],
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
    'peer.close': {
      target: '.closing',
      actions: {
        type: 'setClose',
        params: ({ event }) => ({ reason: event.reason, ...(event.detail !== undefined && { detail: event.detail }) }),
      },
    },
    // Before the connection is up (or while it is not requesting): requests go back.
    'peer.request': { actions: 'returnRequests' },
    // BEP 52: layers the torrent fetched since this connection began: served from now on (a pure assign).
    'peer.hashTrees': {
      actions: assign({ torrent: ({ context, event }) => ({ ...context.torrent, hashTrees: event.hashTrees }) }),
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
            target: 'admitting',
            actions: [
              assign(({ event }) => ({
                peerId: toHex(event.handshake.peerId),
                extensions: handshakeExtensions(event.handshake.reserved),
              })),
              // An incoming peer spoke first; we answer only once its handshake named our torrent, with
              // the hash it named (BEP 52: a hybrid's v1 or truncated v2 hash).
              enqueueActions(({ context, event, enqueue }) => {
                if (context.direction === 'incoming')
                  enqueue.sendTo('wire', { type: 'wire.sendHandshake', infoHash: event.handshake.infoHash });
              }),
              {
                type: 'report',
                params: ({ event }) => {
                  const { fast, extended, v2 } = handshakeExtensions(event.handshake.reserved);
                  return {
                    type: 'peer.handshake' as const,
                    peerId: event.handshake.peerId,
                    fast,
                    extended,
                    v2,
                    infoHash: event.handshake.infoHash,
                    encryption: event.encryption ?? 'none',
                  };
                },
              },
            ],
          },
        ],
      },
    },
    // The torrent decides on the handshake (a second connection to the same peer id is closed) and
    // answers at once with our pieces as of now, so the bitfield we send misses nothing.
    admitting: {
      // The torrent answers at once (before the socket's next event); the timer only guards against one
      // that never does.
      after: {
        handshakeTimeout: {
          target: 'closing',
          actions: { type: 'setClose', params: { reason: 'timeout', detail: 'admission' } },
        },
      },
      on: {
        'peer.admit': {
          target: 'connected',
          actions: enqueueActions(({ context, event, enqueue }) => {
            enqueue.assign({ pieces: { ...context.pieces, ours: event.have } });
            // BEP 10: our extension messages, how many requests we queue, who we are (before the bitfield).
            if (context.extensions.extended) {
              const offer = offeredExtensions(context.torrent);
              const payload = ourExtensionHandshake({
                reqq: context.settings.maxQueuedRequests,
                registry: EXTENSIONS,
                offer,
                ...(offer.has('ut_metadata') && { metadataSize: context.torrent.metadata!.length }),
                ...(context.torrent.listenPort !== undefined && { port: context.torrent.listenPort }),
              });
              enqueue.sendTo('wire', send({ type: 'extended', id: 0, payload }));
            }
            const pieces = piecesMessage(context, event.have);
            if (pieces) enqueue.sendTo('wire', send(pieces));
            // BEP 6: our allowed-fast set for this peer (the pieces of it we have), after the bitfield.
            if (context.extensions.fast && context.settings.allowedFastSetSize > 0) {
              const f = admitFast(
                context.address.host,
                context.torrent.infoHash,
                context.torrent.geometry,
                context.settings.allowedFastSetSize,
                event.have,
              );
              enqueue.assign({ fast: f.state });
              if (f.send.length > 0)
                enqueue.sendTo('wire', {
                  type: 'wire.sendMany',
                  messages: f.send.map((index) => ({ type: 'allowed-fast' as const, index })),
                });
            }
            // BEP 5: both sides run a DHT: tell the peer our node's port (after the bitfield, which must come first).
            if (context.extensions.dht && context.torrent.dhtPort !== undefined)
              enqueue.sendTo('wire', send({ type: 'port', port: context.torrent.dhtPort }));
          }),
        },
      },
    },
    connected: {
      type: 'parallel',
      on: {
        // BEP 3 and 6: what a peer has is said once, first (a second bitfield would replace what it told
        // us, requests and all) — but for aria2's later bitfields and have-all, which only add pieces.
        'wire.bitfield': [
          { guard: 'hasAnnouncedPieces', actions: ['heard', 'takeLaterAnnouncement'] },
          {
            actions: [
              'heard',
              enqueueActions(({ context, event, enqueue }) => {
                try {
                  Bitfield.fromBytes(event.bytes, context.torrent.geometry.pieceCount);
                } catch (err) {
                  enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: (err as Error).message });
                  return;
                }
                enqueue.assign({ pieces: { ...context.pieces, announced: event.bytes } });
                enqueue.sendTo(context.report, {
                  type: 'peer.bitfield',
                  key: context.key,
                  pieces: event.bytes,
                } satisfies PeerReport);
              }),
            ],
          },
        ],
        'wire.have-all': [
          { guard: 'hasAnnouncedPieces', actions: ['heard', 'takeLaterAnnouncement'] },
          {
            actions: [
              'heard',
              assign({ pieces: ({ context }) => ({ ...context.pieces, announced: 'all' as const }) }),
              { type: 'report', params: { type: 'peer.bitfield', pieces: 'all' } },
            ],
          },
        ],
        'wire.have-none': [
          {
            guard: 'hasAnnouncedPieces',
            actions: [
              'heard',
              { type: 'closeForProtocol', params: { detail: 'have-none after its pieces were announced' } },
            ],
          },
          {
            actions: [
              'heard',
              assign({ pieces: ({ context }) => ({ ...context.pieces, announced: true }) }),
              { type: 'report', params: { type: 'peer.bitfield', pieces: 'none' } },
            ],
          },
        ],
        'wire.have': { actions: ['heard', 'takeHaves'] },
        'wire.haves': { actions: ['heard', 'takeHaves'] },
        'wire.keep-alive': { actions: 'heard' },
        // BEP 5: a peer's DHT node, told to the torrent (and from there to ours) when we run a DHT.
        'wire.port': {
          actions: [
            'heard',
            enqueueActions(({ context, event, enqueue }) => {
              if (context.torrent.dhtPort === undefined || event.port < 1 || event.port > 0xffff) return;
              enqueue.sendTo(context.report, {
                type: 'peer.dhtNode',
                key: context.key,
                port: event.port,
              } satisfies PeerReport);
            }),
          ],
        },
        'wire.unknown': { actions: 'heard' },
        // BEP 52: a peer asks for hashes of a file's merkle tree: hashes or a hash reject (hash-serving.ts).
        'wire.hash-request': {
          actions: [
            'heard',
            enqueueActions(({ context, event, enqueue }) => {
              const r = serveHashRequest(context.torrent.hashTrees, context.extMessages, event);
              enqueue.assign({ extMessages: r.state });
              if (r.answer.kind === 'send') enqueue.sendTo('wire', send(r.answer.message));
              // Base layer 0: the piece's leaves are read from disk first (answered on `hash.leaves`).
              else if (r.answer.kind === 'read') enqueue.sendTo('reader', r.answer.read);
              else enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: r.answer.detail });
            }),
          ],
        },
        // BEP 52: a verified piece's leaves, read for a layer-0 request: hashes with their proof, or a reject.
        'hash.leaves': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const a = answerLeafRequest(context.torrent.hashTrees, event.range, event.leaves);
            const range = hashRangeOf(event.range);
            enqueue.sendTo(
              'wire',
              send(
                a.kind === 'hashes'
                  ? { type: 'hashes', ...range, hashes: a.hashes }
                  : { type: 'hash-reject', ...range },
              ),
            );
          }),
        },
        'hash.leavesFailed': {
          actions: enqueueActions(({ event, enqueue }) =>
            enqueue.sendTo('wire', send({ type: 'hash-reject', ...hashRangeOf(event.range) })),
          ),
        },
        // BEP 52: answers to our hash requests go to the torrent, which checks it asked and that they prove.
        'wire.hashes': {
          actions: [
            'heard',
            enqueueActions(({ context, event, enqueue }) => {
              enqueue.sendTo(context.report, {
                type: 'peer.hashes',
                key: context.key,
                range: hashRangeOf(event),
                hashes: event.hashes,
              } satisfies PeerReport);
            }),
          ],
        },
        'wire.hash-reject': {
          actions: [
            'heard',
            enqueueActions(({ context, event, enqueue }) => {
              enqueue.sendTo(context.report, {
                type: 'peer.hashReject',
                key: context.key,
                range: hashRangeOf(event),
              } satisfies PeerReport);
            }),
          ],
        },
        'wire.extended': {
          actions: [
            'heard',
            enqueueActions(({ context, event, enqueue }) => {
              const m = routeExtended(event.id, event.payload, EXTENSIONS, offeredExtensions(context.torrent));
              if (m.kind === 'extension' && m.name === 'ut_metadata') {
                const r = answerMetadata(
                  context.torrent,
                  context.ext,
                  context.extMessages,
                  m.payload,
                  context.uploads.congested,
                );
                if (r.state !== context.extMessages) enqueue.assign({ extMessages: r.state });
                if (r.answer.kind === 'send')
                  enqueue.sendTo('wire', send({ type: 'extended', id: r.answer.id, payload: r.answer.payload }));
                else if (r.answer.kind === 'close')
                  enqueue.raise({ type: 'peer.close', reason: 'protocol-error', detail: r.answer.detail });
                return;
              }
              if (m.kind === 'extension' && m.name === 'ut_pex') {
                const r = receivePex(context.torrent, context.extMessages, m.payload, event.at);
                enqueue.assign({ extMessages: r.state });
                if (r.peers && r.peers.length > 0)
                  enqueue.sendTo(context.report, {
                    type: 'peer.pexPeers',
                    key: context.key,
                    peers: r.peers,
                  } satisfies PeerReport);
                return;
              }
              if (m.kind !== 'handshake') return;
              // A lower `reqq` than we have requests out: the newest are cancelled and go back.
              const cap = pipelineCap({ ...context, ext: m.state });
              const out = outstanding(context.pipeline);
              let pipeline = context.pipeline;
              const excess = out.slice(cap);
              for (const r of excess) {
                pipeline = giveUp(pipeline, r).pipeline;
                enqueue.sendTo('wire', send({ type: 'cancel', ...r }));
              }
              enqueue.assign({ ext: m.state, pipeline });
              enqueue.sendTo(context.report, {
                type: 'peer.extensions',
                key: context.key,
                pex: offeredExtensions(context.torrent).has('ut_pex') && m.state.peerIds.ut_pex !== undefined,
                port: m.state.port,
              } satisfies PeerReport);
              if (excess.length > 0)
                enqueue.sendTo(context.report, {
                  type: 'peer.returned',
                  key: context.key,
                  requests: excess,
                } satisfies PeerReport);
            }),
          ],
        },
        'wire.cancel': {
          actions: [
            'heard',
            enqueueActions(({ context, event, enqueue }) => {
              const r = { index: event.index, begin: event.begin, length: event.length };
              const uploads = cancelUpload(context.uploads, r);
              if (uploads === context.uploads) return;
              enqueue.assign({ uploads });
              // BEP 6: a cancelled request is answered with a reject (its block, if read now, is not sent).
              if (context.extensions.fast) enqueue.sendTo('wire', send({ type: 'reject', ...r }));
            }),
          ],
        },
        // The answer to one read command: the blocks still wanted (not cancelled, not dropped by a choke)
        // leave as one `wire.sendBlocks`; a failed read still wanted is rejected (BEP 6). The freed read
        // slots start the next reads, as one command.
        'upload.blocks': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const failedAt = event.blocks.length;
            const d = readsDone(context.uploads, [...event.blocks, ...event.failed]);
            const blocks: PieceBlock[] = [];
            let bytes = 0;
            event.blocks.forEach((b, i) => {
              if (!d.found[i]) return;
              blocks.push({ index: b.index, begin: b.begin, block: b.data });
              bytes += b.length;
            });
            const rejects: WireMessage[] = [];
            if (context.extensions.fast)
              event.failed.forEach((f, i) => {
                if (d.found[failedAt + i])
                  rejects.push({ type: 'reject', index: f.index, begin: f.begin, length: f.length });
              });
            const t = context.traffic;
            enqueue.assign({
              uploads: d.queue,
              ...(bytes > 0 && {
                traffic: { ...t, uploaded: t.uploaded + bytes, up: addBytes(t.up, bytes, t.lastAt) },
              }),
            });
            if (blocks.length > 0) enqueue.sendTo('wire', { type: 'wire.sendBlocks', blocks });
            if (rejects.length > 0)
              enqueue.sendTo(
                'wire',
                rejects.length === 1 ? send(rejects[0]!) : { type: 'wire.sendMany', messages: rejects },
              );
            if (d.read) enqueue.sendTo('reader', d.read);
          }),
        },
        // Backpressure: while the socket is backed up no block is read for this peer; its requests wait
        // in the queue (and a peer that never reads ends at the flood cap).
        'wire.congested': { actions: assign({ uploads: ({ context }) => setCongested(context.uploads, true).queue }) },
        'wire.drain': {
          actions: enqueueActions(({ context, enqueue }) => {
            const d = setCongested(context.uploads, false);
            enqueue.assign({ uploads: d.queue });
            if (d.read) enqueue.sendTo('reader', d.read);
          }),
        },
        'peer.announce': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const a = announce(context, event.pieces, event.have);
            enqueue.sendTo('wire', a.send);
            enqueue.assign({ pieces: a.pieces, ...(a.fast !== context.fast && { fast: a.fast }) });
            if (a.reconsider) enqueue.raise({ type: 'peer.reconsider' });
          }),
        },
        // The torrent's tick: the pieces it verified since its last announcement, then the liveness
        // check (one event, one context change).
        'peer.tick': {
          actions: enqueueActions(({ context, event, enqueue, check }) => {
            let c = context;
            let reconsider = false;
            if (event.pieces !== undefined && event.pieces.length > 0 && event.have !== undefined) {
              const a = announce(context, event.pieces, event.have);
              enqueue.sendTo('wire', a.send);
              c = { ...context, pieces: a.pieces, fast: a.fast };
              reconsider = a.reconsider;
            }
            const l = checkLiveness(c.liveness, event.elapsedMs, outstandingCount(c.pipeline) > 0, c.settings);
            const t = c.traffic;
            const now = t.lastAt + l.liveness.silentMs;
            const { downloaded, uploaded, reported } = t;
            const downRate = rateOf(t.down, now);
            const upRate = rateOf(t.up, now);
            const changed = downloaded !== reported.downloaded || uploaded !== reported.uploaded;
            // A requesting pipeline (not starved: that one is snubbed now) is topped up: blocks may have
            // become wanted with no event of ours (another peer closed, a request came back).
            const fast = inState(check, '#peer.connected.requests.fast');
            const requesting = l.verdict === 'alive' && (fast || inState(check, '#peer.connected.requests.active'));
            const want = requesting ? freeSlots(c.pipeline, depthOf(c)) : 0;
            if (changed || reported.moving || want > 0 || c.pieces.unsent.length > 0) {
              enqueue.sendTo(c.report, {
                type: 'peer.stats',
                key: c.key,
                downloaded,
                uploaded,
                downRate,
                upRate,
                ...(want > 0 && { want, ...hintsOf(c, fast) }),
                ...newHavesOf(c),
              } satisfies PeerReport);
            }
            enqueue.assign({
              liveness: l.liveness,
              traffic: { ...t, reported: { downloaded, uploaded, moving: changed || downRate > 0 || upRate > 0 } },
              pieces: c.pieces.unsent.length > 0 ? { ...c.pieces, unsent: NO_HAVES } : c.pieces,
              ...(c.fast !== context.fast && { fast: c.fast }),
            });
            if (l.keepAlive) enqueue.sendTo('wire', send({ type: 'keep-alive' }));
            if (l.verdict === 'silent')
              enqueue.raise({
                type: 'peer.close',
                reason: 'timeout',
                detail: `silent for ${l.liveness.silentMs / 1000} s`,
              });
            // Only a starved verdict changes a state (`active` / `fast` → `snubbed`): an alive check raises
            // nothing (its top-up left in the `peer.stats` above).
            else {
              if (reconsider) enqueue.raise({ type: 'peer.reconsider' });
              if (l.verdict === 'starved') enqueue.raise({ type: 'peer.check', starved: true });
            }
          }),
        },
        // BEP 11: the torrent decides what and when (once a minute); we send it only if both sides speak it.
        'peer.sendPex': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const id = context.ext.peerIds.ut_pex;
            if (id === undefined || !offeredExtensions(context.torrent).has('ut_pex')) return;
            enqueue.sendTo('wire', send({ type: 'extended', id, payload: encodeUtPex(event.message) }));
          }),
        },
        // BEP 52: the torrent asks this peer for hashes of a file's merkle tree (hash-fetch.ts decides).
        'peer.hashRequest': {
          actions: enqueueActions(({ event, enqueue }) => {
            enqueue.sendTo('wire', send({ type: 'hash-request', ...event.range }));
          }),
        },
        'peer.suggest': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            if (!context.extensions.fast || event.pieces.length === 0) return;
            const messages = event.pieces.map((index) => ({ type: 'suggest' as const, index }));
            enqueue.sendTo('wire', { type: 'wire.sendMany', messages });
          }),
        },
        'peer.cancel': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const r = { index: event.index, begin: event.begin, length: event.length };
            const g = giveUp(context.pipeline, r);
            if (!g.found) return;
            enqueue.assign({ pipeline: g.pipeline });
            enqueue.sendTo('wire', send({ type: 'cancel', ...r }));
          }),
        },
      },
      states: {
        amChoking: {
          initial: 'choking',
          states: {
            choking: {
              on: {
                'wire.request': { actions: ['heard', { type: 'takeRequests', params: { serving: false } }] },
                'wire.requests': { actions: ['heard', { type: 'takeRequests', params: { serving: false } }] },
                'peer.unchoke': {
                  target: 'unchoked',
                  actions: [
                    { type: 'sendWire', params: send({ type: 'unchoke' }) },
                    { type: 'reportState', params: { amChoking: false } },
                  ],
                },
              },
            },
            unchoked: {
              on: {
                'wire.request': { actions: ['heard', { type: 'takeRequests', params: { serving: true } }] },
                'wire.requests': { actions: ['heard', { type: 'takeRequests', params: { serving: true } }] },
                'peer.choke': {
                  target: 'choking',
                  actions: [
                    { type: 'sendWire', params: send({ type: 'choke' }) },
                    // Queued requests are discarded (BEP 6 peers are told so with rejects).
                    enqueueActions(({ context, enqueue }) => {
                      const { queue, dropped } = dropAll(context.uploads);
                      enqueue.assign({ uploads: queue });
                      if (context.extensions.fast)
                        for (const r of dropped) enqueue.sendTo('wire', send({ type: 'reject', ...r }));
                    }),
                    { type: 'reportState', params: { amChoking: true } },
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
                  actions: ['heard', { type: 'reportState', params: { peerInterested: true } }],
                },
                'wire.not-interested': { actions: 'heard' },
              },
            },
            interested: {
              on: {
                'wire.not-interested': {
                  target: 'notInterested',
                  actions: ['heard', { type: 'reportState', params: { peerInterested: false } }],
                },
                'wire.interested': { actions: 'heard' },
              },
            },
          },
        },
        amInterested: {
          initial: 'notInterested',
          states: {
            notInterested: {
              on: {
                'peer.interest': {
                  guard: 'wantsInterest',
                  target: 'interested',
                  actions: [{ type: 'sendWire', params: send({ type: 'interested' }) }, 'reconsider'],
                },
              },
            },
            interested: {
              on: {
                'peer.interest': {
                  guard: 'wantsNoInterest',
                  target: 'notInterested',
                  actions: [{ type: 'sendWire', params: send({ type: 'not-interested' }) }, 'reconsider'],
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
                'wire.unchoke': { target: 'unchoked', actions: ['heard', 'reconsider'] },
                'wire.choke': { actions: 'heard' },
              },
            },
            unchoked: {
              on: {
                'wire.unchoke': { actions: 'heard' },
                'wire.choke': [
                  // BEP 6: a fast peer rejects our pending requests itself; keep them until it does.
                  { guard: 'isFast', target: 'choked', actions: ['heard', 'reconsider'] },
                  // BEP 3: a choke discards our pending requests.
                  { target: 'choked', actions: ['heard', 'giveUpAll', 'reconsider'] },
                ],
              },
            },
          },
        },
        requests: {
          initial: 'idle',
          on: {
            // Blocks while idle (late, after a choke) are still taken if we asked for them.
            'wire.piece': { actions: { type: 'receiveBlocks', params: { requesting: false } } },
            'wire.pieces': { actions: { type: 'receiveBlocks', params: { requesting: false } } },
            'wire.reject': { actions: ['heard', { type: 'takeReject', params: {} }] },
            // BEP 6 hints (ignored from a peer without the fast bit); a new allowed piece may start `fast`.
            'wire.allowed-fast': { actions: ['heard', 'takeAllowedFast', 'reconsider'] },
            'wire.suggest': { actions: ['heard', 'takeSuggest'] },
          },
          states: {
            idle: {
              on: {
                'peer.reconsider': [
                  { guard: 'canRequest', target: 'active' },
                  { guard: 'canRequestFast', target: 'fast' },
                ],
              },
            },
            active: {
              entry: { type: 'askForBlocks', params: { choked: false } },
              on: {
                'peer.reconsider': [
                  // BEP 6: choked by a peer that allows us some pieces: keep asking for those.
                  { guard: 'canRequestFast', target: 'fast' },
                  { guard: 'isStalled', target: 'idle' },
                ],
                'peer.request': { actions: { type: 'sendRequests', params: { choked: false } } },
                // A rejected request leaves a free slot (the torrent picks something else).
                'wire.reject': {
                  actions: ['heard', { type: 'takeReject', params: { ask: { choked: false } } }],
                },
                'peer.refill': { actions: { type: 'askForBlocks', params: { choked: false } } },
                'wire.piece': { actions: { type: 'receiveBlocks', params: { requesting: true } } },
                'wire.pieces': { actions: { type: 'receiveBlocks', params: { requesting: true } } },
                // Raised only when starved; an alive check's top-up rides on its `peer.stats` report.
                'peer.check': { guard: 'isStarved', target: 'snubbed' },
              },
            },
            // BEP 6: the peer chokes us but allows us pieces (`allowed-fast`): requests only for those.
            fast: {
              entry: { type: 'askForBlocks', params: { choked: true } },
              on: {
                'peer.reconsider': [
                  { guard: 'canRequest', target: 'active' },
                  { guard: 'cannotRequestFast', target: 'idle' },
                ],
                'peer.request': { actions: { type: 'sendRequests', params: { choked: true } } },
                'wire.reject': { actions: ['heard', { type: 'takeReject', params: { ask: { choked: true } } }] },
                'wire.allowed-fast': {
                  actions: ['heard', 'takeAllowedFast', { type: 'askForBlocks', params: { choked: true } }],
                },
                'peer.refill': { actions: { type: 'askForBlocks', params: { choked: true } } },
                'wire.piece': { actions: { type: 'receiveBlocks', params: { requesting: true, choked: true } } },
                'wire.pieces': { actions: { type: 'receiveBlocks', params: { requesting: true, choked: true } } },
                'peer.check': { guard: 'isStarved', target: 'snubbed' },
              },
            },
            snubbed: {
              // Its requests go elsewhere; it is asked again once it delivers a block, or after a choke and
              // an unchoke (otherwise a snubbed peer that discarded our requests is never asked again).
              entry: ['giveUpAll', { type: 'reportState', params: { snubbed: true } }],
              exit: { type: 'reportState', params: { snubbed: false } },
              on: {
                'peer.reconsider': [
                  { guard: 'isStalled', target: 'idle' },
                  { guard: 'hasDeliveredAgain', target: 'active' },
                ],
                'wire.piece': { actions: [{ type: 'receiveBlocks', params: { requesting: false } }, 'reconsider'] },
                'wire.pieces': { actions: [{ type: 'receiveBlocks', params: { requesting: false } }, 'reconsider'] },
              },
            },
          },
        },
      },
    },
    closing: {
      entry: { type: 'sendWire', params: { type: 'wire.close' } },
      always: 'closed',
    },
    closed: {
      type: 'final',
      entry: [
        // The socket goes before the torrent hears of it (it may dial another peer in its place at once).
        stopChild('wire'),
        stopChild('reader'),
        {
          type: 'report',
          params: ({ context }) => ({
            type: 'peer.closed' as const,
            reason: context.close?.reason ?? 'closed-by-peer',
            ...(context.close?.detail !== undefined && { detail: context.close.detail }),
            downloaded: context.traffic.downloaded,
            uploaded: context.traffic.uploaded,
          }),
        },
      ],
    },
  },
});

/** The rates of a peer actor's context as of its latest event (the inspector and tests read them). */
export function peerRates(c: PeerContext): { down: number; up: number } {
  const now = nowOf(c);
  return { down: rateOf(c.traffic.down, now), up: rateOf(c.traffic.up, now) };
}

export type PeerMachine = typeof peerMachine;
