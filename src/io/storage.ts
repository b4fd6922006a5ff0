/**
 * Storage: a torrent's pieces on disk. Maps pieces onto files (src/io/piece-map.ts), writes verified
 * pieces with positional writes, reads blocks for upload, verifies pieces (SHA-1, or the SHA-256 merkle
 * hashes of BEP 52 for v2: src/protocol/piece-verify.ts) and checks data already on disk.
 * Files open lazily through a small LRU pool (src/io/file-pool.ts).
 *
 * Layout, as every client: a single-file torrent is `DIR/<name>`, a multi-file torrent lives under
 * `DIR/<name>/<path…>`. Nothing is ever created or opened outside `DIR`: every path is checked
 * lexically, and every existing component is checked on disk (a symlink that leads outside `DIR`, or a
 * dangling one, is refused) each time a file is opened. See docs/storage.md.
 */
import { realClock, realRandom, sleep } from './clock.js';
import { constants, type Stats } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, realpath, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Bitfield } from '../protocol/bitfield.js';
import type { Metainfo, TorrentFile } from '../protocol/metainfo.js';
import { type PieceVerify, pieceVerifier } from '../protocol/piece-verify.js';
import { FilePool, type FileMode } from './file-pool.js';
import { type FileSegment, checkPieceRange, mapPieceRange, pieceLengthAt, validateLayout } from './piece-map.js';
import { StorageError } from './storage-error.js';
import { equalHash, HASH_SIZE, rootFromPieceLayer, splitHashes } from '../protocol/merkle.js';
import { PartFile } from './part-file.js';

export { StorageError, type StorageErrorCode } from './storage-error.js';

/** Default cap on open file handles. */
export const DEFAULT_MAX_OPEN_FILES = 64;
/** Default cap on one `readBlock` (peers request 16 KiB; 128 KiB is what clients accept at most). */
export const DEFAULT_MAX_BLOCK_LENGTH = 128 * 1024;

export interface StorageOptions {
  /**
   * Files (indexes of `meta.files`) that are not selected: none of them is created. Their bytes in pieces
   * shared with selected files go to the part file (`partPath`), unless the file is on disk already.
   */
  skippedFiles?: readonly number[];
  /** The part file (`<resume dir>/<info hash>.parts`, see src/io/part-file.ts); required with `skippedFiles`. */
  partPath?: string;
  /** Never create or write anything (checking or seeding someone else's folder). Default false. */
  readOnly?: boolean;
  /** Most file handles open at once (default {@link DEFAULT_MAX_OPEN_FILES}). */
  maxOpenFiles?: number;
  /** Longest block `readBlock` serves (default {@link DEFAULT_MAX_BLOCK_LENGTH}). */
  maxBlockLength?: number;
}

export interface CheckProgress {
  /** Pieces checked so far. */
  checked: number;
  /** Pieces to check (all, or those of `only`). */
  total: number;
  /** Pieces found valid so far. */
  valid: number;
}

export interface CheckOptions {
  /** Called after every piece. */
  onProgress?: (progress: CheckProgress) => void;
  /** Aborting rejects the check with the signal's reason. */
  signal?: AbortSignal;
  /** Check only these pieces (the others are reported absent). */
  only?: Bitfield;
}

/** One of the torrent's files as it stands on disk (for a resume file). */
export interface FileStat {
  fileIndex: number;
  /** The torrent's path of the file ({@link TorrentFile.pathString}). */
  path: string;
  exists: boolean;
  /** 0 when missing. */
  size: number;
  /** 0 when missing. */
  mtimeMs: number;
}

// O_NOFOLLOW does not exist on Windows; there the lstat checks alone guard the last component.
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

interface OnDisk {
  exists: boolean;
  /** The last component is a symlink (leading inside the folder): the open must follow it. */
  finalIsLink: boolean;
  /** The file's folder exists (and was confirmed): only the file itself may be missing. */
  parentExists: boolean;
}

/**
 * A torrent's data in a download folder.
 *
 * @example
 * const storage = await Storage.open(meta, '/home/me/Downloads');
 * const have = await storage.check({ onProgress: (p) => console.log(`${p.checked}/${p.total}`) });
 * if (storage.verifyPiece(index, piece)) await storage.writePiece(index, piece);
 * const block = await storage.readBlock(index, 16384, 16384); // to upload
 * await storage.close();
 */
