/**
 * The peer statechart, model-based: fast-check generates sequences of everything that can happen to a
 * connection — the socket's events, the torrent's commands, the block reader's answers, time passing
 * on a simulated clock — and replays each on a live peer actor whose torrent is a stub that keeps its
 * own account of the requests it gave the peer. After every step the named invariants are checked.
 *
 * Invariants:
 * - no-request-while-choked: a `request` leaves only while the peer unchokes us, or (BEP 6) for a piece
 *   the peer allowed us (`allowed-fast`);
 * - fast-bounded: the peer's allowed-fast and suggested pieces kept ≤ their caps, blocks served while
 *   choking it ≤ the budget of the set we sent, and only for pieces of that set;
 * - pipeline-bounded: requests outstanding ≤ min(maxQueue, the peer's reqq);
 * - accepted-only-if-requested: a block reaches the torrent only if it was outstanding to this peer;
 * - torrent-agrees: the requests the torrent believes outstanding (given, minus received, returned
 *   and cancelled) are exactly the peer's — so when the peer closes, the torrent's picker takes back
 *   exactly what was left;
 * - uploads-bounded: reads under way ≤ MAX_READS, none started while the socket is congested, the
 *   queue ≤ maxQueuedRequests, a block is sent only for a request queued when its read returned;
 * - uploads-batched: one event (a batch of requests, a reader's answer, a drain) starts at most one
 *   reader command and sends at most one `wire.sendBlocks`, never an empty one;
 * - reports-match-states: each `peer.state` report says what the state regions say;
 * - counted: the bytes in `peer.blocks` reports are the bytes counted downloaded;
 * - haves-told: every valid `have` the peer received (and each piece a later bitfield or have-all added)
 *   reaches the torrent exactly once, in order (in a
 *   `peer.have`, or riding on a `peer.wants` / `peer.blocks` / `peer.stats` / `peer.returned`); one still waiting is of a
 *   piece the torrent told the peer we have (a have of a piece we lack is told at once), and fewer than
 *   HAVE_BATCH wait;
 * - ours-told: while connected, the peer holds our pieces as the torrent last said them (`peer.admit`,
 *   `peer.announce`, or riding on `peer.tick`), and has sent a `have` for each announced after admission;
 * - closed-is-final: after `peer.closed` nothing more is reported or sent;
 * - hash-serving: a `hash request` on a connected peer gets exactly one answer naming its range —
 *   `hashes` exactly when the range is one of a tree the torrent gave (at spawn, or later with
 *   `peer.hashTrees`) and fewer than `hashAllowance(trees)` answers were sent, those hashes being the
 *   tree's own (with a proof up to the root: proving against the file's pieces root); a `hash reject`
 *   otherwise; past the allowance plus `HASH_REQUEST_SLACK` requests the connection closes instead. No
 *   answer is sent to anything but a request.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PeerContext } from '../../src/machines/peer/peer.machine.js';
import type { BlockRequest } from '../../src/protocol/layout.js';
import { encodeExtensionHandshake } from '../../src/protocol/extension-handshake.js';
import { MAX_READS } from '../../src/machines/peer/upload-queue.js';
import { HAVE_BATCH } from '../../src/machines/peer/types.js';
import { MAX_ALLOWED_IN, MAX_SUGGESTED, serveBudget } from '../../src/machines/peer/fast.js';
import { outstanding } from '../../src/machines/peer/pipeline.js';
import { HASH_REQUEST_SLACK, hashAllowance } from '../../src/machines/peer/hash-serving.js';
import { hashCountOf, hashTreesOf, verifyHashes, type HashTrees } from '../../src/protocol/hash-tree.js';
import {
  blockHashes,
  nextPowerOfTwo,
  padHash,
  pieceLayer,
  rootFromPieceLayer,
  sha256,
} from '../../src/protocol/merkle.js';
import type { HashRange, WireMessage } from '../../src/protocol/wire.js';
import { pattern } from '../support/v2-torrent.js';
import { propertyOptions } from '../support/fc.js';
import {
  BLOCK,
  bitfieldOf,
  bytes,
  INFO_HASH,
  OUR_ID,
  PIECES,
  startPeer,
  testSettings,
  THEIR_ID,
  TICK_MS,
} from './peer-harness.js';

/** Every block of the test torrent (4 pieces of 2 blocks). */
const ALL: BlockRequest[] = Array.from({ length: PIECES * 2 }, (_, i) => ({
  index: i >> 1,
  begin: (i & 1) * BLOCK,
  length: BLOCK,
}));
const same = (a: BlockRequest, b: BlockRequest) => a.index === b.index && a.begin === b.begin && a.length === b.length;
const id = (r: BlockRequest) => `${r.index}:${r.begin}+${r.length}`;

