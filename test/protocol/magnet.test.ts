/**
 * Magnet links (src/protocol/magnet.ts) on real-world-shaped input: several `tr` and `tr.N`, `x.pe`
 * with IPv6, `dn` with `+` and `%20`, uppercase hex, base32, v2-only and hybrid links, and each
 * refusal with its code.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_MAGNET_ENTRIES,
  MAX_MAGNET_LENGTH,
  MAX_MAGNET_NAME_BYTES,
  MagnetError,
  formatMagnet,
  magnetHybridV2Hash,
  parseMagnet,
  type MagnetErrorCode,
} from '../../src/protocol/magnet.js';
import { BtError } from '../../src/protocol/errors.js';

const HEX = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';
// The same 20 bytes in RFC 4648 base32 (Buffer → base32 by hand: see the base32 test).
const B32 = 'YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK';
const BTMH = 'urn:btmh:1220caf1e1c30e81cb361b9ee167c4aa64228a7fa4fa9f6105232b28ad099f3a302e';

function refused(uri: string, code: MagnetErrorCode, message?: RegExp): void {
  let err: unknown;
  try {
    parseMagnet(uri);
  } catch (e) {
    err = e;
  }
  expect(err, uri.slice(0, 100)).toBeInstanceOf(MagnetError);
  expect(err).toBeInstanceOf(BtError);
  expect((err as MagnetError).code).toBe(code);
  if (message) expect((err as MagnetError).message).toMatch(message);
}

/** RFC 4648 base32 of bytes, written independently of the parser. */
function base32(bytes: Uint8Array): string {
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  for (let i = 0; i < bits.length; i += 5) out += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(bits.slice(i, i + 5), 2)];
  return out;
}

