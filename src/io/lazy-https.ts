/**
 * node:https, loaded at its first use: TLS costs start-up time (about 10 ms here) that a run with no
 * https tracker or web seed never needs to pay. Synchronous, so callers stay as they were.
 *
 * @example
 * const req = httpsModule().request(url, options, onResponse);
 */
import type * as Https from 'node:https';
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);
let https: typeof Https | undefined;

export function httpsModule(): typeof Https {
  return (https ??= requireBuiltin('node:https') as typeof Https);
}
