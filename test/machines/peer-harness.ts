/**
 * Drives the peer statechart alone, with no network: a fake `wire` actor that records every command
 * the machine sends and lets the test push `wire.*` events, a fake block reader that records reads and
 * lets the test answer them, a parent that records the peer's reports (the test plays the torrent:
 * it sends `peer.*` commands itself), and a simulated clock.
 */
import { createActor, fromCallback, setup, SimulatedClock, type ActorRefFrom, type AnyEventObject } from 'xstate';
import { peerMachine } from '../../src/machines/peer/peer.machine.js';
import type { PeerCommand, PeerInput, PeerReport, PeerSettings, PeerTorrent } from '../../src/machines/peer/types.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
import type {
  BlockReadCommand,
  LeafReadCommand,
  ReaderCommand,
  BlockReadEvent,
  PeerWireCommand,
  PeerWireEvent,
  PeerWireInput,
} from '../../src/protocol/peer-wire-types.js';
import type { WireMessage } from '../../src/protocol/wire.js';

export const PIECE = 32 * 1024;
export const BLOCK = 16 * 1024;
export const PIECES = 4;

/** Short timers so tests step through them quickly; every one differs so none masks another. */
export const testSettings: PeerSettings = {
  connectTimeoutMs: 10_000,
  handshakeTimeoutMs: 8_000,
  keepAliveIntervalMs: 120_000,
  silenceLimitMs: 180_000,
  snubTimeoutMs: 60_000,
  queueSeconds: 3,
  minQueue: 2,
  maxQueue: 4,
  maxRequestLength: 16 * 1024,
  maxQueuedRequests: 500,
  allowedFastSetSize: 0,
};

/**
 * The torrent's tick as the harness plays it: `advance` sends `peer.tick` every 5 s of the clock from
 * the peer's admission (the real torrent ticks every second; 5 s differs from every timer above).
 */
export const TICK_MS = 5_000;

export const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
export const INFO_HASH = bytes(20, 0xaa);
export const OUR_ID = bytes(20, 0x01);
export const THEIR_ID = bytes(20, 0x02);
/** Reserved bytes: none, BEP 6 fast, BEP 10 extended. */
export const NO_EXT = new Uint8Array(8);
export const FAST = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x04]);
export const EXTENDED = Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 0]);

/** A `wire.*` event without its timestamp (the harness stamps it with the simulated clock). */
export type WireIn = PeerWireEvent extends infer E ? (E extends { at: number } ? Omit<E, 'at'> : never) : never;

export interface StartOptions {
  direction?: PeerInput['direction'];
  settings?: Partial<PeerSettings>;
  transport?: unknown;
  pieces?: number;
  /** What the torrent offers over BEP 10 (default: nothing — no metadata, no PEX). */
  torrent?: Pick<
    PeerTorrent,
    'private' | 'metadata' | 'pex' | 'listenPort' | 'dhtPort' | 'hybridV2Hash' | 'hashTrees' | 'v2'
  >;
  /** Called with each command the wire receives, and the peer's snapshot at that moment. */
  onCommand?: (cmd: PeerWireCommand, peer: ReturnType<ActorRefFrom<typeof peerMachine>['getSnapshot']>) => void;
  /** Called with each read the reader receives, and the peer's snapshot at that moment. */
  onRead?: (cmd: BlockReadCommand, peer: ReturnType<ActorRefFrom<typeof peerMachine>['getSnapshot']>) => void;
}

export const KEY = '10.0.0.2:6881';

export function bitfieldOf(pieces: number[], count = PIECES): Uint8Array {
  const b = new Bitfield(count);
  for (const i of pieces) b.set(i);
  return b.toBytes();
}

