/**
 * The torrent statechart with BEP 9 `ut_metadata` serving and BEP 11 `ut_pex` wired through its real
 * peer actors (torrent-harness.ts scripts each peer's socket): what our extension handshake offers for
 * a public and a private torrent, metadata requests answered with our info dictionary's bytes, peers
 * learned from PEX going to the peer book and dialled, and the PEX messages we send once a minute.
 */
import { describe, expect, it } from 'vitest';
import { encodeExtensionHandshake, decodeExtensionHandshake } from '../../src/protocol/extension-handshake.js';
import { decodeUtMetadata, encodeUtMetadata } from '../../src/protocol/ut-metadata.js';
import { decodeUtPex, encodeUtPex, PexFlag, type UtPexDecoded } from '../../src/protocol/ut-pex.js';
import { PEX_INTERVAL_MS } from '../../src/machines/torrent/pex-state.js';
import { EXTENDED } from './peer-harness.js';
import type { startTorrent } from './torrent-harness.js';
import { type TorrentHarness, trackedStart } from './torrent-harness.js';

const start = trackedStart();

/** A 20,000-byte info dictionary stand-in: 2 metadata pieces. */
const INFO = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 13 + 5) & 0xff);
const A = '10.0.0.1:6881';
const B = '10.0.0.2:6881';
/** Incoming peers (ephemeral source ports). */
const C = '10.0.0.3:50000';
const D = '10.0.0.4:50001';

type Peer = ReturnType<TorrentHarness['peer']>;

/** The peer's BEP 10 handshake. */
function extHandshake(p: Peer, m: Record<string, number>, port?: number) {
  p.push({
    type: 'wire.extended',
    id: 0,
    payload: encodeExtensionHandshake({ m, ...(port !== undefined && { port }) }),
  });
}

/** Our extended messages to `p` at the peer's id `id`. */
const sent = (p: Peer, id: number) => p.messages('extended').filter((m) => m.id === id);
/** Our PEX messages to `p` (its ut_pex id `id`), decoded, with their peers as `host:port` (sorted). */
function pexTo(p: Peer, id: number) {
  return sent(p, id).map((m) => {
    const d: UtPexDecoded = decodeUtPex(m.payload);
    return {
      added: d.added.map((a) => `${a.host}:${a.port}/${a.flags}`).sort(),
      dropped: d.dropped.map((a) => `${a.host}:${a.port}`).sort(),
    };
  });
}
const pex = (...keys: string[]) =>
  encodeUtPex({
    added: keys.map((k) => {
      const [host, port] = k.split(':');
      return { host: host!, port: Number(port), family: 4 as const, flags: 0 };
    }),
    dropped: [],
  });

describe('torrent statechart: our extension handshake', () => {
  it('public: ut_metadata with metadata_size and ut_pex; private: neither; PEX off: no ut_pex', () => {
    const offered = (o: Parameters<typeof startTorrent>[0]) => {
      const h = start({ peers: [A], ...o });
      const a = h.peer(A);
      a.connect(EXTENDED);
      const [hs] = a.messages('extended');
      expect(hs?.id).toBe(0);
      return decodeExtensionHandshake(hs!.payload);
    };
    expect(offered({ infoBytes: INFO })).toMatchObject({ m: { ut_metadata: 1, ut_pex: 2 }, metadataSize: INFO.length });
    const priv = offered({ infoBytes: INFO, private: true });
    expect(priv.m).toEqual({});
    expect(priv.metadataSize).toBeUndefined();
    expect(offered({ infoBytes: INFO, settings: { pex: false } }).m).toEqual({ ut_metadata: 1 });
    // Without the info dictionary there is nothing to serve.
    expect(offered({}).m).toEqual({ ut_pex: 2 });
    // Our listen port, when the torrent is given it.
    expect(offered({ listenPort: 6000 }).port).toBe(6000);
    expect(offered({}).port).toBeUndefined();
  });
});

describe('torrent statechart: serving ut_metadata', () => {
  it("answers a peer's request with the bytes of our info dictionary, or a reject out of range", () => {
    const h = start({ peers: [A], infoBytes: INFO });
    const a = h.peer(A);
    a.connect(EXTENDED);
    extHandshake(a, { ut_metadata: 4 });
    a.push({ type: 'wire.extended', id: 1, payload: encodeUtMetadata({ type: 'request', piece: 1 }) });
    a.push({ type: 'wire.extended', id: 1, payload: encodeUtMetadata({ type: 'request', piece: 2 }) });
    const [data, reject] = sent(a, 4).map((m) => decodeUtMetadata(m.payload));
    expect(data).toMatchObject({ type: 'data', piece: 1, totalSize: INFO.length });
    expect(data?.type === 'data' && Buffer.from(data.data).equals(INFO.subarray(16384))).toBe(true);
    expect(reject).toEqual({ type: 'reject', piece: 2 });
  });

  it('a private torrent answers no metadata request', () => {
    const h = start({ peers: [A], infoBytes: INFO, private: true });
    const a = h.peer(A);
    a.connect(EXTENDED);
    extHandshake(a, { ut_metadata: 4 });
    a.push({ type: 'wire.extended', id: 1, payload: encodeUtMetadata({ type: 'request', piece: 0 }) });
    expect(sent(a, 4)).toEqual([]);
    expect(a.connected()).toBeDefined();
  });
});

