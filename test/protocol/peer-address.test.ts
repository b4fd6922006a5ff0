import { isIPv6 } from 'node:net';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  PeerAddressError,
  decodeCompactPeers4,
  decodeCompactPeers6,
  encodeCompactPeers4,
  encodeCompactPeers6,
  formatIPv6,
  normaliseHost,
  parseIp,
  peerKey,
} from '../../src/protocol/peer-address.js';
import { propertyOptions } from '../support/fc.js';

const v6 = (text: string): Uint8Array => parseIp(text)!.bytes;

describe('compact IPv4 peers (BEP 23)', () => {
  it('decodes 6-byte entries in network order', () => {
    const bytes = Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 254, 0xff, 0xff);
    expect(decodeCompactPeers4(bytes)).toEqual([
      { host: '10.0.0.1', port: 6881, family: 4 },
      { host: '192.168.1.254', port: 65535, family: 4 },
    ]);
  });

  it('drops entries with port 0', () => {
    expect(decodeCompactPeers4(Uint8Array.of(1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 0, 1))).toEqual([
      { host: '5.6.7.8', port: 1, family: 4 },
    ]);
  });

  it('accepts an empty list and rejects a length that is not a multiple of 6', () => {
    expect(decodeCompactPeers4(new Uint8Array(0))).toEqual([]);
    for (const n of [1, 5, 7, 13]) {
      expect(() => decodeCompactPeers4(new Uint8Array(n))).toThrow(PeerAddressError);
      try {
        decodeCompactPeers4(new Uint8Array(n));
      } catch (err) {
        expect((err as PeerAddressError).code).toBe('BT_ERR_PEERS_LENGTH');
      }
    }
  });

  it('encodes, taking IPv4-mapped text as IPv4 and refusing IPv6 or bad ports', () => {
    expect(encodeCompactPeers4([{ host: '10.0.0.1', port: 6881, family: 4 }])).toEqual(
      Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1),
    );
    expect(encodeCompactPeers4([{ host: '::ffff:10.0.0.1', port: 1, family: 6 }])).toEqual(
      Uint8Array.of(10, 0, 0, 1, 0, 1),
    );
    expect(() => encodeCompactPeers4([{ host: '::1', port: 1, family: 6 }])).toThrow(/not an IPv4/);
    expect(() => encodeCompactPeers4([{ host: '1.2.3.4', port: 70000, family: 4 }])).toThrow(PeerAddressError);
    expect(() => encodeCompactPeers4([{ host: 'example.com', port: 1, family: 4 }])).toThrow(PeerAddressError);
  });
});

describe('compact IPv6 peers (BEP 7)', () => {
  it('decodes 18-byte entries with normalised text', () => {
    const bytes = new Uint8Array(36);
    bytes.set(v6('2001:db8::1'), 0);
    bytes.set([0x1a, 0xe1], 16);
    bytes.set(v6('fe80::abcd:0:0:1'), 18);
    bytes.set([0, 80], 34);
    expect(decodeCompactPeers6(bytes)).toEqual([
      { host: '2001:db8::1', port: 6881, family: 6 },
      { host: 'fe80::abcd:0:0:1', port: 80, family: 6 },
    ]);
  });

  it('turns IPv4-mapped entries into IPv4 peers and drops port 0', () => {
    const bytes = new Uint8Array(36);
    bytes.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4, 0, 9], 0);
    bytes.set(v6('::2'), 18); // port 0
    expect(decodeCompactPeers6(bytes)).toEqual([{ host: '1.2.3.4', port: 9, family: 4 }]);
  });

  it('rejects a length that is not a multiple of 18', () => {
    expect(() => decodeCompactPeers6(new Uint8Array(17))).toThrow(/multiple of 18/);
    expect(() => decodeCompactPeers6(new Uint8Array(6))).toThrow(PeerAddressError);
  });

  it('encodes IPv4 peers as IPv4-mapped addresses', () => {
    const bytes = encodeCompactPeers6([{ host: '1.2.3.4', port: 9, family: 4 }]);
    expect(bytes).toEqual(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4, 0, 9));
    expect(decodeCompactPeers6(bytes)).toEqual([{ host: '1.2.3.4', port: 9, family: 4 }]);
  });
});

