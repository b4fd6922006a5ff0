/**
 * BEP 19 web seeds (`url-list`): where the bytes of a piece live on an HTTP(S) server, and the contract
 * between the web seed statechart (src/machines/webseed) and its fetch effect (src/io/webseed-http.ts).
 * Pure.
 *
 * A single-file torrent is the file at the URL itself (or at URL + name when the URL ends with `/`); a
 * multi-file torrent's file is at URL + `/` + name + `/` + its path elements, each URL-encoded. A piece
 * that spans files is several ranges; the bytes of BEP 47 padding files are zeros and never requested.
 *
 * @example
 * ```ts
 * const layout = webSeedLayoutOf(meta);
 * webSeedRanges('http://host/pub/', layout, 0, 32768);
 * // [{ url: 'http://host/pub/name/a%20b.bin', start: 0, length: 20000, padding: false }, …]
 * ```
 */
import { BtError } from './errors.js';

/** What a web seed needs to know of the torrent's files (the names as the torrent gives them). */
export interface WebSeedLayout {
  name: string;
  multiFile: boolean;
  files: readonly { path: readonly string[]; length: number; padding: boolean }[];
}

/** One HTTP range of a piece: `length` bytes at `start` of the file at `url` (or zeros, for padding). */
export interface WebSeedRange {
  url: string;
  start: number;
  length: number;
  padding: boolean;
}

/** The input of the fetch effect: the ranges of one piece, `length` bytes in all. */
export interface WebSeedFetchInput {
  ranges: readonly WebSeedRange[];
  length: number;
  /** The web seed's URL (as in `url-list`): whose kept-alive connections the fetch may reuse. */
  seed?: string;
}

/** The input of a web seed's connections effect: it lives as long as the web seed does. */
export interface WebSeedConnectionsInput {
  seed: string;
}

/** The most web seeds a torrent uses (the rest of its `url-list` is ignored). */
export const MAX_WEB_SEEDS = 8;

/** The key a web seed goes by in the torrent and its picker (never a peer's `host:port`). */
export const webSeedKey = (url: string): string => `ws:${url}`;

/** The layout of a parsed torrent (the torrent's own names, not the ones sanitized for the disk). */
export function webSeedLayoutOf(meta: {
  name: string;
  originalName?: string;
  multiFile: boolean;
  files: readonly { path: string[]; originalPath?: string[]; length: number; padding: boolean }[];
}): WebSeedLayout {
  return {
    name: meta.originalName ?? meta.name,
    multiFile: meta.multiFile,
    files: meta.files.map((f) => ({ path: f.originalPath ?? f.path, length: f.length, padding: f.padding })),
  };
}

/** Web seed URLs a torrent may use: http(s) only, each once, at most {@link MAX_WEB_SEEDS}. */
export function usableWebSeeds(urls: readonly string[]): string[] {
  const out: string[] = [];
  for (const u of urls) {
    if (out.length >= MAX_WEB_SEEDS) break;
    if (!/^https?:\/\/[^/]/i.test(u) || out.includes(u)) continue;
    out.push(u);
  }
  return out;
}

/** The URL of file `index` of the layout on the web seed at `base` (BEP 19). */
export function webSeedFileUrl(base: string, layout: WebSeedLayout, index: number): string {
  if (!layout.multiFile) return base.endsWith('/') ? base + encodeURIComponent(layout.name) : base;
  const file = layout.files[index];
  if (!file) throw new BtError('BT_ERR_WEBSEED_RANGE', `no file ${index}`);
  const dir = base.endsWith('/') ? base : `${base}/`;
  return dir + [layout.name, ...file.path].map((e) => encodeURIComponent(e)).join('/');
}

/**
 * The ranges holding bytes `[offset, offset + length)` of the torrent, in order: one per file the span
 * touches (empty files skipped). Throws `BT_ERR_WEBSEED_RANGE` for a span outside the files.
 */
export function webSeedRanges(base: string, layout: WebSeedLayout, offset: number, length: number): WebSeedRange[] {
  const total = layout.files.reduce((n, f) => n + f.length, 0);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length <= 0)
    throw new BtError('BT_ERR_WEBSEED_RANGE', `invalid span ${offset}+${length}`);
  if (offset + length > total)
    throw new BtError('BT_ERR_WEBSEED_RANGE', `span ${offset}+${length} past the end of the files (${total})`);
  const out: WebSeedRange[] = [];
  let fileStart = 0;
  const end = offset + length;
  for (let i = 0; i < layout.files.length && fileStart < end; i++) {
    const f = layout.files[i]!;
    const fileEnd = fileStart + f.length;
    const from = Math.max(offset, fileStart);
    const to = Math.min(end, fileEnd);
    if (to > from)
      out.push({
        url: f.padding ? '' : webSeedFileUrl(base, layout, i),
        start: from - fileStart,
        length: to - from,
        padding: f.padding,
      });
    fileStart = fileEnd;
  }
  return out;
}
