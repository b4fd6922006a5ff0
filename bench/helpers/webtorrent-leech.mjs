// WebTorrent (the npm package, a devDependency) as a benchmark leecher on 127.0.0.1.
//   node bench/helpers/webtorrent-leech.mjs TORRENT OUTDIR PORT TIMEOUT_S
// Exits 0 once every piece is verified and the client has closed its files; 3 on timeout, 2 on error.
// DHT, LSD, UPnP, NAT-PMP, uTP and web seeds are off (webtorrent-cli cannot turn them all off). WebTorrent
// dials peers with MSE/PE only (no plaintext retry): the seeders must accept MSE; its WebRTC layer is
// stubbed by the package's overrides (TCP peers do not use it).
import { readFileSync } from 'node:fs';
import { setTimeout } from 'node:timers';
import WebTorrent from 'webtorrent';

const [torrentPath, dir, portStr, timeoutStr] = process.argv.slice(2);
const log = (...a) => console.error('[webtorrent]', ...a);
const t0 = Date.now();

const client = new WebTorrent({
  dht: false,
  lsd: false,
  natUpnp: false,
  natPmp: false,
  utp: false,
  webSeeds: false,
  torrentPort: Number(portStr),
  tracker: {},
});
client.on('error', (e) => {
  log('client error', e.message);
  process.exit(2);
});
setTimeout(
  () => {
    log('timeout');
    process.exit(3);
  },
  Number(timeoutStr || 600) * 1000,
).unref();

const torrent = client.add(readFileSync(torrentPath), { path: dir });
torrent.on('error', (e) => {
  log('torrent error', e.message);
  process.exit(2);
});
torrent.on('done', () => {
  const s = (Date.now() - t0) / 1000;
  log(
    `complete in ${s.toFixed(2)} s, ${(torrent.length / s / 2 ** 20).toFixed(1)} MiB/s, ${torrent.wires.length} wires`,
  );
  client.destroy(() => process.exit(0));
  setTimeout(() => process.exit(0), 5000).unref();
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    client.destroy(() => process.exit(143));
    setTimeout(() => process.exit(143), 3000).unref();
  });
}
