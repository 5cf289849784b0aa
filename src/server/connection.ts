import type { Socket } from 'node:net';
import { map, type Observable, Subject, Subscriber, type Subscription, type Unsubscribable } from 'rxjs';
import { isUtf8 } from 'node:buffer';
import { encodeClosePayload, isValidCloseCode } from '../protocol/close.js';
import { CloseCode, ProtocolError } from '../protocol/errors.js';
import { encodeFrame, encodeFrameHeader, encodeTextFrame } from '../protocol/frame-encoder.js';
import type { Message } from '../protocol/message-assembler.js';
import { Opcode } from '../protocol/opcode.js';
import { decodeFrames } from '../streams/decodeFrames.js';
import type { Drainable } from '../streams/drainConnections.js';
import { fromSocket } from '../streams/fromSocket.js';
import { beginAttribution, endAttribution } from './attribution.js';
import { GuardedObservable } from './guarded.js';
import { destroySocket } from './destroy-socket.js';
import { newConnectionId } from './ids.js';
import type { ServerStats } from './stats.js';
import { handleControlFrames, type ControlFrameHandler } from '../streams/handleControlFrames.js';
import type { HeartbeatTarget } from '../streams/heartbeat.js';
import { limitMessageSize } from '../streams/limitMessageSize.js';
import { reassembleMessages } from '../streams/reassembleMessages.js';
import { Outbound } from './outbound.js';
import { ConnectionRequest } from './upgrade.js';
import { inflateMessages } from '../streams/inflateMessages.js';
import type { DeflateSession } from './compression.js';

export interface ConnectionOptions {
  /** Largest message accepted (bytes); larger ones close with 1009 from the frame header. */
  readonly maxMessageSize: number;
  /** Outbound budget: unsent bytes allowed before the slow-consumer policy applies. */
  readonly maxBufferedBytes: number;
  /** Past the budget: 'close' with 1008 "slow consumer", or 'drop' the new message. */
  readonly slowConsumer: 'close' | 'drop';
  /** How long to wait for the peer's close reply before ending the socket (ms). */
  readonly closeTimeout: number;
  /** Stop reading a socket that has this many unsent bytes, until it drains. */
  readonly readHighWaterMark: number;
  /** @internal the server's counters (shared by its connections) */
  readonly stats: ServerStats;
}

/**
 * How a connection ended. `code` and `reason` are those of the peer's close
 * frame (1005 if it had no code); 1006 and '' if none was received, even when
 * we sent one (RFC 6455 §7.1.5): what we sent is in `sent`.
 */
export interface CloseEvent {
  readonly code: number;
  readonly reason: string;
  /** Close frames went both ways. */
  readonly wasClean: boolean;
  /** Our close frame, if we sent one (`code` undefined: it had no payload). */
  readonly sent?: { readonly code: number | undefined; readonly reason: string };
  /** The rooms the connection was in: it has left them by the time this event is emitted. */
  readonly rooms: ReadonlySet<string>;
}

/** What `trySend` did: queued, refused because the budget is full (the slow-consumer policy applied), or the connection is not open. */
export type SendResult = 'queued' | 'full' | 'closed';

/** Notified by every connection; the server implements it. */
export interface ConnectionOwner {
  /** The rooms `conn` is in (read just before it closes, for its close event). */
  connectionRooms(conn: Connection<unknown>): ReadonlySet<string>;
  connectionClosed(conn: Connection<unknown>, event: CloseEvent): void;
  connectionError(conn: Connection<unknown>, err: unknown): void;
}

/** A message as sent by the client: text (as a string) or binary (as a Buffer). */
export type MessageData = string | Buffer;

export type ReadyState = 'open' | 'closing' | 'closed';

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;
const SMALL_PAYLOAD = 16 * 1024; // copied into the frame; larger ones are written as-is after their header
const MAX_CONTROL_PAYLOAD = 125; // RFC 6455 §5.5
const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;

function onSocketError(this: Socket): void {
  // Resets and write errors are expected on the open internet; 'close' follows
  // and reports the connection as closed (1006).
}
const kConnection = Symbol('rxws.connection');
type ConnectionSocket = Socket & { [kConnection]?: Connection<unknown> };
function onSocketClose(this: ConnectionSocket): void {
  this[kConnection]?.finish();
}
function onFirstData(this: ConnectionSocket, chunk: Buffer): void {
  this.off('data', onFirstData);
  this[kConnection]?.subscribeInbound(chunk);
}

