/**
 * The torrent statechart's `storage` actor: opens the download folder, checks the data already there,
 * then verifies and writes each piece the peers complete. A full disk is waited out
 * (`storage.diskFull` / `storage.diskOk`); every other failure becomes a `storage.error` event with a
 * `BT_ERR_…` code; nothing throws into the actor system.
 */
import { createHash } from 'node:crypto';
import { fromCallback } from 'xstate';
import { BLOCK_LENGTH } from '../protocol/layout.js';
import type { BlockReadEvent, ReadBlock, ReadFailure, ReaderCommand } from '../protocol/peer-wire-types.js';
import { ReadCache } from './read-cache.js';
import type { StorageCommand, StorageEvent } from '../protocol/storage-types.js';
import { pieceSize, type Metainfo } from '../protocol/metainfo.js';
import { Bitfield } from '../protocol/bitfield.js';
import { realClock, type Clock } from './clock.js';
import { isReservedName, loadResume, saveResume, saveTorrentFile } from './resume.js';
import { torrentFileOf } from '../protocol/torrent-file.js';
import { blockHashesOf, fileLeavesOf } from '../protocol/piece-verify.js';
import type { HashRange } from '../protocol/wire.js';
import { StorageError } from './storage-error.js';
import { nothingOnDisk, Storage, type StorageOptions } from './storage.js';

/**
 * SHA-1 of each 16 KiB block of a piece (the last one may be shorter): what smart ban compares for a v1
 * torrent (a v2 or hybrid one's are SHA-256 leaves: `blockHashesOf` of src/protocol/piece-verify.ts).
 */
export function blockHashes(piece: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let begin = 0; begin < piece.length; begin += BLOCK_LENGTH)
    out.push(
      createHash('sha1')
        .update(piece.subarray(begin, begin + BLOCK_LENGTH))
        .digest(),
    );
  return out;
}

export interface StorageActorOptions extends StorageOptions {
  /** Minimum milliseconds between two `storage.checkProgress` events. */
  progressIntervalMs?: number;
  /** Resume file path (see src/io/resume.ts); none: always check by hash. */
  resumePath?: string;
  /** Ignore the resume file and check everything by hash (`--check`). */
  forceCheck?: boolean;
  /** Most milliseconds between two saves of the resume file while pieces are written (default 2 s). */
  resumeSaveIntervalMs?: number;
  /**
   * A torrent added by magnet link: where the .torrent file of its fetched info dictionary is saved
   * (`storage.open`), so that the next start need not fetch it again.
   */
  torrentPath?: string;
  /** Time for the progress pacing and the retry timers (default the real clock). */
  clock?: Clock;
}

/**
 * Shares the opened {@link Storage} between the torrent's storage actor (which opens, checks, writes
 * and closes it) and its peers' block readers (which read blocks to upload).
 */
export interface StorageHandle {
  storage: Storage | undefined;
  /** The pieces verified on disk: only those are ever read for an upload. */
  have: Bitfield | undefined;
  /** Spans of verified pieces read for uploads, shared by the torrent's peers (bounded: src/io/read-cache.ts). */
  cache: ReadCache;
}

export function createStorageHandle(): StorageHandle {
  return { storage: undefined, have: undefined, cache: new ReadCache() };
}

/**
 * A peer's `reader` actor: reads requested blocks from the torrent's storage. Each `upload.read` (a
 * batch of blocks) is answered with one `upload.blocks` event — the blocks read, and those that could
 * not be (not verified, storage closed, an I/O error) — to the peer actor, which sends the blocks still
 * wanted. Blocks are views of spans read ahead through the torrent's {@link ReadCache}: adjacent blocks
 * of a piece cost one positional read.
 */
