// Streams a large binary payload to every client that connects, at full
// speed, with the outbound budget at its default (1 MiB): `streamTo` pulls the
// next 64 KiB chunk from a generator only while the connection is writable
// and otherwise waits for `conn.drain$`, so nothing is polled, nothing piles up
// in memory, and the slow-consumer policy never trips. Each chunk starts with
// its index (4 bytes, big-endian) so a client can check order and count.
//
//   node examples/stream-200mb.mjs [MEGABYTES=200] [PORT=8082]
//
// Then connect any WebSocket client to the printed URL; the server closes
// with 1000 once everything is sent, and prints the throughput on stderr.
import { WebSocketServer, streamTo } from '@rxws/server';

const megabytes = Number(process.argv[2] ?? 200);
const CHUNK = 64 * 1024;
const chunks = Math.ceil((megabytes * 1024 * 1024) / CHUNK);

/** The payload, made on demand: one chunk per pull. */
function* payload() {
  for (let i = 0; i < chunks; i++) {
    const chunk = Buffer.alloc(CHUNK, i & 0xff);
    chunk.writeUInt32BE(i, 0);
    yield chunk;
  }
}

const server = new WebSocketServer({ port: Number(process.argv[3] ?? 8082), host: '127.0.0.1' });

server.connections$.subscribe((conn) => {
  const started = process.hrtime.bigint();
  streamTo(conn, payload()).subscribe({
    next: (sent) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const mib = (sent * CHUNK) / (1024 * 1024);
      console.error(`connection ${conn.id}: sent ${sent} messages, ${mib.toFixed(0)} MiB in ${seconds.toFixed(2)} s (${(mib / seconds).toFixed(0)} MiB/s)`);
      conn.close(1000, 'done');
    },
    // The client went away mid-stream: ConnectionClosedError says how far it got.
    error: (err) => console.error(`connection ${conn.id}: ${err.message}`),
  });
});

const { address, port } = await server.listen();
console.log(`listening on ws://${address}:${port} (streaming ${megabytes} MB per client)`);
const shutdown = () => server.close().then(() => process.exit(0));
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
