import type { IncomingMessage, Server as HttpServer } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { asyncScheduler, lastValueFrom, type Observable, type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { HttpError, ProtocolError } from '../protocol/errors.js';
import {
  errorResponse,
  httpResponse,
  isUpgradeRequest,
  RequestHeadParser,
  selectProtocol,
  upgradeResponse,
  validateUpgrade,
  type RequestHead,
} from '../protocol/handshake.js';
import { type PerMessageDeflateOptions, resolveDeflateOptions } from '../protocol/extensions/permessage-deflate.js';
import { DeflateNegotiator } from './compression.js';
import { type CloseEvent, Connection, type ConnectionOptions, type ConnectionOwner, type MessageData } from './connection.js';
import { drainConnections } from '../streams/drainConnections.js';
import { GuardedObservable } from './guarded.js';
import { heartbeat } from '../streams/heartbeat.js';
import { Rooms, sendToAll } from './rooms.js';

/** A plain HTTP response for a non-upgrade request. */
export interface HttpResponse {
  readonly status: number;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
}

export interface ServerOptions<S> {
  /** Port to listen on (0: any free port). Default 8080. Ignored with `server`. */
  readonly port?: number;
  /** Default '0.0.0.0'. */
  readonly host?: string;
  /** Attach to an existing server instead of listening: a net.Server's connections, or an http.Server's upgrades. */
  readonly server?: net.Server | HttpServer;
  /** Largest message accepted, in bytes (1009 from the frame header beyond it). Default 1 MiB. */
  readonly maxMessageSize?: number;
  /** Outbound budget per connection, in unsent bytes. Default 1 MiB. */
  readonly maxBufferedBytes?: number;
  /** Past the budget: 'close' (1008 "slow consumer", the default) or 'drop' that message. */
  readonly slowConsumer?: 'close' | 'drop';
  /** Further upgrades get HTTP 503. Default unlimited. */
  readonly maxConnections?: number;
  /** Accepted Origin values; an upgrade from any other origin gets 403. Default: any origin. */
  readonly allowOrigins?: readonly string[];
  /** Subprotocols the server speaks, in no particular order; the client's first supported one is chosen. */
  readonly protocols?: readonly string[];
  /** A socket that has not completed its upgrade request by then is ended (ms, 0: no limit). Default 10 000. */
  readonly handshakeTimeout?: number;
  /** Request head size limit (bytes, 431 beyond). Default 16 KiB. */
  readonly maxHeadSize?: number;
  /** Request header count limit (431 beyond). Default 100. */
  readonly maxHeaders?: number;
  /** Ping connections idle this long; end those silent for another period (ms, 0: off). Default 30 000. */
  readonly heartbeatInterval?: number;
  /** Wait this long for the peer's close reply (ms). Default 5 000. */
  readonly closeTimeout?: number;
  /** Graceful shutdown waits this long for close replies before ending sockets (ms). Default 5 000. */
  readonly shutdownGrace?: number;
  /** Initial application state of each connection. */
  readonly initialState?: (conn: Connection<S>) => S;
  readonly onConnect?: (conn: Connection<S>) => void;
  readonly onMessage?: (conn: Connection<S>, data: MessageData) => void;
  readonly onClose?: (conn: Connection<S>, event: CloseEvent) => void;
  /** Protocol errors of peers, and exceptions in application code (the connection is then closed with 1011). */
  readonly onError?: (err: unknown, conn: Connection<S> | undefined) => void;
  /** Answers plain HTTP requests (GET /healthz is built in); undefined → 404. */
  readonly onRequest?: (request: RequestHead) => HttpResponse | undefined;
  /**
   * permessage-deflate (RFC 7692): off by default; `true` for the defaults
   * (threshold 1 KiB, no context takeover either way: no zlib state per
   * connection, one compression per fan-out), or options.
   */
  readonly perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Scheduler for the heartbeat and shutdown timers (a TestScheduler in tests). */
  readonly scheduler?: SchedulerLike;
}

export interface ConnectionError<S> {
  readonly error: unknown;
  readonly connection: Connection<S> | undefined;
}

const MIB = 1024 * 1024;

function onPendingError(this: Socket): void {
  // A socket that breaks during its handshake is simply dropped ('close' cleans up).
}
function destroySocket(socket: Socket): void {
  socket.destroy();
}

/**
 * A WebSocket server on raw TCP. Connections arrive on `connections$`; each
 * one's messages on its `messages$`. Rooms, broadcast and send-by-id fan out
 * pre-encoded frames. The hooks in the options are subscribers of the same
 * streams.
 */
export class WebSocketServer<S = Record<string, unknown>> implements ConnectionOwner {
  readonly rooms: Rooms;
  /** Every connection as it opens (after its 101 response). */
  readonly connections$: Observable<Connection<S>>;
  /** Protocol errors of peers and faults of application code. */
  readonly errors$: Observable<ConnectionError<S>>;

  private readonly connections = new Map<string, Connection<S>>();
  private readonly pending = new Set<Socket>();
  private readonly connectionSubject = new Subject<Connection<S>>();
  private readonly errorSubject = new Subject<ConnectionError<S>>();
  private readonly connectionOptions: ConnectionOptions;
  private readonly deflate: DeflateNegotiator | null;
  private readonly netServer: net.Server;
  private readonly ownsServer: boolean;
  private readonly scheduler: SchedulerLike;
  private readonly heartbeatSubscription: Subscription | undefined;
  private readonly detach: () => void;
  private opening: Connection<S> | undefined;
  // One listener for every pending socket (no closure per socket that could keep its handshake state alive).
  private readonly onPendingClose: (this: Socket) => void;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ServerOptions<S> = {}) {
    this.scheduler = options.scheduler ?? asyncScheduler;
    const deflate = options.perMessageDeflate ?? false;
    this.deflate = deflate === false ? null : new DeflateNegotiator(resolveDeflateOptions(deflate));
    this.rooms = new Rooms((err) => this.report(err, undefined));
    const pending = this.pending;
    this.onPendingClose = function (this: Socket) {
      pending.delete(this);
    };
    this.connectionOptions = {
      maxMessageSize: options.maxMessageSize ?? MIB,
      maxBufferedBytes: options.maxBufferedBytes ?? MIB,
      slowConsumer: options.slowConsumer ?? 'close',
      closeTimeout: options.closeTimeout ?? 5000,
      readHighWaterMark: Math.min(options.maxBufferedBytes ?? MIB, 256 * 1024),
    };
    // An exception in a subscriber of connections$ belongs to the connection being announced.
    this.connections$ = new GuardedObservable<Connection<S>>(
      (subscriber) => this.connectionSubject.subscribe(subscriber),
      (err) => {
        if (this.opening !== undefined) this.opening.fault(err);
        else this.report(err, undefined);
      },
    );
    this.errors$ = this.errorSubject.asObservable();

    const { onConnect, onMessage, onClose, onError } = options;
    if (onError !== undefined) {
      this.errorSubject.subscribe(({ error, connection }) => {
        try {
          onError(error, connection);
        } catch (err) {
          // The error handler itself failed: nowhere left to report it but the log.
          console.error('rxws: onError threw while handling', error, ':', err);
        }
      });
    }
    if (onConnect !== undefined) this.connections$.subscribe((conn) => onConnect(conn));
    if (onMessage !== undefined) {
      this.connections$.subscribe((conn) => conn.messages$.subscribe((data) => onMessage(conn, data)));
    }
    if (onClose !== undefined) this.connections$.subscribe((conn) => conn.closed$.subscribe((event) => onClose(conn, event)));

    this.ownsServer = options.server === undefined;
    this.netServer = options.server ?? net.createServer();
    if (isHttpServer(this.netServer)) {
      const onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer) => this.handleUpgrade(requestHeadOf(req), socket, head);
      this.netServer.on('upgrade', onUpgrade);
      this.detach = () => this.netServer.off('upgrade', onUpgrade);
    } else {
      const onConnection = (socket: Socket) => this.handleSocket(socket);
      this.netServer.on('connection', onConnection);
      this.detach = () => this.netServer.off('connection', onConnection);
    }

    const interval = options.heartbeatInterval ?? 30_000;
    if (interval > 0) {
      this.heartbeatSubscription = heartbeat(() => this.connections.values(), interval, this.scheduler).subscribe((action) =>
        action.kind === 'ping' ? action.target.ping() : action.target.terminate(),
      );
    }
  }

  /** Starts listening (unless attached to a server of yours); resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.netServer.once('error', onError);
      this.netServer.listen(this.options.port ?? 8080, this.options.host ?? '0.0.0.0', () => {
        this.netServer.off('error', onError);
        // Once listening, errors are failed accepts (e.g. EMFILE under a connection flood): the
        // server keeps serving the connections it has, so report them instead of crashing.
        this.netServer.on('error', (err) => this.report(err, undefined));
        resolve(this.netServer.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | null {
    return this.netServer.address() as AddressInfo | null;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  connection(id: string): Connection<S> | undefined {
    return this.connections.get(id);
  }

  /** Sends to the connection with this id; false if there is none (or it is not open). */
  sendTo(id: string, data: string | Buffer): boolean {
    return this.connections.get(id)?.send(data) ?? false;
  }

  /** Sends to every open connection (encoded once); returns how many it was queued for. */
  broadcast(data: string | Buffer, except?: Connection<S>): number {
    return sendToAll(this.connections.values(), data, except);
  }

  /** Reads the upgrade request from a raw socket (what the server does for each accepted connection). */
  handleSocket(socket: Socket): void {
    this.pending.add(socket);
    socket.on('error', onPendingError);
    socket.once('close', this.onPendingClose);
    // Slowloris: the whole request head must arrive within the handshake timeout.
    const timeout = this.options.handshakeTimeout ?? 10_000;
    const timer = timeout > 0 ? setTimeout(destroySocket, timeout, socket).unref() : undefined;
    const parser = new RequestHeadParser({ maxHeadSize: this.options.maxHeadSize, maxHeaders: this.options.maxHeaders });
    const onData = (chunk: Buffer) => {
      let parsed;
      try {
        parsed = parser.push(chunk);
      } catch (err) {
        socket.off('data', onData);
        clearTimeout(timer);
        this.reject(socket, err instanceof HttpError ? err : new HttpError(400, 'bad request'));
        return;
      }
      if (parsed === null) return;
      socket.off('data', onData);
      clearTimeout(timer);
      if (isUpgradeRequest(parsed.head)) this.handleUpgrade(parsed.head, socket, parsed.rest);
      else this.respond(socket, this.route(parsed.head), parsed.head.method === 'HEAD');
    };
    socket.on('data', onData);
  }

  /** Completes an upgrade whose request head has been read (by us or by an http.Server). */
  handleUpgrade(head: RequestHead, socket: Socket, rest: Buffer): void {
    let upgrade;
    try {
      upgrade = validateUpgrade(head);
      if (this.closing !== undefined) throw new HttpError(503, 'server shutting down');
      const max = this.options.maxConnections;
      if (max !== undefined && this.connections.size >= max) throw new HttpError(503, 'too many connections');
      const origins = this.options.allowOrigins;
      if (origins !== undefined && origins.length > 0 && (upgrade.origin === undefined || !origins.includes(upgrade.origin))) {
        throw new HttpError(403, 'origin not allowed');
      }
    } catch (err) {
      this.reject(socket, err instanceof HttpError ? err : new HttpError(400, 'bad request'));
      return;
    }
    this.pending.delete(socket);
    socket.off('error', onPendingError);
    socket.off('close', this.onPendingClose);
    const protocol = selectProtocol(upgrade.protocols, this.options.protocols ?? []);
    socket.setNoDelay(true);
    const deflate = this.deflate?.sessionFor(upgrade.extensions) ?? null;
    const conn: Connection<S> = new Connection<S>(socket, rest, this.connectionOptions, this, undefined as S, protocol, head.target);
    conn.deflateSession = deflate;
    // Queued, not written: the 101 and whatever onConnect sends (a welcome) leave in one write.
    conn.sendRaw(upgradeResponse(upgrade.key, protocol, deflate?.response));
    this.connections.set(conn.id, conn);
    this.opening = conn;
    try {
      if (this.options.initialState !== undefined) conn.state = this.options.initialState(conn);
      this.connectionSubject.next(conn);
    } catch (err) {
      conn.fault(err);
    } finally {
      this.opening = undefined;
    }
    conn.start();
  }

  /**
   * Graceful shutdown: stop accepting (new upgrades get 503), send close 1001
   * to every connection after what is already queued for it, wait for close
   * replies up to `shutdownGrace`, end the rest. Resolves when every socket
   * is gone.
   */
  close(): Promise<void> {
    return (this.closing ??= this.shutdown());
  }

  private async shutdown(): Promise<void> {
    this.heartbeatSubscription?.unsubscribe();
    const serverClosed = this.ownsServer
      ? new Promise<void>((resolve) => this.netServer.close(() => resolve()))
      : Promise.resolve(this.detach());
    const grace = this.options.shutdownGrace ?? 5000;
    const pendingGone = Promise.all(
      [...this.pending].map((socket) => {
        setTimeout(destroySocket, grace, socket).unref();
        return new Promise<void>((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
      }),
    );
    await lastValueFrom(drainConnections(this.connections.values(), grace, this.scheduler), { defaultValue: undefined });
    await pendingGone;
    await serverClosed;
  }

  /** @internal */
  connectionClosed(conn: Connection<unknown>): void {
    this.connections.delete(conn.id);
    this.rooms.leaveAll(conn);
  }

  /** @internal */
  connectionError(conn: Connection<unknown>, err: unknown): void {
    this.report(err, conn as Connection<S>);
  }

  private report(error: unknown, connection: Connection<S> | undefined): void {
    if (this.errorSubject.observed) this.errorSubject.next({ error, connection });
    else if (!(error instanceof ProtocolError)) {
      // An application fault with nobody listening must not vanish silently.
      console.error(`rxws: error in application code${connection ? ` (connection ${connection.id})` : ''}:`, error);
    }
  }

  private route(head: RequestHead): HttpResponse {
    if (head.path === '/healthz' && (head.method === 'GET' || head.method === 'HEAD')) {
      return {
        status: 200,
        headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
        body: JSON.stringify({ status: 'ok', connections: this.connections.size, rooms: this.rooms.size }),
      };
    }
    try {
      return this.options.onRequest?.(head) ?? { status: 404, body: 'not found\n' };
    } catch (err) {
      this.report(err, undefined);
      return { status: 500, body: 'internal error\n' };
    }
  }

  private respond(socket: Socket, response: HttpResponse, headOnly: boolean): void {
    const full = httpResponse(response.status, response.body, response.headers);
    // HEAD: the same head (Content-Length included), no body.
    this.finishHttp(socket, headOnly ? full.subarray(0, full.indexOf('\r\n\r\n') + 4) : full);
  }

  private reject(socket: Socket, err: HttpError): void {
    this.finishHttp(socket, errorResponse(err));
  }

  /** Writes a final HTTP response and ends the socket, destroying it if the peer lingers. */
  private finishHttp(socket: Socket, response: Buffer): void {
    socket.resume(); // drain and drop whatever else the peer sends
    socket.end(response);
    setTimeout(destroySocket, 2000, socket).unref();
  }
}

function isHttpServer(server: net.Server | HttpServer): server is HttpServer {
  return typeof (server as HttpServer).setTimeout === 'function' && 'maxHeadersCount' in server;
}

function requestHeadOf(req: IncomingMessage): RequestHead {
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  return {
    method: req.method ?? 'GET',
    target,
    path: q < 0 ? target : target.slice(0, q),
    version: `HTTP/${req.httpVersion}`,
    headers,
  };
}
