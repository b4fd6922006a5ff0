/**
 * BEP 52 block blame between real peers on 127.0.0.1: a leecher (a bt-actor engine) downloads a v2-only
 * torrent from an honest bt-actor seed and a lying peer (a scripted seeder flipping a byte of every
 * block it serves, rejecting hash requests). Each peer has one request out at a time, so the pieces are
 * made of blocks of both: a failed piece has two senders. The leecher asks a peer with the piece for its
 * leaf hashes (`hash request`, base layer 0); the honest engine answers, the leaves prove against the
 * piece hash, and the liar is banned on its FIRST failed piece — before any good copy of it verified
 * (smart ban would have to wait for one) — while the honest seed is never struck; the files land
 * byte-identical.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../src/app/engine.js';
import type { TorrentReport } from '../../src/machines/torrent/torrent.machine.js';
import { parseMetainfo } from '../../src/protocol/metainfo.js';
import { hostileSeeder } from '../support/hostile-seeder.js';
import { pattern, pieceSpace, v2Torrent, type V2File } from '../support/v2-torrent.js';

const PIECE = 65_536; // 4 blocks a piece
const FILES: V2File[] = [{ path: ['data.bin'], data: pattern(24 * PIECE + 5_000, 7) }];

let work: string;
const engines: Engine[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bt-actor-blame-'));
  for (const f of FILES) {
    const p = join(work, 'seed', ...f.path); // one file: the torrent is named after it
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, f.data);
  }
});
afterAll(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
  await rm(work, { recursive: true, force: true });
});

describe('BEP 52 block blame between engines', () => {
  it('a liar sending bad blocks into pieces shared with an honest seed is banned on its first bad piece; the honest one never struck', async () => {
    const torrent = v2Torrent(FILES, { version: 'v2', pieceLength: PIECE });
    const meta = parseMetainfo(torrent);
    const liar = await hostileSeeder(meta, pieceSpace(meta, FILES), { corrupt: 'all', rejectHashes: true });
    try {
      // The honest seed uploads at 256 KiB/s: a failed piece fetched again takes it ≥ 0.25 s, while its
      // leaf answer (no block: never held back by the limit) comes at once — so the block blame, not
      // smart ban after a good copy, judges the first failed piece even on a loaded machine.
      const seed = await Engine.create({ port: 0, host: '127.0.0.1', limits: { up: 256 * 1024 } });
      engines.push(seed);
      await (
        await seed.add(torrent, { dir: join(work, 'seed') })
      ).completed;
      const honest = `127.0.0.1:${seed.port}`;
      const leech = await Engine.create({ port: 0, host: '127.0.0.1' });
      engines.push(leech);
      const out = join(work, 'out');
      const events: TorrentReport[] = [];
      const t = await leech.add(torrent, {
        dir: out,
        peers: [
          { host: '127.0.0.1', port: liar.port, family: 4 },
          { host: '127.0.0.1', port: seed.port, family: 4 },
        ],
        // One request out per peer: the pieces are shared between them.
        settings: { peer: { minQueue: 1, maxQueue: 1 } },
      });
      t.events$.subscribe((e) => events.push(e));
      await t.completed;
      expect(Buffer.from(await readFile(join(out, 'data.bin'))).equals(FILES[0]!.data)).toBe(true);

      const failed = events.filter((e) => e.type === 'torrent.hashFailed');
      const first = failed.find((e) => e.peers.includes(liar.key))!;
      expect(first).toBeDefined();
      // A piece of both: nobody banned when it failed (either could have sent the bad block)...
      expect(first.peers.sort()).toEqual([honest, liar.key].sort());
      expect(first.banned).toEqual([]);
      // ...then the leaves a peer proved named the liar alone, for that very piece.
      const bans = events.filter((e) => e.type === 'torrent.banned');
      expect(bans[0]).toEqual({
        type: 'torrent.banned',
        kind: 'badBlock',
        index: first.index,
        banned: [
          {
            peer: liar.key,
            reason: `sent blocks of piece ${first.index} whose SHA-256 differs from the leaf hash a peer proved (BEP 52)`,
          },
        ],
      });
      // Banned before any copy of that piece verified.
      const banAt = events.indexOf(bans[0]!);
      const goodAt = events.findIndex((e) => e.type === 'torrent.piece' && e.index === first.index);
      expect(banAt).toBeLessThan(goodAt);
      // The honest seed is never struck, nor closed for bad data.
      const struck = [...failed.flatMap((e) => e.banned), ...bans.flatMap((e) => e.banned)].map((b) => b.peer);
      expect(struck).not.toContain(honest);
      expect(struck).toContain(liar.key);
      expect(events).not.toContainEqual(
        expect.objectContaining({ type: 'torrent.peer', key: honest, event: 'closed', reason: 'bad-data' }),
      );
      await Promise.all(engines.splice(0).map((e) => e.close()));
    } finally {
      await liar.stop();
    }
  });
});
