// CPU per GiB of the engine's own logic: the torrent and peer statecharts, the picker, the piece
// buffers and SHA-1, with in-memory peers and an in-memory disk (no sockets, no files). What is left
// of a real download's CPU beyond this is the kernel's (socket reads, page-cache writes) and start-up.
//
//   npm run build && node bench/engine-bench.mjs [--mib 1024] [--peers 1] [--blocks-per-read 16]
//   node --cpu-prof --cpu-prof-dir=prof bench/engine-bench.mjs && node bench/profile-top.mjs prof
//
// Each fake peer answers the requests it holds once per event-loop turn, in `wire.pieces` events of
// `--blocks-per-read` blocks (16 × 16 KiB = one 256 KiB socket read, as the TCP bridge delivers them).
import { createHash, randomBytes } from 'node:crypto';
import { clearTimeout, setImmediate, setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';
import { createActor, fromCallback } from 'xstate';
import { announcerMachine } from '../dist/machines/tracker/announcer.machine.js';
import { peerMachine } from '../dist/machines/peer/peer.machine.js';
import { torrentMachine } from '../dist/machines/torrent/torrent.machine.js';
import { Bitfield } from '../dist/protocol/bitfield.js';

const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '1024' },
    peers: { type: 'string', default: '1' },
    'blocks-per-read': { type: 'string', default: '16' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('node bench/engine-bench.mjs [--mib N] [--peers N] [--blocks-per-read N]');
  process.exit(0);
}
const PIECE = 1 << 20;
const pieceCount = Number(values.mib);
const peerCount = Number(values.peers);
const perRead = Number(values['blocks-per-read']);
// Every piece holds the same bytes: memory stays flat whatever the size.
const pieceData = randomBytes(PIECE);
const pieceHash = createHash('sha1').update(pieceData).digest();
const info = {
  infoHash: randomBytes(20),
  infoHashHex: '',
  name: 'bench',
  length: PIECE * pieceCount,
  pieceLength: PIECE,
  pieceCount,
  announce: [],
};

const wire = fromCallback(({ sendBack, receive }) => {
  const queue = [];
  let scheduled = false;
  const answer = () => {
    scheduled = false;
    // Only what was asked before this turn: requests made while answering wait for the next turn.
    let n = queue.length;
    while (n > 0) {
      const batch = queue.splice(0, Math.min(perRead, n));
      n -= batch.length;
      const blocks = batch.map((r) => ({
        index: r.index,
        begin: r.begin,
        block: pieceData.subarray(r.begin, r.begin + r.length),
      }));
      sendBack({ type: 'wire.pieces', blocks, at: Date.now() });
    }
  };
  const serve = (m) => {
    if (m.type !== 'request') return;
    queue.push(m);
    if (!scheduled) {
      scheduled = true;
      setImmediate(answer);
    }
  };
  setImmediate(() => {
    sendBack({ type: 'wire.connected', at: Date.now() });
    sendBack({
      type: 'wire.handshake',
      handshake: { reserved: new Uint8Array(8), infoHash: info.infoHash, peerId: randomBytes(20) },
      at: Date.now(),
    });
    sendBack({ type: 'wire.bitfield', bytes: Bitfield.full(pieceCount).toBytes(), at: Date.now() });
    sendBack({ type: 'wire.unchoke', at: Date.now() });
  });
  receive((cmd) => {
    if (cmd.type === 'wire.send') serve(cmd.message);
    else if (cmd.type === 'wire.sendMany') cmd.messages.forEach(serve);
  });
});

const storage = fromCallback(({ sendBack, receive }) => {
  process.nextTick(() => sendBack({ type: 'storage.ready', have: new Bitfield(pieceCount).toBytes() }));
  receive((cmd) => {
    if (cmd.type === 'storage.write') {
      const ok = createHash('sha1').update(cmd.data).digest().equals(pieceHash);
      process.nextTick(() => sendBack({ type: ok ? 'storage.verified' : 'storage.hashFailed', index: cmd.index }));
    } else if (cmd.type === 'storage.close') process.nextTick(() => sendBack({ type: 'storage.closed' }));
  });
});

const logic = torrentMachine.provide({
  actors: { storage, peer: peerMachine.provide({ actors: { wire } }), announcer: announcerMachine },
});
const peers = Array.from({ length: peerCount }, (_, i) => ({ host: `10.0.0.${i + 1}`, port: 6881, family: 4 }));
const actor = createActor(logic, { input: { info, peerId: randomBytes(20), peers, settings: {} } });
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const timeout = setTimeout(() => {
  console.error('engine-bench: not complete after 300 s');
  process.exit(1);
}, 300_000);
actor.start();
await new Promise((resolve) => actor.subscribe((s) => s.matches({ active: 'complete' }) && resolve()));
clearTimeout(timeout);
const cpu = process.cpuUsage(cpu0);
const seconds = (performance.now() - t0) / 1000;
const cpuS = (cpu.user + cpu.system) / 1e6;
console.log(
  JSON.stringify({
    mib: pieceCount,
    peers: peerCount,
    blocksPerRead: perRead,
    seconds: +seconds.toFixed(2),
    mibPerS: Math.round(pieceCount / seconds),
    cpuS: +cpuS.toFixed(2),
    cpuSPerGiB: +((cpuS * 1024) / pieceCount).toFixed(2),
  }),
);
actor.stop();
