/**
 * The torrent statechart's `metadata` state (a torrent added from a magnet link), with its real metadata
 * peer actors and assembler, each peer's socket scripted by torrent-harness.ts: the info dictionary is
 * fetched over BEP 9 from the peers that advertise `metadata_size`, several at once; a wrong assembly
 * strikes its senders and is fetched again; a request that times out goes to another peer; once the
 * dictionary hashes right the torrent opens its storage with it and checks.
 */
import { describe, expect, it } from 'vitest';
import { encodeBencode } from '../../src/protocol/bencode.js';
import { decodeExtensionHandshake, encodeExtensionHandshake } from '../../src/protocol/extension-handshake.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { sha1 } from '../../src/protocol/sha1.js';
import {
  decodeUtMetadata,
  encodeUtMetadata,
  metadataPiece,
  metadataPieceCount,
} from '../../src/protocol/ut-metadata.js';
import { METADATA_REQUEST_TIMEOUT_MS } from '../../src/machines/torrent/metadata-assembler.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { EXTENDED, FAST, NO_EXT } from './peer-harness.js';
import { address, T_PIECE, type TorrentHarness, trackedStart } from './torrent-harness.js';
import { ok } from './tracker-harness.js';

const flush = () => new Promise((r) => setTimeout(r, 0));

const start = trackedStart();

/** An info dictionary of the harness's torrent (4 pieces of 32 KiB), padded to two metadata pieces. */
function infoDict(o: { private?: boolean; name?: string } = {}) {
  return encodeBencode({
    length: 4 * T_PIECE,
    name: o.name ?? 'fetched',
    'piece length': T_PIECE,
    pieces: new Uint8Array(4 * 20).fill(7),
    ...(o.private && { private: 1 }),
    'x-pad': new Uint8Array(20_000).fill(0x61),
  });
}
const INFO = infoDict();
const A = '10.0.0.1:6881';
const B = '10.0.0.2:6881';
const C = '10.0.0.3:6881';
/** The peers' message id for ut_metadata (ours is 1). */
const THEIR_UT = 3;

type Peer = ReturnType<TorrentHarness['peer']>;

/** Connected with BEP 10, and its extension handshake advertising ut_metadata with `size` (if any). */
function ready(p: Peer, size: number | null = INFO.length, id = 0x70) {
  p.connect(EXTENDED, id);
  p.push({
    type: 'wire.extended',
    id: 0,
    payload: encodeExtensionHandshake({
      m: { ut_metadata: THEIR_UT },
      ...(size !== null && { metadataSize: size }),
    }),
  });
}
/** The metadata pieces we asked `p` for, in order. */
function asked(p: Peer): number[] {
  return p
    .messages('extended')
    .filter((m) => m.id === THEIR_UT)
    .map((m) => decodeUtMetadata(m.payload, { metadataSize: INFO.length }))
    .filter((m) => m.type === 'request')
    .map((m) => m.piece);
}
/** `p` sends piece `piece` of `info` (of its size). */
function give(p: Peer, piece: number, info: Uint8Array = INFO) {
  p.push({
    type: 'wire.extended',
    id: 1,
    payload: encodeUtMetadata({ type: 'data', piece, totalSize: info.length, data: metadataPiece(info, piece) }),
  });
}
const reportsOf = <T extends TorrentReport['type']>(h: TorrentHarness, type: T) =>
  h.events.filter((e): e is Extract<TorrentReport, { type: T }> => e.type === type);

