/**
 * One torrent as an actor: checking → downloading → complete, stopping → stopped, or error.
 *
 * It owns its peer actors (spawned, at most `maxConnections`, no duplicates, reconnects with backoff),
 * its announcer (BEP 12 trackers), and the shared structures the peers work on — the piece picker and
 * the piece buffers — held by reference. Disk work goes through the invoked `storage` actor
 * (src/io/storage-actor.ts): it checks existing data first, then verifies and writes each piece the
 * peers complete.
 */
import { assign, enqueueActions, fromCallback, setup, stopChild, type AnyActorRef } from 'xstate';
import { Bitfield } from '../../protocol/bitfield.js';
import { peerKey, type PeerAddress } from '../../protocol/peer-address.js';
import { announcerMachine, type AnnouncerReport } from '../tracker/announcer.machine.js';
import type { TrackerSettings } from '../tracker/types.js';
import { chokerMachine, type ChokerReport, type ChokerSettings } from '../choker/choker.machine.js';
import { peerMachine } from '../peer/peer.machine.js';
import type { CloseReason, PeerCommand, PeerReport, PeerServices, PeerSettings } from '../peer/types.js';
import { PeerBook } from './peer-book.js';
import { PieceBuffers } from './piece-buffers.js';
import { PiecePicker } from './piece-picker.js';
import type { StorageCommand, StorageEvent } from '../../protocol/storage-types.js';

/** What the torrent actor needs to know of its metainfo (a subset of `Metainfo`). */
export interface TorrentInfo {
  infoHash: Uint8Array;
  infoHashHex: string;
  name: string;
  length: number;
  pieceLength: number;
  pieceCount: number;
  announce: string[][];
}

export interface TorrentSettings {
  maxConnections: number;
  /** How often peers are (re)dialled and counters published. */
  tickMs: number;
  peer: Partial<PeerSettings>;
  tracker: Partial<TrackerSettings>;
  choker: Partial<ChokerSettings>;
  /** Time allowed for stopping (trackers' `stopped`, flushing files). */
  stopTimeoutMs: number;
}

export const defaultTorrentSettings: TorrentSettings = {
  maxConnections: 50,
  tickMs: 1_000,
  peer: {},
  tracker: {},
  choker: {},
  stopTimeoutMs: 5_000,
};

export interface TorrentInput {
  info: TorrentInfo;
  peerId: Uint8Array;
  /** Peers to dial besides those the trackers give (`--peer`). */
  peers?: PeerAddress[];
  settings?: Partial<TorrentSettings>;
  /** Tie-break randomness of the picker (tests inject a seeded one). */
  random?: () => number;
  /** Our own listening addresses (`host:port` keys): trackers list us too, and we never dial ourselves. */
  selfKeys?: string[];
}

/** Counters updated on the hot path without `assign`; published in `context.progress` every tick. */
export interface TorrentCounters {
  downloaded: number;
  uploaded: number;
  /** Bytes of pieces that failed their hash. */
  wasted: number;
  hashFailures: number;
}

/** A snapshot-friendly summary, refreshed every tick and on every verified piece. */
export interface TorrentProgress {
  verifiedPieces: number;
  pieceCount: number;
  left: number;
  length: number;
  downloaded: number;
  uploaded: number;
  wasted: number;
  hashFailures: number;
  peersConnected: number;
  peersKnown: number;
  checked: number;
}

export type TorrentReport =
  | { type: 'torrent.checking'; checked: number; total: number; valid: number }
  | { type: 'torrent.ready'; have: number; total: number }
  | { type: 'torrent.piece'; index: number }
  | { type: 'torrent.hashFailed'; index: number; peers: string[]; banned: string[] }
  | { type: 'torrent.peer'; key: string; event: 'connected' | 'closed'; reason?: CloseReason; detail?: string }
  | { type: 'torrent.complete' }
  | { type: 'torrent.error'; code: string; message: string }
  | AnnouncerReport;

/** Events from and commands to the storage actor (src/io/storage-actor.ts). */
export type { StorageCommand, StorageEvent } from '../../protocol/storage-types.js';

