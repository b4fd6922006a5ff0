/**
 * Node built-ins loaded at their first use, for the start-up time a run that never needs them does not
 * pay (docs/performance.md, Profiles, start-up): node:https (TLS, about 10 ms here) only for an https
 * tracker or web seed; node:dgram and node:dns/promises (about 1.5 ms together) only for a UDP tracker,
 * the DHT, or a host name to look up. Synchronous, so callers stay as they were.
 *
 * @example
 * const req = httpsModule().request(url, options, onResponse);
 * const socket = dgramModule().createSocket('udp4');
 * const { address } = await dnsModule().lookup('tracker.example');
 */
import type * as Dgram from 'node:dgram';
import type * as DnsPromises from 'node:dns/promises';
import type * as Https from 'node:https';
import { createRequire } from 'node:module';

const requireBuiltin = createRequire(import.meta.url);
let https: typeof Https | undefined;
let dgram: typeof Dgram | undefined;
let dns: typeof DnsPromises | undefined;

export function httpsModule(): typeof Https {
  return (https ??= requireBuiltin('node:https') as typeof Https);
}

export function dgramModule(): typeof Dgram {
  return (dgram ??= requireBuiltin('node:dgram') as typeof Dgram);
}

export function dnsModule(): typeof DnsPromises {
  return (dns ??= requireBuiltin('node:dns/promises') as typeof DnsPromises);
}
