import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from '../../src/index.js';
import { clients, connect, servers, start } from '../support/library-server.js';

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('server.rooms: the room limit per connection and joins that announce and recover', () => {
  it.each([-1, 1.5, Number.NaN])('maxRoomsPerConnection %s is a RangeError at construction', (max) => {
    expect(() => new WebSocketServer({ maxRoomsPerConnection: max })).toThrow(RangeError);
  });

  it('a join past maxRoomsPerConnection throws a RangeError and does not join; canJoin says so first; rejoining is allowed', async () => {
    const { server, port } = await start({ maxRoomsPerConnection: 2 });
    const { conn } = await connect(server, port);
    expect(server.rooms.maxRoomsPerConnection).toBe(2);
    server.rooms.join(conn, 'a');
    server.rooms.join(conn, 'b');
    expect(server.rooms.canJoin(conn, 'c')).toBe(false);
    expect(server.rooms.canJoin(conn, 'a')).toBe(true);
    expect(() => server.rooms.join(conn, 'c')).toThrow(RangeError);
    await expect(server.rooms.join(conn, 'c', {})).rejects.toThrow(RangeError);
    expect(server.rooms.join(conn, 'a')).toBe(true);
    expect([...server.rooms.roomsOf(conn)]).toEqual(['a', 'b']);
  });

  it('the default limit is 1000 and 0 means unlimited', async () => {
    const { server, port } = await start({ maxRoomsPerConnection: 0 });
    const { conn } = await connect(server, port);
    for (let i = 0; i < 1500; i++) server.rooms.join(conn, `r${i}`);
    expect(server.rooms.roomsOf(conn).size).toBe(1500);
    expect(new WebSocketServer().rooms.maxRoomsPerConnection).toBe(1000);
  });

  it('join with since resolves recovered and the position; the announcement goes before the replay; history reads the last entries', async () => {
    const { server, port } = await start({ history: { size: 3, ttl: 60_000 } });
    for (const tick of ['1', '2', '3', '4']) server.rooms.publish('t', tick);
    const { client, conn } = await connect(server, port);
    const result = await server.rooms.join(conn, 't', { since: { offset: 2 }, announce: (r) => `joined ${r.offset}` });
    expect(result).toMatchObject({ room: 't', joined: true, members: 1, offset: 4, recovered: true });
    const texts: string[] = [];
    for (let i = 0; i < 3; i++) texts.push((await client.nextFrame()).payload.toString('utf8'));
    expect(texts).toEqual(['joined 4', '3', '4']);
    expect((await server.rooms.history('t', { limit: 2 })).messages.map((m) => m.data)).toEqual(['3', '4']);
    const missed = await server.rooms.join(conn, 'u', { since: { offset: 5, epoch: 'gone' } });
    expect(missed.recovered).toBe(false);
  });
});
