import { describe, expect, it } from 'vitest';
import { BtError } from '../../src/protocol/errors.js';
import {
  TrackerError,
  UDP_PROTOCOL_ID,
  UdpAction,
  UdpEvent,
  decodeUdpRequest,
  decodeUdpResponse,
  encodeAnnounceRequest,
  encodeAnnounceResponse,
  encodeConnectRequest,
  encodeConnectResponse,
  encodeErrorResponse,
  encodeScrapeRequest,
  encodeScrapeResponse,
  expectTransaction,
} from '../../src/protocol/tracker-udp.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const infoHash = Uint8Array.from({ length: 20 }, (_, i) => i + 1);
const peerId = Uint8Array.from({ length: 20 }, (_, i) => 0xa0 + i);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TrackerError);
    expect(err).toBeInstanceOf(BtError);
    return (err as BtError).code;
  }
  return undefined;
}

describe('BEP 15 constants', () => {
  it('match the spec', () => {
    expect(UDP_PROTOCOL_ID).toBe(0x41727101980n);
    expect(UdpAction).toEqual({ connect: 0, announce: 1, scrape: 2, error: 3 });
    expect(UdpEvent).toEqual({ none: 0, completed: 1, started: 2, stopped: 3 });
  });
});

describe('requests', () => {
  it('connect: 16 bytes, protocol id, action 0, transaction id', () => {
    const packet = encodeConnectRequest(0xdeadbeef);
    expect(hex(packet)).toBe('0000041727101980' + '00000000' + 'deadbeef');
    expect(decodeUdpRequest(packet)).toEqual({ action: 'connect', transactionId: 0xdeadbeef });
  });

  it('announce: the exact 98-byte layout', () => {
    const packet = encodeAnnounceRequest({
      connectionId: 0x0102030405060708n,
      transactionId: 0x11223344,
      infoHash,
      peerId,
      downloaded: 0x1_0000_0000,
      left: 2n ** 64n - 1n,
      uploaded: 5,
      event: 'started',
      ip: 0x0a000001,
      key: 0xcafebabe,
      port: 6881,
    });
    expect(packet.length).toBe(98);
    expect(hex(packet)).toBe(
      '0102030405060708' +
        '00000001' +
        '11223344' +
        hex(infoHash) +
        hex(peerId) +
        '0000000100000000' +
        'ffffffffffffffff' +
        '0000000000000005' +
        '00000002' +
        '0a000001' +
        'cafebabe' +
        'ffffffff' + // num_want default -1
        '1ae1',
    );
    expect(decodeUdpRequest(packet)).toEqual({
      action: 'announce',
      connectionId: 0x0102030405060708n,
      transactionId: 0x11223344,
      infoHash,
      peerId,
      downloaded: 0x1_0000_0000n,
      left: 2n ** 64n - 1n,
      uploaded: 5n,
      event: 'started',
      ip: 0x0a000001,
      key: 0xcafebabe,
      numWant: -1,
      port: 6881,
    });
  });

  it('announce: defaults event none, ip 0; carries BEP 41 URL data in 255-byte options', () => {
    const urlData = '/announce?passkey=' + 'p'.repeat(300);
    const packet = encodeAnnounceRequest({
      connectionId: 1n,
      transactionId: 2,
      infoHash,
      peerId,
      downloaded: 0,
      left: 0,
      uploaded: 0,
      key: 3,
      numWant: 50,
      port: 1,
      urlData,
    });
    expect(hex(packet.subarray(80, 98))).toBe('00000000' + '00000000' + '00000003' + '00000032' + '0001');
    expect(packet[98]).toBe(0x02);
    expect(packet[99]).toBe(255);
    expect(packet[98 + 2 + 255]).toBe(0x02);
    expect(packet[98 + 2 + 255 + 1]).toBe(urlData.length - 255);
    expect(packet.length).toBe(98 + 4 + urlData.length);
    const req = decodeUdpRequest(packet);
    expect(req.action === 'announce' && new TextDecoder().decode(req.urlData)).toBe(urlData);
  });

  it('announce options: NOP, unknown options skipped, end of options, truncation tolerated', () => {
    const base = encodeAnnounceRequest({
      connectionId: 1n,
      transactionId: 2,
      infoHash,
      peerId,
      downloaded: 0,
      left: 0,
      uploaded: 0,
      key: 3,
      port: 1,
    });
    const withOptions = (...opts: number[]): Uint8Array => Uint8Array.from([...base, ...opts]);
    const url = (packet: Uint8Array): string | undefined => {
      const r = decodeUdpRequest(packet);
      return r.action === 'announce' && r.urlData ? new TextDecoder().decode(r.urlData) : undefined;
    };
    expect(url(withOptions(0x01, 0x02, 2, 0x2f, 0x61, 0x09, 1, 0xff, 0x02, 1, 0x62))).toBe('/ab');
    expect(url(withOptions(0x02, 1, 0x2f, 0x00, 0x02, 1, 0x62))).toBe('/');
    expect(url(withOptions(0x02, 5, 0x2f))).toBeUndefined();
    expect(url(withOptions(0x02))).toBeUndefined();
  });

  it('scrape: connection id, action 2, transaction id, hashes', () => {
    const other = new Uint8Array(20).fill(0xee);
    const packet = encodeScrapeRequest(0xabn, 7, [infoHash, other]);
    expect(hex(packet)).toBe('00000000000000ab' + '00000002' + '00000007' + hex(infoHash) + hex(other));
    expect(decodeUdpRequest(packet)).toEqual({
      action: 'scrape',
      connectionId: 0xabn,
      transactionId: 7,
      infoHashes: [infoHash, other],
    });
  });

  it('rejects bad arguments', () => {
    const ok = {
      connectionId: 1n,
      transactionId: 2,
      infoHash,
      peerId,
      downloaded: 0,
      left: 0,
      uploaded: 0,
      key: 3,
      port: 1,
    };
    expect(codeOf(() => encodeConnectRequest(-1))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeConnectRequest(2 ** 32))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeAnnounceRequest({ ...ok, infoHash: new Uint8Array(21) }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeAnnounceRequest({ ...ok, left: 2n ** 64n }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeAnnounceRequest({ ...ok, left: -1 }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeAnnounceRequest({ ...ok, numWant: 2 ** 31 }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeAnnounceRequest({ ...ok, port: 65536 }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeScrapeRequest(1n, 1, []))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => encodeScrapeRequest(1n, 1, new Array(75).fill(infoHash)))).toBe('BT_ERR_TRACKER_PARAM');
  });

  it('decodeUdpRequest rejects short, unknown and malformed packets', () => {
    expect(codeOf(() => decodeUdpRequest(new Uint8Array(15)))).toBe('BT_ERR_UDP_SHORT');
    expect(codeOf(() => decodeUdpRequest(fromHex('0000000000000000 00000000 00000001')))).toBe('BT_ERR_UDP_PROTOCOL');
    expect(codeOf(() => decodeUdpRequest(fromHex('0000041727101980 00000003 00000001')))).toBe('BT_ERR_UDP_ACTION');
    expect(codeOf(() => decodeUdpRequest(fromHex('0000000000000001 00000001 00000001')))).toBe('BT_ERR_UDP_SHORT');
    expect(codeOf(() => decodeUdpRequest(new Uint8Array([...encodeScrapeRequest(1n, 1, [infoHash]), 0])))).toBe(
      'BT_ERR_UDP_LENGTH',
    );
    expect(codeOf(() => decodeUdpRequest(fromHex('0000000000000001 00000002 00000001')))).toBe('BT_ERR_UDP_SHORT');
    const bad = encodeAnnounceRequest({
      connectionId: 1n,
      transactionId: 2,
      infoHash,
      peerId,
      downloaded: 0,
      left: 0,
      uploaded: 0,
      key: 3,
      port: 1,
    });
    bad[83] = 4;
    expect(codeOf(() => decodeUdpRequest(bad))).toBe('BT_ERR_UDP_FIELD');
    // A connect request with extra bytes is accepted (BEP 15: accept larger packets).
    expect(decodeUdpRequest(new Uint8Array([...encodeConnectRequest(9), 1, 2]))).toEqual({
      action: 'connect',
      transactionId: 9,
    });
  });
});

describe('responses', () => {
  it('connect: action 0, transaction id, connection id', () => {
    const packet = encodeConnectResponse(0x01020304, 0x1122334455667788n);
    expect(hex(packet)).toBe('00000000' + '01020304' + '1122334455667788');
    expect(decodeUdpResponse(packet)).toEqual({
      action: 'connect',
      transactionId: 0x01020304,
      connectionId: 0x1122334455667788n,
    });
  });

  it('announce over IPv4: 20-byte header and 6-byte peers', () => {
    const packet = encodeAnnounceResponse({
      transactionId: 5,
      interval: 1800,
      leechers: 2,
      seeders: 3,
      peers: [{ host: '10.0.0.1', port: 6881, family: 4 }],
    });
    expect(hex(packet)).toBe('00000001' + '00000005' + '00000708' + '00000002' + '00000003' + '0a000001' + '1ae1');
    expect(decodeUdpResponse(packet)).toEqual({
      action: 'announce',
      transactionId: 5,
      interval: 1800,
      leechers: 2,
      seeders: 3,
      peers: [{ host: '10.0.0.1', port: 6881, family: 4 }],
    });
  });

  it('announce over IPv6: 18-byte peers, chosen by the socket family', () => {
    const packet = encodeAnnounceResponse(
      {
        transactionId: 5,
        interval: 60,
        leechers: 0,
        seeders: 1,
        peers: [{ host: '2001:db8::1', port: 80, family: 6 }],
      },
      6,
    );
    expect(hex(packet)).toBe(
      '00000001' + '00000005' + '0000003c' + '00000000' + '00000001' + '20010db8000000000000000000000001' + '0050',
    );
    expect(decodeUdpResponse(packet, 6)).toMatchObject({ peers: [{ host: '2001:db8::1', port: 80, family: 6 }] });
    // Read with the wrong family, 18 bytes are three IPv4 entries.
    expect(decodeUdpResponse(packet, 4).action).toBe('announce');
    expect(
      codeOf(() =>
        encodeAnnounceResponse(
          { transactionId: 1, interval: 1, leechers: 0, seeders: 0, peers: [{ host: '::1', port: 1, family: 6 }] },
          4,
        ),
      ),
    ).toBe('BT_ERR_TRACKER_PARAM');
  });

  it('scrape: 12 bytes per hash in the order seeders, completed, leechers', () => {
    const packet = encodeScrapeResponse(9, [
      { seeders: 1, completed: 2, leechers: 3 },
      { seeders: 4, completed: 5, leechers: 6 },
    ]);
    expect(hex(packet)).toBe('00000002' + '00000009' + '000000010000000200000003' + '000000040000000500000006');
    expect(decodeUdpResponse(packet)).toEqual({
      action: 'scrape',
      transactionId: 9,
      stats: [
        { seeders: 1, completed: 2, leechers: 3 },
        { seeders: 4, completed: 5, leechers: 6 },
      ],
    });
  });

  it('error: action 3, transaction id, message to the end', () => {
    const packet = encodeErrorResponse(4, 'Connection ID missmatch.');
    expect(hex(packet.subarray(0, 8))).toBe('00000003' + '00000004');
    expect(decodeUdpResponse(packet)).toEqual({
      action: 'error',
      transactionId: 4,
      message: 'Connection ID missmatch.',
    });
    expect(decodeUdpResponse(fromHex('00000003 00000004'))).toEqual({ action: 'error', transactionId: 4, message: '' });
  });

  it('rejects short packets, unknown actions and trailing garbage of the wrong size', () => {
    expect(codeOf(() => decodeUdpResponse(new Uint8Array(7)))).toBe('BT_ERR_UDP_SHORT');
    expect(codeOf(() => decodeUdpResponse(fromHex('00000000 00000001 00000000')))).toBe('BT_ERR_UDP_SHORT');
    expect(codeOf(() => decodeUdpResponse(fromHex('00000001 00000001 00000000 00000000')))).toBe('BT_ERR_UDP_SHORT');
    expect(codeOf(() => decodeUdpResponse(fromHex('00000004 00000001')))).toBe('BT_ERR_UDP_ACTION');
    const announce = encodeAnnounceResponse({ transactionId: 1, interval: 1, leechers: 0, seeders: 0, peers: [] });
    expect(codeOf(() => decodeUdpResponse(new Uint8Array([...announce, 1, 2, 3])))).toBe('BT_ERR_UDP_LENGTH');
    expect(codeOf(() => decodeUdpResponse(new Uint8Array([...announce, ...new Uint8Array(6)]), 6))).toBe(
      'BT_ERR_UDP_LENGTH',
    );
    expect(codeOf(() => decodeUdpResponse(new Uint8Array([...encodeScrapeResponse(1, []), 0])))).toBe(
      'BT_ERR_UDP_LENGTH',
    );
    // Larger connect responses are accepted.
    expect(decodeUdpResponse(new Uint8Array([...encodeConnectResponse(1, 2n), 0]))).toEqual({
      action: 'connect',
      transactionId: 1,
      connectionId: 2n,
    });
  });

  it('drops port-0 peers', () => {
    const packet = encodeAnnounceResponse({
      transactionId: 1,
      interval: 1,
      leechers: 0,
      seeders: 0,
      peers: [{ host: '1.1.1.1', port: 0, family: 4 }],
    });
    expect(decodeUdpResponse(packet)).toMatchObject({ peers: [] });
  });

  it('expectTransaction passes the matching reply through and throws on a mismatch', () => {
    const res = decodeUdpResponse(encodeConnectResponse(0xffffffff, 1n));
    expect(expectTransaction(res, 0xffffffff)).toBe(res);
    expect(codeOf(() => expectTransaction(res, 1))).toBe('BT_ERR_UDP_TRANSACTION');
  });
});