export class Storage {
  /** The download folder (absolute). */
  readonly root: string;
  readonly readOnly: boolean;
  readonly maxBlockLength: number;
  private realRoot: string;
  /** Absolute on-disk path of every file ('' for files that live on no disk). */
  private readonly paths: string[];
  /** Files (by index) confirmed inside the download folder, with their identity (see `openFile`). */
  private readonly confirmedFiles = new Map<number, { finalIsLink: boolean; dev: number; ino: number }>();
  /**
   * Folders confirmed inside the download folder, by path, with the device and inode they had: a file
   * whose folder is still that folder (one stat) is checked from there down, not from the root (a
   * torrent of thousands of small files created each one's folders' lstats again: most of its writing).
   */
  private readonly confirmedDirs = new Map<string, { dev: number; ino: number }>();
  /** Files written since the last {@link sync}. */
  private readonly unsynced = new Set<number>();
  /** Path components of every file, relative to the root. */
  private readonly components: string[][];
  private readonly indexByPath = new Map<string, number>();
  private readonly pool: FilePool;
  private readonly inflight = new Set<Promise<unknown>>();
  private closePromise: Promise<void> | undefined;
  /** Unselected files whose bytes live in the part file (an unselected file already on disk stays in use). */
  private readonly inPart = new Set<number>();
  private readonly requestedSkips: readonly number[];
  private readonly part: PartFile | undefined;
  private readonly verify: PieceVerify;
  /** BEP 52: piece layers fetched from peers since the torrent was opened, by file index. */
  private readonly layers = new Map<number, Uint8Array>();

  private constructor(
    readonly meta: Metainfo,
    root: string,
    options: StorageOptions,
  ) {
    this.root = resolve(root);
    this.realRoot = this.root;
    this.readOnly = options.readOnly ?? false;
    this.maxBlockLength = options.maxBlockLength ?? DEFAULT_MAX_BLOCK_LENGTH;
    validateLayout(meta);
    // A v2-only torrent has no SHA-1 pieces: its pieces are checked against its merkle trees.
    if (meta.kind !== 'v2' && meta.pieces.length !== 20 * meta.pieceCount) {
      throw new StorageError(
        'BT_ERR_STORAGE_LAYOUT',
        `inconsistent torrent layout: ${meta.pieces.length} bytes of hashes for ${meta.pieceCount} pieces`,
      );
    }
    this.verify = pieceVerifier(meta, this.layers);
    this.components = meta.files.map((f) => (isStored(f) ? diskComponents(meta, f.path) : []));
    this.paths = this.components.map((c) => (c.length === 0 ? '' : resolve(this.root, ...c)));
    const dirs = new Map<string, number>();
    this.paths.forEach((p, i) => {
      if (p === '') return;
      const rel = relative(this.root, p);
      if (!inside(rel) || rel === '') {
        throw new StorageError(
          'BT_ERR_STORAGE_PATH',
          `file ${i} '${p}' would leave the download folder ${this.root}`,
          p,
        );
      }
      const previous = this.indexByPath.get(p);
      if (previous !== undefined)
        throw new StorageError('BT_ERR_STORAGE_PATH', `files ${previous} and ${i} are both '${p}'`, p);
      this.indexByPath.set(p, i);
      for (let d = dirname(p); d !== this.root; d = dirname(d)) dirs.set(d, i);
    });
    for (const [d, i] of dirs) {
      const clash = this.indexByPath.get(d);
      if (clash !== undefined)
        throw new StorageError('BT_ERR_STORAGE_PATH', `'${d}' is file ${clash} and also a folder of file ${i}`, d);
    }
    this.pool = new FilePool((path, mode) => this.openRetrying(path, mode), {
      maxOpen: options.maxOpenFiles ?? DEFAULT_MAX_OPEN_FILES,
    });
    this.requestedSkips = options.skippedFiles ?? [];
    this.part = options.partPath !== undefined ? new PartFile(options.partPath) : undefined;
    if (this.requestedSkips.length > 0 && !this.part)
      throw new StorageError('BT_ERR_STORAGE_LAYOUT', 'unselected files need a part file (partPath)');
  }

  /** Files (indexes of `meta.files`) whose bytes are kept in the part file now. */
  get partFiles(): number[] {
    return [...this.inPart].sort((a, b) => a - b);
  }

  /**
   * A new set of unselected files (indexes of `meta.files`). A file newly unselected that is not on
   * disk goes to the part file (nothing created); a file selected again gets the bytes of the verified
   * pieces (`have`) that the part file holds for it, written into it. Resolves once they are moved.
   */
  async setSkippedFiles(skipped: readonly number[], have: Bitfield): Promise<void> {
    this.assertOpen();
    const want = new Set(skipped.filter((i) => this.paths[i] !== undefined && this.paths[i] !== ''));
    if (want.size > 0 && !this.part)
      throw new StorageError('BT_ERR_STORAGE_LAYOUT', 'unselected files need a part file (partPath)');
    return this.track(async () => {
      for (const i of want) if (!this.inPart.has(i) && !(await this.existsOnDisk(i))) this.inPart.add(i);
      const leaving = [...this.inPart].filter((i) => !want.has(i));
      for (const i of leaving) {
        this.inPart.delete(i);
        if (!this.readOnly) await this.movePartToFile(i, have);
      }
    });
  }

  /**
   * Opens the storage of `meta` in the download folder `dir`. Checks every file's path (lexically and
   * against symlinks already on disk: `BT_ERR_STORAGE_PATH`). Unless `readOnly`, creates `dir` and the
   * torrent's zero-length files (other files are created by their first write). Existing files are
   * never truncated.
   */
  static async open(meta: Metainfo, dir: string, options: StorageOptions = {}): Promise<Storage> {
    const storage = new Storage(meta, dir, options);
    await storage.prepare();
    return storage;
  }

