import { describe, expect, it } from 'vitest';
import { BtError } from '../../src/protocol/errors.js';
import { encodeBencode } from '../../src/protocol/bencode.js';
import {
  type AnnounceParams,
  TrackerError,
  buildAnnounceUrl,
  buildScrapeUrl,
  encodeAnnounceResponse,
  encodeScrapeResponse,
  parseAnnounceQuery,
  parseAnnounceResponse,
  parseScrapeQuery,
  parseScrapeResponse,
  percentDecodeBytes,
  percentEncodeBytes,
  scrapeUrlFor,
} from '../../src/protocol/tracker-http.js';
import { parseIp } from '../../src/protocol/peer-address.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const bytes = (...parts: Array<string | Uint8Array>): Uint8Array => {
  const arrays = parts.map((p) => (typeof p === 'string' ? ascii(p) : p));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
};

/** 0x12 0x34 0x56 0x78 0x9a 0xbc 0xde 0xf0 repeated, 20 bytes. */
const infoHash = Uint8Array.from({ length: 20 }, (_, i) => [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0][i % 8]!);
const infoHashEncoded = '%124Vx%9A%BC%DE%F0%124Vx%9A%BC%DE%F0%124Vx';
const peerId = ascii('-BA0001-a b~c.d_e%f!');

const params: AnnounceParams = { infoHash, peerId, port: 6881, uploaded: 0, downloaded: 1024, left: 4096 };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BtError);
    return (err as BtError).code;
  }
  return undefined;
}

describe('percent-encoding', () => {
  it('encodes raw bytes outside the unreserved set as uppercase %XX', () => {
    expect(percentEncodeBytes(infoHash)).toBe(infoHashEncoded);
    expect(percentEncodeBytes(Uint8Array.of(0x00, 0x20, 0x2b, 0x2d, 0x2e, 0x5f, 0x7e, 0x7f, 0xff))).toBe(
      '%00%20%2B-._~%7F%FF',
    );
    expect(percentEncodeBytes(peerId)).toBe('-BA0001-a%20b~c.d_e%25f%21');
  });

  it('decodes either case, + as space, and rejects a broken escape', () => {
    expect(percentDecodeBytes('%12%aB%Ab+x')).toEqual(Uint8Array.of(0x12, 0xab, 0xab, 0x20, 0x78));
    expect(codeOf(() => percentDecodeBytes('%1'))).toBe('BT_ERR_TRACKER_QUERY');
    expect(codeOf(() => percentDecodeBytes('%zz'))).toBe('BT_ERR_TRACKER_QUERY');
  });
});

