// Many raw BitTorrent peers in one process (its cost is not the engine's): each connects to
// 127.0.0.1:port, does the BEP 3 handshake (plaintext), says interested, and while unchoked keeps
// `inflight` random 16 KiB block requests outstanding, discarding the data.
//   node bench/scale-peers.mjs '<json>'   json: { port, infoHash (hex), count, pieceLength, length, inflight }
// Prints a status line "@@ <json>" every second ({ connected, handshaken, unchoked, closed, blocks,
// bytes }) and a final one on SIGTERM, then exits.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { Buffer } from 'node:buffer';
import { clearInterval, setInterval, setTimeout } from 'node:timers';

const cfg = JSON.parse(process.argv[2]);
const BLOCK = 16 * 1024;
const infoHash = Buffer.from(cfg.infoHash, 'hex');
const pieceCount = Math.ceil(cfg.length / cfg.pieceLength);
const stats = { connected: 0, handshaken: 0, unchoked: 0, closed: 0, blocks: 0, bytes: 0, errors: {} };
const sockets = new Set();

function message(id, payload = Buffer.alloc(0)) {
  const b = Buffer.alloc(5 + payload.length);
  b.writeUInt32BE(1 + payload.length, 0);
  b[4] = id;
  payload.copy(b, 5);
  return b;
}

function randomRequest() {
  const index = Math.floor(Math.random() * pieceCount);
  const size = Math.min(cfg.pieceLength, cfg.length - index * cfg.pieceLength);
  const begin = Math.floor(Math.random() * Math.ceil(size / BLOCK)) * BLOCK;
  const p = Buffer.alloc(12);
  p.writeUInt32BE(index, 0);
  p.writeUInt32BE(begin, 4);
  p.writeUInt32BE(Math.min(BLOCK, size - begin), 8);
  return message(6, p);
}

function peer(k) {
  const s = connect({ port: cfg.port, host: '127.0.0.1' });
  sockets.add(s);
  let buf = Buffer.alloc(0);
  let shaken = false;
  let unchoked = false;
  let inflight = 0;
  const fill = () => {
    const out = [];
    while (unchoked && inflight < cfg.inflight) {
      out.push(randomRequest());
      inflight++;
    }
    if (out.length) s.write(Buffer.concat(out));
  };
  s.setNoDelay(true);
  s.once('connect', () => {
    stats.connected++;
    const id = Buffer.concat([Buffer.from(`-BB0001-${String(k).padStart(4, '0')}`), randomBytes(8)]);
    s.write(Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), Buffer.alloc(8), infoHash, id]));
  });
  s.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    if (!shaken) {
      if (buf.length < 68) return;
      if (!buf.subarray(28, 48).equals(infoHash)) return void s.destroy(new Error('info hash mismatch'));
      shaken = true;
      stats.handshaken++;
      buf = buf.subarray(68);
      s.write(message(2)); // interested
    }
    while (buf.length >= 4) {
      const len = buf.readUInt32BE(0);
      if (buf.length < 4 + len) break;
      const id = len ? buf[4] : -1;
      if (id === 0 && unchoked) {
        unchoked = false;
        inflight = 0; // BEP 3: a choke drops the outstanding requests
        stats.unchoked--;
      } else if (id === 1 && !unchoked) {
        unchoked = true;
        stats.unchoked++;
      } else if (id === 7) {
        stats.blocks++;
        stats.bytes += len - 9;
        inflight = Math.max(0, inflight - 1);
      }
      buf = buf.subarray(4 + len);
    }
    fill();
  });
  const keepAlive = setInterval(() => s.write(Buffer.alloc(4)), 30_000);
  s.on('error', (e) => (stats.errors[e.code ?? e.message] = (stats.errors[e.code ?? e.message] ?? 0) + 1));
  s.on('close', () => {
    clearInterval(keepAlive);
    sockets.delete(s);
    stats.closed++;
    if (shaken) stats.handshaken--;
    if (unchoked) stats.unchoked--;
  });
}

const report = () => process.stdout.write(`@@ ${JSON.stringify(stats)}\n`);
const timer = setInterval(report, 1000);
for (let k = 0; k < cfg.count; k++) setTimeout(() => peer(k), k * 5); // a 1 s ramp for 200 peers

function end() {
  clearInterval(timer);
  report();
  for (const s of sockets) s.destroy();
  process.exit(0);
}
process.on('SIGTERM', end);
process.on('SIGINT', end);
