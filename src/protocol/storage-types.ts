/**
 * What the torrent statechart and the storage actor (src/io/storage-actor.ts) say to each other. Both
 * layers import these shapes from here, the lowest layer, so neither imports the other.
 */

/** Events from the storage actor to the torrent actor. */
export type StorageEvent =
  | { type: 'storage.checkProgress'; checked: number; total: number; valid: number }
  | { type: 'storage.ready'; have: Uint8Array }
  | { type: 'storage.verified'; index: number }
  | { type: 'storage.hashFailed'; index: number }
  | { type: 'storage.closed' }
  | { type: 'storage.error'; code: string; message: string };

/** Commands from the torrent actor to the storage actor. */
export type StorageCommand = { type: 'storage.write'; index: number; data: Uint8Array } | { type: 'storage.close' };
