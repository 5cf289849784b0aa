// `rxws --workers N` (PROTOCOL.md, "Cluster", last bullet): N processes share
// the port and behave as one server; the listening line is printed once;
// SIGTERM to the primary shuts every worker down gracefully, exit 0. Each
// worker answers /healthz for itself, with a `worker` field saying which.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RedisInstance, startRedis } from '../support/redis.js';
import { type RunningServer, runCli as run, startServer } from '../support/server.js';
import { closeAll, pollUntil, relayClient, type WsClient } from '../support/ws-client.js';

interface WorkerHealth {
  status: string;
  connections: number;
  rooms: number;
  worker: { id: number; pid: number };
  cluster?: { redis: string; nodes: number };
}

const servers: RunningServer[] = [];
const clients: WsClient[] = [];
afterEach(async () => {
  await closeAll(clients.splice(0));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function start(args: string[] = []): Promise<RunningServer> {
  const s = await startServer(['--workers', '2', ...args]);
  servers.push(s);
  return s;
}

async function open(s: RunningServer, n: number): Promise<WsClient[]> {
  const opened = await Promise.all(Array.from({ length: n }, () => relayClient(s.url)));
  clients.push(...opened);
  return opened;
}

const health = async (s: RunningServer): Promise<WorkerHealth> => (await fetch(`${s.httpUrl}/healthz`)).json() as Promise<WorkerHealth>;

/**
 * Every worker's /healthz, by worker id: each request is a new connection that
 * the primary hands to the next worker, so a few requests reach them all.
 * Polls until `done` holds for the set (with a deadline).
 */
async function workerHealth(s: RunningServer, done: (byWorker: Map<number, WorkerHealth>) => boolean): Promise<Map<number, WorkerHealth>> {
  const byWorker = new Map<number, WorkerHealth>();
  return pollUntil(
    async () => {
      const h = await health(s);
      byWorker.set(h.worker.id, h);
      return byWorker;
    },
    done,
    10_000,
    10,
  );
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A room spans the workers: cluster-wide members counts, every publish reaches every member once and in order. */
async function roomSpansWorkers(s: RunningServer): Promise<void> {
  const conns = await open(s, 10);
  // Joins answered one after another report 1, 2, 3, … whichever worker answers.
  for (const [i, c] of conns.entries()) {
    const { reply } = await c.request({ type: 'join', room: 'lobby' });
    expect(reply).toMatchObject({ type: 'joined', room: 'lobby', members: i + 1 });
  }
  const byWorker = await workerHealth(s, (m) => m.size === 2);
  for (const h of byWorker.values()) expect(h.rooms).toBe(1); // members on both workers

  // Two publishers, each with its own sequence, interleaved.
  const [p1, p2] = conns;
  const N = 50;
  for (let i = 0; i < N; i++) {
    p1!.send({ type: 'publish', room: 'lobby', data: { p: 1, i } });
    p2!.send({ type: 'publish', room: 'lobby', data: { p: 2, i } });
  }
  for (const c of conns) {
    const messages = await c.take(2 * N, 10_000);
    for (const m of messages) expect(m).toMatchObject({ type: 'message', room: 'lobby' });
    for (const [p, from] of [[1, p1!.id], [2, p2!.id]] as const) {
      const mine = messages.filter((m) => m.data.p === p);
      expect(mine.map((m) => m.data.i)).toEqual(Array.from({ length: N }, (_, i) => i));
      for (const m of mine) expect(m.from).toBe(from);
    }
  }
  // Nothing more: exactly once.
  for (const c of conns) expect(await c.sync()).toEqual([]);

  // Leaves count cluster-wide too.
  const { reply } = await conns[9]!.request({ type: 'leave', room: 'lobby' });
  expect(reply).toMatchObject({ type: 'left', room: 'lobby', members: 9 });
}

/** Broadcast and send-by-id reach connections on the other worker exactly once. */
async function broadcastAndSendSpanWorkers(s: RunningServer): Promise<void> {
  const conns = await open(s, 8);
  await workerHealth(s, (m) => m.size === 2 && [...m.values()].every((h) => h.connections > 0));
  const [sender] = conns;

  sender!.send({ type: 'broadcast', data: 'hello all' });
  for (const c of conns) expect(await c.next()).toEqual({ type: 'message', from: sender!.id, data: 'hello all' });

  // The sender's own message (it sends to itself too) arrives among its replies.
  const toSender = [];
  for (const [i, c] of conns.entries()) {
    const { reply, before } = await sender!.request({ type: 'send', to: c.id, data: { n: i } });
    expect(reply).toMatchObject({ type: 'sent', to: c.id });
    toSender.push(...before);
  }
  expect([...toSender, ...(await sender!.sync())]).toEqual([{ type: 'message', from: sender!.id, data: { n: 0 } }]);
  for (const [i, c] of conns.entries()) {
    if (i === 0) continue;
    expect([await c.next(), ...(await c.sync())]).toEqual([{ type: 'message', from: sender!.id, data: { n: i } }]);
  }

  const { reply } = await conns[1]!.request({ type: 'send', to: 'no-such-id', data: 1 });
  expect(reply).toMatchObject({ type: 'error', code: 'unknown_connection' });
}

describe('rxws --workers: flags', () => {
  it('--help lists --workers', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--workers');
  });

  it.each([['0'], ['-1'], ['two'], ['1.5'], ['']])('--workers %j: one line on stderr, exit 2, nothing started', async (value) => {
    const r = await run(['--port', '0', '--workers', value]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('--workers');
  });
});

describe('rxws --workers 2: a port already taken', () => {
  it('one line on stderr (not one per worker), exit 2', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const port = (holder.address() as net.AddressInfo).port;
      const r = await run(['--host', '127.0.0.1', '--port', String(port), '--workers', '2']);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('EADDRINUSE')]);
    } finally {
      holder.close();
    }
  });
});

