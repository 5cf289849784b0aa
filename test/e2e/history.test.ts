// History and recovery (`--history N`) of the `rxws` command on one server,
// driven over the wire: offsets and epochs on room messages and `joined`,
// join with `since` (replay then live, exactly once, in order), the
// `history` command, the room limit per connection, and no room message
// before its `joined`.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, runCli, startServer } from '../support/server.js';
import { closeAll, relayClient, type WsClient } from '../support/ws-client.js';

let counter = 0;
const freshRoom = () => `h-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
const clients: WsClient[] = [];
async function client(server: RunningServer): Promise<WsClient> {
  const c = await relayClient(server.url);
  clients.push(c);
  return c;
}
afterEach(async () => {
  await closeAll(clients.splice(0));
});

/** Publishes data 1…n to `room` from `c`, then waits until `c` (a member) has them back. */
async function publishAll(c: WsClient, room: string, values: number[]) {
  for (const seq of values) c.send({ type: 'publish', room, data: { seq } });
  return c.take(values.length);
}

describe('rxws --history 5', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--history', '5', '--max-rooms-per-connection', '3']);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('every room message carries consecutive offsets and one epoch; joined gives the latest position', async () => {
    const room = freshRoom();
    const a = await client(server);
    const { reply: first } = await a.request({ type: 'join', room });
    expect(first).toMatchObject({ type: 'joined', room, members: 1, offset: 0 });
    expect(typeof first.epoch).toBe('string');
    const got = await publishAll(a, room, [1, 2, 3]);
    expect(got.map((m) => [m.type, m.room, m.data.seq, m.offset, m.epoch])).toEqual([
      ['message', room, 1, 1, first.epoch],
      ['message', room, 2, 2, first.epoch],
      ['message', room, 3, 3, first.epoch],
    ]);
    const b = await client(server);
    const { reply: second } = await b.request({ type: 'join', room });
    expect(second).toMatchObject({ members: 2, offset: 3, epoch: first.epoch });
    expect(second.recovered).toBeUndefined();
  });

  it('join with since replays what was missed right after joined, then live, exactly once and in order', async () => {
    const room = freshRoom();
    const a = await client(server);
    const { reply } = await a.request({ type: 'join', room });
    await publishAll(a, room, [1, 2]);
    const b = await client(server);
    // b saw offset 2 before it went away; a publishes 3 and 4 meanwhile, then 5 and 6 while b rejoins.
    await publishAll(a, room, [3, 4]);
    b.send({ type: 'join', room, since: { offset: 2, epoch: reply.epoch }, ref: 'rejoin' });
    a.send({ type: 'publish', room, data: { seq: 5 } });
    a.send({ type: 'publish', room, data: { seq: 6 } });
    const seen = await b.take(5);
    expect(seen[0]).toMatchObject({ type: 'joined', room, recovered: true, epoch: reply.epoch, ref: 'rejoin' });
    expect(seen.slice(1).map((m) => [m.data.seq, m.offset])).toEqual([
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    expect(await b.sync()).toEqual([]);
  });

  it('since without epoch means the current one; since at the latest offset recovers nothing missing', async () => {
    const room = freshRoom();
    const a = await client(server);
    await a.request({ type: 'join', room });
    await publishAll(a, room, [1, 2, 3]);
    const b = await client(server);
    const { reply, before } = await b.request({ type: 'join', room, since: { offset: 1 } });
    expect(before).toEqual([]);
    expect(reply).toMatchObject({ recovered: true, offset: 3 });
    expect((await b.take(2)).map((m) => m.offset)).toEqual([2, 3]);
    const c = await client(server);
    const { reply: atLatest } = await c.request({ type: 'join', room, since: { offset: 3 } });
    expect(atLatest).toMatchObject({ recovered: true, offset: 3 });
    expect(await c.sync()).toEqual([]);
  });

  it('recovered:false, nothing replayed, for another epoch, an offset that left the history, or one beyond the latest', async () => {
    const room = freshRoom();
    const a = await client(server);
    const { reply } = await a.request({ type: 'join', room });
    await publishAll(a, room, [1, 2, 3, 4, 5, 6, 7]); // history 5 keeps offsets 3…7
    for (const since of [{ offset: 1, epoch: 'not-this-one' }, { offset: 1, epoch: reply.epoch }, { offset: 8, epoch: reply.epoch }]) {
      const b = await client(server);
      const { reply: joined, before } = await b.request({ type: 'join', room, since });
      expect(before).toEqual([]);
      expect(joined).toMatchObject({ type: 'joined', recovered: false, offset: 7, epoch: reply.epoch });
      expect(await b.sync()).toEqual([]);
    }
    const c = await client(server);
    const { reply: fromTwo } = await c.request({ type: 'join', room, since: { offset: 2, epoch: reply.epoch } });
    expect(fromTwo.recovered).toBe(true);
    expect((await c.take(5)).map((m) => m.data.seq)).toEqual([3, 4, 5, 6, 7]);
  });

  it('a since that is not {offset: integer ≥ 0, epoch?: string} is bad_command and does not join', async () => {
    const room = freshRoom();
    const a = await client(server);
    for (const since of [null, 3, { offset: -1 }, { offset: 1.5 }, { offset: '1' }, { offset: 1, epoch: 7 }, {}]) {
      const { reply } = await a.request({ type: 'join', room, since });
      expect(reply).toMatchObject({ type: 'error', code: 'bad_command' });
    }
    const b = await client(server);
    expect((await b.request({ type: 'join', room })).reply.members).toBe(1);
  });

  it('history answers the last L publishes, oldest first, with their data as published; no membership needed', async () => {
    const room = freshRoom();
    const a = await client(server);
    const { reply } = await a.request({ type: 'join', room });
    a.send({ type: 'publish', room, data: 'text "quoted" \u00e9' });
    a.send({ type: 'publish', room, data: [1, { nested: true }] });
    a.send({ type: 'publish', room, data: null });
    await a.take(3);
    const outsider = await client(server);
    const { reply: two } = await outsider.request({ type: 'history', room, limit: 2 });
    expect(two).toEqual({
      type: 'history',
      room,
      offset: 3,
      epoch: reply.epoch,
      ref: two.ref,
      messages: [
        { offset: 2, from: a.id, data: [1, { nested: true }] },
        { offset: 3, from: a.id, data: null },
      ],
    });
    const { reply: all } = await outsider.request({ type: 'history', room });
    expect(all.messages.map((m: { data: unknown }) => m.data)).toEqual(['text "quoted" \u00e9', [1, { nested: true }], null]);
    const { reply: many } = await outsider.request({ type: 'history', room, limit: 50 });
    expect(many.messages).toHaveLength(3);
    for (const limit of [0, -1, 1.5, 'two']) {
      expect((await outsider.request({ type: 'history', room, limit })).reply).toMatchObject({ type: 'error', code: 'bad_command' });
    }
  });

  it('a join past --max-rooms-per-connection gets too_many_rooms and does not join; rejoining a room is not refused', async () => {
    const a = await client(server);
    const rooms = [freshRoom(), freshRoom(), freshRoom()];
    for (const room of rooms) expect((await a.request({ type: 'join', room })).reply.type).toBe('joined');
    const extra = freshRoom();
    expect((await a.request({ type: 'join', room: extra })).reply).toMatchObject({ type: 'error', code: 'too_many_rooms' });
    expect((await a.request({ type: 'join', room: rooms[0] })).reply.type).toBe('joined');
    const b = await client(server);
    expect((await b.request({ type: 'join', room: extra })).reply.members).toBe(1);
    await a.request({ type: 'leave', room: rooms[1] });
    expect((await a.request({ type: 'join', room: extra })).reply).toMatchObject({ type: 'joined', members: 2 });
  });
});

describe('rxws without --history', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer([]);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('no room message reaches a connection before its joined, even its own publish sent right after the join', async () => {
    const a = await client(server);
    for (let i = 0; i < 20; i++) {
      const room = freshRoom();
      a.send({ type: 'join', room, ref: i });
      a.send({ type: 'publish', room, data: i });
      const [joined, message] = await a.take(2);
      expect(joined).toMatchObject({ type: 'joined', room, ref: i });
      expect(message).toMatchObject({ type: 'message', room, data: i });
      expect(message.offset).toBeUndefined();
    }
  });

  it('since is accepted and never recovers; history is empty', async () => {
    const room = freshRoom();
    const a = await client(server);
    const { reply } = await a.request({ type: 'join', room, since: { offset: 0 } });
    expect(reply).toMatchObject({ type: 'joined', members: 1, recovered: false });
    a.send({ type: 'publish', room, data: 1 });
    await a.take(1);
    expect((await a.request({ type: 'history', room })).reply).toMatchObject({ type: 'history', room, offset: 0, messages: [] });
  });
});

describe('rxws history flags', () => {
  it.each([
    [['--history', '-1'], /--history/],
    [['--history', 'ten'], /--history/],
    [['--history', '5', '--history-ttl', '0'], /--history-ttl/],
    [['--history', '5', '--history-ttl', '5 minutes'], /--history-ttl/],
    [['--max-rooms-per-connection', '-3'], /--max-rooms-per-connection/],
    [['--history', '5', '--redis', 'redis://127.0.0.1:1'], /--history with --redis/],
    [['--history', '5', '--workers', '2'], /--history with --workers/],
  ])('%j: one line on stderr, exit 2', async (args, message) => {
    const run = await runCli(['--port', '0', ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).not.toMatch(/listening/);
  });
});
