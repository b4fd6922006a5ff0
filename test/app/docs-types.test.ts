// The documentation's code compiles against the published types, as a user's project would compile it:
// every ```ts block of README.md and docs/api.md (and any docs page's block importing 'bt-actor') is
// written out as a module of its own, and `tsc` compiles them together with examples/embed.mjs
// (JavaScript, its JSDoc types checked) under `strict`, without skipLibCheck, with @types/node, 'bt-actor'
// resolving to the built dist/index.d.ts through the package's own `exports` (a self-reference, as
// from a project that installed it). An error is reported at its line in the Markdown. Beside them, a
// generated module asserts that docs/api.md's tables name exactly the members of the types (the engine's
// members and options, `add`'s options, the handle's members, progress fields, events, outcome states,
// the codes of EngineError).
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

/** The tables of the section `## heading` (up to the next heading): each one's body rows, as cells. */
function tables(text: string, heading: string): string[][][] {
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no section '## ${heading}'`);
  const end = text.indexOf('\n## ', start + 1);
  const found: string[][][] = [];
  let lines: string[] = [];
  for (const line of [...text.slice(start, end < 0 ? undefined : end).split('\n'), '']) {
    if (line.startsWith('|')) {
      lines.push(line);
      continue;
    }
    // A header, its |---| line, then the body.
    if (lines.length > 2)
      found.push(
        lines.slice(2).map((l) =>
          l
            .split(/(?<!\\)\|/)
            .slice(1, -1)
            .map((c) => c.trim()),
        ),
      );
    lines = [];
  }
  return found;
}

/** A text without its asides (parentheses outside `code spans`). */
function flatten(text: string): string {
  let flat = '';
  let depth = 0;
  let inCode = false;
  for (const c of text) {
    if (c === '`') inCode = !inCode;
    if (!inCode && c === '(') depth++;
    else if (!inCode && c === ')') depth = Math.max(0, depth - 1);
    else if (depth === 0) flat += c;
  }
  return flat;
}

/** The `code spans` of a text, leaving out those in its asides. */
function spans(text: string): string[] {
  return [...flatten(text).matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

const union = (names: Iterable<string>) => [...new Set(names)].map((n) => JSON.stringify(n)).join(' | ') || 'never';

/**
 * A module asserting that the tables of docs/api.md name exactly the members of the types: the engine's
 * members and options, `add`'s options, the handle's members, the progress fields, the events, the
 * outcome states. A difference fails to compile, naming the names on each side.
 */
function apiTablesModule(api: string): string {
  const engineRows = tables(api, 'Engine')[0]!;
  const engine = engineRows.flatMap((r) => spans(r[0]!)).flatMap((s) => /^engine\.(\w+\$?)/.exec(s)?.[1] ?? []);
  const optionsOf = (method: string) => {
    const row = engineRows.find((r) => r[0]!.startsWith(`\`${method}(`));
    if (!row) throw new Error(`no row for ${method}`);
    return spans(flatten(row[1]!).split('Options:')[1]!.split('. ')[0]!).filter((s) => /^\w+$/.test(s));
  };
  const [handleRows, outcomeRows] = tables(api, 'TorrentHandle') as [string[][], string[][]];
  const handle = handleRows.flatMap((r) => spans(r[0]!)).map((s) => s.replace(/\(\)$/, ''));
  const cell = (member: string) => handleRows.find((r) => r[0] === `\`${member}\``)?.[1] ?? '';
  const progress = spans(cell('progress$').split('`Observable<TorrentProgress>`:')[1]!.split(' — ')[0]!);
  const events = spans(cell('events$')).filter((s) => /^(torrent|announcer)\.\w+$/.test(s));
  const states = outcomeRows.map((r) => /^`'(\w+)'`$/.exec(r[0]!)?.[1]).filter((s): s is string => s !== undefined);
  const engineErrorRow = tables(api, 'Errors')[0]!.find((r) => r[0]!.startsWith('`EngineError`'));
  const engineCodes = spans(engineErrorRow?.[1] ?? '').filter((c) => /^BT_ERR_[A-Z_]+$/.test(c));
  return `import type { AddOptions, Engine, EngineErrorCode, EngineOptions, TorrentHandle, TorrentOutcome, TorrentProgress, TorrentReport } from 'bt-actor';

type Same<Typed, Documented> = [Exclude<Typed, Documented>, Exclude<Documented, Typed>] extends [never, never]
  ? true
  : { inTheTypesNotInDocsApiMd: Exclude<Typed, Documented>; inDocsApiMdNotInTheTypes: Exclude<Documented, Typed> };

export const engineMembers: Same<keyof Engine, ${union(engine)}> = true;
export const engineCreateOptions: Same<keyof EngineOptions, ${union(optionsOf('Engine.create'))}> = true;
export const engineAddOptions: Same<keyof AddOptions, ${union(optionsOf('engine.add'))}> = true;
export const torrentHandleMembers: Same<keyof TorrentHandle, ${union(handle)}> = true;
export const torrentProgressFields: Same<keyof TorrentProgress, ${union(progress)}> = true;
export const torrentReportTypes: Same<TorrentReport['type'], ${union(events)}> = true;
export const torrentOutcomeStates: Same<TorrentOutcome['state'], ${union(states)}> = true;
export const engineErrorCodes: Same<EngineErrorCode, ${union(engineCodes)}> = true;
`;
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

  it('every example of README.md and docs/api.md, and examples/embed.mjs, type-checks (strict, no skipLibCheck); the tables of api.md name exactly the members of the types', async () => {
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
      // The tables of docs/api.md against the types.
      const tablesFile = 'docs-api-md-tables.ts';
      const tablesModule = apiTablesModule(await readFile(join(root, 'docs', 'api.md'), 'utf8'));
      await writeFile(join(dir, tablesFile), tablesModule);
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
        files: [...files.keys(), tablesFile, relative(dir, example)],
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
          if (m?.[1] === tablesFile) {
            const what = /export const (\w+)/.exec(tablesModule.split('\n')[Number(m[2]) - 1] ?? '')?.[1];
            return `docs/api.md, ${what ?? 'its tables'} against the types: ${m[4]}`;
          }
          const b = m && files.get(m[1]!);
          return b ? `${b.doc}:${b.line + Number(m[2]) - 1}:${m[3]} ${m[4]}` : l;
        });
      expect(report).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