const RESERVED = [
  new Uint8Array(8),
  Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 4]),
  Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 0]),
  Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 4]),
];
const DELAYS = [
  TICK_MS,
  testSettings.keepAliveIntervalMs,
  testSettings.snubTimeoutMs,
  testSettings.silenceLimitMs,
  testSettings.connectTimeoutMs,
];

// BEP 52: two files' merkle trees (piece length 32 KiB: the piece layer is layer 1). The torrent holds X's
// from the start; Y's comes later (`peer.hashTrees`, as after a layer fetched from peers).
const HASH_PIECE = 32 * 1024;
function modelFile(length: number, seed: number) {
  const data = pattern(length, seed);
  const layer = pieceLayer(blockHashes(data), HASH_PIECE);
  const root = rootFromPieceLayer(layer, HASH_PIECE);
  const width = nextPowerOfTwo(layer.length);
  // The piece layer as a tree holds it: padded to a power of two with the pad hash of its height.
  const padded = [...layer, ...Array.from({ length: width - layer.length }, () => padHash(1))];
  // Its layers from the piece layer (layer 1) up to just below the root.
  const layers = [padded];
  while (layers.at(-1)!.length > 2) {
    const below = layers.at(-1)!;
    layers.push(below.filter((_, i) => i % 2 === 0).map((h, i) => sha256(Buffer.concat([h, below[2 * i + 1]!]))));
  }
  return {
    length,
    root,
    width,
    numLayers: 1 + Math.log2(width),
    layers,
    pieceLayer: Uint8Array.from(Buffer.concat(layer)),
  };
}
const FILE_X = modelFile(20 * HASH_PIECE - 100, 11); // 20 pieces: 32 wide, 6 layers
const FILE_Y = modelFile(5 * HASH_PIECE - 9, 12); // 5 pieces: 8 wide, 4 layers
const treesOf = (files: (typeof FILE_X)[]) =>
  hashTreesOf({ pieceLength: HASH_PIECE, files: files.map((f) => ({ ...f, piecesRoot: f.root })) });
const TREES_X = treesOf([FILE_X]);
const TREES_XY = treesOf([FILE_X, FILE_Y]);
const UNKNOWN_ROOT = bytes(32, 5);

/** A generated `hash request`: of X, Y or an unknown root; lengths and indexes in and out of range. */
const hashRequestStep = fc.record({
  t: fc.constant('hashRequest' as const),
  root: fc.constantFrom(0, 0, 1, 1, 2),
  length: fc.constantFrom(1, 2, 4, 8, 32, 3, 64),
  k: fc.nat(9),
  base: fc.constantFrom(1, 1, 1, 1, 0, 2),
  proof: fc.constantFrom('full', 'full', 'none', 'over'),
  n: fc.constantFrom(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 12, 40),
});
type HashRequestStep = typeof hashRequestStep extends fc.Arbitrary<infer S> ? S : never;

function hashRangeOf(s: HashRequestStep): HashRange {
  const file = s.root === 0 ? FILE_X : FILE_Y;
  const top = file.numLayers - s.base - 1; // proof layers up to just below the root
  return {
    piecesRoot: s.root === 2 ? UNKNOWN_ROOT : file.root,
    baseLayer: s.base,
    index: s.k * s.length,
    length: s.length,
    proofLayers: s.proof === 'full' ? top : s.proof === 'over' ? top + 1 : 0,
  };
}

/**
 * The spec of a servable range (BEP 52, for the layers we hold: the piece layer and up): a tree the
 * torrent gave, a layer from the piece layer to below the root, a power-of-two length of at most 512 at a
 * multiple of it inside that (padded) layer, proof layers below the root.
 */
function servable(range: HashRange, given: readonly (typeof FILE_X)[]): typeof FILE_X | undefined {
  const file = given.find((f) => Buffer.from(f.root).equals(range.piecesRoot));
  const { baseLayer, index, length, proofLayers } = range;
  if (!file || baseLayer < 1 || baseLayer >= file.numLayers) return undefined;
  if (length < 1 || length > 512 || (length & (length - 1)) !== 0 || index % length !== 0) return undefined;
  if (index + length > file.layers[baseLayer - 1]!.length || proofLayers >= file.numLayers - baseLayer)
    return undefined;
  return file;
}