export function blockReaderActor(handle: StorageHandle) {
  return fromCallback<ReaderCommand>(({ sendBack, receive }) => {
    let alive = true;
    const answer = (e: BlockReadEvent) => alive && sendBack(e);
    receive((cmd) => {
      const s = handle.storage;
      if (cmd.type === 'hash.leaves') return leavesOf(s, cmd.index, cmd.range);
      const failed: ReadFailure[] = [];
      const reads: Promise<ReadBlock | ReadFailure>[] = [];
      for (const b of cmd.blocks) {
        const { index, begin, length } = b;
        if (!s) failed.push({ index, begin, length, code: 'BT_ERR_STORAGE_CLOSED', message: 'storage is not open' });
        // Only verified data leaves: a request for a piece we lack is refused (the peer rejects it).
        else if (!handle.have?.has(index))
          failed.push({ index, begin, length, code: 'BT_ERR_NOT_VERIFIED', message: `piece ${index} is not verified` });
        else
          reads.push(
            handle.cache.read(s, b).then(
              (data) => ({ index, begin, length, data }),
              (err: unknown) => ({ index, begin, length, ...toError(err) }),
            ),
          );
      }
      if (reads.length === 0) return answer({ type: 'upload.blocks', blocks: [], failed });
      void Promise.all(reads).then((done) => {
        const blocks: ReadBlock[] = [];
        for (const d of done) {
          if ('data' in d) blocks.push(d);
          else failed.push(d);
        }
        answer({ type: 'upload.blocks', blocks, failed });
      });
    });
    /** BEP 52: the leaves of a verified piece, read block by block, for a layer-0 `hash request`. */
    const leavesOf = (s: Storage | undefined, index: number, range: HashRange) => {
      const fail = (code: string, message: string) => answer({ type: 'hash.leavesFailed', range, code, message });
      if (!s) return fail('BT_ERR_STORAGE_CLOSED', 'storage is not open');
      if (!handle.have?.has(index)) return fail('BT_ERR_NOT_VERIFIED', `piece ${index} is not verified`);
      const size = pieceSize(s.meta, index);
      const reads: Promise<Buffer>[] = [];
      for (let begin = 0; begin < size; begin += BLOCK_LENGTH)
        reads.push(s.readBlock(index, begin, Math.min(BLOCK_LENGTH, size - begin)));
      Promise.all(reads).then(
        (blocks) => answer({ type: 'hash.leaves', range, leaves: fileLeavesOf(s.meta)(index, Buffer.concat(blocks)) }),
        (err: unknown) => {
          const e = toError(err);
          fail(e.code, e.message);
        },
      );
    };
    return () => {
      alive = false;
    };
  });
}

function toError(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return {
    code: typeof e?.code === 'string' ? e.code : 'BT_ERR_STORAGE_IO',
    message: typeof e?.message === 'string' ? e.message : String(err),
  };
}