describe('torrent statechart: the metadata state (magnet link)', () => {
  it('asks two peers for different pieces at once, assembles them, and checks with the fetched torrent', () => {
    const h = start({ magnet: INFO, peers: [A, B], trackers: ['http://t.example/announce'] });
    expect(h.value()).toEqual({ metadata: 'fetching' });
    expect(metadataPieceCount(INFO.length)).toBe(2);
    const a = h.peer(A);
    const b = h.peer(B);
    ready(a, INFO.length, 0x70);
    // Our extension handshake offers ut_metadata without a size (we have none) and nothing else.
    const ours = decodeExtensionHandshake(a.messages('extended').find((m) => m.id === 0)!.payload);
    expect(ours.m).toEqual({ ut_metadata: 1 });
    expect(ours.metadataSize).toBeUndefined();
    ready(b, INFO.length, 0x71);
    expect(asked(a)).toEqual([0, 1]);
    expect(asked(b)).toEqual([]); // a took both pieces (two requests per peer)
    // a rejects piece 1: it goes to b.
    a.push({ type: 'wire.extended', id: 1, payload: encodeUtMetadata({ type: 'reject', piece: 1 }) });
    expect(asked(b)).toEqual([1]);
    give(a, 0);
    expect(h.value()).toEqual({ metadata: 'fetching' });
    expect(h.context().progress.metadata).toEqual({ peers: 2, ready: 2 });
    // Nothing reaches the storage before the dictionary hashed right; no piece talk on the wire.
    expect(h.storage.opened).toEqual([]);
    expect(h.storage.writes).toEqual([]);
    for (const p of [a, b]) expect(new Set(p.messages().map((m) => m.type))).toEqual(new Set(['extended']));
    give(b, 1);
    expect(h.value()).toBe('checking');
    // The storage opens with the fetched torrent: the info dictionary byte for byte, the link's trackers.
    const [open] = h.storage.opened;
    expect(Buffer.from(open!.meta.infoBytes).equals(Buffer.from(INFO))).toBe(true);
    const saved = parseMetainfo(open!.torrent);
    expect(saved.infoHashHex).toBe(h.info.infoHashHex);
    expect(saved.announce).toEqual([['http://t.example/announce']]);
    expect(h.context().info).toMatchObject({ name: 'fetched', pieceCount: 4, length: 4 * T_PIECE });
    expect(reportsOf(h, 'torrent.metadata')).toMatchObject([
      {
        type: 'torrent.metadata',
        name: 'fetched',
        length: 4 * T_PIECE,
        pieceLength: T_PIECE,
        pieces: 4,
        files: 1,
        private: false,
      },
    ]);
    // The metadata connections are gone; once checked, the same addresses are dialled by full peers.
    expect(h.wires.get(A)!.stopped).toBe(true);
    expect(h.context().metadata).toBeUndefined();
    h.ready();
    expect(h.value()).toEqual({ active: 'downloading' });
    // Dialled again as soon as the torrent is checked (the metadata connections were closed before the check).
    expect(h.allWires.filter((w) => w.key === A && !w.stopped)).toHaveLength(1);
    expect(Object.keys(h.context().peers).sort()).toEqual([A, B]);
  });

  it('a selection given before the metadata: the files past its end take otherFiles once the file list is known', () => {
    // Three files over the 4 pieces: a (piece 0), b (pieces 1–2), c (piece 3).
    const multi = encodeBencode({
      name: 'fetched',
      'piece length': T_PIECE,
      pieces: new Uint8Array(4 * 20).fill(7),
      files: [
        { length: T_PIECE, path: [new TextEncoder().encode('a')] },
        { length: 2 * T_PIECE, path: [new TextEncoder().encode('b')] },
        { length: T_PIECE, path: [new TextEncoder().encode('c')] },
      ],
    });
    const fetch = (o: { otherFiles?: 'skip' }) => {
      const h = start({ magnet: multi, peers: [A], filePriorities: ['normal'], ...o });
      const a = h.peer(A);
      ready(a, multi.length);
      for (let i = 0; i < metadataPieceCount(multi.length); i++) give(a, i, multi);
      expect(h.value()).toBe('checking');
      return h;
    };
    const skipping = fetch({ otherFiles: 'skip' });
    expect(skipping.context().selection.files).toEqual(['normal', 'skip', 'skip']);
    expect([...skipping.context().selection.pieces]).toEqual([2, 0, 0, 0]);
    expect(skipping.context().selection.wanted).toBe(T_PIECE);
    expect(skipping.context().progress.left).toBe(T_PIECE);
    // Without otherFiles the files not listed are normal, as ever.
    const plain = fetch({});
    expect([...plain.context().selection.pieces]).toEqual([2, 2, 2, 2]);
    expect(plain.context().progress.left).toBe(4 * T_PIECE);
  });

  it('never asks a peer without metadata_size or without BEP 10; closes one above the 16 MiB cap', () => {
    const h = start({ magnet: INFO, peers: [A, B, C] });
    const a = h.peer(A);
    ready(a, null); // ut_metadata, but no metadata_size: it does not have the metadata
    expect(asked(a)).toEqual([]);
    expect(h.wires.get(A)!.stopped).toBe(true);
    const b = h.peer(B);
    b.connect(FAST); // no extension protocol
    expect(b.messages('extended')).toEqual([]);
    expect(h.wires.get(B)!.stopped).toBe(true);
    const c = h.peer(C);
    ready(c, 16 * 1024 * 1024 + 1);
    expect(asked(c)).toEqual([]);
    expect(h.wires.get(C)!.stopped).toBe(true);
    const closed = reportsOf(h, 'torrent.peer').filter((e) => e.event === 'closed');
    expect(closed.map((e) => [e.key, e.reason])).toEqual([
      [A, 'not-useful'],
      [B, 'not-useful'],
      [C, 'not-useful'],
    ]);
    expect(closed[2]!.detail).toMatch(/over the cap/);
    expect(h.value()).toEqual({ metadata: 'fetching' });
  });

  it('a wrong assembly strikes its senders; fetched again from an honest peer; a liar twice is banned', () => {
    const h = start({ magnet: INFO, peers: [A, B] });
    const liar = h.peer(A);
    const honest = h.peer(B);
    ready(liar, INFO.length, 0x70);
    ready(honest, INFO.length, 0x71);
    expect(asked(liar)).toEqual([0, 1]);
    // The liar answers piece 0 with wrong bytes and rejects piece 1: the honest peer sends piece 1.
    const forged = Uint8Array.from(INFO);
    forged[100] ^= 0xff;
    give(liar, 0, forged);
    liar.push({ type: 'wire.extended', id: 1, payload: encodeUtMetadata({ type: 'reject', piece: 1 }) });
    expect(asked(honest)).toEqual([1]);
    give(honest, 1);
    // Both sent pieces of the bad assembly: both struck once, none banned yet.
    expect(reportsOf(h, 'torrent.metadataFailed')).toEqual([
      { type: 'torrent.metadataFailed', peers: [A, B], banned: [] },
    ]);
    expect(h.context().metadata!.strikes).toEqual({ [A]: 1, [B]: 1 });
    // Struck peers are asked one at a time, alone: the liar first, whose lie is now its own.
    expect(asked(liar)).toEqual([0, 1, 0, 1]);
    expect(asked(honest)).toEqual([1]);
    give(liar, 0, forged);
    give(liar, 1, forged);
    const failed = reportsOf(h, 'torrent.metadataFailed');
    expect(failed[1]).toMatchObject({ peers: [A], banned: [{ peer: A }] });
    expect(h.wires.get(A)!.stopped).toBe(true);
    expect(h.context().bans.map((b) => b.address)).toContain(A);
    // Then the honest one, alone: the right dictionary.
    expect(asked(honest)).toEqual([1, 0, 1]);
    give(honest, 0);
    give(honest, 1);
    expect(h.value()).toBe('checking');
  });

  it('a request that times out is asked of another peer', () => {
    const h = start({ magnet: INFO, peers: [A, B] });
    const slow = h.peer(A);
    const b = h.peer(B);
    ready(slow, INFO.length, 0x70);
    ready(b, INFO.length, 0x71);
    expect(asked(slow)).toEqual([0, 1]);
    h.advance(METADATA_REQUEST_TIMEOUT_MS + 1000);
    expect(asked(b)).toEqual([0, 1]);
    give(b, 0);
    give(b, 1);
    expect(h.value()).toBe('checking');
  });

  it('an info dictionary that hashes right but is not valid ends the torrent in error', () => {
    const bad = encodeBencode({ name: 'x', 'x-pad': new Uint8Array(100) }); // no pieces, no length
    const h = start({ magnet: bad, peers: [A] });
    const a = h.peer(A);
    ready(a, bad.length);
    give(a, 0, bad);
    expect(h.value()).toBe('error');
    expect(h.context().error?.code).toMatch(/^BT_ERR_METAINFO/);
  });

  it('takes incoming connections, peers from torrent.addPeers and trackers (told left 0); stops', async () => {
    const url = 'http://t.example/announce';
    const h = start({ magnet: INFO, trackers: [url] });
    h.incoming('10.0.0.9:50000');
    const inc = h.peer('10.0.0.9:50000');
    inc.connect(EXTENDED, 0x55);
    expect(inc.wire().commands[0]).toEqual({ type: 'wire.sendHandshake', infoHash: sha1(INFO) });
    // A second connection from the same address is refused.
    h.incoming('10.0.0.9:50000');
    expect(h.events.filter((e) => e.type === 'torrent.refused')).toHaveLength(1);
    h.addPeers(A);
    expect(h.wires.has(A)).toBe(true);
    // The tracker is asked with left = 0 (unknown); the peers it gives are dialled as metadata peers.
    await flush();
    const { calls } = h.trackers;
    expect(calls[0]!.input).toMatchObject({ url, event: 'started', stats: { left: 0 } });
    calls[0]!.resolve(ok({ interval: 60, peers: [address(B)] }));
    await flush();
    expect(h.events).toContainEqual({ type: 'announcer.peers', url, peers: [address(B)] });
    expect(h.events).toContainEqual({
      type: 'announcer.tracker',
      report: expect.objectContaining({ type: 'tracker.response', url }),
    });
    expect(h.context().metadata!.peers[B]).toBeDefined();
    h.stop();
    await flush();
    expect(calls.at(-1)!.input.event).toBe('stopped');
    calls.at(-1)!.resolve(ok());
    await flush();
    expect(h.value()).toBe('stopped');
  });

  it('a private torrent fetched by magnet: no PEX once known', () => {
    const priv = infoDict({ private: true });
    const h = start({ magnet: priv, peers: [A] });
    const a = h.peer(A);
    ready(a, priv.length);
    give(a, 0, priv);
    give(a, 1, priv);
    expect(h.context().info.private).toBe(true);
    h.ready();
    h.advance(1000);
    const full = h.peer(A);
    full.connect(EXTENDED);
    const hs = decodeExtensionHandshake(full.messages('extended').find((m) => m.id === 0)!.payload);
    expect(hs.m).toEqual({}); // BEP 27: neither ut_metadata nor ut_pex
  });

  it('ignores piece messages before the metadata; a malformed ut_metadata message closes the peer', () => {
    const h = start({ magnet: INFO, peers: [A] });
    const a = h.peer(A);
    a.connect(EXTENDED);
    a.push({ type: 'wire.bitfield', bytes: new Uint8Array(3) });
    a.push({ type: 'wire.have', index: 99 });
    expect(h.wires.get(A)!.stopped).toBe(false);
    a.push({
      type: 'wire.extended',
      id: 0,
      payload: encodeExtensionHandshake({ m: { ut_metadata: 3 }, metadataSize: INFO.length }),
    });
    a.push({ type: 'wire.have', index: 99 });
    // The peer asks us for metadata: rejected, we have none.
    a.push({ type: 'wire.extended', id: 1, payload: encodeUtMetadata({ type: 'request', piece: 0 }) });
    const last = a.messages('extended').at(-1)!;
    expect(decodeUtMetadata(last.payload)).toEqual({ type: 'reject', piece: 0 });
    a.push({ type: 'wire.extended', id: 1, payload: new Uint8Array([1, 2, 3]) });
    expect(h.wires.get(A)!.stopped).toBe(true);
    expect(reportsOf(h, 'torrent.peer').at(-1)).toMatchObject({ key: A, reason: 'protocol-error' });
    void NO_EXT;
  });

  it('a metadata peer ends on a socket error, a protocol error, timeouts, another torrent or ourselves', () => {
    const keys = ['10.0.1.1:1', '10.0.1.2:1', '10.0.1.3:1', '10.0.1.4:1', '10.0.1.5:1', '10.0.1.6:1', '10.0.1.7:1'];
    const h = start({ magnet: INFO, peers: keys });
    const [closedByPeer, badFrame, otherHash, self, noHandshake, noExtHandshake, neverConnects] = keys.map((k) =>
      h.peer(k),
    );
    closedByPeer!.push({ type: 'wire.closed', error: { code: 'ECONNRESET', message: 'reset' } });
    badFrame!.push({ type: 'wire.connected' });
    badFrame!.push({ type: 'wire.protocolError', code: 'BT_ERR_FRAME_TOO_LARGE', message: 'too large' });
    otherHash!.push({ type: 'wire.connected' });
    otherHash!.push({
      type: 'wire.handshake',
      handshake: { reserved: EXTENDED, infoHash: new Uint8Array(20).fill(9), peerId: new Uint8Array(20).fill(3) },
    });
    self!.push({ type: 'wire.connected' });
    self!.push({
      type: 'wire.handshake',
      handshake: { reserved: EXTENDED, infoHash: h.info.infoHash, peerId: new Uint8Array(20).fill(0x01) },
    });
    noHandshake!.push({ type: 'wire.connected' });
    noExtHandshake!.connect(EXTENDED, 0x66);
    void neverConnects;
    h.advance(12_000);
    const reasons = Object.fromEntries(
      reportsOf(h, 'torrent.peer')
        .filter((e) => e.event === 'closed')
        .map((e) => [e.key, `${e.reason}${e.detail ? ` (${e.detail})` : ''}`]),
    );
    expect(reasons).toEqual({
      [keys[0]!]: 'socket-error (ECONNRESET: reset)',
      [keys[1]!]: 'protocol-error (BT_ERR_FRAME_TOO_LARGE: too large)',
      [keys[2]!]: 'info-hash-mismatch',
      [keys[3]!]: 'self',
      [keys[4]!]: 'timeout (handshake)',
      [keys[5]!]: 'timeout (extension handshake)',
      [keys[6]!]: 'timeout (connect)',
    });
  });
});