describe('torrent statechart: receiving ut_pex', () => {
  it('peers a PEX message adds go to the peer book and are dialled; a second within the minute is ignored', () => {
    const h = start({ peers: [A] });
    const a = h.peer(A);
    a.connect(EXTENDED);
    extHandshake(a, { ut_pex: 9 });
    a.push({ type: 'wire.extended', id: 2, payload: pex('10.5.0.1:6881', '10.5.0.2:6882') });
    expect(h.book().get('10.5.0.1:6881')).toBeDefined();
    expect(h.book().get('10.5.0.2:6882')).toBeDefined();
    expect(h.wires.has('10.5.0.1:6881')).toBe(true);
    expect(h.wires.has('10.5.0.2:6882')).toBe(true);
    // A flood within the minute: ignored.
    h.advance(10_000);
    a.push({ type: 'wire.extended', id: 2, payload: pex('10.5.0.3:6881') });
    expect(h.book().get('10.5.0.3:6881')).toBeUndefined();
    // A minute after the first: honoured.
    h.advance(PEX_INTERVAL_MS - 10_000);
    a.push({ type: 'wire.extended', id: 2, payload: pex('10.5.0.4:6881') });
    expect(h.book().get('10.5.0.4:6881')).toBeDefined();
    expect(h.wires.has('10.5.0.4:6881')).toBe(true);
  });

  it('an address a connected incoming peer listens on (its `p`) is not dialled until that connection ends', () => {
    // Several connections per IP allowed (as on loopback): the one-per-IP rule does not hide the duplicate.
    const h = start({ peers: [A], settings: { multipleConnectionsPerIp: true } });
    const a = h.peer(A);
    a.connect(EXTENDED);
    extHandshake(a, { ut_pex: 9 });
    // C dials us and tells us it listens on 6881: the same peer as 10.0.0.3:6881.
    h.incoming(C);
    const c = h.peer(C);
    c.connect(EXTENDED, 0x71);
    extHandshake(c, { ut_pex: 3 }, 6881);
    // A names C's listen address (it learnt it as we did): no second connection to C.
    a.push({ type: 'wire.extended', id: 2, payload: pex('10.0.0.3:6881', '10.5.0.1:6881') });
    expect(h.book().get('10.0.0.3:6881')).toBeDefined();
    expect(h.wires.has('10.5.0.1:6881')).toBe(true);
    expect(h.wires.has('10.0.0.3:6881')).toBe(false);
    h.advance(60_000);
    expect(h.wires.has('10.0.0.3:6881')).toBe(false);
    // C's connection ends: its listen address is a candidate like any other.
    c.push({ type: 'wire.closed' });
    h.advance(2_000);
    expect(h.wires.has('10.0.0.3:6881')).toBe(true);
  });

  it('a private torrent learns nothing from PEX (and PEX off: nothing either)', () => {
    for (const o of [{ private: true }, { settings: { pex: false } }]) {
      const h = start({ peers: [A], infoBytes: INFO, ...o });
      const a = h.peer(A);
      a.connect(EXTENDED);
      extHandshake(a, { ut_pex: 9 });
      a.push({ type: 'wire.extended', id: 2, payload: pex('10.5.0.1:6881') });
      expect(h.book().get('10.5.0.1:6881')).toBeUndefined();
      expect(h.book().size).toBe(1);
    }
  });
});