  /** The absolute on-disk path of file `fileIndex`, or undefined for padding and symlink entries. */
  filePath(fileIndex: number): string | undefined {
    const p = this.paths[fileIndex];
    return p === '' ? undefined : p;
  }

  /** File handles open now (tests). */
  get openFiles(): number {
    return this.pool.openCount;
  }

  /** The most file handles open at once so far (tests). */
  get maxOpenFilesSeen(): number {
    return this.pool.maxOpenSeen;
  }

  /**
   * Writes the whole (already verified) piece `index`: one positional write per file segment, padding
   * skipped. Several pieces may be written at once. `BT_ERR_STORAGE_RANGE` when `data` is not the
   * piece's size; `BT_ERR_STORAGE_IO` or `BT_ERR_STORAGE_PATH` when a file cannot be written. Nothing
   * keeps a reference to `data` once the promise settles.
   */
  async writePiece(index: number, data: Uint8Array): Promise<void> {
    this.assertOpen();
    if (this.readOnly) throw new StorageError('BT_ERR_STORAGE_READ_ONLY', 'the storage is read-only');
    checkPieceRange(this.meta, index, 0, 0, true);
    const size = pieceLengthAt(this.meta, index);
    if (data.length !== size)
      throw new StorageError('BT_ERR_STORAGE_RANGE', `piece ${index} is ${size} bytes, not ${data.length}`);
    return this.track(async () => {
      const jobs: Promise<void>[] = [];
      let at = 0;
      for (const seg of mapPieceRange(this.meta, index)) {
        if (seg.padding) {
          /* never on disk */
        } else if (this.inPart.has(seg.fileIndex)) jobs.push(this.writePart(seg, data, at));
        else jobs.push(this.writeSegment(seg, data, at));
        at += seg.length;
      }
      await settleAll(jobs);
    });
  }

  /**
   * Reads `length` bytes at `begin` in piece `index` (to upload a block). `BT_ERR_STORAGE_RANGE` when
   * the range is outside the piece or longer than {@link maxBlockLength}; `BT_ERR_STORAGE_IO` when the
   * data is not on disk (we only serve pieces we have, so it vanished). Padding reads as zeros.
   */
  async readBlock(index: number, begin: number, length: number): Promise<Buffer> {
    this.assertOpen();
    if (length > this.maxBlockLength) {
      throw new StorageError(
        'BT_ERR_STORAGE_RANGE',
        `block of ${length} bytes is longer than the cap of ${this.maxBlockLength}`,
      );
    }
    return this.readRange(index, begin, length);
  }

  /**
   * Reads `length` bytes at `begin` in piece `index`, of any length inside the piece: one positional
   * read per file the range spans (the upload's read-ahead reads a whole span of blocks so). The same
   * errors as {@link readBlock} but for the length cap.
   */
  async readRange(index: number, begin: number, length: number): Promise<Buffer> {
    this.assertOpen();
    checkPieceRange(this.meta, index, begin, length);
    return this.track(async () => {
      const segments = mapPieceRange(this.meta, index, begin, length);
      const buf = segments.some((s) => s.padding) ? Buffer.alloc(length) : Buffer.allocUnsafe(length);
      const jobs: Promise<void>[] = [];
      let at = 0;
      for (const seg of segments) {
        if (seg.padding) {
          /* zeros */
        } else if (this.inPart.has(seg.fileIndex)) jobs.push(this.readPart(seg, buf, at));
        else jobs.push(this.readSegment(seg, buf, at));
        at += seg.length;
      }
      await settleAll(jobs);
      return buf;
    });
  }

  /**
   * True when `data` is piece `index`: its SHA-1 matches the metainfo's (v1), its SHA-256 merkle hash the
   * piece layer's (v2-only), both (hybrid; see src/protocol/piece-verify.ts). Hashes `data` in place.
   * `BT_ERR_STORAGE_RANGE` for an index outside the torrent.
   */
  /**
   * BEP 52: the piece layer of file `file`, missing from the metainfo and fetched from peers: its pieces
   * are verified against it from now on. `BT_ERR_STORAGE_LAYOUT` unless it is one hash per piece of
   * the file and hashes up to the file's `pieces root`.
   */
  addPieceLayer(file: number, layer: Uint8Array): void {
    const f = this.meta.files[file];
    const pieces = f ? Math.ceil(f.length / this.meta.pieceLength) : 0;
    if (
      !f?.piecesRoot ||
      f.padding ||
      layer.length !== pieces * HASH_SIZE ||
      !equalHash(rootFromPieceLayer(splitHashes(layer), this.meta.pieceLength), f.piecesRoot)
    )
      throw new StorageError('BT_ERR_STORAGE_LAYOUT', `a piece layer that does not fit file ${file}`);
    this.layers.set(file, Uint8Array.from(layer));
  }

