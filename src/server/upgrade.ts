import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { HttpError } from '../protocol/errors.js';
import { errorResponse, headersOfText, splitTarget, type RequestHead, type UpgradeRequest } from '../protocol/handshake.js';

/**
 * The HTTP request that opened a connection, as the `onUpgrade` hook sees it
 * and as `conn.request` keeps it for the connection's life.
 */
export class ConnectionRequest {
  readonly method: string;
  /** The request target as sent, query included: `/chat?room=a` (or `ws://host/chat?room=a`). */
  readonly target: string;
  /** The path without the query: `/chat`. */
  readonly path: string;
  /** Subprotocols the client offered, in its order. */
  readonly protocols: readonly string[];
  /** The Sec-WebSocket-Extensions offers, as sent ('' if none). */
  readonly extensions: string;
  readonly origin: string | undefined;
  private readonly rawQuery: string;
  private parsedQuery: URLSearchParams | undefined;
  // A connection keeps the head's text (one string), not its header Map (~0.8 KiB per idle connection): rebuilt on first use.
  private readonly headText: string | undefined;
  private headerMap: ReadonlyMap<string, string> | undefined;
  // Read at the upgrade, not on first use: a closed socket no longer knows its peer, and onClose handlers log it.
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;

  /** @internal */
  static of(head: RequestHead, socket: Socket | undefined, upgrade: Pick<UpgradeRequest, 'protocols' | 'extensions' | 'origin'>): ConnectionRequest {
    return new ConnectionRequest(head, socket, upgrade);
  }

  // Private: only the server makes these (ConnectionRequest.of), so the published types offer no constructor.
  private constructor(head: RequestHead, socket: Socket | undefined, upgrade: Pick<UpgradeRequest, 'protocols' | 'extensions' | 'origin'>) {
    this.method = head.method;
    this.target = head.target;
    this.path = head.path;
    this.rawQuery = head.query ?? '';
    this.headText = head.text;
    if (head.text === undefined) this.headerMap = head.headers;
    this.remoteAddress = socket?.remoteAddress;
    this.remotePort = socket?.remotePort;
    this.protocols = upgrade.protocols;
    this.extensions = upgrade.extensions;
    this.origin = upgrade.origin;
  }

  /** Lower-case names; repeated headers joined with ', '. */
  get headers(): ReadonlyMap<string, string> {
    return (this.headerMap ??= headersOfText(this.headText!));
  }

  /** The query, parsed on first use. */
  get query(): URLSearchParams {
    return (this.parsedQuery ??= new URLSearchParams(this.rawQuery));
  }
}

/**
 * What `onUpgrade` returns to accept with response headers for the 101 (e.g.
 * `Set-Cookie`) besides the connection's state. The headers are checked like
 * an HttpError's: one that is not valid HTTP, or one the handshake writes
 * itself (Upgrade, Connection, Sec-WebSocket-*, Content-Length,
 * Transfer-Encoding), refuses the upgrade with 500, reported on `errors$`.
 */
export class AcceptedUpgrade<S> {
  constructor(
    readonly state: S,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {}
}

/** Which upgrade paths a server takes: one exact path, or a predicate over the path (without the query). */
export type PathMatcher = string | ((path: string) => boolean);

export function matchesPath(matcher: PathMatcher | undefined, path: string): boolean {
  if (matcher === undefined) return true;
  return typeof matcher === 'string' ? matcher === path : matcher(path);
}

/**
 * The request head of an IncomingMessage (what an http.Server's `upgrade`
 * event gives), in the form the server's own parser produces. Built from
 * `rawHeaders`, so a repeated Host stays visible (Node keeps only the first).
 * Throws HttpError 400 for a target that is not origin-, absolute- or asterisk-form.
 */
export function requestHeadOf(req: IncomingMessage): RequestHead {
  const headers = new Map<string, string>();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const had = headers.get(name);
    headers.set(name, had === undefined ? raw[i + 1]! : `${had}, ${raw[i + 1]!}`);
  }
  const target = req.url ?? '/';
  return { method: req.method ?? 'GET', target, ...splitTarget(target), version: `HTTP/${req.httpVersion}`, headers };
}

export function isIncomingMessage(req: IncomingMessage | RequestHead): req is IncomingMessage {
  return Array.isArray((req as IncomingMessage).rawHeaders);
}

/** What one attached WebSocketServer offers the router of its http.Server. */
export interface UpgradeTarget {
  takes(path: string): boolean;
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/**
 * One `upgrade` listener per http.Server, shared by every WebSocketServer
 * attached to it: each upgrade goes to the first server whose `path` takes
 * it, so two servers never both answer one socket. An upgrade that no server
 * takes is left to the application's own `upgrade` listeners, or gets 404 if
 * there are none (it would hang otherwise).
 */
class UpgradeRouter {
  readonly targets: UpgradeTarget[] = [];
  readonly listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => this.route(req, socket, head);

  constructor(private readonly server: HttpServer) {}

  private route(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    let path: string;
    try {
      path = splitTarget(req.url ?? '/').path;
    } catch {
      path = '';
    }
    const target = this.targets.find((t) => t.takes(path));
    if (target !== undefined) target.handleUpgrade(req, socket, head);
    else if (this.server.listenerCount('upgrade') === 1) {
      socket.on('error', ignoreError);
      socket.end(errorResponse(new HttpError(404, 'not found')));
    }
  }
}

function ignoreError(): void {
  // The peer went away before reading its 404: nothing to do.
}

const routers = new WeakMap<HttpServer, UpgradeRouter>();

/** Routes the http.Server's upgrades to `target` (among the others attached); returns the detach function. */
export function attachToHttpServer(server: HttpServer, target: UpgradeTarget): () => void {
  let router = routers.get(server);
  if (router === undefined) {
    router = new UpgradeRouter(server);
    routers.set(server, router);
    server.on('upgrade', router.listener);
  }
  router.targets.push(target);
  return () => {
    const i = router.targets.indexOf(target);
    if (i >= 0) router.targets.splice(i, 1);
    if (router.targets.length === 0) {
      server.off('upgrade', router.listener);
      routers.delete(server);
    }
  };
}
