/**
 * SHA-1 of some bytes: what an info hash is (BEP 3) and what BEP 9 metadata is checked against. Pure
 * (node:crypto's hash has no effect on the world), so the machines may call it.
 *
 * @example equalBytes(sha1(infoBytes), infoHash)
 */
import { createHash } from 'node:crypto';

export function sha1(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha1').update(bytes).digest());
}
