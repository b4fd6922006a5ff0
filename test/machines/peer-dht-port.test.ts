/**
 * BEP 5 in the peer statechart: with a DHT (`torrent.dhtPort`) our handshake's reserved bit says so, a
 * peer whose handshake says so too is sent a `port` message after our bitfield, and the `port` messages
 * a peer sends are reported to the torrent (`peer.dhtNode`); without a DHT none of this happens.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { handshakeExtensions } from '../../src/protocol/wire.js';
import { EXTENDED, startPeer, type PeerHarness } from './peer-harness.js';

/** The DHT bit of the reserved bytes (BEP 5: the last byte's 0x01), with BEP 10's. */
const DHT_AND_EXTENDED = Uint8Array.from([0, 0, 0, 0, 0, 0x10, 0, 0x01]);

let current: PeerHarness | undefined;
afterEach(() => {
  expect(current?.errors()).toEqual([]);
  current?.stop();
  current = undefined;
});
function start(...args: Parameters<typeof startPeer>) {
  current = startPeer(...args);
  return current;
}

describe('peer statechart: BEP 5 port messages', () => {
  it('with a DHT: our handshake says so, a DHT peer is told our port after the bitfield, its port is reported', () => {
    const h = start({ torrent: { dhtPort: 51413 } });
    expect(handshakeExtensions(h.wire.input!.handshake.reserved).dht).toBe(true);
    h.connect(DHT_AND_EXTENDED, [0]);
    const sent = h.messages().map((m) => m.type);
    expect(sent).toContain('port');
    expect(sent.indexOf('port')).toBeGreaterThan(sent.indexOf('bitfield'));
    expect(h.messages('port')).toEqual([{ type: 'port', port: 51413 }]);
    h.push({ type: 'wire.port', port: 6882 });
    h.push({ type: 'wire.port', port: 0 }); // not a port: nothing
    expect(h.reports('peer.dhtNode')).toEqual([{ type: 'peer.dhtNode', key: h.key, port: 6882 }]);
  });

  it('with a DHT, a peer without one is not sent a port message', () => {
    const h = start({ torrent: { dhtPort: 51413 } });
    h.connect(EXTENDED);
    expect(h.messages('port')).toEqual([]);
  });

  it('without a DHT: no reserved bit, no port message, and port messages are ignored', () => {
    const h = start();
    expect(handshakeExtensions(h.wire.input!.handshake.reserved).dht).toBe(false);
    h.connect(DHT_AND_EXTENDED);
    expect(h.messages('port')).toEqual([]);
    h.push({ type: 'wire.port', port: 6882 });
    expect(h.reports('peer.dhtNode')).toEqual([]);
  });
});
