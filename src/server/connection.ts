import type { Socket } from 'node:net';
import { map, type Observable, Subject, Subscriber, type Subscription, type Unsubscribable } from 'rxjs';
import { encodeClosePayload } from '../protocol/close.js';
import { CloseCode, ProtocolError } from '../protocol/errors.js';
import { encodeFrame, encodeFrameHeader, encodeTextFrame } from '../protocol/frame-encoder.js';
import type { Message } from '../protocol/message-assembler.js';
import { Opcode } from '../protocol/opcode.js';
import { decodeFrames } from '../streams/decodeFrames.js';
import type { Drainable } from '../streams/drainConnections.js';
import { fromSocket } from '../streams/fromSocket.js';
import { GuardedObservable } from './guarded.js';
import { handleControlFrames, type ControlFrameHandler } from '../streams/handleControlFrames.js';
import type { HeartbeatTarget } from '../streams/heartbeat.js';
import { limitMessageSize } from '../streams/limitMessageSize.js';
import { reassembleMessages } from '../streams/reassembleMessages.js';
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
}

/** How a connection ended. `code` is the peer's close code, else the one sent, else 1006. */
export interface CloseEvent {
  readonly code: number;
  readonly reason: string;
  /** Close frames went both ways. */
  readonly wasClean: boolean;
}

