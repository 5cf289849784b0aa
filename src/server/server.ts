import type { IncomingMessage, Server as HttpServer } from 'node:http';
// Namespace imports: the declarations must also compile for CommonJS consumers without esModuleInterop.
import * as net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type { Registry } from 'prom-client';
import { asyncScheduler, lastValueFrom, type Observable, type SchedulerLike, Subject, type Subscription } from 'rxjs';
import { HttpError, ProtocolError } from '../protocol/errors.js';
import {
  errorResponse,
  httpResponse,
  isUpgradeRequest,
  RequestHeadParser,
  selectProtocol,
  upgradeResponse,
  validateHost,
  validateUpgrade,
  type RequestHead,
  type UpgradeRequest,
} from '../protocol/handshake.js';
import { type PerMessageDeflateOptions, resolveDeflateOptions } from '../protocol/extensions/permessage-deflate.js';
import { DeflateNegotiator } from './compression.js';
import { type CloseEvent, Connection, type ConnectionOptions, type MessageData } from './connection.js';
import { drainConnections } from '../streams/drainConnections.js';
import { beginAttribution, endAttribution } from './attribution.js';
import { GuardedObservable } from './guarded.js';
import { destroySocket } from './destroy-socket.js';
import { heartbeat } from '../streams/heartbeat.js';
import { ServerStats } from './stats.js';
import {
  AcceptedUpgrade,
  attachToHttpServer,
  ConnectionRequest,
  isIncomingMessage,
  matchesPath,
  type PathMatcher,
  requestHeadOf,
} from './upgrade.js';
import type { ClusterAdapter, ClusterOwner } from '../cluster/adapter.js';
import { localCluster } from '../cluster/local.js';
import type { HistoryOptions, HistoryStore, PositionedPublish, RoomHistory } from '../history/store.js';
import { memoryHistory } from '../history/memory.js';
import { RoomsOfServer, type ServerRooms } from './server-rooms.js';

/** A plain HTTP response for a non-upgrade request. */
export interface HttpResponse {
  readonly status: number;
  readonly body?: string | Buffer;
  readonly headers?: Record<string, string>;
}

/** The options of a WebSocketServer: its settings and hooks, and where each connection's state comes from. */
export type ServerOptions<S> = ServerSettings<S> & StateOptions<S>;

/** Everything but the state's source (StateOptions). */
export interface ServerSettings<S> {
  /** Port to listen on (0: any free port). Default 8080. Ignored with `server`. */
  readonly port?: number;
  /** Default '0.0.0.0'. */
  readonly host?: string;
  /**
   * Attach to an existing server instead of listening: a net.Server's or
   * tls.Server's connections, or an http.Server's or https.Server's upgrades
   * (plain requests stay the application's).
   */
  readonly server?: net.Server | HttpServer | tls.Server;
  /** Listen with TLS (wss://): `{ cert, key }` and any other `tls.createServer` option. Ignored with `server`. */
  readonly tls?: tls.TlsOptions;
  /**
   * Upgrades taken: one exact path, or a predicate over the path (without the
   * query). Others get 404, or, attached to an http.Server, are left to the
   * application's own `upgrade` listeners (404 if it has none). Default: every path.
   */
  readonly path?: PathMatcher;
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
  /** A socket that has not completed its upgrade request (and onUpgrade) by then is ended (ms, 0: no limit). Default 10 000. */
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
  readonly onConnect?: (conn: Connection<S>) => void;
  readonly onMessage?: (conn: Connection<S>, data: MessageData) => void;
  readonly onClose?: (conn: Connection<S>, event: CloseEvent) => void;
  /** Protocol errors of peers, and exceptions in application code (the connection is then closed with 1011). */
  readonly onError?: (err: unknown, conn: Connection<S> | undefined) => void;
  /** Extra fields of the built-in GET /healthz answer (e.g. which worker answered). */
  readonly healthFields?: () => Record<string, unknown>;
  /** Answers plain HTTP requests (GET /healthz is built in), maybe asynchronously; undefined → 404, an exception → 500. */
  readonly onRequest?: (request: RequestHead) => HttpResponse | undefined | PromiseLike<HttpResponse | undefined>;
  /**
   * Your prom-client Registry: the rxws_* series are registered in it (one
   * server per registry) and, when the server listens on its own, `GET
   * /metrics` answers with the registry's exposition. Without it prom-client
   * is never loaded.
   */
  readonly metrics?: Registry;
  /**
   * permessage-deflate (RFC 7692): off by default; `true` for the defaults
   * (threshold 1 KiB, no context takeover either way: no zlib state per
   * connection, one compression per fan-out), or options.
   */
  readonly perMessageDeflate?: boolean | PerMessageDeflateOptions;
  /** Scheduler for the heartbeat and shutdown timers (a TestScheduler in tests). */
  readonly scheduler?: SchedulerLike;
  /** What spans rooms, broadcast and send-by-id, e.g. `redisCluster({ url })`. Default: this process only. */
  readonly cluster?: (owner: ClusterOwner<S>) => ClusterAdapter<S>;
  /**
   * Room history and recovery: every room keeps its last `size` publishes for
   * `ttl` ms after its last publish, and each publish gets an offset and epoch.
   * Off by default (then a publish costs nothing more).
   */
  readonly history?: ServerHistoryOptions;
  /** Rooms one connection may be in at once (default 1000; 0: unlimited): a join past it is refused. */
  readonly maxRoomsPerConnection?: number;
}

