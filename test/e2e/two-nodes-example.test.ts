import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allKeys, channels } from '../support/cluster.js';
import { type RedisInstance, startRedis } from '../support/redis.js';

// The README's cluster example must keep working as documented.
const EXAMPLE = fileURLToPath(new URL('../../examples/two-nodes.mjs', import.meta.url));

describe('examples/two-nodes.mjs (the README cluster example)', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis?.stop());

  it('a message said on node 1 reaches the client on node 2; counts are cluster-wide; nothing is left in Redis', async () => {
    const proc = spawn(process.execPath, [EXAMPLE], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDIS_URL: redis.url } });
    let out = '';
    let err = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    const [code] = await once(proc, 'exit');
    clearTimeout(timer);
    expect(code, err).toBe(0);
    expect(out.trim().split('\n')).toEqual([
      'alice (node 1) got: welcome to the lobby on node 1: 1 member(s) across the cluster',
      'bob (node 2) got: welcome to the lobby on node 2: 2 member(s) across the cluster',
      'alice (node 1) got: node 1: hello from node 1',
      'bob (node 2) got: node 1: hello from node 1',
    ]);
    expect(await allKeys(redis)).toEqual([]);
    expect(await channels(redis)).toEqual([]);
  });
});
