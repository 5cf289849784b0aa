// The HTTP side of the server, end to end with real sockets: plain requests
// (onRequest, Host rules, absolute-form targets), the onUpgrade hook, paths,
// attaching to http/https/tls servers, and sockets that go away mid-upgrade.
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { firstValueFrom } from 'rxjs';
import { WebSocket } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { AcceptedUpgrade, type Connection, type ConnectionError, HttpError, type ServerOptions, WebSocketServer } from '../../src/index.js';
import { RawClient, upgradeRequest } from '../support/raw-client.js';
import { type SelfSigned, selfSigned, trusting } from '../support/tls.js';

const TEXT = 1;
const servers: WebSocketServer<never>[] = [];
const clients: RawClient[] = [];
const sockets: net.Socket[] = [];
const ownServers: net.Server[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const h of ownServers.splice(0)) {
    (h as http.Server).closeAllConnections?.();
    await new Promise((resolve) => h.close(resolve));
  }
});

function track<S>(server: WebSocketServer<S>): WebSocketServer<S> {
  servers.push(server as unknown as WebSocketServer<never>);
  return server;
}

async function start<S = Record<string, unknown>>(options: ServerOptions<S> = {}): Promise<{ server: WebSocketServer<S>; port: number }> {
  const server = track(new WebSocketServer<S>({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, closeTimeout: 500, shutdownGrace: 500, ...options }));
  const { port } = await server.listen();
  return { server, port };
}

