// Bundles the CLI (dist/app/cli.js and everything it imports) into one file, dist/app/cli.bundle.js,
// which bin/bt-actor.js runs. One file parses and links much faster than ~150 modules, and RxJS comes
// in tree-shaken from its ES module build (its CommonJS index loads every operator: ~70 ms of every
// run's start-up, measured in docs/performance.md). The library entry (dist/index.js) is not bundled:
// embedders share their own rxjs and xstate. Run by `npm run build` after tsc.
import { build } from 'esbuild';
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

await build({
  entryPoints: [join(dist, 'app/cli.js')],
  outfile: join(dist, 'app/cli.bundle.js'),
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: ['node20'],
  alias: { rxjs: rxjsEsm },
  // Loaded only by `--inspect`, from node_modules as usual.
  external: ['ws', '@statelyai/inspect', 'bufferutil', 'utf-8-validate'],
  plugins: [inspectorStaysLazy],
  // CommonJS dependencies bundled into an ES module still call require() for node built-ins.
  banner: {
    js: "import { createRequire as __btCreateRequire } from 'node:module'; const require = __btCreateRequire(import.meta.url);",
  },
  legalComments: 'eof',
  logLevel: 'warning',
});