describe('buildAnnounceUrl', () => {
  it('writes the BEP 3 parameters in a fixed order', () => {
    expect(
      buildAnnounceUrl('http://tracker.example:6969/announce', {
        ...params,
        event: 'started',
        numwant: 50,
        key: 0xabc,
        trackerId: 'x y',
      }),
    ).toBe(
      'http://tracker.example:6969/announce?info_hash=' +
        infoHashEncoded +
        '&peer_id=-BA0001-a%20b~c.d_e%25f%21&port=6881&uploaded=0&downloaded=1024&left=4096&compact=1&event=started&numwant=50&key=00000ABC&trackerid=x%20y',
    );
  });

  it('keeps an existing query (passkey) and drops a fragment', () => {
    const url = buildAnnounceUrl('https://t.example/announce?passkey=abc#frag', params);
    expect(url.startsWith(`https://t.example/announce?passkey=abc&info_hash=${infoHashEncoded}&`)).toBe(true);
    expect(url).not.toContain('#');
    expect(buildAnnounceUrl('http://t/a?', params)).toMatch(/^http:\/\/t\/a\?info_hash=/);
    expect(buildAnnounceUrl('http://t/a?k=1&', params)).toMatch(/^http:\/\/t\/a\?k=1&info_hash=/);
  });

  it('omits event when undefined, and asks for the dictionary model when compact is false', () => {
    const url = buildAnnounceUrl('http://t/announce', { ...params, compact: false, key: 'K-1', ip: '::1' });
    expect(url).not.toContain('event=');
    expect(url).toContain('&compact=0&');
    expect(url).toContain('&key=K-1&ip=%3A%3A1');
  });

  it('rejects bad arguments with BT_ERR_TRACKER_PARAM', () => {
    expect(codeOf(() => buildAnnounceUrl('http://t/', { ...params, infoHash: new Uint8Array(19) }))).toBe(
      'BT_ERR_TRACKER_PARAM',
    );
    expect(codeOf(() => buildAnnounceUrl('http://t/', { ...params, port: 65536 }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => buildAnnounceUrl('http://t/', { ...params, left: -1 }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => buildAnnounceUrl('http://t/', { ...params, uploaded: 1.5 }))).toBe('BT_ERR_TRACKER_PARAM');
    expect(codeOf(() => buildAnnounceUrl('http://t/', { ...params, key: 2 ** 32 }))).toBe('BT_ERR_TRACKER_PARAM');
  });

  it('reads back on the tracker side (parseAnnounceQuery), ignoring the passkey', () => {
    const full: AnnounceParams = {
      ...params,
      event: 'completed',
      numwant: 0,
      key: 'abc',
      trackerId: 'tid',
      compact: true,
      ip: '10.0.0.1',
    };
    expect(parseAnnounceQuery(buildAnnounceUrl('http://t/announce?passkey=p', full))).toEqual(full);
    expect(codeOf(() => parseAnnounceQuery('info_hash=abc'))).toBe('BT_ERR_TRACKER_QUERY');
    expect(codeOf(() => parseAnnounceQuery(buildAnnounceUrl('http://t/', params).replace('port=6881', 'port=x')))).toBe(
      'BT_ERR_TRACKER_QUERY',
    );
  });
});

describe('parseAnnounceResponse', () => {
  it('reads a compact reply with every optional field', () => {
    const body = encodeBencode({
      interval: 1800,
      'min interval': 900,
      'tracker id': 'T1',
      'warning message': 'careful',
      complete: 3,
      incomplete: 7,
      'external ip': Uint8Array.of(203, 0, 113, 9),
      peers: Uint8Array.of(10, 0, 0, 1, 0x1a, 0xe1, 10, 0, 0, 2, 0, 0),
      peers6: bytes(parseIp('2001:db8::7')!.bytes, Uint8Array.of(0, 80)),
    });
    expect(parseAnnounceResponse(body)).toEqual({
      type: 'success',
      interval: 1800,
      minInterval: 900,
      trackerId: 'T1',
      warning: 'careful',
      complete: 3,
      incomplete: 7,
      externalIp: '203.0.113.9',
      peers: [
        { host: '10.0.0.1', port: 6881, family: 4 },
        { host: '2001:db8::7', port: 80, family: 6 },
      ],
    });
  });

  it('reads dictionary-model peers, skipping bad entries', () => {
    const id = ascii('-XX0001-123456789012');
    const body = encodeBencode({
      interval: 60,
      peers: [
        { ip: '10.0.0.1', port: 6881, 'peer id': id },
        { ip: '2001:DB8::1', port: 6882 },
        { ip: '::ffff:10.0.0.3', port: 1 },
        { ip: 'peer.example', port: 1 }, // DNS name: no address family, skipped
        { ip: '10.0.0.4', port: 0 },
        { ip: '10.0.0.5', port: 70000 },
        { ip: '10.0.0.6' },
        { ip: 7, port: 1 },
        'garbage',
        { ip: '10.0.0.8', port: 8, 'peer id': 'short' },
      ],
    });
    expect(parseAnnounceResponse(body)).toEqual({
      type: 'success',
      interval: 60,
      peers: [
        { host: '10.0.0.1', port: 6881, family: 4, peerId: id },
        { host: '2001:db8::1', port: 6882, family: 6 },
        { host: '10.0.0.3', port: 1, family: 4 },
        { host: '10.0.0.8', port: 8, family: 4 },
      ],
    });
  });

  it('treats a missing peers key as no peers and ignores mistyped optional fields', () => {
    expect(parseAnnounceResponse(ascii('d8:intervali30e8:completei-1e10:incomplete3:abce'))).toEqual({
      type: 'success',
      interval: 30,
      peers: [],
    });
  });

  it('reads failure replies, with BEP 31 retry in, and without interval', () => {
    expect(parseAnnounceResponse(ascii('d14:failure reason12:unregisterede'))).toEqual({
      type: 'failure',
      reason: 'unregistered',
    });
    expect(parseAnnounceResponse(ascii('d14:failure reason1:x8:retry ini5ee'))).toEqual({
      type: 'failure',
      reason: 'x',
      retryIn: 5,
    });
    expect(parseAnnounceResponse(ascii('d14:failure reason1:x8:retry in5:nevere'))).toEqual({
      type: 'failure',
      reason: 'x',
      retryIn: 'never',
    });
    expect(parseAnnounceResponse(ascii('d14:failure reasoni3ee'))).toEqual({ type: 'failure', reason: '3' });
  });

  it('names the field of a broken reply', () => {
    const err = (body: string | Uint8Array): TrackerError => {
      try {
        parseAnnounceResponse(typeof body === 'string' ? ascii(body) : body);
      } catch (e) {
        expect(e).toBeInstanceOf(TrackerError);
        return e as TrackerError;
      }
      throw new Error('did not throw');
    };
    expect(err('<html>').code).toBe('BT_ERR_TRACKER_BENCODE');
    expect(err('d8:intervali1e').code).toBe('BT_ERR_TRACKER_BENCODE');
    expect(err('').code).toBe('BT_ERR_TRACKER_BENCODE');
    expect(err('li1ee').code).toBe('BT_ERR_TRACKER_REPLY');
    expect(err('de')).toMatchObject({ code: 'BT_ERR_TRACKER_REPLY', field: 'interval' });
    expect(err('d8:interval2:60e')).toMatchObject({ code: 'BT_ERR_TRACKER_REPLY', field: 'interval' });
    expect(err('d8:intervali-1ee')).toMatchObject({ code: 'BT_ERR_TRACKER_REPLY', field: 'interval' });
    expect(err('d8:intervali99999999999999999999ee')).toMatchObject({
      code: 'BT_ERR_TRACKER_REPLY',
      field: 'interval',
    });
    expect(err('d8:intervali1e5:peers5:abcdee')).toMatchObject({ code: 'BT_ERR_TRACKER_REPLY', field: 'peers' });
    expect(err('d8:intervali1e5:peersi1ee')).toMatchObject({ code: 'BT_ERR_TRACKER_REPLY', field: 'peers' });
    expect(err('d8:intervali1e6:peers66:abcdefe')).toMatchObject({ code: 'BT_ERR_TRACKER_REPLY', field: 'peers6' });
  });

  it('refuses a __proto__ key (which the package decoder would turn into a prototype) as bad bencode', () => {
    for (const body of [
      'd8:intervali1e5:peersd9:__proto__3:abcee',
      'd8:intervali1e5:peersld2:ipd9:__proto__3:abce4:porti1eeee',
      'd9:__proto__3:abce',
    ]) {
      expect(() => parseAnnounceResponse(ascii(body))).toThrow(
        expect.objectContaining({ code: 'BT_ERR_TRACKER_BENCODE' }),
      );
    }
  });

  it('round-trips its own encoder, compact and dictionary model', () => {
    const id = ascii('-XX0001-123456789012');
    const peers = [
      { host: '1.2.3.4', port: 1, family: 4 as const, peerId: id },
      { host: '::1', port: 2, family: 6 as const },
    ];
    const res = { type: 'success' as const, interval: 5, trackerId: 't', peers };
    expect(parseAnnounceResponse(encodeAnnounceResponse(res, { compact: false }))).toEqual(res);
    expect(parseAnnounceResponse(encodeAnnounceResponse(res))).toEqual({
      ...res,
      peers: [{ host: '1.2.3.4', port: 1, family: 4 }, peers[1]],
    });
    expect(encodeAnnounceResponse({ type: 'failure', reason: 'no', retryIn: 'never' })).toEqual(
      ascii('d14:failure reason2:no8:retry in5:nevere'),
    );
    expect(
      codeOf(() =>
        encodeAnnounceResponse({ type: 'success', interval: 1, peers: [{ host: 'x', port: 1, family: 4 }] }),
      ),
    ).toBe('BT_ERR_TRACKER_PARAM');
  });
});

describe('scrape (BEP 48)', () => {
  it('derives the scrape URL from the announce URL', () => {
    expect(scrapeUrlFor('http://x/announce')).toBe('http://x/scrape');
    expect(scrapeUrlFor('http://x/a')).toBeNull();
    expect(scrapeUrlFor('http://x/announce.php?k=1')).toBe('http://x/scrape.php?k=1');
    expect(scrapeUrlFor('http://x/x%064announce')).toBeNull();
    expect(scrapeUrlFor('http://x/path/announce?passkey=abc#f')).toBe('http://x/path/scrape?passkey=abc');
    expect(scrapeUrlFor('http://x/announce/')).toBeNull();
    expect(scrapeUrlFor('http://x/announce/x')).toBeNull();
    expect(scrapeUrlFor('http://announce')).toBeNull();
    expect(scrapeUrlFor('http://x/?q=/announce')).toBeNull();
    expect(scrapeUrlFor('http://x/announcer')).toBe('http://x/scraper');
  });

  it('builds a scrape URL with repeated info_hash and reads it back', () => {
    const other = new Uint8Array(20).fill(0x41);
    const url = buildScrapeUrl('http://x/scrape?k=1', [infoHash, other]);
    expect(url).toBe(`http://x/scrape?k=1&info_hash=${infoHashEncoded}&info_hash=${'A'.repeat(20)}`);
    expect(parseScrapeQuery(url)).toEqual([infoHash, other]);
    expect(buildScrapeUrl('http://x/scrape', [])).toBe('http://x/scrape');
  });

  const hexOf = (b: Uint8Array): string => Buffer.from(b).toString('hex');

  it('reads files keyed by raw info hashes, whatever their bytes', () => {
    const h1 = infoHash; // not valid UTF-8
    const h2 = ascii('ABCDEFGHIJKLMNOPQRST'); // valid UTF-8
    const h3 = Uint8Array.from([0xef, 0xbb, 0xbf, ...new Uint8Array(17).fill(0x61)]); // UTF-8 BOM first
    const h4 = Uint8Array.from([0xef, 0xbf, 0xbd, ...new Uint8Array(17).fill(0x62)]); // a literal U+FFFD
    const entry = 'd8:completei1e10:downloadedi2e10:incompletei3e4:name1:ne';
    const body = bytes(
      'd5:filesd',
      '20:',
      h2,
      entry,
      '20:',
      h1,
      'd8:completei4ee',
      '20:',
      h4,
      'de',
      '20:',
      h3,
      'de',
      'ee',
    );
    const res = parseScrapeResponse(body);
    expect(res.type).toBe('success');
    if (res.type !== 'success') return;
    expect([...res.files.keys()].sort()).toEqual([hexOf(h1), hexOf(h2), hexOf(h3), hexOf(h4)].sort());
    expect(res.files.get(hexOf(h2))).toEqual({ complete: 1, downloaded: 2, incomplete: 3, name: 'n' });
    expect(res.files.get(hexOf(h1))).toEqual({ complete: 4, downloaded: 0, incomplete: 0 });
  });

  it('accepts hex keys, skips odd keys and non-dictionary entries, reads flags', () => {
    const hex = 'AB'.repeat(20);
    const body = bytes(
      'd5:filesd3:abcde40:',
      hex,
      'd8:completei9ee20:',
      new Uint8Array(20),
      'i1ee5:flagsd20:min_request_intervali300eee',
    );
    expect(parseScrapeResponse(body)).toEqual({
      type: 'success',
      files: new Map([[hex.toLowerCase(), { complete: 9, downloaded: 0, incomplete: 0 }]]),
      minRequestInterval: 300,
    });
    expect(parseScrapeResponse(ascii('de'))).toEqual({ type: 'success', files: new Map() });
  });

  it('reads failures and rejects broken replies', () => {
    expect(parseScrapeResponse(ascii('d14:failure reason4:nopee'))).toEqual({ type: 'failure', reason: 'nope' });
    expect(codeOf(() => parseScrapeResponse(ascii('d5:filesli1eee')))).toBe('BT_ERR_TRACKER_REPLY');
    expect(codeOf(() => parseScrapeResponse(ascii('d5:filesd')))).toBe('BT_ERR_TRACKER_BENCODE');
    expect(codeOf(() => parseScrapeResponse(ascii('i1e')))).toBe('BT_ERR_TRACKER_REPLY');
  });

  it('encodes files with raw keys in byte order and round-trips', () => {
    const files = new Map([
      ['ff'.repeat(20), { complete: 1, downloaded: 2, incomplete: 3 }],
      ['00'.repeat(20), { complete: 4, downloaded: 5, incomplete: 6, name: 'x' }],
    ]);
    const body = encodeScrapeResponse({ type: 'success', files, minRequestInterval: 60 });
    expect(body.subarray(0, 13)).toEqual(bytes('d5:filesd20:', Uint8Array.of(0)));
    expect(parseScrapeResponse(body)).toEqual({ type: 'success', files, minRequestInterval: 60 });
    expect(
      codeOf(() =>
        encodeScrapeResponse({
          type: 'success',
          files: new Map([['xyz', { complete: 1, downloaded: 1, incomplete: 1 }]]),
        }),
      ),
    ).toBe('BT_ERR_TRACKER_PARAM');
  });
});

describe('scrape reply quirks of real trackers', () => {
  it('reads info hash keys that were UTF-8 encoded byte by byte (bittorrent-tracker server)', () => {
    const hash = Uint8Array.from({ length: 20 }, (_, i) => (i * 37 + 200) & 255);
    const key = Buffer.from(String.fromCharCode(...hash), 'utf8');
    expect(key.length).toBeGreaterThan(20);
    const body = Buffer.concat([
      Buffer.from(`d5:filesd${key.length}:`),
      key,
      Buffer.from('d8:completei3e10:downloadedi4e10:incompletei5eeee'),
    ]);
    const res = parseScrapeResponse(body);
    expect(res.type).toBe('success');
    if (res.type === 'success') {
      expect(res.files.get(Buffer.from(hash).toString('hex'))).toEqual({ complete: 3, downloaded: 4, incomplete: 5 });
    }
  });
});
