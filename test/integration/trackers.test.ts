/**
 * The tracker client and the announcer statechart against real trackers on 127.0.0.1 (the
 * bittorrent-tracker npm server, HTTP and UDP) and against fake trackers that misbehave.
 */
import { readFile } from 'node:fs/promises';
import { createServer, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import type { Socket as TcpSocket } from 'node:net';
import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Server as BtTrackerServer } from 'bittorrent-tracker';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { TrackerClient, TrackerTransportError } from '../../src/io/tracker-client.js';
import { announcerPeers } from '../../src/app/announcer-peers.js';
import { createAnnouncer } from '../../src/app/trackers.js';
import { encodeAnnounceResponse, parseAnnounceQuery } from '../../src/protocol/tracker-http.js';
import {
  decodeUdpRequest,
  encodeAnnounceResponse as encodeUdpAnnounceResponse,
  encodeConnectResponse,
  encodeErrorResponse,
} from '../../src/protocol/tracker-udp.js';

const infoHash = randomBytes(20);
const stats = { uploaded: 0, downloaded: 0, left: 1000 };
const client = (port: number, extra: Partial<ConstructorParameters<typeof TrackerClient>[0]> = {}) =>
  new TrackerClient({
    peerId: randomBytes(20),
    port,
    httpTimeoutMs: 2000,
    udpRetransmitBaseMs: 100,
    udpMaxRetransmits: 2,
    ...extra,
  });

async function expectCode(p: Promise<unknown>, code: string) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TrackerTransportError);
  expect((err as TrackerTransportError).code).toBe(code);
  return err as TrackerTransportError;
}

describe('against the bittorrent-tracker server', () => {
  let server: InstanceType<typeof BtTrackerServer>;
  let httpUrl: string;
  let udpUrl: string;
  beforeAll(async () => {
    server = new BtTrackerServer({ http: true, udp: true, ws: false, stats: false, interval: 60_000 });
    server.on('error', () => {});
    server.on('warning', () => {});
    await new Promise<void>((resolve) =>
      server.listen(0, { http: '127.0.0.1', udp: '127.0.0.1', udp6: '::1' }, () => resolve()),
    );
    httpUrl = `http://127.0.0.1:${(server.http!.address() as { port: number }).port}/announce`;
    udpUrl = `udp://127.0.0.1:${(server.udp4!.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  for (const proto of ['http', 'udp'] as const) {
    it(`${proto}: a second client receives the peer that the first announced`, async () => {
      const url = proto === 'http' ? httpUrl : udpUrl;
      const hash = randomBytes(20);
      const a = client(41001);
      const b = client(41002);
      const first = await a.announce({ url, infoHash: hash, event: 'started', numwant: 50, stats });
      expect(first.interval).toBeGreaterThan(0);
      const second = await b.announce({ url, infoHash: hash, event: 'started', numwant: 50, stats });
      expect(second.peers).toContainEqual(expect.objectContaining({ host: '127.0.0.1', port: 41001, family: 4 }));
      expect(second.incomplete).toBeGreaterThanOrEqual(1);
      const scrape = await b.scrape(url, [hash]);
      expect(scrape.get(hash.toString('hex'))).toMatchObject({ incomplete: 2 });
      await a.announce({ url, infoHash: hash, event: 'stopped', numwant: 0, stats });
      const after = await b.scrape(url, [hash]);
      expect(after.get(hash.toString('hex'))).toMatchObject({ incomplete: 1 });
    });
  }

  it('the announcer actor walks the tier past a dead tracker and streams unique peers', async () => {
    const hash = randomBytes(20);
    await client(41003).announce({ url: httpUrl, infoHash: hash, event: 'started', numwant: 50, stats });
    await client(41004).announce({ url: udpUrl, infoHash: hash, event: 'started', numwant: 50, stats });
    const dead = `http://127.0.0.1:${await deadPort()}/announce`;
    const announcer = createAnnouncer({
      client: client(41005),
      infoHash: hash,
      tiers: [[dead, httpUrl], [udpUrl]],
      stats,
    });
    // A tracker may list us too (the torrent actor drops a connection to self by peer id).
    const peers = firstValueFrom(
      announcerPeers(announcer).pipe(
        filter((p) => p.port !== 41005),
        take(2),
        toArray(),
      ),
    );
    announcer.start();
    announcer.send({ type: 'announcer.start' });
    const got = await peers;
    expect(got.map((p) => p.port).sort()).toEqual([41003, 41004]);
    const ctx = announcer.getSnapshot().context;
    expect(ctx.status[dead]!.lastFailure?.code).toBe('BT_ERR_TRACKER_CONNECT');
    expect(ctx.tiers[0]).toEqual([httpUrl, dead]);
    announcer.send({ type: 'announcer.stop' });
    await new Promise<void>((resolve) => announcer.subscribe({ complete: resolve }));
  });
});