describe('address text', () => {
  it('normalises IPv6 per RFC 5952', () => {
    expect(normaliseHost('2001:0DB8:0000:0000:0000:0000:0000:0001')).toEqual({ host: '2001:db8::1', family: 6 });
    expect(normaliseHost('[::1]')).toEqual({ host: '::1', family: 6 });
    expect(normaliseHost('::')).toEqual({ host: '::', family: 6 });
    expect(normaliseHost('1:0:0:2:0:0:0:3')).toEqual({ host: '1:0:0:2::3', family: 6 }); // longest run wins
    expect(normaliseHost('1:0:0:2:0:0:3:4')).toEqual({ host: '1::2:0:0:3:4', family: 6 }); // first on a tie
    expect(normaliseHost('1:2:3:4:5:6:0:8')).toEqual({ host: '1:2:3:4:5:6:0:8', family: 6 }); // one zero group stays
    expect(normaliseHost('::FFFF:10.0.0.1')).toEqual({ host: '10.0.0.1', family: 4 });
    expect(normaliseHost('::ffff:a00:1')).toEqual({ host: '10.0.0.1', family: 4 });
    expect(normaliseHost('64:ff9b::1.2.3.4')).toEqual({ host: '64:ff9b::102:304', family: 6 });
  });

  it('rejects what is not an IP address', () => {
    for (const bad of [
      '',
      'example.com',
      '01.2.3.4',
      '1.2.3',
      '256.1.1.1',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '::1%eth0',
      ':1::',
      '1.2.3.4::',
      'g::1',
      '1::2:3:4:5:6:7:8',
    ]) {
      expect(normaliseHost(bad), bad).toBeNull();
    }
  });

  it('gives one de-duplication key per address', () => {
    expect(peerKey({ host: '1.2.3.4', port: 5 })).toBe('1.2.3.4:5');
    expect(peerKey({ host: '::1', port: 5 })).toBe('[::1]:5');
    expect(peerKey({ host: '0:0::0:1', port: 5 })).toBe('[::1]:5');
    expect(peerKey({ host: '::ffff:1.2.3.4', port: 5 })).toBe('1.2.3.4:5');
    expect(peerKey({ host: 'Peer.Example', port: 5 })).toBe('peer.example:5');
  });

  const words = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
  const toBytes = (ws: number[]): Uint8Array => {
    const bytes = new Uint8Array(16);
    ws.forEach((w, i) => {
      bytes[2 * i] = w >> 8;
      bytes[2 * i + 1] = w & 0xff;
    });
    return bytes;
  };

  it('formats like the WHATWG URL parser, text node:net accepts, parsing back to the same bytes', () => {
    fc.assert(
      fc.property(words, (ws) => {
        const bytes = toBytes(ws);
        const text = formatIPv6(bytes);
        const back = parseIp(text);
        return (
          isIPv6(text) &&
          back !== null &&
          back.bytes.every((b, i) => b === bytes[i]) &&
          new URL(`http://[${text}]/`).hostname === `[${text}]`
        );
      }),
      propertyOptions,
    );
  });

  it('parses any spelling of an address (case, leading zeros, any zero run compressed, embedded IPv4)', () => {
    const spelling = fc.record({
      pad: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }),
      upper: fc.boolean(),
      cut: fc.option(fc.tuple(fc.nat(7), fc.nat(7))),
      dotted: fc.boolean(),
    });
    fc.assert(
      fc.property(words, spelling, (ws, sp) => {
        let parts = ws.map((w, i) => {
          const h = w.toString(16).padStart(sp.pad[i]! + 1, '0');
          return sp.upper ? h.toUpperCase() : h;
        });
        if (sp.dotted) parts = [...parts.slice(0, 6), `${ws[6]! >> 8}.${ws[6]! & 255}.${ws[7]! >> 8}.${ws[7]! & 255}`];
        let text = parts.join(':');
        if (sp.cut) {
          // Compress a run of zero groups, if the chosen range is one (never splitting the dotted quad).
          const [a, len] = sp.cut;
          const b = Math.min(a + len + 1, sp.dotted ? 6 : 8);
          if (a < b && ws.slice(a, b).every((w) => w === 0))
            text = `${parts.slice(0, a).join(':')}::${parts.slice(b).join(':')}`;
        }
        const ip = parseIp(text);
        const bytes = toBytes(ws);
        return isIPv6(text) && ip !== null && ip.family === 6 && ip.bytes.every((b, i) => b === bytes[i]);
      }),
      propertyOptions,
    );
  });

  it('never accepts text node:net rejects', () => {
    const chars = fc.constantFrom(...'0123456789abcdefABCDEF:.g'.split(''));
    fc.assert(
      fc.property(fc.string({ unit: chars, maxLength: 45 }), (s) => {
        const ip = parseIp(s);
        return (ip === null || ip.family === 4 || isIPv6(s)) && (!isIPv6(s) || ip?.family === 6);
      }),
      propertyOptions,
    );
  });
});