export function startPeer(opts: StartOptions = {}) {
  const clock = new SimulatedClock();
  const pieceCount = opts.pieces ?? PIECES;
  /** Our pieces as the torrent told the peer (admission and announcements). */
  const ours = new Set<number>();
  const wire = {
    input: undefined as PeerWireInput | undefined,
    commands: [] as PeerWireCommand[],
    sendBack: undefined as ((e: AnyEventObject) => void) | undefined,
    started: 0,
    stopped: false,
  };
  const fakeWire = fromCallback<PeerWireCommand, PeerWireInput>(({ input, sendBack, receive }) => {
    wire.started++;
    wire.input = input;
    wire.sendBack = sendBack;
    receive((cmd) => {
      wire.commands.push(cmd);
      opts.onCommand?.(cmd, current());
    });
    return () => void (wire.stopped = true);
  });
  const reader = {
    reads: [] as BlockReadCommand[],
    /** BEP 52: the pieces whose leaves were asked (layer-0 hash requests). */
    leafReads: [] as LeafReadCommand[],
    sendBack: undefined as ((e: BlockReadEvent) => void) | undefined,
  };
  const fakeReader = fromCallback<ReaderCommand>(({ sendBack, receive }) => {
    reader.sendBack = sendBack;
    receive((cmd) => {
      if (cmd.type === 'hash.leaves') return void reader.leafReads.push(cmd);
      reader.reads.push(cmd);
      opts.onRead?.(cmd, current());
    });
  });

  const received: AnyEventObject[] = [];
  // The peer actor's snapshot (the callbacks above run only once it exists).
  const current = () => (parent.getSnapshot().children.peer as ActorRefFrom<typeof peerMachine>).getSnapshot();
  const input: Omit<PeerInput, 'report'> = {
    key: KEY,
    address: { host: '10.0.0.2', port: 6881, family: 4 },
    direction: opts.direction ?? 'outgoing',
    torrent: {
      infoHash: INFO_HASH,
      peerId: OUR_ID,
      geometry: { length: PIECE * pieceCount, pieceLength: PIECE, pieceCount },
      ...opts.torrent,
    },
    settings: { ...testSettings, ...opts.settings },
    ...(opts.transport !== undefined && { transport: opts.transport }),
  };
  const parentMachine = setup({
    actors: { peer: peerMachine.provide({ actors: { wire: fakeWire, reader: fakeReader } }) },
  }).createMachine({
    invoke: { id: 'peer', src: 'peer', input: ({ self }) => ({ ...input, report: self }) },
    on: { '*': { actions: ({ event }) => void received.push(event) } },
  });
  const parent = createActor(parentMachine, { clock });
  parent.start();
  const peer = parent.getSnapshot().children.peer as ActorRefFrom<typeof peerMachine>;

  /** Clock time since the last `peer.tick` (or the admission). */
  let sinceTick = 0;
  const h = {
    clock,
    key: KEY,
    wire,
    reader,
    parent,
    peer,
    /** Pushes a `wire.*` event from the fake bridge into the peer actor, stamped with the clock. */
    push(e: WireIn) {
      if (!wire.sendBack) throw new Error('no wire actor running');
      wire.sendBack({ ...e, at: clock.now() });
    },
    /** A command from the torrent. */
    send(cmd: PeerCommand) {
      if (cmd.type === 'peer.admit') sinceTick = 0;
      peer.send(cmd);
    },
    /** Answers a read of the fake block reader. */
    answer(e: BlockReadEvent) {
      reader.sendBack!(e);
    },
    /**
     * Advances the simulated clock in steps (SimulatedClock fires each timer at most once per step),
     * sending the torrent's `peer.tick` each {@link TICK_MS} since the admission.
     */
    advance(ms: number, step = 1000) {
      for (let t = 0; t < ms; t += step) {
        const dt = Math.min(step, ms - t);
        clock.increment(dt);
        sinceTick += dt;
        while (sinceTick >= TICK_MS) {
          sinceTick -= TICK_MS;
          if (peer.getSnapshot().status === 'active') peer.send({ type: 'peer.tick', elapsedMs: TICK_MS });
        }
      }
    },
    snapshot: () => peer.getSnapshot(),
    value: () => peer.getSnapshot().value as unknown,
    status: () => peer.getSnapshot().status,
    /** The `wire.send` messages sent so far, optionally of one type. */
    messages<T extends WireMessage['type']>(type?: T): Extract<WireMessage, { type: T }>[] {
      const all = wire.commands.flatMap((c) =>
        c.type === 'wire.send' ? [c.message] : c.type === 'wire.sendMany' ? c.messages : [],
      );
      return (type ? all.filter((m) => m.type === type) : all) as Extract<WireMessage, { type: T }>[];
    },
    /** The peer's reports to its parent (`peer.*`). */
    reports<T extends PeerReport['type']>(type?: T): Extract<PeerReport, { type: T }>[] {
      const all = received.filter((e) => e.type.startsWith('peer.')) as PeerReport[];
      return (type ? all.filter((r) => r.type === type) : all) as Extract<PeerReport, { type: T }>[];
    },
    /** Errors the peer actor raised (always expected to be none). */
    errors: () => received.filter((e) => e.type.startsWith('xstate.error.')),
    received,
    /** Outgoing: connect and exchange handshakes; ends in `admitting` (the torrent answers with `peer.admit`). */
    handshake(reserved: Uint8Array = NO_EXT) {
      h.push({ type: 'wire.connected' });
      h.push({ type: 'wire.handshake', handshake: { reserved, infoHash: INFO_HASH, peerId: THEIR_ID } });
    },
    /** Handshake and admission with our pieces `have`: ends in `connected`. */
    connect(reserved: Uint8Array = NO_EXT, have: number[] = []) {
      h.handshake(reserved);
      for (const i of have) ours.add(i);
      h.send({ type: 'peer.admit', have: bitfieldOf(have, pieceCount) });
    },
    /** The torrent verified `pieces`: `peer.announce` with our pieces so far (admitted and announced). */
    announce(...pieces: number[]) {
      for (const i of pieces) ours.add(i);
      h.send({ type: 'peer.announce', pieces, have: bitfieldOf([...ours], pieceCount) });
    },
    bitfield(pieces: number[]) {
      h.push({ type: 'wire.bitfield', bytes: bitfieldOf(pieces, pieceCount) });
    },
    /** Delivers the block of a request (payload filled with the piece index + 1). */
    deliver(r: { index: number; begin: number; length: number }) {
      h.push({ type: 'wire.piece', index: r.index, begin: r.begin, block: bytes(r.length, r.index + 1) });
    },
    stop() {
      parent.stop();
    },
  };
  return h;
}

export type PeerHarness = ReturnType<typeof startPeer>;
export { SimulatedClock };
