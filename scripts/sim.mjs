// `npm run sim -- …`: bundles src/sim/cli.ts with esbuild (TypeScript straight from src, dependencies
// left in node_modules) into a file under dist/ and runs it. See docs/simulation.md.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Inside the checkout (dist/ is build output), so the bundle finds node_modules.
const outfile = join(root, 'dist', 'sim', `cli.${process.pid}.bundle.mjs`);
try {
  await build({
    entryPoints: [join(root, 'src/sim/cli.ts')],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: ['node20'],
    packages: 'external',
    absWorkingDir: root,
    logLevel: 'error',
  });
  const { main } = await import(pathToFileURL(outfile).href);
  process.exitCode = await main(process.argv.slice(2));
} finally {
  rmSync(outfile, { force: true });
}