export interface ServerHistoryOptions extends HistoryOptions {
  /** Where the history lives, e.g. a cluster's shared store. Default: this process's memory (`memoryHistory`). */
  readonly store?: (options: HistoryOptions) => HistoryStore;
  /** What members receive for a publish with its position. Default: the published data unchanged. */
  readonly frame?: (publish: PositionedPublish) => string | Uint8Array;
}

/**
 * Where each connection's state comes from: what `onUpgrade` gives, else
 * `initialState(conn)`, else `{}`. A hook that may give nothing (undefined)
 * therefore needs `initialState`, or a state type that `{}` is (optional
 * fields): the types refuse the rest, since `conn.state` would not be an S.
 */
export type StateOptions<S> =
  | {
      readonly onUpgrade?: UpgradeHook<S, undefined>;
      /** Initial application state of each connection (when `onUpgrade` gives none). */
      readonly initialState: (conn: Connection<S>) => S;
    }
  | ({
      readonly onUpgrade?: UpgradeHook<S, undefined>;
      readonly initialState?: undefined;
    } & DefaultStateCheck<S>);

/**
 * Runs before any WebSocket exists (no 101 yet). Return (or resolve) the
 * connection's state, or `new AcceptedUpgrade(state, headers)` to add
 * headers to the 101 (e.g. Set-Cookie); throw or return an HttpError to refuse with its status,
 * headers and message as the body. Any other exception gets 500 and is
 * reported on errors$. Its time counts against `handshakeTimeout`; a socket
 * that closes meanwhile is dropped. Upgrades awaiting it count against `maxConnections`.
 */
export type UpgradeHook<S, Default = undefined> = (request: ConnectionRequest) => UpgradeAnswer<S, Default> | PromiseLike<UpgradeAnswer<S, Default>>;

/** What onUpgrade gives: the state, the state with headers for the 101, a refusal, or (`Default`) nothing: the default state. */
export type UpgradeAnswer<S, Default = undefined> = S | AcceptedUpgrade<S> | HttpError | Default;

/**
 * Without initialState, a hook may answer undefined only if `{}` (the state
 * it then gets) is an S. NoInfer: S is inferred from the hook as typed above
 * (an undefined answer matched as such), and only checked here.
 */