  /**
   * BEP 52: the piece layer of every file longer than one piece, by pieces root (each root once): the
   * metainfo's and those fetched from peers; undefined while one is missing (or for a v1 torrent: none).
   */
  allPieceLayers(): { root: Uint8Array; layer: Uint8Array }[] | undefined {
    if (this.meta.kind === 'v1') return undefined;
    const byRoot = new Map<string, { root: Uint8Array; layer: Uint8Array }>();
    for (const [i, f] of this.meta.files.entries()) {
      if (f.padding || !f.piecesRoot || f.length <= this.meta.pieceLength) continue;
      const layer = f.pieceLayer ?? this.layers.get(i);
      if (!layer) return undefined;
      byRoot.set(Buffer.from(f.piecesRoot).toString('hex'), { root: f.piecesRoot, layer });
    }
    return [...byRoot.values()];
  }

  verifyPiece(index: number, data: Uint8Array): boolean {
    checkPieceRange(this.meta, index, 0, 0, true);
    if (data.length !== pieceLengthAt(this.meta, index)) return false;
    return this.verify(index, data);
  }

  /**
   * Reads and hashes what is on disk; resolves to the bitfield of valid pieces. Missing or short files
   * make their pieces absent (not an error); a path refused for safety rejects (`BT_ERR_STORAGE_PATH`).
   * Memory stays at two pieces (one read ahead while the other is hashed), whatever the torrent's size.
   */
  async check(options: CheckOptions = {}): Promise<Bitfield> {
    this.assertOpen();
    const { onProgress, signal, only } = options;
    const count = this.meta.pieceCount;
    if (only && only.length !== count) {
      throw new StorageError('BT_ERR_STORAGE_RANGE', `'only' has ${only.length} pieces, the torrent ${count}`);
    }
    return this.track(async () => {
      signal?.throwIfAborted();
      const have = new Bitfield(count);
      const total = only ? only.count : count;
      if (total === 0) return have;
      const indices = only ? only.setBits() : range(count);
      const bufLength = Math.min(this.meta.pieceLength, this.meta.length);
      const buffers = [Buffer.allocUnsafe(bufLength), Buffer.allocUnsafe(bufLength)];
      const sizes: SizeSweep = { sizes: new Map(), missing: new Set() };
      const readNext = (slot: number): Promise<{ index: number; present: boolean }> | undefined => {
        const next = indices.next();
        if (next.done) return undefined;
        const index = next.value;
        return this.readPieceForCheck(index, buffers[slot]!, sizes).then((present) => ({ index, present }));
      };
      let slot = 0;
      let pending = readNext(slot);
      let checked = 0;
      while (pending) {
        const { index, present } = await pending;
        pending = undefined;
        if (signal?.aborted) break;
        const buf = buffers[slot]!;
        slot ^= 1;
        pending = readNext(slot); // read ahead into the other buffer while this one is hashed
        if (present && this.verifyPiece(index, buf.subarray(0, pieceLengthAt(this.meta, index)))) have.set(index);
        checked++;
        onProgress?.({ checked, total, valid: have.count });
      }
      signal?.throwIfAborted();
      return have;
    });
  }

  /** Sizes and modification times of the torrent's files on disk (padding and symlink entries skipped). */
  async fileStats(): Promise<FileStat[]> {
    this.assertOpen();
    return this.track(async () => {
      const seen = new Set<string>();
      const missing = new Set<string>();
      // A file this storage opened is stat'ed directly when it is still the same file (device and
      // inode); others get the full path check. Several at a time: the resume file is saved every few
      // seconds, and a torrent may have thousands of files.
      const one = async (i: number): Promise<FileStat | undefined> => {
        const path = this.paths[i]!;
        if (path === '') return undefined;
        const known = this.confirmedFiles.get(i);
        let st: Stats | undefined;
        if (known) {
          st = await stat(path).catch(() => undefined);
          if (st && (st.dev !== known.dev || st.ino !== known.ino)) st = undefined;
        }
        let exists = st !== undefined;
        if (!st) {
          exists = (await this.confirmInside(i, seen, missing)).exists;
          st = exists ? await stat(path).catch(ioError(path, 'stat')) : undefined;
        }
        return {
          fileIndex: i,
          path: this.meta.files[i]!.pathString,
          exists,
          size: st?.size ?? 0,
          mtimeMs: st?.mtimeMs ?? 0,
        };
      };
      const out: (FileStat | undefined)[] = new Array(this.paths.length);
      let next = 0;
      const worker = async () => {
        while (next < this.paths.length) {
          const i = next++;
          out[i] = await one(i);
        }
      };
      await Promise.all(Array.from({ length: Math.min(16, this.paths.length) }, worker));
      return out.filter((x): x is FileStat => x !== undefined);
    });
  }

  /** Waits for the reads and writes in flight, then closes every idle file handle. The storage stays usable. */
  /**
   * Makes the data written so far durable: fdatasync of every file written since the last sync (a
   * resume file may claim only synced data). On failure those files stay to be synced next time.
   */
  async sync(): Promise<void> {
    this.assertOpen();
    // The caller waits for the writes it claims; writes still running are synced next time.
    const files = [...this.unsynced];
    this.unsynced.clear();
    try {
      await this.track(() =>
        settleAll([
          ...files.map((i) => {
            const path = this.paths[i]!;
            return this.pool.use(path, 'read', (fh) => fh.datasync().catch(ioError(path, 'sync')));
          }),
          ...(this.part ? [this.part.sync()] : []),
        ]),
      );
    } catch (err) {
      for (const i of files) this.unsynced.add(i);
      throw err;
    }
  }

