/** The peers an announcer finds, as an RxJS stream (for embedders and tests). */
import { Observable } from 'rxjs';
import type { PeerAddress } from '../protocol/peer-address.js';
import type { AnnouncerActor } from './trackers.js';

/**
 * The peers an announcer finds, each address once (IPv4 and IPv6), as an Observable that
 * completes when the announcer stops.
 */
export function announcerPeers(announcer: AnnouncerActor): Observable<PeerAddress> {
  return new Observable<PeerAddress>((subscriber) => {
    const onPeers = announcer.on('announcer.peers', (e) => {
      for (const p of e.peers) subscriber.next(p);
    });
    const done = announcer.subscribe({ complete: () => subscriber.complete(), error: (err) => subscriber.error(err) });
    return () => {
      onPeers.unsubscribe();
      done.unsubscribe();
    };
  });
}
