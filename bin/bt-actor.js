#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ and bundled into one script by `npm run build` (run by
// `npm ci` through "prepare"; see scripts/build-cli.mjs). The script is compiled with a V8 code cache
// (src/app/code-cache.ts; BT_ACTOR_NO_CODE_CACHE=1 turns it off), written once per command after its
// first run, which saves compiling the 0.9 MB bundle at every start. This file is CommonJS (bin/
// package.json), as is the loader it requires: Node then starts without its ES module loader, 5-10 ms
// less of every start (docs/performance.md, Profiles, start-up).
'use strict';
const { join } = require('node:path');
const { setTimeout } = require('node:timers');
const { loadBundle } = require('../dist/app/code-cache.cjs');

const argv = process.argv.slice(2);
const cli = loadBundle(join(__dirname, '../dist/app/cli.bundle.js'), {
  label: argv[0] === '--help' || argv[0] === '-h' ? 'help' : argv[0],
  enabled: process.env.BT_ACTOR_NO_CODE_CACHE !== '1',
});
// The cache is written after the command has run a second (it then holds the functions the start-up
// compiled), or at exit if that comes first. Only when it was not used: no write on a normal start. It
// is written under V8's default flags, which the next start compiles with (`run` holds V8's young
// generation while it downloads: src/app/young-generation.ts).
if (cli.status !== 'used' && cli.status !== 'off') {
  const save = () => cli.exports.withDefaultHeapFlags(() => cli.save());
  setTimeout(save, 1000).unref();
  process.once('exit', save);
}

// `bt-actor info x.torrent | head` closes our stdout early: that is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

cli.exports.main(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`bt-actor: internal error: ${err?.stack ?? err}`);
    process.exitCode = 1;
  },
);
