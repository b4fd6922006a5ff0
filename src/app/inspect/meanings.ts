/**
 * What the machines' states and events mean in BitTorrent terms, for the inspector page: a reader who
 * knows BitTorrent but not XState reads "waiting for the next announce" rather than
 * `active.waiting.ready`, and "peer 127.0.0.1:7102 disconnected: timeout" rather than
 * `xstate.done.actor.peer:127.0.0.1:7102#5`.
 *
 * The table holds one meaning per state of every machine in src/machines/registry.ts, keyed by the
 * machine's id and the state's path; test/app/inspect-meanings.test.ts fails when a state has none (or
 * the table names a state that no longer exists), so a new state cannot be added without saying what
 * it means. The meanings travel with the machine definitions ({@link StateDef.meaning}): the page still
 * knows no state names.
 */
import type { StateDef } from './protocol.js';

/** Meaning of each state, by machine id, then by state path (keys from the root joined with '.'). */
export const STATE_MEANINGS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  torrent: {
    metadata: 'fetching the info dictionary from peers (a magnet link, BEP 9)',
    'metadata.fetching': 'asking peers that have it for 16 KiB metadata pieces',
    checking: 'checking the data already on disk',
    active: 'running',
    'active.routing': 'starting: downloading or seeding?',
    'active.downloading': 'downloading',
    'active.complete': 'complete (every piece verified)',
    'active.complete.seeding': 'seeding: complete, uploading to peers that want pieces',
    stopping: 'stopping: telling the trackers and closing the files (after a storage failure too)',
    stopped: 'stopped',
    error: 'failed (storage error)',
  },
  peer: {
    connecting: 'connecting (TCP)',
    handshaking: 'exchanging the BitTorrent handshake',
    admitting: 'handshake done, waiting for the torrent to accept the peer',
    connected: 'connected',
    'connected.amChoking': 'may the peer download from us?',
    'connected.amChoking.choking': 'we choke the peer (it may not download from us)',
    'connected.amChoking.unchoked': 'we unchoke the peer (it may download from us)',
    'connected.peerInterested': 'does the peer want our pieces?',
    'connected.peerInterested.notInterested': 'the peer is not interested in our pieces',
    'connected.peerInterested.interested': 'the peer is interested in our pieces',
    'connected.amInterested': 'do we want pieces the peer has?',
    'connected.amInterested.notInterested': 'we are not interested (the peer has nothing we need)',
    'connected.amInterested.interested': 'we are interested in pieces the peer has',
    'connected.peerChoking': 'may we download from the peer?',
    'connected.peerChoking.choked': 'the peer chokes us (we may not download)',
    'connected.peerChoking.unchoked': 'the peer unchokes us (we may download)',
    'connected.requests': 'our block requests to the peer',
    'connected.requests.idle': 'no blocks requested',
    'connected.requests.active': 'downloading: blocks requested',
    'connected.requests.fast': 'choked by the peer, requesting only the pieces it allows us (BEP 6 allowed-fast)',
    'connected.requests.snubbed': 'snubbed: no block for a while, its requests moved to other peers',
    closing: 'disconnecting',
    closed: 'disconnected',
  },
  metadataPeer: {
    connecting: 'connecting (TCP), to fetch metadata',
    handshaking: 'exchanging the BitTorrent handshake',
    extending: 'waiting for its extension handshake (BEP 10): does it have the metadata?',
    fetching: 'asking it for metadata pieces (BEP 9 ut_metadata)',
    closing: 'disconnecting',
    closed: 'disconnected',
  },
  announcer: {
    idle: 'not announcing yet (the data is being checked)',
    running: 'announcing to the trackers (BEP 12 tiers)',
    stopping: 'telling the trackers we leave (`completed` if not yet told, then `stopped`)',
    stopped: 'done with the trackers',
  },
  tracker: {
    idle: 'not in use (another tracker of its tier answers)',
    active: 'in use',
    'active.starting': 'about to announce',
    'active.announcing': 'announcing (request sent, waiting for the answer)',
    'active.announcing.requesting': 'announcing (request sent, waiting for the answer)',
    'active.announcing.finishing': 'stopping: waiting for the answer to `completed` before sending `stopped`',
    'active.waiting': 'waiting for the next announce (the interval the tracker asked for)',
    'active.waiting.cooling': 'waiting; within the minimum interval, no early re-announce',
    'active.waiting.ready': 'waiting; may re-announce early when asked',
    'active.backoff': 'backing off after a failed announce',
    stopping: 'stopping: telling the tracker we leave',
    'stopping.deciding': 'stopping: does the tracker still need to hear `completed`?',
    'stopping.completing': 'stopping: sending `completed` (the download completed) before `stopped`',
    'stopping.leaving': 'sending `stopped`',
    stopped: 'stopped',
  },
  choker: {
    running: 'choosing which peers to unchoke (every 10 s, one optimistic unchoke)',
  },
  webseed: {
    idle: 'web seed (BEP 19): asking the torrent for a piece to fetch',
    waiting: 'web seed: nothing to fetch now; asking again soon',
    fetching: 'web seed: fetching a whole piece with HTTP range requests',
    verifying: 'web seed: the piece it sent is being hashed',
    backoff: 'web seed: backing off after a failed request or a piece that failed its hash',
    dropped: 'web seed dropped (not found, or failed three times in a row)',
  },
  dht: {
    starting: 'DHT: binding the UDP port, resolving the bootstrap nodes',
    active: 'DHT node running: answering queries, keeping its routing table',
    'active.bootstrapping': 'DHT: joining the network',
    'active.bootstrapping.contacting': 'DHT: asking the bootstrap nodes for nodes near our id',
    'active.bootstrapping.selfLookup': 'DHT: looking up our own id to fill the routing table',
    'active.ready': 'DHT ready: looking up peers for the torrents, announcing them',
    stopping: 'DHT stopping: saving the routing table',
    'stopping.serializing': 'DHT stopping: writing out the routing table',
    'stopping.saving': 'DHT stopping: saving dht.json',
    stopped: 'DHT stopped (table saved)',
    failed: 'DHT off: the UDP port could not be had',
  },
  dhtLookup: {
    running: 'DHT lookup: asking the closest nodes (3 at a time) until the 8 closest answered',
    done: 'DHT lookup done',
  },
  dhtQuery: {
    waiting: 'a DHT query waiting for its answer',
    slow: 'a DHT query that is late (another node is asked)',
    timedOut: 'a DHT query that got no answer',
  },
  dhtTicker: {
    ticking: "the DHT node's clock (one tick a second)",
  },
};

