#!/usr/bin/env node
/* global process, console, setTimeout, setInterval, clearInterval */
// bittorrent-dht (npm, the one webtorrent 3 uses) node for loopback experiments. Run from lab/node (module lookup):
//   cd ../node && node ../dht/dht_node.mjs --port P [--bootstrap 127.0.0.1:P1,...] [--announce HEX] [--get-peers HEX]
//                                       [--announce-port P] [--every SEC] [--timeout SEC]
// Prints JSON lines: start, listening, ready, dht_nodes, dht_peers (lookup results), dht_incoming_announce, exit.
// bootstrap: ONLY the given nodes; with no --bootstrap it gets `bootstrap: false` (k-rpc's default list is
// router.bittorrent.com / router.utorrent.com / dht.transmissionbt.com -- never used here). Binds 127.0.0.1.
import DHT from 'bittorrent-dht';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('--port'));
const boot = opt('--bootstrap', '');
const announce = opt('--announce');
const announcePort = Number(opt('--announce-port', port));
const getPeers = opt('--get-peers');
const every = Number(opt('--every', 5)) * 1000;
const timeout = Number(opt('--timeout', 120)) * 1000;
const t0 = Date.now();
const ev = (name, o = {}) => console.log(JSON.stringify({ t: +((Date.now() - t0) / 1000).toFixed(2), ev: name, ...o }));

const bootstrap = boot ? boot.split(',') : false;
const dht = new DHT({ bootstrap, host: '127.0.0.1' }); // host: our address as announced in BEP 42 checks (unused)
ev('start', { port, bootstrap: boot });
dht.on('error', (e) => {
  ev('error', { msg: e.message });
  process.exit(2);
});
dht.on('warning', (e) => ev('warning', { msg: String((e && e.message) || e) }));
dht.on('ready', () => ev('ready', { nodes: dht.toJSON().nodes.length }));
dht.on('announce_peer', (ih, peer) =>
  ev('dht_incoming_announce', { info_hash: ih.toString('hex'), ip: peer.host, port: peer.port }),
);
dht.on('announce', (peer, ih) =>
  ev('dht_incoming_announce', { info_hash: ih.toString('hex'), ip: peer.host, port: peer.port }),
);
const found = {};
dht.on('peer', (peer, ih, from) => {
  const k = `${peer.host}:${peer.port}`;
  if (!found[k]) {
    found[k] = 1;
    ev('dht_peers', {
      info_hash: ih.toString('hex'),
      peers: [k],
      from: from ? `${from.address || from.host}:${from.port}` : 'own-store',
    });
  }
});
dht.listen(port, '127.0.0.1', () => ev('listening', { addr: dht.address() }));

const tick = () => {
  ev('dht_nodes', { nodes: dht.toJSON().nodes.length });
  if (announce) dht.announce(announce, announcePort, (err) => ev('announced', { err: err ? err.message : null }));
  if (getPeers) dht.lookup(getPeers, (err, n) => ev('lookup_done', { err: err ? err.message : null, nodes: n }));
};
setTimeout(tick, 1000);
const iv = setInterval(tick, every);
const stop = (rc) => {
  clearInterval(iv);
  ev('exit', { rc, found: Object.keys(found) });
  dht.destroy(() => process.exit(rc));
  setTimeout(() => process.exit(rc), 2000).unref();
};
setTimeout(() => stop(0), timeout).unref();
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => stop(0));