  async flush(): Promise<void> {
    await this.drain();
    await this.pool.closeIdle();
  }

  /**
   * Waits for the reads and writes in flight and closes every file handle; later calls get
   * `BT_ERR_STORAGE_CLOSED`. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      await this.drain();
      await this.pool.close();
      await this.part?.close();
    })();
    return this.closePromise;
  }

  // --- internals -----------------------------------------------------------------------------

  private async prepare(): Promise<void> {
    if (!this.readOnly) await mkdir(this.root, { recursive: true }).catch(ioError(this.root, 'create folder'));
    this.realRoot = await realpath(this.root).catch((err: NodeJS.ErrnoException) => {
      if (this.readOnly && err.code === 'ENOENT') return this.root; // nothing on disk yet
      throw ioError(this.root, 'open folder')(err);
    });
    const seen = new Set<string>();
    const skipped = new Set(this.requestedSkips);
    for (let i = 0; i < this.paths.length; i++) {
      const path = this.paths[i]!;
      if (path === '') continue;
      const { exists } = await this.confirmInside(i, seen);
      // An unselected file not on disk is kept in the part file: never created (an empty one neither).
      if (!exists && skipped.has(i)) {
        this.inPart.add(i);
        continue;
      }
      if (!exists && !this.readOnly && this.meta.files[i]!.length === 0) {
        await mkdir(dirname(path), { recursive: true }).catch(ioError(dirname(path), 'create folder'));
        await this.confirmInside(i);
        const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | O_NOFOLLOW, 0o666).catch(
          ioError(path, 'create'),
        );
        await fh.close();
      }
    }
  }

  /**
   * Walks the existing components of file `i`'s path from the root down: a symlink must lead inside
   * the download folder (its real path), folders must be folders and the file a regular file.
   * `seenDirs` caches folders already confirmed during one sweep.
   */
  private async confirmInside(i: number, seenDirs?: Set<string>, missingDirs?: Set<string>): Promise<OnDisk> {
    const comps = this.components[i]!;
    let p = this.root;
    let from = 0;
    const parent = comps.length > 1 ? join(this.root, ...comps.slice(0, -1)) : undefined;
    // The file's folder, confirmed before and still the same folder: its ancestors need no lstat (a
    // sweep that confirmed it already skips them without the stat).
    if (parent !== undefined && !seenDirs?.has(parent)) {
      const known = this.confirmedDirs.get(parent);
      if (known) {
        const st = await stat(parent).catch(() => undefined);
        if (st?.isDirectory() && st.dev === known.dev && st.ino === known.ino) {
          p = parent;
          from = comps.length - 1;
        } else this.confirmedDirs.delete(parent);
      }
    }
    for (let k = from; k < comps.length; k++) {
      p = join(p, comps[k]!);
      const last = k === comps.length - 1;
      if (!last && seenDirs?.has(p)) continue;
      // A folder found missing in this sweep: every file under it is missing (no lstat, no error each).
      if (!last && missingDirs?.has(p)) return { exists: false, finalIsLink: false, parentExists: false };
      let st: Stats;
      try {
        st = await lstat(p);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          if (!last) missingDirs?.add(p);
          return { exists: false, finalIsLink: false, parentExists: last };
        }
        throw ioError(p, 'inspect')(err);
      }
      let isLink = false;
      if (st.isSymbolicLink()) {
        isLink = true;
        let real: string;
        try {
          real = await realpath(p);
        } catch (err) {
          throw new StorageError('BT_ERR_STORAGE_PATH', `'${p}' is a symlink that leads nowhere (refused)`, p, err);
        }
        const rel = relative(this.realRoot, real);
        if (!inside(rel)) {
          throw new StorageError(
            'BT_ERR_STORAGE_PATH',
            `'${p}' is a symlink to '${real}', outside the download folder ${this.root} (refused)`,
            p,
          );
        }
        st = await stat(p).catch(ioError(p, 'inspect'));
      }
      if (!last) {
        if (!st.isDirectory()) throw new StorageError('BT_ERR_STORAGE_PATH', `'${p}' is not a folder`, p);
        seenDirs?.add(p);
        this.confirmedDirs.set(p, { dev: st.dev, ino: st.ino });
      } else {
        if (!st.isFile()) throw new StorageError('BT_ERR_STORAGE_PATH', `'${p}' is not a regular file`, p);
        return { exists: true, finalIsLink: isLink, parentExists: true };
      }
    }
    return { exists: false, finalIsLink: false, parentExists: true };
  }

  /**
   * The pool's opener. The first open of a file checks its path on disk component by component
   * (creating folders for a write). A file confirmed once is reopened by path without creating it,
   * and kept only if it is the same file (device and inode, from fstat) — so a folder swapped for a
   * symlink since cannot redirect it — otherwise it is checked in full again. (A torrent of 2,000
   * small files reopens files thousands of times: an lstat of every component each time cost more
   * than the download.)
   */
  private async openFile(path: string, mode: FileMode): Promise<FileHandle> {
    const i = this.indexByPath.get(path);
    if (i === undefined) throw new StorageError('BT_ERR_STORAGE_PATH', `'${path}' is not a file of this torrent`, path);
    const known = this.confirmedFiles.get(i);
    if (known !== undefined) {
      this.confirmedFiles.delete(i); // re-added below if the file is still the one confirmed
      const access = mode === 'read' ? constants.O_RDONLY : constants.O_RDWR;
      const fh = await open(path, access | (known.finalIsLink ? 0 : O_NOFOLLOW)).catch(() => undefined);
      if (fh) {
        const st = await fh.stat().catch(() => undefined);
        if (st && st.dev === known.dev && st.ino === known.ino) {
          this.confirmedFiles.set(i, known);
          return fh;
        }
        await fh.close().catch(() => undefined);
      }
    }
    return this.openChecked(i, path, mode);
  }

  /** Opens file `i` after checking its whole path, and remembers it (see {@link openFile}). */
  private async openChecked(i: number, path: string, mode: FileMode): Promise<FileHandle> {
    const { fh, finalIsLink } = await this.openAfterCheck(i, path, mode);
    try {
      const { dev, ino } = await fh.stat();
      this.confirmedFiles.set(i, { finalIsLink, dev, ino });
    } catch {
      /* not remembered: the next open checks the path again */
    }
    return fh;
  }

  private async openAfterCheck(
    i: number,
    path: string,
    mode: FileMode,
  ): Promise<{ fh: FileHandle; finalIsLink: boolean }> {
    let disk = await this.confirmInside(i);
    if (mode === 'read') {
      if (!disk.exists)
        throw new StorageError('BT_ERR_STORAGE_IO', `'${path}' is missing: the data vanished from disk`, path);
      const fh = await open(path, constants.O_RDONLY | (disk.finalIsLink ? 0 : O_NOFOLLOW)).catch(
        ioError(path, 'open'),
      );
      return { fh, finalIsLink: disk.finalIsLink };
    }
    // Only the file missing, its folder just confirmed: O_NOFOLLOW creates it there. Folders missing:
    // created, then the whole path checked again.
    if (!disk.exists && !disk.parentExists) {
      await mkdir(dirname(path), { recursive: true }).catch(ioError(dirname(path), 'create folder'));
      disk = await this.confirmInside(i);
    }
    // No O_TRUNC: resume relies on the data already there.
    const flags = constants.O_RDWR | constants.O_CREAT | (disk.finalIsLink ? 0 : O_NOFOLLOW);
    const fh = await open(path, flags, 0o666).catch(ioError(path, 'open'));
    return { fh, finalIsLink: disk.finalIsLink };
  }

  /**
   * Opens a file; when the process is out of descriptors (`EMFILE`, `ENFILE`) or the call would block
   * (`EAGAIN`), the pool holds fewer handles from then on (its idle ones closed, later opens waiting for
   * a slot) and the open is tried again after about 50, 100, 200 … 2,000 ms (jittered), for as long as
   * the storage is open, instead of failing the torrent: other connections and torrents free
   * descriptors meanwhile (and the listener refuses new connections for a while).
   */
  private async openRetrying(path: string, mode: FileMode): Promise<FileHandle> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.openFile(path, mode);
      } catch (err) {
        const e = err as { code?: string; cause?: { code?: string } };
        const code = e.cause?.code ?? e.code;
        // Waited out for as long as the storage is open (never a failed torrent); closing ends it.
        if (this.closePromise || (code !== 'EMFILE' && code !== 'ENFILE' && code !== 'EAGAIN')) throw err;
        this.pool.lowerLimit();
        // Jittered, so the opens that failed together do not all come back together.
        const wait = Math.min(2_000, 50 * 2 ** attempt) * (0.5 + realRandom());
        await sleep(realClock, wait);
      }
    }
  }

  private writeSegment(seg: FileSegment, data: Uint8Array, at: number): Promise<void> {
    const path = this.paths[seg.fileIndex]!;
    return this.pool.use(path, 'write', async (fh) => {
      let done = 0;
      while (done < seg.length) {
        const { bytesWritten } = await fh
          .write(data, at + done, seg.length - done, seg.fileOffset + done)
          .catch(ioError(path, 'write'));
        if (bytesWritten <= 0) throw new StorageError('BT_ERR_STORAGE_IO', `write to '${path}' made no progress`, path);
        done += bytesWritten;
      }
      // Written: the next sync makes it durable (marked after the write, so no sync can miss it).
      this.unsynced.add(seg.fileIndex);
    });
  }

  /** Torrent offset of a segment (where the part file keeps it). */
  private offsetOf(seg: FileSegment): number {
    return this.meta.files[seg.fileIndex]!.offset + seg.fileOffset;
  }

  private writePart(seg: FileSegment, data: Uint8Array, at: number): Promise<void> {
    return this.part!.write(data, at, seg.length, this.offsetOf(seg));
  }

  private partBytes(seg: FileSegment, buf: Uint8Array, at: number): Promise<number> {
    return this.part!.read(buf, at, seg.length, this.offsetOf(seg));
  }

  private async readPart(seg: FileSegment, buf: Buffer, at: number): Promise<void> {
    if ((await this.partBytes(seg, buf, at)) < seg.length)
      throw new StorageError(
        'BT_ERR_STORAGE_IO',
        `the part file '${this.part!.path}' lacks bytes of '${this.paths[seg.fileIndex]}': the data vanished from disk`,
        this.part!.path,
      );
  }

  /** Whether file `i` is on disk (a path refused for safety rejects). */
  private async existsOnDisk(i: number): Promise<boolean> {
    return (await this.confirmInside(i, undefined, new Set())).exists;
  }

  /** File `i` was selected again: the bytes of verified pieces the part file holds for it go into the file. */
  private async movePartToFile(i: number, have: Bitfield): Promise<void> {
    const f = this.meta.files[i]!;
    if (f.length === 0) return;
    const pl = this.meta.pieceLength;
    const end = f.offset + f.length;
    for (let p = Math.floor(f.offset / pl); p * pl < end; p++) {
      if (!have.has(p)) continue;
      for (const seg of mapPieceRange(this.meta, p)) {
        if (seg.fileIndex !== i) continue;
        const buf = Buffer.allocUnsafe(seg.length);
        if ((await this.partBytes(seg, buf, 0)) < seg.length) continue; // not there: the piece is re-checked later
        await this.writeSegment(seg, buf, 0);
      }
    }
  }

  private readSegment(seg: FileSegment, buf: Buffer, at: number): Promise<void> {
    const path = this.paths[seg.fileIndex]!;
    return this.pool.use(path, 'read', async (fh) => {
      const got = await readFully(fh, buf, at, seg.length, seg.fileOffset, path);
      if (got < seg.length) {
        throw new StorageError(
          'BT_ERR_STORAGE_IO',
          `'${path}' is shorter than ${seg.fileOffset + seg.length} bytes: the data vanished from disk`,
          path,
        );
      }
    });
  }

  /** Fills `buf` with piece `index`; false when a file is missing or too short. */
  private async readPieceForCheck(index: number, buf: Buffer, sizes: SizeSweep): Promise<boolean> {
    const jobs: Promise<boolean>[] = [];
    let at = 0;
    for (const seg of mapPieceRange(this.meta, index)) {
      const start = at;
      at += seg.length;
      if (seg.padding) {
        buf.fill(0, start, start + seg.length);
        continue;
      }
      if (this.inPart.has(seg.fileIndex)) {
        jobs.push(this.partBytes(seg, buf, start).then((got) => got === seg.length));
        continue;
      }
      jobs.push(
        (async () => {
          if ((await this.sizeOnDisk(seg.fileIndex, sizes)) < seg.fileOffset + seg.length) return false;
          const path = this.paths[seg.fileIndex]!;
          const got = await this.pool.use(path, 'read', (fh) =>
            readFully(fh, buf, start, seg.length, seg.fileOffset, path),
          );
          return got === seg.length; // a file that shrank since it was measured
        })(),
      );
    }
    // Every read settles before the buffer is handed on (no read may land in a reused buffer).
    const results = await Promise.allSettled(jobs);
    let present = true;
    for (const r of results) {
      if (r.status === 'rejected') throw r.reason;
      if (!r.value) present = false;
    }
    return present;
  }

  /** Size of file `i` on disk, -1 when missing; measured once per check. */
  private sizeOnDisk(i: number, sweep: SizeSweep): Promise<number> {
    let size = sweep.sizes.get(i);
    if (!size) {
      const path = this.paths[i]!;
      size = this.confirmInside(i, undefined, sweep.missing).then(async ({ exists }) =>
        exists ? (await stat(path).catch(ioError(path, 'stat'))).size : -1,
      );
      sweep.sizes.set(i, size);
    }
    return size;
  }

  private assertOpen(): void {
    if (this.closePromise) throw new StorageError('BT_ERR_STORAGE_CLOSED', 'the storage is closed');
  }

  private track<T>(fn: () => Promise<T>): Promise<T> {
    const p = fn();
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }
}

