/** `--peer HOST:PORT`: an IP address or a host name (resolved once, at start) and a port. */
import { dnsModule } from '../io/lazy-builtins.js';
import { normaliseHost, type PeerAddress } from '../protocol/peer-address.js';
import { realClock } from '../io/clock.js';

/** How long a name may take to resolve before `--peer` is refused. */
const LOOKUP_TIMEOUT_MS = 15_000;

/** Splits `HOST:PORT` / `[IPv6]:PORT`; null when it is not that shape or the port is not 1..65535. */
export function splitPeerArg(s: string): { host: string; port: number } | null {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(s) ?? /^([^:[\]\s]+):(\d+)$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return { host: m[1]!, port };
}

/**
 * Resolves `--peer HOST:PORT` to an address. An IP address is taken as it is; a name is looked up
 * (`dns.lookup`: /etc/hosts, then DNS), preferring its first IPv4 address. Resolves to an error line
 * (without the `bt-actor:` prefix) when the text is malformed or the name does not resolve.
 *
 * @example await resolvePeerArg('localhost:6881') // { host: '127.0.0.1', port: 6881, family: 4 }
 */
export async function resolvePeerArg(s: string): Promise<PeerAddress | string> {
  const parts = splitPeerArg(s);
  if (!parts) return `--peer ${s}: not HOST:PORT (a host name or IP address, [::1]:6881 for IPv6, and a port 1-65535)`;
  const ip = normaliseHost(parts.host);
  if (ip) return { host: ip.host, port: parts.port, family: ip.family };
  if (s.startsWith('[')) return `--peer ${s}: ${parts.host} is not an IPv6 address`;
  let timer: unknown;
  try {
    const found = await Promise.race([
      dnsModule().lookup(parts.host, { all: true }),
      new Promise<never>((_, reject) => {
        timer = realClock.setTimeout(() => reject(new Error('timed out')), LOOKUP_TIMEOUT_MS);
      }),
    ]);
    const pick = found.find((a) => a.family === 4) ?? found[0];
    const addr = pick && normaliseHost(pick.address);
    if (!addr) return `--peer ${s}: cannot resolve ${parts.host}`;
    return { host: addr.host, port: parts.port, family: addr.family };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOTFOUND' ? '' : code ? ` (${code})` : ' (timed out)';
    return `--peer ${s}: cannot resolve ${parts.host}${why}`;
  } finally {
    realClock.clearTimeout(timer);
  }
}
