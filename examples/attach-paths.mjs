// Your own HTTP server with a REST route, and two WebSocket servers on two
// paths of it. Each WebSocketServer takes only its path; other upgrades get
// 404. With a certificate and key it is an https.Server (wss:// and https://).
//
//   node examples/attach-paths.mjs 8083                  # http:// and ws://
//   node examples/attach-paths.mjs 8083 cert.pem key.pem # https:// and wss://
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { interval, map, takeUntil } from 'rxjs';
import { WebSocketServer } from '@rxws/server';

const [port = '8083', certFile, keyFile] = process.argv.slice(2);
const api = (req, res) => {
  if (req.url === '/api/time') res.end(JSON.stringify({ time: Date.now() }));
  else res.writeHead(404).end('not found\n');
};
const server = certFile
  ? https.createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, api)
  : http.createServer(api);

// ws://HOST/chat: every message goes to everyone on /chat.
const chat = new WebSocketServer({
  server,
  path: '/chat',
  onMessage: (conn, data) => chat.broadcast(data),
});

// ws://HOST/feed/NAME: a tick every 100 ms, named after the path.
const feed = new WebSocketServer({ server, path: (path) => path.startsWith('/feed/') });
feed.connections$.subscribe((conn) => {
  const name = conn.path.slice('/feed/'.length);
  interval(100)
    .pipe(map((n) => `${name} ${n}`), takeUntil(conn.closed$))
    .subscribe((tick) => conn.send(tick));
});

server.listen(Number(port), '127.0.0.1', () => {
  const { port } = server.address();
  console.log(`listening on ${certFile ? 'wss' : 'ws'}://127.0.0.1:${port}`);
});
process.on('SIGTERM', async () => {
  await Promise.all([chat.close(), feed.close()]);
  server.close(() => process.exit(0));
});
