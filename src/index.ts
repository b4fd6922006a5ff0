/**
 * bt-actor's library entry point: the pure codecs, the torrent creator, and the torrent actor
 * (an XState actor of the torrent statechart wired to real sockets, disk and trackers).
 */
export { BtError, isBtError } from './protocol/errors.js';
export {
  BencodeError,
  decodeBencode,
  encodeBencode,
  scanBencode,
  type BencodeDict,
  type BencodeValue,
} from './protocol/bencode.js';
export {
  MetainfoError,
  parseMetainfo,
  parseTorrent,
  pieceHash,
  pieceSize,
  toHex,
  type Metainfo,
  type MetainfoKind,
  type ParseOptions,
  type PathChange,
  type PathRules,
  type TorrentFile,
} from './protocol/metainfo.js';
export { autoPieceLength, encodeTorrent, type TorrentSpec, type TorrentSpecFile } from './protocol/metainfo-encode.js';
export {
  blockHashes,
  blockProof,
  fileRoot,
  merkleRoot,
  pieceLayer,
  rootFromPieceLayer,
  sha256,
  verifyBlock,
} from './protocol/merkle.js';
export {
  filesMissingPieceLayers,
  pieceVerifier,
  missingLayersNote,
  verifyScheme,
  type PieceVerify,
  type VerifyScheme,
} from './protocol/piece-verify.js';
export { createTorrent, CreateTorrentError, type CreateTorrentOptions } from './io/create-torrent.js';
export {
  attachListener,
  createTorrentActor,
  type ConnectedPeer,
  type TorrentActor,
  type TorrentActorOptions,
} from './app/torrent-actor.js';
export { PeerListener } from './io/listener.js';
export { createAnnouncer } from './app/trackers.js';
export { announcerPeers } from './app/announcer-peers.js';
export { TrackerClient, TrackerTransportError } from './io/tracker-client.js';
export { Bitfield } from './protocol/bitfield.js';
export { decodeMessage, encodeMessage, WireError, type WireEvent, type WireMessage } from './protocol/wire.js';
export { WireFramer, type FrameWireOptions } from './protocol/wire-framing.js';
export { frameWire } from './protocol/wire-framing-rx.js';
export type { PeerAddress } from './protocol/peer-address.js';
export {
  MagnetError,
  formatMagnet,
  parseMagnet,
  type MagnetErrorCode,
  type MagnetIgnored,
  type MagnetLink,
  type MagnetLinkInput,
  type MagnetPeer,
} from './protocol/magnet.js';
export {
  Engine,
  EngineError,
  type AddOptions,
  type EngineErrorCode,
  type EngineEvent,
  type EngineOptions,
  type EngineSettings,
  type EngineSettingsChange,
  type PeerInput,
  type RemoveOptions,
  type RateLimits,
  type TorrentFileHandle,
  type TorrentHandle,
  type TorrentOutcome,
} from './app/engine.js';
export type { FilePriority } from './machines/torrent/file-priority.js';
export type { EncryptionPolicy } from './protocol/mse.js';
export type { PeerEncryption } from './protocol/peer-wire-types.js';
export { ListenError } from './io/listener.js';
export { DEFAULT_ENGINE_MAX_CONNECTIONS } from './app/engine.js';
export { LockError } from './io/lock.js';
export { StorageError } from './io/storage-error.js';
export type { TorrentProgress, TorrentReport } from './machines/torrent/torrent.machine.js';
export { startLocalTracker, type LocalTracker } from './io/local-tracker.js';
export {
  DEFAULT_HIGH_RATE_EVENTS,
  DEFAULT_INSPECT_PORT,
  InspectCollector,
  parseEventFilter,
  peerClient,
  startInspection,
  type Inspection,
  type InspectionOptions,
  type InspectMode,
} from './app/inspect/index.js';
export { DhtNode, type DhtNodeOptions, type DhtOptions } from './app/dht-node.js';
export { DEFAULT_DHT_BOOTSTRAP } from './io/dht-socket.js';
export type { DhtReport, DhtSettings, DhtStats } from './machines/dht/dht.machine.js';
export { decodeKrpc, encodeKrpc, KrpcError, type KrpcMessage } from './protocol/krpc.js';
