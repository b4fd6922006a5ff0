/**
 * The peer's extension protocol (src/machines/peer/extensions.ts): our BEP 10 handshake, what the
 * peer's handshake tells us, and the routing of extended messages to the registry's extensions.
 */
import { describe, expect, it } from 'vitest';
import {
  EXTENSIONS,
  emptyExtensionState,
  ourExtensionHandshake,
  routeExtended,
  type ExtensionSpec,
} from '../../src/machines/peer/extensions.js';
import {
  METADATA_REQUEST_SLACK,
  PEX_RECEIVE_INTERVAL_MS,
  metadataAllowance,
} from '../../src/machines/peer/ext-messages.js';
import { decodeUtMetadata, encodeUtMetadata, type UtMetadataDecoded } from '../../src/protocol/ut-metadata.js';
import { decodeUtPex, encodeUtPex, PexFlag } from '../../src/protocol/ut-pex.js';
import { EXTENDED, KEY, startPeer, testSettings, type PeerHarness, type StartOptions } from './peer-harness.js';
import {
  MAX_NAME_BYTES,
  MAX_REQQ,
  decodeExtensionHandshake,
  encodeExtensionHandshake,
} from '../../src/protocol/extension-handshake.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const registry: ExtensionSpec[] = [{ name: 'ut_metadata' }, { name: 'ut_pex' }];

describe('EXTENSIONS', () => {
  it('names each extension once, with a name a peer keeps', () => {
    const names = EXTENSIONS.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) {
      expect(name.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
    }
  });

  it('offers each registered extension at its position + 1, and routes its messages back to it', () => {
    const h = decodeExtensionHandshake(ourExtensionHandshake({ reqq: 100 }));
    expect(h.m).toEqual(Object.fromEntries(EXTENSIONS.map((e, i) => [e.name, i + 1])));
    const payload = ascii('x');
    EXTENSIONS.forEach((e, i) =>
      expect(routeExtended(i + 1, payload)).toEqual({ kind: 'extension', name: e.name, payload }),
    );
    expect(routeExtended(EXTENSIONS.length + 1, payload).kind).toBe('ignored');
  });
});

describe('ourExtensionHandshake', () => {
  it("encodes the registry's ids, our reqq and our name", () => {
    const bytes = ourExtensionHandshake({ reqq: 250, registry });
    expect(Buffer.from(bytes).toString('latin1')).toBe('d1:md11:ut_metadatai1e6:ut_pexi2ee4:reqqi250e1:v8:bt-actore');
    expect(decodeExtensionHandshake(bytes)).toEqual({
      m: { ut_metadata: 1, ut_pex: 2 },
      reqq: 250,
      client: 'bt-actor',
    });
  });

  it('offers nothing with an empty registry', () => {
    const bytes = ourExtensionHandshake({ reqq: 2000, registry: [] });
    expect(Buffer.from(bytes).toString('latin1')).toBe('d1:mde4:reqqi2000e1:v8:bt-actore');
  });
});

