import { defer, EMPTY, map, type Observable } from 'rxjs';
import type { ClusterAdapter, PublishOptions, RoomMessage, Rooms } from '../cluster/adapter.js';
import type { HistoryPosition, HistorySince, HistorySlice, RoomHistory } from '../history/store.js';
import { replayThenLive } from '../streams/replayThenLive.js';
import type { Connection } from './connection.js';

export interface JoinOptions {
  /** Continue from this position: what the room's history kept after it is sent right after the announcement. */
  readonly since?: HistorySince | undefined;
  /**
   * What the connection is sent first, once the join is settled (e.g. a
   * `joined` reply): no message of the room reaches it before this one.
   */
  readonly announce?: ((result: JoinResult) => string | Uint8Array | undefined) | undefined;
  /** Announce only once this settles (e.g. the earlier replies to the same client have gone out). */
  readonly after?: PromiseLike<unknown> | undefined;
}

export interface JoinResult {
  readonly room: string;
  /** False when the connection was no longer open: it did not join. */
  readonly joined: boolean;
  /** The cluster-wide member count after the join. */
  readonly members: number;
  /** With history: the room's latest offset when the join settled (0: nothing published in this epoch yet). */
  readonly offset?: number | undefined;
  /** With history: the room's current epoch. */
  readonly epoch?: string | undefined;
  /**
   * With `since`: true when every publish after it was still kept (they were
   * sent, in order, right after the announcement); always false without history.
   */
  readonly recovered?: boolean | undefined;
}

/** The server's rooms: the cluster's, with joins that announce and recover, history, and a room limit per connection. */
export interface ServerRooms<S = Record<string, unknown>> extends Rooms<S> {
  /**
   * Adds `conn` to `room` at once (idempotent). False if the connection is not
   * open. Throws a RangeError past `maxRoomsPerConnection` (see `canJoin`).
   */
  join(conn: Connection<S>, room: string): boolean;
  /**
   * Adds `conn` to `room` at once; the room's messages to it are held until
   * the join is settled: then `announce`'s message goes first, then (with
   * `since`) what it missed, then the live messages, with no gap and no repeat.
   * Resolves once it is live; rejects with a RangeError past the room limit.
   */
  join(conn: Connection<S>, room: string, options: JoinOptions): Promise<JoinResult>;
  /** Whether `conn` may join `room` under `maxRoomsPerConnection` (it always may join a room it is in). */
  canJoin(conn: Connection<S>, room: string): boolean;
  /** Rooms one connection may be in at once (0: unlimited). */
  readonly maxRoomsPerConnection: number;
  /** The last `limit` publishes of `room` still kept (default and at most the history's size); empty without history. */
  history(room: string, options?: { readonly limit?: number | undefined }): Promise<HistorySlice>;
}

/** One message for a joining member: its announcement, a replayed entry, or a held live delivery. */
interface Outgoing {
  readonly data: string | Uint8Array;
  readonly offset: number;
}

const NO_HISTORY: HistorySlice = { offset: 0, epoch: '', messages: [] };

/** @internal the server's rooms, over its cluster adapter and history. */
export class RoomsOfServer<S> implements ServerRooms<S> {
  constructor(
    private readonly cluster: ClusterAdapter<S>,
    private readonly roomHistory: RoomHistory | undefined,
    readonly maxRoomsPerConnection: number,
    private readonly historySize: number,
  ) {}

  get size(): number {
    return this.cluster.size;
  }
  names(): IterableIterator<string> {
    return this.cluster.names();
  }
  membersOf(room: string): ReadonlySet<Connection<S>> {
    return this.cluster.membersOf(room);
  }
  count(room: string): number {
    return this.cluster.count(room);
  }
  members(room: string): Promise<number> {
    return this.cluster.members(room);
  }
  leave(conn: Connection<S>, room: string): boolean {
    return this.cluster.leave(conn, room);
  }
  leaveAll(conn: Connection<S>): void {
    this.cluster.leaveAll(conn);
  }
  roomsOf(conn: Connection<S>): ReadonlySet<string> {
    return this.cluster.roomsOf(conn);
  }
  publish(room: string, data: string | Uint8Array, options?: PublishOptions<S>): number {
    return this.cluster.publish(room, data, options);
  }
  messages$(room: string): Observable<RoomMessage<S>> {
    return this.cluster.messages$(room);
  }