describe('parseMagnet: real-world-shaped links', () => {
  it('reads a typical link: hex hash, dn with +, several tr percent-encoded, in order', () => {
    const link = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&dn=ubuntu-24.04.1+desktop+amd64.iso` +
        '&tr=https%3A%2F%2Ftorrent.ubuntu.com%2Fannounce&tr=udp%3A%2F%2Ftracker.opentrackr.org%3A1337%2Fannounce' +
        '&tr=https%3A%2F%2Ftorrent.ubuntu.com%2Fannounce',
    );
    expect(link).toEqual({
      infoHash: Uint8Array.from(Buffer.from(HEX, 'hex')),
      infoHashHex: HEX,
      name: 'ubuntu-24.04.1 desktop amd64.iso',
      trackers: ['https://torrent.ubuntu.com/announce', 'udp://tracker.opentrackr.org:1337/announce'],
      webSeeds: [],
      peers: [],
      ignored: [],
    });
  });

  it('reads dn with %20, + and UTF-8 escapes, and tr.1 / tr.2 numbered forms with raw URLs', () => {
    const link = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&dn=Caf%C3%A9%20del+Mar%20%E2%80%94%20%F0%9F%8E%B5%2B%26%3D` +
        '&tr.1=http://127.0.0.1:6969/announce&tr.2=udp://[::1]:6969&tr=http://127.0.0.1:6969/announce',
    );
    expect(link.name).toBe('Café del Mar — 🎵+&=');
    expect(link.trackers).toEqual(['http://127.0.0.1:6969/announce', 'udp://[::1]:6969']);
  });

  it('accepts uppercase hex, upper and lower base32, and MAGNET: in capitals; all give the same hash', () => {
    expect(base32(Buffer.from(HEX, 'hex'))).toBe(B32);
    for (const xt of [HEX.toUpperCase(), B32, B32.toLowerCase()]) {
      const link = parseMagnet(`MAGNET:?XT=URN:BTIH:${xt}`);
      expect(link.infoHashHex).toBe(HEX);
    }
  });

  it('reads x.pe peers: IPv4, [IPv6] (normalised), host names (lowercased), de-duplicated', () => {
    const link = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&x.pe=127.0.0.1:6881&x.pe=%5B2001:DB8:0:0::1%5D:51413` +
        '&x.pe=[::ffff:127.0.0.1]:6881&x.pe=Seed.Example.org:6881&x.pe.1=[::1]:1&x.pe=seed.example.org:6881',
    );
    expect(link.peers).toEqual([
      { host: '127.0.0.1', port: 6881 },
      { host: '2001:db8::1', port: 51413 },
      { host: 'seed.example.org', port: 6881 },
      { host: '::1', port: 1 },
    ]);
    expect(link.ignored).toEqual([]);
  });

  it('ignores, with a reason, the peers it cannot use (bare IPv6, bad ports, bad names)', () => {
    const link = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&x.pe=::1:6881&x.pe=1.2.3.4:0&x.pe=1.2.3.4:65536&x.pe=1.2.3.4` +
        '&x.pe=1.2.3.999:80&x.pe=bad_name:80&x.pe=[1.2.3.4]:80&x.pe=1.2.3.4:080',
    );
    expect(link.peers).toEqual([]);
    expect(link.ignored.map((i) => i.reason)).toEqual([
      'an IPv6 address is written in brackets: [address]:port',
      'port "0" is not in 1..65535',
      'port "65536" is not in 1..65535',
      'no port (host:port)',
      '"1.2.3.999" is not an IPv4 address',
      '"bad_name" is not a host name',
      '"1.2.3.4" is not an IPv6 address',
      'port "080" is not in 1..65535',
    ]);
  });

  it('keeps http/https/udp trackers and http/https web seeds; lists the others as ignored', () => {
    const link = parseMagnet(
      `magnet:?xt=urn:btih:${HEX}&tr=wss%3A%2F%2Ftracker.webtorrent.dev&tr=udp%3A%2F%2Ft.example%3A80` +
        '&ws=https%3A%2F%2Fwebtorrent.io%2Ftorrents%2F&ws=ftp%3A%2F%2Fx.example%2F&tr=not%20a%20url&tr=http%3A%2F%2F' +
        '&xl=1024&so=0-3&kt=a+b&xs=http%3A%2F%2Fx.example%2Fa.torrent',
    );
    expect(link.trackers).toEqual(['udp://t.example:80']);
    expect(link.webSeeds).toEqual(['https://webtorrent.io/torrents/']);
    expect(link.exactLength).toBe(1024);
    expect(link.ignored).toEqual([
      { key: 'tr', value: 'wss://tracker.webtorrent.dev', reason: 'scheme wss not supported (only http, https, udp)' },
      { key: 'ws', value: 'ftp://x.example/', reason: 'scheme ftp not supported (only http, https)' },
      { key: 'tr', value: 'not a url', reason: 'not a URL (scheme://host…)' },
      { key: 'tr', value: 'http://', reason: '"" is not host[:port]' },
      { key: 'so', value: '0-3', reason: 'not a parameter bt-actor uses' },
      { key: 'kt', value: 'a b', reason: 'not a parameter bt-actor uses' },
      { key: 'xs', value: 'http://x.example/a.torrent', reason: 'not a parameter bt-actor uses' },
    ]);
  });

  it('ignores tracker URLs that URL parsers read in more than one way, naming why', () => {
    const bad = {
      'http:x.example/announce': 'not a URL (scheme://host…)',
      'http://a.example\\b/announce': 'holds a space, a control character or a backslash',
      'http://a.example/an nounce': 'holds a space, a control character or a backslash',
      'http://%41.example/announce': '"%41.example" is not a host name or an IP address',
      'http://0x7f.1/announce': '"0x7f.1" is not a host name or an IP address',
      'http://1.2.3.999/announce': '"1.2.3.999" is not a host name or an IP address',
      'http://user@t.example/announce': '"user@t.example" is not host[:port]',
      'udp://t.example:99999': 'port "99999" is not in 1..65535',
      'udp://t.example:': 'port "" is not in 1..65535',
      'udp://[fe80::1%25eth0]:80': '"[fe80::1%25eth0]:80" is not host[:port]',
    };
    const uri = `magnet:?xt=urn:btih:${HEX}&${Object.keys(bad)
      .map((u) => `tr=${encodeURIComponent(u)}`)
      .join('&')}`;
    const link = parseMagnet(uri);
    expect(link.trackers).toEqual([]);
    expect(Object.fromEntries(link.ignored.map((i) => [i.value, i.reason]))).toEqual(bad);
  });

  it('a hybrid link (btih + btmh, in either order) is known by its v1 hash and keeps the v2 one', () => {
    for (const uri of [
      `magnet:?xt=urn:btih:${HEX}&xt=${BTMH}&dn=hybrid`,
      `magnet:?xt.1=${BTMH.toUpperCase().replace('URN:BTMH', 'urn:btmh')}&xt.2=urn:btih:${HEX}&dn=hybrid`,
    ]) {
      const link = parseMagnet(uri);
      expect(link.infoHashHex).toBe(HEX);
      expect(link.infoHashV2Hex).toBe(BTMH.slice('urn:btmh:1220'.length));
      expect(link.v2Only).toBeUndefined();
      expect(link.ignored).toEqual([]);
      expect(parseMagnet(formatMagnet(link))).toEqual({ ...link, name: 'hybrid' });
      // Its second name, as handshakes, trackers and the DHT carry it: the v2 hash cut to 20 bytes.
      expect(Buffer.from(magnetHybridV2Hash(link)!).toString('hex')).toBe(BTMH.slice('urn:btmh:1220'.length, 53));
    }
    // A v1 link and a v2-only one (whose infoHash is already that hash) have none.
    expect(magnetHybridV2Hash(parseMagnet(`magnet:?xt=urn:btih:${HEX}`))).toBeUndefined();
    expect(magnetHybridV2Hash(parseMagnet(`magnet:?xt=${BTMH}`, { v2Only: true }))).toBeUndefined();
  });

  it('a v2-only link, when asked for: the v2 hash, and the 20 bytes a v2 handshake carries', () => {
    const link = parseMagnet(`magnet:?xt=${BTMH}&dn=v2`, { v2Only: true });
    const v2 = BTMH.slice('urn:btmh:1220'.length);
    expect(link).toMatchObject({ v2Only: true, infoHashV2Hex: v2, infoHashHex: v2.slice(0, 40), name: 'v2' });
  });

  it('the same hash twice (hex and base32) is one reading; a repeated identical dn too', () => {
    const link = parseMagnet(`magnet:?xt=urn:btih:${HEX}&xt.1=urn:btih:${B32}&dn=a&dn=a&xl=5&xl=5`);
    expect(link).toMatchObject({ infoHashHex: HEX, name: 'a', exactLength: 5 });
  });

  it('skips empty parameters and parameters with no value, and a trailing &', () => {
    const link = parseMagnet(`magnet:?&xt=urn:btih:${HEX}&&dn=&tr=&ws&x.pe=&`);
    expect(link).toEqual({
      infoHash: link.infoHash,
      infoHashHex: HEX,
      trackers: [],
      webSeeds: [],
      peers: [],
      ignored: [],
    });
  });

  it('accepts a pasted IRI: raw non-ASCII letters and spaces', () => {
    expect(parseMagnet(`magnet:?xt=urn:btih:${HEX}&dn=Über Straße`).name).toBe('Über Straße');
  });
});

