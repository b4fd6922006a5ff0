import { describe, expect, it } from 'vitest';
import {
  bep42Exempt,
  bep42NodeId,
  bep42Valid,
  bucketIndexOf,
  commonPrefixBits,
  compareDistance,
  crc32c,
  idFromHex,
  idToHex,
  randomId,
  randomIdInRange,
  xorDistance,
} from '../../src/machines/dht/node-id.js';
import { randomFrom } from '../../src/machines/random.js';

const hex = (s: string) => idFromHex(s)!;

// BEP 42's table: IP, r, an example node id. Only the first 21 bits and the last byte are fixed.
const BEP42_VECTORS: [string, number, string][] = [
  ['124.31.75.21', 1, '5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401'],
  ['21.75.31.124', 86, '5a3ce9c14e7a08645677bbd1cfe7d8f956d53256'],
  ['65.23.51.170', 22, 'a5d43220bc8f112a3d426c84764f8c2a1150e616'],
  ['84.124.73.14', 65, '1b0321dd1bb1fe518101ceef99462b947a01ff41'],
  ['43.213.53.83', 90, 'e56f6cbf5b7c4be0237986d5243b87aa6d51305a'],
];

describe('node ids', () => {
  it('crc32c is CRC-32C (Castagnoli): the check value of "123456789" is 0xe3069283', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('hex round trip; idFromHex refuses anything but 40 hex digits', () => {
    const id = randomId(randomFrom(1));
    expect(idFromHex(idToHex(id))).toEqual(id);
    expect(idFromHex('ab')).toBeNull();
    expect(idFromHex('g'.repeat(40))).toBeNull();
    expect(idFromHex('0'.repeat(41))).toBeNull();
  });

  it('XOR distance, its ordering and the common prefix', () => {
    const a = hex('00'.repeat(20));
    const b = hex('80' + '00'.repeat(19));
    const c = hex('01' + '00'.repeat(19));
    expect(xorDistance(b, c)).toEqual(hex('81' + '00'.repeat(19)));
    expect(compareDistance(a, c, b)).toBeLessThan(0); // c is closer to 0 than b
    expect(compareDistance(b, c, a)).toBeGreaterThan(0); // 0x80 ^ 0x01 > 0x80 ^ 0x00
    expect(compareDistance(a, b, b)).toBe(0);
    expect(commonPrefixBits(a, b)).toBe(0);
    expect(commonPrefixBits(a, c)).toBe(7);
    expect(commonPrefixBits(a, a)).toBe(160);
    expect(commonPrefixBits(a, hex('00'.repeat(19) + '01'))).toBe(159);
    expect(bucketIndexOf(a, c, 3)).toBe(2);
    expect(bucketIndexOf(a, c, 10)).toBe(7);
  });

  it('randomIdInRange gives ids in the bucket range: exactly p shared bits, or at least p for the last bucket', () => {
    const rnd = randomFrom(7);
    for (let i = 0; i < 200; i++) {
      const own = randomId(rnd);
      const p = Math.floor(rnd() * 160);
      expect(commonPrefixBits(own, randomIdInRange(own, p, false, rnd))).toBe(p);
      expect(commonPrefixBits(own, randomIdInRange(own, p, true, rnd))).toBeGreaterThanOrEqual(p);
    }
    expect(() => randomIdInRange(randomId(rnd), 160, false, rnd)).toThrow(RangeError);
  });
});

describe('BEP 42', () => {
  it("the BEP's example ids are valid for their addresses, and generated ones match their first 21 bits and last byte", () => {
    const rnd = randomFrom(42);
    for (const [ip, r, example] of BEP42_VECTORS) {
      const expected = hex(example);
      expect(bep42Valid(expected, ip)).toBe(true);
      const id = bep42NodeId(ip, r, rnd);
      expect(id[0]).toBe(expected[0]);
      expect(id[1]).toBe(expected[1]);
      expect(id[2]! & 0xf8).toBe(expected[2]! & 0xf8);
      expect(id[19]).toBe(r);
      expect(bep42Valid(id, ip)).toBe(true);
    }
  });

  it('an id is invalid for another address, with any of its first 21 bits flipped, or with another last byte', () => {
    const [ip, , example] = BEP42_VECTORS[0]!;
    const id = hex(example);
    expect(bep42Valid(id, '124.31.75.22')).toBe(false);
    expect(bep42Valid(id, BEP42_VECTORS[1]![0])).toBe(false);
    for (let bit = 0; bit < 21; bit++) {
      const flipped = Uint8Array.from(id);
      flipped[bit >> 3] ^= 0x80 >> (bit & 7);
      expect(bep42Valid(flipped, ip)).toBe(false);
    }
    const low = Uint8Array.from(id);
    low[2] ^= 0x07; // the 3 random bits of byte 2 do not count
    expect(bep42Valid(low, ip)).toBe(true);
    const otherR = Uint8Array.from(id);
    otherR[19] = 2;
    expect(bep42Valid(otherR, ip)).toBe(false);
  });

  it('only the masked bits of the address count (the last byte of IPv4 counts in full, the top bits of the first do not)', () => {
    const id = hex(BEP42_VECTORS[0]![2]);
    // 124 & 0x03 = 0 = 0xfc & 0x03: the first byte's top six bits are masked out.
    expect(bep42Valid(id, '252.31.75.21')).toBe(true);
    expect(bep42Valid(id, '124.31.75.20')).toBe(false);
  });

  it('IPv6 uses the first 8 bytes; IPv4-mapped IPv6 is IPv4', () => {
    const rnd = randomFrom(3);
    const id = bep42NodeId('2001:db8:1:2::1', 9, rnd);
    expect(bep42Valid(id, '2001:db8:1:2::1')).toBe(true);
    expect(bep42Valid(id, '2001:db8:1:2:ffff::7')).toBe(true); // same first 8 bytes
    expect(bep42Valid(id, '2001:db8:1:3::1')).toBe(false);
    expect(bep42Valid(hex(BEP42_VECTORS[0]![2]), '::ffff:124.31.75.21')).toBe(true);
  });

  it('loopback and private addresses are exempt; public ones and non-addresses are not', () => {
    const anyId = randomId(randomFrom(5));
    for (const ip of [
      '127.0.0.1',
      '127.9.9.9',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.3.4',
      '::1',
      'fe80::1',
      'fd00::5',
    ]) {
      expect(bep42Exempt(ip), ip).toBe(true);
      expect(bep42Valid(anyId, ip), ip).toBe(true);
    }
    for (const ip of ['172.32.0.1', '172.15.0.1', '192.169.0.1', '8.8.8.8', '2001:db8::1'])
      expect(bep42Exempt(ip), ip).toBe(false);
    expect(bep42Valid(anyId, 'example.org')).toBe(false);
    expect(bep42Valid(anyId.subarray(0, 19), '127.0.0.1')).toBe(false);
    expect(() => bep42NodeId('example.org', 1, Math.random)).toThrow(RangeError);
  });
});
