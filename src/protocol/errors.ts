/**
 * Typed errors of the pure codecs. Every error a codec raises is a {@link BtError} with a stable
 * machine-readable `code` (`BT_ERR_…`), so callers branch on the code, never on the message.
 */
export class BtError extends Error {
  override readonly name: string = 'BtError';
  constructor(
    /** Stable code, e.g. `BT_ERR_FRAME_TOO_LARGE`. */
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Returns true when `err` is a {@link BtError} (optionally with the given code). */
export function isBtError(err: unknown, code?: string): err is BtError {
  return err instanceof BtError && (code === undefined || err.code === code);
}
