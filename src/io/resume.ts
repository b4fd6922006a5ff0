/**
 * The resume file: which pieces were verified, and the size and mtime of every file when that was
 * recorded. Written atomically (temporary file, then rename). On start it is trusted only when every
 * file on disk still has the recorded size and mtime; otherwise the data is checked by hash.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Bitfield } from '../protocol/bitfield.js';
import type { Metainfo } from '../protocol/metainfo.js';
import type { FileStat } from './storage.js';

export interface ResumeData {
  version: 1;
  infoHash: string;
  pieceCount: number;
  /** Base64 of the verified-piece bitfield. */
  have: string;
  files: { path: string; size: number; mtimeMs: number }[];
}

/** Where the resume file of `meta` lives: `<dir>/.bt-actor/<info hash>.resume.json`. */
export function resumePath(dir: string, meta: Metainfo): string {
  return join(dir, '.bt-actor', `${meta.infoHashHex}.resume.json`);
}

export async function saveResume(path: string, meta: Metainfo, have: Bitfield, files: FileStat[]): Promise<void> {
  const data: ResumeData = {
    version: 1,
    infoHash: meta.infoHashHex,
    pieceCount: meta.pieceCount,
    have: Buffer.from(have.toBytes()).toString('base64'),
    files: files.map((f) => ({ path: f.path, size: f.size, mtimeMs: f.mtimeMs })),
  };
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(data));
  await rename(tmp, path);
}

/**
 * The verified pieces recorded in the resume file, if it exists, belongs to this torrent and every
 * file on disk matches it (size and mtime); otherwise null (and the caller checks by hash).
 */
export async function loadResume(path: string, meta: Metainfo, files: FileStat[]): Promise<Bitfield | null> {
  let data: ResumeData;
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as ResumeData;
  } catch {
    return null;
  }
  if (data?.version !== 1 || data.infoHash !== meta.infoHashHex || data.pieceCount !== meta.pieceCount) return null;
  if (!Array.isArray(data.files) || data.files.length !== files.length) return null;
  for (let i = 0; i < files.length; i++) {
    const want = data.files[i]!;
    const got = files[i]!;
    if (want.path !== got.path || want.size !== got.size || want.mtimeMs !== got.mtimeMs) return null;
  }
  try {
    return Bitfield.fromBytes(Buffer.from(data.have, 'base64'), meta.pieceCount);
  } catch {
    return null;
  }
}
