/**
 * The piece picker: which blocks to request from which peer. A pure policy object that the torrent
 * statechart holds by reference (it is not a machine and does no I/O); see docs/machines/piece-picker.md.
 *
 * Policy, in order, for {@link PiecePicker.pick}:
 * 1. blocks of pieces already in progress that the peer has (finish partial pieces first);
 * 2. new pieces the peer has, rarest first (fewest peers have them), ties broken at random;
 * 3. endgame — once no block of the torrent is wanted any more (every remaining block is requested or
 *    received) — duplicate requests for outstanding blocks, oldest request first, at most
 *    `endgameMaxRequests` outstanding per block; {@link PiecePicker.blockReceived} then lists the peers
 *    to send `cancel` to.
 * From a seed (a peer with every piece), while other peers are known, pieces no other peer holds and the
 * seed's suggestions come first; as a seed, {@link PiecePicker.suggestFor} says what to suggest.
 *
 * Every block of every unverified piece is in exactly one state: wanted, requested (from one or more
 * peers, recorded) or received (its contributor recorded). Per-block state exists only for pieces in
 * progress; the rest of the torrent is described by typed arrays and bitfields.
 */
import { Bitfield } from '../../protocol/bitfield.js';
import { BtError } from '../../protocol/errors.js';
import type { Metainfo } from '../../protocol/metainfo.js';
import {
  BLOCK_LENGTH,
  blockBytes,
  blockCount,
  pieceBytes,
  pieceCountFor,
  type BlockRequest,
  type PieceGeometry,
} from '../../protocol/layout.js';
import { randomFrom } from '../random.js';

export type { BlockRequest };

export type PickerErrorCode = 'BT_ERR_PICKER_OPTIONS' | 'BT_ERR_PICKER_BITFIELD';

/** A {@link PiecePicker} used wrongly by its caller (bad options, a bitfield of the wrong length). */
export class PickerError extends BtError {
  override readonly name = 'PickerError';
  constructor(
    override readonly code: PickerErrorCode,
    message: string,
  ) {
    super(code, message);
  }
}

/** A request outstanding to a given peer. */
export interface PeerRequest<P> {
  peer: P;
  request: BlockRequest;
}

/** What a peer has: its bitfield, or BEP 6 `have all` / `have none`. */
export type PeerPieces = Bitfield | 'all' | 'none';

/**
 * BEP 6 hints for {@link PiecePicker.pick}: `only` — pick nothing but blocks of these pieces (the peer
 * chokes us and allows us these); `prefer` — new pieces to start before other new pieces of the same
 * priority (the peer suggested them; ignored in sequential order).
 */
export interface PickHints {
  readonly only?: readonly number[];
  readonly prefer?: readonly number[];
}

/** State of one block, as reported by {@link PiecePicker.blockState}. */
export type BlockState = 'wanted' | 'requested' | 'received' | 'verified';

/**
 * Outcome of {@link PiecePicker.blockReceived}:
 * - `accepted`: we lacked the block; the caller stores it. `requested` says whether it had been asked
 *   from this peer (false: it arrived after a reject / choke / snub release, or was never asked for).
 * - `duplicate`: the block is already received or its piece verified; drop the data.
 * - `unexpected`: not a block of this torrent (bad index, an offset that is not a block boundary, or a
 *   wrong length); drop it and consider it a protocol violation.
 */
export type ReceiveStatus = 'accepted' | 'duplicate' | 'unexpected';

export interface ReceiveResult<P> {
  status: ReceiveStatus;
  requested: boolean;
  /** True when this block completed its piece: the caller now hashes it and reports the verdict. */
  pieceComplete: boolean;
  /** Other peers this block was also requested from (endgame): send them `cancel`. */
  cancel: P[];
}

/** How phase 2 of {@link PiecePicker.pick} finds new pieces; `auto` chooses per call. */
export type PickStrategy = 'auto' | 'order' | 'bitfield';

export interface PiecePickerOptions {
  /** Bytes per piece (any positive integer; the last piece may be shorter). */
  pieceLength: number;
  /** Total bytes of the torrent. */
  length: number;
  /** Pieces already verified (resume data or a check of existing files). Copied. */
  have?: Bitfield;
  /** Tie-break randomness in [0, 1). Default a generator with a fixed seed; the torrent gives its seeded one. */
  random?: () => number;
  /** Bytes per block request. Default 16 KiB. */
  blockLength?: number;
  /** In endgame, the most peers one block may be outstanding to at once. Default 3. */
  endgameMaxRequests?: number;
  /**
   * How new pieces are found: walking the rarest-first order (`order`), walking the peer's bitfield
   * (`bitfield`, cheaper for a peer that has few pieces we lack), or choosing by estimated cost
   * (`auto`, the default). All give rarest first with the same tie-break order; tests and benchmarks
   * force one.
   */
  strategy?: PickStrategy;
  /**
   * Priority of each piece (see {@link PiecePriority}): 0 skip (never requested), 1 low, 2 normal (the
   * default), 3 high. Copied. Usually made from file priorities by `piecePriorities` (file-priority.ts).
   */
  priorities?: Uint8Array;
  /** New pieces in index order instead of rarest first (each priority level still in turn). */
  sequential?: boolean;
}

/** A piece's priority: skip, low, normal, high. Higher levels are picked first; skip is never picked. */
export const PiecePriority = { skip: 0, low: 1, normal: 2, high: 3 } as const;
export type PiecePriority = (typeof PiecePriority)[keyof typeof PiecePriority];

const WANTED = 0;
const REQUESTED = 1;
const RECEIVED = 2;

/** Per-block state of a piece in progress. Dropped when the piece verifies or is wholly wanted again. */
interface Progress<P> {
  readonly index: number;
  readonly blocks: number;
  readonly state: Uint8Array;
  /** Peers each requested block is outstanding to (undefined unless the block is requested). */
  readonly requesters: (P[] | undefined)[];
  wanted: number;
  requested: number;
  received: number;
  /** No block below this one is wanted. */
  firstWanted: number;
  /** Peers that delivered received blocks of the piece (cleared when the piece fails its hash). */
  readonly contributors: Set<P>;
  /** The peer that delivered each received block (undefined for blocks not received). */
  readonly senders: (P | undefined)[];
}

interface PeerState<P> {
  readonly key: P;
  /** null for a seed (have-all), which is counted in `seedCount`, not in `counts`. */
  pieces: Bitfield | null;
  /** Pieces it has that we have not verified (non-seeds only). */
  wantCount: number;
  /** Pieces it has that are fresh, i.e. neither started nor verified (non-seeds only). */
  freshCount: number;
  /** Block ids outstanding to it. */
  readonly requests: Set<number>;
  /** As a seed: the pieces we suggested to it ({@link PiecePicker.suggestFor}), newest last. */
  suggested: number[];
}