describe('parseMagnet: refusals name the fault', () => {
  it('BT_ERR_MAGNET_SCHEME: not magnet:?', () => {
    refused('http://example.org/x.torrent', 'BT_ERR_MAGNET_SCHEME', /does not start with 'magnet:\?'/);
    refused(`magnet:xt=urn:btih:${HEX}`, 'BT_ERR_MAGNET_SCHEME', /not followed by '\?'/);
    refused('', 'BT_ERR_MAGNET_SCHEME');
  });

  it('BT_ERR_MAGNET_V2: a v2-only link, with the clear message', () => {
    refused(`magnet:?xt=${BTMH}&dn=v2`, 'BT_ERR_MAGNET_V2', /BitTorrent v2-only magnet links are not supported/);
  });

  it('BT_ERR_MAGNET_HASH / AMBIGUOUS: a btmh that is not 1220 + 64 hex; two different ones', () => {
    for (const bad of [
      'urn:btmh:1114' + 'ab'.repeat(32),
      'urn:btmh:1220' + 'ab'.repeat(31),
      'urn:btmh:1220' + 'zz'.repeat(32),
    ])
      refused(`magnet:?xt=urn:btih:${HEX}&xt=${bad}`, 'BT_ERR_MAGNET_HASH', /multihash 1220 and 64 hex digits/);
    refused(
      `magnet:?xt=${BTMH}&xt=urn:btmh:1220${'cd'.repeat(32)}`,
      'BT_ERR_MAGNET_AMBIGUOUS',
      /two different v2 info hashes/,
    );
  });

  it('BT_ERR_MAGNET_NO_HASH: no xt, or only other URNs', () => {
    refused('magnet:?dn=x&tr=http%3A%2F%2Ft.example%2Fa', 'BT_ERR_MAGNET_NO_HASH', /no info hash \(xt=urn:btih:…\)/);
    refused('magnet:?xt=urn:sha1:YNCKHTQCWBTRNJIV4WNAE52SJUQCZO5C', 'BT_ERR_MAGNET_NO_HASH');
    refused('magnet:?', 'BT_ERR_MAGNET_NO_HASH');
  });

  it('BT_ERR_MAGNET_HASH: a btih of the wrong length or alphabet, naming the parameter', () => {
    refused(`magnet:?xt=urn:btih:${HEX.slice(1)}`, 'BT_ERR_MAGNET_HASH', /^magnet link: xt: .*not 39 characters/);
    refused(`magnet:?xt=urn:btih:${HEX.slice(1)}g`, 'BT_ERR_MAGNET_HASH', /is not hexadecimal/);
    refused(`magnet:?xt.2=urn:btih:${B32.slice(1)}1`, 'BT_ERR_MAGNET_HASH', /^magnet link: xt\.2: .*not base32/);
  });

  it('BT_ERR_MAGNET_AMBIGUOUS: two different hashes, names or lengths', () => {
    const other = 'ff'.repeat(20);
    refused(`magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${other}`, 'BT_ERR_MAGNET_AMBIGUOUS', /two different info hashes/);
    refused(`magnet:?xt=urn:btih:${HEX}&dn=a&dn=b`, 'BT_ERR_MAGNET_AMBIGUOUS', /two different names \("a" and "b"\)/);
    refused(`magnet:?xt=urn:btih:${HEX}&xl=1&xl=2`, 'BT_ERR_MAGNET_AMBIGUOUS', /two different lengths/);
  });

  it('BT_ERR_MAGNET_ENCODING: bad escapes, escapes that are not UTF-8, controls, raw #, lone surrogates', () => {
    refused(`magnet:?xt=urn:btih:${HEX}&dn=100%`, 'BT_ERR_MAGNET_ENCODING', /the value of "dn": '%' is not followed/);
    refused(`magnet:?xt=urn:btih:${HEX}&dn=%zz`, 'BT_ERR_MAGNET_ENCODING');
    refused(`magnet:?xt=urn:btih:${HEX}&dn=%C3%28`, 'BT_ERR_MAGNET_ENCODING', /not UTF-8/);
    refused(`magnet:?xt=urn:btih:${HEX}&d%n=1`, 'BT_ERR_MAGNET_ENCODING', /parameter name/);
    refused(`magnet:?xt=urn:btih:${HEX}&dn=a\nb`, 'BT_ERR_MAGNET_ENCODING', /control character U\+000A/);
    refused(`magnet:?xt=urn:btih:${HEX}\n`, 'BT_ERR_MAGNET_ENCODING');
    refused(`magnet:?xt=urn:btih:${HEX}&dn=a#b`, 'BT_ERR_MAGNET_ENCODING', /raw '#'/);
    refused(`magnet:?xt=urn:btih:${HEX}&dn=\uD800`, 'BT_ERR_MAGNET_ENCODING', /lone surrogate/);
  });

  it('BT_ERR_MAGNET_LIMIT: a link longer than 64 KiB is refused before it is read', () => {
    const uri = `magnet:?xt=urn:btih:${HEX}&dn=${'a'.repeat(MAX_MAGNET_LENGTH)}`;
    refused(uri, 'BT_ERR_MAGNET_LIMIT', /more than the 65536 read/);
  });
});

