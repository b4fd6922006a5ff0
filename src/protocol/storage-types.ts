/**
 * What the torrent statechart and the storage actor (src/io/storage-actor.ts) say to each other. Both
 * layers import these shapes from here, the lowest layer, so neither imports the other.
 */
import type { Metainfo } from './metainfo.js';

/** Events from the storage actor to the torrent actor. */
export type StorageEvent =
  | { type: 'storage.checkProgress'; checked: number; total: number; valid: number }
  | { type: 'storage.ready'; have: Uint8Array }
  /**
   * `blockHashes`: a hash of each 16 KiB block, when the write asked for them — SHA-1 for a v1 torrent,
   * the SHA-256 merkle leaf for a v2 or hybrid one (`blockHashesOf` of piece-verify.ts).
   */
  | { type: 'storage.verified'; index: number; blockHashes?: Uint8Array[] }
  /**
   * `blockHashes`: a hash of each 16 KiB block of the bad copy, as for `storage.verified` (v2, hybrid:
   * SHA-256 leaves, which BEP 52 `hashes` of layer 0 prove); who sent which is the torrent's record.
   */
  | { type: 'storage.hashFailed'; index: number; blockHashes: Uint8Array[] }
  /** A write failed for want of space (ENOSPC, EDQUOT): writes are retried until there is room. */
  | { type: 'storage.diskFull'; message: string }
  /** A write went through again after `storage.diskFull`. */
  | { type: 'storage.diskOk' }
  /**
   * The storage was given no metainfo (a torrent added by magnet link): nothing to check until the info
   * dictionary is fetched and sent as `storage.open`. Sent once, at start.
   */
  | { type: 'storage.needMetadata' }
  /**
   * BEP 52: after `storage.layer`, the pieces of that file not verified before were read from disk and
   * checked against the new layer: `have` lists those found good (now verified, no download needed).
   */
  | { type: 'storage.layerChecked'; file: number; have: number[] }
  | { type: 'storage.closed' }
  | { type: 'storage.error'; code: string; message: string };

/** Commands from the torrent actor to the storage actor. */
export type StorageCommand =
  /** Verify piece `index` and write it if good; `blockHashes`: report its block hashes too (smart ban). */
  | { type: 'storage.write'; index: number; data: Uint8Array; blockHashes?: boolean }
  /**
   * A torrent added by magnet link has its info dictionary now (BEP 9): save `torrent` (a .torrent file
   * of it) beside the resume data, then open and check the files as for a torrent added from a file.
   */
  | { type: 'storage.open'; meta: Metainfo; torrent: Uint8Array }
  /**
   * The files (indexes of `meta.files`) not selected now: not created; their bytes in pieces shared with
   * selected files kept in the part file. A file selected again gets those bytes moved into it.
   */
  | { type: 'storage.select'; skippedFiles: number[] }
  /**
   * BEP 52: the piece layer of file `file` (index of `meta.files`), fetched from peers and proven against
   * its `pieces root`: the file's pieces are verified against it from now on, and those already on disk
   * are checked at once (answered with `storage.layerChecked`).
   */
  | { type: 'storage.layer'; file: number; layer: Uint8Array }
  | { type: 'storage.close' };
