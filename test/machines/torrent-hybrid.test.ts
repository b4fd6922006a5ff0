/**
 * BEP 52 hybrid torrents under both hashes, in the torrent statechart (real peer and metadata peer
 * actors, scripted sockets: torrent-harness.ts): a hybrid magnet link (`urn:btih:` + `urn:btmh:`) is
 * reached by either hash from the start and its fetched info dictionary must hash to both; an address
 * only the v2 lookup named (`viaV2`) is dialled with the truncated v2 hash, the others with the v1 hash.
 */
import { describe, expect, it } from 'vitest';
import { encodeExtensionHandshake } from '../../src/protocol/extension-handshake.js';
import { sha256 } from '../../src/protocol/merkle.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import type { PeerAddress } from '../../src/protocol/peer-address.js';
import { encodeUtMetadata, metadataPiece, metadataPieceCount } from '../../src/protocol/ut-metadata.js';
import { pattern, v2Torrent } from '../support/v2-torrent.js';
import { EXTENDED, NO_EXT } from './peer-harness.js';
import { address, type TorrentHarness, trackedStart } from './torrent-harness.js';

const start = trackedStart();

const HYBRID = parseMetainfo(
  v2Torrent([{ path: ['a.bin'], data: pattern(50_000, 7) }], { version: 'hybrid', pieceLength: 32_768 }),
);
const INFO = HYBRID.infoBytes;
const V1 = HYBRID.infoHash;
const V2 = HYBRID.infoHashV2!;
const V2_20 = V2.slice(0, 20);
const A = '10.0.0.1:6881';
const B = '10.0.0.2:6881';
const C = '10.0.0.3:6881';
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);
const viaV2 = (key: string): PeerAddress => ({ ...address(key), viaV2: true });

type Peer = ReturnType<TorrentHarness['peer']>;
/** The info hash our handshake to `key` named (its wire's input). */
const dialledWith = (h: TorrentHarness, key: string) => hex(h.wires.get(key)!.input.handshake.infoHash);

/** Connected with BEP 10 naming `hash`, advertising ut_metadata (id 3) and the dictionary's size. */
function ready(p: Peer, hash: Uint8Array, id: number) {
  p.connect(EXTENDED, id, hash);
  p.push({
    type: 'wire.extended',
    id: 0,
    payload: encodeExtensionHandshake({ m: { ut_metadata: 3 }, metadataSize: INFO.length }),
  });
}
function giveAll(p: Peer) {
  for (let piece = 0; piece < metadataPieceCount(INFO.length); piece++)
    p.push({
      type: 'wire.extended',
      id: 1,
      payload: encodeUtMetadata({ type: 'data', piece, totalSize: INFO.length, data: metadataPiece(INFO, piece) }),
    });
}

describe('a hybrid magnet link (urn:btih: and urn:btmh:)', () => {
  it('an incoming peer naming the truncated v2 hash is answered with it; the dictionary hashing to both is taken', () => {
    expect(HYBRID.kind).toBe('hybrid');
    const h = start({ magnet: INFO, magnetV2: V2 });
    expect(h.value()).toEqual({ metadata: 'fetching' });
    h.incoming(A);
    const a = h.peer(A);
    ready(a, V2_20, 0x61);
    expect(a.wire().commands[0]).toEqual({ type: 'wire.sendHandshake', infoHash: V2_20 });
    expect(h.context().progress.metadata).toEqual({ peers: 1, ready: 1 });
    // One naming another hash is closed.
    h.incoming(B);
    const b = h.peer(B);
    b.connect(EXTENDED, 0x62, V2.slice(12, 32));
    expect(b.wire().commands).toEqual([{ type: 'wire.close' }]);
    giveAll(a);
    expect(h.value()).toBe('checking');
    // The torrent now knows both hashes as a hybrid .torrent's does.
    expect(hex(h.context().info.hybridV2Hash)).toBe(hex(V2_20));
    expect(hex(h.context().info.infoHash)).toBe(hex(V1));
    expect(h.storage.opened).toHaveLength(1);
  });

  it("a dictionary whose SHA-256 is not the link's v2 hash is refused: the link's halves disagree", () => {
    const other = sha256(new Uint8Array([1, 2, 3]));
    const h = start({ magnet: INFO, magnetV2: other, peers: [A] });
    const a = h.peer(A);
    ready(a, V1, 0x61);
    giveAll(a);
    expect(h.value()).toBe('error');
    expect(h.context().error?.code).toBe('BT_ERR_MAGNET_HYBRID_MISMATCH');
    expect(h.context().error?.message).toContain(hex(other));
    expect(h.context().error?.message).toContain(hex(sha256(INFO)));
    expect(h.storage.opened).toEqual([]);
  });

  it('a peer only the v2 lookup named is dialled with the v2 hash (and again so once the metadata is in)', () => {
    const h = start({ magnet: INFO, magnetV2: V2 });
    h.actor.send({ type: 'torrent.addPeers', peers: [address(A), viaV2(B)] });
    expect(dialledWith(h, A)).toBe(hex(V1));
    expect(dialledWith(h, B)).toBe(hex(V2_20));
    // The peer entries keep plain addresses.
    expect(h.context().metadata!.peers[B]!.address).toEqual(address(B));
    const b = h.peer(B);
    ready(b, V2_20, 0x62);
    giveAll(b);
    expect(h.value()).toBe('checking');
    h.ready();
    expect(h.value()).toEqual({ active: 'downloading' });
    // The full peers dial the same addresses with the same hashes.
    const live = (key: string) => h.allWires.filter((w) => w.key === key && !w.stopped);
    expect(live(B).map((w) => hex(w.input.handshake.infoHash))).toEqual([hex(V2_20)]);
    expect(live(A).map((w) => hex(w.input.handshake.infoHash))).toEqual([hex(V1)]);
  });
});

describe('dialling a hybrid torrent (BEP 52)', () => {
  it('an address only the v2 lookup named is dialled with the truncated v2 hash; one named by v1 too with v1', () => {
    const h = start({ hybridV2Hash: V2_20 });
    // C: first from the v2 lookup, then from the v1 one (or PEX, --peer): a v1 dial.
    h.actor.send({ type: 'torrent.addPeers', peers: [address(A), viaV2(B), viaV2(C)] });
    expect(dialledWith(h, A)).toBe(hex(h.info.infoHash));
    expect(dialledWith(h, B)).toBe(hex(V2_20));
    expect(dialledWith(h, C)).toBe(hex(V2_20));
    // B answers with the v2 hash: connected, as a peer of the torrent.
    const b = h.peer(B);
    b.connect(NO_EXT, 0x62, V2_20);
    expect(h.context().peers[B]?.peerId).toBe('62'.repeat(20));
    expect(h.context().peers[B]!.address).toEqual(address(B));
    // C answers with the v1 hash (it knows both): taken too.
    const c = h.peer(C);
    c.connect(NO_EXT, 0x63, h.info.infoHash);
    expect(h.context().peers[C]?.peerId).toBe('63'.repeat(20));
    expect(h.context().svc.book.get(B)!.v2Only).toBe(true);
    h.actor.send({ type: 'torrent.addPeers', peers: [address(B)] });
    expect(h.context().svc.book.get(B)!.v2Only).toBe(false);
  });

  it('a v1 torrent ignores the mark: every dial names its one hash', () => {
    const h = start();
    h.actor.send({ type: 'torrent.addPeers', peers: [viaV2(A)] });
    expect(dialledWith(h, A)).toBe(hex(h.info.infoHash));
  });
});
