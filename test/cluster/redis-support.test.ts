import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from '../support/redis.js';

describe('test/support/redis', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

  it('starts a private, empty redis-server that survives a SIGKILL by a restart on the same port', async () => {
    expect(await redis.command('SET', 'k', 'v')).toBe('OK');
    expect(await redis.command('KEYS', '*')).toEqual(['k']);
    await redis.kill();
    await expect(redis.command('PING')).rejects.toThrow();
    await redis.restart();
    expect(await redis.command('KEYS', '*')).toEqual([]);
  });
});
