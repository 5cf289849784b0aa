// Two rxws nodes and one Redis: a client on each node joins the room "lobby";
// what a client says on node 1 reaches the client on node 2, and member
// counts are the cluster's. In production each node is its own process or
// machine; here both run in one process for a short demo.
//
//   REDIS_URL=redis://127.0.0.1:6379 node examples/two-nodes.mjs
import { WebSocketServer, redisCluster } from '@rxws/server';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const WebSocket = globalThis.WebSocket ?? (await import('undici')).WebSocket; // built in from Node 22

const startNode = async (name) => {
  // A node serves at once, Redis or not; for this demo, wait until it has joined the cluster.
  let joined;
  const inCluster = new Promise((resolve) => (joined = resolve));
  const cluster = redisCluster({ url, name: 'two-nodes-example', onLinkChange: (up, reason) => (up ? joined() : console.error(`${name}: Redis down (${reason})`)) });
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', cluster });
  server.connections$.subscribe(async (conn) => {
    server.rooms.join(conn, 'lobby');
    conn.messages$.subscribe((text) => server.rooms.publish('lobby', `${name}: ${text}`));
    // Cluster-wide, and resolved once this node hears every node's publishes to the room.
    const members = await server.rooms.members('lobby');
    conn.send(`welcome to the lobby on ${name}: ${members} member(s) across the cluster`);
  });
  const { port } = await server.listen();
  await inCluster;
  return { server, url: `ws://127.0.0.1:${port}` };
};

/** Opens a client that prints what it gets; resolves at its welcome. */
const connect = (nodeUrl, label) =>
  new Promise((resolve) => {
    const ws = new WebSocket(nodeUrl);
    ws.onmessage = (event) => {
      console.log(`${label} got: ${event.data}`);
      resolve(ws);
    };
  });

const node1 = await startNode('node 1');
const node2 = await startNode('node 2');
const alice = await connect(node1.url, 'alice (node 1)');
const bob = await connect(node2.url, 'bob (node 2)');
const heard = new Promise((resolve) => bob.addEventListener('message', resolve, { once: true }));
alice.send('hello from node 1');
await heard;

alice.close();
bob.close();
await Promise.all([node1.server.close(), node2.server.close()]);