/** The meaning of the state at `path` of machine `machine`, if the table has one. */
export function stateMeaning(machine: string, path: string): string | undefined {
  return STATE_MEANINGS[machine]?.[path];
}

/** A definition with each state's meaning attached (a state's own `description` comes first). */
export function withMeanings(machine: string, node: StateDef): StateDef {
  const meaning = node.description ?? (node.path === '' ? undefined : stateMeaning(machine, node.path));
  return {
    ...node,
    ...(meaning !== undefined && { meaning }),
    states: node.states.map((s) => withMeanings(machine, s)),
  };
}

/** `peer:127.0.0.1:7102#5` (a peer actor's id) → `127.0.0.1:7102`. */
export function peerAddressOfId(id: string): string | undefined {
  const m = /^peer:(.+?)(?:#\d+)?$/.exec(id);
  return m?.[1];
}

const REASONS: Readonly<Record<string, string>> = {
  timeout: 'timed out',
  'protocol-error': 'protocol error',
  'bad-data': 'sent bad data',
  'info-hash-mismatch': 'wrong torrent (info hash)',
  self: 'it was ourselves',
  duplicate: 'already connected to that peer',
  'socket-error': 'connection error',
  'closed-by-peer': 'closed by the peer',
  'not-useful': 'nothing to exchange',
  shutdown: 'shutting down',
};

/** A close reason in words (`closed-by-peer` → `closed by the peer`). */
export function closeReasonText(reason: string): string {
  return REASONS[reason] ?? reason;
}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const len = (v: unknown) => (Array.isArray(v) ? v.length : undefined);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** The name of a child actor in an XState done/error event, in words. */
function childName(id: string): string {
  const peer = peerAddressOfId(id);
  if (peer !== undefined) return `peer ${peer}`;
  if (id.startsWith('tracker:')) return `tracker ${id.slice('tracker:'.length)}`;
  if (id.startsWith('webseed:')) return `web seed ${id.slice('webseed:'.length)}`;
  if (id === 'announce') return 'the announce request';
  if (id === 'announceStopped') return 'the `stopped` announce';
  return id;
}

/**
 * What an event received by an actor means, in BitTorrent terms (shown instead of its type): `peer
 * 127.0.0.1:7102 disconnected: timed out`, `the peer unchoked us`, `tracker answered: 12 peers`.
 * Undefined when the event has no plainer name than its type.
 */
export function eventMeaning(event: Record<string, unknown>): string | undefined {
  const type = str(event.type) ?? '';
  const key = str(event.key);
  const who = key !== undefined ? `peer ${key}` : 'peer';
  const reason = str(event.reason);
  const detail = str(event.detail);
  const because = reason !== undefined ? `: ${closeReasonText(reason)}${detail ? ` (${detail})` : ''}` : '';
  switch (type) {
    case 'xstate.init':
      return 'started';
    case 'xstate.stop':
      return 'stopped';
    // Peer ↔ wire (BEP 3 messages)
    case 'wire.connected':
      return 'TCP connection open';
    case 'wire.handshake':
      return 'handshake received';
    case 'wire.bitfield':
      return 'the peer sent its bitfield';
    case 'wire.have-all':
      return 'the peer has every piece (have all)';
    case 'wire.have-none':
      return 'the peer has no piece yet (have none)';
    case 'wire.choke':
      return 'the peer choked us';
    case 'wire.unchoke':
      return 'the peer unchoked us';
    case 'wire.interested':
      return 'the peer is interested';
    case 'wire.not-interested':
      return 'the peer is not interested';
    case 'wire.extended':
      return 'extension message (BEP 10)';
    case 'wire.unknown':
      return 'unknown message';
    case 'wire.closed':
      return `connection closed${because}`;
    case 'wire.protocolError':
      return `protocol error${detail ? `: ${detail}` : ''}`;
    case 'peer.admit':
      return 'the torrent accepted the peer';
    case 'peer.close':
      return `disconnecting${because}`;
    case 'peer.choke':
      return 'the choker chokes this peer';
    case 'peer.unchoke':
      return 'the choker unchokes this peer';
    case 'peer.interest':
      return event.interested === false
        ? 'nothing more to get from the peer: not interested'
        : 'the peer has pieces we want: interested';
    case 'peer.reconsider':
      return 'may request blocks again';
    // Torrent
    case 'peer.handshake':
      return `${who} completed its handshake`;
    case 'peer.bitfield':
      return `${who} told which pieces it has`;
    case 'peer.state':
      return `${who} changed choke/interest`;
    case 'peer.closed':
      return `${who} disconnected${because}`;
    case 'torrent.dial': {
      const n = len(event.peers);
      return n !== undefined ? `dialling ${plural(n, 'peer')}` : 'dialling peers';
    }
    case 'torrent.addPeers': {
      const n = len(event.peers);
      return n !== undefined ? `${plural(n, 'peer address', 'peer addresses')} added` : 'peer addresses added';
    }
    case 'torrent.incoming':
      return 'incoming connection';
    case 'torrent.stop':
      return 'asked to stop';
    case 'torrent.reannounce':
      return 'asked to re-announce';
    case 'torrent.verified':
      return 'a piece was verified';
    case 'torrent.struck':
      return event.kind === 'badBlock'
        ? `piece ${num(event.index) ?? '?'}: the leaf hashes a peer proved name the senders of its bad blocks`
        : `piece ${num(event.index) ?? '?'} failed its hash: its senders are blamed`;
    case 'storage.ready':
      return 'the data on disk is checked';
    case 'storage.error':
      return `storage error${str(event.message) ? `: ${str(event.message)}` : ''}`;
    case 'storage.diskFull':
      return 'the disk is full: writes wait';
    case 'storage.diskOk':
      return 'the disk has room again';
    case 'storage.hashFailed':
      return `piece ${num(event.index) ?? '?'} failed its hash check`;
    case 'storage.closed':
      return 'files closed';
    case 'announcer.peers': {
      const n = len(event.peers);
      return n !== undefined ? `the trackers gave ${plural(n, 'peer')}` : 'the trackers gave peers';
    }
    case 'announcer.tracker':
      return 'tracker news';
    case 'dht.peers': {
      const n = len(event.peers);
      return n !== undefined ? `the DHT found ${plural(n, 'peer')}` : 'the DHT found peers';
    }
    case 'dht.add':
      return 'look up peers for a torrent on the DHT';
    case 'lookup.done':
      return 'a DHT lookup ended';
    case 'query.timeout':
      return 'a DHT query timed out';
    case 'choker.due':
      return 'time to choose whom to unchoke';
    case 'choker.unchoke':
      return 'the choker chose whom to unchoke';
    case 'choker.rechoke':
      return 'choosing whom to unchoke';
    case 'choker.fill':
      return 'a slot to unchoke is free';
    // Web seeds (BEP 19)
    case 'webseed.wants':
      return 'a web seed asks for a piece';
    case 'webseed.assign':
      return num(event.index) !== undefined ? `fetch piece ${num(event.index)} from the web seed` : 'fetch a piece';
    case 'webseed.none':
      return 'nothing for the web seed to fetch now';
    case 'webseed.data':
      return num(event.index) !== undefined
        ? `the web seed sent piece ${num(event.index)}`
        : 'the web seed sent a piece';
    case 'webseed.verified':
      return "the web seed's piece verified";
    case 'webseed.bad':
      return "the web seed's piece failed its hash";
    case 'webseed.taken':
      return "the web seed's piece was already here";
    case 'webseed.failed':
      return str(event.message) !== undefined
        ? `a web seed request failed: ${str(event.message)}`
        : 'a web seed request failed';
    case 'webseed.dropped':
      return 'a web seed was dropped';
    // Announcer and trackers
    case 'announcer.start':
      return 'start announcing';
    case 'announcer.stop':
      return 'stop: send `stopped` to the trackers';
    case 'announcer.completed':
      return 'download complete: send `completed`';
    case 'announcer.reannounce':
    case 'tracker.reannounce':
      return 're-announce now';
    case 'announcer.stats':
    case 'tracker.stats':
      return 'new transfer counters for the next announce';
    case 'tracker.response': {
      const n = len(event.peers);
      return n !== undefined ? `tracker answered: ${plural(n, 'peer')}` : 'tracker answered';
    }
    case 'tracker.failed':
      return `tracker failed${str(event.message) ? `: ${str(event.message)}` : ''}`;
    case 'tracker.warning':
      return `tracker warning${str(event.message) ? `: ${str(event.message)}` : ''}`;
    case 'tracker.stopped':
      return 'tracker told `stopped`';
    case 'tracker.enable':
      return 'tracker chosen (BEP 12 tier)';
    case 'tracker.disable':
      return 'tracker set aside (BEP 12 tier)';
    case 'tracker.completed':
      return 'send `completed` with the next announce';
    case 'tracker.stop':
      return 'stop: send `stopped`';
  }
  const done = /^xstate\.done\.actor\.(.+)$/.exec(type);
  if (done) {
    const name = childName(done[1]!);
    if (name.startsWith('peer ')) return `${name} finished`;
    if (name === 'the announce request') return 'the tracker answered';
    return `${name} finished`;
  }
  const error = /^xstate\.error\.actor\.(.+)$/.exec(type);
  if (error) {
    const name = childName(error[1]!);
    if (name === 'the announce request') return 'the announce failed';
    return `${name} failed`;
  }
  const after = /^xstate\.after\.([^.]+)\./.exec(type);
  if (after) return `timer: ${after[1]!.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}`;
  return undefined;
}