const step = fc.oneof(
  { weight: 3, arbitrary: hashRequestStep },
  { weight: 1, arbitrary: fc.constant({ t: 'hashTrees' } as const) },
  { weight: 3, arbitrary: fc.constant({ t: 'connected' } as const) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('handshake' as const),
      hash: fc.constantFrom('ok', 'ok', 'ok', 'wrong', 'self'),
      reserved: fc.nat(3),
    }),
  },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('admit' as const), mask: fc.nat(15) }) },
  fc.constantFrom(
    { t: 'choke' } as const,
    { t: 'unchoke' } as const,
    { t: 'interested' } as const,
    { t: 'notInterested' } as const,
    { t: 'haveAll' } as const,
    { t: 'haveNone' } as const,
    { t: 'congested' } as const,
    { t: 'drain' } as const,
    { t: 'refill' } as const,
    { t: 'unchokePeer' } as const,
    { t: 'chokePeer' } as const,
  ),
  { weight: 6, arbitrary: fc.constantFrom({ t: 'unchoke' } as const, { t: 'torrentInterest', v: true } as const) },
  fc.record({ t: fc.constant('have' as const), i: fc.nat(PIECES - 1) }),
  // A read holding several haves (one `wire.haves`); now and then one out of range among them.
  fc.record({
    t: fc.constant('haves' as const),
    is: fc.array(fc.nat(PIECES - 1), { minLength: 2, maxLength: 6 }),
    bad: fc.constantFrom(false, false, false, true),
  }),
  fc.record({ t: fc.constant('bitfield' as const), mask: fc.nat(15), bad: fc.constant(false) }),
  {
    weight: 1,
    arbitrary: fc.constantFrom({ t: 'have', i: PIECES } as const, { t: 'bitfield', mask: 0, bad: true } as const),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      t: fc.constant('deliver' as const),
      which: fc.constantFrom('first', 'any', 'several', 'several', 'late', 'unrequested'),
      k: fc.nat(20),
    }),
  },
  fc.record({ t: fc.constant('reject' as const), k: fc.nat(20), outstanding: fc.boolean() }),
  fc.record({
    t: fc.constant('wireRequest' as const),
    k: fc.nat(ALL.length - 1),
    bad: fc.constantFrom('no', 'no', 'no', 'no', 'no', 'no', 'range', 'long'),
  }),
  fc.record({
    t: fc.constant('wireRequests' as const),
    ks: fc.array(fc.nat(ALL.length - 1), { minLength: 2, maxLength: 6 }),
    badAt: fc.nat(5),
    bad: fc.constantFrom('no', 'no', 'no', 'no', 'no', 'no', 'range', 'long'),
  }),
  fc.record({ t: fc.constant('wireCancel' as const), k: fc.nat(ALL.length - 1) }),
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('read' as const),
      k: fc.nat(20),
      n: fc.integer({ min: 1, max: 4 }),
      ok: fc.constantFrom(15, 15, 15, 0, 1, 2, 5, 14),
    }),
  },
  fc.record({ t: fc.constant('extHandshake' as const), reqq: fc.integer({ min: 1, max: 6 }), bad: fc.boolean() }),
  fc.record({
    t: fc.constant('misc' as const),
    kind: fc.constantFrom('keep-alive', 'port', 'suggest', 'allowed-fast', 'unknown', 'extended-other', 'hashes'),
  }),
  fc.record({ t: fc.constant('torrentInterest' as const), v: fc.boolean() }),
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constantFrom('allowedFast' as const, 'suggest' as const),
      i: fc.integer({ min: 0, max: PIECES }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('torrentRequestAllowed' as const), n: fc.integer({ min: 1, max: 4 }) }),
  },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('torrentRequest' as const), n: fc.integer({ min: 1, max: 6 }) }) },
  fc.record({ t: fc.constant('torrentCancel' as const), k: fc.nat(20) }),
  // Our new pieces, as `peer.announce` (completion, a layer check) or riding on the torrent's `peer.tick`.
  fc.record({ t: fc.constant('announce' as const), i: fc.nat(PIECES - 1), two: fc.boolean(), onTick: fc.boolean() }),
  { weight: 3, arbitrary: fc.record({ t: fc.constant('advance' as const), k: fc.nat(DELAYS.length - 1) }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      { t: 'protocolError' } as const,
      { t: 'closed', error: true } as const,
      { t: 'closed', error: false } as const,
      { t: 'close' } as const,
    ),
  },
);
type Step = typeof step extends fc.Arbitrary<infer S> ? S : never;

/**
 * Where a sequence starts: mostly from a connection that is up (admitted, or already requesting), so
 * the steps after it explore the connected state rather than closing on an early mistake.
 */
const prefix = fc.oneof(
  { weight: 1, arbitrary: fc.constant<Step[]>([]) },
  { weight: 1, arbitrary: fc.constant<Step[]>([{ t: 'connected' }]) },
  {
    weight: 3,
    arbitrary: fc
      .nat(3)
      .map((reserved): Step[] => [
        { t: 'connected' },
        { t: 'handshake', hash: 'ok', reserved },
        { t: 'admit', mask: 0 },
      ]),
  },
  {
    weight: 6,
    arbitrary: fc
      .tuple(fc.nat(3), fc.nat(15))
      .map(([reserved, mask]): Step[] => [
        { t: 'connected' },
        { t: 'handshake', hash: 'ok', reserved },
        { t: 'admit', mask },
        { t: 'bitfield', mask: 15, bad: false },
        { t: 'unchoke' },
        { t: 'torrentInterest', v: true },
        { t: 'torrentRequest', n: 2 },
      ]),
  },
);
const session = fc.tuple(prefix, fc.array(step, { minLength: 1, maxLength: 50 })).map(([p, rest]) => [...p, ...rest]);

