// vitest globalSetup: compile src/ to dist/ and bundle the CLI once, so tests that spawn
// `bin/bt-actor.js` run the current code (npm ci builds it too, through "prepare").
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
  execFileSync(process.execPath, ['scripts/build-cli.mjs'], { stdio: 'inherit' });
}