describe('parseMagnet: bounds', () => {
  it('keeps at most 100 trackers, web seeds and peers, and a name of at most 1024 bytes', () => {
    const n = MAX_MAGNET_ENTRIES + 50;
    const many = Array.from({ length: n }, (_, i) => `tr=udp%3A%2F%2Ft${i}.example%3A80`).join('&');
    const ws = Array.from({ length: n }, (_, i) => `ws=http%3A%2F%2Fw${i}.example%2F`).join('&');
    const pe = Array.from({ length: n }, (_, i) => `x.pe=10.0.${i >> 8}.${i & 255}:6881`).join('&');
    const link = parseMagnet(`magnet:?xt=urn:btih:${HEX}&${many}&${ws}&${pe}&dn=${'é'.repeat(513)}`);
    expect(link.trackers).toHaveLength(MAX_MAGNET_ENTRIES);
    expect(link.trackers.at(-1)).toBe(`udp://t${MAX_MAGNET_ENTRIES - 1}.example:80`);
    expect(link.webSeeds).toHaveLength(MAX_MAGNET_ENTRIES);
    expect(link.peers).toHaveLength(MAX_MAGNET_ENTRIES);
    expect(link.name).toBeUndefined();
    expect(link.ignored).toHaveLength(MAX_MAGNET_ENTRIES); // 50 + 50 + 50 + 1 (the name), cut at 100
    expect(link.ignored[0]).toMatchObject({ key: 'tr', reason: 'more than 100 trackers' });
    const fits = parseMagnet(`magnet:?xt=urn:btih:${HEX}&dn=${'é'.repeat(MAX_MAGNET_NAME_BYTES / 2)}`);
    expect(fits.name).toHaveLength(MAX_MAGNET_NAME_BYTES / 2);
  });
});

