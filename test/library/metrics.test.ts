import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, relay, type ServerOptions, WebSocketServer } from '../../src/index.js';
import { RawClient } from '../support/raw-client.js';
import { pollUntil } from '../support/ws-client.js';

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** The value of one series in `registry` (labels as given), or undefined. */
async function valueOf(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (metric === undefined) return undefined;
  const { values } = await metric.get();
  const found = values.find((v) => Object.entries(labels).every(([k, l]) => String(v.labels[k]) === l));
  return found?.value;
}

describe('metrics option (your own prom-client Registry)', () => {
  const servers: WebSocketServer[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  async function start(registry: Registry, options: ServerOptions<Record<string, unknown>> = {}) {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, closeTimeout: 200, metrics: registry, ...options });
    servers.push(server);
    const { port } = await server.listen();
    return { server, port };
  }
  async function connect(server: WebSocketServer, port: number, request?: false): Promise<{ client: RawClient; conn: Connection }> {
    const opened = firstValueFrom(server.connections$);
    const client = await RawClient.connect(port, request === false ? { request: false } : {});
    clients.push(client);
    return { client, conn: await opened };
  }

  it('counts messages (a fan-out to N counts N), wire bytes, closes by code and rejected handshakes', async () => {
    const registry = new Registry();
    const { server, port } = await start(registry);
    relay(server);
    const a = await connect(server, port);
    const b = await connect(server, port);
    await a.client.nextFrame(); // welcomes
    await b.client.nextFrame();
    for (const { client } of [a, b]) {
      await client.send({ opcode: 1, payload: '{"type":"join","room":"r"}' });
      await client.nextFrame();
    }
    await a.client.send({ opcode: 1, payload: '{"type":"publish","room":"r","data":1}' });
    await a.client.nextFrame();
    await b.client.nextFrame();
    expect(await valueOf(registry, 'rxws_connections')).toBe(2);
    expect(await valueOf(registry, 'rxws_rooms')).toBe(1);
    expect(await valueOf(registry, 'rxws_messages_received_total')).toBe(3);
    expect(await valueOf(registry, 'rxws_messages_sent_total')).toBe(6); // 2 welcomes, 2 joined, the publish to 2 members
    const sentOpen = (await valueOf(registry, 'rxws_bytes_sent_total'))!;
    const receivedOpen = (await valueOf(registry, 'rxws_bytes_received_total'))!;
    expect(sentOpen).toBe(a.conn.socket.bytesWritten + b.conn.socket.bytesWritten);
    expect(receivedOpen).toBe(a.conn.socket.bytesRead + b.conn.socket.bytesRead);

    // a clean close (1000) and a lost connection (1006); bytes of closed connections are kept
    const closed = [firstValueFrom(a.conn.closed$), firstValueFrom(b.conn.closed$)];
    await a.client.send({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
    b.client.destroy();
    await Promise.all(closed);
    expect(await valueOf(registry, 'rxws_connections_closed_total', { code: '1000' })).toBe(1);
    expect(await valueOf(registry, 'rxws_connections_closed_total', { code: '1006' })).toBe(1);
    expect(await valueOf(registry, 'rxws_connections')).toBe(0);
    expect(await valueOf(registry, 'rxws_bytes_sent_total')).toBeGreaterThan(sentOpen); // the close reply
    expect(await valueOf(registry, 'rxws_bytes_received_total')).toBeGreaterThan(receivedOpen);

    // a bad upgrade (no Sec-WebSocket-Key) → 400
    const bad = await RawClient.connect(port, { request: 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n' });
    clients.push(bad);
    expect(bad.status).toBe(400);
    expect(await valueOf(registry, 'rxws_handshake_rejections_total', { status: '400' })).toBe(1);
  });

  it('closes by code: a bounded label set, whatever codes clients choose (RFC codes by value, 3000–4999 as "other")', async () => {
    const registry = new Registry();
    const { server, port } = await start(registry);
    const N = 300;
    const closed: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const { client, conn } = await connect(server, port);
      closed.push(firstValueFrom(conn.closed$));
      // every client its own application code: 3000 … 3149, 4000 … 4149
      const code = i % 2 === 0 ? 3000 + i / 2 : 4000 + (i - 1) / 2;
      await client.send({ opcode: 8, payload: Buffer.from([code >> 8, code & 0xff]) });
    }
    const { client, conn } = await connect(server, port);
    closed.push(firstValueFrom(conn.closed$));
    await client.send({ opcode: 8, payload: Buffer.from([0x03, 0xe9]) }); // 1001
    await Promise.all(closed);
    const { values } = await registry.getSingleMetric('rxws_connections_closed_total')!.get();
    expect(values.map((v) => v.labels.code).sort()).toEqual(['1001', 'other']);
    expect(await valueOf(registry, 'rxws_connections_closed_total', { code: 'other' })).toBe(N);
    expect(await valueOf(registry, 'rxws_connections_closed_total', { code: '1001' })).toBe(1);
  });

  it('counts messages dropped by the slow-consumer policy "drop"', async () => {
    const registry = new Registry();
    const { server, port } = await start(registry, { slowConsumer: 'drop', maxBufferedBytes: 1024 });
    const { conn } = await connect(server, port);
    const big = Buffer.alloc(2000);
    expect(conn.send(big)).toBe(true); // under budget when queued
    expect(conn.send(big)).toBe(false); // over it: dropped
    expect(conn.send(big)).toBe(false);
    expect(await valueOf(registry, 'rxws_messages_dropped_slow_consumer_total')).toBe(2);
  });

  it('counts messages dropped by rate limiting', async () => {
    const registry = new Registry();
    const { server, port } = await start(registry);
    relay(server, { rateLimit: 2 });
    const { client } = await connect(server, port);
    for (let i = 0; i < 10; i++) await client.send({ opcode: 1, payload: '{"type":"leave","room":"x"}' });
    // 2 pass (burst 2), the rest are dropped unless the bucket refilled meanwhile
    await pollUntil(() => valueOf(registry, 'rxws_messages_received_total'), (received) => received === 10);
    const dropped = (await valueOf(registry, 'rxws_messages_dropped_rate_limited_total'))!;
    expect(dropped).toBeGreaterThanOrEqual(1);
    expect(dropped).toBeLessThanOrEqual(8);
  });

  it('serves GET /metrics from the registry when listening on its own; without the option there is no /metrics', async () => {
    const registry = new Registry();
    const { port } = await start(registry);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await res.text()).toContain('# TYPE rxws_connections gauge');
    const plain = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0 });
    servers.push(plain);
    const { port: plainPort } = await plain.listen();
    expect((await fetch(`http://127.0.0.1:${plainPort}/metrics`)).status).toBe(404);
  });

  it('a server without metrics never loads prom-client', () => {
    const script = `import { createRequire } from 'node:module';
      import { WebSocketServer } from ${JSON.stringify(DIST)};
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
      await server.listen();
      await server.close();
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('prom-client'));
      process.stdout.write(JSON.stringify(loaded));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual([]);
  });
});
