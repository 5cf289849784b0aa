// Relay mode of the `rxws` command, driven over the wire exactly as
// /work/shared/PROTOCOL.md describes it. Most clients are undici's WebSocket
// (an implementation independent of the server's); RawClient is used where
// byte-level control matters.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeClientFrame, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';
import { closeAll, json, pollUntil, relayClient, tryUpgrade, WsClient } from '../support/ws-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let roomCounter = 0;
/** A room name no other test uses. */
const freshRoom = (label = 'room') => `${label}-${++roomCounter}-${Math.random().toString(36).slice(2, 8)}`;

/** Clients opened by the current test; closed after it. */
const clients: (WsClient | RawClient)[] = [];
async function client(server: RunningServer, headers?: Record<string, string>): Promise<WsClient> {
  const c = await relayClient(server.url, headers);
  clients.push(c);
  return c;
}
async function raw(server: RunningServer, headers?: Record<string, string>): Promise<RawClient> {
  const c = await RawClient.connect(server.port, { headers });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await closeAll(clients.splice(0));
});

/** Joins `room` and returns the `joined` reply. */
async function join(c: WsClient, room: string) {
  const { reply, before } = await c.request({ type: 'join', room });
  expect(before).toEqual([]);
  return reply;
}

describe('relay mode: commands between clients', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await closeAll(clients.splice(0));
    expect(await server.stop()).toBe(0);
  });

  it('welcomes every connection with a unique string id', async () => {
    const opened = await Promise.all([1, 2, 3, 4].map(() => WsClient.open(server.url)));
    clients.push(...opened);
    const welcomes = await Promise.all(opened.map((c) => c.next()));
    for (const w of welcomes) {
      expect(w).toMatchObject({ type: 'welcome' });
      expect(typeof w.id).toBe('string');
    }
    expect(new Set(welcomes.map((w) => w.id)).size).toBe(4);
  });

  it('join and leave reply with the member count after the change, and are idempotent', async () => {
    const a = await client(server);
    const b = await client(server);
    const room = freshRoom();
    expect(await join(a, room)).toMatchObject({ type: 'joined', room, members: 1 });
    expect(await join(b, room)).toMatchObject({ type: 'joined', room, members: 2 });
    // Joining again changes nothing.
    expect(await join(a, room)).toMatchObject({ type: 'joined', room, members: 2 });
    expect((await b.request({ type: 'leave', room })).reply).toMatchObject({ type: 'left', room, members: 1 });
    // Leaving again (or a room never joined) changes nothing.
    expect((await b.request({ type: 'leave', room })).reply).toMatchObject({ type: 'left', room, members: 1 });
    expect((await b.request({ type: 'leave', room: freshRoom() })).reply).toMatchObject({ type: 'left', members: 0 });
    expect((await a.request({ type: 'leave', room })).reply).toMatchObject({ type: 'left', room, members: 0 });
    expect(await join(b, room)).toMatchObject({ type: 'joined', room, members: 1 });
  });

  it('publish reaches every member, the sender included, and no non-member', async () => {
    const [a, b, outsider] = [await client(server), await client(server), await client(server)];
    const room = freshRoom();
    await join(a, room);
    await join(b, room);
    const data = { n: 1, text: 'hello' };
    a.send({ type: 'publish', room, data });
    const expected = { type: 'message', room, from: a.id, data };
    expect(await a.next()).toMatchObject(expected);
    expect(await b.next()).toMatchObject(expected);
    // The publish has been handled (members got it): anything for the outsider would precede this barrier's reply.
    expect(await outsider.sync()).toEqual([]);
    // And nothing else arrived for the members (exactly once).
    expect(await a.sync()).toEqual([]);
    expect(await b.sync()).toEqual([]);
  });

  it('a non-member can publish; members receive it, the publisher does not', async () => {
    const [a, b, outsider] = [await client(server), await client(server), await client(server)];
    const room = freshRoom();
    await join(a, room);
    await join(b, room);
    outsider.send({ type: 'publish', room, data: ['from', 'outside'] });
    const expected = { type: 'message', room, from: outsider.id, data: ['from', 'outside'] };
    expect(await a.next()).toMatchObject(expected);
    expect(await b.next()).toMatchObject(expected);
    expect(await outsider.sync()).toEqual([]);
  });

  it('publish to a room with no members is accepted silently', async () => {
    const a = await client(server);
    a.send({ type: 'publish', room: freshRoom('empty'), data: 1 });
    expect(await a.sync()).toEqual([]);
  });

  it('broadcast reaches every open connection, the sender included, in rooms or not', async () => {
    const [a, b, c] = [await client(server), await client(server), await client(server)];
    await join(b, freshRoom());
    a.send({ type: 'broadcast', data: { hello: 'all' } });
    const expected = { type: 'message', from: a.id, data: { hello: 'all' } };
    for (const x of [a, b, c]) {
      expect(await x.next()).toMatchObject(expected);
      expect(await x.sync()).toEqual([]);
    }
  });

  it('send delivers to the target only and replies sent to the sender', async () => {
    const [a, b, c] = [await client(server), await client(server), await client(server)];
    a.send({ type: 'send', to: b.id, data: 'psst' });
    expect(await a.next()).toMatchObject({ type: 'sent', to: b.id });
    expect(await b.next()).toMatchObject({ type: 'message', from: a.id, data: 'psst' });
    expect(await c.sync()).toEqual([]);
    expect(await b.sync()).toEqual([]);
    expect(await a.sync()).toEqual([]);
  });

  it('echoes ref (string or number) on joined, left, sent and error', async () => {
    const [a, b] = [await client(server), await client(server)];
    const room = freshRoom();
    for (const ref of ['abc', 42, 0, -3.25, '', 'ünï 😀']) {
      a.send({ type: 'join', room, ref });
      expect(await a.next()).toEqual(expect.objectContaining({ type: 'joined', room, members: 1, ref }));
      a.send({ type: 'leave', room, ref });
      expect(await a.next()).toEqual(expect.objectContaining({ type: 'left', room, members: 0, ref }));
      a.send({ type: 'send', to: b.id, data: 1, ref });
      expect(await a.next()).toEqual(expect.objectContaining({ type: 'sent', to: b.id, ref }));
      expect(await b.next()).toMatchObject({ type: 'message', from: a.id, data: 1 });
      a.send({ type: 'bogus', ref });
      expect(await a.next()).toEqual(expect.objectContaining({ type: 'error', code: 'bad_command', ref }));
      a.send({ type: 'send', to: 'no such connection', data: 1, ref });
      expect(await a.next()).toEqual(expect.objectContaining({ type: 'error', code: 'unknown_connection', ref }));
    }
  });

  const values: [string, unknown][] = [
    ['an object', { a: 1, b: { c: [true, false, null] } }],
    ['an empty object', {}],
    ['an array', [1, 'two', { three: 3 }, [], null]],
    ['a string', 'just text'],
    ['an empty string', ''],
    ['an integer', 42],
    ['a negative fraction', -12.5e-7],
    ['zero', 0],
    ['true', true],
    ['false', false],
    ['null', null],
    ['nested unicode', { 'ключ': ['😀', 'é', { 深い: 'line\u2028sep\u2029', music: '𝄞' }], 'emoji🎉': '\u0000\u001f"\\/' }],
    ['a lone surrogate (escaped)', '\ud800x\udfff'],
  ];

  it.each(values)('relays %s unchanged by publish, broadcast and send', async (_label, data) => {
    const [a, b] = [await client(server), await client(server)];
    const room = freshRoom();
    await join(b, room);
    a.send({ type: 'publish', room, data });
    const published = await b.next();
    expect(published).toMatchObject({ type: 'message', room, from: a.id });
    expect(published.data).toStrictEqual(data);

    a.send({ type: 'broadcast', data });
    for (const x of [a, b]) {
      const m = await x.next();
      expect(m).toMatchObject({ type: 'message', from: a.id });
      expect(m.data).toStrictEqual(data);
    }

    a.send({ type: 'send', to: b.id, data });
    expect(await a.next()).toMatchObject({ type: 'sent', to: b.id });
    const sent = await b.next();
    expect(sent).toMatchObject({ type: 'message', from: a.id });
    expect(sent.data).toStrictEqual(data);
  });

  it('accepts a room name of exactly 256 characters', async () => {
    const [a, b] = [await client(server), await client(server)];
    const room = `${'r'.repeat(250)}-${String(++roomCounter).padStart(5, '0')}`;
    expect(room).toHaveLength(256);
    expect(await join(a, room)).toMatchObject({ type: 'joined', room, members: 1 });
    b.send({ type: 'publish', room, data: 'long' });
    expect(await a.next()).toMatchObject({ type: 'message', room, from: b.id, data: 'long' });
  });

  describe('errors are replies; the connection stays open and keeps working', () => {
    const longRoom = 'x'.repeat(257);
    // [label, expected code, text sent]
    // A function gets the sending client (to address itself where a valid id is needed).
    const cases: [string, string, string | ((self: WsClient) => string)][] = [
      ['text that is not JSON', 'bad_json', 'not json at all'],
      ['truncated JSON', 'bad_json', '{"type":"join"'],
      ['an empty text message', 'bad_json', ''],
      ['a JSON array', 'bad_json', '[{"type":"join","room":"r"}]'],
      ['a JSON string', 'bad_json', '"join"'],
      ['a JSON number', 'bad_json', '42'],
      ['JSON null', 'bad_json', 'null'],
      ['an unknown type', 'bad_command', '{"type":"dance","ref":"e1"}'],
      ['a missing type', 'bad_command', '{"room":"r","ref":"e2"}'],
      ['a non-string type', 'bad_command', '{"type":7,"room":"r","ref":"e3"}'],
      ['join without room', 'bad_command', '{"type":"join","ref":"e4"}'],
      ['join with an empty room', 'bad_command', '{"type":"join","room":"","ref":"e5"}'],
      ['join with a 257-character room', 'bad_command', () => JSON.stringify({ type: 'join', room: longRoom, ref: 'e6' })],
      ['join with a numeric room', 'bad_command', '{"type":"join","room":5,"ref":"e7"}'],
      ['join with a null room', 'bad_command', '{"type":"join","room":null,"ref":"e8"}'],
      ['join with an array room', 'bad_command', '{"type":"join","room":["r"],"ref":"e9"}'],
      ['leave without room', 'bad_command', '{"type":"leave","ref":"e10"}'],
      ['leave with a 257-character room', 'bad_command', () => JSON.stringify({ type: 'leave', room: longRoom, ref: 'e11' })],
      ['publish without room', 'bad_command', '{"type":"publish","data":1,"ref":"e12"}'],
      ['publish with an empty room', 'bad_command', '{"type":"publish","room":"","data":1,"ref":"e13"}'],
      ['publish with a 257-character room', 'bad_command', () => JSON.stringify({ type: 'publish', room: longRoom, data: 1, ref: 'e14' })],
      ['publish without data', 'bad_command', '{"type":"publish","room":"r","ref":"e15"}'],
      ['broadcast without data', 'bad_command', '{"type":"broadcast","ref":"e16"}'],
      ['send without data', 'bad_command', (self) => JSON.stringify({ type: 'send', to: self.id, ref: 'e17' })],
      ['send without to', 'bad_command', '{"type":"send","data":1,"ref":"e18"}'],
      ['send with a numeric to', 'bad_command', '{"type":"send","to":1,"data":1,"ref":"e19"}'],
      ['send with a null to', 'bad_command', '{"type":"send","to":null,"data":1,"ref":"e20"}'],
      ['a boolean ref', 'bad_command', '{"type":"join","room":"r","ref":true}'],
      ['an object ref', 'bad_command', '{"type":"join","room":"r","ref":{"id":1}}'],
      ['send to an id that is not connected', 'unknown_connection', '{"type":"send","to":"no-such-id","data":1,"ref":"e21"}'],
    ];

    it.each(cases)('%s → %s', async (_label, code, text) => {
      const a = await client(server);
      const message = typeof text === 'function' ? text(a) : text;
      a.send(message);
      const error = await a.next();
      expect(error).toMatchObject({ type: 'error', code });
      expect(typeof error.message).toBe('string');
      const sentRef = /"ref":"(e\d+)"/.exec(message)?.[1];
      if (sentRef !== undefined) expect(error.ref).toBe(sentRef);
      // Still open, and still works.
      expect(a.isOpen).toBe(true);
      const room = freshRoom();
      expect(await join(a, room)).toMatchObject({ type: 'joined', room, members: 1 });
      a.send({ type: 'publish', room, data: 'still here' });
      expect(await a.next()).toMatchObject({ type: 'message', room, from: a.id, data: 'still here' });
    });

    it('a failed command has no effect (no room joined, nothing published)', async () => {
      const [a, b] = [await client(server), await client(server)];
      const room = freshRoom();
      await join(b, room);
      a.send({ type: 'join', room: 42, ref: 1 });
      expect(await a.next()).toMatchObject({ type: 'error', code: 'bad_command', ref: 1 });
      a.send({ type: 'publish', room, ref: 2 }); // no data
      expect(await a.next()).toMatchObject({ type: 'error', code: 'bad_command', ref: 2 });
      expect(await b.sync()).toEqual([]);
      expect(await join(a, room)).toMatchObject({ members: 2 });
    });

    it('a binary message → unsupported, and the connection still works', async () => {
      const a = await client(server);
      a.send(Buffer.from(JSON.stringify({ type: 'join', room: 'r' })));
      const error = await a.next();
      expect(error).toMatchObject({ type: 'error', code: 'unsupported' });
      expect(typeof error.message).toBe('string');
      expect(a.isOpen).toBe(true);
      const room = freshRoom();
      expect(await join(a, room)).toMatchObject({ type: 'joined', room, members: 1 });
    });

    it('a series of every error on one connection leaves it working', async () => {
      const [a, b] = [await client(server), await client(server)];
      for (const [, code, text] of cases) {
        a.send(typeof text === 'function' ? text(a) : text);
        expect(await a.next()).toMatchObject({ type: 'error', code });
      }
      a.send(Buffer.from([1, 2, 3]));
      expect(await a.next()).toMatchObject({ type: 'error', code: 'unsupported' });
      a.send({ type: 'send', to: b.id, data: 'ok' });
      expect(await a.next()).toMatchObject({ type: 'sent', to: b.id });
      expect(await b.next()).toMatchObject({ type: 'message', from: a.id, data: 'ok' });
    });
  });

  it('a closed connection leaves its rooms', async () => {
    const [a, b] = [await client(server), await client(server)];
    const rooms = [freshRoom(), freshRoom()];
    for (const room of rooms) {
      await join(a, room);
      expect(await join(b, room)).toMatchObject({ members: 2 });
    }
    await b.close();
    // The server learns of the close asynchronously: poll with a deadline.
    for (const room of rooms) {
      const reply = await pollUntil(
        async () => (await a.request({ type: 'join', room })).reply,
        (r) => r.members === 1,
        5000,
      );
      expect(reply).toMatchObject({ type: 'joined', room, members: 1 });
    }
    // A publish now reaches only the remaining member.
    a.send({ type: 'publish', room: rooms[0], data: 'alone' });
    expect(await a.next()).toMatchObject({ type: 'message', data: 'alone' });
    // And the closed id is no longer a send target.
    a.send({ type: 'send', to: b.id, data: 1, ref: 'gone' });
    expect(await a.next()).toMatchObject({ type: 'error', code: 'unknown_connection', ref: 'gone' });
  });
});

