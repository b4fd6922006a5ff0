// The torrent with BEP 19 web seeds: whole pieces reserved for each web seed, its bytes verified and
// written like a peer's, peers and web seeds never fetching the same piece (but in endgame), bad data
// and errors striking the web seed until it is dropped.
import { afterEach, describe, expect, it } from 'vitest';
import { FAST, startTorrent, T_PIECE, type TorrentHarness } from './torrent-harness.js';
import { flush, httpError } from './webseed-harness.js';

const WS = 'http://w/harness';
let h: TorrentHarness | undefined;
afterEach(() => {
  h?.stop();
  h = undefined;
});

/** Answers the web seed until nothing is asked (or `rounds` run out). */
async function serveAll(t: TorrentHarness, how: 'ok' | 'corrupt' = 'ok', rounds = 50) {
  const pieces: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await flush();
    const got = t.serveWeb(how);
    await flush();
    if (got.length === 0) break;
    pieces.push(...got);
  }
  return pieces;
}

describe('torrent with web seeds', () => {
  it('completes from a web seed alone: each piece fetched once, verified, written; progress counts it', async () => {
    h = startTorrent({ pieces: 5, lastPiece: 1000, webSeeds: [WS] });
    await flush();
    expect(h.context().progress.webseeds).toBe(1);
    expect(h.picker().isSeed(`ws:${WS}`)).toBe(true);
    const pieces = await serveAll(h);
    expect(pieces.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(h.value()).toEqual({ active: { complete: 'seeding' } });
    expect(h.storage.writes.map((w) => w.index).sort()).toEqual([0, 1, 2, 3, 4]);
    expect(h.events.some((e) => e.type === 'torrent.complete')).toBe(true);
    // The last piece's range is its own length.
    expect(h.context().progress).toMatchObject({ left: 0, verifiedPieces: 5, webseeds: 1 });
    // Complete: a web seed that asks hears there is nothing to fetch.
    h.advance(5_000);
    await flush();
    expect(h.webCalls()).toHaveLength(0);
  });

  it("a web seed's bytes count in downloadRate (and its own rate in webseedRates) over a 5 s window", async () => {
    h = startTorrent({ pieces: 40, webSeeds: [WS] });
    await flush();
    // Nothing delivered yet: no rate.
    expect(h.context().progress.downloadRate).toBe(0);
    expect(h.context().progress.webseedRates).toEqual({ [WS]: 0 });
    // One piece a second for 4 s.
    for (let s = 0; s < 4; s++) {
      expect(h.serveWeb()).toHaveLength(1);
      await flush();
      h.advance(1000);
      await flush();
    }
    const p = h.context().progress;
    // 4 pieces over the 4 s since the first: 1 piece per second.
    expect(p.webseedRates![WS]).toBeCloseTo(T_PIECE, -2);
    expect(p.downloadRate).toBe(p.webseedRates![WS]);
    // No more pieces: the rate falls to 0 once the window has passed.
    h.advance(6000);
    await flush();
    expect(h.context().progress.downloadRate).toBe(0);
    expect(h.context().progress.webseedRates).toEqual({ [WS]: 0 });
  });

  it('mixed with a peer: the piece the web seed fetches is never requested from the peer', async () => {
    h = startTorrent({ pieces: 8, peers: ['10.0.0.1:6881'], webSeeds: [WS] });
    await flush();
    const p = h.peer('10.0.0.1:6881');
    p.seed(FAST);
    await flush();
    for (let round = 0; round < 30 && h.context().tally.left > 0; round++) {
      const webPieces = h.webCalls().map((c) => c.input.ranges[0]!.start / T_PIECE);
      for (const r of p.open()) expect(webPieces).not.toContain(r.index);
      p.serve();
      h.serveWeb();
      await flush();
    }
    expect(h.value()).toEqual({ active: { complete: 'seeding' } });
    expect(h.storage.writes.map((w) => w.index).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('a web seed whose pieces fail their hash backs off, is dropped at the third, and peers fetch the rest', async () => {
    h = startTorrent({ pieces: 6, webSeeds: [WS] });
    await flush();
    for (let strike = 1; strike <= 3; strike++) {
      expect(h.serveWeb('corrupt')).toHaveLength(1);
      await flush();
      expect(h.context().tally.hashFailures).toBe(strike);
      h.advance(130_000, 10_000);
      await flush();
    }
    expect(h.context().progress.webseeds).toBe(0);
    expect(h.context().webseeds).toEqual({});
    expect(h.events).toContainEqual(
      expect.objectContaining({ type: 'torrent.webseed', url: WS, event: 'dropped', code: 'BT_ERR_WEBSEED_BAD_DATA' }),
    );
    expect(h.picker().peerCount).toBe(0);
    h.addPeers('10.0.0.1:6881');
    const p = h.peer('10.0.0.1:6881');
    p.seed(FAST);
    for (let i = 0; i < 30 && h.context().tally.left > 0; i++) p.serve();
    expect(h.value()).toEqual({ active: { complete: 'seeding' } });
  });

  it('a fetch that fails releases the piece (peers may take it) and is reported; a 404 drops the web seed', async () => {
    h = startTorrent({ pieces: 4, webSeeds: [WS, 'http://x/harness'] });
    await flush();
    expect(h.context().progress.webseeds).toBe(2);
    const [index] = h.serveWeb(httpError('BT_ERR_WEBSEED_HTTP_STATUS', { retryAfterMs: 1000 }), WS);
    await flush();
    expect(h.picker().outstandingCount(`ws:${WS}`)).toBe(0);
    expect(h.picker().blockState(index!, 0)).toBe('wanted');
    expect(h.events).toContainEqual(
      expect.objectContaining({
        type: 'torrent.webseed',
        url: WS,
        event: 'failed',
        code: 'BT_ERR_WEBSEED_HTTP_STATUS',
      }),
    );
    h.serveWeb(httpError('BT_ERR_WEBSEED_NOT_FOUND', { permanent: true }), 'http://x/harness');
    await flush();
    expect(Object.keys(h.context().webseeds)).toEqual([`ws:${WS}`]);
    expect(h.context().progress.webseeds).toBe(1);
    // The remaining web seed finishes the torrent after its backoff.
    h.advance(10_000);
    await serveAll(h);
    expect(h.value()).toEqual({ active: { complete: 'seeding' } });
  });

  it('bytes of a piece that a peer completed meanwhile are not needed: the web seed moves on', async () => {
    h = startTorrent({ pieces: 2, webSeeds: [WS], peers: ['10.0.0.1:6881'], storage: 'manual' });
    await flush();
    const p = h.peer('10.0.0.1:6881');
    p.seed(FAST);
    // The peer got the other piece; the web seed's piece is in endgame for the peer too.
    for (let i = 0; i < 10; i++) p.serve();
    await flush();
    const web = h.webCalls()[0]!.input.ranges[0]!.start / T_PIECE;
    expect(h.storage.pending.map((w) => w.index).sort()).toEqual([0, 1]);
    // Both pieces are waiting for their hash: the web seed's copy of piece `web` is a duplicate.
    h.serveWeb();
    await flush();
    expect(h.storage.writes.filter((w) => w.index === web)).toHaveLength(1);
    expect(h.context().webseeds[`ws:${WS}`]!.ref.getSnapshot().value).not.toBe('verifying');
    h.answerWrite();
    h.answerWrite();
    expect(h.value()).toEqual({ active: { complete: 'seeding' } });
  });

  it('stopping the torrent ends its web seeds and their fetches', async () => {
    h = startTorrent({ pieces: 3, webSeeds: [WS] });
    await flush();
    const ref = h.context().webseeds[`ws:${WS}`]!.ref;
    h.stop();
    await flush();
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(ref.getSnapshot().status).toBe('stopped');
    expect(h.context().progress.webseeds).toBe(0);
    expect(h.webCalls()).toHaveLength(0);
  });
});
