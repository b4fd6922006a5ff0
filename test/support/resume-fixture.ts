/**
 * The torrent the resume-file tests use: two files ('a', 40,000 bytes, and 'b', 10 bytes) in three
 * 16 KiB pieces, and their stats on disk as `Storage.fileStats()` would give them.
 */
import type { FileStat } from '../../src/io/storage.js';
import { encodeTorrent } from '../../src/protocol/metainfo-encode.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';

export const resumeMeta = parseMetainfo(
  encodeTorrent({
    name: 'r',
    multiFile: true,
    files: [
      { path: ['a'], length: 40000 },
      { path: ['b'], length: 10 },
    ],
    pieceLength: 16384,
    pieces: new Uint8Array(60),
  }),
);

export const resumeFiles: FileStat[] = [
  { fileIndex: 0, path: 'a', exists: true, size: 40000, mtimeMs: 1000.5 },
  { fileIndex: 1, path: 'b', exists: true, size: 10, mtimeMs: 2000 },
];