export type TorrentEvent =
  | StorageEvent
  | PeerReport
  | AnnouncerReport
  | { type: 'torrent.addPeers'; peers: PeerAddress[] }
  /** An accepted connection for this torrent (its handshake named our info hash); `transport` is opaque. */
  | { type: 'torrent.incoming'; address: PeerAddress; transport: unknown }
  | ChokerReport
  | { type: 'torrent.stop' }
  | { type: 'torrent.tick' }
  /** Internal: a piece was verified (raised; `downloading` checks whether that completed the torrent). */
  | { type: 'torrent.verified' };

export interface TorrentContext {
  info: TorrentInfo;
  peerId: Uint8Array;
  settings: TorrentSettings;
  random: () => number;
  /** Created when checking is done (the picker starts from the verified pieces). */
  services: PeerServices | undefined;
  book: PeerBook;
  /** Peer actors by address key → child actor id (a plain Map held by reference). */
  peers: Map<string, string>;
  /** Peer ids (hex) of connections past their handshake, to refuse duplicates. */
  peerIds: Map<string, string>;
  counters: TorrentCounters;
  progress: TorrentProgress;
  error: { code: string; message: string } | undefined;
  selfKeys: Set<string>;
  spawned: number;
  /** The announcer child exists (it is spawned once checking is done). */
  announcing: boolean;
  /** Shutdown steps still running (announcer, storage). */
  stopsPending: number;
}

/**
 * Sends to a peer child only while it runs: a peer that has just closed is still in `peers` until its
 * `peer.closed` report is processed, and XState warns about events sent to a stopped actor.
 */
function toPeer(
  enqueue: { sendTo: (to: string, event: PeerCommand) => void },
  self: AnyActorRef,
  id: string,
  event: PeerCommand,
): void {
  const child = (self.getSnapshot() as { children: Record<string, AnyActorRef | undefined> }).children[id];
  if (child?.getSnapshot().status === 'active') enqueue.sendTo(id, event);
}

const storageNotProvided = fromCallback<StorageCommand>(() => {
  throw new Error('torrent machine: no storage actor provided (provide storageActor from src/io)');
});

/** Close reasons after which an address is never dialled again. */
const FATAL: ReadonlySet<CloseReason> = new Set(['self', 'info-hash-mismatch', 'bad-data', 'not-useful']);

function snapshotProgress(ctx: TorrentContext): TorrentProgress {
  const p = ctx.services?.picker;
  return {
    verifiedPieces: p?.verifiedCount ?? 0,
    pieceCount: ctx.info.pieceCount,
    left: p?.left ?? ctx.info.length,
    length: ctx.info.length,
    downloaded: ctx.counters.downloaded,
    uploaded: ctx.counters.uploaded,
    wasted: ctx.counters.wasted,
    hashFailures: ctx.counters.hashFailures,
    peersConnected: ctx.peers.size,
    peersKnown: ctx.book.size,
    checked: ctx.progress.checked,
  };
}

