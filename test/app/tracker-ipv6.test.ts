/**
 * BEP 7 `ipv6=` from a real engine, in network namespaces of our own (`unshare -n`: nothing leaves the
 * machine): with a global IPv6 address on an interface (a veth pair), a dual-stack engine (`::`) and one
 * bound to that address announce it; one bound to 127.0.0.1, and a dual-stack one whose only IPv6
 * addresses are loopback and link-local, announce none. The tracker is a Node HTTP server on 127.0.0.1
 * inside the same namespace; the engine is the built package (test/support/announce-ipv6.mjs).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProcess, stopAll } from '../support/proc.js';

const SCRIPT = join(import.meta.dirname, '../support/announce-ipv6.mjs');
const GLOBAL = '2a01:4f8::5';

afterAll(stopAll);

/** Runs the script for `host` in a fresh namespace (with the veth and its global address when `withGlobal`). */
async function announcedIpv6(host: string, withGlobal: boolean): Promise<{ ipv6: string | null; listen: string }> {
  const setup = [
    'ip link set lo up',
    ...(withGlobal
      ? [
          'ip link add v0 type veth peer name v1',
          `ip addr add ${GLOBAL}/64 dev v0 nodad`,
          'ip link set v0 up',
          'ip link set v1 up',
        ]
      : []),
    `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(SCRIPT)} ${JSON.stringify(host)}`,
  ].join(' && ');
  const p = startProcess('unshare', ['-n', '--', 'sh', '-c', setup]);
  const exited = new Promise<number | null>((resolve) => p.child.once('exit', (code) => resolve(code)));
  const timer = setTimeout(() => void p.stop(), 20_000);
  const code = await exited;
  clearTimeout(timer);
  expect(code, p.output()).toBe(0);
  const line = p.output().trim().split('\n').at(-1)!;
  return JSON.parse(line) as { ipv6: string | null; listen: string };
}

describe('BEP 7 ipv6= in HTTP announces (network namespaces)', () => {
  it('dual-stack (::) with a global IPv6 address: announced', async () => {
    expect(await announcedIpv6('::', true)).toEqual({ ipv6: GLOBAL, listen: '::' });
  });

  it('bound to the global IPv6 address (--bind): that address', async () => {
    expect(await announcedIpv6(GLOBAL, true)).toEqual({ ipv6: GLOBAL, listen: GLOBAL });
  });

  it('bound to 127.0.0.1: none, though the machine has a global IPv6 address', async () => {
    expect((await announcedIpv6('127.0.0.1', true)).ipv6).toBeNull();
  });

  it('dual-stack with only loopback and link-local IPv6 addresses: none', async () => {
    expect((await announcedIpv6('::', false)).ipv6).toBeNull();
  });
});
