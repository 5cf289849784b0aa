import { type Observable, Subject } from 'rxjs';
import { encodeFrame, encodeTextFrame } from '../protocol/frame-encoder.js';
import { Opcode } from '../protocol/opcode.js';
import { FanoutFrames } from './compression.js';
import type { Connection, MessageData } from './connection.js';
import { type FaultHandler, GuardedObservable } from './guarded.js';

/** What a room's `messages$` emits for each publish. */
export interface RoomMessage {
  readonly room: string;
  readonly data: MessageData;
  readonly from: Connection<unknown> | undefined;
}

export interface PublishOptions {
  /** Who published (reported in RoomMessage.from). */
  readonly from?: Connection<unknown>;
  /** A member that should not receive it (typically the sender). */
  readonly except?: Connection<unknown>;
}

/** Encodes a message into one frame, to write the same bytes to every recipient. */
export const encodeMessage = (data: string | Uint8Array): Buffer =>
  typeof data === 'string' ? encodeTextFrame(data) : encodeFrame(Opcode.Binary, data);

/**
 * Fan-out: `data` framed once (plus compressed once for recipients that
 * agreed permessage-deflate without server context takeover), the same bytes
 * queued on every recipient but `except`. Returns how many it was queued for (a slow recipient past its
 * budget is skipped, never waited for).
 */
export function sendToAll(recipients: Iterable<Connection<unknown>>, data: string | Buffer, except?: Connection<unknown>): number {
  const frames = new FanoutFrames(data);
  let delivered = 0;
  for (const conn of recipients) if (conn !== except && conn.sendFrame(frames.frameFor(conn.deflateSession ?? null))) delivered++;
  return delivered;
}

/**
 * Pub/sub rooms with an index both ways (room → members, connection → room
 * names), so that leaving and disconnecting cost O(rooms of that connection)
 * and never scan other members. Empty rooms are dropped. Only open
 * connections may join, so a closed connection can never linger in a room.
 */
export class Rooms {
  private readonly members = new Map<string, Set<Connection<unknown>>>();
  private readonly subjects = new Map<string, Subject<RoomMessage>>();

  /** `onFault` receives what a subscriber of `messages$` throws (the server reports it). */
  constructor(private readonly onFault: FaultHandler = (err) => console.error('rxws: error in a room subscriber:', err)) {}

  /** Number of rooms with at least one member. */
  get size(): number {
    return this.members.size;
  }

  names(): IterableIterator<string> {
    return this.members.keys();
  }

  /** Members of `room` (empty when the room does not exist). */
  membersOf(room: string): ReadonlySet<Connection<unknown>> {
    return this.members.get(room) ?? EMPTY;
  }

  count(room: string): number {
    return this.members.get(room)?.size ?? 0;
  }

  /** Adds `conn` to `room` (idempotent). Returns false, changing nothing, if the connection is not open. */
  join(conn: Connection<unknown>, room: string): boolean {
    if (conn.readyState !== 'open') return false;
    let set = this.members.get(room);
    if (set === undefined) this.members.set(room, (set = new Set()));
    set.add(conn);
    (conn.roomNames ??= new Set()).add(room);
    return true;
  }

  /** Removes `conn` from `room` (idempotent); returns whether it was a member. */
  leave(conn: Connection<unknown>, room: string): boolean {
    const set = this.members.get(room);
    if (set === undefined || !set.delete(conn)) return false;
    conn.roomNames?.delete(room);
    if (set.size === 0) this.members.delete(room);
    return true;
  }

  /** Removes `conn` from every room it is in. */
  leaveAll(conn: Connection<unknown>): void {
    const names = conn.roomNames;
    if (names === null) return;
    for (const room of names) {
      const set = this.members.get(room);
      if (set !== undefined && set.delete(conn) && set.size === 0) this.members.delete(room);
    }
    conn.roomNames = null;
  }

  /** Rooms `conn` is in. */
  roomsOf(conn: Connection<unknown>): ReadonlySet<string> {
    return conn.roomNames ?? EMPTY_NAMES;
  }

  /** Sends `data` to every member of `room` (see sendToAll); returns how many it was queued for. */
  publish(room: string, data: string | Buffer, options: PublishOptions = {}): number {
    const set = this.members.get(room);
    const delivered = set === undefined ? 0 : sendToAll(set, data, options.except);
    this.subjects.get(room)?.next({ room, data, from: options.from });
    return delivered;
  }

  /**
   * Every message published to `room` from now on. A subscriber that throws
   * is reported, never allowed to break the publish; the room's Subject lives
   * only while someone subscribes.
   */
  messages$(room: string): Observable<RoomMessage> {
    return new GuardedObservable<RoomMessage>((subscriber) => {
      let subject = this.subjects.get(room);
      if (subject === undefined) this.subjects.set(room, (subject = new Subject()));
      const subscription = subject.subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        if (!subject.observed) this.subjects.delete(room);
      };
    }, this.onFault);
  }
}

const EMPTY: ReadonlySet<Connection<unknown>> = new Set();
const EMPTY_NAMES: ReadonlySet<string> = new Set();
