// The seam between the server and whatever spans its rooms, broadcast and
// send-by-id: this process only (LocalCluster, the default), or several
// processes (Redis, worker IPC). Shaped like socket.io's adapter factory: the
// server calls `cluster(owner)` once and never constructs a concrete adapter.
//
// What crosses processes is ids, room names and payloads, never objects:
// `from` / `except` travel as connection ids. What only another process can
// answer (cluster-wide member counts, whether some node holds an id) is a
// Promise in these types; what this node answers alone stays synchronous.
import type { Observable } from 'rxjs';
import type { Connection, MessageData } from '../server/connection.js';
import type { RoomHistory } from '../history/store.js';

/** What a room's `messages$` emits for each publish, on any node of the cluster. */
export interface RoomMessage<S = Record<string, unknown>> {
  readonly room: string;
  readonly data: MessageData;
  /** The publishing connection, when it is on this node (undefined for another node's publish). */
  readonly from: Connection<S> | undefined;
  /** The publisher's connection id, on whichever node it is (undefined when published without `from`). */
  readonly fromId: string | undefined;
  /** Its offset in the room's history (consecutive per room and epoch); undefined without the `history` option. */
  readonly offset?: number | undefined;
  /** The lifetime of the room's history that `offset` belongs to; undefined without the `history` option. */
  readonly epoch?: string | undefined;
}

export interface PublishOptions<S = Record<string, unknown>> {
  /** Who published (reported in RoomMessage.from / fromId; only its id crosses nodes). */
  readonly from?: Connection<S> | undefined;
  /** A member that should not receive it, typically the sender (only its id crosses nodes). */
  readonly except?: Connection<S> | undefined;
}

/**
 * Pub/sub rooms. Membership changes apply to this node at once and
 * synchronously (a member receives every publish from then on); what the
 * cluster as a whole says about a room is asked with `members()`.
 */
export interface Rooms<S = Record<string, unknown>> {
  /** Rooms with at least one member on this node. */
  readonly size: number;
  /** Names of the rooms with members on this node. */
  names(): IterableIterator<string>;
  /** Members of `room` on this node (empty when there are none). */
  membersOf(room: string): ReadonlySet<Connection<S>>;
  /** Number of members of `room` on this node. */
  count(room: string): number;
  /**
   * The cluster-wide member count of `room`. It includes every join and leave
   * this node made before the call, and resolves only once this node receives
   * every node's publishes to the room (a `joined` reply may be sent then).
   * Never rejects: with the cluster unreachable it is this node's count.
   */
  members(room: string): Promise<number>;
  /** Adds `conn` to `room` (idempotent). False, changing nothing, if the connection is not open. */
  join(conn: Connection<S>, room: string): boolean;
  /** Removes `conn` from `room` (idempotent); returns whether it was a member. */
  leave(conn: Connection<S>, room: string): boolean;
  /** Removes `conn` from every room it is in. */
  leaveAll(conn: Connection<S>): void;
  /** Rooms `conn` is in. */
  roomsOf(conn: Connection<S>): ReadonlySet<string>;
  /**
   * Sends `data` to every member of `room` on every node: framed once per
   * node for all its members. Returns how many members on this node it was
   * queued for (a slow one past its budget is skipped, never waited for).
   */
  publish(room: string, data: string | Uint8Array, options?: PublishOptions<S>): number;
  /** Every message published to `room` on any node from now on. A subscriber that throws is reported, never breaks the publish. */
  messages$(room: string): Observable<RoomMessage<S>>;
}

/** A room message held for one member (see `ClusterAdapter.holdDeliveries`): what it would have been sent. */
export interface HeldDelivery {
  readonly data: string | Uint8Array;
  /** The publish's offset when the room has history. */
  readonly offset: number | undefined;
}

/** Health of the cluster for `GET /healthz` (`"cluster": {...}`), e.g. `{ redis: 'up', nodes: 3 }`. */
export type ClusterHealth = Readonly<Record<string, string | number>>;

/** One node's view of the cluster: rooms, broadcast, send-by-id and counts. */
export interface ClusterAdapter<S = Record<string, unknown>> extends Rooms<S> {
  /** Sends `data` to every open connection on every node (but `except`). Returns how many on this node it was queued for. */
  broadcast(data: string | Uint8Array, options?: PublishOptions<S>): number;
  /**
   * Sends `data` to the connection `id` on whichever node holds it. A boolean
   * when this node can answer alone (always with LocalCluster), a Promise when
   * another node had to be asked: resolves false only when no node holds `id`.
   */
  sendTo(id: string, data: string | Uint8Array): boolean | Promise<boolean>;
  /** The server announces each connection once it is open (so other nodes can reach its id). */
  connectionOpened(conn: Connection<S>): void;
  /** The server announces each closed connection: it leaves its rooms and its id is forgotten. */
  connectionClosed(conn: Connection<S>): void;
  /**
   * While subscribed, this node's deliveries to `conn` in `room` are emitted
   * instead of sent (a join announces itself and replays history first).
   * Adapters built on LocalCluster have it; without it a join's
   * announcement may follow the room's first messages.
   */
  holdDeliveries?(conn: Connection<S>, room: string): Observable<HeldDelivery>;
  /** For `/healthz`; undefined for a single process (then `/healthz` has no `cluster` field). */
  health(): ClusterHealth | undefined;
  /** Leaves the cluster (removes this node's entries) and releases connections to it; the server calls it last in `close()`. */
  close(): Promise<void>;
}

/** What the server gives its adapter. */
export interface ClusterOwner<S = Record<string, unknown>> {
  /** The open connection with this id on this node. */
  connection(id: string): Connection<S> | undefined;
  /** Every open connection on this node (a broadcast's local recipients). */
  connections(): Iterable<Connection<S>>;
  /** Reports a fault (a subscriber that threw, a cluster error) to the server's `errors$`, never throws. */
  report(err: unknown): void;
  /**
   * With the server's `history` option: where room publishes get their
   * position, and how members' frames are made from it (see
   * history/store.ts). Undefined without history: publishes then have no
   * position and cost nothing more.
   */
  readonly history?: RoomHistory | undefined;
}

/**
 * The `cluster` server option: called once by the server with itself as the
 * owner. Generic, so that one factory (e.g. `redisCluster({ url })`) serves a
 * server of any connection state type.
 */
export type ClusterFactory = <S>(owner: ClusterOwner<S>) => ClusterAdapter<S>;