/**
 * Rarest-first piece picker with endgame, for one torrent.
 *
 * Peers are identified by any key the caller chooses (`P`, compared with SameValueZero, as in `Map`).
 * Methods given a peer the picker does not know treat it as having nothing and return empty results.
 *
 * Complexity (n pieces, k connected peers, L ≤ k+1 distinct availability levels):
 * - `pick`: O(blocks returned + pieces started × (L + k)) plus the search cost: phase 1 walks the
 *   in-progress pieces that have wanted blocks; phase 2 walks the rarest-first order from the rarest
 *   end and stops at the first pieces the peer has (O(1) per returned piece for a seed or a peer with
 *   most pieces), or — for a peer with few fresh pieces — its bitfield (O(n/8 + its pieces × log));
 *   endgame walks the outstanding blocks, oldest first.
 * - `addPeer`/`removePeer`: O(n/8 + pieces of the peer); a seed is O(1) (plus its requests).
 * - `have`: O(1) (a peer that reaches have-all is turned into a seed once, O(n) typed-array work).
 * - `blockReceived`, `rejected`, `cancelRequest`: O(requesters of the block) (+ O(L + k) if a piece
 *   returns to the fresh set).
 * - `pieceVerified`: O(blocks of the piece + L + k); `pieceFailed`: O(blocks of the piece + L + k).
 * - `left`, `isComplete`, `isInterestedIn`, `hasPiece`, `availability`, `inEndgame`: O(1).
 *
 * Memory: a Uint32Array of availability and two Int32Arrays for the order (12 bytes a piece), the
 * verified bitfield, one bitfield per non-seed peer, and block state only for pieces in progress.
 *
 * @example
 * ```ts
 * const picker = PiecePicker.fromMetainfo<string>(meta, { have: resumeBitfield });
 * picker.addPeer('1.2.3.4:6881', bitfield);           // or 'all' / 'none' (BEP 6)
 * picker.have('1.2.3.4:6881', 17);
 * for (const r of picker.pick('1.2.3.4:6881', requestQueueDepth(rate) - outstanding)) sendRequest(r);
 * const got = picker.blockReceived('1.2.3.4:6881', index, begin, data.length);
 * for (const other of got.cancel) sendCancel(other, { index, begin, length: data.length });
 * if (got.pieceComplete) hash(index);                 // then pieceVerified(index) or pieceFailed(index)
 * ```
 */
export class PiecePicker<P = string> {
  readonly pieceLength: number;
  readonly length: number;
  readonly pieceCount: number;
  readonly blockLength: number;
  /** Blocks in a full piece. */
  readonly blocksPerPiece: number;
  readonly endgameMaxRequests: number;

  private readonly random: () => number;
  private readonly strategy: PickStrategy;
  private readonly geometry: PieceGeometry;
  private readonly verified: Bitfield;
  private leftBytes: number;
  /** Priority of each piece (0 skip … 3 high). A skipped piece that is not started is "parked": in no order. */
  private readonly priority: Uint8Array;
  /** Unverified pieces whose priority is not skip, and their bytes. */
  private wantedPieces = 0;
  private wantedLeftBytes = 0;
  /** Non-skip priority levels in use: with one and no `sequential`, the plain rarest-first walk serves. */
  private levels: number[] = [];
  private sequentialOrder: boolean;
  /** No fresh piece has an index below this (the sequential walk starts here). */
  private seqLow = 0;
  /** Pieces with a deadline (a stream waits for them), soonest first: picked before anything else. */
  private deadlines: number[] = [];

  /** Availability of each piece among non-seed peers. */
  private readonly counts: Uint32Array;
  /**
   * Fresh pieces (neither started nor verified) ordered by availability: order[0, freshSize). Bucket a
   * (pieces with availability a) is order[start(a), ends[a]), start(a) = a ? ends[a-1] : 0. Within a
   * bucket the order is a random permutation (shuffled at start, and every piece entering a bucket
   * swaps with a random member), which is the tie-break.
   */
  private readonly order: Int32Array;
  /** Position of each piece in `order`, -1 when not fresh. */
  private readonly pos: Int32Array;
  private readonly ends: number[] = [];
  private freshSize = 0;

  private readonly inProgress = new Map<number, Progress<P>>();
  /** In-progress pieces that still have wanted blocks, oldest first. */
  private readonly open = new Set<number>();
  /**
   * Pieces that failed their hash, and the peer refetching each (null until one takes a block): other
   * peers leave it to that one while they have anything else to do, so the next copy comes from a
   * single peer where possible — which makes it a clean witness for smart ban.
   */
  private readonly refetch = new Map<number, P | null>();
  /** Requested blocks with fewer than endgameMaxRequests requesters, by time of their last request. */
  private readonly dupCandidates = new Set<number>();
  /** Wanted blocks in the whole torrent; endgame when 0 and not complete. */
  private wantedBlocks = 0;
  /** Blocks of pieces not verified yet that are requested (once, however many peers it is out to) or received. */
  private committedBlocks = 0;

  private readonly peers = new Map<P, PeerState<P>>();
  private readonly partialPeers = new Set<PeerState<P>>();
  private seeds = 0;

  constructor(options: PiecePickerOptions) {
    const { pieceLength, length } = options;
    const blockLength = options.blockLength ?? BLOCK_LENGTH;
    const endgameMaxRequests = options.endgameMaxRequests ?? 3;
    if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0) {
      throw new PickerError('BT_ERR_PICKER_OPTIONS', `invalid piece length ${pieceLength}`);
    }
    if (!Number.isSafeInteger(length) || length <= 0) {
      throw new PickerError('BT_ERR_PICKER_OPTIONS', `invalid torrent length ${length}`);
    }
    if (!Number.isSafeInteger(blockLength) || blockLength <= 0) {
      throw new PickerError('BT_ERR_PICKER_OPTIONS', `invalid block length ${blockLength}`);
    }
    if (!Number.isSafeInteger(endgameMaxRequests) || endgameMaxRequests < 1) {
      throw new PickerError('BT_ERR_PICKER_OPTIONS', `invalid endgameMaxRequests ${endgameMaxRequests}`);
    }
    this.pieceLength = pieceLength;
    this.length = length;
    this.blockLength = blockLength;
    this.endgameMaxRequests = endgameMaxRequests;
    this.pieceCount = pieceCountFor(length, pieceLength);
    this.geometry = { length, pieceLength, pieceCount: this.pieceCount };
    this.blocksPerPiece = Math.ceil(pieceLength / blockLength);
    this.random = options.random ?? randomFrom(0x2545f491);
    this.strategy = options.strategy ?? 'auto';

    const n = this.pieceCount;
    if (options.have !== undefined && options.have.length !== n) {
      throw new PickerError('BT_ERR_PICKER_BITFIELD', `have bitfield of ${options.have.length} pieces for ${n}`);
    }
    this.verified = options.have?.clone() ?? new Bitfield(n);
    if (options.priorities !== undefined) {
      if (options.priorities.length !== n)
        throw new PickerError('BT_ERR_PICKER_OPTIONS', `${options.priorities.length} piece priorities for ${n} pieces`);
      for (const v of options.priorities)
        if (v > 3) throw new PickerError('BT_ERR_PICKER_OPTIONS', `invalid piece priority ${v}`);
    }
    this.priority = options.priorities ? Uint8Array.from(options.priorities) : new Uint8Array(n).fill(2);
    this.sequentialOrder = options.sequential ?? false;
    this.counts = new Uint32Array(n);
    this.order = new Int32Array(n);
    this.pos = new Int32Array(n).fill(-1);
    let size = 0;
    for (let i = 0; i < n; i++) {
      if (this.verified.has(i) || this.priority[i] === 0) continue;
      this.wantedPieces++;
      this.wantedLeftBytes += this.pieceBytes(i);
      // Inside-out Fisher–Yates: the initial fresh order is a uniformly random permutation.
      const j = this.randomInt(size + 1);
      if (j !== size) {
        const moved = this.order[j]!;
        this.order[size] = moved;
        this.pos[moved] = size;
      }
      this.order[j] = i;
      this.pos[i] = j;
      size++;
    }
    this.freshSize = size;
    this.ends.push(size);

