// Run inside a network namespace (test/app/tracker-ipv6.test.ts): an engine of the built package
// (dist/) listening on argv[2] announces a torrent to a local HTTP tracker on 127.0.0.1; prints the
// first announce's `ipv6` parameter as one JSON line ({"ipv6": "…"} or {"ipv6": null}) and exits.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http';
import process from 'node:process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTorrent, Engine } from '../../dist/index.js';
import { parseAnnounceQuery } from '../../dist/protocol/tracker-http.js';

const host = process.argv[2];
const work = await mkdtemp(join(tmpdir(), 'bt-actor-announce-ipv6-'));
let gotUrl;
const got = new Promise((resolve) => (gotUrl = resolve));
const tracker = createServer((req, res) => {
  gotUrl(req.url);
  res.end('d8:intervali1800e5:peers0:e');
});
await new Promise((r) => tracker.listen(0, '127.0.0.1', r));
const announce = `http://127.0.0.1:${tracker.address().port}/announce`;
await writeFile(join(work, 'a.bin'), Buffer.alloc(100_000, 1));
const { torrent } = await createTorrent(join(work, 'a.bin'), { announce: [[announce]] });
const engine = await Engine.create({ port: 0, host, dht: false });
try {
  await engine.add(torrent, { dir: join(work, 'out') });
  const url = await got;
  process.stdout.write(`${JSON.stringify({ ipv6: parseAnnounceQuery(url).ipv6 ?? null, listen: engine.host })}\n`);
} finally {
  await engine.close();
  tracker.close();
  await rm(work, { recursive: true, force: true });
}
