/**
 * The resume file: which pieces were verified, and the size and mtime of every file when that was
 * recorded. On start it is trusted only when it cannot lie:
 * - its JSON has exactly the expected shape (anything else: null, and the data is checked by hash —
 *   never an exception);
 * - it names this torrent (info hash, piece count) and every file's recorded size and mtime are the
 *   file's now;
 * - every file that a claimed piece touches exists and is long enough to hold that piece's bytes (a
 *   missing file matches a record of size 0 / mtime 0, so without this a forged file could claim every
 *   piece of a download that is not there).
 *
 * Durability: `saveResume` is called after the data it claims was fdatasync'ed (the storage actor
 * syncs first); it writes a temporary file, fdatasyncs it, renames it into place and fsyncs the folder,
 * so a crash leaves the old resume file or the new one, each true of the data on disk.
 *
 * It lives in `<dir>/.bt-actor/`; a torrent whose name is `.bt-actor` is refused by the engine, so no
 * torrent's files can overwrite another's resume data ({@link RESERVED_NAME}).
 */
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Bitfield } from '../protocol/bitfield.js';
import { foldPath, type Metainfo } from '../protocol/metainfo.js';
import type { FileStat } from './storage.js';

export interface ResumeData {
  version: 1;
  infoHash: string;
  pieceCount: number;
  /** Base64 of the verified-piece bitfield. */
  have: string;
  files: { path: string; size: number; mtimeMs: number }[];
}

/** The folder name bt-actor keeps resume data in, inside a download folder. */
export const RESERVED_NAME = '.bt-actor';

/** True when a torrent named `name` would lay its files over the resume folder (any case). */
export function isReservedName(name: string): boolean {
  return foldPath(name) === RESERVED_NAME;
}

/** Where the resume file of `meta` lives: `<dir>/.bt-actor/<info hash>.resume.json`. */
export function resumePath(dir: string, meta: Pick<Metainfo, 'infoHashHex'>): string {
  return join(dir, RESERVED_NAME, `${meta.infoHashHex}.resume.json`);
}

/**
 * The part file of a torrent with unselected files: `<dir>/.bt-actor/<info hash>.parts` (the bytes of
 * pieces shared with selected files, for the unselected side; src/io/part-file.ts).
 */
export function partsPath(dir: string, infoHashHex: string): string {
  return join(dir, RESERVED_NAME, `${infoHashHex}.parts`);
}

/**
 * Where the .torrent file of a torrent added by magnet link is kept once its info dictionary was
 * fetched: `<dir>/.bt-actor/<info hash>.torrent` (a restart with the same link and folder reads it and
 * skips the metadata phase).
 */
export function torrentFilePath(dir: string, infoHashHex: string): string {
  return join(dir, RESERVED_NAME, `${infoHashHex}.torrent`);
}

