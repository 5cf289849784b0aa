// `--workers N` without Redis: the workers' rooms, broadcast and send-by-id
// span the machine through the primary, which relays over the IPC channels
// and keeps the authoritative member counts and the id → worker map.
//
//   worker A: publish ─▶ its local members (framed once)
//                     └▶ primary ─▶ each other worker watching the room ─▶ its local members (framed once)
//
// Exactly once: the primary never relays a message back to the worker it came
// from. Per-publisher order: each IPC channel is ordered, and the primary
// relays in the order it receives.
import type { ClusterAdapter, ClusterHealth, ClusterOwner, PublishOptions } from './adapter.js';
import type { Subscription } from 'rxjs';
import type { Connection } from '../server/connection.js';
import { type Payload, type PrimaryChannel, primaryChannel, type ToPrimary, type WorkerLink } from './ipc-channel.js';
import { NodeCluster } from './node-cluster.js';

/** What the primary knows about one worker. */
interface WorkerState {
  readonly link: WorkerLink;
  /** room → members on this worker. */
  readonly members: Map<string, number>;
  /** Rooms whose publishes this worker wants. */
  readonly watching: Set<string>;
  /** Ids of the worker's open connections. */
  readonly ids: Set<string>;
}

/**
 * The primary's half: relays between workers, counts every room's members
 * cluster-wide and knows which worker holds each id. A worker that dies is
 * dropped at once (`detach`): its members leave the counts, its ids become
 * unknown.
 */
export class IpcHub {
  private readonly workers = new Map<number, WorkerState>();
  /** room → members on every worker. */
  private readonly totals = new Map<string, number>();
  /** room → workers that want its publishes. */
  private readonly watchers = new Map<string, Set<WorkerState>>();
  /** connection id → the worker holding it. */
  private readonly owners = new Map<string, WorkerState>();

  attach(link: WorkerLink): void {
    this.workers.set(link.id, { link, members: new Map(), watching: new Set(), ids: new Set() });
  }

  /** The worker is gone: forget its members, interests and ids. */
  detach(link: WorkerLink): void {
    const state = this.workers.get(link.id);
    if (state === undefined) return;
    this.workers.delete(link.id);
    for (const [room, count] of state.members) this.addMembers(room, -count);
    for (const room of state.watching) this.unwatch(state, room);
    for (const id of state.ids) if (this.owners.get(id) === state) this.owners.delete(id);
  }

  /** Cluster-wide members of `room` (as the primary knows it now). */
  members(room: string): number {
    return this.totals.get(room) ?? 0;
  }

  /** Handles one message from the worker `link` (in the order the worker sent them). */
  receive(link: WorkerLink, message: ToPrimary): void {
    const from = this.workers.get(link.id);
    if (from === undefined) return;
    switch (message.t) {
      case 'opened':
        from.ids.add(message.id);
        this.owners.set(message.id, from);
        return;
      case 'closed':
        from.ids.delete(message.id);
        if (this.owners.get(message.id) === from) this.owners.delete(message.id);
        for (const room of message.rooms) this.changeMembers(from, room, -1);
        return;
      case 'join':
        return this.changeMembers(from, message.room, 1);
      case 'leave':
        return this.changeMembers(from, message.room, -1);
      case 'watch':
        if (message.on) {
          from.watching.add(message.room);
          let set = this.watchers.get(message.room);
          if (set === undefined) this.watchers.set(message.room, (set = new Set()));
          set.add(from);
        } else this.unwatch(from, message.room);
        return;
      case 'members':
        // After every relay already posted to this worker, on the same ordered channel.
        return link.post({ t: 'reply', seq: message.seq, value: this.members(message.room) });
      case 'publish': {
        const watchers = this.watchers.get(message.room);
        if (watchers === undefined) return;
        for (const worker of watchers) if (worker !== from) worker.link.post(message);
        return;
      }
      case 'broadcast':
        for (const worker of this.workers.values()) if (worker !== from) worker.link.post(message);
        return;
      case 'send': {
        const holder = this.owners.get(message.to);
        if (holder !== undefined && holder !== from) holder.link.post({ t: 'send', to: message.to, data: message.data });
        return link.post({ t: 'reply', seq: message.seq, value: holder !== undefined && holder !== from });
      }
      case 'listening':
      case 'failed':
      case 'drained':
        return; // the supervisor's
    }
  }

  private changeMembers(worker: WorkerState, room: string, delta: number): void {
    const count = (worker.members.get(room) ?? 0) + delta;
    if (count > 0) worker.members.set(room, count);
    else worker.members.delete(room);
    this.addMembers(room, delta);
  }

  private addMembers(room: string, delta: number): void {
    const total = (this.totals.get(room) ?? 0) + delta;
    if (total > 0) this.totals.set(room, total);
    else this.totals.delete(room);
  }

