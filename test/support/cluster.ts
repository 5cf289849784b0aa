// Nodes of an rxws cluster for end-to-end tests: `rxws --redis URL` processes
// sharing one private redis-server, and small helpers to read the cluster's state.
import type { RedisInstance, RespValue } from './redis.js';
import { type RunningServer, startServer } from './server.js';
import type { WsClient } from './ws-client.js';

export interface ClusterHealth {
  status: string;
  connections: number;
  rooms: number;
  cluster?: { redis: 'up' | 'down'; nodes: number };
}

export const startNode = (redisUrl: string, args: string[] = []): Promise<RunningServer> =>
  startServer(['--redis', redisUrl, '--heartbeat-interval', '0', '--shutdown-grace', '1000', ...args]);

export const healthOf = async (node: RunningServer): Promise<ClusterHealth> => (await node.health()) as ClusterHealth;

/** Polls `check` until it returns true, at most `timeoutMs`; resolves with the time it took. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** joins `room` and resolves with the `members` of the `joined` reply. */
export async function join(client: WsClient, room: string): Promise<number> {
  const { reply } = await client.request({ type: 'join', room });
  if (reply.type !== 'joined') throw new Error(`join got ${JSON.stringify(reply)}`);
  return reply.members as number;
}

export async function leave(client: WsClient, room: string): Promise<number> {
  const { reply } = await client.request({ type: 'leave', room });
  if (reply.type !== 'left') throw new Error(`leave got ${JSON.stringify(reply)}`);
  return reply.members as number;
}

/** Every key in Redis (SCAN, not KEYS, as a production check would). */
export async function allKeys(redis: RedisInstance): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = (await redis.command('SCAN', cursor, 'COUNT', 1000)) as [string, RespValue[]];
    cursor = next;
    keys.push(...(batch as string[]));
  } while (cursor !== '0');
  return keys.sort();
}

export const channels = async (redis: RedisInstance): Promise<string[]> => ((await redis.command('PUBSUB', 'CHANNELS')) as string[]).sort();