/** What a run's hash requests met (a fixed session asserts its sequence is not vacuous). */
interface HashTally {
  answered: number;
  rejected: number;
  floodClosed: boolean;
}

/** The pieces a peer's announcement (`pieces.announced`) names: its bitfield's, all, or none. */
function piecesSaid(a: boolean | Uint8Array | 'all'): Set<number> {
  const all = Array.from({ length: PIECES }, (_, i) => i);
  if (a === 'all') return new Set(all);
  if (!(a instanceof Uint8Array)) return new Set();
  return new Set(all.filter((i) => (a[i >> 3]! & (0x80 >> (i & 7))) !== 0));
}

function run(steps: Step[]): HashTally {
  const violations: string[] = [];
  const hashTally: HashTally = { answered: 0, rejected: 0, floodClosed: false };
  /** The `hashes` and `hash-reject` messages sent, in order. */
  const hashMessages: WireMessage[] = [];
  const fail = (name: string, detail: string) => violations.push(`${name}: ${detail}`);
  const h = startPeer({
    // Two of the four pieces allowed fast: requests of both kinds while we choke the peer.
    settings: { allowedFastSetSize: 2 },
    torrent: { hashTrees: TREES_X },
    onCommand: (cmd, snap) => {
      if (closedSeen) fail('closed-is-final', `${cmd.type} after peer.closed`);
      const requests = cmd.type === 'wire.sendMany' ? cmd.messages : cmd.type === 'wire.send' ? [cmd.message] : [];
      for (const m of requests) if (m.type === 'hashes' || m.type === 'hash-reject') hashMessages.push(m);
      const v = snap.value as { connected?: { peerChoking?: string } };
      for (const m of requests) {
        if (
          m.type === 'request' &&
          v.connected?.peerChoking !== 'unchoked' &&
          !snap.context.fast.allowedIn.includes(m.index)
        )
          fail('no-request-while-choked', `request ${m.index}:${m.begin} with ${JSON.stringify(snap.value)}`);
      }
      if (cmd.type === 'wire.sendBlocks') {
        if (++sendsThisStep > 1) fail('uploads-batched', `a second wire.sendBlocks in one step`);
        if (cmd.blocks.length === 0) fail('uploads-batched', `an empty wire.sendBlocks`);
        for (const b of cmd.blocks) {
          const r = { index: b.index, begin: b.begin, length: b.block.length };
          if (!queuedBefore.some((q) => same(q, r)))
            fail('uploads-bounded', `block ${id(r)} sent for a request not queued`);
        }
      }
    },
    onRead: (cmd, snap) => {
      if (++readsThisStep > 1) fail('uploads-batched', `a second reader command in one step`);
      if (cmd.blocks.length === 0) fail('uploads-batched', `an empty reader command`);
      const choking = (snap.value as { connected?: { amChoking?: string } }).connected?.amChoking === 'choking';
      for (const r of cmd.blocks) {
        if (snap.context.uploads.congested) fail('uploads-bounded', `read ${id(r)} while congested`);
        if (choking && !snap.context.fast.sentOut.includes(r.index))
          fail('fast-bounded', `read ${id(r)} while choking, not an allowed-fast piece`);
        pendingReads.push(r);
      }
    },
  });
  /** What the torrent stub believes outstanding to the peer. */
  let given: BlockRequest[] = [];
  let closedSeen = false;
  let reportsSeen = 0;
  let bytesReported = 0;
  /** Our pieces as the model torrent told the peer; the valid haves the peer took, and those it told. */
  let ours = new Set<number>();
  /** Our pieces at the admission (told by the bitfield, not by `have`s). */
  let admitted = new Set<number>();
  const havesIn: number[] = [];
  const havesTold: number[] = [];
  let queuedBefore: BlockRequest[] = [];
  const pendingReads: BlockRequest[] = [];
  let readsThisStep = 0;
  let sendsThisStep = 0;
  /** The model torrent's account of hash serving: the trees it gave the peer, requests and answers. */
  let givenFiles = [FILE_X];
  let givenTrees: HashTrees = TREES_X;
  let hashRequests = 0;
  let hashesServed = 0;
  let hashAnswersSeen = 0;
  const hashAnswers = () => hashMessages;
  /** One `hash request` pushed, and its answer checked against the model (invariant hash-serving). */
  const hashRequest = (range: HashRange) => {
    const connected = (h.value() as { connected?: unknown }).connected !== undefined && isActive();
    const before = hashAnswers().length;
    h.push({ type: 'wire.hash-request', ...range });
    const answers = hashAnswers().slice(before);
    hashAnswersSeen = before + answers.length;
    if (!connected) {
      if (answers.length > 0) fail('hash-serving', `an answer before the connection was up`);
      return;
    }
    hashRequests++;
    const allowance = hashAllowance(givenTrees);
    if (hashRequests > allowance + HASH_REQUEST_SLACK) {
      if (answers.length > 0 || isActive()) fail('hash-serving', `request ${hashRequests} (a flood) not closed`);
      hashTally.floodClosed = true;
      return;
    }
    const [a] = answers;
    if (answers.length !== 1 || !a || (a.type !== 'hashes' && a.type !== 'hash-reject')) {
      fail('hash-serving', `${answers.length} answers to one request`);
      return;
    }
    const sameRange =
      Buffer.from(a.piecesRoot).equals(range.piecesRoot) &&
      a.baseLayer === range.baseLayer &&
      a.index === range.index &&
      a.length === range.length &&
      a.proofLayers === range.proofLayers;
    if (!sameRange) fail('hash-serving', `answer ${JSON.stringify({ ...a, hashes: undefined })} names another range`);
    const file = servable(range, givenFiles);
    const expected = file && hashesServed < allowance ? 'hashes' : 'hash-reject';
    if (a.type !== expected) {
      fail('hash-serving', `${a.type} for ${range.length}@${range.index} (served ${hashesServed}/${allowance})`);
      return;
    }
    if (a.type === 'hash-reject') {
      hashTally.rejected++;
      return;
    }
    hashesServed++;
    hashTally.answered++;
    const own = Buffer.concat(file!.layers[range.baseLayer - 1]!.slice(range.index, range.index + range.length));
    if (a.hashes.length !== hashCountOf(range) * 32 || !Buffer.from(a.hashes.subarray(0, own.length)).equals(own))
      fail('hash-serving', `hashes for ${range.length}@${range.index} are not the tree's`);
    const full = range.baseLayer + range.proofLayers + 1 === file!.numLayers;
    if (full && !verifyHashes(file!.root, file!.numLayers, range, a.hashes))
      fail('hash-serving', `hashes for ${range.length}@${range.index} do not prove against the root`);
  };
  const ctx = (): PeerContext => h.snapshot().context;
  const outstandingNow = () => outstanding(ctx().pipeline);
  const isActive = () => h.status() === 'active';

  const apply = (s: Step) => {
    const pipeline = outstandingNow();
    switch (s.t) {
      case 'hashRequest':
        for (let i = 0; i < s.n && isActive(); i++) hashRequest(hashRangeOf(s));
        return;
      case 'hashTrees':
        givenFiles = [FILE_X, FILE_Y];
        givenTrees = TREES_XY;
        return h.send({ type: 'peer.hashTrees', hashTrees: TREES_XY });
      case 'connected':
        return h.push({ type: 'wire.connected' });
      case 'handshake':
        return h.push({
          type: 'wire.handshake',
          handshake: {
            reserved: RESERVED[s.reserved]!,
            infoHash: s.hash === 'wrong' ? bytes(20, 0xbb) : INFO_HASH,
            peerId: s.hash === 'self' ? OUR_ID : THEIR_ID,
          },
        });
      case 'admit': {
        const have = [0, 1, 2, 3].filter((i) => s.mask & (1 << i));
        if (h.value() === 'admitting') {
          ours = new Set(have);
          admitted = new Set(have);
        }
        return h.send({ type: 'peer.admit', have: bitfieldOf(have) });
      }
      case 'choke':
        return h.push({ type: 'wire.choke' });
      case 'unchoke':
        return h.push({ type: 'wire.unchoke' });
      case 'interested':
        return h.push({ type: 'wire.interested' });
      case 'notInterested':
        return h.push({ type: 'wire.not-interested' });
      case 'haveAll':
        return h.push({ type: 'wire.have-all' });
      case 'haveNone':
        return h.push({ type: 'wire.have-none' });
      case 'congested':
        return h.push({ type: 'wire.congested' });
      case 'drain':
        return h.push({ type: 'wire.drain' });
      case 'refill':
        return h.send({ type: 'peer.refill' });
      case 'unchokePeer':
        return h.send({ type: 'peer.unchoke' });
      case 'chokePeer':
        return h.send({ type: 'peer.choke' });
      case 'have':
        return h.push({ type: 'wire.have', index: s.i });
      case 'haves':
        return h.push({ type: 'wire.haves', indices: s.bad ? [...s.is, PIECES] : s.is });
      case 'bitfield':
        return h.push({
          type: 'wire.bitfield',
          bytes: s.bad ? Uint8Array.from([0xff]) : bitfieldOf([0, 1, 2, 3].filter((i) => s.mask & (1 << i))),
        });
      case 'deliver': {
        const block = (r: BlockRequest) => ({ index: r.index, begin: r.begin, block: bytes(r.length, 1) });
        if (s.which === 'unrequested') {
          const r = ALL.find((a) => !pipeline.some((p) => same(p, a)) && !ctx().pipeline.late.some((p) => same(p, a)));
          if (r) h.push({ type: 'wire.piece', ...block(r) });
          return;
        }
        if (s.which === 'late') {
          const late = ctx().pipeline.late;
          if (late.length > 0) h.push({ type: 'wire.piece', ...block(late[s.k % late.length]!) });
          return;
        }
        if (pipeline.length === 0) return;
        if (s.which === 'several') {
          const n = 1 + (s.k % pipeline.length);
          return h.push({ type: 'wire.pieces', blocks: pipeline.slice(0, n).map(block) });
        }
        const r = s.which === 'first' ? pipeline[0]! : pipeline[s.k % pipeline.length]!;
        return h.push({ type: 'wire.piece', ...block(r) });
      }
      case 'reject': {
        const r = s.outstanding && pipeline.length > 0 ? pipeline[s.k % pipeline.length]! : ALL[s.k % ALL.length]!;
        return h.push({ type: 'wire.reject', ...r });
      }
      case 'wireRequest': {
        const r = ALL[s.k]!;
        if (s.bad === 'range') return h.push({ type: 'wire.request', index: 9, begin: 0, length: BLOCK });
        if (s.bad === 'long') return h.push({ type: 'wire.request', index: r.index, begin: 0, length: 2 * BLOCK });
        return h.push({ type: 'wire.request', ...r });
      }
      case 'wireRequests': {
        // One socket read's consecutive requests (`wire.requests`), one of them possibly bad.
        const requests = s.ks.map((k, i) =>
          i !== s.badAt || s.bad === 'no'
            ? ALL[k]!
            : s.bad === 'range'
              ? { index: 9, begin: 0, length: BLOCK }
              : { index: ALL[k]!.index, begin: 0, length: 2 * BLOCK },
        );
        return h.push({ type: 'wire.requests', requests });
      }
      case 'wireCancel':
        return h.push({ type: 'wire.cancel', ...ALL[s.k]! });
      case 'read': {
        // One reader answer for up to `n` of the blocks being read, each read or failed (bit i of `ok`).
        if (pendingReads.length === 0) return;
        const done: BlockRequest[] = [];
        for (let i = 0; i < s.n && pendingReads.length > 0; i++)
          done.push(pendingReads.splice((s.k + i) % pendingReads.length, 1)[0]!);
        queuedBefore = ctx().uploads.queued.map((q) => ({ index: q.index, begin: q.begin, length: q.length }));
        const ok = (i: number) => ((s.ok >> i) & 1) === 1;
        h.answer({
          type: 'upload.blocks',
          blocks: done.filter((_, i) => ok(i)).map((r) => ({ ...r, data: bytes(r.length, 3) })),
          failed: done.filter((_, i) => !ok(i)).map((r) => ({ ...r, code: 'BT_ERR_STORAGE_IO', message: 'no' })),
        });
        return;
      }
      case 'extHandshake':
        return h.push({
          type: 'wire.extended',
          id: 0,
          payload: s.bad ? bytes(3, 0x69) : encodeExtensionHandshake({ m: {}, reqq: s.reqq }),
        });
      case 'misc':
        if (s.kind === 'keep-alive') return h.push({ type: 'wire.keep-alive' });
        if (s.kind === 'port') return h.push({ type: 'wire.port', port: 6881 });
        if (s.kind === 'unknown') return h.push({ type: 'wire.unknown', id: 42, payload: bytes(2, 0) });
        if (s.kind === 'extended-other') return h.push({ type: 'wire.extended', id: 3, payload: bytes(2, 0) });
        // BEP 52: hashes we never asked for go to the torrent (which ignores them); nothing is answered.
        if (s.kind === 'hashes') {
          const range = { piecesRoot: UNKNOWN_ROOT, baseLayer: 1, index: 0, length: 2, proofLayers: 0 };
          return h.push({ type: 'wire.hashes', ...range, hashes: bytes(64, 6) });
        }
        return h.push({ type: s.kind === 'suggest' ? 'wire.suggest' : 'wire.allowed-fast', index: 1 });
      case 'torrentInterest':
        return h.send({ type: 'peer.interest', interested: s.v });
      case 'allowedFast':
        return h.push({ type: 'wire.allowed-fast', index: s.i });
      case 'suggest':
        return h.push({ type: 'wire.suggest', index: s.i });
      case 'torrentRequestAllowed': {
        // The stub honours `only`: blocks of the pieces the peer allows us.
        const allowed = ctx().fast.allowedIn;
        const free = ALL.filter((a) => allowed.includes(a.index) && !given.some((g) => same(g, a)));
        const requests = free.slice(0, s.n);
        if (requests.length === 0) return;
        given = given.concat(requests);
        return h.send({ type: 'peer.request', requests });
      }
      case 'torrentRequest': {
        // The stub gives blocks it has not given (it may give more than the peer can take).
        const free = ALL.filter((a) => !given.some((g) => same(g, a)));
        const requests = free.slice(0, s.n);
        if (requests.length === 0) return;
        given = given.concat(requests);
        return h.send({ type: 'peer.request', requests });
      }
      case 'torrentCancel': {
        if (given.length === 0) return;
        const r = given[s.k % given.length]!;
        given = given.filter((g) => !same(g, r));
        return h.send({ type: 'peer.cancel', ...r });
      }
      case 'announce': {
        const pieces = s.two ? [s.i, (s.i + 1) % PIECES] : [s.i];
        if ((h.value() as { connected?: unknown }).connected) for (const i of pieces) ours.add(i);
        const have = bitfieldOf([...ours]);
        return h.send(
          s.onTick ? { type: 'peer.tick', elapsedMs: TICK_MS, pieces, have } : { type: 'peer.announce', pieces, have },
        );
      }
      case 'advance':
        return h.advance(DELAYS[s.k]!);
      case 'protocolError':
        return h.push({ type: 'wire.protocolError', code: 'BT_ERR_FRAME_TOO_LARGE', message: 'x' });
      case 'closed':
        return h.push({ type: 'wire.closed', ...(s.error && { error: { code: 'ECONNRESET', message: 'reset' } }) });
      case 'close':
        return h.send({ type: 'peer.close', reason: 'shutdown' });
    }
  };

  try {
    for (const s of steps) {
      if (!isActive()) break;
      const before = outstandingNow();
      const haveCount = ctx().pieces.received;
      const saidBefore = ctx().pieces.announced;
      readsThisStep = 0;
      sendsThisStep = 0;
      apply(s);
      if (s.t === 'have' && isActive() && ctx().pieces.received > haveCount) havesIn.push(s.i);
      if (s.t === 'haves' && isActive() && ctx().pieces.received > haveCount) havesIn.push(...s.is);
      // A later bitfield or have-all that was taken (aria2's way of sending many haves): the pieces it
      // added to what the peer had said count as haves received.
      const saidNow = isActive() ? ctx().pieces.announced : saidBefore;
      if ((s.t === 'bitfield' || s.t === 'haveAll') && saidBefore !== false && saidNow !== saidBefore) {
        const had = piecesSaid(saidBefore);
        havesIn.push(...[...piecesSaid(saidNow)].filter((i) => !had.has(i)));
      }
      const reports = h.reports();
      for (const r of reports.slice(reportsSeen)) {
        if (closedSeen) fail('closed-is-final', `${r.type} after peer.closed`);
        if (r.type === 'peer.blocks') {
          for (const b of r.blocks) {
            const ref = { index: b.index, begin: b.begin, length: b.block.length };
            if (!before.some((o) => same(o, ref))) fail('accepted-only-if-requested', `${id(ref)} was not outstanding`);
            given = given.filter((g) => !same(g, ref));
            bytesReported += b.block.length;
          }
        } else if (r.type === 'peer.returned') {
          for (const q of r.requests) given = given.filter((g) => !same(g, q));
        } else if (r.type === 'peer.closed') closedSeen = true;
        if (r.type === 'peer.have') havesTold.push(...r.pieces);
        else if (
          (r.type === 'peer.wants' ||
            r.type === 'peer.blocks' ||
            r.type === 'peer.stats' ||
            r.type === 'peer.returned') &&
          r.haves
        )
          havesTold.push(...r.haves);
      }
      reportsSeen = reports.length;
      const answersNow = hashAnswers().length;
      if (answersNow !== hashAnswersSeen) fail('hash-serving', `${s.t}: a hash answer to no request`);
      hashAnswersSeen = answersNow;
      if (!isActive()) break;
      const c = ctx();
      const out = outstanding(c.pipeline);
      const cap = Math.max(1, Math.min(c.settings.maxQueue, c.ext.reqq));
      if (out.length > cap) fail('pipeline-bounded', `${out.length} outstanding, cap ${cap}`);
      const agree = out.length === given.length && out.every((o) => given.some((g) => same(g, o)));
      if (!agree) fail('torrent-agrees', `peer ${out.map(id).join(',')} / torrent ${given.map(id).join(',')}`);
      if (c.uploads.reads > MAX_READS) fail('uploads-bounded', `${c.uploads.reads} reads under way`);
      if (c.fast.allowedIn.length > MAX_ALLOWED_IN || c.fast.suggested.length > MAX_SUGGESTED)
        fail('fast-bounded', `${c.fast.allowedIn.length} allowed, ${c.fast.suggested.length} suggested`);
      if (c.fast.served > serveBudget(c.fast, c.torrent.geometry))
        fail('fast-bounded', `${c.fast.served} blocks served while choking`);
      if (c.uploads.queued.length > c.settings.maxQueuedRequests)
        fail('uploads-bounded', `${c.uploads.queued.length} queued`);
      const waiting = c.pieces.unsent;
      if ([...havesTold, ...waiting].join() !== havesIn.join())
        fail('haves-told', `received [${havesIn}], told [${havesTold}], waiting [${waiting}]`);
      if (waiting.some((i) => !ours.has(i))) fail('haves-told', `[${waiting}] waiting, ours [${[...ours]}]`);
      if (waiting.length >= HAVE_BATCH) fail('haves-told', `${waiting.length} waiting`);
      if ((h.value() as { connected?: unknown }).connected) {
        const said = bitfieldOf([...ours]).join();
        if (c.pieces.ours.join() !== said)
          fail('ours-told', `the peer holds bitfield [${c.pieces.ours.join()}] as ours, the torrent said [${said}]`);
        const sent = new Set(h.messages('have').map((m) => m.index));
        const untold = [...ours].filter((i) => !admitted.has(i) && !sent.has(i));
        if (untold.length > 0) fail('ours-told', `announced [${untold}] never sent as have`);
      }
      if (c.traffic.downloaded !== bytesReported)
        fail('counted', `downloaded ${c.traffic.downloaded}, reported ${bytesReported}`);
      const state = reports.filter((r) => r.type === 'peer.state').at(-1);
      const v = (h.value() as { connected?: Record<string, string> }).connected;
      if (state && v && s.t !== 'advance') {
        const now = {
          peerInterested: v.peerInterested === 'interested',
          amChoking: v.amChoking === 'choking',
          snubbed: v.requests === 'snubbed',
        };
        if (
          state.peerInterested !== now.peerInterested ||
          state.amChoking !== now.amChoking ||
          state.snubbed !== now.snubbed
        ) {
          fail('reports-match-states', `${JSON.stringify(state)} vs ${JSON.stringify(v)}`);
        }
      }
      if (violations.length > 0) break;
    }
    expect(h.errors()).toEqual([]);
    expect(violations).toEqual([]);
    return hashTally;
  } finally {
    h.stop();
  }
}