/** True for a file that lives on disk: not padding, and not a BEP 47 symlink entry without data. */
function isStored(f: TorrentFile): boolean {
  if (f.padding) return false;
  // Symlink entries are never created as symlinks (a torrent must not plant links). One with data
  // (not expected) is stored as a regular file so its pieces still verify.
  if (f.symlinkPath !== undefined && f.length === 0) return false;
  return true;
}

/**
 * True when nothing of the torrent can be on disk in `dir` yet: its top entry (`DIR/<name>`, the file
 * of a single-file torrent or the folder of a multi-file one) does not exist, nor does its part file
 * (`partPath`). Then no piece can verify, and a check would find none: the storage actor tells the torrent
 * so before opening (docs/performance.md, Profiles, start-up). Two `lstat`s at once; anything but ENOENT
 * (a name the storage refuses, EACCES, a dangling link) is false, and the full open and check decide.
 */
export async function nothingOnDisk(
  meta: Metainfo,
  dir: string,
  options: Pick<StorageOptions, 'partPath'> = {},
): Promise<boolean> {
  let top: string;
  try {
    top = resolve(dir, diskComponents(meta, meta.multiFile ? ['-'] : [])[0]!);
  } catch {
    return false;
  }
  const absent = (path: string) =>
    lstat(path).then(
      () => false,
      (err: NodeJS.ErrnoException) => err.code === 'ENOENT',
    );
  const found = await Promise.all([absent(top), ...(options.partPath !== undefined ? [absent(options.partPath)] : [])]);
  return found.every(Boolean);
}