describe('rxws --workers 2', () => {
  it('connections land on both workers; every id differs; the listening line is printed once', async () => {
    const s = await start();
    const conns = await open(s, 20);
    expect(new Set(conns.map((c) => c.id)).size).toBe(20);
    const byWorker = await workerHealth(s, (m) => m.size === 2);
    expect([...byWorker.keys()].sort()).toEqual([0, 1]);
    const [a, b] = [...byWorker.values()];
    expect(a!.worker.pid).not.toBe(b!.worker.pid);
    expect(a!.worker.pid).not.toBe(s.proc.pid);
    // Both took a share, and together they hold all 20.
    expect(a!.connections).toBeGreaterThan(0);
    expect(b!.connections).toBeGreaterThan(0);
    expect(a!.connections + b!.connections).toBe(20);
    expect(s.stdout().match(/listening on ws:\/\//g)).toHaveLength(1);
  });

  it('a room spans the workers: cluster-wide members counts, every publish reaches every member once and in order', async () => {
    await roomSpansWorkers(await start());
  });

  it('broadcast and send-by-id reach connections on the other worker exactly once', async () => {
    await broadcastAndSendSpanWorkers(await start());
  });

  it('a worker SIGKILLed is replaced; the other worker and its connections carry on; its members leave the counts', async () => {
    const s = await start();
    const conns = await open(s, 10);
    for (const c of conns) await c.request({ type: 'join', room: 'r' });
    const before = await workerHealth(s, (m) => m.size === 2);
    const victim = before.get(0)!;
    const survivorPid = before.get(1)!.worker.pid;
    process.kill(victim.worker.pid, 'SIGKILL');

    // The victim's connections drop (no close frame: 1006); exactly the others stay open.
    const outcomes = await Promise.all(conns.map((c) => c.sync().then(() => 'open', async () => (await c.closed).code)));
    const alive = conns.filter((_, i) => outcomes[i] === 'open');
    expect(outcomes.filter((o) => o === 1006)).toHaveLength(victim.connections);
    expect(alive).toHaveLength(10 - victim.connections);

    // Slot 0 gets a new process; slot 1 is the same process as before.
    const after = await workerHealth(s, (m) => m.get(0)?.worker.pid !== victim.worker.pid && m.size === 2);
    expect(after.get(0)!.worker.pid).not.toBe(victim.worker.pid);
    expect(after.get(1)!.worker.pid).toBe(survivorPid);
    expect(s.stderr()).toContain('restarting');

    // The dead worker's members left the counts at once; survivors keep relaying, also to new connections on the new worker.
    const newcomers = await open(s, 4);
    await workerHealth(s, (m) => (m.get(0)?.connections ?? 0) > 0 && m.get(0)!.worker.pid !== victim.worker.pid);
    for (const [i, c] of newcomers.entries()) {
      const { reply } = await c.request({ type: 'join', room: 'r' });
      expect(reply.members).toBe(alive.length + i + 1);
    }
    alive[0]!.send({ type: 'publish', room: 'r', data: 'after the crash' });
    for (const c of [...alive, ...newcomers]) expect(await c.next()).toMatchObject({ type: 'message', data: 'after the crash' });
  });

  it('SIGTERM to the primary: every client gets everything published before, then 1001; the command exits 0', async () => {
    const s = await start(['--shutdown-grace', '3000']);
    const conns = await open(s, 6);
    for (const c of conns) await c.request({ type: 'join', room: 'last-words' });
    const workers = await workerHealth(s, (m) => m.size === 2 && [...m.values()].every((h) => h.rooms === 1));
    const N = 200;
    const [publisher] = conns;
    for (let i = 0; i < N; i++) publisher!.send({ type: 'publish', room: 'last-words', data: i });
    // The publisher's worker has accepted them all once it answers this send to itself (answered by that
    // worker alone, so the publishes may still be on their way to the other worker when the signal lands).
    const { before } = await publisher!.request({ type: 'send', to: publisher!.id, data: 'self' });
    publisher!.queue.unshift(...before.filter((m) => m.data !== 'self'));

    const code = s.stop('SIGTERM');
    const closes = await Promise.all(conns.map((c) => c.closed));
    for (const close of closes) expect(close.code).toBe(1001);
    for (const c of conns) {
      const data = c.queue.filter((m) => m.type === 'message').map((m) => m.data);
      expect(data).toEqual(Array.from({ length: N }, (_, i) => i));
    }
    expect(await code).toBe(0);
    expect(s.stdout().match(/listening on ws:\/\//g)).toHaveLength(1);
    // Every worker is gone with the primary.
    for (const h of workers.values()) expect(isRunning(h.worker.pid)).toBe(false);
  });
});

describe('rxws --workers 2 --redis URL', () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('the workers are two nodes of the Redis cluster: rooms, counts, broadcast and send span them', async () => {
    const s = await start(['--redis', redis.url, '--cluster', 'workers-test']);
    // Each worker answers for itself and sees both nodes through Redis.
    const byWorker = await workerHealth(s, (m) => m.size === 2 && [...m.values()].every((h) => h.cluster?.nodes === 2));
    for (const h of byWorker.values()) expect(h.cluster).toEqual({ redis: 'up', nodes: 2 });
    await roomSpansWorkers(s);
    await broadcastAndSendSpanWorkers(s);
  });

  it('SIGTERM to the primary: every worker leaves Redis before it exits; exit 0', async () => {
    const s = await start(['--redis', redis.url, '--cluster', 'workers-leave']);
    const conns = await open(s, 4);
    for (const c of conns) await c.request({ type: 'join', room: 'r' });
    await workerHealth(s, (m) => m.size === 2 && [...m.values()].every((h) => h.rooms === 1 && h.cluster?.nodes === 2));
    expect(((await redis.command('KEYS', 'rxws:workers-leave:*')) as string[]).length).toBeGreaterThan(0);
    const code = s.stop('SIGTERM');
    for (const c of conns) expect((await c.closed).code).toBe(1001);
    expect(await code).toBe(0);
    expect(await redis.command('KEYS', 'rxws:workers-leave:*')).toEqual([]);
  });
});
