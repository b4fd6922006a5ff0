/** Human-readable formatting for the CLI. */

import type { Metainfo } from '../protocol/metainfo.js';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.5 KiB"; exact bytes below 1 KiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  let v = n;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

/** Seconds since the epoch → "2026-11-26 03:52:32 UTC". */
export function formatDate(seconds: number): string {
  const d = new Date(seconds * 1000);
  if (Number.isNaN(d.getTime())) return String(seconds);
  return `${d
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, '')} UTC`;
}

/**
 * `text` safe to print on a terminal: C0 and C1 control characters, DEL, and the Unicode controls that
 * reorder or hide text (bidirectional overrides and isolates, zero-width characters, line and paragraph
 * separators, the BOM) become `\uXXXX`. A torrent's name, comment, file paths, a tracker's message —
 * anything someone else wrote — can then not move the cursor, retitle the window (`ESC]0;…`) or make
 * one name look like another. The escapes are JSON escapes too, so a JSON line stays valid. With
 * `lines`, newlines and tabs are kept (for whole lines of our own output; a field is escaped whole).
 */
export function printable(text: string, options: { lines?: boolean } = {}): string {
  const re = options.lines ? UNPRINTABLE_KEEP_LINES : UNPRINTABLE;
  return text.replace(re, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;
const UNPRINTABLE_KEEP_LINES =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

const FS_REASONS: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EEXIST: 'it already exists',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error',
};

/** A file-system error in words, with its code: `permission denied [EACCES]`. */
export function fsReason(err: unknown): string {
  const code = (err as { code?: string }).code;
  const reason = code !== undefined ? FS_REASONS[code] : undefined;
  return reason === undefined ? ((err as Error).message ?? String(err)) : `${reason} [${code}]`;
}

/**
 * One warning per name laid out differently from what the torrent says (docs/metainfo.md "Sanitized
 * paths"), without the `bt-actor: ` prefix: `warning: info.files[1].path 'a' is laid out as 'b' (…)`.
 */
export function pathChangeWarnings(meta: Pick<Metainfo, 'pathChanges'>): string[] {
  return meta.pathChanges.map(
    (c) => `warning: ${c.field} '${printable(c.from)}' is laid out as '${printable(c.to)}' (${c.reasons.join(', ')})`,
  );
}
