// Bundles the inspector page (src/inspector-ui, Preact) into dist/inspector-ui with esbuild: one
// script, one stylesheet and the HTML, served by the engine on 127.0.0.1 — no CDN, works offline.
// Run by `npm run build` (and so by `npm ci` through "prepare").
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src/inspector-ui');
const out = join(root, 'dist/inspector-ui');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(src, 'main.tsx')],
  outfile: join(out, 'inspector.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  sourcemap: true,
  legalComments: 'eof',
  tsconfig: join(src, 'tsconfig.json'),
  logLevel: 'warning',
});
await copyFile(join(src, 'index.html'), join(out, 'index.html'));
await copyFile(join(src, 'inspector.css'), join(out, 'inspector.css'));
