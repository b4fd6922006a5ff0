/**
 * A small pool of open file handles with an LRU cap, so a torrent of thousands of files does not
 * exhaust descriptors. A handle is reference-counted while an operation uses it and is only closed
 * (evicted) when idle; when every slot is busy a new request waits for one to free up. The cap counts
 * handles being opened, open, and being closed, so the process never holds more than `maxOpen`.
 */
import type { FileHandle } from 'node:fs/promises';
import { StorageError } from './storage-error.js';

/** 'read' handles serve reads only; 'write' handles serve both. */
export type FileMode = 'read' | 'write';

/** Opens the file at `path` (the pool calls it on a miss; storage puts its path checks here). */
export type FileOpener = (path: string, mode: FileMode) => Promise<FileHandle>;

export interface FilePoolOptions {
  /** Most handles open at once (default 64). */
  maxOpen?: number;
}

interface Entry {
  path: string;
  mode: FileMode;
  /** Settles when the open does; rejected opens are removed from the pool. */
  ready: Promise<FileHandle>;
  handle?: FileHandle;
  refs: number;
  /** Replaced by a 'write' entry for the same path, or being closed: never handed out again. */
  retired: boolean;
}

/**
 * @example
 * const pool = new FilePool((path, mode) => open(path, mode === 'write' ? 'r+' : 'r'), { maxOpen: 8 });
 * const { bytesRead } = await pool.use('/data/a.bin', 'read', (fh) => fh.read(buf, 0, 16384, 0));
 * await pool.close();
 */
export class FilePool {
  /** Handles held at most (lowered by {@link lowerLimit} when the process runs out of descriptors). */
  maxOpen: number;
  /** Non-retired entries by path, least recently used first (Map insertion order). */
  private readonly entries = new Map<string, Entry>();
  private slots = 0;
  private highWater = 0;
  private waiters: (() => void)[] = [];
  private closed = false;
  private closing = new Set<Promise<void>>();

  constructor(
    private readonly opener: FileOpener,
    options: FilePoolOptions = {},
  ) {
    const maxOpen = options.maxOpen ?? 64;
    if (!Number.isSafeInteger(maxOpen) || maxOpen < 1)
      throw new RangeError(`maxOpen must be a positive integer, not ${maxOpen}`);
    this.maxOpen = maxOpen;
  }

  /**
   * The process ran out of file descriptors: hold at most the handles held now, less one (never below
   * `floor`), so further opens wait for a slot instead of failing; and close the idle handles.
   */
  lowerLimit(floor = 4): void {
    this.maxOpen = Math.max(floor, Math.min(this.maxOpen, this.slots - 1));
    void this.closeIdle();
  }

  /** Handles currently opening, open or closing. */
  get openCount(): number {
    return this.slots;
  }

  /** The most handles ever held at once (for tests). */
  get maxOpenSeen(): number {
    return this.highWater;
  }

  /**
   * Runs `fn` with a handle on `path`, opened in at least `mode`; the handle stays open (and is not
   * evicted) until `fn` settles.
   */
  async use<T>(path: string, mode: FileMode, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    const entry = await this.acquire(path, mode);
    try {
      return await fn(entry.handle!);
    } finally {
      this.release(entry);
    }
  }

  /** Closes every idle handle; the pool stays usable (handles in use stay open). */
  async closeIdle(): Promise<void> {
    for (const e of [...this.entries.values()]) {
      if (e.refs === 0) this.retire(e);
    }
    await this.settleClosing();
  }

  /**
   * Closes every handle and refuses further use (`BT_ERR_STORAGE_CLOSED`). Handles in use are closed
   * as their operations finish; the promise waits for all of them. Idempotent.
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of [...this.entries.values()]) this.retire(e);
    this.wakeAll();
    while (this.slots > 0) {
      await this.settleClosing();
      if (this.slots > 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  private async acquire(path: string, mode: FileMode): Promise<Entry> {
    for (;;) {
      if (this.closed) throw new StorageError('BT_ERR_STORAGE_CLOSED', 'the file pool is closed', path);
      const existing = this.entries.get(path);
      if (existing && (mode === 'read' || existing.mode === 'write')) {
        existing.refs++;
        this.entries.delete(path);
        this.entries.set(path, existing);
        await existing.ready.catch(() => undefined);
        if (existing.handle) return existing;
        existing.refs--;
        // The open failed: its opener reports the error; this caller tries again (and gets its own error).
        continue;
      }
      if (existing) this.retire(existing); // a 'read' handle, but we need to write: reopen

      if (this.slots >= this.maxOpen) {
        // Evict the least recently used idle handle (its slot frees once the close completes, and
        // that wakes one waiter), or wait for a user to release one. Each waiter evicts at most one
        // handle per wake-up, so the closes in flight never outnumber the callers waiting for a slot.
        this.evictOne();
        await new Promise<void>((resolve) => this.waiters.push(resolve));
        continue;
      }
      return this.openEntry(path, mode);
    }
  }

  private async openEntry(path: string, mode: FileMode): Promise<Entry> {
    this.slots++;
    this.highWater = Math.max(this.highWater, this.slots);
    const entry: Entry = { path, mode, refs: 1, retired: false, ready: this.opener(path, mode) };
    this.entries.set(path, entry);
    try {
      entry.handle = await entry.ready;
    } catch (err) {
      entry.retired = true;
      if (this.entries.get(path) === entry) this.entries.delete(path);
      this.slots--;
      this.wake();
      throw err;
    }
    // Retired while opening (the pool is closing): the operation still runs, and release closes it.
    return entry;
  }

  private release(entry: Entry): void {
    entry.refs--;
    if (entry.refs > 0) return;
    if (entry.retired) this.startClose(entry);
    else this.wake();
  }

  /** Evicts the least recently used idle handle, if any. */
  private evictOne(): void {
    for (const e of this.entries.values()) {
      if (e.refs === 0) {
        this.retire(e);
        return;
      }
    }
  }

  /** Takes `entry` out of circulation; closes it now if idle, else when its last user releases it. */
  private retire(entry: Entry): void {
    if (entry.retired) return;
    entry.retired = true;
    if (this.entries.get(entry.path) === entry) this.entries.delete(entry.path);
    if (entry.refs === 0 && entry.handle) this.startClose(entry);
  }

  private startClose(entry: Entry): void {
    const handle = entry.handle;
    if (!handle) return;
    entry.handle = undefined;
    const p = handle
      .close()
      .catch(() => undefined) // nothing can be done about a failed close of a file we wrote with pwrite
      .finally(() => {
        this.closing.delete(p);
        this.slots--;
        this.wake();
      });
    this.closing.add(p);
  }

  private async settleClosing(): Promise<void> {
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  /**
   * One slot freed or one handle became idle: wakes the longest waiter (it takes the slot, or evicts
   * the idle handle). Waking every waiter on every event made a crowd of writes — a piece spans many
   * small files — loop quadratically.
   */
  private wake(): void {
    this.waiters.shift()?.();
  }

  private wakeAll(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
