// Every ```ts example of docs/api.md runs (issue 17: "every example in docs/api.md runs in a test").
// docs-types.test.ts compiles them against the published types; here each one is compiled to a module
// (TypeScript's transpileModule) and run by Node, importing 'bt-actor' through the package's own
// `exports` (the built dist/), in a folder holding the .torrent files the examples name. Those
// torrents announce to a local HTTP tracker on 127.0.0.1, where a seeder engine of this test holds each
// of them: an example's engine finds its peers as a user's would, through the tracker. Each example
// must end by itself (exit 0, nothing on stderr) within its time; a `console.log(…); // text` line
// whose comment is a literal result is checked against what it printed.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import { createTorrent } from '../../src/io/create-torrent.js';
import { startLocalTracker, type LocalTracker } from '../../src/io/local-tracker.js';

const root = join(import.meta.dirname, '..', '..');

interface Example {
  line: number;
  code: string;
}

/** The ```ts blocks of a Markdown text, with the line each one's code starts on. */
function tsBlocks(text: string): Example[] {
  const blocks: Example[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

/**
 * The results an example states: `console.log(x); // 1000` — a comment that is a literal (a number, a
 * word, or an object or list written as Node prints it), not prose. In the order they are logged.
 */
function statedResults(code: string): string[] {
  const found: string[] = [];
  for (const line of code.split('\n')) {
    const m = /^\s*console\.log\(.*\);\s*\/\/\s*(.+)$/.exec(line);
    if (!m) continue;
    const said = m[1]!.trim();
    if (/^(\{.*\}|\[.*\]|-?\d+|\w+)(\s+(\{.*\}|\[.*\]|-?\d+|\w+))*$/.test(said) && !/\s—\s|:\s\w+\s\w+/.test(said))
      found.push(said);
  }
  return found;
}

let work: string;
let tracker: LocalTracker;
const seeders: Engine[] = [];

beforeAll(async () => {
  // Inside the package (tmp/ is git-ignored), so that 'bt-actor' resolves to this package.
  await mkdir(join(root, 'tmp'), { recursive: true });
  work = await mkdtemp(join(root, 'tmp', 'docs-examples-'));
  tracker = await startLocalTracker({ interval: 5 });
  const src = join(work, 'seed');
  await mkdir(join(src, 'show'), { recursive: true });
  await writeFile(join(src, 'file.bin'), randomBytes(300_000));
  for (const [name, size] of [
    ['e01.mkv', 200_000],
    ['e02.mkv', 250_000],
    ['e03.mkv', 150_000],
  ] as const)
    await writeFile(join(src, 'show', name), randomBytes(size));
  await writeFile(join(src, 'big.bin'), randomBytes(2 * 1024 * 1024));
  const announce = [[tracker.url]];
  const seeder = await Engine.create({ port: 0, host: '127.0.0.1' });
  seeders.push(seeder);
  for (const [file, name] of [
    ['file.bin', 'file.torrent'],
    ['show', 'show.torrent'],
    ['big.bin', 'big.torrent'],
  ] as const) {
    const { torrent } = await createTorrent(join(src, file), { pieceLength: 64 * 1024, announce });
    await writeFile(join(work, name), torrent);
    await (
      await seeder.add(torrent, { dir: src })
    ).completed;
  }
}, 60_000);

afterAll(async () => {
  await Promise.all(seeders.map((s) => s.close()));
  await tracker?.close();
  await rm(work, { recursive: true, force: true });
});

describe('the examples of docs/api.md run', () => {
  it('statedResults reads literal results, not prose', () => {
    const code = [
      'console.log(bytes); // 1000',
      'console.log(engine.encryption); // prefer',
      'console.log(a, b); // { down: 1, up: 2 } { down: 3, up: 4 }',
      'console.log(inspection.url); // http://127.0.0.1:<port>/ — the live inspector page',
      "console.log(t.actor?.getSnapshot().value); // the statechart's state, while it runs",
    ].join('\n');
    expect(statedResults(code)).toEqual(['1000', 'prefer', '{ down: 1, up: 2 } { down: 3, up: 4 }']);
  });

  it('every ```ts block of docs/api.md, compiled and run by Node against the built package, ends with exit 0 and prints what it says', async () => {
    const examples = tsBlocks(await readFile(join(root, 'docs', 'api.md'), 'utf8'));
    expect(examples.length).toBeGreaterThanOrEqual(8);
    const failures: string[] = [];
    for (const ex of examples) {
      const js = ts.transpileModule(ex.code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const file = join(work, `example-${ex.line}.mjs`);
      await writeFile(file, js);
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
        const child = execFile(process.execPath, [file], { cwd: work, timeout: 60_000 }, (err, stdout, stderr) =>
          done({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
        );
        child.stdin?.end();
      });
      const where = `docs/api.md:${ex.line}`;
      if (r.code !== 0 || r.stderr.trim() !== '') {
        failures.push(`${where}: exit ${String(r.code)}: ${r.stderr.trim().split('\n').slice(0, 5).join(' | ')}`);
        continue;
      }
      // Node may break a long object over lines: compared with all white space as one space.
      const out = ` ${r.stdout.replace(/\s+/g, ' ')} `;
      for (const said of statedResults(ex.code))
        if (!out.includes(` ${said.replace(/\s+/g, ' ')} `))
          failures.push(`${where}: printed nothing like '${said}' (it printed: …${out.slice(-300)})`);
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