    let left = length;
    let wanted = 0;
    this.verified.forEach((i) => (left -= this.pieceBytes(i)));
    for (let k = 0; k < size; k++) wanted += this.blockCount(this.order[k]!);
    this.leftBytes = left;
    this.wantedBlocks = wanted;
    this.levels = this.levelsInUse();
  }

  /**
   * A picker for a parsed torrent.
   *
   * @example
   * ```ts
   * const picker = PiecePicker.fromMetainfo(meta, { have: checked });
   * ```
   */
  static fromMetainfo<P = string>(
    meta: Pick<Metainfo, 'length' | 'pieceLength'>,
    options: Omit<PiecePickerOptions, 'length' | 'pieceLength'> = {},
  ): PiecePicker<P> {
    return new PiecePicker<P>({ ...options, length: meta.length, pieceLength: meta.pieceLength });
  }

  // ---------------------------------------------------------------------------------------------
  // Geometry

  /** Bytes of piece `index` (the last piece may be shorter). */
  pieceBytes(index: number): number {
    return pieceBytes(this.geometry, index);
  }

  /** Blocks of piece `index`. */
  blockCount(index: number): number {
    return blockCount(this.geometry, index, this.blockLength);
  }

  /** Bytes of block `block` (0-based) of piece `index`. */
  blockBytes(index: number, block: number): number {
    return blockBytes(this.geometry, index, block, this.blockLength);
  }

  // ---------------------------------------------------------------------------------------------
  // Queries

  /** Bytes of the pieces not yet verified (the tracker's `left`). O(1). */
  get left(): number {
    return this.leftBytes;
  }

  /** Every piece verified. O(1). */
  get isComplete(): boolean {
    return this.verified.isComplete;
  }

  /** Bytes of the unverified pieces whose priority is not skip (what a partial selection still needs). O(1). */
  get wantedLeft(): number {
    return this.wantedLeftBytes;
  }

  /** Every piece that is not skipped is verified: the selection is done (the whole torrent if nothing is skipped). O(1). */
  get isFinished(): boolean {
    return this.wantedPieces === 0;
  }

  /** Priority of piece `index` (0 skip, 1 low, 2 normal, 3 high). */
  priorityOf(index: number): PiecePriority {
    this.verified.has(index); // range check
    return this.priority[index]! as PiecePriority;
  }

  /** New pieces are taken in index order (still by priority level, still with endgame). */
  get sequential(): boolean {
    return this.sequentialOrder;
  }

  /** Turns sequential order on or off. O(1). */
  setSequential(on: boolean): void {
    this.sequentialOrder = on;
  }

  /**
   * New piece priorities (one per piece, 0 skip … 3 high), e.g. after a file was selected or deselected.
   * A piece going to skip leaves the rarest-first order and the wanted tallies (blocks already requested
   * stay outstanding and are still accepted); a piece leaving skip rejoins them. Interest in a peer may
   * change: the caller re-checks {@link isInterestedIn}. O(changed pieces × (L + k)).
   *
   * @example
   * ```ts
   * picker.setPriorities(piecePriorities(files, [0, 2, 0], pieceLength)); // only file 1
   * ```
   */
  setPriorities(priorities: Uint8Array): void {
    const n = this.pieceCount;
    if (priorities.length !== n)
      throw new PickerError('BT_ERR_PICKER_OPTIONS', `${priorities.length} piece priorities for ${n} pieces`);
    for (const v of priorities)
      if (v > 3) throw new PickerError('BT_ERR_PICKER_OPTIONS', `invalid piece priority ${v}`);
    for (let i = 0; i < n; i++) {
      const from = this.priority[i]!;
      const to = priorities[i]!;
      if (from === to) continue;
      this.priority[i] = to;
      if (this.verified.has(i) || (from > 0 && to > 0)) continue;
      const prog = this.inProgress.get(i);
      if (to === 0) {
        this.wantedPieces--;
        this.wantedLeftBytes -= this.pieceBytes(i);
        for (const st of this.partialPeers) if (st.pieces!.has(i)) st.wantCount--;
        if (prog) this.wantedBlocks -= prog.wanted;
        else {
          this.wantedBlocks -= this.blockCount(i);
          this.removeFresh(i);
        }
      } else {
        this.wantedPieces++;
        this.wantedLeftBytes += this.pieceBytes(i);
        for (const st of this.partialPeers) if (st.pieces!.has(i)) st.wantCount++;
        if (prog) this.wantedBlocks += prog.wanted;
        else {
          this.wantedBlocks += this.blockCount(i);
          this.insertFresh(i);
        }
      }
    }
    this.levels = this.levelsInUse();
  }

  /**
   * Pieces someone waits for (a stream reading them), soonest first: `pick` serves their wanted blocks
   * before any other (the pieces a peer has, not skipped, not verified), then the usual policy. Replaces
   * the previous list; `[]` clears it. O(pieces given).
   *
   * @example
   * ```ts
   * picker.setDeadlines([40, 41, 42]); // a player seeks to piece 40
   * ```
   */
  setDeadlines(pieces: readonly number[]): void {
    const n = this.pieceCount;
    this.deadlines = [...new Set(pieces)].filter((i) => Number.isInteger(i) && i >= 0 && i < n);
  }

  /** The pieces with a deadline still unverified, soonest first. */
  get deadlinePieces(): number[] {
    return this.deadlines.filter((i) => !this.verified.has(i));
  }

  /** Phase 0: wanted blocks of the deadline pieces the peer has, in deadline order. */
  private pickDeadlines(st: PeerState<P>, out: BlockRequest[], count: number): void {
    let k = 0;
    for (const index of this.deadlines) {
      if (this.verified.has(index)) continue;
      this.deadlines[k++] = index;
      if (out.length >= count || this.priority[index] === 0 || !this.stateHas(st, index)) continue;
      const prog = this.inProgress.get(index);
      if (prog) {
        if (prog.wanted > 0) this.takeWanted(prog, st, out, count);
      } else if (this.pos[index]! >= 0) this.takeWanted(this.startPiece(index), st, out, count);
    }
    this.deadlines.length = k; // verified ones dropped
  }

  /** The non-skip priority levels of the unverified pieces, highest first. */
  private levelsInUse(): number[] {
    const seen = [false, false, false, false];
    for (let i = 0; i < this.pieceCount; i++) if (!this.verified.has(i)) seen[this.priority[i]!] = true;
    return [3, 2, 1].filter((l) => seen[l]);
  }

  /** Number of verified pieces. O(1). */
  get verifiedCount(): number {
    return this.verified.count;
  }

  /**
   * Blocks of the pieces not verified yet that are requested (each once: an endgame duplicate is one
   * block) or received: the bytes held in memory until their piece is verified, or on their way there,
   * which the torrent bounds by its write backlog. O(1).
   */
  get committedCount(): number {
    return this.committedBlocks;
  }

  /** Every remaining block is requested or received (and some piece is not verified yet). O(1). */
  get inEndgame(): boolean {
    return this.wantedBlocks === 0 && this.wantedPieces > 0;
  }

  /** Number of peers known to the picker. */
  get peerCount(): number {
    return this.peers.size;
  }

  /** True when `peer` has every piece (a seed, by have-all or a complete bitfield). */
  isSeed(peer: P): boolean {
    const st = this.peers.get(peer);
    return st !== undefined && (st.pieces === null || st.pieces.isComplete);
  }

  /** Number of known peers that have every piece. */
  get seedCount(): number {
    return this.seeds;
  }

  /** A copy of the verified pieces, e.g. for our `bitfield` message. O(n/8). */
  bitfield(): Bitfield {
    return this.verified.clone();
  }

  /** True when piece `index` is verified. O(1). */
  hasPiece(index: number): boolean {
    return this.verified.has(index);
  }

  /** Peers that have piece `index`. O(1). */
  availability(index: number): number {
    this.verified.has(index); // range check
    return this.counts[index]! + this.seeds;
  }

  /** True when `peer` has a piece we have not verified: we should be interested. O(1). */
  isInterestedIn(peer: P): boolean {
    const st = this.peers.get(peer);
    return st !== undefined && this.wantCountOf(st) > 0;
  }

  /** True when the peer is known and has piece `index`. */
  peerHas(peer: P, index: number): boolean {
    const st = this.peers.get(peer);
    return st !== undefined && this.stateHas(st, index);
  }

  /** Requests outstanding to `peer`, in the order they were made. */
  outstanding(peer: P): BlockRequest[] {
    const st = this.peers.get(peer);
    if (!st) return [];
    return [...st.requests].map((id) => this.requestOf(id));
  }

  /** Number of requests outstanding to `peer`. O(1). */
  outstandingCount(peer: P): number {
    return this.peers.get(peer)?.requests.size ?? 0;
  }

  /** State of the block of piece `index` at offset `begin`. */
  blockState(index: number, begin: number): BlockState {
    if (this.verified.has(index)) return 'verified';
    const prog = this.inProgress.get(index);
    if (!prog) return 'wanted';
    const s = prog.state[this.blockIndex(index, begin)];
    return s === REQUESTED ? 'requested' : s === RECEIVED ? 'received' : 'wanted';
  }

  /** Peers the block at (`index`, `begin`) is outstanding to. */
  requestersOf(index: number, begin: number): P[] {
    const prog = this.inProgress.get(index);
    if (!prog) return [];
    return [...(prog.requesters[this.blockIndex(index, begin)] ?? [])];
  }

  /** Peers that delivered received blocks of piece `index` since it last failed its hash. */
  contributorsOf(index: number): P[] {
    return [...(this.inProgress.get(index)?.contributors ?? [])];
  }

  /**
   * Who delivered each block of piece `index` in progress (undefined for a block not received): read it
   * before {@link pieceFailed} to know who sent which bytes of a failed piece (smart ban).
   */
  sendersOf(index: number): (P | undefined)[] {
    const prog = this.inProgress.get(index);
    return prog ? prog.senders.slice() : [];
  }

  /** Pieces with per-block state (started and neither verified nor wholly wanted again). */
  get piecesInProgress(): number {
    return this.inProgress.size;
  }

  /** The indices of the pieces in progress (see {@link piecesInProgress}), in no order: for the inspector's piece map. */
  startedPieces(): IterableIterator<number> {
    return this.inProgress.keys();
  }

  // ---------------------------------------------------------------------------------------------
  // Peers

  /**
   * A peer joined with its bitfield, or BEP 6 `have all` / `have none`. Availability is counted
   * incrementally; a seed only increments a seed count. Adding a peer that is already known replaces
   * its piece set and returns its outstanding requests to wanted.
   *
   * @returns whether we are interested in the peer (it has a piece we lack).
   * @example
   * ```ts
   * if (picker.addPeer(key, Bitfield.fromBytes(msg.bytes, meta.pieceCount))) sendInterested();
   * ```
   */
  addPeer(peer: P, pieces: PeerPieces): boolean {
    if (pieces instanceof Bitfield && pieces.length !== this.pieceCount) {
      throw new PickerError('BT_ERR_PICKER_BITFIELD', `bitfield of ${pieces.length} pieces for ${this.pieceCount}`);
    }
    if (this.peers.has(peer)) this.removePeer(peer);
    const st: PeerState<P> = {
      key: peer,
      pieces: null,
      wantCount: 0,
      freshCount: 0,
      requests: new Set(),
      suggested: [],
    };
    this.peers.set(peer, st);
    if (pieces === 'all' || (pieces instanceof Bitfield && pieces.isComplete)) {
      this.seeds++;
      return this.wantCountOf(st) > 0;
    }
    const bits = pieces === 'none' ? new Bitfield(this.pieceCount) : pieces.clone();
    st.pieces = bits;
    this.partialPeers.add(st);
    bits.forEach((i) => this.gain(st, i));
    return st.wantCount > 0;
  }

  /**
   * A `have` message: `peer` now has piece `index`. Ignored for an unknown peer or a piece it
   * already had. Throws the Bitfield's `BT_ERR_BITFIELD_INDEX` for an index outside the torrent.
   *
   * @returns whether we lack the piece (the caller may become interested).
   */
  have(peer: P, index: number): boolean {
    const lack = !this.verified.has(index);
    const st = this.peers.get(peer);
    if (!st || st.pieces === null) return lack;
    if (!st.pieces.set(index)) return lack;
    this.gain(st, index);
    if (st.pieces.isComplete) this.becomeSeed(st);
    return lack;
  }

  /**
   * As a seed (BEP 6 `suggest`): up to `ahead` pieces to suggest to `peer`, so that it has that many of
   * our suggestions it still lacks — the pieces with the fewest copies, counting those held (`have`) and
   * those promised (suggested to a peer that has not announced them yet), ties at random. A swarm whose
   * leechers take a seed's suggestions first ({@link pick}) then gets every piece from the seed once
   * before any twice, instead of leechers choosing the same pieces among those nobody holds yet (which
   * they cannot tell apart from those on their way to someone else). Nothing for a peer that has every
   * piece or is unknown. O(n log n + peers × ahead).
   *
   * @example
   * ```ts
   * if (picker.isComplete) for (const index of picker.suggestFor(key, 8)) send({ type: 'suggest', index });
   * ```
   */
  suggestFor(peer: P, ahead: number): number[] {
    const st = this.peers.get(peer);
    if (!st || st.pieces === null) return [];
    const pieces = st.pieces;
    st.suggested = st.suggested.filter((i) => !pieces.has(i));
    const need = Math.floor(ahead) - st.suggested.length;
    if (!(need > 0)) return [];
    const copies = Uint32Array.from(this.counts);
    for (const other of this.partialPeers) for (const i of other.suggested) if (!other.pieces!.has(i)) copies[i]!++;
    const candidates: { i: number; tie: number }[] = [];
    for (let i = 0; i < this.pieceCount; i++) if (!pieces.has(i)) candidates.push({ i, tie: this.random() });
    candidates.sort((a, b) => copies[a.i]! - copies[b.i]! || a.tie - b.tie);
    const chosen: number[] = [];
    for (const c of candidates) {
      if (chosen.length >= need) break;
      if (!st.suggested.includes(c.i)) chosen.push(c.i);
    }
    st.suggested.push(...chosen);
    return chosen;
  }

  /**
   * A peer left: its outstanding requests return to wanted (unless also outstanding elsewhere) and
   * its pieces no longer count towards availability.
   */
  removePeer(peer: P): void {
    const st = this.peers.get(peer);
    if (!st) return;
    this.releasePeer(peer);
    this.peers.delete(peer);
    if (st.pieces === null) {
      this.seeds--;
      return;
    }
    this.partialPeers.delete(st);
    st.pieces.forEach((i) => {
      const p = this.pos[i]!;
      if (p >= 0) this.bucketDown(i);
      this.counts[i]!--;
    });
  }

  /**
   * Returns every request outstanding to `peer` to wanted (unless also outstanding to another peer),
   * keeping its availability: for a choke without the fast extension, or a snubbed peer whose blocks
   * should go elsewhere. Send `cancel` for the returned requests if the peer may still serve them.
   *
   * @returns the requests that were outstanding to the peer.
   */
  releasePeer(peer: P): BlockRequest[] {
    const st = this.peers.get(peer);
    if (!st || st.requests.size === 0) return [];
    const ids = [...st.requests];
    st.requests.clear();
    const released: BlockRequest[] = [];
    for (const id of ids) {
      released.push(this.requestOf(id));
      this.dropRequester(id, st.key);
    }
    return released;
  }

  /**
   * BEP 6 `reject request`: the block at (`index`, `begin`) is no longer outstanding to `peer`.
   * @returns whether it was outstanding to the peer.
   */
  rejected(peer: P, index: number, begin: number): boolean {
    const st = this.peers.get(peer);
    if (!st || !this.validBlock(index, begin)) return false;
    const id = this.blockId(index, begin / this.blockLength);
    if (!st.requests.delete(id)) return false;
    this.dropRequester(id, peer);
    return true;
  }

  /**
   * We sent `cancel` for a request (e.g. a snubbed peer's single slow block): same bookkeeping as
   * {@link PiecePicker.rejected}.
   */
  cancelRequest(peer: P, index: number, begin: number): boolean {
    return this.rejected(peer, index, begin);
  }

  // ---------------------------------------------------------------------------------------------
  // Picking

  /**
   * Up to `count` block requests for `peer`, marked requested by it: blocks of pieces in progress
   * first, then new pieces rarest first (random tie-break), then — in endgame only — duplicates of
   * blocks outstanding elsewhere (at most `endgameMaxRequests` per block, never twice to one peer).
   * Never a block of a piece the peer lacks, or of a verified piece.
   *
   * @example
   * ```ts
   * const want = requestQueueDepth(meter.rate(now)) - picker.outstandingCount(peer);
   * for (const r of picker.pick(peer, want)) send({ type: 'request', ...r });
   * ```
   */
  pick(peer: P, count: number, hints?: PickHints): BlockRequest[] {
    const out: BlockRequest[] = [];
    const st = this.peers.get(peer);
    count = Math.floor(count);
    if (!st || !(count > 0) || this.wantCountOf(st) === 0) return out;

    // BEP 6: the peer chokes us; only the pieces it allows us (allowed-fast) may be asked for.
    if (hints?.only) {
      // Not from a seed while other peers can serve us: the seed's upload is the swarm's scarcest, and
      // the peers it chose to unchoke should have it (docs/machines/piece-picker.md, "From a seed").
      if (st.pieces === null && this.partialPeers.size > 0) return out;
      this.pickAmong(st, out, count, hints.only, undefined, false);
      return this.claimRefetch(peer, out);
    }
    const prefer = this.sequentialOrder ? undefined : hints?.prefer;

    // 0. Pieces a stream waits for.
    if (this.deadlines.length > 0) {
      this.pickDeadlines(st, out, count);
      if (out.length >= count) return this.claimRefetch(peer, out);
    }

    if (!this.sequentialOrder && this.levels.length <= 1) {
      // From a seed, first what no other peer we know has (the others can give us the rest): unfinished
      // pieces nobody holds, the seed's suggestions, then new pieces nobody holds (bucket 0 of the order).
      if (st.pieces === null && this.partialPeers.size > 0) {
        this.pickPartial(st, out, count, undefined, true);
        if (out.length >= count) return this.claimRefetch(peer, out);
        // Its suggestions next: a seed suggests the pieces with the fewest copies, those on their way counted.
        if (prefer) this.pickAmong(st, out, count, prefer, undefined, true);
        if (out.length >= count) return this.claimRefetch(peer, out);
        this.pickFreshByOrder(st, out, count, undefined, true);
        if (out.length >= count) return this.claimRefetch(peer, out);
      }
      // One priority level: 1. finish partial pieces first (a failed piece being refetched by another
      // peer is left to it), 2. new pieces, rarest first.
      this.pickPartial(st, out, count, undefined);
      if (out.length >= count) return this.claimRefetch(peer, out);
      // BEP 6 `suggest`: new pieces the peer suggested before other new ones.
      if (prefer && this.freshCountOf(st) > 0) this.pickAmong(st, out, count, prefer, undefined, true);
      if (out.length >= count) return this.claimRefetch(peer, out);
      if (this.freshCountOf(st) > 0) {
        if (this.useBitfieldWalk(st, count - out.length)) this.pickFreshByBitfield(st, out, count);
        else this.pickFreshByOrder(st, out, count, undefined);
      }
    } else {
      // Level by level, highest first: its partial pieces, then its new pieces (rarest first, or in order).
      for (const level of this.levels) {
        this.pickPartial(st, out, count, level);
        if (out.length >= count) return this.claimRefetch(peer, out);
        if (this.freshCountOf(st) === 0) continue;
        if (prefer) this.pickAmong(st, out, count, prefer, level, true);
        if (out.length >= count) break;
        if (this.sequentialOrder) this.pickFreshInOrder(st, out, count, level);
        else this.pickFreshByOrder(st, out, count, level);
        if (out.length >= count) break;
      }
    }

    // 1b. Nothing else to do: help with the pieces being refetched after all.
    if (out.length < count && this.refetch.size > 0) {
      for (const index of this.open) {
        if (!this.stateHas(st, index) || !this.refetch.has(index) || this.priority[index] === 0) continue;
        this.takeWanted(this.inProgress.get(index)!, st, out, count);
        if (out.length >= count) break;
      }
    }
    this.claimRefetch(peer, out);

    // 3. Endgame.
    if (out.length < count && this.wantedBlocks === 0 && this.dupCandidates.size > 0) {
      this.pickEndgame(st, out, count);
    }
    return out;
  }

  /**
   * A whole piece for a source that fetches pieces, not blocks (a BEP 19 web seed): a fresh piece
   * (a deadline piece first, then by priority level, in order when sequential, else rarest first), every
   * block of it marked requested by `peer`, so peers leave it alone. With no fresh piece left, an
   * unfinished one: its wanted blocks, and — as in endgame — a duplicate request of its requested blocks
   * that have room. Undefined when there is nothing to take.
   *
   * @example
   * ```ts
   * const got = picker.pickPiece('ws:http://host/file');
   * if (got) fetchWholePiece(got.index); // then blockReceived() for each block of it
   * ```
   */
  pickPiece(peer: P): { index: number; requests: BlockRequest[] } | undefined {
    const st = this.peers.get(peer);
    if (!st || this.wantCountOf(st) === 0) return undefined;
    const take = (index: number) => {
      const out: BlockRequest[] = [];
      this.takeWanted(this.startPiece(index), st, out, this.blockCount(index));
      return { index, requests: out };
    };
    for (const index of this.deadlines)
      if (this.pos[index]! >= 0 && this.priority[index] !== 0 && this.stateHas(st, index)) return take(index);
    if (this.freshCountOf(st) > 0) {
      for (const level of this.levels) {
        if (this.sequentialOrder) {
          for (let i = this.seqLow; i < this.pieceCount; i++)
            if (this.pos[i]! >= 0 && this.priority[i] === level && this.stateHas(st, i)) return take(i);
        } else {
          for (let p = 0; p < this.freshSize; p++) {
            const i = this.order[p]!;
            if (this.priority[i] === level && this.stateHas(st, i)) return take(i);
          }
        }
      }
    }
    // No fresh piece: help with an unfinished one (the one with the most left to do).
    let best: Progress<P> | undefined;
    for (const prog of this.inProgress.values()) {
      if (this.priority[prog.index] === 0 || !this.stateHas(st, prog.index) || prog.received === prog.blocks) continue;
      if (prog.requesters.some((rs) => rs?.includes(st.key))) continue;
      if (!best || prog.wanted + prog.requested > best.wanted + best.requested) best = prog;
    }
    if (!best) return undefined;
    const out: BlockRequest[] = [];
    const bpp = this.blocksPerPiece;
    for (let b = 0; b < best.blocks; b++) {
      if (best.state[b] !== REQUESTED) continue;
      const rs = best.requesters[b]!;
      if (rs.length >= this.endgameMaxRequests) continue;
      rs.push(st.key);
      const id = best.index * bpp + b;
      st.requests.add(id);
      if (rs.length >= this.endgameMaxRequests) this.dupCandidates.delete(id);
      out.push(this.requestOf(id));
    }
    if (best.wanted > 0) this.takeWanted(best, st, out, best.blocks);
    return out.length > 0 ? { index: best.index, requests: out } : undefined;
  }

  /**
   * Wanted blocks of the listed pieces the peer has (BEP 6 hints): of priority `level` (or any not
   * skipped), fresh ones only when `freshOnly` (a suggestion ranks a new piece, not an unfinished one).
   */
  private pickAmong(
    st: PeerState<P>,
    out: BlockRequest[],
    count: number,
    pieces: readonly number[],
    level: number | undefined,
    freshOnly: boolean,
  ): void {
    for (const index of pieces) {
      if (out.length >= count) return;
      if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount || this.verified.has(index)) continue;
      const pr = this.priority[index]!;
      if (pr === 0 || (level !== undefined && pr !== level) || !this.stateHas(st, index)) continue;
      if (this.pos[index]! >= 0) this.takeWanted(this.startPiece(index), st, out, count);
      else if (!freshOnly && !this.refetchedByOther(index, st.key)) {
        const prog = this.inProgress.get(index);
        if (prog && prog.wanted > 0) this.takeWanted(prog, st, out, count);
      }
    }
  }

  /** Phase 1: wanted blocks of in-progress pieces the peer has (of priority `level`, or any not skipped). */
  private pickPartial(
    st: PeerState<P>,
    out: BlockRequest[],
    count: number,
    level: number | undefined,
    unheld = false,
  ): void {
    if (this.open.size === 0) return;
    for (const index of this.open) {
      const pr = this.priority[index]!;
      if (pr === 0 || (level !== undefined && pr !== level) || (unheld && this.counts[index]! > 0)) continue;
      if (!this.stateHas(st, index) || this.refetchedByOther(index, st.key)) continue;
      this.takeWanted(this.inProgress.get(index)!, st, out, count);
      if (out.length >= count) return;
    }
  }

  /** Piece `index` failed and another connected peer is refetching it. */
  private refetchedByOther(index: number, peer: P): boolean {
    if (this.refetch.size === 0) return false;
    const owner = this.refetch.get(index);
    return owner !== undefined && owner !== null && owner !== peer && this.peers.has(owner);
  }

  /** The first peer to take blocks of a failed piece becomes its refetcher. Returns `out`. */
  private claimRefetch(peer: P, out: BlockRequest[]): BlockRequest[] {
    if (this.refetch.size === 0) return out;
    for (const r of out) {
      const owner = this.refetch.get(r.index);
      if (owner === null || (owner !== undefined && !this.peers.has(owner))) this.refetch.set(r.index, peer);
    }
    return out;
  }

  /**
   * A block arrived from `peer`. See {@link ReceiveStatus}. An accepted block becomes received (its
   * other requesters are listed in `cancel`), and the peer is recorded as a contributor of the piece.
   *
   * @example
   * ```ts
   * const r = picker.blockReceived(peer, msg.index, msg.begin, msg.block.length);
   * if (r.status === 'accepted') await storage.write(msg);
   * for (const other of r.cancel) sendCancel(other, msg);
   * if (r.pieceComplete) verify(msg.index);
   * ```
   */
  blockReceived(peer: P, index: number, begin: number, length: number): ReceiveResult<P> {
    if (!this.validBlock(index, begin)) return result('unexpected', false, false, []);
    const b = begin / this.blockLength;
    if (length !== this.blockBytes(index, b)) return result('unexpected', false, false, []);
    const id = this.blockId(index, b);
    if (this.verified.has(index)) return result('duplicate', false, false, []);
    let prog = this.inProgress.get(index);
    if (!prog) prog = this.startPiece(index);
    const s = prog.state[b];
    if (s === RECEIVED) return result('duplicate', false, false, []);

    let requested = false;
    const cancel: P[] = [];
    if (s === REQUESTED) {
      for (const r of prog.requesters[b]!) {
        if (r === peer) requested = true;
        else cancel.push(r);
        this.peers.get(r)?.requests.delete(id);
      }
      prog.requesters[b] = undefined;
      prog.requested--;
      this.dupCandidates.delete(id);
    } else {
      this.committedBlocks++;
      prog.wanted--;
      if (this.priority[index]! > 0) this.wantedBlocks--;
      if (prog.wanted === 0) this.open.delete(index);
    }
    prog.state[b] = RECEIVED;
    prog.received++;
    prog.contributors.add(peer);
    prog.senders[b] = peer;
    return result('accepted', requested, prog.received === prog.blocks, cancel);
  }

  /**
   * Piece `index` passed its hash check (or was found on disk): it is ours and never picked again;
   * its block state is dropped. Normally no request is outstanding for it; any that is (the piece was
   * verified from elsewhere) is returned so the caller can cancel it.
   */
  pieceVerified(index: number): PeerRequest<P>[] {
    if (this.verified.has(index)) return [];
    this.refetch.delete(index);
    const cancels: PeerRequest<P>[] = [];
    const prog = this.inProgress.get(index);
    if (prog) {
      for (let b = 0; b < prog.blocks; b++) {
        const rs = prog.requesters[b];
        if (rs === undefined) continue;
        const id = this.blockId(index, b);
        for (const r of rs) {
          this.peers.get(r)?.requests.delete(id);
          cancels.push({ peer: r, request: this.requestOf(id) });
        }
        this.dupCandidates.delete(id);
      }
      if (this.priority[index]! > 0) this.wantedBlocks -= prog.wanted;
      this.committedBlocks -= prog.requested + prog.received;
      this.inProgress.delete(index);
      this.open.delete(index);
    } else if (this.pos[index]! >= 0) {
      this.wantedBlocks -= this.blockCount(index);
      this.removeFresh(index);
    }
    this.verified.set(index);
    this.leftBytes -= this.pieceBytes(index);
    if (this.priority[index]! > 0) {
      this.wantedPieces--;
      this.wantedLeftBytes -= this.pieceBytes(index);
      for (const st of this.partialPeers) if (st.pieces!.has(index)) st.wantCount--;
    }
    return cancels;
  }

  /**
   * Piece `index` failed its hash check: its received blocks are wanted again, and the peers that
   * contributed them are returned (count a strike against each). Requests still outstanding for the
   * piece stay outstanding.
   */
  pieceFailed(index: number): P[] {
    const prog = this.inProgress.get(index);
    if (!prog) return [];
    const contributors = [...prog.contributors];
    prog.contributors.clear();
    this.refetch.set(index, null);
    prog.senders.fill(undefined);
    for (let b = 0; b < prog.blocks; b++) {
      if (prog.state[b] !== RECEIVED) continue;
      prog.state[b] = WANTED;
      prog.received--;
      this.committedBlocks--;
      prog.wanted++;
      if (this.priority[index]! > 0) this.wantedBlocks++;
    }
    prog.firstWanted = 0;
    if (prog.wanted > 0) this.open.add(index);
    this.maybeUnstart(prog);
    return contributors;
  }

  /**
   * Checks every internal invariant (order structure, availability counts, block states against
   * requesters and peers' request sets, tallies) and throws an Error naming the first violation.
   * O(n × peers): for tests.
   */
  checkInvariants(): void {
    const fail = (msg: string): never => {
      throw new Error(`PiecePicker invariant: ${msg}`);
    };
    const n = this.pieceCount;
    // Order structure.
    if (this.ends.length === 0 || this.ends[this.ends.length - 1] !== this.freshSize) fail('ends/freshSize');
    for (let a = 1; a < this.ends.length; a++) if (this.ends[a]! < this.ends[a - 1]!) fail('ends not monotone');
    let level = 0;
    for (let p = 0; p < this.freshSize; p++) {
      const i = this.order[p]!;
      if (this.pos[i] !== p) fail(`pos of ${i}`);
      while (p >= this.ends[level]!) level++;
      if (this.counts[i] !== level) fail(`piece ${i} with availability ${this.counts[i]} in bucket ${level}`);
    }
    let fresh = 0;
    let wanted = 0;
    let left = 0;
    let wantedPieces = 0;
    let wantedLeft = 0;
    for (let i = 0; i < n; i++) {
      const isFresh = this.pos[i]! >= 0;
      const v = this.verified.has(i);
      const prog = this.inProgress.get(i);
      if (isFresh) fresh++;
      const skipped = this.priority[i] === 0;
      if (v && (isFresh || prog)) fail(`verified piece ${i} is fresh or in progress`);
      if (skipped && isFresh) fail(`skipped piece ${i} is fresh`);
      if (!v && !skipped && isFresh === (prog !== undefined))
        fail(`piece ${i} must be exactly one of fresh / in progress`);
      if (!v) left += this.pieceBytes(i);
      if (!v && !skipped) {
        wantedPieces++;
        wantedLeft += this.pieceBytes(i);
      }
      if (isFresh && i < this.seqLow) fail(`fresh piece ${i} below the sequential cursor`);
      if (isFresh) wanted += this.blockCount(i);
      let c = 0;
      for (const st of this.partialPeers) if (st.pieces!.has(i)) c++;
      if (c !== this.counts[i]) fail(`availability of ${i}: ${this.counts[i]} counted, ${c} real`);
    }
    if (fresh !== this.freshSize) fail('freshSize');
    if (left !== this.leftBytes) fail(`left ${this.leftBytes}, real ${left}`);
    if (wantedPieces !== this.wantedPieces || wantedLeft !== this.wantedLeftBytes) fail('wanted pieces / bytes');
    // Blocks.
    const outstanding = new Map<P, Set<number>>();
    let committed = 0;
    const candidates = new Set<number>();
    for (const [index, prog] of this.inProgress) {
      if (prog.index !== index || prog.blocks !== this.blockCount(index)) fail(`progress of ${index}`);
      let w = 0;
      let q = 0;
      let r = 0;
      for (let b = 0; b < prog.blocks; b++) {
        const s = prog.state[b];
        const rs = prog.requesters[b];
        if (s === WANTED) {
          w++;
          if (b < prog.firstWanted) fail(`firstWanted of ${index}`);
        } else if (s === REQUESTED) q++;
        else if (s === RECEIVED) r++;
        else fail(`state ${s}`);
        if ((s === REQUESTED) !== (rs !== undefined && rs.length > 0)) fail(`requesters of ${index}/${b}`);
        if (!rs) continue;
        if (new Set(rs).size !== rs.length) fail(`block ${index}/${b} requested twice from one peer`);
        if (rs.length > this.endgameMaxRequests) fail(`block ${index}/${b} requested ${rs.length} times`);
        if (rs.length < this.endgameMaxRequests) candidates.add(this.blockId(index, b));
        for (const peer of rs) {
          const st = this.peers.get(peer);
          if (!st) fail(`block ${index}/${b} outstanding to a peer that left`);
          if (!this.stateHas(st!, index)) fail(`block ${index}/${b} outstanding to a peer that lacks it`);
          let set = outstanding.get(peer);
          if (!set) outstanding.set(peer, (set = new Set()));
          set.add(this.blockId(index, b));
        }
      }
      if (w !== prog.wanted || q !== prog.requested || r !== prog.received) fail(`tallies of ${index}`);
      committed += q + r;
      if (w === prog.blocks) fail(`piece ${index} is in progress but wholly wanted`);
      if (w > 0 !== this.open.has(index)) fail(`open set and ${index}`);
      if (this.priority[index] !== 0) wanted += w;
    }
    for (const index of this.open) if (!this.inProgress.has(index)) fail(`open piece ${index} not in progress`);
    if (wanted !== this.wantedBlocks) fail(`wantedBlocks ${this.wantedBlocks}, real ${wanted}`);
    if (committed !== this.committedBlocks) fail(`committedBlocks ${this.committedBlocks}, real ${committed}`);
    if (candidates.size !== this.dupCandidates.size) fail('endgame candidates');
    for (const id of candidates) if (!this.dupCandidates.has(id)) fail('endgame candidates');
    let seeds = 0;
    for (const st of this.peers.values()) {
      const real = outstanding.get(st.key) ?? new Set<number>();
      if (real.size !== st.requests.size) fail('peer request set size');
      for (const id of st.requests) if (!real.has(id)) fail('peer request set');
      if (st.pieces === null) {
        seeds++;
        if (this.partialPeers.has(st)) fail('seed among partial peers');
        continue;
      }
      if (!this.partialPeers.has(st)) fail('partial peer missing');
      let want = 0;
      let fr = 0;
      st.pieces.forEach((i) => {
        if (!this.verified.has(i) && this.priority[i] !== 0) want++;
        if (this.pos[i]! >= 0) fr++;
      });
      if (want !== st.wantCount || fr !== st.freshCount) fail('peer want/fresh counts');
    }
    if (seeds !== this.seeds || this.partialPeers.size + seeds !== this.peers.size) fail('seed count');
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: picking

  private takeWanted(prog: Progress<P>, st: PeerState<P>, out: BlockRequest[], count: number): void {
    const { state, index, blocks } = prog;
    let b = prog.firstWanted;
    for (; b < blocks && out.length < count; b++) {
      if (state[b] !== WANTED) continue;
      state[b] = REQUESTED;
      prog.requesters[b] = [st.key];
      prog.wanted--;
      prog.requested++;
      this.committedBlocks++;
      this.wantedBlocks--;
      const id = this.blockId(index, b);
      st.requests.add(id);
      if (this.endgameMaxRequests > 1) this.dupCandidates.add(id);
      out.push({ index, begin: b * this.blockLength, length: this.blockBytes(index, b) });
    }
    prog.firstWanted = b;
    if (prog.wanted === 0) this.open.delete(index);
  }

  /** Cost model for phase 2: expected order positions walked vs. one pass over the peer's bitfield. */
  private useBitfieldWalk(st: PeerState<P>, want: number): boolean {
    if (st.pieces === null || this.strategy === 'order') return false;
    if (this.strategy === 'bitfield') return true;
    const piecesNeeded = Math.ceil(want / this.blocksPerPiece);
    // The walk stops once it has met every fresh piece the peer has, so it never exceeds freshSize.
    const walk = Math.min(this.freshSize, (piecesNeeded * this.freshSize) / st.freshCount);
    return walk > this.pieceCount / 8 + st.pieces.count;
  }

  private pickFreshByOrder(
    st: PeerState<P>,
    out: BlockRequest[],
    count: number,
    level: number | undefined,
    unheld = false,
  ): void {
    const order = this.order;
    let p = 0;
    // `unheld`: bucket 0 only (pieces no non-seed peer has).
    while (out.length < count && p < (unheld ? this.ends[0]! : this.freshSize) && this.freshCountOf(st) > 0) {
      const i = order[p]!;
      if (!this.stateHas(st, i) || (level !== undefined && this.priority[i] !== level)) {
        p++;
        continue;
      }
      // Starting i removes it from the order: the element now at p has not been looked at yet.
      this.takeWanted(this.startPiece(i), st, out, count);
    }
  }

  /** Sequential: fresh pieces of priority `level` the peer has, lowest index first. O(n) at worst. */
  private pickFreshInOrder(st: PeerState<P>, out: BlockRequest[], count: number, level: number): void {
    const n = this.pieceCount;
    while (this.seqLow < n && this.pos[this.seqLow]! < 0) this.seqLow++;
    for (let i = this.seqLow; i < n && out.length < count && this.freshCountOf(st) > 0; i++) {
      if (this.pos[i]! < 0 || this.priority[i] !== level || !this.stateHas(st, i)) continue;
      this.takeWanted(this.startPiece(i), st, out, count);
    }
  }

  private pickFreshByBitfield(st: PeerState<P>, out: BlockRequest[], count: number): void {
    const positions = new Int32Array(st.freshCount);
    let k = 0;
    const pos = this.pos;
    st.pieces!.forEach((i) => {
      const p = pos[i]!;
      if (p >= 0) positions[k++] = p;
    });
    positions.sort();
    const pieces = positions.map((p) => this.order[p]!);
    for (let j = 0; j < pieces.length && out.length < count; j++) {
      this.takeWanted(this.startPiece(pieces[j]!), st, out, count);
    }
  }

  private pickEndgame(st: PeerState<P>, out: BlockRequest[], count: number): void {
    const bpp = this.blocksPerPiece;
    const promoted: number[] = [];
    for (const id of this.dupCandidates) {
      const index = Math.floor(id / bpp);
      if (!this.stateHas(st, index) || this.priority[index] === 0) continue;
      const b = id - index * bpp;
      const rs = this.inProgress.get(index)!.requesters[b]!;
      if (rs.includes(st.key)) continue;
      rs.push(st.key);
      st.requests.add(id);
      promoted.push(id);
      out.push({ index, begin: b * this.blockLength, length: this.blockBytes(index, b) });
      if (out.length >= count) break;
    }
    // Re-queue behind the others (or drop at the cap) after the walk, not during it.
    for (const id of promoted) {
      this.dupCandidates.delete(id);
      const index = Math.floor(id / bpp);
      const rs = this.inProgress.get(index)!.requesters[id - index * bpp]!;
      if (rs.length < this.endgameMaxRequests) this.dupCandidates.add(id);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: block bookkeeping

  /** Removes `peer` from the requesters of block `id`; a block left with none is wanted again. */
  private dropRequester(id: number, peer: P): void {
    const index = Math.floor(id / this.blocksPerPiece);
    const b = id - index * this.blocksPerPiece;
    const prog = this.inProgress.get(index);
    const rs = prog?.requesters[b];
    if (!prog || !rs) return;
    const k = rs.indexOf(peer);
    if (k < 0) return;
    rs.splice(k, 1);
    if (rs.length > 0) {
      if (rs.length < this.endgameMaxRequests) this.dupCandidates.add(id);
      return;
    }
    prog.requesters[b] = undefined;
    this.dupCandidates.delete(id);
    prog.state[b] = WANTED;
    prog.requested--;
    this.committedBlocks--;
    prog.wanted++;
    if (this.priority[index]! > 0) this.wantedBlocks++;
    if (b < prog.firstWanted) prog.firstWanted = b;
    this.open.add(index);
    this.maybeUnstart(prog);
  }

  private startPiece(index: number): Progress<P> {
    // A skipped piece is in no order (parked); a block of it may still arrive unasked.
    if (this.pos[index]! >= 0) this.removeFresh(index);
    const blocks = this.blockCount(index);
    const prog: Progress<P> = {
      index,
      blocks,
      state: new Uint8Array(blocks),
      requesters: new Array<P[] | undefined>(blocks).fill(undefined),
      wanted: blocks,
      requested: 0,
      received: 0,
      firstWanted: 0,
      contributors: new Set(),
      senders: new Array<P | undefined>(blocks).fill(undefined),
    };
    this.inProgress.set(index, prog);
    this.open.add(index);
    return prog;
  }

  /** A piece whose blocks are all wanted again loses its block state and rejoins the fresh order. */
  private maybeUnstart(prog: Progress<P>): void {
    if (prog.wanted !== prog.blocks) return;
    this.inProgress.delete(prog.index);
    this.open.delete(prog.index);
    if (this.priority[prog.index]! > 0) this.insertFresh(prog.index);
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: peers and availability

  private wantCountOf(st: PeerState<P>): number {
    return st.pieces === null ? this.wantedPieces : st.wantCount;
  }

  private freshCountOf(st: PeerState<P>): number {
    return st.pieces === null ? this.freshSize : st.freshCount;
  }

  private stateHas(st: PeerState<P>, index: number): boolean {
    return st.pieces === null || st.pieces.has(index);
  }

  /** Non-seed `st` now has piece i: availability and its counters. */
  private gain(st: PeerState<P>, i: number): void {
    if (this.pos[i]! >= 0) {
      this.bucketUp(i);
      st.freshCount++;
    }
    this.counts[i]!++;
    if (!this.verified.has(i) && this.priority[i]! > 0) st.wantCount++;
  }

  /** A peer that now has every piece is counted as a seed: every count drops by one, order unchanged. */
  private becomeSeed(st: PeerState<P>): void {
    this.partialPeers.delete(st);
    st.pieces = null;
    st.wantCount = 0;
    st.freshCount = 0;
    this.seeds++;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) counts[i]!--;
    // Bucket 0 is empty (the peer had every piece), so bucket a+1 becomes bucket a.
    if (this.ends.length > 1) this.ends.shift();
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: the rarest-first order

  private randomInt(n: number): number {
    const k = Math.floor(this.random() * n);
    return k >= n ? n - 1 : k < 0 ? 0 : k;
  }

  private swap(p: number, q: number): void {
    if (p === q) return;
    const order = this.order;
    const x = order[p]!;
    const y = order[q]!;
    order[p] = y;
    this.pos[y] = p;
    order[q] = x;
    this.pos[x] = q;
  }

  private start(level: number): number {
    return level === 0 ? 0 : this.ends[level - 1]!;
  }

  private ensureLevel(level: number): void {
    const ends = this.ends;
    while (ends.length <= level) ends.push(ends[ends.length - 1]!);
  }

  private trimLevels(): void {
    const ends = this.ends;
    while (ends.length > 1 && ends[ends.length - 1] === ends[ends.length - 2]) ends.pop();
  }

  /** Moves i (at any position of its bucket) to a random position of `level`'s bucket. */
  private shuffleInto(i: number, level: number): void {
    const s = this.start(level);
    this.swap(this.pos[i]!, s + this.randomInt(this.ends[level]! - s));
  }

  /** Fresh piece i goes from bucket a to a+1 (called before counts[i] is incremented). */
  private bucketUp(i: number): void {
    const a = this.counts[i]!;
    this.ensureLevel(a + 1);
    const last = this.ends[a]! - 1;
    this.swap(this.pos[i]!, last);
    this.ends[a]!--;
    this.shuffleInto(i, a + 1);
  }

  /** Fresh piece i goes from bucket a to a-1 (called before counts[i] is decremented). */
  private bucketDown(i: number): void {
    const a = this.counts[i]!;
    const first = this.ends[a - 1]!;
    this.swap(this.pos[i]!, first);
    this.ends[a - 1]!++;
    this.shuffleInto(i, a - 1);
    this.trimLevels();
  }

  /** Takes fresh piece i out of the order: O(levels) swaps, and every partial peer's fresh count. */
  private removeFresh(index: number): void {
    const ends = this.ends;
    for (let level = this.counts[index]!; level < ends.length; level++) {
      this.swap(this.pos[index]!, ends[level]! - 1);
      ends[level]!--;
    }
    this.pos[index] = -1;
    this.freshSize--;
    this.trimLevels();
    for (const st of this.partialPeers) if (st.pieces!.has(index)) st.freshCount--;
  }

  /** Puts piece i back into the order in its availability bucket, at a random place. */
  private insertFresh(index: number): void {
    const a = this.counts[index]!;
    this.ensureLevel(a);
    const ends = this.ends;
    const top = ends.length - 1;
    const p = ends[top]!;
    this.order[p] = index;
    this.pos[index] = p;
    ends[top]!++;
    for (let level = top; level > a; level--) {
      this.swap(this.pos[index]!, ends[level - 1]!);
      ends[level - 1]!++;
    }
    this.freshSize++;
    if (index < this.seqLow) this.seqLow = index;
    this.shuffleInto(index, a);
    for (const st of this.partialPeers) if (st.pieces!.has(index)) st.freshCount++;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals: ids

  private blockId(index: number, block: number): number {
    return index * this.blocksPerPiece + block;
  }

  private requestOf(id: number): BlockRequest {
    const index = Math.floor(id / this.blocksPerPiece);
    const b = id - index * this.blocksPerPiece;
    return { index, begin: b * this.blockLength, length: this.blockBytes(index, b) };
  }

  private validBlock(index: number, begin: number): boolean {
    return (
      Number.isInteger(index) &&
      index >= 0 &&
      index < this.pieceCount &&
      Number.isInteger(begin) &&
      begin >= 0 &&
      begin < this.pieceBytes(index) &&
      begin % this.blockLength === 0
    );
  }

  private blockIndex(index: number, begin: number): number {
    if (!this.validBlock(index, begin)) throw new RangeError(`no block at piece ${index} offset ${begin}`);
    return begin / this.blockLength;
  }
}

function result<P>(status: ReceiveStatus, requested: boolean, pieceComplete: boolean, cancel: P[]): ReceiveResult<P> {
  return { status, requested, pieceComplete, cancel };
}