export const torrentMachine = setup({
  types: {
    input: {} as TorrentInput,
    context: {} as TorrentContext,
    events: {} as TorrentEvent,
    emitted: {} as TorrentReport,
  },
  actors: { storage: storageNotProvided, peer: peerMachine, announcer: announcerMachine, choker: chokerMachine },
  delays: {
    tick: ({ context }) => context.settings.tickMs,
    stopTimeout: ({ context }) => context.settings.stopTimeoutMs,
  },
  guards: {
    isComplete: ({ context }) => context.services?.picker.isComplete ?? false,
  },
  actions: {
    publish: assign(({ context }) => ({ progress: snapshotProgress(context) })),
    /** Dials known peers up to the connection limit. */
    connectMore: enqueueActions(({ context, enqueue }) => {
      // Complete torrents dial too: some leechers (Transmission on loopback) only get data when dialled.
      const services = context.services;
      if (!services) return;
      const free = context.settings.maxConnections - context.peers.size;
      for (const rec of context.book.candidates(free)) {
        if (context.selfKeys.has(rec.key)) {
          context.book.markDead(rec.key);
          continue;
        }
        context.book.markConnecting(rec.key);
        const id = `peer:${rec.key}#${++context.spawned}`;
        enqueue.spawnChild('peer', {
          id,
          input: { key: rec.key, address: rec.address, direction: 'outgoing', services, settings: context.settings.peer },
        });
        context.peers.set(rec.key, id);
      }
    }),
    emitReport: enqueueActions(({ enqueue }, report: TorrentReport) => {
      enqueue.emit(report);
    }),
  },
}).createMachine({
  id: 'torrent',
  context: ({ input }) => {
    const settings = { ...defaultTorrentSettings, ...input.settings };
    const book = new PeerBook();
    const selfKeys = new Set(input.selfKeys ?? []);
    for (const p of input.peers ?? []) book.add(p);
    const ctx: TorrentContext = {
      info: input.info,
      peerId: input.peerId,
      settings,
      random: input.random ?? Math.random,
      services: undefined,
      book,
      peers: new Map(),
      peerIds: new Map(),
      counters: { downloaded: 0, uploaded: 0, wasted: 0, hashFailures: 0 },
      progress: undefined as unknown as TorrentProgress,
      error: undefined,
      selfKeys,
      spawned: 0,
      announcing: false,
      stopsPending: 0,
    };
    ctx.progress = { ...snapshotProgress({ ...ctx, progress: { checked: 0 } as TorrentProgress }), checked: 0 };
    return ctx;
  },
  invoke: { id: 'storage', src: 'storage' },
  initial: 'checking',
  on: {
    'storage.error': {
      target: '.error',
      actions: [
        assign(({ event }) => ({ error: { code: event.code, message: event.message } })),
        {
          type: 'emitReport',
          params: ({ event }) => ({ type: 'torrent.error' as const, code: event.code, message: event.message }),
        },
      ],
    },
  },
  states: {
    checking: {
      on: {
        'storage.checkProgress': {
          actions: [
            assign(({ context, event }) => ({ progress: { ...context.progress, checked: event.checked } })),
            {
              type: 'emitReport',
              params: ({ event }) => ({
                type: 'torrent.checking' as const,
                checked: event.checked,
                total: event.total,
                valid: event.valid,
              }),
            },
          ],
        },
        'storage.ready': {
          target: 'active',
          actions: [
            assign(({ context, event }) => {
              const have = Bitfield.fromBytes(event.have, context.info.pieceCount);
              const picker = new PiecePicker<string>({
                pieceLength: context.info.pieceLength,
                length: context.info.length,
                have,
                random: context.random,
              });
              const buffers = new PieceBuffers((i) => picker.pieceBytes(i));
              return {
                services: {
                  infoHash: context.info.infoHash,
                  peerId: context.peerId,
                  pieceCount: context.info.pieceCount,
                  picker,
                  buffers,
                  counters: context.counters,
                  registry: new Map(),
                },
              };
            }),
            'publish',
            {
              type: 'emitReport',
              params: ({ context }) => ({
                type: 'torrent.ready' as const,
                have: context.progress.verifiedPieces,
                total: context.info.pieceCount,
              }),
            },
          ],
        },
        'torrent.stop': 'stopping',
      },
    },
    active: {
      initial: 'routing',
      entry: enqueueActions(({ context, enqueue, self }) => {
        enqueue.spawnChild('announcer', {
          id: 'announcer',
          input: {
            tiers: context.info.announce,
            stats: () => {
              const p = context.services!.picker;
              return { uploaded: context.counters.uploaded, downloaded: context.counters.downloaded, left: p.left };
            },
            settings: context.settings.tracker,
            report: self,
          },
        });
        enqueue.sendTo('announcer', { type: 'announcer.start' });
        enqueue.spawnChild('choker', {
          id: 'choker',
          input: {
            registry: context.services!.registry,
            seeding: () => context.services!.picker.isComplete,
            settings: context.settings.choker,
            random: context.random,
          },
        });
        enqueue(assign({ announcing: true }));
      }),
      on: {
        'announcer.peers': {
          actions: [
            ({ context, event }) => {
              for (const p of event.peers) context.book.add(p);
            },
            { type: 'emitReport', params: ({ event }) => event },
            'connectMore',
          ],
        },
        'announcer.tracker': { actions: { type: 'emitReport', params: ({ event }) => event } },
        'torrent.addPeers': {
          actions: [
            ({ context, event }) => {
              for (const p of event.peers) context.book.add(p);
            },
            'connectMore',
          ],
        },
        'peer.handshake': {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            const id = Buffer.from(event.peerId).toString('hex');
            for (const [key, other] of context.peerIds) {
              if (other === id && key !== event.key) {
                const ref = context.peers.get(event.key);
                if (ref) toPeer(enqueue, self, ref, { type: 'peer.close', reason: 'duplicate' });
                return;
              }
            }
            context.peerIds.set(event.key, id);
            enqueue({ type: 'emitReport', params: { type: 'torrent.peer', key: event.key, event: 'connected' } });
          }),
        },
        'peer.closed': {
          actions: [
            enqueueActions(({ context, event, enqueue, self }) => {
              const ref = context.peers.get(event.key);
              context.peers.delete(event.key);
              context.peerIds.delete(event.key);
              context.book.markClosed(event.key, { useful: event.downloaded > 0, retry: !FATAL.has(event.reason) });
              if (ref) enqueue(stopChild(ref));
              // Its requests went back to wanted: let the others take them now.
              for (const other of context.peers.values()) toPeer(enqueue, self, other, { type: 'peer.refill' });
              enqueue({
                type: 'emitReport',
                params: {
                  type: 'torrent.peer',
                  key: event.key,
                  event: 'closed',
                  reason: event.reason,
                  ...(event.detail !== undefined && { detail: event.detail }),
                },
              });
            }),
            'connectMore',
          ],
        },
        'choker.unchoke': {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            const unchoke = new Set(event.keys);
            for (const [key, view] of context.services!.registry) {
              const ref = context.peers.get(key);
              if (!ref) continue;
              if (unchoke.has(key) && view.amChoking) toPeer(enqueue, self, ref, { type: 'peer.unchoke' });
              else if (!unchoke.has(key) && !view.amChoking) toPeer(enqueue, self, ref, { type: 'peer.choke' });
            }
          }),
        },
        'peer.interested': { actions: enqueueActions(({ enqueue }) => enqueue.sendTo('choker', { type: 'choker.fill' })) },
        'torrent.incoming': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const key = peerKey(event.address);
            const rec = context.book.add(event.address, { dialable: false });
            if (rec.banned || context.peers.has(key) || context.peers.size >= context.settings.maxConnections) return;
            context.book.markConnecting(key);
            const id = `peer:${key}#${++context.spawned}`;
            enqueue.spawnChild('peer', {
              id,
              input: { key, address: event.address, direction: 'incoming', services: context.services!, settings: context.settings.peer, transport: event.transport },
            });
            context.peers.set(key, id);
          }),
        },
        'peer.cancelElsewhere': {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            for (const key of event.peers) {
              const ref = context.peers.get(key);
              if (ref)
                toPeer(enqueue, self, ref, {
                  type: 'peer.cancel',
                  index: event.index,
                  begin: event.begin,
                  length: event.length,
                });
            }
          }),
        },
        'peer.pieceComplete': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            const data = context.services!.buffers.take(event.index);
            if (data) enqueue.sendTo('storage', { type: 'storage.write', index: event.index, data });
          }),
        },
        'storage.verified': {
          actions: [
            enqueueActions(({ context, event, enqueue, self }) => {
              const { picker, buffers } = context.services!;
              buffers.done(event.index);
              enqueue.raise({ type: 'torrent.verified' });
              for (const { peer, request } of picker.pieceVerified(event.index)) {
                const ref = context.peers.get(peer);
                if (ref) toPeer(enqueue, self, ref, { type: 'peer.cancel', ...request });
              }
              for (const ref of context.peers.values())
                toPeer(enqueue, self, ref, { type: 'peer.have', index: event.index });
              enqueue({ type: 'emitReport', params: { type: 'torrent.piece', index: event.index } });
            }),
            'publish',
          ],
        },
        'storage.hashFailed': {
          actions: [
            enqueueActions(({ context, event, enqueue, self }) => {
              const { picker, buffers } = context.services!;
              buffers.done(event.index);
              const contributors = picker.pieceFailed(event.index);
              context.counters.hashFailures++;
              context.counters.wasted += picker.pieceBytes(event.index);
              const banned: string[] = [];
              for (const key of contributors) {
                if (context.book.strike(key, contributors.length === 1)) {
                  banned.push(key);
                  const ref = context.peers.get(key);
                  if (ref)
                    toPeer(enqueue, self, ref, {
                      type: 'peer.close',
                      reason: 'bad-data',
                      detail: `piece ${event.index} failed its hash`,
                    });
                }
              }
              // The piece's blocks are wanted again: let every other peer ask for them.
              for (const [key, ref] of context.peers) {
                if (!banned.includes(key)) toPeer(enqueue, self, ref, { type: 'peer.refill' });
              }
              enqueue({
                type: 'emitReport',
                params: { type: 'torrent.hashFailed', index: event.index, peers: contributors, banned },
              });
            }),
            'publish',
          ],
        },
        'torrent.stop': '#torrent.stopping',
      },
      states: {
        routing: {
          always: [{ guard: 'isComplete', target: 'complete' }, { target: 'downloading' }],
        },
        downloading: {
          entry: 'connectMore',
          // Only a verified piece completes the torrent (checked after the picker took it in).
          on: { 'torrent.verified': { guard: 'isComplete', target: 'complete' } },
          after: {
            tick: {
              target: 'downloading',
              reenter: true,
              actions: [({ context }) => context.book.tick(context.settings.tickMs), 'publish'],
            },
          },
        },
        complete: {
          entry: [
            'publish',
            enqueueActions(({ context, enqueue, self }) => {
              enqueue.sendTo('announcer', { type: 'announcer.completed' });
              // Seeds have nothing to give us and want nothing from us; leechers stay to be served.
              const { picker } = context.services!;
              for (const [key, ref] of context.peers) {
                if (picker.isSeed(key)) toPeer(enqueue, self, ref, { type: 'peer.close', reason: 'not-useful' });
              }
              enqueue({ type: 'emitReport', params: { type: 'torrent.complete' } });
            }),
          ],
          initial: 'seeding',
          states: {
            seeding: {
              after: {
                tick: {
                  target: 'seeding',
                  reenter: true,
                  actions: [({ context }) => context.book.tick(context.settings.tickMs), 'publish', 'connectMore'],
                },
              },
            },
          },
        },
      },
    },
    stopping: {
      entry: [
        assign(({ context }) => ({ stopsPending: context.announcing ? 2 : 1 })),
        enqueueActions(({ context, enqueue, self }) => {
          for (const ref of context.peers.values()) toPeer(enqueue, self, ref, { type: 'peer.close', reason: 'shutdown' });
          if (context.announcing) {
            enqueue.sendTo('announcer', { type: 'announcer.stop' });
            enqueue(stopChild('choker'));
          }
          enqueue.sendTo('storage', { type: 'storage.close' });
        }),
      ],
      always: { guard: ({ context }) => context.stopsPending <= 0, target: 'stopped' },
      after: { stopTimeout: 'stopped' },
      on: {
        'storage.closed': { actions: assign(({ context }) => ({ stopsPending: context.stopsPending - 1 })) },
        'xstate.done.actor.announcer': { actions: assign(({ context }) => ({ stopsPending: context.stopsPending - 1 })) },
        'announcer.tracker': { actions: { type: 'emitReport', params: ({ event }) => event } },
        'peer.closed': {
          actions: ({ context, event }) => {
            context.peers.delete(event.key);
          },
        },
      },
    },
    stopped: { type: 'final', entry: 'publish' },
    error: { type: 'final', entry: 'publish' },
  },
});

export type TorrentMachine = typeof torrentMachine;
export { peerKey };
