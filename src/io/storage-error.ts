/**
 * The typed error of the storage layer (src/io/storage.ts, src/io/piece-map.ts, src/io/file-pool.ts).
 */
import { BtError } from '../protocol/errors.js';

export type StorageErrorCode =
  /** A file's path would leave the download folder, or the folder holds something we refuse to follow. */
  | 'BT_ERR_STORAGE_PATH'
  /** The file system failed, or data we should have is missing or short. */
  | 'BT_ERR_STORAGE_IO'
  /** A piece index, offset or length outside the torrent (or a block longer than the cap). */
  | 'BT_ERR_STORAGE_RANGE'
  /** The metainfo's file list is inconsistent (offsets, lengths, piece count). */
  | 'BT_ERR_STORAGE_LAYOUT'
  /** The storage (or its file pool) was closed. */
  | 'BT_ERR_STORAGE_CLOSED'
  /** A write on a storage opened with `readOnly: true`. */
  | 'BT_ERR_STORAGE_READ_ONLY';

/**
 * A storage failure with a stable `code`. `path` names the file at fault when there is one; `cause`
 * holds the underlying Node error (with its `code`, e.g. `ENOSPC`) for I/O failures.
 *
 * @example
 * try { await storage.readBlock(i, begin, length); }
 * catch (err) { if (isBtError(err, 'BT_ERR_STORAGE_RANGE')) dropPeer(); else throw err; }
 */
export class StorageError extends BtError {
  override readonly name = 'StorageError';
  constructor(
    override readonly code: StorageErrorCode,
    message: string,
    readonly path?: string,
    cause?: unknown,
  ) {
    super(code, message);
    if (cause !== undefined) this.cause = cause;
  }
}