async function listening<T extends net.Server>(server: T): Promise<{ server: T; port: number }> {
  ownServers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Sends raw request bytes and resolves with everything the server sent until it closed (or the head, for a 101). */
async function exchange(port: number, request: string): Promise<RawClient> {
  const client = await RawClient.connect(port, { request });
  clients.push(client);
  return client;
}

/** An open client that echoes through the server: proof that it is unaffected by another client's trouble. */
async function echoes(client: RawClient, text: string): Promise<boolean> {
  await client.send({ opcode: TEXT, payload: text });
  const frame = await client.nextFrame();
  return frame.payload.toString('utf8') === text;
}

function echo(conn: Connection<unknown>): void {
  conn.messages$.subscribe((data) => conn.send(data));
}

async function until(ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('plain HTTP requests', () => {
  it('a bad header value from onRequest gives 500 and an error on errors$; the process and other clients carry on', async () => {
    const { server, port } = await start({
      onRequest: (req) => ({ status: 302, headers: { Location: decodeURIComponent(req.path) } }),
      onConnect: echo,
    });
    const errors: ConnectionError<unknown>[] = [];
    server.errors$.subscribe((e) => errors.push(e));
    const other = await RawClient.connect(port);
    clients.push(other);
    const bad = await exchange(port, 'GET /go/%0d%0aSet-Cookie:%20x=1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(bad.status).toBe(500);
    expect(bad.response).not.toContain('Set-Cookie');
    await bad.waitEnded();
    expect(errors).toHaveLength(1);
    expect(String(errors[0]!.error)).toContain('Location');
    expect(await echoes(other, 'still here')).toBe(true);
    const good = await exchange(port, 'GET /go/home HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(good.status).toBe(302);
    expect(good.response).toContain('Location: /go/home');
  });

  it('a header value whose characters have CR and LF as low bytes (U+010D U+010A) gives 500, not a split response', async () => {
    const { server, port } = await start({
      onRequest: (req) => ({ status: 302, headers: { Location: decodeURIComponent(req.path) } }),
    });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    // %C4%8D%C4%8A decodes to U+010D U+010A, whose latin1 bytes are CR LF.
    const bad = await exchange(port, 'GET /go/%C4%8D%C4%8ASet-Cookie:%20x=1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(bad.status).toBe(500);
    expect(bad.response).not.toContain('Set-Cookie');
    expect(bad.response).not.toContain('Location');
    await bad.waitEnded();
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain('Location');
  });

  it('a status outside 100–599 from onRequest gives 500 and an error on errors$', async () => {
    const { server, port } = await start({ onRequest: () => ({ status: 2000, body: 'x' }) });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    const c = await exchange(port, 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(c.status).toBe(500);
    expect(errors).toHaveLength(1);
  });

  it('onRequest may be async; a rejection gives 500 and an error on errors$', async () => {
    const { server, port } = await start({
      onRequest: async (req) => {
        await new Promise((r) => setTimeout(r, 20));
        if (req.path === '/boom') throw new Error('async failure');
        return req.path === '/hello' ? { status: 200, body: `hello ${req.query}` } : undefined;
      },
    });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    const hello = await exchange(port, 'GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(hello.status).toBe(200);
    expect(hello.response.endsWith('hello x=1')).toBe(true);
    expect((await exchange(port, 'GET /nope HTTP/1.1\r\nHost: a\r\n\r\n')).status).toBe(404);
    expect((await exchange(port, 'GET /boom HTTP/1.1\r\nHost: a\r\n\r\n')).status).toBe(500);
    expect(errors).toEqual([new Error('async failure')]);
  });

  it.each([
    ['no Host on HTTP/1.1', 'GET /healthz HTTP/1.1\r\n\r\n'],
    ['two Host lines', 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['Host: a, b', 'GET /healthz HTTP/1.1\r\nHost: a, b\r\n\r\n'],
  ])('a request with %s gets 400', async (_, request) => {
    const { port } = await start();
    expect((await exchange(port, request)).status).toBe(400);
  });

  it.each([
    ['two Host lines', { Host: 'a\r\nHost: b' }],
    ['Host: a, b', { Host: 'a, b' }],
  ])('an upgrade with %s gets 400, not 101', async (_, headers) => {
    const { server, port } = await start();
    const c = await exchange(port, upgradeRequest(port, headers));
    expect(c.status).toBe(400);
    expect(server.connectionCount).toBe(0);
  });

  it('an upgrade with no Host gets 400', async () => {
    const { port } = await start();
    const request = upgradeRequest(port).replace(/Host: [^\r]*\r\n/, '');
    expect((await exchange(port, request)).status).toBe(400);
  });

  it('accepts an absolute-form target: GET http://a/healthz → 200', async () => {
    const { port } = await start();
    const c = await exchange(port, 'GET http://a/healthz HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(c.status).toBe(200);
    expect(c.response).toContain('"status":"ok"');
  });

  it('ignores empty lines before the request line', async () => {
    const { port } = await start();
    expect((await exchange(port, '\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n')).status).toBe(200);
  });
});

describe('connection request: path, query, target', () => {
  it('an upgrade to ws://example.com/chat?room=a: path /chat, query room=a, target as sent', async () => {
    const { server, port } = await start();
    const opened = firstValueFrom(server.connections$);
    const c = await exchange(port, upgradeRequest(port, { 'X-Forwarded-For': '10.0.0.1' }, 'ws://example.com/chat?room=a'));
    expect(c.status).toBe(101);
    const conn = await opened;
    expect(conn.path).toBe('/chat');
    expect(conn.request.path).toBe('/chat');
    expect(conn.request.target).toBe('ws://example.com/chat?room=a');
    expect(conn.request.query.get('room')).toBe('a');
    expect(conn.request.headers.get('x-forwarded-for')).toBe('10.0.0.1');
    expect(conn.request.remoteAddress).toBe('127.0.0.1');
    expect(conn.request.remotePort).toBe(c.socket.localPort);
  });
});

describe('onUpgrade', () => {
  const authorize = async (token: string | null) => {
    await new Promise((r) => setTimeout(r, 50)); // a token check that takes a while
    if (token !== 'secret') throw new HttpError(401, 'bad token', { 'WWW-Authenticate': 'Bearer realm="chat"' });
    return { user: 'ann' };
  };

  it('refuses with 401 and WWW-Authenticate before any 101; accepts with the state it returns', async () => {
    const { server, port } = await start<{ user: string }>({
      onUpgrade: (req) => authorize(req.query.get('token')),
    });
    const refused = await exchange(port, upgradeRequest(port, {}, '/?token=wrong'));
    expect(refused.status).toBe(401);
    expect(refused.response).toContain('WWW-Authenticate: Bearer realm="chat"');
    expect(refused.response).not.toContain('101');
    expect(refused.response.endsWith('bad token\n')).toBe(true);
    await refused.waitEnded();
    expect(refused.frames).toEqual([]);
    expect(server.connectionCount).toBe(0);

    const opened = firstValueFrom(server.connections$);
    const accepted = await exchange(port, upgradeRequest(port, {}, '/?token=secret'));
    expect(accepted.status).toBe(101);
    expect((await opened).state).toEqual({ user: 'ann' });
  });

  it("types the connection's state from what the hook returns", () => {
    const server = track(
      new WebSocketServer({
        heartbeatInterval: 0,
        onUpgrade: async (req) => (req.path === '/' ? { user: 'ann' } : new HttpError(404, 'no')),
      }),
    );
    server.connections$.subscribe((conn) => expectTypeOf(conn.state).toEqualTypeOf<{ user: string }>());
    expectTypeOf(server).toEqualTypeOf<WebSocketServer<{ user: string }>>();
  });

  it('accepts with headers for the 101 (Set-Cookie), sync or async, and the state beside them', async () => {
    const { server, port } = await start({
      onUpgrade: async (req) => {
        await new Promise((r) => setTimeout(r, 10));
        return new AcceptedUpgrade({ user: req.query.get('user') ?? '' }, { 'Set-Cookie': 'sid=abc; HttpOnly', 'X-Node': 'n1' });
      },
    });
    expectTypeOf(server).toEqualTypeOf<WebSocketServer<{ user: string }>>();
    const opened = firstValueFrom(server.connections$);
    const c = await exchange(port, upgradeRequest(port, {}, '/?user=ann'));
    expect(c.status).toBe(101);
    const lines = c.response.split('\r\n');
    expect(lines).toContain('Set-Cookie: sid=abc; HttpOnly');
    expect(lines).toContain('X-Node: n1');
    expect(lines).toContain('Upgrade: websocket');
    expect((await opened).state).toEqual({ user: 'ann' });
    const { port: syncPort } = await start({ onUpgrade: () => new AcceptedUpgrade({}, { 'Set-Cookie': 'a=1' }) });
    const d = await exchange(syncPort, upgradeRequest(syncPort));
    expect(d.status).toBe(101);
    expect(d.response.split('\r\n')).toContain('Set-Cookie: a=1');
  });

  it.each([
    ['a value with U+010D U+010A', { 'Set-Cookie': 'a=1\u010d\u010aX-Evil: 1' }],
    ['a value with CR LF', { 'Set-Cookie': 'a=1\r\nX-Evil: 1' }],
    ['an invalid name', { 'Set Cookie': 'a=1' }],
    ['a header of the handshake (Sec-WebSocket-Accept)', { 'Sec-WebSocket-Accept': 'forged' }],
    ['Content-Length, which a 101 must not carry', { 'Content-Length': '0' }],
  ])('headers for the 101 with %s: 500 before any 101, reported on errors$, no connection', async (_, headers) => {
    const { server, port } = await start({ onUpgrade: () => new AcceptedUpgrade({}, headers) });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    const c = await exchange(port, upgradeRequest(port));
    expect(c.status).toBe(500);
    expect(c.response).not.toContain('101');
    expect(c.response).not.toContain('X-Evil');
    await c.waitEnded();
    expect(c.frames).toEqual([]);
    expect(server.connectionCount).toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(TypeError);
  });

  it('a client that resets while the hook awaits is dropped: connectionCount stays 0, close() resolves', async () => {
    let calls = 0;
    let finish!: () => void;
    const hookDone = new Promise<void>((resolve) => (finish = resolve));
    const { server, port } = await start({
      onUpgrade: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 50));
        finish();
        return { ok: true };
      },
    });
    const opened: unknown[] = [];
    server.connections$.subscribe((c) => opened.push(c));
    const socket = net.connect(port, '127.0.0.1');
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    socket.write(upgradeRequest(port));
    await until(() => calls === 1, 'the hook to run');
    socket.resetAndDestroy();
    await hookDone;
    await new Promise((r) => setTimeout(r, 20)); // let the hook's result be handled
    expect(opened).toEqual([]);
    expect(server.connectionCount).toBe(0);
    await server.close();
  });

  it('upgrades awaiting the hook count against maxConnections', async () => {
    const release: (() => void)[] = [];
    const { server, port } = await start({
      maxConnections: 2,
      onUpgrade: () => new Promise<undefined>((resolve) => release.push(() => resolve(undefined))),
    });
    const first = net.connect(port, '127.0.0.1');
    const second = net.connect(port, '127.0.0.1');
    sockets.push(first, second);
    for (const s of [first, second]) s.on('error', () => {}); // reset when the server closes
    first.write(upgradeRequest(port));
    second.write(upgradeRequest(port));
    await until(() => release.length === 2, 'two upgrades in the hook');
    const third = await exchange(port, upgradeRequest(port));
    expect(third.status).toBe(503);
    for (const r of release) r();
    await until(() => server.connectionCount === 2, 'two connections');
  });

  it("the hook's time counts against the handshake timeout", async () => {
    const { server, port } = await start({ handshakeTimeout: 300, onUpgrade: () => new Promise<never>(() => {}) });
    const c = await RawClient.connect(port, { request: false });
    clients.push(c);
    await c.write(Buffer.from(upgradeRequest(port)));
    await c.waitEnded(3000);
    expect(c.response).toBe('');
    expect(server.connectionCount).toBe(0);
    await server.close();
  });

  it('a hook that throws something else gives 500 and reports it; returning an HttpError refuses too', async () => {
    const { server, port } = await start({
      onUpgrade: (req) => {
        if (req.path === '/teapot') return new HttpError(418, 'no');
        throw new Error('hook bug');
      },
    });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    expect((await exchange(port, upgradeRequest(port))).status).toBe(500);
    expect(errors).toEqual([new Error('hook bug')]);
    expect((await exchange(port, upgradeRequest(port, {}, '/teapot'))).status).toBe(418);
  });

  it('an HttpError with a CR/LF header value gives 500, not a split response', async () => {
    const { server, port } = await start({
      onUpgrade: () => new HttpError(401, 'no', { 'WWW-Authenticate': 'x\r\nSet-Cookie: y' }),
    });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    const c = await exchange(port, upgradeRequest(port));
    expect(c.status).toBe(500);
    expect(c.response).not.toContain('Set-Cookie');
    expect(errors).toHaveLength(1);
  });

  it('an HttpError echoing a request value with U+010D U+010A into WWW-Authenticate gives 500, nothing of it on the wire', async () => {
    const { server, port } = await start({
      onUpgrade: (req) => new HttpError(401, 'no', { 'WWW-Authenticate': `Bearer realm="${req.query.get('realm') ?? ''}"` }),
    });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    const c = await exchange(port, upgradeRequest(port, {}, '/?realm=%C4%8D%C4%8ASet-Cookie:%20sid=evil'));
    expect(c.status).toBe(500);
    expect(c.response).not.toContain('Set-Cookie');
    expect(c.response).not.toContain('WWW-Authenticate');
    expect(errors).toHaveLength(1);
    expect(String(errors[0])).toContain('WWW-Authenticate');
  });

  it('an HttpError with a status outside 100–599 gives 500 and is reported', async () => {
    const { server, port } = await start({ onUpgrade: () => new HttpError(42, 'odd') });
    const errors: unknown[] = [];
    server.errors$.subscribe((e) => errors.push(e.error));
    const c = await exchange(port, upgradeRequest(port));
    expect(c.status).toBe(500);
    expect(errors).toHaveLength(1);
  });

  it('bytes the client pipelines while the hook awaits are not lost', async () => {
    const { server, port } = await start({
      onUpgrade: () => new Promise<{ hooked: boolean }>((r) => setTimeout(() => r({ hooked: true }), 50)),
      onConnect: (conn) => {
        conn.send(JSON.stringify(conn.state));
        echo(conn);
      },
    });
    const c = await RawClient.connect(port, { request: false });
    clients.push(c);
    const { encodeClientFrame } = await import('../support/raw-client.js');
    await c.write(Buffer.concat([Buffer.from(upgradeRequest(port)), encodeClientFrame({ opcode: TEXT, payload: 'early' })]));
    setTimeout(() => void c.send({ opcode: TEXT, payload: 'during' }), 20);
    expect((await c.nextFrame()).payload.toString()).toBe('{"hooked":true}');
    expect((await c.nextFrame()).payload.toString()).toBe('early');
    expect((await c.nextFrame()).payload.toString()).toBe('during');
    expect(server.connectionCount).toBe(1);
  });
});

describe('paths and attachment', () => {
  it('standalone with a path: other upgrade paths get 404, plain routes still answer', async () => {
    const { port } = await start({ path: '/ws' });
    expect((await exchange(port, upgradeRequest(port, {}, '/ws?x=1'))).status).toBe(101);
    expect((await exchange(port, upgradeRequest(port, {}, '/other'))).status).toBe(404);
    expect((await exchange(port, 'GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n')).status).toBe(200);
  });

  it('two servers on two paths of one http.Server plus a REST route; unknown paths get 404', async () => {
    const { server: httpServer, port } = await listening(http.createServer((req, res) => res.end(`rest ${req.url}`)));
    const chat = track(new WebSocketServer({ server: httpServer, path: '/chat', heartbeatInterval: 0, onConnect: (c) => c.send('chat') }));
    const feed = track(new WebSocketServer({ server: httpServer, path: (p) => p.startsWith('/feed/'), heartbeatInterval: 0, onConnect: (c) => c.send('feed') }));
    const a = await exchange(port, upgradeRequest(port, {}, '/chat?room=1'));
    const b = await exchange(port, upgradeRequest(port, {}, '/feed/x'));
    expect([a.status, b.status]).toEqual([101, 101]);
    expect((await a.nextFrame()).payload.toString()).toBe('chat');
    expect((await b.nextFrame()).payload.toString()).toBe('feed');
    expect([chat.connectionCount, feed.connectionCount]).toEqual([1, 1]);
    expect(await (await fetch(`http://127.0.0.1:${port}/api/items`)).text()).toBe('rest /api/items');
    expect((await exchange(port, upgradeRequest(port, {}, '/elsewhere'))).status).toBe(404);
  });

  it("attached with a path, other upgrades are left to the application's own upgrade listener", async () => {
    const httpServer = http.createServer();
    httpServer.on('upgrade', (req, socket) => {
      if (req.url === '/mine') socket.end('HTTP/1.1 418 I am a teapot\r\nContent-Length: 0\r\n\r\n');
    });
    const { port } = await listening(httpServer);
    track(new WebSocketServer({ server: httpServer, path: '/ws', heartbeatInterval: 0 }));
    expect((await exchange(port, upgradeRequest(port, {}, '/mine'))).status).toBe(418);
    expect((await exchange(port, upgradeRequest(port, {}, '/ws'))).status).toBe(101);
  });

  it('attached to an http.Server (its sockets allow half-open), a peer that ends TCP before any frame is a closed connection', async () => {
    const { server: httpServer, port } = await listening(http.createServer());
    const server = track(new WebSocketServer({ server: httpServer, heartbeatInterval: 0 }));
    const c = await exchange(port, upgradeRequest(port));
    expect(server.connectionCount).toBe(1);
    c.socket.end();
    await until(() => server.connectionCount === 0, 'the connection to close');
  });

  it('attached to an http.Server, onUpgrade refuses with its own status and headers before any 101', async () => {
    const { server: httpServer, port } = await listening(http.createServer());
    const server = track(
      new WebSocketServer({
        server: httpServer,
        heartbeatInterval: 0,
        onUpgrade: async (req) => {
          await new Promise((r) => setTimeout(r, 50));
          if (req.headers.get('authorization') !== 'Bearer ok') throw new HttpError(401, 'who are you', { 'WWW-Authenticate': 'Bearer' });
          return { user: 'ok' };
        },
      }),
    );
    const refused = await exchange(port, upgradeRequest(port));
    expect(refused.status).toBe(401);
    expect(refused.response).toContain('WWW-Authenticate: Bearer');
    const opened = firstValueFrom(server.connections$);
    expect((await exchange(port, upgradeRequest(port, { Authorization: 'Bearer ok' }))).status).toBe(101);
    expect((await opened).state).toEqual({ user: 'ok' });
  });

  it('attached to an http.Server, a repeated Host gets 400 (Node keeps only the first)', async () => {
    const { server: httpServer, port } = await listening(http.createServer());
    track(new WebSocketServer({ server: httpServer, heartbeatInterval: 0 }));
    expect((await exchange(port, upgradeRequest(port, { Host: 'a\r\nHost: b' }))).status).toBe(400);
  });

  it('the noServer pattern: servers that never listen, fed by the application through handleUpgrade(req, socket, head)', async () => {
    const one = track(new WebSocketServer({ heartbeatInterval: 0, onConnect: (c) => c.send('one') }));
    const two = track(new WebSocketServer<{ user: string }>({ heartbeatInterval: 0, onUpgrade: () => ({ user: 'bo' }), onConnect: (c) => c.send(c.state.user) }));
    const httpServer = http.createServer();
    httpServer.on('upgrade', (req, socket, head) => {
      if (req.url === '/one') one.handleUpgrade(req, socket, head);
      else if (req.url === '/two') two.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    const { port } = await listening(httpServer);
    const a = await exchange(port, upgradeRequest(port, {}, '/one'));
    const b = await exchange(port, upgradeRequest(port, {}, '/two'));
    expect((await a.nextFrame()).payload.toString()).toBe('one');
    expect((await b.nextFrame()).payload.toString()).toBe('bo');
  });

  it('handleUpgrade on a socket destroyed while the application awaited is dropped at once; close() resolves', async () => {
    const server = track(new WebSocketServer({ heartbeatInterval: 0 }));
    let handed = 0;
    const httpServer = http.createServer();
    httpServer.on('upgrade', async (req, socket, head) => {
      socket.on('error', () => {}); // until handleUpgrade, the socket is the application's to guard
      await new Promise((r) => socket.once('close', r)); // e.g. a token check, during which the client leaves
      // A RequestHead made by the application (handleUpgrade also takes the IncomingMessage itself).
      const headers = new Map(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      server.handleUpgrade({ method: 'GET', target: req.url!, path: req.url!, query: '', version: 'HTTP/1.1', headers }, socket, head);
      handed++;
    });
    const { port } = await listening(httpServer);
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise((r) => socket.once('connect', r));
    socket.write(upgradeRequest(port));
    await new Promise((r) => setTimeout(r, 30));
    socket.resetAndDestroy();
    await until(() => handed === 1, 'handleUpgrade to be called');
    expect(server.connectionCount).toBe(0);
    await server.close();
  });

  it('listen() on an attached server never binds a port: it rejects before the server listens, and resolves with its address after', async () => {
    const httpServer = http.createServer();
    ownServers.push(httpServer);
    const server = track(new WebSocketServer({ server: httpServer, heartbeatInterval: 0 }));
    await expect(server.listen()).rejects.toThrow(/not listening/);
    expect(httpServer.listening).toBe(false);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    expect(await server.listen()).toEqual(httpServer.address());
  });
});

describe('TLS', () => {
  let cert: SelfSigned;
  beforeAll(() => {
    cert = selfSigned();
  });
  afterAll(() => cert?.remove());

  /** Opens a wss:// connection with undici's WebSocket trusting the test certificate; resolves with its first message. */
  const firstMessage = (url: string) =>
    new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url, { dispatcher: trusting(cert.cert) });
      ws.onmessage = (e) => {
        resolve(String(e.data));
        ws.close();
      };
      ws.onerror = () => reject(new Error(`wss connection to ${url} failed`));
    });

  it('standalone with the tls option', async () => {
    const { port } = await start({ tls: { cert: cert.cert, key: cert.key }, onConnect: (c) => c.send('over tls') });
    expect(await firstMessage(`wss://localhost:${port}/`)).toBe('over tls');
    const res = await fetch(`https://localhost:${port}/healthz`, { dispatcher: trusting(cert.cert) } as RequestInit);
    expect(res.status).toBe(200);
  });

  it('standalone with TLS, a client that never finishes the TLS handshake is ended within the handshake timeout', async () => {
    const { port } = await start({ tls: { cert: cert.cert, key: cert.key }, handshakeTimeout: 300 });
    const c = await RawClient.connect(port, { request: false }); // TCP only, no ClientHello
    clients.push(c);
    await c.waitEnded(3000);
  });

  it('attached to an https.Server, beside its own routes', async () => {
    const { server: httpsServer, port } = await listening(https.createServer({ cert: cert.cert, key: cert.key }, (_, res) => res.end('https rest')));
    track(new WebSocketServer({ server: httpsServer, path: '/ws', heartbeatInterval: 0, onConnect: (c) => c.send('via https.Server') }));
    expect(await firstMessage(`wss://localhost:${port}/ws`)).toBe('via https.Server');
    const res = await fetch(`https://localhost:${port}/x`, { dispatcher: trusting(cert.cert) } as RequestInit);
    expect(await res.text()).toBe('https rest');
  });

  it('attached to a tls.Server (it emits secureConnection, not connection)', async () => {
    const { port } = await listening(tls.createServer({ cert: cert.cert, key: cert.key }));
    const server = track(new WebSocketServer({ server: ownServers.at(-1)!, heartbeatInterval: 0, onConnect: (c) => c.send('via tls.Server') }));
    expect(await firstMessage(`wss://localhost:${port}/`)).toBe('via tls.Server');
    expect(server.connectionCount).toBeLessThanOrEqual(1);
  });
});
