// PROTOCOL.md "Cluster (--redis URL)" end to end: three `rxws --redis` nodes
// and a private redis-server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allKeys, channels, eventually, healthOf, join, leave, startNode } from '../support/cluster.js';
import { type RedisInstance, startRedis } from '../support/redis.js';
import type { RunningServer } from '../support/server.js';
import { closeAll, relayClient, type WsClient } from '../support/ws-client.js';

/** Takes messages up to and including the one whose data is `marker`; fails on anything but `message`s. */
async function messagesUntil(client: WsClient, marker: string): Promise<unknown[]> {
  const data: unknown[] = [];
  for (;;) {
    const m = await client.next();
    if (m.type !== 'message') throw new Error(`expected a message, got ${JSON.stringify(m)}`);
    if (m.data === marker) return data;
    data.push(m.data);
  }
}

describe('rxws cluster: three nodes, one Redis', () => {
  let redis: RedisInstance;
  let nodes: RunningServer[] = [];
  const clients: WsClient[] = [];
  const client = async (node: RunningServer) => {
    const c = await relayClient(node.url);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await Promise.all([0, 1, 2].map(() => startNode(redis.url)));
    // Each node learns the number of live nodes at its heartbeat (every second).
    for (const node of nodes) await eventually(async () => (await healthOf(node)).cluster?.nodes === 3, 5000, 'three nodes');
  });
  afterAll(async () => {
    await closeAll(clients);
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await redis?.stop();
  });

  it('healthz has a cluster field: redis up, three nodes; connections and rooms count this node', async () => {
    for (const node of nodes) {
      expect(await healthOf(node)).toEqual({ status: 'ok', connections: 0, rooms: 0, cluster: { redis: 'up', nodes: 3 } });
    }
  });

  it('ids differ across nodes; members counts the cluster: joins one after another on different nodes report 1, 2, 3', async () => {
    const [a, b, c] = [await client(nodes[0]!), await client(nodes[1]!), await client(nodes[2]!)];
    expect(new Set([a.id, b.id, c.id]).size).toBe(3);
    expect(await join(a, 'count')).toBe(1);
    expect(await join(b, 'count')).toBe(2);
    expect(await join(c, 'count')).toBe(3);
    expect(await join(b, 'count')).toBe(3); // idempotent
    expect(await leave(a, 'count')).toBe(2);
    expect(await leave(a, 'count')).toBe(2);
    expect(await join(a, 'count')).toBe(3);
    const b2 = await client(nodes[1]!);
    expect(await join(b2, 'count')).toBe(4);
    await b2.close();
    // The closed connection left its room; the next answer on another node says so.
    await eventually(async () => (await leave(c, 'count')) === 2, 2000, 'the closed member gone from the count');
  });

  it('publish reaches every member on every node exactly once, in the order its publisher sent', async () => {
    const members = [await client(nodes[0]!), await client(nodes[1]!), await client(nodes[2]!), await client(nodes[2]!)];
    const outsider = await client(nodes[1]!);
    for (const m of members) await join(m, 'ordered');
    const publisher = members[0]!;
    const N = 300;
    for (let i = 0; i < N; i++) publisher.send({ type: 'publish', room: 'ordered', data: i });
    publisher.send({ type: 'publish', room: 'ordered', data: 'end' });
    const expected = Array.from({ length: N }, (_, i) => i);
    for (const m of members) expect(await messagesUntil(m, 'end')).toEqual(expected);
    // Every message carried the room and the publisher's id; a non-member got none of them.
    outsider.send({ type: 'broadcast', data: 'end' });
    for (const c of clients.filter((c) => c.isOpen)) expect(await messagesUntil(c, 'end')).toEqual([]);
  });

  it('a publish message names the room and the publisher, on a remote node too', async () => {
    const [a, c] = [await client(nodes[0]!), await client(nodes[2]!)];
    await join(c, 'named');
    a.send({ type: 'publish', room: 'named', data: { x: [1, 'y'] } });
    expect(await c.next()).toEqual({ type: 'message', room: 'named', from: a.id, data: { x: [1, 'y'] } });
  });

  it('broadcast reaches every open connection on every node exactly once and in order; send reaches an id on another node', async () => {
    const all = [await client(nodes[0]!), await client(nodes[1]!), await client(nodes[2]!)];
    const sender = all[1]!;
    for (let i = 0; i < 100; i++) sender.send({ type: 'broadcast', data: i });
    sender.send({ type: 'broadcast', data: 'end' });
    const expected = Array.from({ length: 100 }, (_, i) => i);
    // Every client opened by earlier tests and still open receives the broadcast too.
    for (const c of clients.filter((c) => c.isOpen)) {
      const got = await messagesUntil(c, 'end');
      expect(got.filter((d) => typeof d === 'number')).toEqual(expected);
    }

    const [a, , c] = all;
    const { reply, before } = await a!.request({ type: 'send', to: c!.id, data: 'hello C' });
    expect(before).toEqual([]);
    expect(reply).toMatchObject({ type: 'sent', to: c!.id });
    expect(await c!.next()).toEqual({ type: 'message', from: a!.id, data: 'hello C' });
    const unknown = await a!.request({ type: 'send', to: 'no-such-id', data: 1 });
    expect(unknown.reply).toMatchObject({ type: 'error', code: 'unknown_connection' });
    // Replies keep the order of their commands, whichever needed the cluster.
    const texts = a!.texts.length;
    a!.send({ type: 'send', to: c!.id, data: 1, ref: 1 });
    a!.send({ type: 'join', room: 'order', ref: 2 });
    a!.send({ type: 'nonsense', ref: 3 });
    a!.send({ type: 'send', to: a!.id, data: 4, ref: 4 });
    a!.send({ type: 'leave', room: 'order', ref: 5 });
    await a!.take(6);
    const refs = a!.texts.slice(texts).map((t) => JSON.parse(t)).filter((m) => m.ref !== undefined).map((m) => m.ref);
    expect(refs).toEqual([1, 2, 3, 4, 5]);
  });

  it('500 join/leave cycles leave no room keys or channels behind; a graceful exit removes the node; a killed node drops out within 15 s', async () => {
    const [a, b] = [await client(nodes[0]!), await client(nodes[1]!)];
    for (let i = 0; i < 500; i++) {
      a.send({ type: 'join', room: `cycle-${i}` });
      b.send({ type: 'join', room: `cycle-${i % 7}` });
      a.send({ type: 'leave', room: `cycle-${i}` });
      b.send({ type: 'leave', room: `cycle-${i % 7}` });
    }
    await a.sync(10_000);
    await b.sync(10_000);
    const cycleKeys = (await allKeys(redis)).filter((k) => k.includes('cycle-'));
    expect(cycleKeys).toEqual([]);
    expect((await channels(redis)).filter((c) => c.includes('cycle-'))).toEqual([]);

    // Node 2 (C) holds a member of 'count' and connections; SIGKILL it.
    await join(await client(nodes[2]!), 'count');
    const survivor = await client(nodes[0]!);
    const before = await join(survivor, 'count');
    const killedAt = Date.now();
    await nodes[2]!.stop('SIGKILL');
    const converged = await eventually(
      async () => (await healthOf(nodes[0]!)).cluster?.nodes === 2 && (await join(survivor, 'count')) === before - 1,
      15_000,
      'the killed node out of nodes and counts',
    );
    console.log(`cluster: a SIGKILLed node dropped out of counts and nodes after ${Date.now() - killedAt} ms (poll ${converged} ms)`);
    const killedIds = clients.filter((x) => !x.isOpen).map((x) => x.id);
    expect(killedIds.length).toBeGreaterThan(0);
    for (const id of killedIds) {
      expect((await survivor.request({ type: 'send', to: id, data: 1 })).reply).toMatchObject({ type: 'error', code: 'unknown_connection' });
    }

    // Node 1 (B) shuts down gracefully: it leaves at once, exit code 0.
    const membersWithB = await join(survivor, 'count');
    expect(await nodes[1]!.stop('SIGTERM')).toBe(0);
    expect(await join(survivor, 'count')).toBeLessThan(membersWithB);
    await eventually(async () => (await healthOf(nodes[0]!)).cluster?.nodes === 1, 3000, 'one node left');

    // The last node exits gracefully too: the killed node's entries were collected when it dropped
    // out, B and A removed their own, so nothing is left in Redis.
    await closeAll(clients);
    expect(await nodes[0]!.stop('SIGTERM')).toBe(0);
    expect(await allKeys(redis)).toEqual([]);
    expect(await channels(redis)).toEqual([]);
  });
});
