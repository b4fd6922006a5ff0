/**
 * Turns the file names a .torrent gives into a layout that is safe to write: every path stays inside
 * the download folder, every element is a legal name, and no two files share a path. Rules learnt
 * from libtorrent's `sanitize_append_path_element` and `resolve_duplicate_filenames` (its behaviour
 * is the reference the libtorrent corpus test checks), written anew; docs/metainfo.md lists them.
 *
 * Pure: no file system. The info hash never depends on any of this (it is taken from the raw bytes).
 */
import { strictText, text } from './bencode.js';

/**
 * Which file systems a layout must suit. `posix` (Linux, macOS, BSD) allows every character but '/'
 * and NUL; `windows` also forbids `<>:"|?*`, trailing spaces and dots, and device names (CON, NUL…).
 */
export type PathRules = 'posix' | 'windows';

/** The rules of the platform this code runs on (`windows` on win32, else `posix`). */
export function platformPathRules(): PathRules {
  const platform = (globalThis as { process?: { platform?: string } }).process?.platform;
  return platform === 'win32' ? 'windows' : 'posix';
}

/** Longest element written, in UTF-8 bytes (ext4, APFS, NTFS and most others stop at 255). */
export const MAX_ELEMENT_BYTES = 255;
/** Paths deeper than this many elements are refused, as libtorrent (`max_directory_depth`). */
export const MAX_PATH_DEPTH = 100;
/** Renaming gives up (the torrent is refused) after this many taken candidate names, as libtorrent. */
export const MAX_DUPLICATE_COLLISIONS = 500;

/** Why an element was changed; the words appear in `bt-actor info`'s warnings. */
export type ElementFix =
  | 'not UTF-8'
  | 'separator'
  | 'control character'
  | 'invisible character'
  | 'dot name'
  | 'reserved character'
  | 'trailing dot or space'
  | 'device name'
  | 'too long';

/** The result of sanitizing one element: `null` value means the element is dropped. */
export interface SanitizedElement {
  value: string | null;
  fixes: ElementFix[];
  /** True when nothing usable was left and `_` stands in (a name then becomes the info hash). */
  placeholder: boolean;
}

