// The Redis adapter's failure behaviour, driven directly (a minimal owner with
// no connections) against a real redis-server: unreachable, and hung.
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { ClusterOwner, RoomMessage } from '../../src/cluster/adapter.js';
import type { Connection } from '../../src/server/connection.js';
import { RedisCluster, type RedisClusterOptions } from '../../src/cluster/redis.js';
import { allKeys, eventually } from '../support/cluster.js';
import { freePort, type RedisInstance, startRedis } from '../support/redis.js';

const owner: ClusterOwner<unknown> = { connection: () => undefined, connections: () => [], report: (err) => { throw err; } };

describe('RedisCluster', () => {
  let redis: RedisInstance | undefined;
  const adapters: RedisCluster<unknown>[] = [];
  afterEach(async () => {
    await Promise.all(adapters.splice(0).map((a) => a.close()));
    await redis?.stop();
    redis = undefined;
  });

  it("a room's messages$ on a node without members emits every node's publishes, text and binary, with the publisher's id", async () => {
    redis = await startRedis();
    const ups: Promise<void>[] = [];
    const node = () => {
      let up!: () => void;
      ups.push(new Promise<void>((resolve) => (up = resolve)));
      const a = new RedisCluster(owner, { url: redis!.url, onLinkChange: (isUp) => isUp && up() });
      adapters.push(a);
      return a;
    };
    const [a, b] = [node(), node()];
    await Promise.all(ups);
    const seen = firstValueFrom(b.messages$('watched').pipe(take(2), toArray()));
    await b.members('watched'); // resolves once b listens to the room
    const from = { id: 'publisher-1' } as Connection<unknown>;
    expect(a.publish('watched', 'text', { from })).toBe(0); // no member anywhere; watchers still hear it
    a.publish('watched', new Uint8Array([1, 2, 3]));
    expect(await seen).toEqual<RoomMessage<unknown>[]>([
      { room: 'watched', data: 'text', from: undefined, fromId: 'publisher-1' },
      { room: 'watched', data: Buffer.from([1, 2, 3]), from: undefined, fromId: undefined },
    ]);
  });
});

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