describe('peer statechart, model-based (fast-check sequences on a live actor, invariants after every step)', () => {
  it('keeps every invariant under any sequence of socket events, torrent commands, reads and time', () => {
    fc.assert(
      fc.property(session, (steps) => void run(steps)),
      { ...propertyOptions, numRuns: Math.min(propertyOptions.numRuns ?? 1000, 2000) },
    );
  });

  it('reaches hash answers, rejects, trees given later, the allowance and a flood close (hash-serving is not vacuous)', () => {
    const y = { t: 'hashRequest', root: 1, length: 8, k: 0, base: 1, proof: 'full', n: 1 } as const;
    const x = { ...y, root: 0, length: 32 } as const;
    const tally = run([
      { t: 'connected' },
      { t: 'handshake', hash: 'ok', reserved: 3 },
      { t: 'admit', mask: 0 },
      x, // answered from the trees given at spawn
      y, // Y's tree not given yet: rejected
      { ...x, length: 3 }, // not a power of two: rejected
      { t: 'hashTrees' },
      y, // answered now
      { ...y, proof: 'none', length: 2, k: 3 }, // a range inside Y, no proof: answered
      { ...x, n: 40 }, // past the allowance (12): rejected
      { ...x, n: 40 }, // past the allowance + 64: closed as a flood
    ]);
    expect(tally.answered).toBe(hashAllowance(TREES_XY));
    expect(tally.rejected).toBeGreaterThan(2);
    expect(tally.floodClosed).toBe(true);
  });

  it('reaches a connection that downloads, uploads and closes (the generator is not vacuous)', () => {
    // A fixed, plausible session through the same runner: the invariants hold on it too.
    run([
      { t: 'connected' },
      { t: 'handshake', hash: 'ok', reserved: 3 },
      { t: 'admit', mask: 3 },
      { t: 'bitfield', mask: 15, bad: false },
      { t: 'unchoke' },
      { t: 'torrentInterest', v: true },
      { t: 'torrentRequest', n: 6 },
      { t: 'deliver', which: 'several', k: 2 },
      { t: 'extHandshake', reqq: 2, bad: false },
      { t: 'torrentRequest', n: 6 },
      { t: 'interested' },
      { t: 'unchokePeer' },
      { t: 'wireRequest', k: 0, bad: 'no' },
      { t: 'read', k: 0, n: 1, ok: 1 },
      { t: 'wireRequests', ks: [0, 1, 2, 3], badAt: 0, bad: 'no' },
      { t: 'wireCancel', k: 1 },
      { t: 'read', k: 0, n: 4, ok: 5 },
      { t: 'advance', k: 0 },
      { t: 'choke' },
      { t: 'close' },
    ]);
  });
});
