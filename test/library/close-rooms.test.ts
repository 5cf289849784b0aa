import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type CloseEvent, type Connection, Opcode } from '../../src/index.js';
import { clients, connect, servers, start } from '../support/library-server.js';
import { closePayload } from '../support/raw-client.js';

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('the close event carries the rooms the connection was in', () => {
  it('onClose and closed$ get event.rooms (the rooms already left: counts are lower), so "X left R" needs no copy of your own', async () => {
    const announced: string[] = [];
    let onCloseEvent: CloseEvent | undefined;
    const { server, port } = await start({
      onClose: (conn: Connection, event) => {
        onCloseEvent = event;
        for (const room of event.rooms) announced.push(`${conn.id} left ${room} (${server.rooms.count(room)} left there)`);
      },
    });
    const leaving = await connect(server, port);
    const staying = await connect(server, port);
    server.rooms.join(leaving.conn, 'a');
    server.rooms.join(leaving.conn, 'b');
    server.rooms.join(staying.conn, 'a');
    server.rooms.join(leaving.conn, 'c');
    server.rooms.leave(leaving.conn, 'c');
    const closed = firstValueFrom(leaving.conn.closed$);
    await leaving.client.send({ opcode: Opcode.Close, payload: closePayload(1000) });
    const event = await closed;
    expect([...event.rooms].sort()).toEqual(['a', 'b']);
    expect(onCloseEvent?.rooms).toEqual(new Set(['a', 'b']));
    expect(announced.sort()).toEqual([`${leaving.conn.id} left a (1 left there)`, `${leaving.conn.id} left b (0 left there)`]);
    expect(server.rooms.roomsOf(leaving.conn).size).toBe(0);
    // A late subscriber of closed$ gets the same rooms.
    expect((await firstValueFrom(leaving.conn.closed$)).rooms).toEqual(new Set(['a', 'b']));
  });

  it('a connection in no room gets an empty set', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    const closed = firstValueFrom(conn.closed$);
    client.destroy();
    expect((await closed).rooms.size).toBe(0);
  });
});

describe('what onClose can still read of the connection', () => {
  it("the peer's address and port, read at the upgrade: a closed socket no longer knows them", async () => {
    const seen: unknown[] = [];
    const { server, port } = await start({
      onClose: (conn: Connection) => seen.push([conn.request.remoteAddress, typeof conn.request.remotePort, conn.remoteAddress]),
    });
    const { client, conn } = await connect(server, port);
    const closed = firstValueFrom(conn.closed$);
    client.destroy();
    await closed;
    expect(seen).toEqual([['127.0.0.1', 'number', '127.0.0.1']]);
  });
});