describe('torrent statechart: sending ut_pex', () => {
  it('tells each PEX peer our other connections (listen addresses), then once a minute what changed', () => {
    const h = start({ peers: [A, B], infoBytes: INFO });
    const a = h.peer(A);
    a.connect(EXTENDED, 0x71);
    extHandshake(a, { ut_pex: 9 });
    const b = h.peer(B);
    b.connect(EXTENDED, 0x72);
    extHandshake(b, { ut_metadata: 3 }); // takes no PEX
    h.incoming(C);
    const c = h.peer(C);
    c.connect(EXTENDED, 0x73);
    extHandshake(c, { ut_pex: 5 }, 7000); // listens on 7000
    h.incoming(D);
    const d = h.peer(D);
    d.connect(EXTENDED, 0x74);
    extHandshake(d, { ut_pex: 5 }); // no listen port: never named

    expect(pexTo(a, 9)).toEqual([]);
    h.advance(1000); // the next tick
    const r = PexFlag.reachable;
    expect(pexTo(a, 9)).toEqual([{ added: [`10.0.0.2:6881/${r}`, '10.0.0.3:7000/0'], dropped: [] }]);
    expect(pexTo(c, 5)).toEqual([{ added: [`10.0.0.1:6881/${r}`, `10.0.0.2:6881/${r}`], dropped: [] }]);
    expect(pexTo(d, 5)).toEqual([
      { added: [`10.0.0.1:6881/${r}`, `10.0.0.2:6881/${r}`, '10.0.0.3:7000/0'], dropped: [] },
    ]);
    expect(b.messages('extended').filter((m) => m.id !== 0)).toEqual([]);

    // B goes: nothing is said before the minute is up, then its drop.
    b.push({ type: 'wire.closed' });
    h.advance(PEX_INTERVAL_MS - 2000);
    expect(pexTo(a, 9)).toHaveLength(1);
    h.advance(2000);
    expect(pexTo(a, 9)).toEqual([
      { added: [`10.0.0.2:6881/${r}`, '10.0.0.3:7000/0'], dropped: [] },
      { added: [], dropped: ['10.0.0.2:6881'] },
    ]);
    expect(pexTo(c, 5).at(-1)).toEqual({ added: [], dropped: ['10.0.0.2:6881'] });
    // Nothing changed since: no more messages, however long (the peers keep their connections alive).
    for (let i = 0; i < 6; i++) {
      for (const p of [a, c, d]) p.push({ type: 'wire.keep-alive' });
      h.advance(PEX_INTERVAL_MS / 2, 5000);
    }
    expect(a.connected()).toBeDefined();
    expect(pexTo(a, 9)).toHaveLength(2);
    expect(pexTo(c, 5)).toHaveLength(2);
  });

  it('a newcomer hears of the others at once; a peer that was alone hears of it at its next minute', () => {
    // As libtorrent: each connection has its own minute, and a round with nothing to say counts. Were
    // both told at the same tick, both would dial each other at once (libtorrent then drops both).
    const h = start({ peers: [A], infoBytes: INFO });
    const a = h.peer(A);
    a.connect(EXTENDED, 0x71);
    extHandshake(a, { ut_pex: 9 });
    h.advance(1000); // A's first round: nobody else to name
    expect(pexTo(a, 9)).toEqual([]);
    h.incoming(C);
    const c = h.peer(C);
    c.connect(EXTENDED, 0x73);
    extHandshake(c, { ut_pex: 5 }, 7000);
    h.advance(1000);
    const r = PexFlag.reachable;
    expect(pexTo(c, 5)).toEqual([{ added: [`10.0.0.1:6881/${r}`], dropped: [] }]);
    expect(pexTo(a, 9)).toEqual([]);
    for (const p of [a, c]) p.push({ type: 'wire.keep-alive' });
    h.advance(PEX_INTERVAL_MS - 3000);
    expect(pexTo(a, 9)).toEqual([]);
    h.advance(2000);
    expect(pexTo(a, 9)).toEqual([{ added: ['10.0.0.3:7000/0'], dropped: [] }]);
    expect(pexTo(c, 5)).toHaveLength(1);
  });

  it('a private torrent sends no PEX', () => {
    const h = start({ peers: [A, B], infoBytes: INFO, private: true });
    const a = h.peer(A);
    a.connect(EXTENDED, 0x71);
    extHandshake(a, { ut_pex: 9 });
    const b = h.peer(B);
    b.connect(EXTENDED, 0x72);
    extHandshake(b, { ut_pex: 9 });
    h.advance(2 * PEX_INTERVAL_MS, 5000);
    expect(sent(a, 9)).toEqual([]);
    expect(sent(b, 9)).toEqual([]);
    expect(h.context().peers[A]!.pex).toBeUndefined();
  });
});

describe('torrent statechart: BEP 5 port messages', () => {
  const DHT = Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 0x01]);
  it("a peer's port message is reported as a DHT node at its IP; our port is told to DHT peers", () => {
    const h = start({ peers: [A], infoBytes: INFO, dhtPort: 7000 });
    const a = h.peer(A);
    a.connect(DHT, 0x71);
    expect(a.messages('port')).toEqual([{ type: 'port', port: 7000 }]);
    a.push({ type: 'wire.port', port: 6882 });
    expect(h.events.filter((e) => e.type === 'torrent.dhtNode')).toEqual([
      { type: 'torrent.dhtNode', host: '10.0.0.1', port: 6882 },
    ]);
  });

  it('a private torrent (BEP 27) says nothing of a DHT and ignores port messages', () => {
    const h = start({ peers: [A], infoBytes: INFO, dhtPort: 7000, private: true });
    const a = h.peer(A);
    a.connect(DHT, 0x71);
    expect(a.messages('port')).toEqual([]);
    a.push({ type: 'wire.port', port: 6882 });
    expect(h.events.filter((e) => e.type === 'torrent.dhtNode')).toEqual([]);
  });
});