async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('against a misbehaving HTTP tracker', () => {
  let srv: HttpServer;
  let base: string;
  let reply: (res: ServerResponse, url: string) => void = () => {};
  const sockets = new Set<TcpSocket>();
  beforeAll(async () => {
    srv = createServer((req, res) => reply(res, req.url ?? ''));
    srv.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  });
  const announce = (path = '/announce?passkey=k1') =>
    client(6881).announce({ url: base + path, infoHash, numwant: 10, stats });

  it('keeps the passkey and sends the raw info hash', async () => {
    let seen = '';
    reply = (res, url) => {
      seen = url;
      res.end(encodeAnnounceResponse({ type: 'success', interval: 60, peers: [] }));
    };
    await announce();
    expect(seen.startsWith('/announce?passkey=k1&info_hash=')).toBe(true);
    expect(Buffer.from(parseAnnounceQuery(seen).infoHash)).toEqual(infoHash);
  });
  it('garbage → BT_ERR_TRACKER_BENCODE', async () => {
    reply = (res) => res.end('<html>not bencode</html>');
    await expectCode(announce(), 'BT_ERR_TRACKER_BENCODE');
  });
  it('truncated reply → BT_ERR_TRACKER_BENCODE', async () => {
    reply = (res) =>
      res.end(Buffer.from(encodeAnnounceResponse({ type: 'success', interval: 60, peers: [] })).subarray(0, 10));
    await expectCode(announce(), 'BT_ERR_TRACKER_BENCODE');
  });
  it('bencode that is no reply → BT_ERR_TRACKER_REPLY', async () => {
    reply = (res) => res.end('d3:fooi1ee');
    await expectCode(announce(), 'BT_ERR_TRACKER_REPLY');
  });
  it('HTTP 500 → BT_ERR_TRACKER_HTTP_STATUS', async () => {
    reply = (res) => {
      res.statusCode = 500;
      res.end('oops');
    };
    await expectCode(announce(), 'BT_ERR_TRACKER_HTTP_STATUS');
  });
  it('failure reason → BT_ERR_TRACKER_FAILURE with BEP 31 retry in', async () => {
    reply = (res) => res.end(encodeAnnounceResponse({ type: 'failure', reason: 'torrent not registered', retryIn: 5 }));
    const e = await expectCode(announce(), 'BT_ERR_TRACKER_FAILURE');
    expect(e.message).toContain('torrent not registered');
    expect(e.retryIn).toBe(300);
  });
  it('a reply past the size cap → BT_ERR_TRACKER_TOO_LARGE', async () => {
    reply = (res) => res.end(Buffer.alloc(3 * 1024 * 1024, 0x61));
    await expectCode(announce(), 'BT_ERR_TRACKER_TOO_LARGE');
  });
  it('follows a redirect to http(s), at most 5, never from https down to http', async () => {
    reply = (res, url) => {
      if (url.startsWith('/moved')) {
        res.statusCode = 302;
        res.setHeader('location', url.replace('/moved', '/announce'));
        res.end();
      } else if (url.startsWith('/loop')) {
        res.statusCode = 301;
        res.setHeader('location', url);
        res.end();
      } else if (url.startsWith('/ftp')) {
        res.statusCode = 302;
        res.setHeader('location', 'ftp://127.0.0.1/announce');
        res.end();
      } else res.end(encodeAnnounceResponse({ type: 'success', interval: 60, peers: [] }));
    };
    await expect(announce('/moved?passkey=k1')).resolves.toMatchObject({ interval: 60 });
    const loop = await expectCode(announce('/loop?x=1'), 'BT_ERR_TRACKER_REDIRECT');
    expect(loop.message).toContain('more than 5 redirects');
    expect((await expectCode(announce('/ftp?x=1'), 'BT_ERR_TRACKER_REDIRECT')).message).toContain('ftp:');
  });
  it('a tracker that stalls forever → BT_ERR_TRACKER_TIMEOUT', async () => {
    reply = () => {};
    await expectCode(announce(), 'BT_ERR_TRACKER_TIMEOUT');
  });
  it('refused → BT_ERR_TRACKER_CONNECT; unsupported scheme → BT_ERR_TRACKER_UNSUPPORTED', async () => {
    await expectCode(
      client(1).announce({ url: `http://127.0.0.1:${await deadPort()}/announce`, infoHash, numwant: 1, stats }),
      'BT_ERR_TRACKER_CONNECT',
    );
    await expectCode(
      client(1).announce({ url: 'wss://127.0.0.1:1/announce', infoHash, numwant: 1, stats }),
      'BT_ERR_TRACKER_UNSUPPORTED',
    );
  });
  it('an aborted announce (shutdown) settles at once', async () => {
    reply = () => {};
    const ac = new AbortController();
    const p = client(1).announce({ url: `${base}/announce`, infoHash, numwant: 1, stats }, ac.signal);
    ac.abort();
    await expectCode(p, 'BT_ERR_TRACKER_ABORTED');
  });
  it('a reply past the size cap with no Content-Length (chunked) → BT_ERR_TRACKER_TOO_LARGE while it streams', async () => {
    let written = 0;
    reply = (res) => {
      // Never ends on its own: the client must stop reading at the cap and close.
      const more = () => {
        if (res.destroyed) return;
        written += 64 * 1024;
        if (res.write(Buffer.alloc(64 * 1024, 0x61))) setImmediate(more);
        else res.once('drain', more);
      };
      more();
    };
    const e = await expectCode(
      client(1, { maxReplyBytes: 256 * 1024 }).announce({ url: `${base}/announce`, infoHash, numwant: 1, stats }),
      'BT_ERR_TRACKER_TOO_LARGE',
    );
    expect(e.message).toContain('longer than 262144 bytes');
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });
});

