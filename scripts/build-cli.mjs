// Bundles the CLI (dist/app/cli.js and everything it imports) into one file, dist/app/cli.bundle.js,
// which bin/bt-actor.js runs. One file parses and links much faster than ~150 modules, and RxJS comes
// in tree-shaken from its ES module build (its CommonJS index loads every operator: ~70 ms of every
// run's start-up, measured in docs/performance.md). The library entry (dist/index.js) is not bundled:
// embedders share their own rxjs and xstate. Run by `npm run build` after tsc.
//
// The bundle is a script, not an ES module: one function expression around esbuild's CommonJS output,
// `(function (exports, require, module, __filename, __dirname, __btImportMetaUrl, __btImport) {…})`.
// bin/bt-actor.js compiles it with node:vm and a V8 code cache (src/app/code-cache.ts), which Node 20
// offers for scripts only. `import.meta.url` becomes `__btImportMetaUrl` (the bundle's file URL) and
// each dynamic `import()` becomes `__btImport()`, which the launcher resolves beside the bundle.
import { build } from 'esbuild';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = process.argv[2] ?? join(root, 'dist');
const require = createRequire(join(root, 'package.json'));
const rxjsEsm = join(dirname(require.resolve('rxjs/package.json')), 'dist/esm/index.js');

/**
 * The inspector's server and Stately connection are imported on demand (`--inspect`) and bring `ws` and
 * @statelyai/inspect: they stay outside the bundle, loaded from dist/app/inspect/ when asked for, so
 * a run without `--inspect` loads neither (bundling them would load `ws` at every start).
 */
const inspectorStaysLazy = {
  name: 'inspector-stays-lazy',
  setup(b) {
    b.onResolve({ filter: /^\.\/(server|stately)\.js$/ }, (args) =>
      args.importer.endsWith(join('app', 'inspect', 'index.js'))
        ? { path: `./inspect/${args.path.slice(2)}`, external: true }
        : undefined,
    );
  },
};

// The code cache's loader, for bin/bt-actor.js, which is CommonJS (bin/package.json) so that Node starts
// without its ES module loader; `import()` in it (the inspector's modules) stays native.
await build({
  entryPoints: [join(dist, 'app/code-cache.js')],
  outfile: join(dist, 'app/code-cache.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: ['node20'],
  logLevel: 'warning',
});

const outfile = join(dist, 'app/cli.bundle.js');
await build({
  entryPoints: [join(dist, 'app/cli.js')],
  outfile,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: ['node20'],
  alias: { rxjs: rxjsEsm },
  // Loaded only by `--inspect`, from node_modules as usual.
  external: ['ws', '@statelyai/inspect', 'bufferutil', 'utf-8-validate'],
  plugins: [inspectorStaysLazy],
  define: { 'import.meta.url': '__btImportMetaUrl' },
  banner: {
    js: '(function (exports, require, module, __filename, __dirname, __btImportMetaUrl, __btImport) {\n"use strict";',
  },
  footer: { js: '})' },
  legalComments: 'eof',
  charset: 'ascii',
  logLevel: 'warning',
});

// A script compiled by node:vm has no module loader for import(): the launcher passes one. The only
// dynamic imports are the inspector's two lazy modules (external above); any other is a build error.
const text = readFileSync(outfile, 'utf8');
let lazy = 0;
const script = text.replace(/\bimport\(("\.\/inspect\/[a-z]+\.js")\)/g, (_, specifier) => {
  lazy++;
  return `__btImport(${specifier})`;
});
if (lazy !== 2 || /\bimport\s*\(/.test(script) || /\bimport\.meta\b/.test(script)) {
  throw new Error(`build-cli: unexpected import() or import.meta in the bundle (${lazy} inspector imports)`);
}
// Pure ASCII: V8 then holds the source as one-byte text (a few non-ASCII characters made it two-byte:
// twice the memory, and decoding it took twice as long at every start). Charset 'ascii' above escapes
// strings and identifiers; what it leaves, in comments and in a regular expression with the u flag,
// becomes \uXXXX, which means the same there.
const ascii = script.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
writeFileSync(outfile, ascii);
