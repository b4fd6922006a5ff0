// The documentation's code compiles against the published types, as a user's project would compile it:
// every ```ts block of README.md and docs/api.md (and any docs page's block importing 'bt-actor') is
// written out as a module of its own, and `tsc` compiles them together with examples/embed.mjs
// (JavaScript, its JSDoc types checked) under `strict`, without skipLibCheck, with @types/node, 'bt-actor'
// resolving to the built dist/index.d.ts through the package's own `exports` (a self-reference, as
// from a project that installed it). An error is reported at its line in the Markdown.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

interface Block {
  /** The Markdown file (relative to the repository) and the line of the block's first code line. */
  doc: string;
  line: number;
  code: string;
}

/** The ```ts blocks of a Markdown text, with the line each one's code starts on. */
function tsBlocks(doc: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```ts\s*$/.test(lines[i]!)) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    blocks.push({ doc, line: start + 1, code: lines.slice(start, end).join('\n') });
    i = end;
  }
  return blocks;
}

async function docBlocks(): Promise<Block[]> {
  const always = ['README.md', 'docs/api.md'];
  const pages = (await readdir(join(root, 'docs'), { recursive: true }))
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f))
    .filter((f) => !always.includes(f));
  const blocks: Block[] = [];
  for (const doc of [...always, ...pages.sort()]) {
    const found = tsBlocks(doc, await readFile(join(root, doc), 'utf8'));
    // Other pages also sketch internals in ```ts; those importing the package are library examples.
    blocks.push(...(always.includes(doc) ? found : found.filter((b) => b.code.includes("from 'bt-actor'"))));
  }
  return blocks;
}

describe('the documentation compiles against the published types', () => {
  it('tsBlocks finds each ```ts block and the line its code starts on', () => {
    const md = ['# t', '```ts', 'const a = 1;', '```', 'text', '```sh', 'ls', '```', '```ts', 'b();', 'c();', '```'];
    expect(tsBlocks('x.md', md.join('\n'))).toEqual([
      { doc: 'x.md', line: 3, code: 'const a = 1;' },
      { doc: 'x.md', line: 10, code: 'b();\nc();' },
    ]);
  });

  it('every example of README.md and docs/api.md, and examples/embed.mjs, type-checks (strict, no skipLibCheck)', async () => {
    const blocks = await docBlocks();
    expect(blocks.filter((b) => b.doc === 'README.md').length).toBeGreaterThan(0);
    expect(blocks.filter((b) => b.doc === 'docs/api.md').length).toBeGreaterThan(2);
    // Inside the package (its tmp/ is git-ignored), so that 'bt-actor' is the package's self-reference.
    await mkdir(join(root, 'tmp'), { recursive: true });
    const dir = await mkdtemp(join(root, 'tmp', 'docs-types-'));
    try {
      const files = new Map<string, Block>();
      for (const [i, b] of blocks.entries()) {
        const name = `${b.doc.replace(/[^a-z0-9]+/gi, '-')}-${i}.ts`;
        files.set(name, b);
        // Each block is a module of its own: what it uses, it imports.
        await writeFile(join(dir, name), `${b.code}\nexport {};\n`);
      }
      const example = join(root, 'examples', 'embed.mjs');
      const tsconfig = {
        compilerOptions: {
          strict: true,
          skipLibCheck: false,
          target: 'ES2022',
          lib: ['ES2023'],
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          allowJs: true,
          checkJs: true,
          noEmit: true,
        },
        files: [...files.keys(), relative(dir, example)],
      };
      await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const out = await promisify(execFile)(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], {
        cwd: dir,
        timeout: 90_000,
      }).then(
        () => '',
        (err: { stdout?: string; message: string }) => err.stdout || err.message,
      );
      // Errors at their place in the Markdown: `docs/api.md:57:7 error TS2339: …`.
      const report = out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          const m = /^([^(]+)\((\d+),(\d+)\): (.*)$/.exec(l);
          const b = m && files.get(m[1]!);
          return b ? `${b.doc}:${b.line + Number(m[2]) - 1}:${m[3]} ${m[4]}` : l;
        });
      expect(report).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