export function storageActor(
  /** The torrent; undefined for a magnet link (the actor then waits for `storage.open`). */
  known: Metainfo | undefined,
  dir: string,
  options: StorageActorOptions = {},
  handle: StorageHandle = createStorageHandle(),
) {
  return fromCallback<StorageCommand>(({ sendBack, receive }) => {
    const send = (e: StorageEvent) => sendBack(e);
    const clock = options.clock ?? realClock;
    const abort = new AbortController();
    let storage: Storage | undefined;
    let failed = false;
    let closing: Promise<void> | undefined;
    const fail = (err: unknown) => {
      if (failed || abort.signal.aborted) return;
      failed = true;
      send({ type: 'storage.error', ...toError(err) });
    };

    let have: Bitfield | undefined;
    let meta!: Metainfo;
    let opened!: (m: { meta: Metainfo; torrent?: Uint8Array }) => void;
    const metaKnown = new Promise<{ meta: Metainfo; torrent?: Uint8Array }>((r) => (opened = r));
    if (known) opened({ meta: known });
    else send({ type: 'storage.needMetadata' });
    const ready = (async () => {
      const m = await metaKnown;
      meta = m.meta;
      if (m.torrent && options.torrentPath) await saveTorrentFile(options.torrentPath, m.torrent);
      // Nothing on disk yet (a new download): no piece can verify, so the torrent hears `storage.ready`
      // at once and its trackers are announced to while the folder is opened; writes wait for the open.
      // Not after a magnet's metadata: its selection comes as `storage.select` after the open, and must
      // be applied before the first write (its trackers were announced to while it fetched the metadata).
      if (known && (await nothingOnDisk(meta, dir, options))) {
        have = new Bitfield(meta.pieceCount);
        handle.have = have;
        send({ type: 'storage.checkProgress', checked: meta.pieceCount, total: meta.pieceCount, valid: 0 });
        send({ type: 'storage.ready', have: have.toBytes() });
        storage = await Storage.open(meta, dir, options);
        handle.storage = storage;
        return storage;
      }
      storage = await Storage.open(meta, dir, options);
      handle.storage = storage;
      let last = 0;
      const every = options.progressIntervalMs ?? 200;
      const trusted =
        options.resumePath && !options.forceCheck
          ? await loadResume(options.resumePath, meta, await storage.fileStats())
          : null;
      if (trusted) {
        send({ type: 'storage.checkProgress', checked: meta.pieceCount, total: meta.pieceCount, valid: trusted.count });
        have = trusted;
      } else {
        have = await storage.check({
          signal: abort.signal,
          onProgress: (p) => {
            const now = clock.now();
            if (now - last < every && p.checked < p.total) return;
            last = now;
            send({ type: 'storage.checkProgress', checked: p.checked, total: p.total, valid: p.valid });
          },
        });
      }
      handle.have = have;
      send({ type: 'storage.ready', have: have.toBytes() });
      return storage;
    })();

    // The resume file is saved after pieces were written (at most every resumeSaveIntervalMs), and on close.
    let saveTimer: unknown;
    let saving: Promise<void> = Promise.resolve();
    const writes = new Set<Promise<unknown>>();
    const save = () => {
      saveTimer = undefined;
      if (!options.resumePath || !storage || !have) return saving;
      const s = storage;
      const bits = have.clone();
      const path = options.resumePath;
      saving = saving
        .then(async () => {
          await Promise.allSettled([...writes]);
          // Only data on stable storage may be claimed: fdatasync first, then the resume file.
          await s.sync();
          await saveResume(path, meta, bits, await s.fileStats());
        })
        .catch(() => undefined); // a resume file that cannot be written only costs a recheck
      return saving;
    };
    const scheduleSave = () => {
      if (options.resumePath && !saveTimer) saveTimer = clock.setTimeout(save, options.resumeSaveIntervalMs ?? 2000);
    };
    ready.catch(fail);

    // A full disk (ENOSPC, EDQUOT) is waited out, not failed: the piece stays in memory and its write is
    // tried again every few seconds; meanwhile the pieces waiting for the disk fill the torrent's write
    // backlog and the peers stop asking for blocks. The torrent hears `storage.diskFull` once, and
    // `storage.diskOk` when a write goes through again. Closing gives the waiting pieces up (unwritten,
    // unclaimed: nothing on disk is wrong, they are fetched again next time).
    let diskFull = false;
    /** Wakes the writes waiting for space (on close: they give up at once). */
    const waiting = new Set<() => void>();
    const wakeWaiting = () => {
      for (const w of [...waiting]) w();
    };
    const writeWaitingForSpace = async (s: Storage, index: number, data: Uint8Array): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          await s.writePiece(index, data);
          if (diskFull) {
            diskFull = false;
            send({ type: 'storage.diskOk' });
          }
          return;
        } catch (err) {
          const e = err as { code?: string; cause?: { code?: string }; message?: string };
          const code = e.cause?.code ?? e.code;
          if ((code !== 'ENOSPC' && code !== 'EDQUOT') || closing || abort.signal.aborted) throw err;
          if (!diskFull) {
            diskFull = true;
            send({ type: 'storage.diskFull', message: e.message ?? String(err) });
          }
          await new Promise<void>((resolve) => {
            const wake = () => {
              clock.clearTimeout(t);
              waiting.delete(wake);
              resolve();
            };
            const t = clock.setTimeout(wake, Math.min(5_000, 500 * 2 ** attempt));
            waiting.add(wake);
          });
          if (closing || abort.signal.aborted)
            throw new StorageError('BT_ERR_STORAGE_CLOSED', 'stopped while the disk was full');
        }
      }
    };

    /** Checks of a file's data against a fetched layer: given up when the storage closes. */
    const rechecks = new AbortController();
    /** The pieces of file `file` not verified yet, read and checked; those found good become `have`. */
    const checkFileAgain = async (s: Storage, file: number): Promise<number[]> => {
      const f = meta.files[file]!;
      const only = new Bitfield(meta.pieceCount);
      const first = Math.floor(f.offset / meta.pieceLength);
      const end = Math.min(meta.pieceCount, Math.ceil((f.offset + f.length) / meta.pieceLength));
      for (let p = first; p < end; p++) if (!have!.has(p)) only.set(p);
      if (only.count === 0) return [];
      const good = await s.check({ only, signal: rechecks.signal });
      const found = [...good.setBits()].filter((p) => !have!.has(p));
      for (const p of found) have!.set(p);
      return found;
    };

    /** The block hashes of a piece as the torrent's kind has them (v2, hybrid: SHA-256 leaves), once open. */
    let hashesOf: ((index: number, data: Uint8Array) => Uint8Array[]) | undefined;
    receive((cmd) => {
      if (cmd.type === 'storage.write') {
        const { index, data } = cmd;
        ready
          .then(async (s) => {
            hashesOf ??= blockHashesOf(s.meta);
            if (!s.verifyPiece(index, data)) {
              // The buffer is reused once the torrent hears of it: the block hashes are taken now.
              send({ type: 'storage.hashFailed', index, blockHashes: hashesOf(index, data) });
              return;
            }
            const hashes = cmd.blockHashes ? hashesOf(index, data) : undefined;
            const write = writeWaitingForSpace(s, index, data);
            writes.add(write);
            try {
              await write;
            } finally {
              writes.delete(write);
            }
            have?.set(index);
            send({ type: 'storage.verified', index, ...(hashes && { blockHashes: hashes }) });
            scheduleSave();
          })
          .catch((err: unknown) => {
            // A piece given up because we stopped while the disk was full is no failure.
            if ((err as { code?: string }).code === 'BT_ERR_STORAGE_CLOSED' && closing) return;
            fail(err);
          });
      } else if (cmd.type === 'storage.layer') {
        // Before any later write (the same promise's callbacks run in order). Once every layer is known the
        // .torrent is saved with them (`torrentPath`): a restart does not ask peers again.
        ready
          .then(async (s) => {
            s.addPieceLayer(cmd.file, cmd.layer);
            const layers = s.allPieceLayers();
            if (layers && options.torrentPath)
              await saveTorrentFile(options.torrentPath, torrentFileOf(meta.infoBytes, meta.announce, layers)).catch(
                () => undefined, // not saved: a restart asks the peers again
              );
            // The file's pieces already on disk (copied there, or left by another client) could not be
            // verified at start; checked now, before the torrent picks them, so they are not fetched again.
            const found = await checkFileAgain(s, cmd.file);
            send({ type: 'storage.layerChecked', file: cmd.file, have: found });
            if (found.length > 0) scheduleSave();
          })
          .catch((err: unknown) => {
            if (!closing) fail(err);
          });
      } else if (cmd.type === 'storage.select') {
        const move = ready.then((s) => (closing ? undefined : s.setSkippedFiles(cmd.skippedFiles, have!)));
        writes.add(move);
        move
          .finally(() => writes.delete(move))
          .then(scheduleSave)
          .catch((err: unknown) => {
            if (!closing) fail(err);
          });
      } else if (cmd.type === 'storage.open') {
        // A fetched torrent named as the resume folder would lay its files over it (as the engine refuses).
        if (isReservedName(cmd.meta.name))
          return fail(
            new StorageError(
              'BT_ERR_STORAGE_PATH',
              `the torrent's name '${cmd.meta.name}' is the resume folder's: its files would overwrite it`,
              dir,
            ),
          );
        opened({ meta: cmd.meta, torrent: cmd.torrent });
      } else if (cmd.type === 'storage.close') {
        queueMicrotask(wakeWaiting);
        rechecks.abort();
        // Closed before the metadata came: there is nothing to open, flush or save.
        if (!known && !meta) {
          closing ??= Promise.resolve().then(() => send({ type: 'storage.closed' }));
          return;
        }
        closing ??= ready
          .then(async (s) => {
            clock.clearTimeout(saveTimer);
            await s.flush();
            await save();
            handle.storage = undefined;
            handle.cache.clear();
            return s.close();
          })
          .catch(() => undefined)
          .then(() => send({ type: 'storage.closed' }));
      }
    });

    return () => {
      abort.abort();
      rechecks.abort();
      clock.clearTimeout(saveTimer);
      handle.storage = undefined;
      handle.have = undefined;
      handle.cache.clear();
      void storage?.close().catch(() => undefined);
    };
  });
}
