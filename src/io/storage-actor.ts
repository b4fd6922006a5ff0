/**
 * The torrent statechart's `storage` actor: opens the download folder, checks the data already there,
 * then verifies and writes each piece the peers complete. Every failure becomes a `storage.error`
 * event with a `BT_ERR_…` code; nothing throws into the actor system.
 */
import { fromCallback } from 'xstate';
import type { Metainfo } from '../protocol/metainfo.js';
import { Storage, type StorageOptions } from './storage.js';

/** Events to the torrent actor (the torrent machine's `StorageEvent`). */
type StorageEvent =
  | { type: 'storage.checkProgress'; checked: number; total: number; valid: number }
  | { type: 'storage.ready'; have: Uint8Array }
  | { type: 'storage.verified'; index: number }
  | { type: 'storage.hashFailed'; index: number }
  | { type: 'storage.closed' }
  | { type: 'storage.error'; code: string; message: string };

/** Commands from the torrent actor (the torrent machine's `StorageCommand`). */
type StorageCommand = { type: 'storage.write'; index: number; data: Uint8Array } | { type: 'storage.close' };

export interface StorageActorOptions extends StorageOptions {
  /** Minimum milliseconds between two `storage.checkProgress` events. */
  progressIntervalMs?: number;
}

function toError(err: unknown): { code: string; message: string } {
  const e = err as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : 'BT_ERR_STORAGE_IO', message: typeof e?.message === 'string' ? e.message : String(err) };
}

export function storageActor(meta: Metainfo, dir: string, options: StorageActorOptions = {}) {
  return fromCallback<StorageCommand>(({ sendBack, receive }) => {
    const send = (e: StorageEvent) => sendBack(e as never);
    const abort = new AbortController();
    let storage: Storage | undefined;
    let failed = false;
    let closing: Promise<void> | undefined;
    const fail = (err: unknown) => {
      if (failed || abort.signal.aborted) return;
      failed = true;
      send({ type: 'storage.error', ...toError(err) });
    };

    const ready = (async () => {
      storage = await Storage.open(meta, dir, options);
      let last = 0;
      const every = options.progressIntervalMs ?? 200;
      const have = await storage.check({
        signal: abort.signal,
        onProgress: (p) => {
          const now = Date.now();
          if (now - last < every && p.checked < p.total) return;
          last = now;
          send({ type: 'storage.checkProgress', checked: p.checked, total: p.total, valid: p.valid });
        },
      });
      send({ type: 'storage.ready', have: have.toBytes() });
      return storage;
    })();
    ready.catch(fail);

    receive((cmd) => {
      if (cmd.type === 'storage.write') {
        const { index, data } = cmd;
        ready
          .then(async (s) => {
            if (!s.verifyPiece(index, data)) {
              send({ type: 'storage.hashFailed', index });
              return;
            }
            await s.writePiece(index, data);
            send({ type: 'storage.verified', index });
          })
          .catch(fail);
      } else if (cmd.type === 'storage.close') {
        closing ??= ready
          .then((s) => s.close())
          .catch(() => undefined)
          .then(() => send({ type: 'storage.closed' }));
      }
    });

    return () => {
      abort.abort();
      void storage?.close().catch(() => undefined);
    };
  });
}
