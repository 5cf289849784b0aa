import { BehaviorSubject, concat, defer, EMPTY, filter, interval, map, Observable, of, Subject, type Subscription } from 'rxjs';
import { type Drop, reconnectBackoff, type ReconnectOptions } from './backoff.js';

export type ClientStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A stream that always has a current value (a read-only BehaviorSubject). */
export type ValueStream<T> = Observable<T> & { readonly value: T };

/** A message of a room; `offset` and `epoch` when the server keeps the room's history. */
export interface RoomMessage {
  readonly room: string;
  readonly from: string;
  readonly data: unknown;
  readonly offset?: number;
  readonly epoch?: string;
}

/** A broadcast or a send: a message of no room. */
export interface DirectMessage {
  readonly from: string;
  readonly data: unknown;
}

/** The client may have missed messages of `room` (a reconnect the server could not recover, or an offset jump). */
export interface Gap {
  readonly room: string;
  readonly recovered: false;
  /** The last offset received before the gap, and the first one after it, when known. */
  readonly after?: number;
  readonly next?: number;
}

export interface HistoryReply {
  readonly room: string;
  readonly offset: number;
  readonly epoch: string;
  readonly messages: readonly { readonly offset: number; readonly from: string; readonly data: unknown }[];
}

/** What `room(name)` returns: the room's messages, and its member counts. */
export type RoomStream = Observable<RoomMessage> & {
  /** The member count of each `joined`/`left` reply (and refresh) for this room, the latest first. */
  readonly members$: Observable<number>;
};

/**
 * An error of the client: a server's `error` reply (`code` is the server's:
 * `bad_command`, `unknown_connection`, `rate_limited`, …) or one of the client's
 * own: `queue_full`, `disconnected` (the connection dropped before the reply),
 * `closed` (client.close() was called), `protocol` (the server spoke something else).
 */
export class RxwsClientError extends Error {
  override readonly name = 'RxwsClientError';
  constructor(
    readonly code: string,
    message: string,
    readonly ref?: string | number,
    readonly room?: string,
  ) {
    super(message);
  }
}

/** Any WHATWG-style WebSocket constructor (the browser's, undici's). */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => object;

export interface ClientOptions {
  /** Default: the global WebSocket (Node 20 has none: pass undici's). */
  readonly WebSocket?: WebSocketConstructor;
  /** Backoff between reconnect attempts; `false`: no reconnect. Default on. */
  readonly reconnect?: ReconnectOptions | false;
  readonly protocols?: string | string[];
  /** Commands kept while disconnected; past this they reject with `queue_full`. Default 1000. */
  readonly maxQueued?: number;
  /** Re-reads the member counts of the joined rooms this often (ms) by an idempotent join: the protocol has no presence events. Default 0 (off). */
  readonly membersEvery?: number;
}

export interface Client {
  readonly status$: ValueStream<ClientStatus>;
  /** The welcome id of the current connection (undefined while there is none). */
  readonly id: string | undefined;
  readonly id$: ValueStream<string | undefined>;
  room(name: string): RoomStream;
  /** Resolves once the publish is written to the socket (the protocol has no reply to it but an error). */
  publish(room: string, data: unknown): Promise<void>;
  broadcast(data: unknown): Promise<void>;
  /** Resolves with the server's `sent` reply. */
  send(to: string, data: unknown): Promise<{ to: string }>;
  history(room: string, options?: { limit?: number }): Promise<HistoryReply>;
  readonly messages$: Observable<DirectMessage>;
  readonly errors$: Observable<RxwsClientError>;
  readonly gaps$: Observable<Gap>;
  /** Closes the connection for good: every stream completes, what waits rejects with `closed`. */
  close(): void;
}

// The part of a WHATWG WebSocket the client uses.
interface Socket {
  readonly readyState: number;
  send(text: string): void;
  close(code?: number, reason?: string): void;
  onopen: (() => void) | null;
  onmessage: ((e: { data: unknown }) => void) | null;
  onclose: ((e: { code: number; reason: string }) => void) | null;
  onerror: (() => void) | null;
}