describe('relay mode: HTTP endpoints', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await closeAll(clients.splice(0));
    expect(await server.stop()).toBe(0);
  });

  const health = () => server.health();

  it('GET /healthz counts connections and rooms, and rooms drop to 0 when the last member leaves or closes', async () => {
    const res = await fetch(`${server.httpUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/json/i);
    expect(await res.json()).toMatchObject({ status: 'ok', connections: 0, rooms: 0 });

    const [a, b, c] = [await client(server), await client(server), await client(server)];
    expect(await health()).toMatchObject({ status: 'ok', connections: 3, rooms: 0 });
    await join(a, 'h1');
    await join(b, 'h1');
    await join(b, 'h2');
    expect(await health()).toMatchObject({ connections: 3, rooms: 2 });
    // Idempotent join does not add a room.
    await join(a, 'h1');
    expect(await health()).toMatchObject({ connections: 3, rooms: 2 });

    await c.close();
    expect(await pollUntil(health, (h) => h.connections === 2)).toMatchObject({ connections: 2, rooms: 2 });

    // An explicit leave of the last member removes the room.
    expect((await b.request({ type: 'leave', room: 'h2' })).reply).toMatchObject({ members: 0 });
    expect(await health()).toMatchObject({ connections: 2, rooms: 1 });

    await a.close();
    expect(await pollUntil(health, (h) => h.connections === 1)).toMatchObject({ connections: 1, rooms: 1 });
    // The last member of h1 goes away by closing.
    await b.close();
    expect(await pollUntil(health, (h) => h.connections === 0 && h.rooms === 0)).toMatchObject({ status: 'ok', connections: 0, rooms: 0 });
  });

  it('GET / serves the demo page as HTML', async () => {
    const res = await fetch(`${server.httpUrl}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/i);
    expect(await res.text()).toMatch(/<html/i);
  });

  it('HEAD /healthz → the same head as GET (200, Content-Length) and no body', async () => {
    const c = await RawClient.connect(server.port, { request: 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n' });
    await c.waitEnded();
    expect(c.response.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(c.response).toMatch(/\r\nContent-Length: \d+/i);
    expect(c.response.endsWith('\r\n\r\n')).toBe(true); // nothing after the head
  });

  it.each(['/nope', '/index.html', '/healthz/extra', '/demo'])('GET %s → 404', async (path) => {
    const res = await fetch(`${server.httpUrl}${path}`);
    expect(res.status).toBe(404);
    await res.arrayBuffer();
  });

  it('with --no-demo, GET / → 404 while /healthz still answers', async () => {
    const noDemo = await startServer(['--no-demo']);
    try {
      const res = await fetch(`${noDemo.httpUrl}/`);
      expect(res.status).toBe(404);
      await res.arrayBuffer();
      expect(await noDemo.health()).toMatchObject({ status: 'ok', connections: 0, rooms: 0 });
    } finally {
      expect(await noDemo.stop()).toBe(0);
    }
  });
});

/**
 * Writes `count` publishes to `room` in one go, then a ping, and waits for the
 * pong: it is queued only after every publish before it has been handled.
 * Returns what the publisher received meanwhile and the elapsed time, which
 * bounds how long the server spent on the flood.
 */
async function floodPublishes(publisher: RawClient, room: string, count: number) {
  const flood = Buffer.concat([
    ...Array.from({ length: count }, (_, i) => encodeClientFrame({ opcode: 1, payload: JSON.stringify({ type: 'publish', room, data: i }) })),
    encodeClientFrame({ opcode: 9, payload: 'after-flood' }),
  ]);
  const started = performance.now();
  await publisher.write(flood);
  const toPublisher: ReturnType<typeof json>[] = [];
  for (;;) {
    const f = await publisher.nextFrame(10_000);
    if (f.opcode === 10) {
      expect(f.payload.toString()).toBe('after-flood');
      break;
    }
    toPublisher.push(json(f));
  }
  return { toPublisher, elapsed: performance.now() - started };
}

describe('relay mode: limits', () => {
  const servers: RunningServer[] = [];
  const start = async (args: string[]) => {
    const s = await startServer(args);
    servers.push(s);
    return s;
  };
  afterEach(async () => {
    await closeAll(clients.splice(0));
    const codes = await Promise.all(servers.splice(0).map((s) => s.stop()));
    expect(codes.every((c) => c === 0)).toBe(true);
  });

  it('--rate-limit 10: a flood of 1,000 publishes passes the burst, drops the rest, reports once per window, then recovers', async () => {
    const server = await start(['--rate-limit', '10']);
    const [b, c] = [await client(server), await client(server)];
    const room = freshRoom('flood');
    await join(b, room);
    await join(c, room);
    // The publisher is not a member, so its first message meets a full bucket.
    const a = await raw(server);
    expect(json(await a.nextFrame())).toMatchObject({ type: 'welcome' });

    const { toPublisher: toA, elapsed } = await floodPublishes(a, room, 1000);
    // Tokens refilled during the flood: at most 10 per second of it.
    const bound = 10 + Math.floor((elapsed * 10) / 1000);

    const errors = toA.filter((m) => m.type === 'error');
    expect(errors.length).toBe(toA.length); // a non-member gets nothing but errors
    for (const e of errors) expect(e).toMatchObject({ type: 'error', code: 'rate_limited' });
    if (elapsed < 1000) expect(errors).toHaveLength(1);
    else {
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors.length).toBeLessThanOrEqual(Math.ceil(elapsed / 1000));
    }

    for (const member of [b, c]) {
      const got = await member.sync();
      for (const m of got) expect(m).toMatchObject({ type: 'message', room });
      const indexes = got.map((m) => m.data as number);
      // The burst of 10 passes first, in order; the rest (beyond what refilled) is dropped.
      expect(indexes.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(indexes.length).toBeLessThanOrEqual(bound);
      expect(new Set(indexes).size).toBe(indexes.length);
    }

    // After more than a window the bucket has refilled: publishing works again.
    await sleep(1100);
    await a.send({ opcode: 1, payload: JSON.stringify({ type: 'publish', room, data: 'again', ref: 'again' }) });
    await a.send({ opcode: 9, payload: 'after-again' });
    for (const member of [b, c]) expect(await member.next()).toMatchObject({ type: 'message', room, data: 'again' });
    const f = await a.nextFrame();
    expect(f.opcode).toBe(10); // no error before the pong
  });

  it('the default rate limit in relay mode is 1000 per second (burst 1000)', async () => {
    const server = await start([]);
    const member = await client(server);
    const room = freshRoom('default-limit');
    await join(member, room);
    const a = await raw(server);
    expect(json(await a.nextFrame())).toMatchObject({ type: 'welcome' });
    const { toPublisher, elapsed } = await floodPublishes(a, room, 1500);
    expect(toPublisher.length).toBeGreaterThanOrEqual(1);
    for (const m of toPublisher) expect(m).toMatchObject({ type: 'error', code: 'rate_limited' });
    if (elapsed < 1000) expect(toPublisher).toHaveLength(1);
    const got = (await member.sync(10_000)).map((m) => m.data as number);
    expect(got.slice(0, 1000)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(got.length).toBeLessThanOrEqual(1000 + Math.floor(elapsed));
  });

  it('--rate-limit 0 turns the limit off: a flood of 1,500 is delivered whole', async () => {
    const server = await start(['--rate-limit', '0']);
    const member = await client(server);
    const room = freshRoom('unlimited');
    await join(member, room);
    const a = await raw(server);
    expect(json(await a.nextFrame())).toMatchObject({ type: 'welcome' });
    const { toPublisher } = await floodPublishes(a, room, 1500);
    expect(toPublisher).toEqual([]);
    const got = (await member.sync(10_000)).map((m) => m.data as number);
    expect(got).toEqual(Array.from({ length: 1500 }, (_, i) => i));
  });

  it('--max-message-size 1kb: a 2 KiB message is closed with 1009 from its header alone; others carry on', async () => {
    const server = await start(['--max-message-size', '1kb']);
    const other = await client(server);
    const room = freshRoom();
    await join(other, room);

    const a = await raw(server);
    expect(json(await a.nextFrame())).toMatchObject({ type: 'welcome' });
    // Exactly 1024 bytes is within the limit.
    const base = JSON.stringify({ type: 'publish', room, data: '' });
    const exact = JSON.stringify({ type: 'publish', room, data: 'p'.repeat(1024 - base.length) });
    expect(Buffer.byteLength(exact)).toBe(1024);
    await a.send({ opcode: 1, payload: exact });
    expect((await other.next()).data).toHaveLength(1024 - base.length);

    // Only the header announcing 2048 bytes: the payload is never sent.
    await a.send({ opcode: 1, payload: Buffer.alloc(0), announcedLength: 2048 });
    const outcome = await a.closeOutcome(3000);
    expect(outcome.code).toBe(1009);
    expect(outcome.before).toEqual([]);

    // The other connection is unaffected.
    expect(other.isOpen).toBe(true);
    other.send({ type: 'publish', room, data: 'still fine' });
    expect(await other.next()).toMatchObject({ type: 'message', room, from: other.id, data: 'still fine' });
  });

  it('--max-connections 2: a third upgrade gets HTTP 503; a freed slot is usable again', async () => {
    const server = await start(['--max-connections', '2']);
    const a = await client(server);
    await client(server);
    const third = await tryUpgrade(server.port);
    third.client?.destroy();
    expect(third.status).toBe(503);
    // Plain HTTP is not an upgrade and still answers.
    expect(await server.health()).toMatchObject({ connections: 2 });
    await a.close();
    await pollUntil(server.health, (h) => h.connections === 1);
    const again = await tryUpgrade(server.port);
    if (again.client) clients.push(again.client);
    expect(again.status).toBe(101);
  });

  it('--allow-origin (repeatable): other origins get HTTP 403, listed ones connect', async () => {
    const server = await start(['--allow-origin', 'http://a.example', '--allow-origin', 'http://c.example']);
    const denied = await tryUpgrade(server.port, { Origin: 'http://b.example' });
    denied.client?.destroy();
    expect(denied.status).toBe(403);

    const a = await raw(server, { Origin: 'http://a.example' });
    expect(a.status).toBe(101);
    expect(json(await a.nextFrame())).toMatchObject({ type: 'welcome' });
    const c = await client(server, { Origin: 'http://c.example' });
    expect(c.id).not.toBe('');
    expect(await server.health()).toMatchObject({ connections: 2 });
  });

  it('500 clients that join rooms and then vanish (socket destroyed) leave 0 connections and 0 rooms', async () => {
    const server = await start([]);
    const many: RawClient[] = [];
    for (let batch = 0; batch < 5; batch++) {
      const opened = await Promise.all(
        Array.from({ length: 100 }, async (_, i) => {
          const c = await RawClient.connect(server.port);
          clients.push(c);
          expect(json(await c.nextFrame())).toMatchObject({ type: 'welcome' });
          await c.send({ opcode: 1, payload: JSON.stringify({ type: 'join', room: `vanish-${(batch * 100 + i) % 25}`, ref: i }) });
          expect(json(await c.nextFrame())).toMatchObject({ type: 'joined', ref: i });
          return c;
        }),
      );
      many.push(...opened);
    }
    expect(await server.health()).toMatchObject({ status: 'ok', connections: 500, rooms: 25 });
    for (const c of many) c.destroy();
    const after = await pollUntil(server.health, (h) => h.connections === 0 && h.rooms === 0, 10_000);
    expect(after).toMatchObject({ status: 'ok', connections: 0, rooms: 0 });
  });
});
