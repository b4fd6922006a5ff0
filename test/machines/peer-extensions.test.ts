/**
 * The peer's extension protocol (src/machines/peer/extensions.ts): our BEP 10 handshake, what the
 * peer's handshake tells us, and the routing of extended messages to the registry's extensions.
 */
import { describe, expect, it } from 'vitest';
import {
  EXTENSIONS,
  emptyExtensionState,
  ourExtensionHandshake,
  routeExtended,
  type ExtensionSpec,
} from '../../src/machines/peer/extensions.js';
import {
  MAX_NAME_BYTES,
  MAX_REQQ,
  decodeExtensionHandshake,
  encodeExtensionHandshake,
} from '../../src/protocol/extension-handshake.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const registry: ExtensionSpec[] = [{ name: 'ut_metadata' }, { name: 'ut_pex' }];

describe('EXTENSIONS', () => {
  it('names each extension once, with a name a peer keeps', () => {
    const names = EXTENSIONS.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) {
      expect(name.length).toBeGreaterThan(0);
      expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_NAME_BYTES);
    }
  });

  it('offers each registered extension at its position + 1, and routes its messages back to it', () => {
    const h = decodeExtensionHandshake(ourExtensionHandshake({ reqq: 100 }));
    expect(h.m).toEqual(Object.fromEntries(EXTENSIONS.map((e, i) => [e.name, i + 1])));
    const payload = ascii('x');
    EXTENSIONS.forEach((e, i) =>
      expect(routeExtended(i + 1, payload)).toEqual({ kind: 'extension', name: e.name, payload }),
    );
    expect(routeExtended(EXTENSIONS.length + 1, payload).kind).toBe('ignored');
  });
});

describe('ourExtensionHandshake', () => {
  it("encodes the registry's ids, our reqq and our name", () => {
    const bytes = ourExtensionHandshake({ reqq: 250, registry });
    expect(Buffer.from(bytes).toString('latin1')).toBe('d1:md11:ut_metadatai1e6:ut_pexi2ee4:reqqi250e1:v8:bt-actore');
    expect(decodeExtensionHandshake(bytes)).toEqual({
      m: { ut_metadata: 1, ut_pex: 2 },
      reqq: 250,
      client: 'bt-actor',
    });
  });

  it('offers nothing with an empty registry', () => {
    const bytes = ourExtensionHandshake({ reqq: 2000, registry: [] });
    expect(Buffer.from(bytes).toString('latin1')).toBe('d1:mde4:reqqi2000e1:v8:bt-actore');
  });
});

describe('routeExtended', () => {
  it('reads the peer handshake (id 0) into a new state', () => {
    const payload = encodeExtensionHandshake({
      m: { ut_metadata: 3, ut_pex: 1 },
      reqq: 250,
      client: 'qBittorrent/4.6',
    });
    expect(routeExtended(0, payload)).toEqual({
      kind: 'handshake',
      state: { peerIds: { ut_metadata: 3, ut_pex: 1 }, reqq: 250, client: 'qBittorrent/4.6' },
    });
  });

  it('leaves reqq unbounded and the client unknown when the peer does not say', () => {
    const m = routeExtended(0, ascii('d1:md6:ut_pexi2eee'));
    expect(m).toEqual({
      kind: 'handshake',
      state: { peerIds: { ut_pex: 2 }, reqq: Number.POSITIVE_INFINITY, client: undefined },
    });
    expect(routeExtended(0, ascii('de'))).toEqual({ kind: 'handshake', state: emptyExtensionState });
  });

  it('keeps what the handshake decoder keeps: disabled names out, reqq clamped, bad facts dropped', () => {
    const m = routeExtended(0, ascii('d1:md11:ut_metadatai0e6:ut_pexi2ee4:reqqi99999999e1:vi5ee'));
    expect(m).toEqual({ kind: 'handshake', state: { peerIds: { ut_pex: 2 }, reqq: MAX_REQQ, client: undefined } });
    const zero = routeExtended(0, ascii('d4:reqqi0ee'));
    expect(zero.kind === 'handshake' && zero.state.reqq).toBe(Number.POSITIVE_INFINITY);
  });

  it('ignores a malformed handshake, saying why', () => {
    const cases: [string, RegExp][] = [
      ['', /^extension handshake: /],
      ['not bencode', /^extension handshake: /],
      ['d1:md6:ut_pexi2eee trailing', /^extension handshake: /],
      ['li1ee', /^extension handshake: not a dictionary$/],
      ['d1:mi1ee', /^extension handshake: m is not a dictionary$/],
      ['d1:md6:ut_pexi256eee', /^extension handshake: m\.ut_pex is not a message id$/],
      ['d1:md6:ut_pex3:abcee', /^extension handshake: m\.ut_pex is not a message id$/],
      ['d1:md6:ut_pexi-1eee', /^extension handshake: m\.ut_pex is not a message id$/],
      ['d9:__proto__de1:md6:ut_pexi2eee', /^extension handshake: .*__proto__/],
    ];
    for (const [text, reason] of cases) {
      const m = routeExtended(0, ascii(text));
      expect(m.kind, text).toBe('ignored');
      if (m.kind === 'ignored') expect(m.reason, text).toMatch(reason);
    }
  });

  it('ignores a message for an id we never offered', () => {
    const payload = ascii('d8:msg_typei0e5:piecei0ee');
    expect(routeExtended(1, payload, [])).toEqual({ kind: 'ignored', reason: 'extended message 1 was never offered' });
    expect(routeExtended(3, payload, registry)).toEqual({
      kind: 'ignored',
      reason: 'extended message 3 was never offered',
    });
    expect(routeExtended(255, payload, registry).kind).toBe('ignored');
  });

  it("hands a registered extension's message to it, payload untouched", () => {
    const payload = ascii('d8:msg_typei0e5:piecei0ee');
    const a = routeExtended(1, payload, registry);
    expect(a).toEqual({ kind: 'extension', name: 'ut_metadata', payload });
    expect(a.kind === 'extension' && a.payload).toBe(payload);
    expect(routeExtended(2, payload, registry)).toEqual({ kind: 'extension', name: 'ut_pex', payload });
    // Id 0 is the handshake whatever the registry.
    expect(routeExtended(0, ourExtensionHandshake({ reqq: 2000, registry }), registry)).toEqual({
      kind: 'handshake',
      state: { peerIds: { ut_metadata: 1, ut_pex: 2 }, reqq: 2000, client: 'bt-actor' },
    });
  });
});
