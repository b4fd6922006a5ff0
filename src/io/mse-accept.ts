/**
 * Answers an MSE/PE handshake (src/protocol/mse.ts) on an accepted socket, for the listener: writes
 * Yb and the encrypted crypto_select, and reports the torrent the initiator named (SKEY) with the
 * payload bytes already read. Only a plaintext payload stream is accepted: an initiator that offers
 * RC4 alone is refused (BT_ERR_MSE_METHOD). The caller bounds the time; the bytes are bounded by the
 * responder (MSE_MAX_HANDSHAKE_BYTES).
 */
import { randomBytes } from 'node:crypto';
import type { ByteStream } from './transport.js';
import type { BtError } from '../protocol/errors.js';
import { MseResponder } from '../protocol/mse.js';

export type MseAcceptResult =
  { infoHash: Uint8Array; initialPayload: Uint8Array; error?: undefined } | { error: BtError };

export interface MseAcceptOptions {
  /** Info hashes served (read when the initiator's SKEY hash arrives). */
  infoHashes: () => Iterable<Uint8Array>;
  random?: (n: number) => Uint8Array;
}

/**
 * Runs the responder on `socket`, starting with `firstBytes` (already read from it). `onResult` is
 * called once, after this function's data listener is removed; on an error the caller closes the
 * socket. Returns a function that stops listening (when the caller gives up first, e.g. a timeout).
 */
export function acceptMse(
  socket: ByteStream,
  firstBytes: Uint8Array,
  options: MseAcceptOptions,
  onResult: (r: MseAcceptResult) => void,
): () => void {
  const responder = new MseResponder({
    infoHashes: options.infoHashes,
    random: options.random ?? ((n) => randomBytes(n)),
  });
  let finished = false;
  const stop = () => {
    finished = true;
    socket.off('data', onData);
  };
  const onData = (chunk: Uint8Array) => {
    if (finished) return;
    const step = responder.push(chunk);
    for (const bytes of step.send ?? []) if (!socket.destroyed) socket.write(bytes);
    if (step.error) {
      stop();
      onResult({ error: step.error });
    } else if (step.done) {
      stop();
      onResult({ infoHash: step.done.infoHash, initialPayload: step.done.initialPayload });
    }
  };
  socket.on('data', onData);
  onData(firstBytes);
  return stop;
}
