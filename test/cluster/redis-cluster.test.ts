// The Redis adapter's failure behaviour, driven directly (a minimal owner with
// no connections) against a real redis-server: unreachable, and hung.
import { afterEach, describe, expect, it } from 'vitest';
import type { ClusterOwner } from '../../src/cluster/adapter.js';
import { RedisCluster, type RedisClusterOptions } from '../../src/cluster/redis.js';
import { allKeys, eventually } from '../support/cluster.js';
import { freePort, type RedisInstance, startRedis } from '../support/redis.js';

const owner: ClusterOwner<unknown> = { connection: () => undefined, connections: () => [], report: (err) => { throw err; } };

describe('RedisCluster when Redis fails', () => {
  let redis: RedisInstance | undefined;
  const adapters: RedisCluster<unknown>[] = [];
  const links: boolean[] = [];
  const adapter = (options: RedisClusterOptions) => {
    const a = new RedisCluster(owner, { onLinkChange: (up) => links.push(up), ...options });
    adapters.push(a);
    return a;
  };
  afterEach(async () => {
    redis?.resume();
    await Promise.all(adapters.splice(0).map((a) => a.close()));
    await redis?.stop();
    redis = undefined;
    links.length = 0;
  });

  it('unreachable: never throws or blocks; publishes are dropped and counted, counts are local, sends are unknown', async () => {
    const a = adapter({ url: `redis://127.0.0.1:${await freePort()}` });
    for (let i = 0; i < 10_000; i++) a.publish('r', 'x');
    a.broadcast('y');
    expect(a.dropped).toBe(10_001);
    expect(await a.members('r')).toBe(0);
    expect(a.sendTo('someone', 'x')).toBe(false);
    expect(a.health()).toEqual({ redis: 'down', nodes: 1 });
    await eventually(() => links.includes(false), 5000, 'the link reported down');
    expect(links).not.toContain(true);
  });

  it('hung (SIGSTOP): publishes beyond maxInFlight are dropped, not queued; members() answers from the local count; all is well after SIGCONT', async () => {
    redis = await startRedis();
    const a = adapter({ url: redis.url, maxInFlight: 100 });
    await eventually(() => links.includes(true), 5000, 'the link up');
    redis.pause();
    for (let i = 0; i < 5000; i++) a.publish('r', 'x');
    expect(a.dropped).toBe(4900);
    const started = Date.now();
    expect(await a.members('r')).toBe(0); // the command times out; the local count answers
    expect(Date.now() - started).toBeLessThan(10_000); // a hang check, not a speed one: the command timeout is 2 s
    redis.resume();
    await eventually(async () => (await a.members('r')) === 0 && a.health().redis === 'up', 5000, 'Redis answering again');
    const dropped = a.dropped;
    for (let i = 0; i < 50; i++) a.publish('r', 'x');
    expect(a.dropped).toBe(dropped);
    await a.close();
    expect(await allKeys(redis)).toEqual([]);
  });
});