  private unwatch(worker: WorkerState, room: string): void {
    worker.watching.delete(room);
    const set = this.watchers.get(room);
    if (set !== undefined && set.delete(worker) && set.size === 0) this.watchers.delete(room);
  }
}

/**
 * The worker's half: a LocalCluster for this worker's connections, plus the
 * primary for everything beyond them. Membership changes apply locally at
 * once and are announced to the primary; `members()` asks it (and resolves
 * after every relay it sent before); `sendTo` an id this worker does not hold
 * asks it too. Without a primary (it died), this worker serves alone.
 */
export class IpcCluster<S = Record<string, unknown>> extends NodeCluster<S> implements ClusterAdapter<S> {
  private readonly pending = new Map<number, { resolve: (value: number | boolean) => void; fallback: number | boolean }>();
  private readonly subscription: Subscription;
  private nextSeq = 0;
  private closed = false;

  constructor(
    private readonly owner: ClusterOwner<S>,
    private readonly primary: PrimaryChannel = primaryChannel(),
  ) {
    super(owner);
    this.subscription = primary.messages$.subscribe((message) => {
      switch (message.t) {
        case 'publish':
          this.local.deliverPublish(message.room, message.data, message.from, undefined);
          return;
        case 'broadcast':
          this.local.deliverBroadcast(message.data, undefined);
          return;
        case 'send':
          this.owner.connection(message.to)?.send(message.data);
          return;
        case 'reply': {
          const request = this.pending.get(message.seq);
          this.pending.delete(message.seq);
          request?.resolve(message.value);
          return;
        }
      }
    });
    // The primary is gone: nobody will answer.
    process.once('disconnect', () => this.settlePending());
  }

  protected interest(room: string, on: boolean): void {
    this.primary.post({ t: 'watch', room, on });
  }

  /** Settles every request still waiting for the primary with this worker's own answer. */
  private settlePending(): void {
    for (const { resolve, fallback } of this.pending.values()) resolve(fallback);
    this.pending.clear();
  }

  members(room: string): Promise<number> {
    return this.ask({ t: 'members', room, seq: 0 }, this.local.count(room)) as Promise<number>;
  }

  join(conn: Connection<S>, room: string): boolean {
    const wasMember = this.local.roomsOf(conn).has(room);
    if (!this.local.join(conn, room)) return false;
    if (!wasMember) this.primary.post({ t: 'join', room });
    return true;
  }

  leave(conn: Connection<S>, room: string): boolean {
    if (!this.local.leave(conn, room)) return false;
    this.primary.post({ t: 'leave', room });
    return true;
  }

  leaveAll(conn: Connection<S>): void {
    for (const room of this.local.roomsOf(conn)) this.primary.post({ t: 'leave', room });
    this.local.leaveAll(conn);
  }

  publish(room: string, data: Payload, options?: PublishOptions<S>): number {
    this.primary.post({ t: 'publish', room, data, from: options?.from?.id });
    return this.local.publish(room, data, options);
  }

  broadcast(data: Payload, options?: PublishOptions<S>): number {
    this.primary.post({ t: 'broadcast', data });
    return this.local.broadcast(data, options);
  }

  sendTo(id: string, data: Payload): boolean | Promise<boolean> {
    if (this.owner.connection(id) !== undefined) return this.local.sendTo(id, data);
    return this.ask({ t: 'send', to: id, data, seq: 0 }, false) as Promise<boolean>;
  }

  connectionOpened(conn: Connection<S>): void {
    this.primary.post({ t: 'opened', id: conn.id });
  }

  connectionClosed(conn: Connection<S>): void {
    this.primary.post({ t: 'closed', id: conn.id, rooms: [...this.local.roomsOf(conn)] });
    this.local.connectionClosed(conn);
  }

  /** Per worker, like `connections` and `rooms`: no `cluster` field without Redis. */
  health(): ClusterHealth | undefined {
    return undefined;
  }

  close(): Promise<void> {
    this.closed = true;
    this.subscription.unsubscribe();
    this.settlePending();
    return this.local.close();
  }

  /** Sends a request to the primary; resolves with its reply, or `fallback` when there is no primary to answer. */
  private ask(request: Extract<ToPrimary, { seq: number }>, fallback: number | boolean): Promise<number | boolean> {
    if (this.closed || !this.primary.connected) return Promise.resolve(fallback);
    const seq = ++this.nextSeq;
    return new Promise((resolve) => {
      this.pending.set(seq, { resolve, fallback });
      this.primary.post({ ...request, seq });
    });
  }
}

/** The `cluster` option of a worker's server under `--workers N` without Redis. */
export const ipcCluster = <S>(owner: ClusterOwner<S>): IpcCluster<S> => new IpcCluster<S>(owner);
