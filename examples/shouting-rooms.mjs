// A server composed with RxJS operators: every text message is a line for the
// room the client chose in its URL (ws://host:port/?room=NAME); lines are
// trimmed, empty ones dropped, shouted, and published to the room. A client
// may send at most 5 lines per second (the excess is dropped).
//
//   node examples/shouting-rooms.mjs 8081
import { filter, map } from 'rxjs';
import { WebSocketServer, rateLimit } from '@rxws/server';

const server = new WebSocketServer({
  port: Number(process.argv[2] ?? 8081),
  host: '127.0.0.1',
  maxMessageSize: 64 * 1024,
  initialState: () => ({ lines: 0 }),
  onConnect: (conn) => conn.send(`welcome ${conn.id}`),
  onClose: (conn, { code }) => console.error(`connection ${conn.id} closed with ${code} after ${conn.state.lines} lines`),
});

server.connections$.subscribe((conn) => {
  const room = conn.request.query.get('room') ?? 'lobby';
  server.rooms.join(conn, room);
  conn.messages$
    .pipe(
      filter((data) => typeof data === 'string'),
      rateLimit({ limit: 5 }),
      map((line) => line.trim()),
      filter((line) => line.length > 0),
      map((line) => `${conn.id}: ${line.toUpperCase()}`),
    )
    .subscribe((line) => {
      conn.state.lines++;
      server.rooms.publish(room, line);
    });
});

const { port } = await server.listen();
console.log(`listening on ws://127.0.0.1:${port}`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
