// The web seed statechart (BEP 19): the pieces it asks for and fetches, the ranges of each, the
// verdicts, backoff and dropping — with a scripted fetch and a simulated clock.
import { describe, expect, it } from 'vitest';
import { flush, GEOMETRY, httpError, PIECE, SINGLE, startWebSeed } from './webseed-harness.js';

describe('web seed statechart', () => {
  it('asks for a piece, fetches its ranges across files (padding as zeros), reports the bytes, and asks again once verified', async () => {
    const h = startWebSeed();
    expect(h.value()).toBe('idle');
    expect(h.reports).toEqual([{ type: 'webseed.wants', key: 'ws:http://127.0.0.1:8080/files' }]);
    h.actor.send({ type: 'webseed.assign', index: 1 });
    expect(h.value()).toBe('fetching');
    await flush();
    // Piece 1 is bytes 32768..65535: the end of `a b.txt`, the padding file, the start of `sub/c%d`.
    expect(h.calls[0]!.input).toEqual({
      seed: 'http://127.0.0.1:8080/files',
      length: PIECE,
      ranges: [
        { url: 'http://127.0.0.1:8080/files/set/a%20b.txt', start: 32_768, length: 7_232, padding: false },
        { url: '', start: 0, length: 2_000, padding: true },
        { url: 'http://127.0.0.1:8080/files/set/sub/c%25d', start: 0, length: 23_536, padding: false },
      ],
    });
    const bytes = new Uint8Array(PIECE).fill(7);
    h.calls[0]!.resolve(bytes);
    await flush();
    expect(h.value()).toBe('verifying');
    expect(h.reports[1]).toEqual({ type: 'webseed.data', key: h.context().key, index: 1, data: bytes });
    h.actor.send({ type: 'webseed.verified', index: 1 });
    expect(h.value()).toBe('idle');
    expect(h.context()).toMatchObject({ verified: 1, bytes: PIECE, failures: 0, piece: undefined });
    expect(h.reports.filter((r) => r.type === 'webseed.wants')).toHaveLength(2);
  });

  it('a single-file torrent is the URL itself; the last piece is shorter', async () => {
    const h = startWebSeed({ url: 'https://example.test/one.bin', layout: SINGLE });
    h.actor.send({ type: 'webseed.assign', index: 3 });
    await flush();
    expect(h.calls[0]!.input).toEqual({
      seed: 'https://example.test/one.bin',
      length: GEOMETRY.length - 3 * PIECE,
      ranges: [{ url: 'https://example.test/one.bin', start: 3 * PIECE, length: 16_384, padding: false }],
    });
  });

  it('nothing to fetch: waits, then asks again; bytes that were not needed: asks again at once', async () => {
    const h = startWebSeed();
    h.actor.send({ type: 'webseed.none' });
    expect(h.value()).toBe('waiting');
    await h.advance(499);
    expect(h.value()).toBe('waiting');
    await h.advance(1);
    expect(h.value()).toBe('idle');
    expect(h.reports.filter((r) => r.type === 'webseed.wants')).toHaveLength(2);
    h.actor.send({ type: 'webseed.assign', index: 0 });
    await flush();
    h.calls[0]!.resolve(new Uint8Array(PIECE));
    await flush();
    h.actor.send({ type: 'webseed.taken', index: 0 });
    expect(h.value()).toBe('idle');
    expect(h.context().verified).toBe(0);
  });

  it('an HTTP error backs off (doubling, or Retry-After when longer), then it asks again; a verified piece clears the strikes', async () => {
    const h = startWebSeed();
    h.actor.send({ type: 'webseed.assign', index: 2 });
    await flush();
    h.calls[0]!.reject(httpError('BT_ERR_WEBSEED_HTTP_STATUS', { retryAfterMs: 3_000 }));
    await flush();
    expect(h.value()).toBe('backoff');
    expect(h.reports.at(-1)).toMatchObject({ type: 'webseed.failed', index: 2, failures: 1 });
    await h.advance(2_999);
    expect(h.value()).toBe('backoff');
    await h.advance(1);
    expect(h.value()).toBe('idle');
    h.actor.send({ type: 'webseed.assign', index: 2 });
    await flush();
    h.calls[1]!.reject(httpError('BT_ERR_WEBSEED_TIMEOUT'));
    await flush();
    // Second strike: 2 × 1 s.
    await h.advance(1_999);
    expect(h.value()).toBe('backoff');
    await h.advance(1);
    expect(h.value()).toBe('idle');
    h.actor.send({ type: 'webseed.assign', index: 2 });
    await flush();
    h.calls[2]!.resolve(new Uint8Array(PIECE));
    await flush();
    h.actor.send({ type: 'webseed.verified', index: 2 });
    expect(h.context().failures).toBe(0);
  });

  it('is dropped after three strikes in a row (errors or pieces that fail their hash), and at once on a 404', async () => {
    const h = startWebSeed();
    for (let i = 0; i < 2; i++) {
      h.actor.send({ type: 'webseed.assign', index: i });
      await flush();
      h.calls[i]!.resolve(new Uint8Array(PIECE));
      await flush();
      h.actor.send({ type: 'webseed.bad', index: i });
      expect(h.value()).toBe('backoff');
      await h.advance(8_000);
    }
    h.actor.send({ type: 'webseed.assign', index: 3 });
    await flush();
    h.calls[2]!.reject(httpError());
    await flush();
    expect(h.value()).toBe('dropped');
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.reports.at(-1)).toMatchObject({ type: 'webseed.dropped', code: 'BT_ERR_WEBSEED_HTTP_STATUS' });

    const g = startWebSeed();
    g.actor.send({ type: 'webseed.assign', index: 0 });
    await flush();
    g.calls[0]!.reject(httpError('BT_ERR_WEBSEED_NOT_FOUND', { permanent: true }));
    await flush();
    expect(g.value()).toBe('dropped');
    expect(g.reports.map((r) => r.type)).toEqual(['webseed.wants', 'webseed.failed', 'webseed.dropped']);

    // The third bad piece drops it too.
    const b = startWebSeed();
    for (let i = 0; i < 3; i++) {
      b.actor.send({ type: 'webseed.assign', index: i });
      await flush();
      b.calls[i]!.resolve(new Uint8Array(PIECE));
      await flush();
      b.actor.send({ type: 'webseed.bad', index: i });
      await b.advance(8_000);
    }
    expect(b.value()).toBe('dropped');
    expect(b.reports.at(-1)).toMatchObject({ type: 'webseed.dropped', code: 'BT_ERR_WEBSEED_BAD_DATA' });
  });

  it('stopping it aborts the fetch under way', async () => {
    const h = startWebSeed();
    h.actor.send({ type: 'webseed.assign', index: 0 });
    await flush();
    h.actor.stop();
    expect(h.calls[0]!.aborted).toBe(true);
  });
});