// Zero-width, invisible and direction-changing characters: removed, as libtorrent does, so a name
// cannot pose as another ('evil\u202Etxt.exe' shown as 'evilexe.txt').
const INVISIBLE = /[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/u;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
const WINDOWS_RESERVED_CHAR = /[<>:"|?*]/u;
const WINDOWS_DEVICE = /^(con|prn|aux|nul|clock\$|conin\$|conout\$|com[0-9¹²³]|lpt[0-9¹²³])(\.|$)/iu;

/**
 * Sanitizes one path element of a file (`force`: an element that sanitizes to nothing becomes `_`).
 * An element that is empty or `.` in the torrent is dropped (`value: null`): `a//b` and `a/./b` mean
 * `a/b`. `raw` may be the torrent's bytes (invalid UTF-8 sequences become `_`) or decoded text.
 *
 * @example
 * sanitizeElement('..').value;          // '_'
 * sanitizeElement('abc/../def').value;  // 'abc....def'
 * sanitizeElement('').value;            // null (dropped)
 */
export function sanitizeElement(raw: Uint8Array | string, rules: PathRules = 'posix'): SanitizedElement {
  const fixes = new Set<ElementFix>();
  let input: string;
  if (typeof raw === 'string') input = raw;
  else {
    const strict = strictText(raw);
    if (strict !== null) input = strict;
    else {
      fixes.add('not UTF-8');
      input = text(raw).replace(/\ufffd/gu, '_');
    }
  }
  if (input === '' || input === '.') return { value: null, fixes: [...fixes], placeholder: false };
  let out = '';
  for (const ch of input) {
    if (ch === '/' || ch === '\\') fixes.add('separator');
    else if (INVISIBLE.test(ch)) fixes.add('invisible character');
    else if (CONTROL.test(ch)) {
      fixes.add('control character');
      out += '_';
    } else if (rules === 'windows' && WINDOWS_RESERVED_CHAR.test(ch)) {
      fixes.add('reserved character');
      out += '_';
    } else out += ch;
  }
  const filtered = out;
  out = legalName(out, rules, fixes);
  const placeholder = out === '_' && filtered !== '_';
  if (utf8Length(out) > MAX_ELEMENT_BYTES) {
    fixes.add('too long');
    out = legalName(fitName(out, ''), rules, fixes);
  }
  return { value: out, fixes: [...fixes], placeholder };
}

/** Trailing dots and spaces (Windows), names of dots only, device names (Windows). */
function legalName(name: string, rules: PathRules, fixes: Set<ElementFix>): string {
  let out = name;
  if (rules === 'windows') {
    const trimmed = out.replace(/[. ]+$/u, '');
    if (trimmed !== out) {
      fixes.add('trailing dot or space');
      out = trimmed;
    }
  }
  if (out === '' || out === '.' || out === '..') {
    // '..' (or what became empty or dots only) would name the folder itself or its parent.
    if (out !== '') fixes.add('dot name'); // an empty result was a separator or invisible character
    out = '_';
  }
  if (rules === 'windows' && WINDOWS_DEVICE.test(out)) {
    fixes.add('device name');
    out = `_${out}`;
  }
  return out;
}

/**
 * Returns `element` with `suffix` inserted before its extension, cut on a character boundary so the
 * result fits {@link MAX_ELEMENT_BYTES} (the extension, up to 16 bytes, is kept).
 */
export function fitName(element: string, suffix: string): string {
  const dot = element.lastIndexOf('.');
  let ext = dot > 0 ? element.slice(dot) : '';
  if (utf8Length(ext) > 16) ext = '';
  let base = ext === '' ? element : element.slice(0, dot);
  const room = MAX_ELEMENT_BYTES - utf8Length(ext) - utf8Length(suffix);
  if (utf8Length(base) > room) base = cutUtf8(base, room);
  const fitted = base + suffix + ext;
  // A cut may leave a name of dots only (or nothing): keep it a plain name.
  return fitted === '' || fitted === '.' || fitted === '..' ? '_' : fitted;
}

/** UTF-8 length of `s` (a lone surrogate counts 3, as TextEncoder writes it as U+FFFD). */
export function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

function cutUtf8(s: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = utf8Length(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** One file's path elements for {@link resolveDuplicates}; `stored: false` entries never touch disk. */
export interface LayoutEntry {
  path: string[];
  stored: boolean;
}

/**
 * Renames stored files whose path (compared as macOS and Windows compare names: case and Unicode
 * normalisation folded) is taken by an earlier file or is a folder of any file: `bar.txt` becomes
 * `bar.1.txt`, then `bar.2.txt`…, as libtorrent does. Returns the new paths by index, or `null` when
 * more than {@link MAX_DUPLICATE_COLLISIONS} candidate names were taken (a hostile torrent).
 */
export function resolveDuplicates(entries: readonly LayoutEntry[]): Map<number, string[]> | null {
  // Names are keyed by their folder's id and their folded name, so the work is linear in the bytes of
  // the paths however deep they go (a path is never joined whole for each of its folders).
  const folders = new Map<string, number>();
  const files = new Set<string>();
  const key = (parent: number, name: string) => `${parent}/${foldPath(name)}`;
  const folderOf = (path: readonly string[]): number => {
    let id = 0;
    for (const name of path.slice(0, -1)) {
      const k = key(id, name);
      let next = folders.get(k);
      if (next === undefined) folders.set(k, (next = folders.size + 1));
      id = next;
    }
    return id;
  };
  // Folders first, so no file can take the name of a folder another file needs.
  const parents = entries.map((e) => (e.stored ? folderOf(e.path) : 0));
  const taken = (k: string) => folders.has(k) || files.has(k);
  const renamed = new Map<number, string[]>();
  let collisions = 0;
  for (const [i, e] of entries.entries()) {
    if (!e.stored) continue;
    const last = e.path[e.path.length - 1]!;
    if (!taken(key(parents[i]!, last))) {
      files.add(key(parents[i]!, last));
      continue;
    }
    for (let n = 1; ; n++) {
      const candidate = fitName(last, `.${n}`);
      if (!taken(key(parents[i]!, candidate))) {
        files.add(key(parents[i]!, candidate));
        renamed.set(i, [...e.path.slice(0, -1), candidate]);
        break;
      }
      if (++collisions > MAX_DUPLICATE_COLLISIONS) return null;
    }
  }
  return renamed;
}

/** A path as case-insensitive, normalisation-insensitive file systems see it (NFC, lower case). */
export function foldPath(path: string): string {
  return path.normalize('NFC').toLowerCase();
}
