/**
 * The real CLI in a pseudo-terminal (test/support/pty-run.py: python3's pty module, a real tty with a
 * size and SIGWINCH), its output replayed on a terminal emulator with autowrap
 * (test/support/terminal.ts): the progress line never wider than the terminal, no progress line
 * left behind, the last frame at 100.0% before the summary — at 80 columns, and after a resize to 40.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Terminal, textWidth } from '../support/terminal.js';

const BIN = join(import.meta.dirname, '../../bin/bt-actor.js');
const PTY = join(import.meta.dirname, '../support/pty-run.py');

/** Runs `bt-actor ARGS` in a pty of `columns` × 24; resolves to its exit code and raw output. */
function inPty(columns: number, args: string[], resize?: { after: string; columns: number }) {
  const opts = resize ? ['--resize-after', resize.after, '--resize-cols', String(resize.columns)] : [];
  return new Promise<{ code: number; output: string }>((resolve, reject) => {
    execFile(
      'python3',
      [PTY, String(columns), '24', '100', ...opts, '--', process.execPath, BIN, ...args],
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000, killSignal: 'SIGKILL' },
      (err, stdout) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && typeof err.code !== 'number') reject(err);
        else resolve({ code, output: stdout });
      },
    );
  });
}

/** A progress frame: its bar (there is one from 20 columns up). */
const PROGRESS = /\[[#-]+\]/;

/** Every frame drawn (the text between a `\r` or `\n` and the next), with the terminal's width then. */
function frames(output: string, columns: number): { text: string; columns: number }[] {
  const out: { text: string; columns: number }[] = [];
  for (const part of output.split(/\0RESIZE:(\d+)\0/).entries()) {
    const [i, text] = part;
    if (i % 2 === 1) {
      columns = Number(text);
      continue;
    }
    for (const f of text.split(/[\r\n]/)) {
      // eslint-disable-next-line no-control-regex
      const plain = f.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
      if (PROGRESS.test(plain)) out.push({ text: plain, columns });
    }
  }
  return out;
}

/** The output replayed on the emulator (resized where the pty was). */
function replay(output: string, columns: number): Terminal {
  const term = new Terminal(columns);
  output.split(/\0RESIZE:(\d+)\0/).forEach((text, i) => (i % 2 === 1 ? term.resize(Number(text)) : term.write(text)));
  return term;
}

describe('bt-actor demo in an 80-column terminal', () => {
  it('one progress line, never wider than 80 columns, at 100.0% before the summary; nothing left behind', async () => {
    const r = await inPty(80, ['demo', '--size', '32', '--seeders', '1']);
    expect(r.code).toBe(0);
    const fs = frames(r.output, 80);
    // A frame every 250 ms and the last one: however fast this machine downloads, more than one.
    expect(fs.length).toBeGreaterThan(1);
    for (const f of fs) expect(textWidth(f.text), f.text).toBeLessThan(80);
    const term = replay(r.output, 80);
    expect(term.unknown).toEqual([]);
    const screen = term.screen();
    const progress = screen.filter((l) => PROGRESS.test(l));
    expect(progress, screen.join('\n')).toHaveLength(1);
    expect(progress[0]).toMatch(/^\[#+\] +100\.0% +32\.0 MiB\/32\.0 MiB {2}↓ +[\d.]+ [KM]iB\/s/);
    // The summary right below it: what was downloaded, in how long, uploaded and ratio.
    const at = screen.indexOf(progress[0]!);
    expect(screen[at + 1]).toMatch(/^bt-actor demo set: complete → .*download$/);
    expect(screen[at + 2]).toMatch(
      /^ {2}downloaded 32\.0 MiB in [\d.]+ s \([\d.]+ [KM]iB\/s\); uploaded [\d.]+ [KM]?i?B \(ratio [\d.]+\)$/,
    );
    // Then the demo's own last line (wrapped: it is longer than 80 columns, as text may be).
    expect(screen.slice(at + 3).join('')).toMatch(/^verified: all \d+ files are byte-identical/);
  }, 150_000);

  it('resized to 40 columns mid-download: the line is laid out again for 40', async () => {
    const r = await inPty(80, ['demo', '--size', '16', '--seeders', '1'], { after: 'ETA', columns: 40 });
    expect(r.code).toBe(0);
    expect(r.output).toContain('\0RESIZE:40\0');
    const fs = frames(r.output, 80);
    // Frames drawn before the program saw the resize may still be 80 wide; from the first narrow
    // one on, every frame fits in 40.
    const first = fs.findIndex((f) => f.columns === 40 && textWidth(f.text) < 40);
    expect(first).toBeGreaterThan(0);
    for (const f of fs.slice(first)) expect(textWidth(f.text), f.text).toBeLessThan(40);
    const screen = replay(r.output, 80).screen();
    const progress = screen.filter((l) => PROGRESS.test(l));
    expect(progress, screen.join('\n')).toHaveLength(1);
    expect(progress[0]).toMatch(/^\[#{10}\] +100\.0% {2}↓ +[\d.]+ [KM]iB\/s$/);
  }, 150_000);
});
