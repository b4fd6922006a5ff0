import { describe, expect, it } from 'vitest';
import { smallContext } from '../../src/app/inspect/summary.js';

describe('inspector summaries', () => {
  it("a torrent's hash failures and bans show in its context summary: who was banned and why", () => {
    const small = smallContext({
      tally: { hashFailures: 2, wasted: 524288 },
      bans: [
        {
          address: '10.0.0.7:6881',
          ip: '10.0.0.7',
          scope: 'ip',
          reason: 'sent every block of piece 3, which failed its hash',
          until: 1,
        },
      ],
      svc: { picker: {} },
    });
    expect(small.tally).toMatchObject({ hashFailures: 2 });
    expect(small.bans).toEqual(['10.0.0.7:6881: sent every block of piece 3, which failed its hash']);
    expect(small.svc).toBeUndefined();
  });
});