describe('routeExtended', () => {
  it('reads the peer handshake (id 0) into a new state', () => {
    const payload = encodeExtensionHandshake({
      m: { ut_metadata: 3, ut_pex: 1 },
      reqq: 250,
      client: 'qBittorrent/4.6',
    });
    expect(routeExtended(0, payload)).toEqual({
      kind: 'handshake',
      state: { peerIds: { ut_metadata: 3, ut_pex: 1 }, reqq: 250, client: 'qBittorrent/4.6' },
    });
  });

  it('leaves reqq unbounded and the client unknown when the peer does not say', () => {
    const m = routeExtended(0, ascii('d1:md6:ut_pexi2eee'));
    expect(m).toEqual({
      kind: 'handshake',
      state: { peerIds: { ut_pex: 2 }, reqq: Number.POSITIVE_INFINITY, client: undefined },
    });
    expect(routeExtended(0, ascii('de'))).toEqual({ kind: 'handshake', state: emptyExtensionState });
  });

  it('keeps what the handshake decoder keeps: disabled names out, reqq clamped, bad facts dropped', () => {
    const m = routeExtended(0, ascii('d1:md11:ut_metadatai0e6:ut_pexi2ee4:reqqi99999999e1:vi5ee'));
    expect(m).toEqual({ kind: 'handshake', state: { peerIds: { ut_pex: 2 }, reqq: MAX_REQQ, client: undefined } });
    const zero = routeExtended(0, ascii('d4:reqqi0ee'));
    expect(zero.kind === 'handshake' && zero.state.reqq).toBe(Number.POSITIVE_INFINITY);
  });

  it('ignores a malformed handshake, saying why', () => {
    const cases: [string, RegExp][] = [
      ['', /^extension handshake: /],
      ['not bencode', /^extension handshake: /],
      ['d1:md6:ut_pexi2eee trailing', /^extension handshake: /],
      ['li1ee', /^extension handshake: not a dictionary$/],
      ['d1:mi1ee', /^extension handshake: m is not a dictionary$/],
      ['d1:md6:ut_pexi256eee', /^extension handshake: m\.ut_pex is not a message id$/],
      ['d1:md6:ut_pex3:abcee', /^extension handshake: m\.ut_pex is not a message id$/],
      ['d1:md6:ut_pexi-1eee', /^extension handshake: m\.ut_pex is not a message id$/],
      ['d9:__proto__de1:md6:ut_pexi2eee', /^extension handshake: .*__proto__/],
    ];
    for (const [text, reason] of cases) {
      const m = routeExtended(0, ascii(text));
      expect(m.kind, text).toBe('ignored');
      if (m.kind === 'ignored') expect(m.reason, text).toMatch(reason);
    }
  });

  it('ignores a message for an id we never offered', () => {
    const payload = ascii('d8:msg_typei0e5:piecei0ee');
    expect(routeExtended(1, payload, [])).toEqual({ kind: 'ignored', reason: 'extended message 1 was never offered' });
    expect(routeExtended(3, payload, registry)).toEqual({
      kind: 'ignored',
      reason: 'extended message 3 was never offered',
    });
    expect(routeExtended(255, payload, registry).kind).toBe('ignored');
  });

  it("hands a registered extension's message to it, payload untouched", () => {
    const payload = ascii('d8:msg_typei0e5:piecei0ee');
    const a = routeExtended(1, payload, registry);
    expect(a).toEqual({ kind: 'extension', name: 'ut_metadata', payload });
    expect(a.kind === 'extension' && a.payload).toBe(payload);
    expect(routeExtended(2, payload, registry)).toEqual({ kind: 'extension', name: 'ut_pex', payload });
    // Id 0 is the handshake whatever the registry.
    expect(routeExtended(0, ourExtensionHandshake({ reqq: 2000, registry }), registry)).toEqual({
      kind: 'handshake',
      state: { peerIds: { ut_metadata: 1, ut_pex: 2 }, reqq: 2000, client: 'bt-actor' },
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The peer statechart with ut_metadata (BEP 9) and ut_pex (BEP 11) wired in.

/** A 40,000-byte info dictionary stand-in: 3 metadata pieces (16 KiB, 16 KiB, 7232 bytes). */
const INFO = Uint8Array.from({ length: 40_000 }, (_, i) => (i * 7 + 3) & 0xff);
const PUBLIC = { metadata: INFO, pex: true };
/** The peer's ids for the two messages (they differ from ours: 1 and 2). */
const THEIR_META = 3;
const THEIR_PEX = 7;

/** A connected peer (BEP 10 on both sides) whose extension handshake said `m` and, maybe, `p`. */
function connectedPeer(torrent: StartOptions['torrent'], m: Record<string, number>, port?: number) {
  const h = startPeer({ torrent });
  h.connect(EXTENDED);
  h.push({
    type: 'wire.extended',
    id: 0,
    payload: encodeExtensionHandshake({ m, ...(port !== undefined && { port }) }),
  });
  return h;
}

/** Our extended messages sent with the peer's id `id`. */
const sentWithId = (h: PeerHarness, id: number) => h.messages('extended').filter((m) => m.id === id);

const request = (piece: number) => encodeUtMetadata({ type: 'request', piece });

describe('peer statechart: our extension handshake', () => {
  it('a public torrent offers ut_metadata (with metadata_size) and ut_pex; a private one offers neither', () => {
    const pub = startPeer({ torrent: PUBLIC });
    pub.connect(EXTENDED);
    const [hs] = pub.messages('extended');
    expect(hs?.id).toBe(0);
    expect(decodeExtensionHandshake(hs!.payload)).toEqual({
      m: { ut_metadata: 1, ut_pex: 2 },
      reqq: testSettings.maxQueuedRequests,
      client: 'bt-actor',
      metadataSize: INFO.length,
    });
    pub.stop();

    const priv = startPeer({ torrent: { ...PUBLIC, private: true } });
    priv.connect(EXTENDED);
    const ours = decodeExtensionHandshake(priv.messages('extended')[0]!.payload);
    expect(ours.m).toEqual({});
    expect(ours.metadataSize).toBeUndefined();
    priv.stop();
  });

  it('tells our listen port (p) when the torrent knows it, whatever it offers', () => {
    for (const torrent of [
      { ...PUBLIC, listenPort: 51413 },
      { private: true, listenPort: 51413 },
    ]) {
      const h = startPeer({ torrent });
      h.connect(EXTENDED);
      expect(decodeExtensionHandshake(h.messages('extended')[0]!.payload).port).toBe(51413);
      h.stop();
    }
    const h = startPeer({ torrent: PUBLIC });
    h.connect(EXTENDED);
    expect(decodeExtensionHandshake(h.messages('extended')[0]!.payload).port).toBeUndefined();
    h.stop();
  });

  it('offers only what the torrent has: no metadata → no ut_metadata; PEX off → no ut_pex', () => {
    for (const [torrent, m] of [
      [{ pex: true }, { ut_pex: 2 }],
      [{ metadata: INFO }, { ut_metadata: 1 }],
      [{}, {}],
    ] as const) {
      const h = startPeer({ torrent });
      h.connect(EXTENDED);
      const ours = decodeExtensionHandshake(h.messages('extended')[0]!.payload);
      expect(ours.m).toEqual(m);
      expect(ours.metadataSize).toBe('metadata' in torrent ? INFO.length : undefined);
      h.stop();
    }
  });

  it('tells the torrent whether the peer takes our PEX and the port it listens on, at each handshake', () => {
    const h = connectedPeer(PUBLIC, { ut_pex: THEIR_PEX }, 51413);
    expect(h.reports('peer.extensions')).toEqual([{ type: 'peer.extensions', key: KEY, pex: true, port: 51413 }]);
    h.push({ type: 'wire.extended', id: 0, payload: encodeExtensionHandshake({ m: { ut_metadata: 2 } }) });
    expect(h.reports('peer.extensions')[1]).toEqual({ type: 'peer.extensions', key: KEY, pex: false, port: undefined });
    h.stop();
    // A private torrent: never PEX, whatever the peer says.
    const p = connectedPeer({ ...PUBLIC, private: true }, { ut_pex: THEIR_PEX }, 6000);
    expect(p.reports('peer.extensions')).toEqual([{ type: 'peer.extensions', key: KEY, pex: false, port: 6000 }]);
    p.stop();
  });
});

describe('peer statechart: serving ut_metadata', () => {
  it('answers a request with the piece of our info dictionary, at the id the peer gave', () => {
    const h = connectedPeer(PUBLIC, { ut_metadata: THEIR_META });
    for (const piece of [1, 0, 2]) h.push({ type: 'wire.extended', id: 1, payload: request(piece) });
    const answers = sentWithId(h, THEIR_META).map((m) => decodeUtMetadata(m.payload, { metadataSize: INFO.length }));
    expect(answers.map((a) => a.type)).toEqual(['data', 'data', 'data']);
    const [p1, p0, p2] = answers as Extract<UtMetadataDecoded, { type: 'data' }>[];
    expect([p1!.piece, p0!.piece, p2!.piece]).toEqual([1, 0, 2]);
    expect(p1!.totalSize).toBe(INFO.length);
    expect(Buffer.from(p0!.data).equals(INFO.subarray(0, 16384))).toBe(true);
    expect(Buffer.from(p1!.data).equals(INFO.subarray(16384, 32768))).toBe(true);
    expect(Buffer.from(p2!.data).equals(INFO.subarray(32768))).toBe(true);
    expect(h.snapshot().context.extMessages).toMatchObject({ metadataRequests: 3, metadataServed: 3 });
    expect(h.status()).toBe('active');
    h.stop();
  });

  it('rejects a piece out of range, and any piece while the socket is congested', () => {
    const h = connectedPeer(PUBLIC, { ut_metadata: THEIR_META });
    h.push({ type: 'wire.extended', id: 1, payload: request(3) });
    h.push({ type: 'wire.congested' });
    h.push({ type: 'wire.extended', id: 1, payload: request(0) });
    h.push({ type: 'wire.drain' });
    h.push({ type: 'wire.extended', id: 1, payload: request(0) });
    const answers = sentWithId(h, THEIR_META).map((m) => decodeUtMetadata(m.payload));
    expect(answers.map((a) => a.type === 'unknown' || [a.type, a.piece])).toEqual([
      ['reject', 3],
      ['reject', 0],
      ['data', 0],
    ]);
    h.stop();
  });

  it('never answers a peer that did not advertise ut_metadata, nor anyone for a private torrent', () => {
    const quiet = connectedPeer(PUBLIC, { ut_pex: THEIR_PEX });
    quiet.push({ type: 'wire.extended', id: 1, payload: request(0) });
    expect(quiet.messages('extended').filter((m) => m.id !== 0)).toEqual([]);
    quiet.stop();
    const priv = connectedPeer({ ...PUBLIC, private: true }, { ut_metadata: THEIR_META });
    priv.push({ type: 'wire.extended', id: 1, payload: request(0) });
    expect(priv.messages('extended').filter((m) => m.id !== 0)).toEqual([]);
    expect(priv.status()).toBe('active');
    priv.stop();
    const none = connectedPeer({ pex: true }, { ut_metadata: THEIR_META });
    none.push({ type: 'wire.extended', id: 1, payload: request(0) });
    expect(none.messages('extended').filter((m) => m.id !== 0)).toEqual([]);
    none.stop();
  });

  it('ignores data, rejects, unknown types and garbage from the peer (it is not asked here)', () => {
    const h = connectedPeer(PUBLIC, { ut_metadata: THEIR_META });
    const data = encodeUtMetadata({ type: 'data', piece: 2, totalSize: INFO.length, data: INFO.subarray(32768) });
    for (const payload of [
      data,
      encodeUtMetadata({ type: 'reject', piece: 0 }),
      ascii('d8:msg_typei9e5:piecei0ee'),
      ascii('not bencode'),
      ascii('d8:msg_typei0e5:piecei0ee trailing'),
    ])
      h.push({ type: 'wire.extended', id: 1, payload });
    expect(sentWithId(h, THEIR_META)).toEqual([]);
    expect(h.status()).toBe('active');
    expect(h.errors()).toEqual([]);
    h.stop();
  });

  it('a flood is bounded: data up to the allowance, then rejects, then the connection closes', () => {
    const h = connectedPeer(PUBLIC, { ut_metadata: THEIR_META });
    const allowance = metadataAllowance(INFO.length);
    expect(allowance).toBe(2 * 3 + 8);
    for (let i = 0; i < allowance + METADATA_REQUEST_SLACK; i++)
      h.push({ type: 'wire.extended', id: 1, payload: request(i % 3) });
    const types = sentWithId(h, THEIR_META).map((m) => decodeUtMetadata(m.payload).type);
    expect(types.filter((t) => t === 'data')).toHaveLength(allowance);
    expect(types.slice(allowance).every((t) => t === 'reject')).toBe(true);
    expect(types).toHaveLength(allowance + METADATA_REQUEST_SLACK);
    expect(h.status()).toBe('active');
    h.push({ type: 'wire.extended', id: 1, payload: request(0) });
    expect(h.status()).toBe('done');
    expect(h.reports('peer.closed')[0]).toMatchObject({
      reason: 'protocol-error',
      detail: expect.stringMatching(/ut_metadata requests/),
    });
    h.stop();
  });
});

describe('peer statechart: ut_pex', () => {
  const pexOf = (...hosts: string[]) =>
    encodeUtPex({
      added: hosts.map((host) => ({ host, port: 6881, family: 4 as const, flags: PexFlag.reachable })),
      dropped: [],
    });

  it('hands the added peers of a PEX message to the torrent, once a minute at most: the flood is ignored', () => {
    const h = connectedPeer(PUBLIC, { ut_pex: THEIR_PEX });
    h.push({ type: 'wire.extended', id: 2, payload: pexOf('10.1.0.1', '10.1.0.2') });
    expect(h.reports('peer.pexPeers')).toEqual([
      {
        type: 'peer.pexPeers',
        key: KEY,
        peers: [
          { host: '10.1.0.1', port: 6881, family: 4 },
          { host: '10.1.0.2', port: 6881, family: 4 },
        ],
      },
    ]);
    // A flood: a message a second for 50 s — none honoured.
    for (let i = 0; i < 50; i++) {
      h.advance(1000);
      h.push({ type: 'wire.extended', id: 2, payload: pexOf(`10.2.0.${i + 1}`) });
    }
    expect(h.reports('peer.pexPeers')).toHaveLength(1);
    h.advance(PEX_RECEIVE_INTERVAL_MS - 50_000);
    h.push({ type: 'wire.extended', id: 2, payload: pexOf('10.3.0.1') });
    expect(h.reports('peer.pexPeers').map((r) => r.peers.map((p) => p.host))).toEqual([
      ['10.1.0.1', '10.1.0.2'],
      ['10.3.0.1'],
    ]);
    expect(h.snapshot().context.extMessages).toMatchObject({ pexHonoured: 2, pexIgnored: 50 });
    h.stop();
  });

  it('ignores PEX for a private torrent, with PEX off, and malformed messages', () => {
    for (const torrent of [{ ...PUBLIC, private: true }, { metadata: INFO }]) {
      const h = connectedPeer(torrent, { ut_pex: THEIR_PEX });
      h.push({ type: 'wire.extended', id: 2, payload: pexOf('10.1.0.1') });
      expect(h.reports('peer.pexPeers')).toEqual([]);
      h.stop();
    }
    const h = connectedPeer(PUBLIC, { ut_pex: THEIR_PEX });
    h.push({ type: 'wire.extended', id: 2, payload: ascii('d5:added5:abcdee') });
    expect(h.reports('peer.pexPeers')).toEqual([]);
    // A malformed message does not use up the minute.
    h.push({ type: 'wire.extended', id: 2, payload: pexOf('10.1.0.1') });
    expect(h.reports('peer.pexPeers')).toHaveLength(1);
    expect(h.status()).toBe('active');
    h.stop();
  });

  it('sends the PEX message the torrent gives, at the id the peer gave; never to a peer without ut_pex', () => {
    const message = {
      added: [{ host: '10.9.0.1', port: 7000, family: 4 as const, flags: PexFlag.reachable }],
      dropped: [{ host: '10.9.0.2', port: 7001, family: 4 as const }],
    };
    const h = connectedPeer(PUBLIC, { ut_pex: THEIR_PEX });
    h.send({ type: 'peer.sendPex', message });
    const sent = sentWithId(h, THEIR_PEX);
    expect(sent).toHaveLength(1);
    expect(decodeUtPex(sent[0]!.payload)).toEqual({ ...message, skipped: 0 });
    h.stop();
    const without = connectedPeer(PUBLIC, { ut_metadata: THEIR_META });
    without.send({ type: 'peer.sendPex', message });
    expect(without.messages('extended').filter((m) => m.id !== 0)).toEqual([]);
    without.stop();
    const priv = connectedPeer({ ...PUBLIC, private: true }, { ut_pex: THEIR_PEX });
    priv.send({ type: 'peer.sendPex', message });
    expect(priv.messages('extended').filter((m) => m.id !== 0)).toEqual([]);
    priv.stop();
  });
});
