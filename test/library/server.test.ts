import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { config, filter, firstValueFrom, map, take, toArray } from 'rxjs';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  type CloseEvent,
  Connection,
  type ConnectionError,
  echo,
  type MessageData,
  ProtocolError,
  rateLimit,
  relay,
  WebSocketServer,
} from '../../src/index.js';
import { clients, connect, servers, start } from '../support/library-server.js';
import { closePayload, type Frame, RawClient } from '../support/raw-client.js';

const TEXT = 1;
const BINARY = 2;
const CLOSE = 8;
const PING = 9;
const PONG = 10;

const httpServers: http.Server[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  for (const h of httpServers.splice(0)) {
    h.closeAllConnections();
    await new Promise((resolve) => h.close(resolve));
  }
});

const sendText = (client: RawClient, text: string) => client.send({ opcode: TEXT, payload: text });

async function nextText(client: RawClient): Promise<string> {
  const frame = await client.nextFrame();
  expect(frame.opcode).toBe(TEXT);
  return frame.payload.toString('utf8');
}

/**
 * Pings and returns every frame received before the pong: the server handles
 * a client's frames in order, so whatever it sent that client in reaction to
 * earlier frames is already here.
 */
async function framesUntilPong(client: RawClient): Promise<Frame[]> {
  const marker = `barrier-${Math.random()}`;
  await client.send({ opcode: PING, payload: marker });
  const before: Frame[] = [];
  for (;;) {
    const frame = await client.nextFrame();
    if (frame.opcode === PONG && frame.payload.toString() === marker) return before;
    before.push(frame);
  }
}

/** Answers the server's close frame (as a well-behaved client does) and returns its code and reason. */
async function answerClose(client: RawClient): Promise<{ code: number | null | undefined; reason: string; before: Frame[] }> {
  const outcome = await client.closeOutcome();
  if (outcome.code != null && !client.isClosed) await client.send({ opcode: CLOSE, payload: closePayload(outcome.code) });
  return outcome;
}

function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('WebSocketServer: connections and messages', () => {
  it('connections$ emits each Connection once, with a unique id, findable by server.connection(id)', async () => {
    const { server, port } = await start();
    const announced: Connection[] = [];
    server.connections$.subscribe((c) => announced.push(c));
    const a = await connect(server, port);
    const b = await connect(server, port);
    const c = await connect(server, port);
    expect(announced).toEqual([a.conn, b.conn, c.conn]);
    expect(a.conn).toBeInstanceOf(Connection);
    const ids = announced.map((x) => x.id);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(typeof id).toBe('string');
    expect(server.connection(b.conn.id)).toBe(b.conn);
    expect(server.connection('no-such-id')).toBeUndefined();
    expect(server.connectionCount).toBe(3);
    expect(a.conn.readyState).toBe('open');
    expect(a.conn.remoteAddress).toBe('127.0.0.1');
  });

  it('messages$ gives text messages as strings and binary ones as Buffers, reassembling fragments', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    const received = firstValueFrom(conn.messages$.pipe(take(3), toArray()));
    await sendText(client, 'héllo wörld');
    await client.send({ opcode: BINARY, payload: Buffer.from([0, 1, 2, 255]) });
    await client.send({ opcode: TEXT, payload: 'frag', fin: false });
    await client.send({ opcode: 0, payload: 'mented' });
    const [text, binary, fragmented] = await received;
    expect(text).toBe('héllo wörld');
    expect(Buffer.isBuffer(binary)).toBe(true);
    expect(binary).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(fragmented).toBe('fragmented');
  });

  it('pause() stops reading the socket until resume(): held messages then arrive, in order', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    const got: MessageData[] = [];
    conn.messages$.subscribe((m) => got.push(m));
    await sendText(client, 'one');
    expect(await framesUntilPong(client)).toEqual([]);
    expect(got).toEqual(['one']);
    conn.pause();
    await sendText(client, 'two');
    await sendText(client, 'three');
    await client.send({ opcode: PING, payload: 'held' });
    // A negative can only be shown over time: while paused, nothing is read, so neither
    // the messages nor the ping get through.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(got).toEqual(['one']);
    expect(client.frames).toEqual([]);
    conn.resume();
    const pong = await client.nextFrame();
    expect(pong.opcode).toBe(PONG);
    expect(pong.payload.toString()).toBe('held');
    expect(got).toEqual(['one', 'two', 'three']);
  });

  it('send writes strings as text frames and Buffers / Uint8Arrays as binary frames, unmasked', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    const big = Buffer.alloc(100_000, 7);
    expect(conn.send('hi ✓')).toBe(true);
    expect(conn.send(Buffer.from([1, 2, 3]))).toBe(true);
    expect(conn.send(new Uint8Array([9]))).toBe(true);
    expect(conn.send(big)).toBe(true);
    const frames = [await client.nextFrame(), await client.nextFrame(), await client.nextFrame(), await client.nextFrame()];
    expect(frames.map((f) => [f.opcode, f.fin, f.masked])).toEqual([
      [TEXT, true, false],
      [BINARY, true, false],
      [BINARY, true, false],
      [BINARY, true, false],
    ]);
    expect(frames[0]!.payload.toString()).toBe('hi ✓');
    expect(frames[1]!.payload).toEqual(Buffer.from([1, 2, 3]));
    expect(frames[2]!.payload).toEqual(Buffer.from([9]));
    expect(frames[3]!.payload.equals(big)).toBe(true);
  });

  it('bufferedAmount is a number that counts a queued send and returns to 0 once the peer has it', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    expect(typeof conn.bufferedAmount).toBe('number');
    expect(conn.bufferedAmount).toBe(0);
    conn.send(Buffer.alloc(200_000));
    expect(conn.bufferedAmount).toBeGreaterThanOrEqual(200_000); // queued, not yet written
    expect((await client.nextFrame()).payload.length).toBe(200_000);
    expect(conn.bufferedAmount).toBe(0);
  });
});

