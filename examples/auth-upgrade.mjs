// Authentication at the upgrade: the token is checked (asynchronously, as a
// database or an auth service would) before any WebSocket exists. A bad
// token gets HTTP 401 with WWW-Authenticate and never a 101; a good one opens
// a connection whose state is what the check returned.
//
//   node examples/auth-upgrade.mjs 8082
//   then connect to ws://127.0.0.1:8082/?token=s3cret (or send Authorization: Bearer s3cret)
import { HttpError, WebSocketServer } from '@rxws/server';

const users = new Map([['s3cret', 'ann'], ['hunter2', 'bob']]);
async function userOf(token) {
  await new Promise((resolve) => setTimeout(resolve, 50)); // the time a real lookup takes
  return users.get(token);
}

const server = new WebSocketServer({
  port: Number(process.argv[2] ?? 8082),
  host: '127.0.0.1',
  onUpgrade: async (request) => {
    // Browsers cannot set headers on a WebSocket: accept the token in the query too.
    const bearer = request.headers.get('authorization')?.match(/^Bearer (\S+)$/)?.[1];
    const user = await userOf(bearer ?? request.query.get('token') ?? '');
    if (user === undefined) throw new HttpError(401, 'unknown token', { 'WWW-Authenticate': 'Bearer realm="chat"' });
    return { user, from: request.remoteAddress };
  },
  onConnect: (conn) => conn.send(`hello ${conn.state.user}`),
  onMessage: (conn, data) => server.broadcast(`${conn.state.user}: ${data}`),
});

const { port } = await server.listen();
console.log(`listening on ws://127.0.0.1:${port}`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
