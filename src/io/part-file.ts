/**
 * The part file of a torrent with unselected files (as libtorrent's `.parts`): the bytes of pieces that
 * straddle a selected and an unselected file, for the unselected side, kept out of the download folder's
 * files in `<resume dir>/<info hash>.parts`. It is laid out as the torrent's data (a byte at torrent
 * offset X is at offset X of the part file) and written sparsely, so it takes only the room of the bytes
 * written. Created on the first write, read when those pieces are served or checked. See docs/storage.md.
 */
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StorageError } from './storage-error.js';

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

export class PartFile {
  private handle: Promise<FileHandle | undefined> | undefined;
  private dirty = false;
  private closed = false;

  constructor(readonly path: string) {}

  /** Writes `length` bytes of `data` from `at` at torrent offset `offset`. */
  async write(data: Uint8Array, at: number, length: number, offset: number): Promise<void> {
    const fh = await this.open(true);
    let done = 0;
    while (done < length) {
      const { bytesWritten } = await fh!
        .write(data, at + done, length - done, offset + done)
        .catch(this.ioError('write'));
      if (bytesWritten <= 0)
        throw new StorageError('BT_ERR_STORAGE_IO', `write to '${this.path}' made no progress`, this.path);
      done += bytesWritten;
    }
    this.dirty = true;
  }

  /** Reads up to `length` bytes at torrent offset `offset` into `buf` at `at`; resolves to the bytes read (0: no part file). */
  async read(buf: Uint8Array, at: number, length: number, offset: number): Promise<number> {
    const fh = await this.open(false);
    if (!fh) return 0;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, at + done, length - done, offset + done).catch(this.ioError('read'));
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }

  /** Makes what was written durable (before a resume file may claim it). */
  async sync(): Promise<void> {
    if (!this.dirty) return;
    this.dirty = false;
    const fh = await this.open(false);
    await fh?.datasync().catch(this.ioError('sync'));
  }

  async close(): Promise<void> {
    this.closed = true;
    const fh = await this.handle?.catch(() => undefined);
    this.handle = undefined;
    await fh?.close().catch(() => undefined);
  }

  /** The handle; `create`: made (with its folder) when missing, else undefined when there is no part file yet. */
  private async open(create: boolean): Promise<FileHandle | undefined> {
    if (this.closed) throw new StorageError('BT_ERR_STORAGE_CLOSED', 'the storage is closed');
    if (this.handle) {
      const fh = await this.handle;
      if (fh || !create) return fh;
    }
    this.handle = (async () => {
      try {
        return await open(this.path, constants.O_RDWR | O_NOFOLLOW);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || !create) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw this.ioError('open')(err);
        }
      }
      await mkdir(dirname(this.path), { recursive: true }).catch(this.ioError('create folder'));
      return open(this.path, constants.O_RDWR | constants.O_CREAT | O_NOFOLLOW, 0o666).catch(this.ioError('create'));
    })();
    return this.handle;
  }

  private ioError(what: string) {
    return (err: unknown): never => {
      const e = err as NodeJS.ErrnoException;
      throw new StorageError(
        'BT_ERR_STORAGE_IO',
        `cannot ${what} part file '${this.path}': ${e.message ?? String(err)}`,
        this.path,
        err,
      );
    };
  }
}