/** Notified by every connection; the server implements it. */
export interface ConnectionOwner {
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
const COALESCE_LIMIT = 64 * 1024; // a turn's frames up to this size go out as one buffer

// One write per connection per event-loop turn: sends only queue frames; the
// queues of every connection touched in this turn are flushed in one tick.
let dirty: Connection<unknown>[] = [];
const flushDirty = () => {
  const batch = dirty;
  dirty = [];
  for (let i = 0; i < batch.length; i++) batch[i]!.flush();
};

function onSocketError(this: Socket): void {
  // Resets and write errors are expected on the open internet; 'close' follows
  // and reports the connection as closed (1006).
}
function destroySocket(socket: Socket): void {
  socket.destroy();
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

let nextId = 1;
const NO_OBSERVERS: readonly Subscriber<Message>[] = [];
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

/**
 * One WebSocket connection: the socket's bytes piped through decodeFrames →
 * limitMessageSize → reassembleMessages → handleControlFrames into
 * `messages$`, and a write queue (byte budget, one write per turn) out.
 * Sending on a connection that is closing or closed is a no-op.
 */
export class Connection<S = Record<string, unknown>> implements HeartbeatTarget, Drainable {
  /** Unique within the process. */
  readonly id: string = String(nextId++);
  private appState: S | undefined;
  /** @internal rooms this connection is in (kept by Rooms) */
  roomNames: Set<string> | null = null;
  /** @internal permessage-deflate as agreed in the handshake (null: not in use) */
  deflateSession: DeflateSession | null = null;

  private phase = OPEN;
  private queue: Buffer[] | null = null;
  private queuedBytes = 0;
  private flushPending = false;
  // Why reading is paused: the peer is not reading our output, and/or the application asked.
  private outputBlocked = false;
  private appPaused = false;
  private sent: { code: number | undefined; reason: string } | null = null;
  private received: { code: number; reason: string } | null = null;
  private closeTimer: NodeJS.Timeout | null = null;
  // Subscribers of incoming$: a plain array, replaced (never mutated) on change
  // so that delivery can iterate it while a subscriber unsubscribes.
  private observers: readonly Subscriber<Message>[] = NO_OBSERVERS;
  private closedSubject: Subject<CloseEvent> | null = null;
  private closeEvent: CloseEvent | null = null;
  private inbound: Subscription | null = null;
  private head: Buffer | null;

  constructor(
    /** @internal */ readonly socket: Socket,
    head: Buffer,
    private readonly options: ConnectionOptions,
    private readonly owner: ConnectionOwner,
    initialState: S,
    /** The subprotocol agreed in the handshake, if any. */
    readonly protocol?: string,
    /** The upgrade request's target, e.g. `/chat?room=a`. */
    readonly path = '/',
  ) {
    this.appState = initialState;
    (socket as ConnectionSocket)[kConnection] = this as Connection<unknown>;
    socket.on('error', onSocketError);
    socket.once('close', onSocketClose);
    this.head = head;
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
    return this.queuedBytes + this.socket.writableLength;
  }

  /** The Sec-WebSocket-Extensions value agreed in the handshake ('' when none). */
  get extensions(): string {
    return this.deflateSession?.response ?? '';
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
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

  /** Sends a text (string) or binary (Buffer) message. Returns false if it was not queued. */
  send(data: string | Uint8Array): boolean {
    if (this.phase !== OPEN) return false;
    if (typeof data === 'string') {
      const compressed = this.deflateSession?.compress(Opcode.Text, data);
      return this.enqueue(compressed ?? encodeTextFrame(data));
    }
    return this.sendMessage(Opcode.Binary, data);
  }

  /** Sends a message with an explicit opcode (Text payloads must be valid UTF-8). */
  sendMessage(opcode: number, payload: Uint8Array): boolean {
    if (this.phase !== OPEN) return false;
    const compressed = this.deflateSession?.compress(opcode, payload);
    if (compressed != null) return this.enqueue(compressed);
    if (payload.length <= SMALL_PAYLOAD) return this.enqueue(encodeFrame(opcode, payload));
    return this.enqueue(encodeFrameHeader(opcode, payload.length), Buffer.from(payload.buffer, payload.byteOffset, payload.length));
  }

  /** Sends an already-encoded frame: how a broadcast writes the same bytes to every recipient. */
  sendFrame(frame: Buffer): boolean {
    return this.phase === OPEN && this.enqueue(frame);
  }

  /** @internal queues bytes that are not a frame (the 101 response), ahead of everything else. */
  sendRaw(bytes: Buffer): void {
    this.push(bytes);
  }

  /** Starts the close handshake; messages already sent go out first. */
  close(code: number = CloseCode.Normal, reason = ''): void {
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
    if (!this.outputBlocked && this.phase !== CLOSED) this.socket.resume();
  }

  /** Ends the TCP connection now, without a close handshake. */
  terminate(): void {
    this.socket.destroy();
  }

  ping(payload: Uint8Array = Buffer.alloc(0)): void {
    if (this.phase === OPEN) this.push(encodeFrame(Opcode.Ping, payload));
  }

  /** @internal heartbeat: moves whenever the peer sends anything. */
  activity(): number {
    return this.socket.bytesRead;
  }

  /** @internal a ping: pong with the same payload (copied into the frame: it is a slice of the read buffer). */
  answerPing(payload: Buffer): void {
    if (this.phase === OPEN) this.push(encodeFrame(Opcode.Pong, payload));
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
    for (let i = 0; i < observers.length; i++) observers[i]!.next(message);
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
    if (err instanceof ProtocolError) this.close(err.closeCode, err.message);
    else this.close(CloseCode.InternalError, 'internal error');
  }

  /** Queues our close frame (after everything already queued) unless one was sent; false if the connection was not open. */
  private beginClose(code: number | undefined, reason: string): boolean {
    if (this.phase !== OPEN) return false;
    this.phase = CLOSING;
    this.sent = { code, reason };
    this.push(encodeFrame(Opcode.Close, encodeClosePayload(code, reason)));
    return true;
  }

  /** The peer gets closeTimeout to finish the close; then the socket is destroyed. */
  private startCloseTimer(): void {
    this.closeTimer ??= setTimeout(destroySocket, this.options.closeTimeout, this.socket).unref();
  }

  /** Flushes what is queued (the close frame last), half-closes, and starts the close timer. */
  private endSocket(): void {
    this.flush();
    if (!this.socket.writableEnded) this.socket.end();
    this.startCloseTimer();
  }

  private enqueue(a: Buffer, b?: Buffer): boolean {
    if (this.queuedBytes + this.socket.writableLength > this.options.maxBufferedBytes) {
      if (this.options.slowConsumer === 'close') {
        this.queue = null;
        this.queuedBytes = 0;
        this.close(CloseCode.PolicyViolation, 'slow consumer');
      }
      return false;
    }
    this.push(a);
    if (b !== undefined) this.push(b);
    return true;
  }

  private push(frame: Buffer): void {
    (this.queue ??= []).push(frame);
    this.queuedBytes += frame.length;
    if (!this.flushPending) {
      this.flushPending = true;
      if (dirty.push(this as Connection<unknown>) === 1) process.nextTick(flushDirty);
    }
  }

  /** @internal writes everything queued: one buffer for small batches, a corked writev for large ones. */
  flush(): void {
    this.flushPending = false;
    const queue = this.queue;
    if (queue === null || queue.length === 0) return;
    const socket = this.socket;
    if (!socket.destroyed && !socket.writableEnded) {
      if (queue.length === 1) socket.write(queue[0]!);
      else if (this.queuedBytes <= COALESCE_LIMIT) socket.write(Buffer.concat(queue, this.queuedBytes));
      else {
        socket.cork();
        for (let i = 0; i < queue.length; i++) socket.write(queue[i]!);
        socket.uncork();
      }
      if (!this.outputBlocked && socket.writableLength > this.options.readHighWaterMark) {
        // The peer is not reading what we send: stop reading what it sends until it does.
        this.outputBlocked = true;
        socket.pause();
        socket.once('drain', () => {
          this.outputBlocked = false;
          if (!this.appPaused) socket.resume();
        });
      }
    }
    this.queue = null; // an idle connection keeps no array
    this.queuedBytes = 0;
  }

  /** @internal the socket closed: release everything and tell the owner. */
  finish(): void {
    if (this.phase === CLOSED) return;
    this.phase = CLOSED;
    if (this.closeTimer !== null) clearTimeout(this.closeTimer);
    this.queue = null;
    this.queuedBytes = 0;
    this.inbound?.unsubscribe();
    this.deflateSession?.release();
    const received = this.received;
    const sent = this.sent;
    const event: CloseEvent = {
      code: received?.code ?? sent?.code ?? CloseCode.Abnormal,
      reason: received?.reason ?? sent?.reason ?? '',
      wasClean: received !== null && sent !== null,
    };
    this.closeEvent = event;
    this.owner.connectionClosed(this as Connection<unknown>, event);
    const observers = this.observers;
    this.observers = NO_OBSERVERS;
    for (let i = 0; i < observers.length; i++) observers[i]!.complete();
    this.closedSubject?.next(event);
    this.closedSubject?.complete();
  }
}