type Command = Record<string, unknown> & { type: string };
interface Waiter {
  readonly command: Command;
  readonly awaitsReply: boolean;
  resolve(reply: Record<string, unknown> | undefined): void;
  reject(err: RxwsClientError): void;
}
interface RoomState {
  readonly messages: Subject<RoomMessage>;
  subscribers: number;
  /** Whether a `joined` was ever received: later joins carry `since`. */
  joined: boolean;
  /** The last offset delivered, or (before any) the room's offset in `joined`. */
  offset?: number;
  /** Whether `offset` came from a delivered message (only those make a jump a gap, or a repeat droppable). */
  delivered: boolean;
  epoch?: string;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const valueStream = <T>(subject: BehaviorSubject<T>): ValueStream<T> =>
  Object.defineProperty(subject.asObservable(), 'value', { get: () => subject.value }) as ValueStream<T>;

/** Connects to an rxws server in relay mode (url: a string, or a function giving the next URL to try). */
export function connect(url: string | (() => string), options: ClientOptions = {}): Client {
  const WebSocketClass = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!WebSocketClass) throw new TypeError('no WebSocket: pass the WebSocket option (in Node 20: undici\'s)');
  const maxQueued = options.maxQueued ?? 1000;

  const status = new BehaviorSubject<ClientStatus>('connecting');
  const id = new BehaviorSubject<string | undefined>(undefined);
  const messages = new Subject<DirectMessage>();
  const errors = new Subject<RxwsClientError>();
  const gaps = new Subject<Gap>();
  const memberCounts = new Subject<{ room: string; members: number }>();
  const lastCount = new Map<string, number>();
  const rooms = new Map<string, RoomState>();
  const queue: Waiter[] = [];
  const awaiting = new Map<string | number, Waiter>();
  // Refs of our joins: their reply (or error) belongs to the room, not to a Promise.
  const joins = new Map<number, { room: string; refresh: boolean }>();
  const drops = new Subject<Drop>();
  let socket: Socket | undefined;
  let openedAt = 0;
  let nextRef = 1;
  let closed = false;
  let refresher: Subscription | undefined;

  const retries = options.reconnect === false ? undefined : drops.pipe(reconnectBackoff(options.reconnect)).subscribe(() => open());

  const isOpen = () => status.value === 'open' && socket?.readyState === 1;
  const write = (command: Command) => socket!.send(JSON.stringify(command));

  const fail = (code: string, message: string, ref?: string | number, room?: string) => new RxwsClientError(code, message, ref, room);

  function join(name: string, state: RoomState, refresh = false): void {
    const ref = nextRef++;
    joins.set(ref, { room: name, refresh });
    const command: Command = { type: 'join', room: name, ref };
    // After a reconnect: ask for what was missed (offset 0 when nothing was seen: the server then says whether it can tell).
    if (state.joined && !refresh) command.since = state.epoch === undefined ? { offset: state.offset ?? 0 } : { offset: state.offset ?? 0, epoch: state.epoch };
    write(command);
  }