/** Control frames of one connection, as one small object rather than three closures. */
class ConnectionControl implements ControlFrameHandler {
  constructor(private readonly conn: Connection<unknown>) {}
  ping(payload: Buffer): void {
    this.conn.answerPing(payload);
  }
  pong(): void {
    // Nothing to do: any traffic, a pong included, counts for the heartbeat (activity()).
  }
  close(code: number | undefined, reason: string): void {
    this.conn.closeReceived(code, reason);
  }
}

class InboundSubscriber extends Subscriber<Message> {
  constructor(private readonly conn: Connection<unknown>) {
    super();
  }
  protected override _next(message: Message): void {
    this.conn.deliver(message);
  }
  protected override _error(err: unknown): void {
    try {
      this.conn.inboundFailed(err);
    } finally {
      this.unsubscribe();
    }
  }
  protected override _complete(): void {
    this.unsubscribe();
  }
}

const NO_REQUEST = ConnectionRequest.of(
  { method: 'GET', target: '/', path: '/', query: '', version: 'HTTP/1.1', headers: new Map() },
  undefined,
  { protocols: [], extensions: '', origin: undefined },
);
const NO_OBSERVERS: readonly Subscriber<Message>[] = [];
const NO_ROOMS: ReadonlySet<string> = new Set();
const toMessageData = (m: Message): MessageData => (m.opcode === Opcode.Text ? m.payload.toString('utf8') : m.payload);

/** A connection's incoming$: guarded, and subscribing costs one small object, no closures. */
class IncomingObservable extends GuardedObservable<Message> {
  constructor(private readonly conn: Connection<unknown>) {
    super(undefined, conn);
  }
  // RxJS calls _subscribe (internal in its typings) for every subscription.
  protected _subscribe(subscriber: Subscriber<Message>): Unsubscribable | void {
    return this.conn.addObserver(subscriber);
  }
}

class IncomingSubscription implements Unsubscribable {
  constructor(
    private readonly conn: Connection<unknown>,
    private readonly subscriber: Subscriber<Message>,
  ) {}
  unsubscribe(): void {
    this.conn.removeObserver(this.subscriber);
  }
}

/** Messages read before a connection's first subscriber. */
class HeldMessages {
  readonly messages: Message[] = [];
  bytes = 0;
  /** The bytes reached the budget: reading was paused. */
  full = false;
}

/**
 * One WebSocket connection: the socket's bytes piped through decodeFrames →
 * limitMessageSize → reassembleMessages → handleControlFrames into
 * `messages$`, and an Outbound (byte budget, one write per turn) out.
 * Sending on a connection that is closing or closed is a no-op.
 */
export class Connection<S = Record<string, unknown>> implements HeartbeatTarget, Drainable {
  /** Random (96 bits, URL-safe base64): unguessable, and unique across processes and nodes. */
  readonly id: string = newConnectionId();
  private appState: S | undefined;
  /** @internal permessage-deflate as agreed in the handshake (null: not in use) */
  deflateSession: DeflateSession | null = null;

  private phase = OPEN;
  private readonly outbound: Outbound;
  // Reading is paused while the application asked (appPaused) and/or the peer is not reading our output (outbound.outputBlocked).
  private appPaused = false;
  private sent: { code: number | undefined; reason: string } | null = null;
  private received: { code: number; reason: string } | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  // Subscribers of incoming$: a plain array, replaced (never mutated) on change
  // so that delivery can iterate it while a subscriber unsubscribes.
  private observers: readonly Subscriber<Message>[] = NO_OBSERVERS;
  private closedSubject: Subject<CloseEvent> | null = null;
  private closeEvent: CloseEvent | null = null;
  private drainSubject: Subject<void> | null = null;
  private inbound: Subscription | null = null;
  private head: Buffer | null;
  // Messages read before the first subscriber of incoming$, kept for it (see holdEarly).
  private held: HeldMessages | null = null;
  private firstSubscriberCame = false;