describe('WebSocketServer: closing', () => {
  it('closed$ emits {code, reason, wasClean} once for a peer close 1000 "bye", and replays it to late subscribers', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    const events = firstValueFrom(conn.closed$.pipe(toArray()));
    await client.send({ opcode: CLOSE, payload: closePayload(1000, 'bye') });
    const reply = await client.closeOutcome();
    expect(reply.code).toBe(1000);
    const expected: CloseEvent = { code: 1000, reason: 'bye', wasClean: true, sent: { code: 1000, reason: '' }, rooms: new Set() };
    expect(await events).toEqual([expected]);
    expect(conn.readyState).toBe('closed');
    expect(await firstValueFrom(conn.closed$.pipe(toArray()))).toEqual([expected]);
    expect(server.connectionCount).toBe(0);
    expect(server.connection(conn.id)).toBeUndefined();
  });

  it('closed$ reports 1006, not clean, when the peer destroys its socket', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    const events = firstValueFrom(conn.closed$.pipe(toArray()));
    client.destroy();
    expect(await events).toEqual([{ code: 1006, reason: '', wasClean: false, rooms: new Set() }]);
    expect(conn.readyState).toBe('closed');
  });

  it('messages$ completes when the connection closes', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    const all = firstValueFrom(conn.messages$.pipe(toArray()));
    await sendText(client, 'only');
    await client.send({ opcode: CLOSE, payload: closePayload(1000) });
    expect(await all).toEqual(['only']);
  });

  it('send after close returns false and never throws, on a closing or a closed connection', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    conn.close(4000, 'done');
    expect(conn.readyState).toBe('closing');
    expect(conn.send('late')).toBe(false);
    expect(conn.send(Buffer.from([1]))).toBe(false);
    const outcome = await answerClose(client);
    expect(outcome).toEqual({ code: 4000, reason: 'done', before: [] });
    await firstValueFrom(conn.closed$);
    expect(conn.readyState).toBe('closed');
    expect(() => {
      expect(conn.send('later')).toBe(false);
      expect(conn.send(new Uint8Array(70_000))).toBe(false);
      expect(conn.sendMessage(BINARY, Buffer.from([1]))).toBe(false);
      expect(conn.sendFrame(Buffer.from([0x81, 0]))).toBe(false);
      conn.ping();
      conn.close();
      conn.terminate();
    }).not.toThrow();
    expect(server.sendTo(conn.id, 'x')).toBe(false);
    expect(server.broadcast('x')).toBe(0);
  });

  it('server.close() sends 1001 after queued messages, waits for replies up to shutdownGrace, and resolves when every socket is gone', async () => {
    const { server, port } = await start({ shutdownGrace: 300, closeTimeout: 10_000 });
    const polite = await connect(server, port);
    const silent = await connect(server, port);
    const events = Promise.all([firstValueFrom(polite.conn.closed$), firstValueFrom(silent.conn.closed$)]);
    polite.conn.send('last words');

    const started = Date.now();
    const closing = server.close();
    expect(server.close()).toBe(closing);
    const politeOutcome = await answerClose(polite.client);
    await closing;
    const elapsed = Date.now() - started;

    expect(politeOutcome.code).toBe(1001);
    expect(politeOutcome.before.map((f) => f.payload.toString())).toEqual(['last words']);
    // Resolved only after both sockets closed, the silent one ended at the grace period.
    expect(polite.conn.readyState).toBe('closed');
    expect(silent.conn.readyState).toBe('closed');
    expect(server.connectionCount).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(5000);
    const [politeEvent, silentEvent] = await events;
    expect(politeEvent).toEqual({ code: 1001, reason: expect.any(String), wasClean: true, sent: { code: 1001, reason: 'server shutting down' }, rooms: new Set() });
    // RFC 6455 §7.1.5: no close frame received → 1006; what we sent is kept apart.
    expect(silentEvent).toEqual({ code: 1006, reason: '', wasClean: false, sent: { code: 1001, reason: 'server shutting down' }, rooms: new Set() });
    expect((await silent.client.closeOutcome()).code).toBe(1001);
    await silent.client.waitEnded();
    // No longer listening.
    await expect(
      new Promise((resolve, reject) => net.connect(port, '127.0.0.1').once('connect', resolve).once('error', reject)),
    ).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('WebSocketServer: state and hooks', () => {
  it('keeps typed per-connection state from initialState, mutated by onMessage', async () => {
    const { server, port } = await start<{ n: number; label: string }>({
      initialState: (conn) => ({ n: 0, label: `conn-${conn.id}` }),
      onMessage: (conn, data) => {
        expectTypeOf(conn.state).toEqualTypeOf<{ n: number; label: string }>();
        conn.state.n += typeof data === 'string' ? data.length : 100;
        conn.send(`${conn.state.label}:${conn.state.n}`);
      },
    });
    const a = await connect(server, port);
    const b = await connect(server, port);
    await sendText(a.client, 'abc');
    await sendText(a.client, 'de');
    await sendText(b.client, 'x');
    await a.client.send({ opcode: BINARY, payload: Buffer.from([1]) });
    expect(await nextText(a.client)).toBe(`conn-${a.conn.id}:3`);
    expect(await nextText(a.client)).toBe(`conn-${a.conn.id}:5`);
    expect(await nextText(a.client)).toBe(`conn-${a.conn.id}:105`);
    expect(await nextText(b.client)).toBe(`conn-${b.conn.id}:1`);
    expect(a.conn.state).toEqual({ n: 105, label: `conn-${a.conn.id}` });
    expect(b.conn.state.n).toBe(1);
  });

  it('calls onConnect, onMessage, onError (a peer protocol error) and onClose with the connection', async () => {
    const calls: unknown[][] = [];
    let closed!: () => void;
    const onCloseCalled = new Promise<void>((resolve) => (closed = resolve));
    const { server, port } = await start({
      onConnect: (conn) => calls.push(['connect', conn]),
      onMessage: (conn, data) => calls.push(['message', conn, data]),
      onError: (err, conn) => calls.push(['error', conn, err]),
      onClose: (conn, event) => {
        calls.push(['close', conn, event]);
        closed();
      },
    });
    const { client, conn } = await connect(server, port);
    await sendText(client, 'hello');
    await client.send({ opcode: TEXT, payload: 'unmasked', mask: false }); // RFC 6455 §5.1: fail with 1002
    expect((await client.closeOutcome()).code).toBe(1002);
    await onCloseCalled;
    expect(calls.map((c) => c[0])).toEqual(['connect', 'message', 'error', 'close']);
    for (const c of calls) expect(c[1]).toBe(conn);
    expect(calls[1]![2]).toBe('hello');
    expect(calls[2]![2]).toBeInstanceOf(ProtocolError);
    expect((calls[2]![2] as ProtocolError).closeCode).toBe(1002);
    // The raw client never answers our close: 1006 (RFC 6455 §7.1.5), our 1002 in `sent`.
    expect(calls[3]![2]).toMatchObject({ code: 1006, wasClean: false, sent: { code: 1002 } });
  });

  it('an exception in onMessage closes that connection with 1011, reports it to onError, and others carry on', async () => {
    const boom = new Error('handler bug');
    const errors: [unknown, Connection | undefined][] = [];
    const { server, port } = await start({
      onMessage: (conn, data) => {
        if (data === 'boom') throw boom;
        conn.send(`echo:${String(data)}`);
      },
      onError: (err, conn) => errors.push([err, conn]),
    });
    const bad = await connect(server, port);
    const good = await connect(server, port);
    await sendText(bad.client, 'boom');
    const outcome = await answerClose(bad.client);
    expect(outcome.code).toBe(1011);
    await firstValueFrom(bad.conn.closed$);
    expect(errors).toEqual([[boom, bad.conn]]);

    await sendText(good.client, 'still here');
    expect(await nextText(good.client)).toBe('echo:still here');
    expect(good.conn.readyState).toBe('open');
    expect(server.connectionCount).toBe(1);
  });

  it("an exception in a user's map() over conn.messages$ closes only that connection with 1011 (errors$ reports it)", async () => {
    const { server, port } = await start();
    const reported: ConnectionError<Record<string, unknown>>[] = [];
    server.errors$.subscribe((e) => reported.push(e));
    const boom = new Error('projection bug');
    server.connections$.subscribe((conn) => {
      conn.messages$
        .pipe(
          map((data) => {
            if (data === 'boom') throw boom;
            return `got ${String(data)}`;
          }),
        )
        .subscribe((reply) => conn.send(reply));
    });
    const bad = await connect(server, port);
    const good = await connect(server, port);
    await sendText(bad.client, 'boom');
    expect((await answerClose(bad.client)).code).toBe(1011);
    await sendText(good.client, 'x');
    expect(await nextText(good.client)).toBe('got x');
    expect(reported).toEqual([{ error: boom, connection: bad.conn }]);
    expect(good.conn.readyState).toBe('open');
  });

  it('an exception in an onConnect hook closes that connection with 1011', async () => {
    const errors: unknown[] = [];
    let first = true;
    const { server, port } = await start({
      onConnect: () => {
        if (first) {
          first = false;
          throw new Error('onConnect bug');
        }
      },
      onError: (err) => errors.push(err),
    });
    const bad = await connect(server, port);
    expect((await answerClose(bad.client)).code).toBe(1011);
    const good = await connect(server, port);
    expect(good.conn.readyState).toBe('open');
    expect(await framesUntilPong(good.client)).toEqual([]);
    expect(errors).toEqual([new Error('onConnect bug')]);
  });
  it("an exception thrown inside onError itself does not escape to RxJS's unhandled-error path (a process crash)", async () => {
    const unhandled: unknown[] = [];
    const saved = config.onUnhandledError;
    config.onUnhandledError = (err) => unhandled.push(err);
    try {
      const { server, port } = await start({
        onMessage: () => {
          throw new Error('handler bug');
        },
        onError: () => {
          throw new Error('bug in onError');
        },
      });
      const { client } = await connect(server, port);
      await sendText(client, 'x');
      expect((await answerClose(client)).code).toBe(1011);
      // RxJS reports on a 0 ms timer set during the fault, before the close
      // frame went out; a 0 ms timer set now fires after it.
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(unhandled).toEqual([]);
    } finally {
      config.onUnhandledError = saved;
    }
  });
});

describe('WebSocketServer: fan-out', () => {
  it('broadcast reaches every open connection (except one if named) and returns the count', async () => {
    const { server, port } = await start();
    const [a, b, c] = [await connect(server, port), await connect(server, port), await connect(server, port)];
    expect(server.broadcast('to all')).toBe(3);
    for (const x of [a, b, c]) expect(await nextText(x.client)).toBe('to all');
    expect(server.broadcast(Buffer.from([5, 6]), b.conn)).toBe(2);
    for (const x of [a, c]) {
      const frame = await x.client.nextFrame();
      expect([frame.opcode, [...frame.payload]]).toEqual([BINARY, [5, 6]]);
    }
    expect(await framesUntilPong(b.client)).toEqual([]);
  });

  it('sendTo(id) delivers to that connection only and returns true; false for an unknown id', async () => {
    const { server, port } = await start();
    const a = await connect(server, port);
    const b = await connect(server, port);
    expect(server.sendTo(b.conn.id, 'for b')).toBe(true);
    expect(server.sendTo('nobody', 'lost')).toBe(false);
    expect(await nextText(b.client)).toBe('for b');
    expect(await framesUntilPong(a.client)).toEqual([]);
  });

  it('composes with RxJS operators: filter + map over messages$ into rooms.publish', async () => {
    const { server, port } = await start();
    const roomLog: string[] = [];
    server.rooms.messages$('chat').subscribe((m) => roomLog.push(`${m.from?.id}:${String(m.data)}`));
    server.connections$.subscribe((conn) => {
      server.rooms.join(conn, 'chat');
      conn.messages$
        .pipe(
          filter((data): data is string => typeof data === 'string' && data.startsWith('say:')),
          map((data) => data.slice(4).toUpperCase()),
        )
        .subscribe((text) => server.rooms.publish('chat', text, { from: conn, except: conn }));
    });
    const a = await connect(server, port);
    const b = await connect(server, port);
    const c = await connect(server, port);
    expect(server.rooms.count('chat')).toBe(3);
    await sendText(a.client, 'say:hi');
    await sendText(a.client, 'not a command');
    await a.client.send({ opcode: BINARY, payload: Buffer.from('say:binary') });
    await sendText(a.client, 'say:yo');
    for (const x of [b, c]) {
      expect(await nextText(x.client)).toBe('HI');
      expect(await nextText(x.client)).toBe('YO');
    }
    expect(await framesUntilPong(a.client)).toEqual([]); // except: the sender got nothing
    expect(roomLog).toEqual([`${a.conn.id}:HI`, `${a.conn.id}:YO`]);
  });

  it('composes with rateLimit: excess messages are dropped', async () => {
    const { server, port } = await start();
    server.connections$.subscribe((conn) => {
      conn.messages$.pipe(rateLimit<MessageData>({ limit: 2, window: 60_000 })).subscribe((data) => conn.send(`ok ${String(data)}`));
    });
    const { client } = await connect(server, port);
    for (const n of [1, 2, 3, 4, 5]) await sendText(client, String(n));
    const replies = (await framesUntilPong(client)).map((f) => f.payload.toString());
    expect(replies).toEqual(['ok 1', 'ok 2']);
  });

  it("rateLimit with policy 'close' on conn.messages$ closes that connection with its ProtocolError's code, 1008", async () => {
    const { server, port } = await start();
    server.errors$.subscribe(() => {}); // reported, not logged
    server.connections$.subscribe((conn) => {
      conn.messages$.pipe(rateLimit<MessageData>({ limit: 1, window: 60_000, policy: 'close' })).subscribe(() => {});
    });
    const { client } = await connect(server, port);
    await sendText(client, 'one');
    await sendText(client, 'two');
    expect((await answerClose(client)).code).toBe(1008);
  });

  it('relay(server) gives the command behaviour: a welcome with the id, then JSON room commands', async () => {
    const { server, port } = await start();
    relay(server);
    const a = await connect(server, port);
    expect(JSON.parse(await nextText(a.client))).toEqual({ type: 'welcome', id: a.conn.id });
    await sendText(a.client, JSON.stringify({ type: 'join', room: 'r', ref: 1 }));
    expect(JSON.parse(await nextText(a.client))).toEqual({ type: 'joined', room: 'r', members: 1, ref: 1 });
    expect(server.rooms.count('r')).toBe(1);
    await sendText(a.client, JSON.stringify({ type: 'publish', room: 'r', data: [1, 'two'] }));
    expect(JSON.parse(await nextText(a.client))).toEqual({ type: 'message', room: 'r', from: a.conn.id, data: [1, 'two'] });
  });
});

describe('WebSocketServer: attached to an http.Server', () => {
  it("upgrades on the http server's 'upgrade' event while it still serves normal requests", async () => {
    const httpServer = http.createServer((req, res) => res.end(`plain ${req.url}`));
    httpServers.push(httpServer);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const port = (httpServer.address() as AddressInfo).port;
    const server = new WebSocketServer({ server: httpServer, heartbeatInterval: 0, shutdownGrace: 500 });
    servers.push(server as unknown as WebSocketServer<never>);
    echo(server);

    const opened = firstValueFrom(server.connections$);
    const client = await RawClient.connect(port, { path: '/ws?x=1' });
    clients.push(client);
    expect(client.status).toBe(101);
    const conn = await opened;
    expect(server.connectionCount).toBe(1);
    await sendText(client, 'through http.Server');
    expect(await nextText(client)).toBe('through http.Server');
    await client.send({ opcode: BINARY, payload: Buffer.from([1, 2]) });
    expect([...(await client.nextFrame()).payload]).toEqual([1, 2]);

    expect(await httpGet(port, '/page')).toEqual({ status: 200, body: 'plain /page' });

    // Closing the WebSocket server closes its connections but leaves the http server serving.
    const closing = server.close();
    expect((await answerClose(client)).code).toBe(1001);
    await closing;
    expect(conn.readyState).toBe('closed');
    expect(httpServer.listening).toBe(true);
    expect(await httpGet(port, '/after')).toEqual({ status: 200, body: 'plain /after' });
  });
});

describe('WebSocketServer: heartbeat', () => {
  it('pings a client that sends nothing, ends it when it never answers, and keeps a client that answers', async () => {
    const { server, port } = await start({ heartbeatInterval: 150 });
    const mute = await connect(server, port);
    const alive = await connect(server, port);
    const muteClosed = firstValueFrom(mute.conn.closed$);

    // The answering client pongs every ping it gets.
    let pings = 0;
    const answering = (async () => {
      while (pings < 3) {
        const frame = await alive.client.nextFrame(2000);
        expect(frame.opcode).toBe(PING);
        pings++;
        await alive.client.send({ opcode: PONG, payload: frame.payload });
      }
    })();

    const first = await mute.client.nextFrame(2000);
    expect(first.opcode).toBe(PING);
    await mute.client.waitEnded(2000); // no close frame needed: TCP ends
    expect(mute.client.frames.filter((f) => f.opcode !== PING)).toEqual([]);
    expect(await muteClosed).toMatchObject({ code: 1006, wasClean: false });

    // Pinged at 2, 4 and 6 periods; the mute one was ended at 3.
    await answering;
    expect(mute.client.isClosed).toBe(true);
    expect(alive.client.isClosed).toBe(false);
    expect(alive.conn.readyState).toBe('open');
    expect(server.connectionCount).toBe(1);
  });
});

describe('WebSocketServer: slow consumers', () => {
  it('closes a member that never reads (maxBufferedBytes), while a reading member gets every message in order', async () => {
    const { server, port } = await start({ maxBufferedBytes: 256 * 1024, closeTimeout: 500 });
    const reader = await connect(server, port);
    const stalled = await connect(server, port);
    stalled.client.socket.pause(); // stops reading: the kernel buffers fill, then the server's
    server.rooms.join(reader.conn, 'feed');
    server.rooms.join(stalled.conn, 'feed');
    let stalledClosed: CloseEvent | undefined;
    stalled.conn.closed$.subscribe((e) => (stalledClosed = e));

    const chunk = 64 * 1024;
    const message = (i: number) => {
      const b = Buffer.alloc(chunk, i & 0xff);
      b.writeUInt32BE(i, 0);
      return b;
    };
    const deliveries: number[] = [];
    let sent = 0;
    let extra = 0;
    // Up to 64 MiB; stop a few messages after the stalled member was cut off.
    while (sent < 1024 && extra < 8) {
      if (stalled.conn.readyState !== 'open') extra++;
      deliveries.push(server.rooms.publish('feed', message(sent)));
      const frame = await reader.client.nextFrame();
      expect(frame.payload.readUInt32BE(0)).toBe(sent);
      expect(frame.payload.equals(message(sent))).toBe(true);
      sent++;
    }
    expect(stalled.conn.readyState).not.toBe('open');
    expect(extra).toBe(8);
    // Queued for both until the budget ran out; then for the reader only.
    expect(deliveries[0]).toBe(2);
    expect(deliveries.at(-1)).toBe(1);

    stalled.client.socket.resume();
    const outcome = await stalled.client.closeOutcome(10_000);
    // Its close frame may be lost if the socket was ended while unread data remained.
    if (outcome.code !== null) expect([outcome.code, outcome.reason]).toEqual([1008, 'slow consumer']);
    // What it did get is an in-order prefix of the feed, cut off before the end.
    const got = outcome.before.map((f) => f.payload.readUInt32BE(0));
    expect(got).toEqual(got.map((_, i) => i));
    expect(got.length).toBeLessThan(sent);
    await stalled.client.waitEnded(10_000);
    await firstValueFrom(stalled.conn.closed$);
    expect(stalledClosed).toMatchObject({ code: 1006, wasClean: false, sent: { code: 1008, reason: 'slow consumer' } });
    expect(server.rooms.count('feed')).toBe(1);
    expect(reader.conn.readyState).toBe('open');
  });
});
