/**
 * The contract between the DHT node statechart (src/machines/dht/dht.machine.ts) and its UDP socket
 * actor (src/io/dht-socket.ts): the events the socket sends the node and the commands the node sends
 * the socket. Declared here, in the lowest layer, so that neither side imports the other.
 */
import type { KrpcLimits, KrpcMessage } from './krpc.js';

/** A UDP address: a normalised IP address (see peer-address.ts) and a port. */
export interface DhtEndpoint {
  host: string;
  port: number;
}

/** What the socket actor is started with. */
export interface DhtSocketInput {
  /** Address to bind (default all interfaces). */
  host?: string;
  /** UDP port to bind: the engine's peer port number. */
  port: number;
  /** Bootstrap nodes as `HOST:PORT` (`[v6]:PORT`); names are resolved when the socket starts. */
  bootstrap: readonly string[];
  /** Caps for decoding incoming datagrams (see krpc.ts). */
  limits?: Partial<KrpcLimits>;
}

/** Events the socket sends the node. */
export type DhtSocketReport =
  /** Bound; the bootstrap nodes that resolved (`routers`) and the entries that did not (`unresolved`, with why). */
  | { type: 'socket.ready'; port: number; routers: DhtEndpoint[]; unresolved: string[] }
  /** The socket could not be bound or failed: the node gives up. */
  | { type: 'socket.failed'; message: string }
  /** A datagram that decoded as a KRPC message; `size` is its length in bytes. */
  | { type: 'socket.message'; msg: KrpcMessage; from: DhtEndpoint; size: number }
  /** A datagram the codec refused; `t` and `kind` when they were readable (a query is answered 203). */
  | { type: 'socket.malformed'; from: DhtEndpoint; size: number; t?: Uint8Array; kind?: 'q' | 'r' | 'e' };

/** What the node asks the socket to do. */
export type DhtSocketCommand = { type: 'socket.send'; to: DhtEndpoint; msg: KrpcMessage };

/** Input of the actor that saves the routing table (`dht.json`) when the node stops. */
export interface DhtSaveInput {
  text: string;
}