  // Private: only the server opens connections (Connection.open), so the published types offer no constructor.
  private constructor(
    /** @internal */ readonly socket: Socket,
    head: Buffer,
    private readonly options: ConnectionOptions,
    private readonly owner: ConnectionOwner,
    initialState: S,
    /** The subprotocol agreed in the handshake, if any. */
    readonly protocol?: string,
    /** The upgrade request: method, target, path, query, headers, remote address and port. */
    readonly request: ConnectionRequest = NO_REQUEST,
  ) {
    this.appState = initialState;
    this.outbound = new Outbound(socket, options, this);
    (socket as ConnectionSocket)[kConnection] = this as Connection<unknown>;
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose); // 'on': 'close' comes once, and once() would keep a wrapper per connection
    this.head = head;
  }

  /** @internal */
  static open<S>(
    socket: Socket,
    head: Buffer,
    options: ConnectionOptions,
    owner: ConnectionOwner,
    initialState: S,
    protocol?: string,
    request?: ConnectionRequest,
  ): Connection<S> {
    return new Connection<S>(socket, head, options, owner, initialState, protocol, request);
  }

  /**
   * @internal starts reading, once the application has had the chance to
   * subscribe. The inbound pipeline is built with the first bytes, so a
   * connection that has sent nothing yet costs only its socket and this object.
   */
  start(): void {
    const head = this.head!;
    this.head = null;
    if (head.length > 0) this.subscribeInbound(head);
    else this.socket.on('data', onFirstData);
  }

  /** @internal */
  subscribeInbound(head: Buffer): void {
    if (this.phase === CLOSED) return;
    const deflate = this.deflateSession;
    const control = handleControlFrames(new ConnectionControl(this as Connection<unknown>));
    const parts = fromSocket(this.socket, head).pipe(
      decodeFrames({ allowRsv1: deflate !== null }),
      limitMessageSize(this.options.maxMessageSize),
    );
    this.inbound = (
      deflate === null
        ? parts.pipe(reassembleMessages(), control)
        : parts.pipe(
            inflateMessages({
              maxMessageSize: this.options.maxMessageSize,
              noContextTakeover: deflate.params.clientNoContextTakeover,
              windowBits: deflate.params.clientMaxWindowBits,
            }),
            reassembleMessages(),
            control,
          )
    ).subscribe(new InboundSubscriber(this as Connection<unknown>));
  }

  /** The upgrade request's path, without the query (`/chat` for `/chat?room=a`; the query is `request.query`). */
  get path(): string {
    return this.request.path;
  }

  /** Application data for this connection (an empty object unless the server's initialState says otherwise). */
  get state(): S {
    return (this.appState ??= {} as S);
  }
  set state(value: S) {
    this.appState = value;
  }

  get readyState(): ReadyState {
    return this.phase === OPEN ? 'open' : this.phase === CLOSING ? 'closing' : 'closed';
  }

  /** Bytes queued or in the socket's buffer, not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.outbound.bufferedAmount;
  }

  /** The Sec-WebSocket-Extensions value agreed in the handshake ('' when none). */
  get extensions(): string {
    return this.deflateSession?.response ?? '';
  }

  /** The peer's address, as read at the upgrade (still known after the close). */
  get remoteAddress(): string | undefined {
    return this.request.remoteAddress ?? this.socket.remoteAddress;
  }

  /** Whole text and binary messages as {opcode, payload}: the raw form of `messages$`. Completes when the connection closes. */
  get incoming$(): Observable<Message> {
    return new IncomingObservable(this as Connection<unknown>);
  }

  /** Text messages as strings, binary messages as Buffers. Completes when the connection closes. */
  get messages$(): Observable<MessageData> {
    return this.incoming$.pipe(map(toMessageData));
  }

  /** @internal */
  addObserver(subscriber: Subscriber<Message>): Unsubscribable | void {
    if (!this.firstSubscriberCame) this.handOverHeld(subscriber);
    if (this.phase === CLOSED) return subscriber.complete();
    this.observers = [...this.observers, subscriber];
    return new IncomingSubscription(this as Connection<unknown>, subscriber);
  }

  /** @internal */
  removeObserver(subscriber: Subscriber<Message>): void {
    this.observers = this.observers.filter((s) => s !== subscriber);
  }

  /** Emits the close event once, then completes (immediately if already closed). */
  get closed$(): Observable<CloseEvent> {
    return new GuardedObservable<CloseEvent>(
      (subscriber) => {
        if (this.closeEvent !== null) {
          subscriber.next(this.closeEvent);
          return subscriber.complete();
        }
        return (this.closedSubject ??= new Subject<CloseEvent>()).subscribe(subscriber);
      },
      this,
    );
  }

  /** Sends a text (string) or binary (Buffer) message. Returns false if it was not queued (see `trySend` for why). */
  send(data: string | Uint8Array): boolean {
    return this.trySend(data) === 'queued';
  }

  /**
   * `send` that says why a message was not queued: 'full' (over the budget:
   * the slow-consumer policy applied) or 'closed'. A writer that waits for
   * `drain$` whenever `writable` is false never gets 'full'.
   */
  trySend(data: string | Uint8Array): SendResult {
    if (this.phase !== OPEN) return 'closed';
    if (typeof data === 'string') return this.enqueue(this.deflateSession?.compress(Opcode.Text, data) ?? encodeTextFrame(data));
    return this.enqueueMessage(Opcode.Binary, data);
  }

  /**
   * Sends a message with an explicit opcode: Text (the payload must be valid
   * UTF-8) or Binary. Throws a RangeError for any other opcode and a TypeError
   * for invalid UTF-8, and then writes nothing.
   */
  sendMessage(opcode: number, payload: Uint8Array): boolean {
    if (opcode !== Opcode.Text && opcode !== Opcode.Binary) {
      throw new RangeError(`sendMessage: opcode ${opcode} is not Text (1) or Binary (2); use ping() for pings, close() to close`);
    }
    if (opcode === Opcode.Text && !isUtf8(payload)) throw new TypeError('sendMessage: a Text payload must be valid UTF-8');
    return this.phase === OPEN && this.enqueueMessage(opcode, payload) === 'queued';
  }

  /** Sends an already-encoded frame: how a broadcast writes the same bytes to every recipient. */
  sendFrame(frame: Buffer): boolean {
    return this.phase === OPEN && this.enqueue(frame) === 'queued';
  }

  /** Open, and the unsent bytes are at or below the low-water mark (half the budget): a paced writer may send. */
  get writable(): boolean {
    return this.phase === OPEN && this.outbound.belowLowWater;
  }

  /**
   * Emits each time the unsent bytes fall back to the low-water mark (half
   * the budget) after sends took them above it; completes when the
   * connection closes. With `writable`, lets a writer send at full speed
   * without polling and without tripping the budget (see `writeTo`).
   */
  get drain$(): Observable<void> {
    return new GuardedObservable<void>((subscriber) => {
      if (this.phase === CLOSED) return subscriber.complete();
      const subject = (this.drainSubject ??= new Subject<void>());
      const subscription = subject.subscribe(subscriber);
      this.outbound.watchDrain(true);
      return () => {
        subscription.unsubscribe();
        if (!subject.observed) this.outbound.watchDrain(false);
      };
    }, this);
  }

  /** @internal the outbound fell to its low-water mark. */
  outputWritable(): void {
    this.drainSubject?.next();
  }

  /** @internal queues bytes that are not a frame (the 101 response), ahead of everything else. */
  sendRaw(bytes: Buffer): void {
    this.outbound.pushUncounted(bytes);
  }

  /**
   * Starts the close handshake; messages already sent go out first. Throws a
   * RangeError (and changes nothing) for a code that may not be sent
   * (RFC 6455 §7.4: 1000–1003, 1007–1014, 3000–4999) or a reason longer than
   * 123 UTF-8 bytes.
   */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (!isValidCloseCode(code)) throw new RangeError(`close: code ${code} may not be sent (1000-1003, 1007-1014, 3000-4999)`);
    if (Buffer.byteLength(reason) > MAX_CLOSE_REASON) throw new RangeError(`close: the reason is longer than ${MAX_CLOSE_REASON} bytes`);
    if (this.beginClose(code, reason)) this.startCloseTimer();
  }

  /**
   * Inbound flow control for applications that consume messages
   * asynchronously: stop reading from the socket (TCP pushes back on the
   * peer) until `resume()`.
   */
  pause(): void {
    this.appPaused = true;
    this.socket.pause();
  }

  resume(): void {
    this.appPaused = false;
    this.resumeReading();
  }

  /** @internal the peer took what we wrote: reading may resume (unless something else holds it paused). */
  outputDrained(): void {
    this.resumeReading();
  }

  /** Resumes reading unless the application paused it, our output is backed up, or held messages fill the budget. */
  private resumeReading(): void {
    if (this.appPaused || this.outbound.outputBlocked || this.phase === CLOSED) return;
    if (this.phase === OPEN && this.held?.full === true) return;
    this.socket.resume();
  }

  /** Ends the TCP connection now, without a close handshake. */
  terminate(): void {
    this.socket.destroy();
  }

  /** Sends a ping (payload at most 125 bytes: a RangeError otherwise, and nothing is sent). */
  ping(payload: Uint8Array = Buffer.alloc(0)): void {
    if (payload.length > MAX_CONTROL_PAYLOAD) throw new RangeError(`ping: the payload is ${payload.length} bytes, at most ${MAX_CONTROL_PAYLOAD} allowed`);
    if (this.phase === OPEN) this.outbound.push(encodeFrame(Opcode.Ping, payload));
  }

  /**
   * For the heartbeat: a counter that moves whenever the peer shows it is
   * alive: bytes read, plus, while output is backed up in the socket (the
   * kernel's buffer was full), bytes the kernel took since — only a peer that
   * reads frees that room, even while our reading is paused because its
   * output is blocked and its pong is unreadable. (With no backlog the kernel
   * takes anything, a ping to a dead peer too, so it proves nothing.)
   * null while the application has paused reading: the peer's frames are then
   * unread by choice, so the heartbeat does not judge it.
   */
  activity(): number | null {
    if (this.appPaused) return null;
    const socket = this.socket;
    const backlog = socket.writableLength;
    return backlog > 0 ? socket.bytesRead + socket.bytesWritten - backlog : socket.bytesRead;
  }

  /**
   * @internal a ping: pong with the same payload (copied into the frame: it is
   * a slice of the read buffer). Also after our close frame, until the peer's
   * (RFC 6455 §5.5.2).
   */
  answerPing(payload: Buffer): void {
    if (this.phase !== CLOSED && this.received === null) this.outbound.push(encodeFrame(Opcode.Pong, payload));
  }

  /** @internal the peer's close frame: reply (echoing its code) unless we sent one, then end TCP. */
  closeReceived(code: number | undefined, reason: string): void {
    this.received = { code: code ?? CloseCode.NoStatus, reason };
    this.beginClose(code, '');
    this.endSocket();
  }

  // --- internals ---

  /** @internal */
  deliver(message: Message): void {
    const observers = this.observers;
    this.options.stats.messagesReceived++;
    if (observers.length === 0 && !this.firstSubscriberCame) return this.holdEarly(message);
    const previous = beginAttribution(this);
    try {
      for (let i = 0; i < observers.length; i++) observers[i]!.next(message);
    } finally {
      endAttribution(previous);
    }
  }

  /**
   * Nobody has subscribed yet (the application awaits something first): keep
   * the message for the first subscriber. Held bytes are bounded by the
   * outbound budget: past it reading stops (TCP pushes back on the peer)
   * until the subscriber comes; once we are closing, what is past it is dropped
   * (reading must go on for the peer's close frame).
   */
  private holdEarly(message: Message): void {
    const held = (this.held ??= new HeldMessages());
    if (held.full && this.phase !== OPEN) return;
    held.messages.push(message);
    held.bytes += message.payload.length;
    if (held.bytes >= this.options.maxBufferedBytes && !held.full) {
      held.full = true;
      if (this.phase === OPEN) this.socket.pause();
    }
  }

  /** The first subscriber: it gets the held messages, in order, before anything else. */
  private handOverHeld(subscriber: Subscriber<Message>): void {
    this.firstSubscriberCame = true;
    const held = this.held;
    if (held === null) return;
    this.held = null;
    const previous = beginAttribution(this);
    try {
      for (let i = 0; i < held.messages.length && !subscriber.closed; i++) subscriber.next(held.messages[i]!);
    } finally {
      endAttribution(previous);
    }
    if (held.full) this.resumeReading();
  }

  /** @internal the inbound pipeline failed: a protocol error, or the socket broke. */
  inboundFailed(err: unknown): void {
    if (!(err instanceof ProtocolError)) {
      this.socket.destroy();
      return;
    }
    this.owner.connectionError(this as Connection<unknown>, err);
    this.beginClose(err.closeCode, err.message);
    this.endSocket();
  }

  /** @internal an exception in application code for this connection: close it with 1011 (or a ProtocolError's own code). */
  fault(err: unknown): void {
    this.owner.connectionError(this as Connection<unknown>, err);
    // A rule the application applies (e.g. rateLimit's 'close' policy) carries its own close code.
    const code = err instanceof ProtocolError && isValidCloseCode(err.closeCode) ? err.closeCode : CloseCode.InternalError;
    // beginClose, not close(): a long message is truncated rather than refused.
    if (this.beginClose(code, err instanceof ProtocolError ? err.message : 'internal error')) this.startCloseTimer();
  }

  /** Queues our close frame (after everything already queued) unless one was sent; false if the connection was not open. */
  private beginClose(code: number | undefined, reason: string): boolean {
    if (this.phase !== OPEN) return false;
    const frame = encodeFrame(Opcode.Close, encodeClosePayload(code, reason)); // may throw: before any state changes
    this.phase = CLOSING;
    this.sent = { code, reason };
    this.outbound.push(frame);
    // Held messages may have paused reading: the peer's close frame must be read.
    if (this.held?.full === true) this.resumeReading();
    return true;
  }

  /** The peer gets closeTimeout to finish the close; then the socket is destroyed. */
  private startCloseTimer(): void {
    this.closeTimer ??= setTimeout(destroySocket, this.options.closeTimeout, this.socket).unref();
  }

  /** Flushes what is queued (the close frame last), half-closes, and starts the close timer. */
  private endSocket(): void {
    this.outbound.flush();
    if (!this.socket.writableEnded) this.socket.end();
    this.startCloseTimer();
  }

  private enqueueMessage(opcode: number, payload: Uint8Array): SendResult {
    const compressed = this.deflateSession?.compress(opcode, payload);
    if (compressed != null) return this.enqueue(compressed);
    if (payload.length <= SMALL_PAYLOAD) return this.enqueue(encodeFrame(opcode, payload));
    return this.enqueue(encodeFrameHeader(opcode, payload.length), Buffer.from(payload.buffer, payload.byteOffset, payload.length));
  }

  /**
   * Queues one message's bytes under the budget; past it, applies the
   * slow-consumer policy. 'close' keeps what was accepted: the 101 and every
   * message `send` returned true for go out before the close frame (the close
   * timer bounds how long that may take).
   */
  private enqueue(a: Buffer, b?: Buffer): SendResult {
    if (this.outbound.tryPush(a, b)) {
      this.options.stats.messagesSent++;
      return 'queued';
    }
    if (this.options.slowConsumer === 'close') this.close(CloseCode.PolicyViolation, 'slow consumer');
    else this.options.stats.droppedSlowConsumer++;
    return 'full';
  }

  /** @internal the socket closed: release everything and tell the owner. */
  finish(): void {
    if (this.phase === CLOSED) return;
    this.phase = CLOSED;
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.outbound.clear();
    this.inbound?.unsubscribe();
    this.deflateSession?.release();
    const received = this.received;
    const sent = this.sent;
    const rooms = this.owner.connectionRooms(this as Connection<unknown>);
    const event: CloseEvent = {
      code: received?.code ?? CloseCode.Abnormal,
      reason: received?.reason ?? '',
      wasClean: received !== null && sent !== null,
      ...(sent !== null && { sent }),
      // A copy: the adapter's own set changes as the connection leaves.
      rooms: rooms.size === 0 ? NO_ROOMS : new Set(rooms),
    };
    this.closeEvent = event;
    this.owner.connectionClosed(this as Connection<unknown>, event);
    const observers = this.observers;
    this.observers = NO_OBSERVERS;
    for (let i = 0; i < observers.length; i++) observers[i]!.complete();
    this.closedSubject?.next(event);
    this.closedSubject?.complete();
    this.drainSubject?.complete();
  }
}