type DefaultStateCheck<S> = {} extends S ? unknown : { readonly onUpgrade?: UpgradeHook<NoInfer<S>, never> };

export interface ConnectionError<S> {
  readonly error: unknown;
  readonly connection: Connection<S> | undefined;
}

const MIB = 1024 * 1024;
const NOT_FOUND: HttpResponse = { status: 404, body: 'not found\n' };
const INTERNAL_ERROR: HttpResponse = { status: 500, body: 'internal error\n' };

const publishedData = (publish: PositionedPublish): string | Uint8Array => publish.data;

function roomHistoryOf(options: ServerHistoryOptions | undefined): RoomHistory | undefined {
  if (options === undefined) return undefined;
  const sizing = { size: options.size, ttl: options.ttl };
  return { store: (options.store ?? memoryHistory)(sizing), frame: options.frame ?? publishedData };
}

function onPendingError(this: Socket): void {
  // A socket that breaks during its handshake is simply dropped ('close' cleans up).
}

/**
 * A WebSocket server on raw TCP. Connections arrive on `connections$`; each
 * one's messages on its `messages$`. Rooms, broadcast and send-by-id fan out
 * pre-encoded frames. The hooks in the options are subscribers of the same
 * streams.
 */
// No `implements ConnectionOwner, StatsSource`: their methods are internal (stripped from the
// published types); passing `this` to Connection and registerServerMetrics checks them all the same.
export class WebSocketServer<S = Record<string, unknown>> {
  /** Pub/sub rooms (spanning the cluster, with a `cluster` option). */
  readonly rooms: ServerRooms<S>;
  /** Every connection as it opens (after its 101 response). Completes when the server has closed. */
  readonly connections$: Observable<Connection<S>>;
  /** Protocol errors of peers and faults of application code. Completes when the server has closed. */
  readonly errors$: Observable<ConnectionError<S>>;

  private readonly openConnections = new Map<string, Connection<S>>();
  private readonly pending = new Set<Socket>();
  /** Upgrades awaiting onUpgrade: they hold a place under maxConnections. */
  private upgrading = 0;
  private readonly connectionSubject = new Subject<Connection<S>>();
  private readonly errorSubject = new Subject<ConnectionError<S>>();
  private readonly connectionOptions: ConnectionOptions;
  private readonly deflate: DeflateNegotiator | null;
  private readonly netServer: net.Server;
  private readonly ownsServer: boolean;
  private readonly scheduler: SchedulerLike;
  private heartbeatSubscription: Subscription | undefined;
  private readonly detach: () => void;
  private opening: Connection<S> | undefined;
  // One listener for every pending socket (no closure per socket that could keep its handshake state alive).
  private readonly onPendingClose: (this: Socket) => void;
  private closing: Promise<void> | undefined;
  /** @internal counters behind the metrics (kept whether or not they are exported: integer increments). */
  readonly stats = new ServerStats();
  private readonly metricsRegistered: Promise<void> | undefined;
  private readonly cluster: ClusterAdapter<S>;
  private readonly history: RoomHistory | undefined;

