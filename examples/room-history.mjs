// A ticker with room history: a client that comes back with the last offset it
// saw gets what it missed, then the live ticks, with no gap and no repeat.
// Run: node examples/room-history.mjs [port]  (the README's History section)
import { WebSocketServer } from '@rxws/server';

const server = new WebSocketServer({
  port: Number(process.argv[2] ?? 8080),
  // Each room keeps its last 100 publishes for a minute after its last one;
  // `frame` is what members get: here the tick with its position.
  history: { size: 100, ttl: 60_000, frame: ({ offset, epoch, data }) => JSON.stringify({ offset, epoch, tick: Number(data) }) },
});

server.connections$.subscribe((conn) => {
  // The client's first message says where it stopped: {} or {"since":{"offset":K,"epoch":E}}.
  const subscription = conn.messages$.subscribe(async (text) => {
    subscription.unsubscribe();
    const { since } = JSON.parse(String(text));
    // `joined` goes first, then the ticks it missed (when still kept), then the live ones.
    await server.rooms.join(conn, 'ticks', { since, announce: (result) => JSON.stringify({ joined: result }) });
  });
});

let tick = 0;
setInterval(() => server.rooms.publish('ticks', String(++tick)), 20);

const { port } = await server.listen();
console.log(`listening on ws://localhost:${port}`);
