// ESLint flat config. Besides the recommended TypeScript rules, `no-restricted-imports` per folder
// keeps the layer arrows of docs/architecture.md honest: protocol imports no I/O and no xstate,
// machines import no I/O, io imports no machines or app.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeIo = [
  'node:net',
  'node:fs',
  'node:fs/promises',
  'node:dgram',
  'node:http',
  'node:https',
  'node:child_process',
  'node:worker_threads',
  'net',
  'fs',
  'dgram',
  'http',
  'https',
  'child_process',
];
// The seams (docs/simulation.md): time, timers, randomness and TCP only through src/io/clock.ts and
// src/io/transport.ts, so the swarm simulator can swap them. The browser inspector (src/inspector-ui) is
// not the engine and is left out; the two seam modules are allowed.
const SEAM_MESSAGE = 'Use the runtime seams (src/io/clock.ts, src/io/transport.ts): see docs/simulation.md.';
const seamFiles = ['src/**/*.ts'];
const seamIgnores = ['src/inspector-ui/**', 'src/io/clock.ts', 'src/io/transport.ts'];
const seamRules = {
  'no-restricted-globals': [
    'error',
    ...['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'].map((name) => ({
      name,
      message: SEAM_MESSAGE,
    })),
  ],
  'no-restricted-properties': [
    'error',
    { object: 'Date', property: 'now', message: SEAM_MESSAGE },
    { object: 'Math', property: 'random', message: SEAM_MESSAGE },
    { object: 'performance', property: 'now', message: SEAM_MESSAGE },
    { object: 'globalThis', property: 'setTimeout', message: SEAM_MESSAGE },
    { object: 'globalThis', property: 'setInterval', message: SEAM_MESSAGE },
  ],
};

const restrict = (paths, patterns) => ({
  'no-restricted-imports': [
    'error',
    {
      paths: paths.map((name) =>
        name === 'node:net' || name === 'net'
          ? { name, allowTypeImports: true, message: SEAM_MESSAGE }
          : { name, message: 'This layer may not import I/O or a higher layer (see ARCHITECTURE).' },
      ),
      patterns,
    },
  ],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['bin/**/*.js', 'eslint.config.js', 'scripts/**/*.mjs', 'bench/**/*.mjs', 'examples/**/*.mjs'],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', performance: 'readonly' },
    },
  },
  {
    // CommonJS (bin/package.json): Node starts without its ES module loader (docs/performance.md).
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: restrict(
      [...nodeIo, 'xstate'],
      [
        {
          group: ['../machines/*', '../io/*', '../app/*'],
          message: 'src/protocol is pure: it imports nothing but itself.',
        },
      ],
    ),
  },
  {
    files: ['src/machines/**/*.ts'],
    rules: restrict(nodeIo, [
      {
        group: ['../io/*', '../app/*', '../../io/*', '../../app/*'],
        message: 'Machines ask for effects through actors; they import no I/O.',
      },
    ]),
  },
  {
    files: ['src/io/**/*.ts'],
    ignores: ['src/io/transport.ts'],
    rules: restrict(
      ['node:net', 'net'],
      [
        {
          group: ['../machines/*', '../app/*', '../../machines/*', '../../app/*'],
          message: 'src/io may import only src/protocol.',
        },
      ],
    ),
  },
  {
    files: ['src/io/transport.ts'],
    rules: restrict([], [{ group: ['../machines/*', '../app/*'], message: 'src/io may import only src/protocol.' }]),
  },
  {
    files: ['src/app/**/*.ts', 'src/sim/**/*.ts', 'src/index.ts'],
    ignores: ['src/io/transport.ts'],
    rules: restrict(['node:net', 'net'], []),
  },
  { files: seamFiles, ignores: seamIgnores, rules: seamRules },
);
