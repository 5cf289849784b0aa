import { Observable, Subject } from 'rxjs';
import type { Connection, MessageData } from '../server/connection.js';
import { GuardedObservable } from '../server/guarded.js';
import { sendToAll } from '../server/rooms.js';
import type { HistoryPosition } from '../history/store.js';
import type { ClusterAdapter, ClusterHealth, ClusterOwner, HeldDelivery, PublishOptions, RoomMessage } from './adapter.js';

/**
 * Told when this node starts or stops caring about a room (its first local
 * member or `messages$` subscriber arrives, or its last one goes): how a
 * cross-process adapter built on LocalCluster knows which rooms to listen to.
 */
export type RoomInterestListener = (room: string, interested: boolean) => void;

const NO_OWNER: ClusterOwner<never> = {
  connection: () => undefined,
  connections: () => [],
  report: (err) => console.error('rxws: error in a room subscriber:', err),
};
const EMPTY: ReadonlySet<never> = new Set();

/**
 * The in-process adapter, and the server's default: pub/sub rooms with an
 * index both ways (room → members, connection → room names), so that leaving
 * and disconnecting cost O(rooms of that connection) and never scan other
 * members. Empty rooms are dropped. Only open connections may join, so a
 * closed connection can never linger in a room.
 *
 * Cross-process adapters wrap one (see redis.ts): their local members get the
 * same fan-out through `deliverPublish` / `deliverBroadcast`.
 */
export class LocalCluster<S = Record<string, unknown>> implements ClusterAdapter<S> {
  private readonly roomMembers = new Map<string, Set<Connection<S>>>();
  private readonly roomsByConnection = new Map<Connection<S>, Set<string>>();
  private readonly subjects = new Map<string, Subject<RoomMessage<S>>>();
  /** Members whose deliveries in a room are held (a join not yet announced, a replay being sent). */
  private readonly holds = new Map<string, Map<Connection<S>, (delivery: HeldDelivery) => void>>();

  constructor(
    private readonly owner: ClusterOwner<S> = NO_OWNER,
    private readonly onInterest?: RoomInterestListener,
  ) {}

  get size(): number {
    return this.roomMembers.size;
  }

  names(): IterableIterator<string> {
    return this.roomMembers.keys();
  }

  membersOf(room: string): ReadonlySet<Connection<S>> {
    return this.roomMembers.get(room) ?? EMPTY;
  }

  count(room: string): number {
    return this.roomMembers.get(room)?.size ?? 0;
  }

  members(room: string): Promise<number> {
    return Promise.resolve(this.count(room));
  }

  /** Rooms with `messages$` subscribers on this node but no members here. */
  *watchedRooms(): IterableIterator<string> {
    for (const room of this.subjects.keys()) if (!this.roomMembers.has(room)) yield room;
  }

  join(conn: Connection<S>, room: string): boolean {
    if (conn.readyState !== 'open') return false;
    let set = this.roomMembers.get(room);
    if (set === undefined) {
      const wasInterested = this.subjects.has(room);
      this.roomMembers.set(room, (set = new Set()));
      if (!wasInterested) this.onInterest?.(room, true);
    }
    set.add(conn);
    let names = this.roomsByConnection.get(conn);
    if (names === undefined) this.roomsByConnection.set(conn, (names = new Set()));
    names.add(room);
    return true;
  }

  leave(conn: Connection<S>, room: string): boolean {
    const set = this.roomMembers.get(room);
    if (set === undefined || !set.delete(conn)) return false;
    const names = this.roomsByConnection.get(conn);
    if (names !== undefined && names.delete(room) && names.size === 0) this.roomsByConnection.delete(conn);
    if (set.size === 0) this.dropRoom(room);
    return true;
  }

  leaveAll(conn: Connection<S>): void {
    const names = this.roomsByConnection.get(conn);
    if (names === undefined) return;
    this.roomsByConnection.delete(conn);
    for (const room of names) {
      const set = this.roomMembers.get(room);
      if (set !== undefined && set.delete(conn) && set.size === 0) this.dropRoom(room);
    }
  }

  roomsOf(conn: Connection<S>): ReadonlySet<string> {
    return this.roomsByConnection.get(conn) ?? EMPTY;
  }

  publish(room: string, data: string | Uint8Array, options?: PublishOptions<S>): number {
    const from = options?.from;
    const history = this.owner.history;
    if (history === undefined) return this.deliver(room, data, from, from?.id, options?.except, undefined);
    // With history the store gives the position first; an asynchronous store resolves in offset order.
    const position = history.store.append(room, from?.id, data);
    if (!(position instanceof Promise)) return this.deliver(room, data, from, from?.id, options?.except, position);
    position.then(
      (resolved) => this.deliver(room, data, from, from?.id, options?.except, resolved),
      (err: unknown) => this.owner.report(err),
    );
    return 0;
  }