describe('an https tracker', () => {
  it('is announced to over TLS: a certificate nobody vouches for → BT_ERR_TRACKER_CONNECT naming it', async () => {
    const tls = join(import.meta.dirname, '../fixtures/tls');
    let hits = 0;
    const srv = createHttpsServer(
      { key: await readFile(join(tls, 'localhost.key')), cert: await readFile(join(tls, 'localhost.crt')) },
      (_req, res) => {
        hits++;
        res.end(encodeAnnounceResponse({ type: 'success', interval: 60, peers: [] }));
      },
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const url = `https://127.0.0.1:${(srv.address() as { port: number }).port}/announce`;
      const e = await expectCode(client(1).announce({ url, infoHash, numwant: 1, stats }), 'BT_ERR_TRACKER_CONNECT');
      expect(e.message).toMatch(/SELF_SIGNED|self.signed/i);
      expect(hits).toBe(0);
    } finally {
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});

describe('against a misbehaving UDP tracker', () => {
  let sock: Socket;
  let url: string;
  let onPacket: (msg: Buffer, reply: (b: Uint8Array) => void) => void = () => {};
  let packets = 0;
  let lastClientPort = 0;
  beforeAll(async () => {
    sock = createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      packets++;
      lastClientPort = rinfo.port;
      onPacket(msg, (b) => sock.send(b, rinfo.port, rinfo.address));
    });
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    url = `udp://127.0.0.1:${sock.address().port}`;
  });
  afterEach(() => {
    packets = 0;
  });
  afterAll(() => new Promise<void>((r) => sock.close(() => r())));
  const announce = (c = client(6881)) => c.announce({ url, infoHash, numwant: 10, stats });

  const goodReply = (msg: Buffer, reply: (b: Uint8Array) => void) => {
    const req = decodeUdpRequest(msg);
    if (req.action === 'connect') reply(encodeConnectResponse(req.transactionId, 5n));
    else
      reply(
        encodeUdpAnnounceResponse({
          transactionId: req.transactionId,
          interval: 60,
          leechers: 0,
          seeders: 1,
          peers: [{ host: '127.0.0.1', port: 7777, family: 4 }],
        }),
      );
  };
  it('a reply with another transaction id, a short packet, a reply of the wrong kind: dropped, and waited past', async () => {
    const c = client(6881);
    onPacket = (msg, reply) => {
      const req = decodeUdpRequest(msg);
      reply(encodeConnectResponse((req.transactionId + 1) >>> 0, 1n)); // not ours
      reply(new Uint8Array([0, 0, 0])); // malformed
      if (req.action === 'announce') reply(encodeConnectResponse(req.transactionId, 9n)); // the wrong kind
      goodReply(msg, reply);
    };
    await expect(announce(c)).resolves.toMatchObject({ peers: [{ port: 7777 }] });
    // Nothing but forgeries: a timeout that says what was dropped.
    onPacket = (msg, reply) => reply(encodeConnectResponse((decodeUdpRequest(msg).transactionId + 1) >>> 0, 1n));
    const e = await expectCode(announce(client(6882)), 'BT_ERR_TRACKER_TIMEOUT');
    expect(e.message).toMatch(/dropped \d+ packet\(s\), the last a reply with transaction id/);
  });
  it('a packet from another address (the same port) is dropped, even with the right transaction id', async () => {
    const other = createSocket('udp4');
    // The tracker's port on another loopback address: only the address tells the forgery apart.
    await new Promise<void>((r) => other.bind(sock.address().port, '127.0.0.2', () => r()));
    try {
      onPacket = (msg, reply) => {
        const req = decodeUdpRequest(msg);
        // A forger that saw the request answers first, from its own port: ignored.
        const rinfoPort = lastClientPort;
        other.send(encodeConnectResponse(req.transactionId, 666n), rinfoPort, '127.0.0.1');
        setTimeout(() => goodReply(msg, reply), 20);
      };
      const ids: bigint[] = [];
      const forge = onPacket;
      onPacket = (msg, reply) => {
        const req = decodeUdpRequest(msg);
        if (req.action === 'announce') ids.push(req.connectionId);
        forge(msg, reply);
      };
      await expect(announce(client(6883))).resolves.toMatchObject({ peers: [{ port: 7777 }] });
      // The announce carried the tracker's connection id, not the forger's.
      expect(ids).toEqual([5n]);
    } finally {
      other.close();
    }
  });
  it('error reply → BT_ERR_UDP_ERROR_REPLY', async () => {
    onPacket = (msg, reply) => reply(encodeErrorResponse(decodeUdpRequest(msg).transactionId, 'go away'));
    const e = await expectCode(announce(), 'BT_ERR_UDP_ERROR_REPLY');
    expect(e.message).toContain('go away');
  });
  it('a silent tracker gets BEP 15 retransmissions, then BT_ERR_TRACKER_TIMEOUT', async () => {
    onPacket = () => {};
    await expectCode(announce(), 'BT_ERR_TRACKER_TIMEOUT');
    expect(packets).toBe(3); // the request and 2 retransmissions (100 ms, 200 ms, 400 ms)
  });
  it('reuses a connection id for its lifetime', async () => {
    const actions: string[] = [];
    onPacket = (msg, reply) => {
      actions.push(decodeUdpRequest(msg).action);
      goodReply(msg, reply);
    };
    const c = client(6881);
    await announce(c);
    await announce(c);
    expect(actions).toEqual(['connect', 'announce', 'announce']);
  });
});