describe('formatMagnet', () => {
  it('writes lowercase hex and percent-encodes every value; parseMagnet reads it back', () => {
    const infoHash = Uint8Array.from(Buffer.from(HEX, 'hex'));
    const uri = formatMagnet({
      infoHash,
      name: 'a+b c&d=é',
      exactLength: 7,
      trackers: ['udp://t.example:80'],
      webSeeds: ['https://w.example/'],
      peers: [
        { host: '::1', port: 6881 },
        { host: '127.0.0.1', port: 1 },
      ],
    });
    expect(uri).toBe(
      `magnet:?xt=urn:btih:${HEX}&dn=a%2Bb%20c%26d%3D%C3%A9&xl=7&tr=udp%3A%2F%2Ft.example%3A80` +
        '&ws=https%3A%2F%2Fw.example%2F&x.pe=%5B%3A%3A1%5D%3A6881&x.pe=127.0.0.1%3A1',
    );
    expect(parseMagnet(uri)).toMatchObject({
      name: 'a+b c&d=é',
      peers: [
        { host: '::1', port: 6881 },
        { host: '127.0.0.1', port: 1 },
      ],
    });
  });

  it('refuses an info hash that is not 20 bytes, a length that is not whole, text that is not text', () => {
    const infoHash = new Uint8Array(20);
    const cases: [Parameters<typeof formatMagnet>[0], string][] = [
      [{ infoHash: new Uint8Array(32) }, 'BT_ERR_MAGNET_HASH'],
      [{ infoHash, exactLength: 1.5 }, 'BT_ERR_MAGNET_ENCODING'],
      [{ infoHash, exactLength: -1 }, 'BT_ERR_MAGNET_ENCODING'],
      [{ infoHash, name: 'a\uD800' }, 'BT_ERR_MAGNET_ENCODING'],
      [{ infoHash, trackers: ['http://a.example/\uDC00'] }, 'BT_ERR_MAGNET_ENCODING'],
    ];
    for (const [link, code] of cases) {
      expect(() => formatMagnet(link)).toThrow(MagnetError);
      expect(() => formatMagnet(link)).toThrow(expect.objectContaining({ code }));
    }
  });

  it('messages quote long keys and values cut short', () => {
    const key = `xt.${'1'.repeat(5000)}`;
    let message = '';
    try {
      parseMagnet(`magnet:?${key}=urn:btih:zz`);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^magnet link: xt\.1+…: an info hash is 40 hex digits/);
    expect(message.length).toBeLessThan(300);
    const link = parseMagnet(`magnet:?xt=urn:btih:${HEX}&${'k'.repeat(5000)}=${'v'.repeat(5000)}`);
    expect(link.ignored[0]!.key).toHaveLength(200);
    expect(link.ignored[0]!.value).toHaveLength(200);
    const emoji = parseMagnet(`magnet:?xt=urn:btih:${HEX}&so=${'a'.repeat(199)}${'😀'.repeat(3)}`);
    expect(emoji.ignored[0]!.value).toBe('a'.repeat(199)); // not half an emoji
  });
});