/** One check's file sizes (each file measured once) and the folders it found missing. */
interface SizeSweep {
  sizes: Map<number, Promise<number>>;
  missing: Set<string>;
}

/** The path components of a file relative to the download folder, each checked as a plain name. */
function diskComponents(meta: Metainfo, path: readonly string[]): string[] {
  const comps = meta.multiFile ? [meta.name, ...path] : [meta.name];
  if (meta.multiFile && path.length === 0) throw new StorageError('BT_ERR_STORAGE_PATH', 'a file has an empty path');
  for (const c of comps) {
    if (typeof c !== 'string' || c === '' || c === '.' || c === '..' || /[/\\\0]/.test(c)) {
      throw new StorageError(
        'BT_ERR_STORAGE_PATH',
        `path element '${String(c).replace(/\0/g, '\\0')}' would leave the download folder (refused)`,
      );
    }
  }
  return comps;
}

/** True when a path `relative()` to the root stays inside it (the root itself included). */
function inside(rel: string): boolean {
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Reads until `length` bytes or end of file; returns the bytes read. */
async function readFully(
  fh: FileHandle,
  buf: Buffer,
  at: number,
  length: number,
  position: number,
  path: string,
): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, at + done, length - done, position + done).catch(ioError(path, 'read'));
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

/** Wraps a Node error as `BT_ERR_STORAGE_IO` (a StorageError passes through). */
function ioError(path: string, what: string): (err: unknown) => never {
  return (err) => {
    if (err instanceof StorageError) throw err;
    const code = (err as NodeJS.ErrnoException)?.code;
    throw new StorageError(
      'BT_ERR_STORAGE_IO',
      `cannot ${what} '${path}': ${code ?? (err as Error)?.message ?? String(err)}`,
      path,
      err,
    );
  };
}

