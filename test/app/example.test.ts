import { describe, expect, it } from 'vitest';
import { main } from '../../examples/embed.mjs';

describe('examples/embed.mjs', () => {
  it('downloads through the library API and verifies the data', async () => {
    const lines: string[] = [];
    expect(await main((l) => lines.push(l))).toBe(true);
    expect(lines.some((l) => /pieces, \d+ peers/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('downloaded and verified: byte-identical');
  }, 60_000);
});
