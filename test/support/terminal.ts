/**
 * A tiny terminal emulator for tests of what the CLI draws: a screen `columns` wide with autowrap (a
 * character that does not fit on the row goes to the next one, as every terminal does — this is how a
 * progress line too long leaves rows behind), `\r`, `\n` (as a terminal with `onlcr` shows it: new row,
 * column 0), `ESC[K` / `ESC[0K` (erase to the end of the row), `ESC[2K` (erase the row), and a resize
 * (rows cut to the new width, as xterm does). Anything else is recorded in `unknown`.
 *
 * Widths are its own (independent of src/app/display.ts): CJK and emoji count 2 columns, combining marks 0.
 */
const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });
const WIDE =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3000-\u303e\uff01-\uff60\p{Extended_Pictographic}]/u;

export function cellWidth(grapheme: string): number {
  if (/^\p{M}/u.test(grapheme)) return 0;
  return WIDE.test(grapheme) ? 2 : 1;
}

/** Columns `text` takes (no control sequences in it). */
export function textWidth(text: string): number {
  let w = 0;
  for (const { segment } of graphemes.segment(text)) w += cellWidth(segment);
  return w;
}

export class Terminal {
  /** Each row: one entry per column (a wide character's second column holds ''). */
  rows: string[][] = [[]];
  row = 0;
  col = 0;
  /** Times a character did not fit and went to the next row. */
  wraps = 0;
  /** Escape sequences this emulator does not know. */
  unknown: string[] = [];

  constructor(public columns: number) {}

  write(data: string): void {
    let i = 0;
    while (i < data.length) {
      const ch = data[i]!;
      if (ch === '\r') {
        this.col = 0;
        i++;
      } else if (ch === '\n') {
        this.newRow();
        i++;
      } else if (ch === '\x1b') {
        // eslint-disable-next-line no-control-regex
        const m = /^\x1b\[([0-9;]*)([A-Za-z])/.exec(data.slice(i));
        if (m && m[2] === 'K' && (m[1] === '' || m[1] === '0')) this.cur().splice(this.col);
        else if (m && m[2] === 'K' && m[1] === '2') this.rows[this.row] = [];
        else this.unknown.push(m ? m[0] : data.slice(i, i + 8));
        i += m ? m[0].length : 1;
      } else {
        // The next grapheme of printable text.
        const rest = data.slice(i);
        // eslint-disable-next-line no-control-regex
        const end = rest.search(/[\r\n\x1b]/);
        const text = end < 0 ? rest : rest.slice(0, end);
        for (const { segment } of graphemes.segment(text)) this.put(segment);
        i += text.length;
      }
    }
  }

  /** The terminal is made `columns` wide: rows are cut to it. */
  resize(columns: number): void {
    this.columns = columns;
    for (const r of this.rows) r.splice(columns);
    this.col = Math.min(this.col, columns - 1);
  }

  /** The rows as text, trailing blanks trimmed, trailing empty rows dropped. */
  screen(): string[] {
    const lines = this.rows.map((r) =>
      r
        .map((c) => c)
        .join('')
        .trimEnd(),
    );
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines;
  }

  private cur(): string[] {
    return this.rows[this.row]!;
  }

  private newRow(): void {
    this.row++;
    this.col = 0;
    this.rows[this.row] ??= [];
  }

  private put(g: string): void {
    const w = cellWidth(g);
    if (w === 0) {
      const r = this.cur();
      if (this.col > 0) r[this.col - 1] += g;
      return;
    }
    if (this.col + w > this.columns) {
      this.wraps++;
      this.newRow();
    }
    const r = this.cur();
    while (r.length < this.col) r.push(' ');
    r[this.col] = g;
    if (w === 2) r[this.col + 1] = '';
    this.col += w;
  }
}