/** Writes the .torrent file of a fetched info dictionary atomically (temporary file, fdatasync, rename). */
export async function saveTorrentFile(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(bytes);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

/**
 * Writes the resume file atomically and durably (temporary file, fdatasync, rename, folder fsync).
 * The caller has synced the data the file claims.
 */
export async function saveResume(path: string, meta: Metainfo, have: Bitfield, files: FileStat[]): Promise<void> {
  const data: ResumeData = {
    version: 1,
    infoHash: meta.infoHashHex,
    pieceCount: meta.pieceCount,
    have: Buffer.from(have.toBytes()).toString('base64'),
    files: files.map((f) => ({ path: f.path, size: f.size, mtimeMs: f.mtimeMs })),
  };
  const folder = dirname(path);
  await mkdir(folder, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(JSON.stringify(data));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  // The rename is durable once the folder is.
  const dh = await open(folder, 'r').catch(() => undefined);
  if (dh)
    await dh
      .sync()
      .catch(() => undefined)
      .finally(() => dh.close());
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** `value` as resume data if it has exactly the expected shape, else undefined. */
export function parseResumeData(value: unknown): ResumeData | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const d = value as Record<string, unknown>;
  if (d.version !== 1 || typeof d.infoHash !== 'string' || !/^[0-9a-f]{40}$/.test(d.infoHash)) return undefined;
  if (!isCount(d.pieceCount) || typeof d.have !== 'string' || !Array.isArray(d.files)) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(d.have)) return undefined;
  for (const f of d.files as unknown[]) {
    if (typeof f !== 'object' || f === null) return undefined;
    const e = f as Record<string, unknown>;
    if (typeof e.path !== 'string' || !isCount(e.size)) return undefined;
    if (typeof e.mtimeMs !== 'number' || !Number.isFinite(e.mtimeMs) || e.mtimeMs < 0) return undefined;
  }
  return d as unknown as ResumeData;
}

/**
 * The verified pieces recorded in the resume file, if it exists, has the right shape, belongs to this
 * torrent, every file matches its record, and every file a claimed piece touches holds that piece's
 * bytes; otherwise null (and the caller checks by hash). Never throws.
 */
export async function loadResume(path: string, meta: Metainfo, files: FileStat[]): Promise<Bitfield | null> {
  let data: ResumeData | undefined;
  try {
    data = parseResumeData(JSON.parse(await readFile(path, 'utf8')));
  } catch {
    return null;
  }
  if (!data || data.infoHash !== meta.infoHashHex || data.pieceCount !== meta.pieceCount) return null;
  if (data.files.length !== files.length) return null;
  for (let i = 0; i < files.length; i++) {
    const want = data.files[i]!;
    const got = files[i]!;
    if (want.path !== got.path || want.size !== got.size || want.mtimeMs !== got.mtimeMs) return null;
  }
  let have: Bitfield;
  try {
    have = Bitfield.fromBytes(Buffer.from(data.have, 'base64'), meta.pieceCount);
  } catch {
    return null;
  }
  return claimsHold(meta, have, files) ? have : null;
}

/** Every file that a piece in `have` touches exists and reaches at least the end of that piece's bytes. */
function claimsHold(meta: Metainfo, have: Bitfield, files: FileStat[]): boolean {
  const stats = new Map(files.map((f) => [f.fileIndex, f]));
  const total = meta.length;
  let fi = 0;
  for (const index of have.setBits()) {
    const start = index * meta.pieceLength;
    const end = Math.min(start + meta.pieceLength, total);
    // Files are in offset order and claimed pieces ascend: the scan resumes where it stopped.
    while (fi < meta.files.length && meta.files[fi]!.offset + meta.files[fi]!.length <= start) fi++;
    for (let k = fi; k < meta.files.length; k++) {
      const f = meta.files[k]!;
      if (f.offset >= end) break;
      if (f.length === 0 || f.padding) continue;
      const st = stats.get(k);
      if (!st || !st.exists || st.size < Math.min(f.length, end - f.offset)) return false;
    }
  }
  return true;
}

/** The file priorities a selection file may hold (as the torrent statechart names them). */
export const SELECTION_PRIORITIES = ['skip', 'low', 'normal', 'high'] as const;
export type SelectionPriority = (typeof SELECTION_PRIORITIES)[number];

/** Most entries a selection file may have (a torrent with more files keeps the rest at `normal`). */
export const MAX_SELECTION_FILES = 1 << 20;

/**
 * Where the file selection of a torrent is kept (`<dir>/.bt-actor/<info hash>.selection.json`): the
 * priority of each file as last set through `add`'s `filePriorities`, `setPriority`, `select` or
 * `deselect`, so that a restart without `filePriorities` downloads what the last run was told to.
 */
export function selectionPath(dir: string, infoHashHex: string): string {
  return join(dir, RESERVED_NAME, `${infoHashHex}.selection.json`);
}

/** Writes the selection file atomically (temporary file, rename): `{ version: 1, infoHash, files }`. */
export async function saveSelection(
  path: string,
  infoHashHex: string,
  files: readonly SelectionPriority[],
): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify({ version: 1, infoHash: infoHashHex, files }));
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/** `value` as a selection of this torrent if it has exactly the expected shape, else undefined. */
export function parseSelection(value: unknown, infoHashHex: string): SelectionPriority[] | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const d = value as Record<string, unknown>;
  if (d.version !== 1 || d.infoHash !== infoHashHex || !Array.isArray(d.files)) return undefined;
  if (d.files.length > MAX_SELECTION_FILES) return undefined;
  for (const p of d.files as unknown[]) if (!SELECTION_PRIORITIES.includes(p as SelectionPriority)) return undefined;
  return d.files as SelectionPriority[];
}

/**
 * The selection saved for this torrent, if the file exists, is not absurdly long and has the right shape;
 * otherwise undefined (every file at its default). Never throws.
 */
export async function loadSelection(path: string, infoHashHex: string): Promise<SelectionPriority[] | undefined> {
  try {
    const text = await readFile(path, 'utf8');
    if (text.length > 2 * MAX_SELECTION_FILES * 10) return undefined;
    return parseSelection(JSON.parse(text), infoHashHex);
  } catch {
    return undefined;
  }
}