/** Waits for every job (none is left running on a shared buffer) and rethrows the first failure. */
async function settleAll(jobs: Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

function* range(n: number): IterableIterator<number> {
  for (let i = 0; i < n; i++) yield i;
}

/**
 * Deletes a torrent's own files from its download folder `dir` (for `engine.remove(t, { deleteFiles })`):
 * each file of `meta` (padding and symlink entries have none), then the folders of a multi-file torrent
 * that are left empty, deepest first, up to and including `<dir>/<name>`. Never a path outside `dir`:
 * a file is unlinked only when its folder's real path (symlinks resolved) lies inside `dir`'s, and a
 * symlink is unlinked as a link, never followed; a folder is never removed with anything in it (a
 * file of the user's beside the torrent's stays, and so does its folder). Files that are not there
 * are skipped. Returns the paths removed.
 */
export async function deleteTorrentFiles(meta: Metainfo, dir: string): Promise<string[]> {
  const root = resolve(dir);
  const realRoot = await realpath(root).catch(() => undefined);
  if (realRoot === undefined) return [];
  const within = async (folder: string) => {
    const real = await realpath(folder).catch(() => undefined);
    return real !== undefined && inside(relative(realRoot, real));
  };
  const removed: string[] = [];
  const folders = new Set<string>();
  for (const f of meta.files) {
    if (!isStored(f)) continue;
    let comps: string[];
    try {
      comps = diskComponents(meta, f.path);
    } catch {
      continue; // a path the storage would refuse was never written
    }
    const path = resolve(root, ...comps);
    const rel = relative(root, path);
    if (rel === '' || !inside(rel)) continue;
    for (let d = dirname(path); d !== root && inside(relative(root, d)); d = dirname(d)) folders.add(d);
    if (!(await within(dirname(path)))) continue;
    const st = await lstat(path).catch(() => undefined);
    if (!st || st.isDirectory()) continue;
    await unlink(path);
    removed.push(path);
  }
  // Deepest first; a folder with anything left in it (or a link to one) stays.
  for (const d of [...folders].sort((a, b) => b.length - a.length)) {
    const st = await lstat(d).catch(() => undefined);
    if (!st?.isDirectory() || !(await within(d))) continue;
    if (
      await rmdir(d).then(
        () => true,
        () => false,
      )
    )
      removed.push(d);
  }
  return removed;
}
