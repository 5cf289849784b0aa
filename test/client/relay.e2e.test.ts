// The client against the real command (`dist/cli.js`), in Node with undici's WebSocket.
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Observable } from 'rxjs';
import { WebSocket } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, type ClientOptions, connect, type Gap, type RoomMessage, RxwsClientError } from '../../src/client/index.js';
import { eventually } from '../support/cluster.js';
import { encodeTextFrame } from '../../src/protocol/frame-encoder.js';
import { upgradeResponse } from '../../src/protocol/handshake.js';
import { freePort } from '../support/redis.js';
import { type RunningServer, startServer } from '../support/server.js';

const clients: Client[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const fast = { initialDelay: 20, maxDelay: 200, factor: 2, jitter: true } as const;
function client(url: string | (() => string), options: ClientOptions = {}): Client {
  const c = connect(url, { WebSocket: WebSocket as unknown as ClientOptions['WebSocket'], reconnect: fast, ...options });
  clients.push(c);
  return c;
}
async function server(args: string[] = []): Promise<RunningServer> {
  const s = await startServer(['--heartbeat-interval', '0', ...args]);
  servers.push(s);
  return s;
}
const opened = (c: Client) => eventually(() => c.status$.value === 'open', 5000, 'status open');

/** Subscribes to a room and keeps what it delivers; resolves once the room is joined. */
async function member(c: Client, room: string) {
  const got: RoomMessage[] = [];
  const counts: number[] = [];
  const stream = c.room(room);
  const subscription = stream.subscribe((m) => got.push(m));
  stream.members$.subscribe((n) => counts.push(n));
  await eventually(() => counts.length > 0, 5000, `joined ${room}`);
  return { got, counts, subscription, data: () => got.map((m) => m.data) };
}

describe('client ↔ rxws (relay mode)', () => {
  it('opens with the welcome id, and publishes to a room whose subscribers share one membership', async () => {
    const s = await server();
    const alice = client(s.url);
    const bob = client(() => s.url);
    const statuses: string[] = [];
    alice.status$.subscribe((st) => statuses.push(st));
    await opened(alice);
    await opened(bob);
    expect(statuses).toEqual(['connecting', 'open']);
    expect(alice.id).toMatch(/\S/);
    expect(alice.id).toBe(alice.id$.value);
    expect(alice.id).not.toBe(bob.id);

    const a1 = await member(alice, 'chat');
    const a2 = await member(alice, 'chat'); // a second subscriber: no second join
    const b = await member(bob, 'chat');
    expect(a1.counts).toEqual([1]);
    expect(b.counts).toEqual([2]);
    await alice.publish('chat', { n: 1 });
    await bob.publish('chat', 'two');
    await eventually(() => a1.got.length === 2 && a2.got.length === 2 && b.got.length === 2, 5000, 'both publishes everywhere');
    expect(a1.got).toEqual([
      { room: 'chat', from: alice.id, data: { n: 1 } },
      { room: 'chat', from: bob.id, data: 'two' },
    ]);
    expect(a2.got).toEqual(a1.got);
    expect(b.data()).toEqual([{ n: 1 }, 'two']);
    expect((await s.health()).rooms).toBe(1);

    // One subscriber leaving keeps the membership; the last one leaves the room.
    a1.subscription.unsubscribe();
    await bob.publish('chat', 3);
    await eventually(() => a2.got.length === 3, 5000, 'a2 still a member');
    a2.subscription.unsubscribe();
    b.subscription.unsubscribe();
    await eventually(async () => (await s.health()).rooms === 0, 5000, 'the room gone');
  });

  it('send resolves with the server\'s reply and reaches messages$; broadcast reaches everyone', async () => {
    const s = await server();
    const alice = client(s.url);
    const bob = client(s.url);
    await opened(alice);
    await opened(bob);
    const bobGot: unknown[] = [];
    const aliceGot: unknown[] = [];
    bob.messages$.subscribe((m) => bobGot.push(m));
    alice.messages$.subscribe((m) => aliceGot.push(m));
    await expect(alice.send(bob.id!, 'psst')).resolves.toEqual({ to: bob.id });
    await alice.broadcast('all');
    await eventually(() => bobGot.length === 2 && aliceGot.length === 1, 5000, 'send and broadcast');
    expect(bobGot).toEqual([
      { from: alice.id, data: 'psst' },
      { from: alice.id, data: 'all' },
    ]);
    expect(aliceGot).toEqual([{ from: alice.id, data: 'all' }]);
  });

  it('an error reply rejects with a typed error carrying the code; one that answers no Promise goes to errors$', async () => {
    const s = await server();
    const c = client(s.url);
    const errors: RxwsClientError[] = [];
    c.errors$.subscribe((e) => errors.push(e));
    await opened(c);
    const failed = await c.send('nobody', 1).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(RxwsClientError);
    expect(failed).toMatchObject({ code: 'unknown_connection' });
    // A publish has no reply but its error: it lands on errors$, with the publish's ref.
    await c.publish('', 'no room');
    await eventually(() => errors.length === 1, 5000, 'the bad_command');
    expect(errors[0]).toMatchObject({ name: 'RxwsClientError', code: 'bad_command' });
    expect(errors[0]!.ref).toEqual(expect.any(Number));
    expect(c.status$.value).toBe('open');
  });

  it('holds at most maxQueued commands while disconnected, rejects past it at once, and sends them in order on connect', async () => {
    const port = await freePort();
    const nowhere = `ws://127.0.0.1:${await freePort()}`;
    let ready = false;
    // The URL function keeps the client away until the watcher below has joined.
    const c = client(() => (ready ? `ws://127.0.0.1:${port}` : nowhere), { maxQueued: 3 });
    const queued = [c.publish('q', 1), c.broadcast(2), c.publish('q', 3)];
    const over = await c.publish('q', 4).catch((e: unknown) => e);
    expect(over).toMatchObject({ code: 'queue_full' });
    expect(c.status$.value).not.toBe('open');

    const s = await server(['--port', String(port)]);
    const watcher = client(s.url);
    await opened(watcher);
    const w = await member(watcher, 'q');
    const broadcasts: unknown[] = [];
    watcher.messages$.subscribe((m) => broadcasts.push(m));
    ready = true;
    // The queue goes out once the client reconnects (its backoff polls the URL function).
    await Promise.all(queued);
    await eventually(() => w.got.length === 2 && broadcasts.length === 1, 5000, 'the queued commands');
    expect(w.data()).toEqual([1, 3]);
    expect(broadcasts).toEqual([{ from: c.id, data: 2 }]);
  });

  it('closes a server that does not speak the relay protocol (1002, or 4002 where WHATWG allows no 1002) and tries again', async () => {
    const liar = await notRelayServer();
    try {
      const c = client(liar.url);
      const errors: RxwsClientError[] = [];
      const statuses: string[] = [];
      c.errors$.subscribe((e) => errors.push(e));
      c.status$.subscribe((st) => statuses.push(st));
      const waiting = c.publish('r', 1).catch((e: unknown) => e);
      await eventually(() => liar.closeCodes.length >= 2, 5000, 'a close, then a second attempt closed too');
      expect(liar.closeCodes[0]).toBe(4002);
      expect(errors[0]).toMatchObject({ code: 'protocol' });
      expect(statuses).toContain('reconnecting');
      c.close();
      expect(await waiting).toMatchObject({ code: 'closed' });
      expect(statuses.at(-1)).toBe('closed');
    } finally {
      await liar.close();
    }
  });

  it('reconnects when the server stops and starts again on the same port: rejoins, sends the queue, and (no history) reports the gap', async () => {
    const first = await server();
    const port = first.port;
    const subscriberClient = client(first.url);
    await opened(subscriberClient);
    const sub = await member(subscriberClient, 'r');
    const gaps: Gap[] = [];
    subscriberClient.gaps$.subscribe((g) => gaps.push(g));
    const ids = [subscriberClient.id];
    subscriberClient.id$.subscribe((id) => id && ids.push(id));

    expect(await first.stop('SIGTERM')).toBe(0);
    await eventually(() => subscriberClient.status$.value === 'reconnecting', 5000, 'reconnecting');
    const queued = subscriberClient.publish('r', 'while away');

    const again = await server(['--port', String(port)]);
    await opened(subscriberClient);
    await queued;
    await eventually(() => sub.got.length === 1, 5000, 'its own queued publish, through the rejoined room');
    expect(sub.data()).toEqual(['while away']);
    expect(new Set(ids).size).toBe(2); // a new connection, a new id
    // The server kept no history: the client cannot know what it missed, and says so.
    expect(gaps).toEqual([{ room: 'r', recovered: false }]);
    expect((await again.health()).rooms).toBe(1);
  });

  it('refreshes member counts when asked (membersEvery), since the protocol has no presence events', async () => {
    const s = await server();
    const alice = client(s.url, { membersEvery: 50 });
    await opened(alice);
    const a = await member(alice, 'm');
    const bob = client(s.url);
    await opened(bob);
    const b = await member(bob, 'm');
    await eventually(() => a.counts.at(-1) === 2, 5000, 'alice sees 2');
    b.subscription.unsubscribe();
    await eventually(() => a.counts.at(-1) === 1, 5000, 'alice sees 1');
  });

  it('close() completes every stream and rejects what waits', async () => {
    const port = await freePort();
    const c = client(`ws://127.0.0.1:${port}`);
    const done: string[] = [];
    const streams: Record<string, Observable<unknown>> = { status: c.status$, id: c.id$, messages: c.messages$, errors: c.errors$, gaps: c.gaps$, room: c.room('x') };
    for (const [name, s] of Object.entries(streams)) {
      s.subscribe({ complete: () => done.push(name) });
    }
    const waiting = c.publish('x', 1).catch((e: unknown) => e);
    c.close();
    expect(done.sort()).toEqual(['errors', 'gaps', 'id', 'messages', 'room', 'status']);
    expect(await waiting).toMatchObject({ code: 'closed' });
    await expect(c.broadcast(1)).rejects.toMatchObject({ code: 'closed' });
    expect(c.status$.value).toBe('closed');
  });
});

/** A WebSocket server that answers every upgrade with a text that is not JSON, and records the client's close codes. */
async function notRelayServer() {
  const closeCodes: number[] = [];
  const sockets = new Set<Socket>();
  const http = createServer((_req, res) => res.writeHead(404).end());
  http.on('upgrade', (req, socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.write(upgradeResponse(String(req.headers['sec-websocket-key'])));
    socket.write(encodeTextFrame('hello, I am not rxws'));
    socket.on('data', (d: Buffer) => {
      // A masked close frame: 0x88, 0x80|length, 4 mask bytes, then the code.
      if (d[0] === 0x88 && d.length >= 8) closeCodes.push(((d[6]! ^ d[2]!) << 8) | (d[7]! ^ d[3]!));
      socket.end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    closeCodes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        http.close(() => resolve());
      }),
  };
}
