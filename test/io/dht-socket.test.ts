/**
 * The DHT's UDP socket actor on 127.0.0.1 (a real dgram socket talking to another), the resolution of
 * bootstrap entries (with a fake name lookup: no DNS), and the state folder.
 */
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, createMachine, type AnyActorRef } from 'xstate';
import { dhtSocketActor, resolveBootstrap, splitHostPort } from '../../src/io/dht-socket.js';
import { defaultStateDir, loadDhtTable, saveDhtTable } from '../../src/io/dht-state.js';
import type { DhtSocketReport } from '../../src/protocol/dht-socket-types.js';
import { decodeKrpc, encodeKrpc } from '../../src/protocol/krpc.js';
import { freePort } from '../support/proc.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-dht-socket-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('bootstrap entries', () => {
  const lookup = async (host: string) => {
    if (host === 'both.test')
      return [
        { address: '::1', family: 6 },
        { address: '127.0.0.2', family: 4 },
      ];
    if (host === 'hang.test') return new Promise<never>(() => undefined);
    throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
  };

  it('resolves names to addresses of the socket family, says why others did not, keeps each address once', async () => {
    const seen: string[] = [];
    const r = await resolveBootstrap(
      [
        'both.test:6881',
        '127.0.0.1:7000',
        'nosuch.test:6881',
        'hang.test:1',
        '[::1]:6881',
        'nonsense',
        '127.0.0.1:7000',
      ],
      4,
      {
        lookup,
        resolveTimeoutMs: 50,
        onResolve: (e, res) => seen.push(`${e} ${typeof res === 'string' ? res : 'ok'}`),
      },
    );
    expect(r.routers).toEqual([
      { host: '127.0.0.2', port: 6881 },
      { host: '127.0.0.1', port: 7000 },
    ]);
    expect(r.unresolved).toEqual([
      'nosuch.test:6881 (ENOTFOUND)',
      'hang.test:1 (ETIMEOUT)',
      '[::1]:6881 (not an IPv4 address)',
      'nonsense (not HOST:PORT)',
    ]);
    expect(seen).toHaveLength(7);
    expect(splitHostPort('[::1]:0')).toBeNull();
    expect(splitHostPort('host:65536')).toBeNull();
    expect(splitHostPort('[::1]:6881')).toEqual({ host: '::1', port: 6881 });
  });
});

describe('the socket actor on 127.0.0.1', () => {
  /** The socket actor under a parent that records what it reports. */
  function start(port: number, onSend?: (to: { host: string; port: number }) => void) {
    const reports: DhtSocketReport[] = [];
    const parent = createActor(
      createMachine({
        invoke: {
          id: 'socket',
          src: dhtSocketActor({ ...(onSend && { onSend }) }),
          input: { host: '127.0.0.1', port, bootstrap: ['127.0.0.1:9'] },
        },
        on: { '*': { actions: ({ event }) => void reports.push(event as DhtSocketReport) } },
      }),
    ).start();
    const socket = () => parent.getSnapshot().children.socket as AnyActorRef;
    return { parent, reports, socket };
  }
  const until = async (pred: () => boolean) => {
    for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('binds, delivers decoded datagrams and malformed ones, sends what it is asked, and refuses a taken port', async () => {
    const port = await freePort(true);
    const sent: string[] = [];
    const a = start(port, (to) => sent.push(`${to.host}:${to.port}`));
    await until(() => a.reports.length > 0);
    expect(a.reports[0]).toEqual({
      type: 'socket.ready',
      port,
      routers: [{ host: '127.0.0.1', port: 9 }],
      unresolved: [],
    });
    const raw: Socket = createSocket('udp4');
    const got: Uint8Array[] = [];
    raw.on('message', (m) => got.push(new Uint8Array(m)));
    await new Promise<void>((r) => raw.bind(0, '127.0.0.1', () => r()));
    const rawPort = raw.address().port;
    try {
      const id = new Uint8Array(20).fill(7);
      raw.send(encodeKrpc({ y: 'q', q: 'ping', t: Uint8Array.of(1, 2), id }), port, '127.0.0.1');
      raw.send(Buffer.from('d1:ad2:id3:abce1:q4:ping1:t2:m11:y1:qe'), port, '127.0.0.1');
      await until(() => a.reports.length >= 3);
      expect(a.reports[1]).toMatchObject({
        type: 'socket.message',
        msg: { y: 'q', q: 'ping', id },
        from: { host: '127.0.0.1', port: rawPort },
      });
      expect(a.reports[2]).toMatchObject({ type: 'socket.malformed', kind: 'q', from: { port: rawPort } });
      a.socket().send({
        type: 'socket.send',
        to: { host: '127.0.0.1', port: rawPort },
        msg: { y: 'r', t: Uint8Array.of(1, 2), id },
      });
      a.socket().send({
        type: 'socket.send',
        to: { host: '::1', port: rawPort },
        msg: { y: 'r', t: Uint8Array.of(3), id },
      });
      await until(() => got.length > 0);
      expect(decodeKrpc(got[0]!)).toMatchObject({ y: 'r', id });
      expect(sent).toEqual([`127.0.0.1:${rawPort}`]); // the IPv6 address is not reachable from this socket
      const b = start(port);
      await until(() => b.reports.length > 0);
      expect(b.reports[0]).toMatchObject({ type: 'socket.failed' });
      expect((b.reports[0] as { message: string }).message).toMatch(new RegExp(`UDP port ${port}: .*EADDRINUSE`));
      b.parent.stop();
    } finally {
      a.parent.stop();
      raw.close();
    }
    // Closed with its actor: the port is free again.
    const again = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.bind(port, '127.0.0.1', () => resolve());
    });
    again.close();
  });
});

describe('the state folder', () => {
  it('defaults to $XDG_STATE_HOME/bt-actor, else ~/.local/state/bt-actor', () => {
    expect(defaultStateDir({ XDG_STATE_HOME: '/x/state' })).toBe('/x/state/bt-actor');
    expect(defaultStateDir({ XDG_STATE_HOME: 'relative' })).toMatch(/\/\.local\/state\/bt-actor$/);
    expect(defaultStateDir({})).toMatch(/\/\.local\/state\/bt-actor$/);
  });

  it('saves dht.json (folder 0700, file 0600) and loads it; nothing there loads as undefined', async () => {
    const dir = join(work, 'a', 'b');
    expect(await loadDhtTable(dir)).toBeUndefined();
    await saveDhtTable(dir, '{"v":1}');
    expect(await loadDhtTable(dir)).toBe('{"v":1}');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'dht.json'))).mode & 0o777).toBe(0o600);
    await saveDhtTable(dir, '{"v":2}');
    expect(await loadDhtTable(dir)).toBe('{"v":2}');
  });
});
