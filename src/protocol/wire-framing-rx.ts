/**
 * The RxJS face of the wire framing: {@link frameWire} turns a stream of byte chunks into typed wire
 * events over the pure {@link WireFramer}. It is how a connection's bytes reach its peer actor
 * (src/io/peer-wire.ts): one subscription per connection.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { BlockRequest } from './layout.js';
import type { PieceBlock } from './peer-wire-types.js';
import type { WireEvent } from './wire.js';
import { WireFramer, type FrameWireOptions } from './wire-framing.js';

/** Consecutive `piece` messages of one chunk, in order (see {@link FrameWireRxOptions.batchBlocks}). */
export interface PiecesEvent {
  type: 'pieces';
  blocks: PieceBlock[];
}

/** Consecutive `request` messages of one chunk, in order (see {@link FrameWireRxOptions.batchRequests}). */
export interface RequestsEvent {
  type: 'requests';
  requests: BlockRequest[];
}

/** Consecutive `have` messages of one chunk, in order (see {@link FrameWireRxOptions.batchHaves}). */
export interface HavesEvent {
  type: 'haves';
  indices: number[];
}

/** An event of {@link frameWire} with batching: a message, or a run of blocks, requests or haves. */
export type FramedEvent = WireEvent | PiecesEvent | RequestsEvent | HavesEvent;

export interface FrameWireRxOptions extends FrameWireOptions {
  /**
   * Emit the consecutive `piece` messages decoded from one chunk as one {@link PiecesEvent} (a lone
   * block still comes as a `piece` event): one downstream event per socket read on the hot path.
   */
  batchBlocks?: boolean;
  /**
   * Emit the consecutive `request` messages decoded from one chunk as one {@link RequestsEvent} (a lone
   * request still comes as a `request` event): a leecher's pipeline of requests is one event.
   */
  batchRequests?: boolean;
  /**
   * Emit the consecutive `have` messages decoded from one chunk as one {@link HavesEvent} (a lone have
   * still comes as a `have` event): a peer's batch of announcements is one event.
   */
  batchHaves?: boolean;
}

/**
 * RxJS operator: frames a stream of byte chunks into {@link WireEvent}s (handshake first unless
 * `handshake: false`). Errors the stream with the {@link WireError} on invalid input (nothing past a
 * cap is allocated); completes when the source completes, dropping an incomplete trailing message.
 * Emitted payloads may be views of the input chunks: a subscriber that keeps one past the chunk's
 * lifetime copies it. Everything for a chunk is emitted before the operator returns from it.
 *
 * @example
 * ```ts
 * socketChunks$.pipe(frameWire({ limits: { pieceCount: 1200 } })).subscribe({
 *   next: (event) => peerActor.send({ type: `wire.${event.type}`, event }),
 *   error: (err: WireError) => log(err.code),
 * });
 * ```
 */
export function frameWire(
  options?: FrameWireOptions & { batchBlocks?: false; batchRequests?: false; batchHaves?: false },
): OperatorFunction<Uint8Array, WireEvent>;
export function frameWire(options: FrameWireRxOptions): OperatorFunction<Uint8Array, FramedEvent>;
export function frameWire(options: FrameWireRxOptions = {}): OperatorFunction<Uint8Array, FramedEvent> {
  return (source) =>
    new Observable<FramedEvent>((subscriber) => {
      const framer = new WireFramer(options);
      // At most one of the three runs is non-empty: a message of another type flushes it.
      let blocks: PieceBlock[] = [];
      let requests: BlockRequest[] = [];
      let haves: number[] = [];
      const flush = () => {
        if (blocks.length > 0) {
          const b = blocks;
          blocks = [];
          subscriber.next(b.length === 1 ? { type: 'piece', ...b[0]! } : { type: 'pieces', blocks: b });
        } else if (requests.length > 0) {
          const r = requests;
          requests = [];
          subscriber.next(r.length === 1 ? { type: 'request', ...r[0]! } : { type: 'requests', requests: r });
        } else if (haves.length > 0) {
          const h = haves;
          haves = [];
          subscriber.next(h.length === 1 ? { type: 'have', index: h[0]! } : { type: 'haves', indices: h });
        }
      };
      const { batchBlocks, batchRequests, batchHaves } = options;
      const emit =
        batchBlocks || batchRequests || batchHaves
          ? (event: WireEvent): void => {
              if (batchBlocks && event.type === 'piece') {
                if (requests.length > 0 || haves.length > 0) flush();
                blocks.push({ index: event.index, begin: event.begin, block: event.block });
                return;
              }
              if (batchRequests && event.type === 'request') {
                if (blocks.length > 0 || haves.length > 0) flush();
                requests.push({ index: event.index, begin: event.begin, length: event.length });
                return;
              }
              if (batchHaves && event.type === 'have') {
                if (blocks.length > 0 || requests.length > 0) flush();
                haves.push(event.index);
                return;
              }
              flush();
              subscriber.next(event);
            }
          : (event: WireEvent): void => subscriber.next(event);
      return source.subscribe({
        next(chunk) {
          try {
            framer.push(chunk, emit);
            flush();
          } catch (err) {
            flush(); // what arrived before the bad bytes is delivered first
            subscriber.error(err);
          }
        },
        error(err: unknown) {
          flush();
          subscriber.error(err);
        },
        complete() {
          flush();
          subscriber.complete();
        },
      });
    });
}
