// Piece-picker benchmark: a 4 GiB torrent of 16 KiB pieces (262,144 pieces) and 50 peers.
// Not a test (nothing is asserted); run after building:
//   npx tsc -p tsconfig.build.json && node bench/picker-bench.mjs
// Prints picks per second for a full download (every block picked, received and verified) and for
// a peer that has few pieces.
import { Bitfield } from '../dist/protocol/bitfield.js';
import { PiecePicker } from '../dist/machines/torrent/piece-picker.js';
import { prng } from './lib/data.mjs';

const BLOCK = 16 * 1024;
let PIECES = 262_144;
const PEERS = 50;
const SEEDS = 10;
const DEPTH = 64;

function randomBitfield(rnd, density) {
  const b = new Bitfield(PIECES);
  for (let i = 0; i < PIECES; i++) if (rnd() < density) b.set(i);
  return b;
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');

function fullDownload(strategy) {
  const rnd = prng(7);
  const picker = new PiecePicker({ pieceLength: BLOCK, length: PIECES * BLOCK, random: prng(1), strategy });
  const bitfields = [];
  for (let k = SEEDS; k < PEERS; k++) bitfields.push(randomBitfield(rnd, 0.3 + 0.65 * rnd()));
  let t0 = performance.now();
  for (let k = 0; k < PEERS; k++) picker.addPeer(`peer${k}`, k < SEEDS ? 'all' : bitfields[k - SEEDS]);
  const joinMs = performance.now() - t0;

  let pickMs = 0;
  let picks = 0;
  let blocks = 0;
  let rounds = 0;
  t0 = performance.now();
  while (!picker.isComplete) {
    rounds++;
    for (let k = 0; k < PEERS; k++) {
      const peer = `peer${k}`;
      const t = performance.now();
      const got = picker.pick(peer, DEPTH - picker.outstandingCount(peer));
      pickMs += performance.now() - t;
      picks++;
      blocks += got.length;
      // Deliver half of them now, the rest next round, so queues stay partly full.
      const out = picker.outstanding(peer);
      for (let j = 0; j < Math.ceil(out.length / 2); j++) {
        const r = out[j];
        const res = picker.blockReceived(peer, r.index, r.begin, r.length);
        if (res.pieceComplete) picker.pieceVerified(r.index);
      }
    }
  }
  const totalMs = performance.now() - t0;
  console.log(
    `full download [${strategy}]: ${fmt(blocks)} blocks in ${fmt(picks)} pick calls (${rounds} rounds); ` +
      `pick: ${fmt(picks / (pickMs / 1000))} calls/s, ${fmt(blocks / (pickMs / 1000))} blocks/s; ` +
      `whole loop (pick+receive+verify): ${(totalMs / 1000).toFixed(2)} s; join of ${PEERS} peers: ${joinMs.toFixed(0)} ms`,
  );
}

function sparsePeer(strategy) {
  const rnd = prng(9);
  const picker = new PiecePicker({ pieceLength: BLOCK, length: PIECES * BLOCK, random: prng(2), strategy });
  for (let k = 0; k < PEERS - 1; k++) picker.addPeer(`peer${k}`, k < SEEDS ? 'all' : randomBitfield(rnd, 0.5));
  picker.addPeer('sparse', randomBitfield(rnd, 0.01)); // ~2,600 pieces
  const t0 = performance.now();
  let picks = 0;
  let blocks = 0;
  while (performance.now() - t0 < 1000) {
    const got = picker.pick('sparse', 16);
    picks++;
    blocks += got.length;
    if (got.length === 0) break;
    picker.releasePeer('sparse'); // keep the state steady: the pieces go back to wanted
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`sparse peer (1% of pieces) [${strategy}]: ${fmt(picks / s)} calls/s, ${fmt(blocks / s)} blocks/s`);
}

// Warm the JIT up on a smaller torrent first, so the first strategy measured is not penalised.
const real = PIECES;
PIECES = 16_384;
const log = console.log;
console.log = () => {};
fullDownload('auto');
sparsePeer('auto');
console.log = log;
PIECES = real;

const which = process.argv[2];
for (const strategy of which ? [which] : ['auto', 'order']) fullDownload(strategy);
for (const strategy of which ? [which] : ['auto', 'order', 'bitfield']) sparsePeer(strategy);