  canJoin(conn: Connection<S>, room: string): boolean {
    const limit = this.maxRoomsPerConnection;
    if (limit === 0) return true;
    const rooms = this.cluster.roomsOf(conn);
    return rooms.size < limit || rooms.has(room);
  }

  join(conn: Connection<S>, room: string): boolean;
  join(conn: Connection<S>, room: string, options: JoinOptions): Promise<JoinResult>;
  join(conn: Connection<S>, room: string, options?: JoinOptions): boolean | Promise<JoinResult> {
    if (!this.canJoin(conn, room)) {
      const refused = new RangeError(`connection ${conn.id} is in ${this.maxRoomsPerConnection} rooms already (maxRoomsPerConnection)`);
      if (options === undefined) throw refused;
      return Promise.reject(refused);
    }
    if (options === undefined) return this.cluster.join(conn, room);
    return this.joinAnnounced(conn, room, options);
  }

  private joinAnnounced(conn: Connection<S>, room: string, options: JoinOptions): Promise<JoinResult> {
    return new Promise<JoinResult>((resolve, reject) => {
      let result: JoinResult | undefined;
      // The member is added when the replay is subscribed, after the hold: nothing slips past it.
      const settled$ = defer(async () => {
        const joined = this.cluster.join(conn, room);
        const [members, position] = await Promise.all([this.cluster.members(room), this.position(room, options.since)]);
        await options.after;
        result = { room, joined, members, ...position, recovered: options.since === undefined ? undefined : (position?.recovered ?? false) };
        const first = options.announce?.(result);
        const messages: Outgoing[] = first === undefined ? [] : [{ data: first, offset: 0 }];
        if (position !== undefined) for (const entry of position.messages) messages.push({ data: this.frame(room, position.epoch, entry), offset: entry.offset });
        return { messages, offset: position?.offset ?? 0 };
      });
      const held$: Observable<Outgoing> = (this.cluster.holdDeliveries?.(conn, room) ?? EMPTY).pipe(
        // Without history a held message has no offset: never one the replay covered.
        map((delivery) => ({ data: delivery.data, offset: delivery.offset ?? Infinity })),
      );
      const subscription = held$
        .pipe(replayThenLive(settled$, { offsetOf: (message) => message.offset, onLive: () => queueMicrotask(() => subscription.unsubscribe()) }))
        .subscribe({
          next: (message) => conn.send(message.data),
          error: (err: unknown) => reject(err),
        });
      // Live from here on: the hold is released (above) and the room's messages go straight to the member.
      subscription.add(() => {
        if (result !== undefined) resolve(result);
      });
    });
  }

  /** The room's position for a join: the recovery after `since`, or its latest position; undefined without history. */
  private async position(room: string, since: HistorySince | undefined): Promise<(HistoryPosition & { readonly recovered?: boolean; readonly messages: HistorySlice['messages'] }) | undefined> {
    const store = this.roomHistory?.store;
    if (store === undefined) return undefined;
    if (since !== undefined) return store.since(room, since);
    return { ...(await store.latest(room)), messages: [] };
  }

  private frame(room: string, epoch: string, entry: HistorySlice['messages'][number]): string | Uint8Array {
    return this.roomHistory!.frame({ room, fromId: entry.from, data: entry.data, offset: entry.offset, epoch });
  }

  async history(room: string, options: { readonly limit?: number | undefined } = {}): Promise<HistorySlice> {
    const store = this.roomHistory?.store;
    if (store === undefined) return NO_HISTORY;
    const limit = options.limit ?? this.historySize;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`history limit must be an integer ≥ 1, got ${limit}`);
    return store.last(room, Math.min(limit, this.historySize));
  }
}
