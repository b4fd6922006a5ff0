// vitest globalSetup: bundle the inspector page into dist/inspector-ui (as `npm run build` does), so
// the inspector's tests serve the current page.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build-inspector-ui.mjs'], { stdio: 'inherit' });
}