  /**
   * A publish that another node accepted: the same local fan-out, with `from` /
   * `except` as ids, and its position when the room has history.
   */
  deliverPublish(
    room: string,
    data: string | Uint8Array,
    fromId: string | undefined,
    exceptId: string | undefined,
    position?: HistoryPosition,
  ): number {
    return this.deliver(room, data, undefined, fromId, this.localConnection(exceptId), position);
  }

  private deliver(
    room: string,
    data: string | Uint8Array,
    from: Connection<S> | undefined,
    fromId: string | undefined,
    except: Connection<S> | undefined,
    position: HistoryPosition | undefined,
  ): number {
    const set = this.roomMembers.get(room);
    const history = this.owner.history;
    let delivered = 0;
    if (set !== undefined) {
      // Framed once per publish on this node, whatever the number of members.
      const frame = position === undefined || history === undefined ? data : history.frame({ room, fromId, data, ...position });
      const held = this.holds.get(room);
      if (held === undefined) delivered = sendToAll(set, frame, except);
      else {
        delivered = sendToAll(notHeld(set, held), frame, except);
        const delivery: HeldDelivery = { data: frame, offset: position?.offset };
        for (const [conn, hold] of held) if (conn !== except && set.has(conn)) hold(delivery);
      }
    }
    this.subjects.get(room)?.next({ room, data: asMessageData(data), from, fromId, offset: position?.offset, epoch: position?.epoch });
    return delivered;
  }

  /**
   * While subscribed, what this node would deliver to `conn` in `room` is
   * emitted here instead of sent (framed as members get it, with its offset):
   * how a join announces itself and replays history before any live message.
   */
  holdDeliveries(conn: Connection<S>, room: string): Observable<HeldDelivery> {
    return new Observable<HeldDelivery>((subscriber) => {
      let held = this.holds.get(room);
      if (held === undefined) this.holds.set(room, (held = new Map()));
      const hold = (delivery: HeldDelivery) => subscriber.next(delivery);
      held.set(conn, hold);
      return () => {
        const current = this.holds.get(room);
        if (current?.get(conn) !== hold) return;
        current.delete(conn);
        if (current.size === 0) this.holds.delete(room);
      };
    });
  }

  messages$(room: string): Observable<RoomMessage<S>> {
    return new GuardedObservable<RoomMessage<S>>((subscriber) => {
      let subject = this.subjects.get(room);
      if (subject === undefined) {
        this.subjects.set(room, (subject = new Subject()));
        if (!this.roomMembers.has(room)) this.onInterest?.(room, true);
      }
      const subscription = subject.subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        if (!subject.observed && this.subjects.get(room) === subject) {
          this.subjects.delete(room);
          if (!this.roomMembers.has(room)) this.onInterest?.(room, false);
        }
      };
    }, (err) => this.owner.report(err));
  }

  broadcast(data: string | Uint8Array, options?: PublishOptions<S>): number {
    return sendToAll(this.owner.connections(), data, options?.except);
  }

  /** A broadcast that another node accepted. */
  deliverBroadcast(data: string | Uint8Array, exceptId: string | undefined): number {
    return sendToAll(this.owner.connections(), data, this.localConnection(exceptId));
  }

  // Declared as the interface says, so that a subclass may answer asynchronously.
  sendTo(id: string, data: string | Uint8Array): boolean | Promise<boolean> {
    return this.owner.connection(id)?.send(data) ?? false;
  }

  connectionOpened(): void {
    // Nothing to announce within one process.
  }

  connectionClosed(conn: Connection<S>): void {
    this.leaveAll(conn);
  }

  health(): ClusterHealth | undefined {
    return undefined;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private localConnection(id: string | undefined): Connection<S> | undefined {
    return id === undefined ? undefined : this.owner.connection(id);
  }

  private dropRoom(room: string): void {
    this.roomMembers.delete(room);
    if (!this.subjects.has(room)) this.onInterest?.(room, false);
  }
}

/** The default `cluster` option: this process only. */
export const localCluster = <S>(owner: ClusterOwner<S>): LocalCluster<S> => new LocalCluster<S>(owner);

function* notHeld<S>(members: Iterable<Connection<S>>, held: ReadonlyMap<Connection<S>, unknown>): IterableIterator<Connection<S>> {
  for (const conn of members) if (!held.has(conn)) yield conn;
}

const asMessageData = (data: string | Uint8Array): MessageData =>
  typeof data === 'string' || Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
