/**
 * The RxJS face of the wire framing: {@link frameWire} turns a stream of byte chunks into typed wire
 * events over the pure {@link WireFramer}.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { WireEvent } from './wire.js';
import { WireFramer, type FrameWireOptions } from './wire-framing.js';

/**
 * RxJS operator: frames a stream of byte chunks into {@link WireEvent}s (handshake first unless
 * `handshake: false`). Errors the stream with the {@link WireError} on invalid input (nothing past a
 * cap is allocated); completes when the source completes, dropping an incomplete trailing message.
 * Emitted payloads may be views of the input chunks (see the module comment).
 *
 * @example
 * ```ts
 * socketChunks$.pipe(frameWire({ limits: { pieceCount: 1200 } })).subscribe({
 *   next: (event) => peerActor.send({ type: `wire.${event.type}`, event }),
 *   error: (err: WireError) => log(err.code),
 * });
 * ```
 */
export function frameWire(options: FrameWireOptions = {}): OperatorFunction<Uint8Array, WireEvent> {
  return (source) =>
    new Observable<WireEvent>((subscriber) => {
      const framer = new WireFramer(options);
      const emit = (event: WireEvent): void => subscriber.next(event);
      return source.subscribe({
        next(chunk) {
          try {
            framer.push(chunk, emit);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error(err: unknown) {
          subscriber.error(err);
        },
        complete() {
          subscriber.complete();
        },
      });
    });
}