  function dispatch(command: Command, awaitsReply: boolean): Promise<Record<string, unknown> | undefined> {
    if (closed) return Promise.reject(fail('closed', 'the client is closed'));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { command: { ...command, ref: nextRef++ }, awaitsReply, resolve, reject };
      if (isOpen()) return transmit(waiter);
      if (queue.length >= maxQueued) return reject(fail('queue_full', `${maxQueued} commands already wait for the connection`));
      queue.push(waiter);
    });
  }

  function transmit(waiter: Waiter): void {
    write(waiter.command);
    if (waiter.awaitsReply) awaiting.set(waiter.command.ref as number, waiter);
    else waiter.resolve(undefined);
  }

  function violation(reason: string): void {
    errors.next(fail('protocol', `not the rxws relay protocol: ${reason}`));
    const s = socket!;
    socket = undefined;
    s.onmessage = null;
    try {
      s.close(1002, 'protocol error');
    } catch {
      // A WHATWG WebSocket may only send 1000 or 3000-4999: 4002 says the same.
      s.close(4002, 'protocol error');
    }
    dropped(s);
  }

  function onWelcome(msg: Record<string, unknown>): void {
    id.next(String(msg.id));
    openedAt = Date.now();
    status.next('open');
    for (const [name, state] of rooms) join(name, state);
    for (const waiter of queue.splice(0)) transmit(waiter);
    if (options.membersEvery) {
      refresher = interval(options.membersEvery).subscribe(() => {
        if (isOpen()) for (const [name, state] of rooms) if (state.joined) join(name, state, true);
      });
    }
  }

  function onRoomMessage(msg: Record<string, unknown>, name: string): void {
    const state = rooms.get(name);
    if (!state || !state.joined) return;
    const offset = typeof msg.offset === 'number' ? msg.offset : undefined;
    const epoch = typeof msg.epoch === 'string' ? msg.epoch : undefined;
    if (offset !== undefined) {
      const sameEpoch = epoch === state.epoch;
      if (sameEpoch && state.delivered && offset <= state.offset!) return; // a repeat: each offset is delivered once
      const expected = sameEpoch ? (state.offset ?? 0) + 1 : 1;
      if (offset !== expected && (state.delivered || !sameEpoch)) gaps.next({ room: name, recovered: false, after: sameEpoch ? state.offset : undefined, next: offset });
      state.offset = offset;
      state.delivered = true;
      state.epoch = epoch;
    }
    const message: { -readonly [K in keyof RoomMessage]: RoomMessage[K] } = { room: name, from: String(msg.from), data: msg.data };
    if (offset !== undefined) message.offset = offset;
    if (epoch !== undefined) message.epoch = epoch;
    state.messages.next(message);
  }

  function onJoinReply(msg: Record<string, unknown>, ref: number): void {
    const { room: name, refresh } = joins.get(ref)!;
    joins.delete(ref);
    const state = rooms.get(name);
    if (msg.type === 'error') {
      errors.next(fail(String(msg.code), String(msg.message), ref, name));
      return;
    }
    count(name, msg.members);
    if (!state || refresh) return;
    const offset = typeof msg.offset === 'number' ? msg.offset : undefined;
    const epoch = typeof msg.epoch === 'string' ? msg.epoch : undefined;
    if (state.joined && msg.recovered !== true) {
      gaps.next({ room: name, recovered: false, after: state.offset });
      state.delivered = false;
      state.offset = offset;
    } else if (!state.joined) state.offset = offset;
    // recovered: the replay follows from our own offset on.
    state.epoch = epoch;
    state.joined = true;
  }

  function count(name: string, members: unknown): void {
    if (typeof members !== 'number') return;
    lastCount.set(name, members);
    memberCounts.next({ room: name, members });
  }

  function onMessage(s: Socket, data: unknown): void {
    if (s !== socket) return;
    let msg: unknown;
    try {
      msg = typeof data === 'string' ? JSON.parse(data) : undefined;
    } catch {
      // handled below
    }
    if (!isObject(msg) || typeof msg.type !== 'string') return violation('a message that is not a JSON object with a "type"');
    if (id.value === undefined) return msg.type === 'welcome' && msg.id !== undefined ? onWelcome(msg) : violation(`"${msg.type}" before "welcome"`);
    const ref = msg.ref as string | number | undefined;
    if (typeof ref === 'number' && joins.has(ref)) return onJoinReply(msg, ref);
    switch (msg.type) {
      case 'message':
        if (typeof msg.room === 'string') return onRoomMessage(msg, msg.room);
        return messages.next({ from: String(msg.from), data: msg.data });
      case 'left':
        return count(String(msg.room), msg.members);
      case 'sent':
      case 'history':
      case 'error': {
        let waiter = ref === undefined ? undefined : awaiting.get(ref);
        // A history reply without a ref answers the oldest history question of its room.
        if (!waiter && msg.type === 'history') waiter = [...awaiting.values()].find((w) => w.command.type === 'history' && w.command.room === msg.room);
        if (waiter) awaiting.delete(waiter.command.ref as number);
        if (msg.type !== 'error') return waiter?.resolve(msg);
        const err = fail(String(msg.code), String(msg.message), ref, typeof waiter?.command.room === 'string' ? waiter.command.room : undefined);
        return waiter ? waiter.reject(err) : errors.next(err);
      }
    }
    // Types this client does not know are ignored, as the protocol asks.
  }

  function dropped(s: Socket): void {
    s.onopen = s.onmessage = s.onclose = s.onerror = null;
    if (socket === s) socket = undefined;
    refresher?.unsubscribe();
    const uptime = id.value === undefined ? 0 : Date.now() - openedAt;
    if (id.value !== undefined) id.next(undefined);
    for (const waiter of awaiting.values()) waiter.reject(fail('disconnected', 'the connection dropped before the reply', waiter.command.ref as number));
    awaiting.clear();
    joins.clear();
    if (closed) return;
    if (!retries) return close();
    status.next('reconnecting');
    drops.next({ uptime });
  }

  function open(): void {
    if (closed) return;
    let s: Socket;
    try {
      s = new WebSocketClass!(typeof url === 'function' ? url() : url, options.protocols) as Socket;
    } catch (err) {
      errors.next(fail('connect', `cannot connect: ${(err as Error).message}`));
      if (!retries) return close();
      drops.next({ uptime: 0 });
      return;
    }
    socket = s;
    s.onmessage = (e) => onMessage(s, e.data);
    s.onclose = () => dropped(s);
  }

  function close(): void {
    if (closed) return;
    closed = true;
    retries?.unsubscribe();
    refresher?.unsubscribe();
    const s = socket;
    if (s) {
      dropped(s);
      s.close(1000);
    }
    for (const waiter of queue.splice(0)) waiter.reject(fail('closed', 'the client is closed'));
    if (id.value !== undefined) id.next(undefined);
    status.next('closed');
    for (const subject of [status, id, messages, errors, gaps, memberCounts, drops]) (subject as Subject<unknown>).complete();
    for (const state of rooms.values()) state.messages.complete();
    rooms.clear();
  }

  function room(name: string): RoomStream {
    const messages$ = new Observable<RoomMessage>((subscriber) => {
      if (closed) return subscriber.complete();
      let state = rooms.get(name);
      if (!state) {
        state = { messages: new Subject(), subscribers: 0, joined: false, delivered: false };
        rooms.set(name, state);
        if (isOpen()) join(name, state);
      }
      state.subscribers++;
      const inner = state.messages.subscribe(subscriber);
      const held = state;
      return () => {
        inner.unsubscribe();
        if (--held.subscribers > 0 || rooms.get(name) !== held) return;
        rooms.delete(name);
        if (isOpen()) write({ type: 'leave', room: name, ref: nextRef++ });
      };
    });
    const members$ = defer(() => {
      const last = lastCount.get(name);
      return concat(last === undefined ? EMPTY : of(last), memberCounts.pipe(filter((c) => c.room === name), map((c) => c.members)));
    });
    return Object.assign(messages$, { members$ });
  }

  open();

  return {
    status$: valueStream(status),
    get id() {
      return id.value;
    },
    id$: valueStream(id),
    room,
    publish: (name, data) => dispatch({ type: 'publish', room: name, data }, false).then(() => undefined),
    broadcast: (data) => dispatch({ type: 'broadcast', data }, false).then(() => undefined),
    send: (to, data) => dispatch({ type: 'send', to, data }, true).then((reply) => ({ to: String(reply!.to) })),
    history: (name, { limit } = {}) =>
      dispatch(limit === undefined ? { type: 'history', room: name } : { type: 'history', room: name, limit }, true) as Promise<unknown> as Promise<HistoryReply>,
    messages$: messages.asObservable(),
    errors$: errors.asObservable(),
    gaps$: gaps.asObservable(),
    close,
  };
}
