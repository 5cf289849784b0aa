// PROTOCOL.md "Cluster": Redis unreachable at start, Redis SIGKILLed and
// restarted (empty) under traffic, and bad --redis values.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { allKeys, channels, eventually, healthOf, join, startNode } from '../support/cluster.js';
import { freePort, type RedisInstance, startRedis } from '../support/redis.js';
import { CLI, type RunningServer } from '../support/server.js';
import { closeAll, relayClient, type WsClient } from '../support/ws-client.js';

describe('rxws cluster: Redis down and back', () => {
  let redis: RedisInstance | undefined;
  let nodes: RunningServer[] = [];
  const clients: WsClient[] = [];
  afterEach(async () => {
    await closeAll(clients.splice(0));
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    nodes = [];
    await redis?.stop();
    redis = undefined;
  });
  const client = async (node: RunningServer) => {
    const c = await relayClient(node.url);
    clients.push(c);
    return c;
  };

  it('a bad --redis value: one line on stderr, exit 2, nothing started', () => {
    for (const bad of ['localhost:6379', 'http://127.0.0.1:6379', 'redis://127.0.0.1:6379/db', 'redis://', 'redis://h:1/0?x=1', '']) {
      const result = spawnSync(process.execPath, [CLI, '--port', '0', '--redis', bad], { encoding: 'utf8', timeout: 10_000 });
      expect(result.status, bad).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n'), bad).toHaveLength(1);
      expect(result.stderr).toMatch(/--redis/);
    }
    const noName = spawnSync(process.execPath, [CLI, '--port', '0', '--redis', 'redis://127.0.0.1:1', '--cluster', ''], { encoding: 'utf8' });
    expect(noName.status).toBe(2);
  });

  it('Redis unreachable at start: the node listens at once, serves locally, says "down", and joins the cluster when Redis appears', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    nodes = [await startNode(url), await startNode(url)];
    expect(await healthOf(nodes[0]!)).toEqual({ status: 'ok', connections: 0, rooms: 0, cluster: { redis: 'down', nodes: 1 } });
    const [a, a2, b] = [await client(nodes[0]!), await client(nodes[0]!), await client(nodes[1]!)];
    expect(await join(a, 'r')).toBe(1);
    expect(await join(a2, 'r')).toBe(2); // this node's members only
    a.send({ type: 'publish', room: 'r', data: 'local' });
    expect(await a2.next()).toMatchObject({ type: 'message', data: 'local' });
    expect((await a.request({ type: 'send', to: b.id, data: 1 })).reply).toMatchObject({ code: 'unknown_connection' });

    // Redis appears on that port: within 5 s the two nodes are one cluster.
    const started = Date.now();
    redis = await startRedis(port);
    await eventually(async () => (await healthOf(nodes[1]!)).cluster?.nodes === 2, 5000, 'both nodes seen');
    expect(await join(b, 'r')).toBe(3);
    a.send({ type: 'publish', room: 'r', data: 'across' });
    expect(await b.next()).toMatchObject({ type: 'message', data: 'across', from: a.id });
    console.log(`cluster: Redis started late; the cluster was whole ${Date.now() - started} ms after it listened`);
  });

  it('Redis SIGKILLed under traffic and restarted empty: local service never stops; delivery, counts and nodes are right again within 5 s', async () => {
    redis = await startRedis();
    nodes = [await startNode(redis.url), await startNode(redis.url)];
    for (const node of nodes) await eventually(async () => (await healthOf(node)).cluster?.nodes === 2, 5000, 'two nodes');
    const [a, b] = [await client(nodes[0]!), await client(nodes[1]!)];
    expect(await join(a, 'live')).toBe(1);
    expect(await join(b, 'live')).toBe(2);

    // a publishes a numbered message every 5 ms throughout.
    let seq = 0;
    const timer = setInterval(() => a.send({ type: 'publish', room: 'live', data: seq++ }), 5);
    try {
      await eventually(() => b.queue.length > 20, 5000, 'traffic across nodes');
      await redis.kill();
      const killedAt = seq;
      await eventually(async () => (await healthOf(nodes[0]!)).cluster?.redis === 'down', 5000, 'redis down in healthz');
      expect(await healthOf(nodes[0]!)).toMatchObject({ status: 'ok', cluster: { redis: 'down', nodes: 1 } });
      // Local service goes on: a's own publishes still reach a; joins answer with local counts.
      await eventually(() => a.queue.some((m) => m.type === 'message' && m.data > killedAt + 10), 5000, 'local delivery while Redis is down');
      const a2 = await client(nodes[0]!);
      expect(await join(a2, 'live')).toBe(2);

      await redis.restart();
      const restartedAt = Date.now();
      const resumedFrom = seq;
      // Cross-node delivery again: b receives a publish sent after the restart.
      const delivery = await eventually(() => b.queue.some((m) => m.type === 'message' && m.data >= resumedFrom), 5000, 'delivery after the restart');
      // Counts include both nodes again (a, a2 on node 0; b on node 1), and nodes is 2 everywhere.
      await eventually(async () => (await join(b, 'live')) === 3, 5000 - (Date.now() - restartedAt), 'cluster-wide counts after the restart');
      for (const node of nodes) {
        await eventually(async () => (await healthOf(node)).cluster?.nodes === 2, 5000 - (Date.now() - restartedAt), 'nodes after the restart');
        expect((await healthOf(node)).cluster?.redis).toBe('up');
      }
      const b2 = await client(nodes[1]!);
      expect((await b2.request({ type: 'send', to: a.id, data: 'back' })).reply).toMatchObject({ type: 'sent' });
      console.log(`cluster: Redis SIGKILLed and restarted empty: cross-node delivery back after ${delivery} ms, counts/nodes/send after ${Date.now() - restartedAt} ms`);
    } finally {
      clearInterval(timer);
    }
    a.send({ type: 'publish', room: 'live', data: 'end' });
    // b got each message at most once and in order (some sent while Redis was down are lost).
    const got = await publishedUntilEnd(b);
    for (let i = 1; i < got.length; i++) expect(got[i]).toBeGreaterThan(got[i - 1]!);
    // a (local) got every one of its own publishes, in order, through the outage.
    const own = await publishedUntilEnd(a);
    expect(own).toEqual(Array.from({ length: seq }, (_, i) => i));

    // Graceful exits leave nothing in the restarted Redis either.
    await closeAll(clients.splice(0));
    for (const node of nodes) expect(await node.stop('SIGTERM')).toBe(0);
    nodes = [];
    expect(await allKeys(redis)).toEqual([]);
    expect(await channels(redis)).toEqual([]);
  });
});

/** The numbers published to the client's rooms, up to the publish of 'end'. */
async function publishedUntilEnd(client: WsClient): Promise<number[]> {
  const got: number[] = [];
  for (;;) {
    const m = await client.next();
    if (m.type !== 'message' || m.room === undefined) continue;
    if (m.data === 'end') return got;
    got.push(m.data as number);
  }
}
