/**
 * Answers an MSE/PE handshake (src/protocol/mse.ts) on an accepted socket, for the listener: writes
 * Yb and the encrypted crypto_select, and reports the torrent the initiator named (SKEY) with the
 * payload bytes already read (decrypted), and the running RC4 ciphers when the payload stream is RC4.
 * Which payload streams are taken follows the encryption policy: `prefer` selects plaintext when
 * offered, else RC4; `require` only RC4; `plaintext` only plaintext (an RC4-only initiator is refused,
 * BT_ERR_MSE_METHOD). The caller bounds the time; the bytes are bounded by the responder
 * (MSE_MAX_HANDSHAKE_BYTES).
 */
import { randomBytes } from 'node:crypto';
import type { ByteStream } from './transport.js';
import type { BtError } from '../protocol/errors.js';
import { MseResponder, type EncryptionPolicy, type Rc4 } from '../protocol/mse.js';

export type MseAcceptResult =
  | {
      infoHash: Uint8Array;
      initialPayload: Uint8Array;
      /** For an RC4 payload stream: decrypt what the peer sends, encrypt what we send. */
      ciphers?: { decrypt: Rc4; encrypt: Rc4 };
      error?: undefined;
    }
  | { error: BtError };

export interface MseAcceptOptions {
  /** Info hashes served (read when the initiator's SKEY hash arrives). */
  infoHashes: () => Iterable<Uint8Array>;
  random?: (n: number) => Uint8Array;
  /** Which payload streams to select (default `plaintext`: a plaintext payload stream only). */
  policy?: EncryptionPolicy;
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
    allowPlaintext: options.policy !== 'require',
    allowRc4: options.policy === 'prefer' || options.policy === 'require',
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
      const { infoHash, initialPayload, ciphers } = step.done;
      onResult({ infoHash, initialPayload, ...(ciphers && { ciphers }) });
    }
  };
  socket.on('data', onData);
  onData(firstBytes);
  return stop;
}