  constructor(private readonly options: ServerOptions<S> = {}) {
    const maxRoomsPerConnection = options.maxRoomsPerConnection ?? 1000;
    if (!Number.isSafeInteger(maxRoomsPerConnection) || maxRoomsPerConnection < 0) {
      throw new RangeError(`maxRoomsPerConnection must be an integer ≥ 0 (0: unlimited), got ${maxRoomsPerConnection}`);
    }
    this.scheduler = options.scheduler ?? asyncScheduler;
    const deflate = options.perMessageDeflate ?? false;
    this.deflate = deflate === false ? null : new DeflateNegotiator(resolveDeflateOptions(deflate));
    const connections = this.openConnections;
    this.history = roomHistoryOf(options.history);
    this.cluster = (options.cluster ?? localCluster)({
      connection: (id) => connections.get(id),
      connections: () => connections.values(),
      report: (err) => this.report(err, undefined),
      history: this.history,
    });
    this.rooms = new RoomsOfServer(this.cluster, this.history, maxRoomsPerConnection, options.history?.size ?? 0);
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
      stats: this.stats,
    };
    const registry = options.metrics;
    if (registry !== undefined) this.metricsRegistered = import('./metrics.js').then((m) => m.registerServerMetrics(registry, this));
    // An exception in a subscriber of connections$ belongs to the connection being announced.
    this.connections$ = new GuardedObservable<Connection<S>>(
      (subscriber) => this.connectionSubject.subscribe(subscriber),
      (err) => {
        if (this.opening !== undefined) this.opening.fault(err);
        else this.report(err, undefined);
      },
    );
    // A throwing subscriber of errors$ cannot be reported on errors$: the log is the last resort.
    this.errors$ = new GuardedObservable<ConnectionError<S>>(
      (subscriber) => this.errorSubject.subscribe(subscriber),
      (err) => console.error('rxws: a subscriber of errors$ threw:', err),
    );

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
    // The TLS handshake gets the same time limit as the HTTP one (Node's default is 120 s: a slowloris window).
    const tlsOptions = options.tls && { handshakeTimeout: options.handshakeTimeout ?? 10_000, ...options.tls };
    this.netServer = options.server ?? (tlsOptions !== undefined ? tls.createServer(tlsOptions) : net.createServer());
    // Node reports a failed or timed-out TLS handshake here and leaves the socket open unless someone ends it.
    if (tlsOptions !== undefined && this.ownsServer) this.netServer.on('tlsClientError', destroyTlsSocket);
    if (isHttpServer(this.netServer)) {
      this.detach = attachToHttpServer(this.netServer, {
        takes: (path) => matchesPath(options.path, path),
        handleUpgrade: (req, socket, head) => this.handleUpgrade(req, socket, head),
      });
    } else {
      // A tls.Server's 'connection' is the encrypted TCP socket; the decrypted one comes with 'secureConnection'.
      const event = this.netServer instanceof tls.Server ? 'secureConnection' : 'connection';
      const onConnection = (socket: Socket) => this.handleSocket(socket);
      this.netServer.on(event, onConnection);
      this.detach = () => this.netServer.off(event, onConnection);
    }

  }

  /** The heartbeat timer starts with listen() or the first upgrade: a server that never serves holds no timer. */
  private startHeartbeat(): void {
    const interval = this.options.heartbeatInterval ?? 30_000;
    if (interval <= 0 || this.heartbeatSubscription !== undefined || this.closing !== undefined) return;
    this.heartbeatSubscription = heartbeat(() => this.openConnections.values(), interval, this.scheduler).subscribe((action) =>
      action.kind === 'ping' ? action.target.ping() : action.target.terminate(),
    );
  }

  /**
   * Starts listening; resolves with the bound address. Attached to a server of
   * yours, it never binds a port: it resolves with that server's address if it
   * listens already, and rejects otherwise (call your server's own `listen()`).
   */
  async listen(): Promise<AddressInfo> {
    if (!this.ownsServer) {
      const address = this.netServer.address();
      return address !== null && typeof address === 'object'
        ? Promise.resolve(address)
        : Promise.reject(new Error('rxws: attached to a server of yours, which is not listening: call its listen(), not this one'));
    }
    this.startHeartbeat();
    await this.metricsRegistered;
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
    return this.openConnections.size;
  }

  /** The open connections, in the order they opened. */
  connections(): IterableIterator<Connection<S>> {
    return this.openConnections.values();
  }

  /** @internal */
  get roomCount(): number {
    return this.rooms.size;
  }

  /** @internal wire bytes of the open connections: [read, written]. */
  openConnectionBytes(): [number, number] {
    let read = 0;
    let written = 0;
    for (const conn of this.openConnections.values()) {
      read += conn.socket.bytesRead;
      written += conn.socket.bytesWritten;
    }
    return [read, written];
  }

  connection(id: string): Connection<S> | undefined {
    return this.openConnections.get(id);
  }

  /**
   * Sends to the connection with this id, on whichever node holds it; false if
   * there is none (or it is not open). A Promise when another node had to be
   * asked (only with a cluster): `await` it.
   */
  sendTo(id: string, data: string | Uint8Array): boolean | Promise<boolean> {
    return this.cluster.sendTo(id, data);
  }

  /** Sends to every open connection on every node (encoded once per node); returns how many on this node it was queued for. */
  broadcast(data: string | Uint8Array, except?: Connection<S>): number {
    return this.cluster.broadcast(data, except === undefined ? undefined : { except });
  }

  /** Reads the request head from a raw socket (what the server does for each accepted connection). */
  handleSocket(socket: Socket): void {
    this.trackPending(socket);
    // Slowloris: the whole request head (and onUpgrade) must be done within the handshake timeout.
    const timeout = this.options.handshakeTimeout ?? 10_000;
    const deadline = timeout > 0 ? Date.now() + timeout : Infinity;
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
      if (isUpgradeRequest(parsed.head)) this.upgrade(parsed.head, socket, parsed.rest, deadline);
      else this.answer(socket, parsed.head);
    };
    socket.on('data', onData);
  }

  /**
   * Completes an upgrade whose request head was read elsewhere: pass what an
   * http.Server's `upgrade` event gives (or a RequestHead). How several
   * servers share one http.Server, each taking its own paths. A socket that
   * is already destroyed is dropped.
   */
  handleUpgrade(req: IncomingMessage | RequestHead, socket: Duplex, head: Buffer): void {
    const tcp = socket as Socket;
    // Gone while the application did its own asynchronous work: no connection for it.
    if (tcp.destroyed || tcp.readableEnded) {
      tcp.destroy();
      return;
    }
    this.trackPending(tcp);
    let request: RequestHead;
    try {
      request = isIncomingMessage(req) ? requestHeadOf(req) : req;
    } catch (err) {
      this.reject(tcp, err instanceof HttpError ? err : new HttpError(400, 'bad request'));
      return;
    }
    const timeout = this.options.handshakeTimeout ?? 10_000;
    this.upgrade(request, tcp, head, timeout > 0 ? Date.now() + timeout : Infinity);
  }

  private trackPending(socket: Socket): void {
    if (this.pending.has(socket)) return;
    this.pending.add(socket);
    socket.on('error', onPendingError);
    socket.on('close', this.onPendingClose); // 'on', as in Connection: no once() wrapper per socket
  }

  /** Validates the upgrade, runs onUpgrade if any (it may be async), then opens the connection. */
  private upgrade(head: RequestHead, socket: Socket, rest: Buffer, deadline: number): void {
    let upgrade;
    try {
      validateHost(head);
      if (!matchesPath(this.options.path, head.path)) throw new HttpError(404, 'not found');
      upgrade = validateUpgrade(head);
      if (this.closing !== undefined) throw new HttpError(503, 'server shutting down');
      const max = this.options.maxConnections;
      if (max !== undefined && this.openConnections.size + this.upgrading >= max) throw new HttpError(503, 'too many connections');
      const origins = this.options.allowOrigins;
      if (origins !== undefined && origins.length > 0 && (upgrade.origin === undefined || !origins.includes(upgrade.origin))) {
        throw new HttpError(403, 'origin not allowed');
      }
    } catch (err) {
      this.reject(socket, err instanceof HttpError ? err : new HttpError(400, 'bad request'));
      return;
    }
    const request = ConnectionRequest.of(head, socket, upgrade);
    const hook = this.options.onUpgrade;
    if (hook === undefined) return this.open(socket, rest, upgrade, request, undefined);
    let result;
    try {
      result = hook(request);
    } catch (err) {
      return this.refuse(socket, err);
    }
    if (!isPromiseLike(result)) return this.decide(socket, rest, upgrade, request, result);
    // Awaiting the application: hold a place under maxConnections, keep the
    // peer's bytes in the socket, and drop the socket if it closes or the deadline passes.
    this.upgrading++;
    socket.pause();
    const timer = deadline < Infinity ? setTimeout(destroySocket, Math.max(0, deadline - Date.now()), socket).unref() : undefined;
    let waiting = true;
    const release = () => {
      if (!waiting) return false;
      waiting = false;
      this.upgrading--;
      clearTimeout(timer);
      socket.off('close', release);
      return !socket.destroyed;
    };
    socket.once('close', release);
    result.then(
      (value) => {
        if (release()) this.decide(socket, rest, upgrade, request, value);
      },
      (err: unknown) => {
        if (release()) this.refuse(socket, err);
      },
    );
  }

  /** onUpgrade's answer: an HttpError refuses; anything else is the state of a new connection (with headers for its 101). */
  private decide(socket: Socket, rest: Buffer, upgrade: UpgradeRequest, request: ConnectionRequest, value: UpgradeAnswer<S>): void {
    if (value instanceof HttpError) return this.reject(socket, value);
    if (this.closing !== undefined) return this.reject(socket, new HttpError(503, 'server shutting down'));
    socket.resume();
    if (value instanceof AcceptedUpgrade) this.open(socket, rest, upgrade, request, value.state, value.headers);
    else this.open(socket, rest, upgrade, request, value);
  }

  /** onUpgrade threw or rejected: an HttpError is its answer; anything else is a fault (500). */
  private refuse(socket: Socket, err: unknown): void {
    if (err instanceof HttpError) return this.reject(socket, err);
    this.report(err, undefined);
    this.reject(socket, new HttpError(500, 'internal error'));
  }

  private open(
    socket: Socket,
    rest: Buffer,
    upgrade: UpgradeRequest,
    request: ConnectionRequest,
    state: S | undefined,
    headers?: Readonly<Record<string, string>>,
  ): void {
    const protocol = selectProtocol(upgrade.protocols, this.options.protocols ?? []);
    const deflate = this.deflate?.sessionFor(upgrade.extensions) ?? null;
    let response;
    try {
      response = upgradeResponse(upgrade.key, protocol, deflate?.response, headers);
    } catch (err) {
      // The application's headers for the 101 are not valid HTTP: nothing has been written yet.
      return this.refuse(socket, err);
    }
    this.startHeartbeat();
    this.pending.delete(socket);
    socket.off('error', onPendingError);
    socket.off('close', this.onPendingClose);
    socket.setNoDelay(true);
    // An http.Server's sockets allow half-open: without this, a peer's FIN before its first frame would leave the connection open.
    socket.allowHalfOpen = false;
    const conn: Connection<S> = Connection.open<S>(socket, rest, this.connectionOptions, this, undefined as S, protocol, request);
    conn.deflateSession = deflate;
    // Queued, not written: the 101 and whatever onConnect sends (a welcome) leave in one write.
    conn.sendRaw(response);
    this.openConnections.set(conn.id, conn);
    this.cluster.connectionOpened(conn);
    this.opening = conn;
    const previousOwner = beginAttribution(conn);
    try {
      if (state !== undefined) conn.state = state;
      else if (this.options.initialState !== undefined) conn.state = this.options.initialState(conn);
      this.connectionSubject.next(conn);
    } catch (err) {
      conn.fault(err);
    } finally {
      this.opening = undefined;
      endAttribution(previousOwner);
    }
    conn.start();
  }

  /** A plain HTTP request: a response from route() (maybe async), never an exception out of here. */
  private answer(socket: Socket, head: RequestHead): void {
    let response;
    try {
      validateHost(head);
      response = this.route(head);
    } catch (err) {
      if (err instanceof HttpError) return this.reject(socket, err);
      this.report(err, undefined);
      return this.respond(socket, INTERNAL_ERROR, head);
    }
    if (!isPromiseLike(response)) return this.respond(socket, response ?? NOT_FOUND, head);
    response.then(
      (value) => this.respond(socket, value ?? NOT_FOUND, head),
      (err: unknown) => {
        this.report(err, undefined);
        this.respond(socket, INTERNAL_ERROR, head);
      },
    );
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
    await lastValueFrom(drainConnections(this.openConnections.values(), grace, this.scheduler), { defaultValue: undefined });
    await pendingGone;
    await serverClosed;
    await this.cluster.close();
    await this.history?.store.close();
    this.connectionSubject.complete();
    this.errorSubject.complete();
  }

  /** @internal */
  connectionRooms(conn: Connection<unknown>): ReadonlySet<string> {
    return this.cluster.roomsOf(conn as Connection<S>);
  }

  /** @internal */
  connectionClosed(conn: Connection<unknown>, event: CloseEvent): void {
    this.stats.connectionClosed(event.code, conn.socket.bytesRead, conn.socket.bytesWritten);
    this.openConnections.delete(conn.id);
    this.cluster.connectionClosed(conn as Connection<S>);
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

  private route(head: RequestHead): HttpResponse | undefined | PromiseLike<HttpResponse | undefined> {
    if (head.path === '/healthz' && (head.method === 'GET' || head.method === 'HEAD')) {
      return {
        status: 200,
        headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
        body: JSON.stringify({
          status: 'ok',
          connections: this.openConnections.size,
          rooms: this.rooms.size,
          cluster: this.cluster.health(),
          ...this.options.healthFields?.(),
        }),
      };
    }
    const registry = this.options.metrics;
    if (registry !== undefined && head.path === '/metrics' && (head.method === 'GET' || head.method === 'HEAD')) {
      return registry.metrics().then((body) => ({ status: 200, headers: { 'Content-Type': registry.contentType, 'Cache-Control': 'no-store' }, body }));
    }
    return this.options.onRequest?.(head);
  }

  private respond(socket: Socket, response: HttpResponse, head: RequestHead): void {
    if (socket.destroyed) return;
    let full;
    try {
      full = httpResponse(response.status, response.body, response.headers);
    } catch (err) {
      // E.g. a header value with CR/LF (or U+010A) built from the request: the application's bug, not the peer's.
      this.report(err, undefined);
      full = httpResponse(INTERNAL_ERROR.status, INTERNAL_ERROR.body);
    }
    // HEAD: the same head (Content-Length included), no body.
    this.finishHttp(socket, head.method === 'HEAD' ? full.subarray(0, full.indexOf('\r\n\r\n') + 4) : full);
  }

  private reject(socket: Socket, err: HttpError): void {
    if (socket.destroyed) return;
    let response;
    let status = err.status;
    try {
      response = errorResponse(err);
    } catch (fault) {
      // An HttpError from application code whose status or a header is not valid HTTP (built before any byte is written).
      this.report(fault, undefined);
      response = httpResponse(INTERNAL_ERROR.status, INTERNAL_ERROR.body);
      status = INTERNAL_ERROR.status;
    }
    this.stats.handshakeRejected(status);
    this.finishHttp(socket, response);
  }

  /** Writes a final HTTP response and ends the socket, destroying it if the peer lingers. */
  private finishHttp(socket: Socket, response: Buffer): void {
    socket.resume(); // drain and drop whatever else the peer sends
    socket.end(response);
    setTimeout(destroySocket, 2000, socket).unref();
  }
}

function destroyTlsSocket(_err: Error, socket: Socket): void {
  socket.destroy();
}

function isHttpServer(server: net.Server | HttpServer): server is HttpServer {
  return typeof (server as HttpServer).setTimeout === 'function' && 'maxHeadersCount' in server;
}

function isPromiseLike<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}
