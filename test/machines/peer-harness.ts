/**
 * Drives the peer statechart with no network: a fake `wire` actor that records every command the
 * machine sends and lets the test push `wire.*` events, a tiny parent machine that receives the
 * peer's `sendParent` reports, a real PiecePicker / PieceBuffers, and a simulated clock.
 */
import { createActor, fromCallback, setup, SimulatedClock, type ActorRefFrom, type AnyEventObject } from 'xstate';
import type { PeerWireCommand, PeerWireEvent, PeerWireInput } from '../../src/io/peer-wire.js';
import { peerMachine } from '../../src/machines/peer/peer.machine.js';
import type { PeerCommand, PeerInput, PeerReport, PeerSettings } from '../../src/machines/peer/types.js';
import { PieceBuffers } from '../../src/machines/torrent/piece-buffers.js';
import { PiecePicker } from '../../src/machines/torrent/piece-picker.js';
import { Bitfield } from '../../src/protocol/bitfield.js';
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
  checkIntervalMs: 5_000,
  queueSeconds: 3,
  minQueue: 2,
  maxQueue: 4,
  maxRequestLength: 16 * 1024,
  maxQueuedRequests: 500,
};

export const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
export const INFO_HASH = bytes(20, 0xaa);
export const OUR_ID = bytes(20, 0x01);
export const THEIR_ID = bytes(20, 0x02);
/** Reserved bytes: none, or BEP 6 fast. */
export const NO_EXT = new Uint8Array(8);
export const FAST = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x04]);

/** A `wire.*` event without its timestamp (the harness stamps it with the simulated clock). */
type WireIn = PeerWireEvent extends infer E ? (E extends { at: number } ? Omit<E, 'at'> : never) : never;

export interface StartOptions {
  direction?: PeerInput['direction'];
  settings?: Partial<PeerSettings>;
  /** Pieces we already have (verified). */
  have?: number[];
  transport?: unknown;
  endgameMaxRequests?: number;
  /** Cap of the piece buffers' write backlog. */
  maxPendingBytes?: number;
}

export function startPeer(opts: StartOptions = {}) {
  const clock = new SimulatedClock();
  const have = new Bitfield(PIECES);
  for (const i of opts.have ?? []) have.set(i);
  const picker = new PiecePicker<string>({
    pieceLength: PIECE,
    length: PIECE * PIECES,
    blockLength: BLOCK,
    have,
    random: () => 0,
    ...(opts.endgameMaxRequests !== undefined && { endgameMaxRequests: opts.endgameMaxRequests }),
  });
  const buffers = new PieceBuffers((i) => picker.pieceBytes(i), opts.maxPendingBytes !== undefined ? { maxPendingBytes: opts.maxPendingBytes } : {});
  const counters = { downloaded: 0, uploaded: 0 };
  const services = { infoHash: INFO_HASH, peerId: OUR_ID, pieceCount: PIECES, picker, buffers, counters, registry: new Map() };
  const key = '10.0.0.2:6881';

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
      if (cmd.type === 'wire.send' && cmd.message.type === 'request') checkRequest(cmd.message);
      if (cmd.type === 'wire.sendMany') for (const m of cmd.messages) if (m.type === 'request') checkRequest(m);
    });
    return () => {
      wire.stopped = true;
    };
  });

  // The peer's invariants, checked at the moment each `request` leaves the machine.
  const violations: string[] = [];
  const maxQueue = opts.settings?.maxQueue ?? testSettings.maxQueue;
  const checkRequest = (r: { index: number; begin: number }) => {
    const value = peer.getSnapshot().value as { connected?: { peerChoking?: string } };
    if (value.connected?.peerChoking !== 'unchoked') violations.push(`request ${r.index}:${r.begin} while choked`);
    if (!picker.peerHas(key, r.index)) violations.push(`request ${r.index}:${r.begin} for a piece the peer lacks`);
    if (picker.outstandingCount(key) > maxQueue)
      violations.push(`${picker.outstandingCount(key)} requests outstanding`);
  };

  const received: AnyEventObject[] = [];
  const input: PeerInput = {
    key,
    address: { host: '10.0.0.2', port: 6881, family: 4 },
    direction: opts.direction ?? 'outgoing',
    services,
    settings: { ...testSettings, ...opts.settings },
    ...(opts.transport !== undefined && { transport: opts.transport }),
  };
  const parentMachine = setup({
    actors: { peer: peerMachine.provide({ actors: { wire: fakeWire } }) },
  }).createMachine({
    invoke: { id: 'peer', src: 'peer', input },
    on: { '*': { actions: ({ event }) => void received.push(event) } },
  });
  const parent = createActor(parentMachine, { clock });
  parent.start();
  const peer = parent.getSnapshot().children.peer as ActorRefFrom<typeof peerMachine>;

  const h = {
    clock,
    picker,
    buffers,
    counters,
    services,
    key,
    wire,
    parent,
    peer,
    /** Pushes a `wire.*` event from the fake bridge into the peer actor, stamped with the clock. */
    push(e: WireIn) {
      if (!wire.sendBack) throw new Error('no wire actor running');
      wire.sendBack({ ...e, at: clock.now() });
    },
    /** A command from the torrent. */
    send(cmd: PeerCommand) {
      peer.send(cmd);
    },
    /** Advances the simulated clock in steps (SimulatedClock fires each timer at most once per step). */
    advance(ms: number, step = 1000) {
      for (let t = 0; t < ms; t += step) clock.increment(Math.min(step, ms - t));
    },
    snapshot: () => peer.getSnapshot(),
    value: () => peer.getSnapshot().value as unknown,
    status: () => peer.getSnapshot().status,
    /** The `wire.send` messages sent so far, optionally of one type. */
    messages<T extends WireMessage['type']>(type?: T): Extract<WireMessage, { type: T }>[] {
      const all = wire.commands.flatMap((c) => (c.type === 'wire.send' ? [c.message] : c.type === 'wire.sendMany' ? c.messages : []));
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
    violations,
    /** Outgoing: connect and exchange handshakes; ends in `connected`. */
    connect(reserved: Uint8Array = NO_EXT) {
      h.push({ type: 'wire.connected' });
      h.push({ type: 'wire.handshake', handshake: { reserved, infoHash: INFO_HASH, peerId: THEIR_ID } });
    },
    bitfield(pieces: number[]) {
      const b = new Bitfield(PIECES);
      for (const i of pieces) b.set(i);
      h.push({ type: 'wire.bitfield', bytes: b.toBytes() });
    },
    /** Delivers the block of a request (payload filled with the piece index). */
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
