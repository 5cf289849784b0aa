import type { Observable } from 'rxjs';
import type { Connection } from '../server/connection.js';
import type { ClusterOwner, HeldDelivery, RoomMessage } from './adapter.js';
import { LocalCluster } from './local.js';

/**
 * What every adapter that spans processes shares: this node's members live in
 * a LocalCluster, which answers every question about this node alone and
 * frames each message once for them. Subclasses add the reach to other nodes
 * and hear, through `interest`, when this node starts or stops caring about a
 * room (members or `messages$` watchers).
 */
export abstract class NodeCluster<S> {
  protected readonly local: LocalCluster<S>;

  constructor(owner: ClusterOwner<S>) {
    // Offsets must be consecutive across the whole cluster: positions given by each node's own store would not be.
    if (owner.history !== undefined) {
      throw new TypeError('rxws: room history (the history option) works only with the in-process cluster so far, not with a cluster adapter (Redis, --workers)');
    }
    this.local = new LocalCluster<S>(owner, (room, interested) => this.interest(room, interested));
  }

  protected abstract interest(room: string, interested: boolean): void;

  get size(): number {
    return this.local.size;
  }
  names(): IterableIterator<string> {
    return this.local.names();
  }
  membersOf(room: string): ReadonlySet<Connection<S>> {
    return this.local.membersOf(room);
  }
  count(room: string): number {
    return this.local.count(room);
  }
  roomsOf(conn: Connection<S>): ReadonlySet<string> {
    return this.local.roomsOf(conn);
  }
  messages$(room: string): Observable<RoomMessage<S>> {
    return this.local.messages$(room);
  }
  holdDeliveries(conn: Connection<S>, room: string): Observable<HeldDelivery> {
    return this.local.holdDeliveries(conn, room);
  }
}
