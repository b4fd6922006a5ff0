/**
 * bt-actor's library entry point. The engine API arrives with the engine; today the package
 * exports its pure codecs and the torrent creator.
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
  type TorrentFile,
} from './protocol/metainfo.js';
export { autoPieceLength, encodeTorrent, type TorrentSpec } from './protocol/metainfo-encode.js';
export { createTorrent, CreateTorrentError, type CreateTorrentOptions } from './io/create-torrent.js';
