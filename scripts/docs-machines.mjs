// Rewrites docs/machines.md from the machine definitions (run after `npm run build`).
import { writeFileSync } from 'node:fs';
import { machinesMarkdown } from '../dist/app/machine-diagrams.js';

writeFileSync(new URL('../docs/machines.md', import.meta.url), machinesMarkdown());
console.log('docs/machines.md written');
