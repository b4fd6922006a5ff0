#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ and bundled into one file by `npm run build` (run by
// `npm ci` through "prepare"; see scripts/build-cli.mjs).
import { main } from '../dist/app/cli.bundle.js';

// `bt-actor info x.torrent | head` closes our stdout early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`bt-actor: internal error: ${err?.stack ?? err}`);
    process.exitCode = 1;
  },
);
