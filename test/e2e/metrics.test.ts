// GET /metrics of the rxws command, as PROTOCOL.md "Metrics" says, checked by promtool.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';
import { closeAll, relayClient, WsClient } from '../support/ws-client.js';

const PROMTOOL = process.env.PROMTOOL ?? '/usr/bin/promtool';

const servers: RunningServer[] = [];
const clients: WsClient[] = [];
afterEach(async () => {
  await closeAll(clients.splice(0));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

/** Every sample of `text` as "name{labels}" → value. */
function samples(text: string): Map<string, number> {
  const map = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    map.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return map;
}

describe('rxws: GET /metrics', () => {
  it.each([[[]], [['--echo']]])('answers the Prometheus text format that promtool accepts (args %j)', async (args: string[]) => {
    if (!existsSync(PROMTOOL)) throw new Error(`promtool not found at ${PROMTOOL}: apt-get install prometheus (or set PROMTOOL)`);
    const server = await startServer(args);
    servers.push(server);
    const res = await fetch(`${server.httpUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    for (const name of [
      'rxws_connections',
      'rxws_rooms',
      'rxws_messages_received_total',
      'rxws_messages_sent_total',
      'rxws_bytes_received_total',
      'rxws_bytes_sent_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(samples(text).has(name), name).toBe(true);
    }
    expect(text).toContain('# TYPE rxws_connections_closed_total counter');
    expect(text).toContain('# TYPE rxws_handshake_rejections_total counter');
  });

  it('counts what happened: connections, rooms, fan-out, closes by code, rejections by status', async () => {
    const server = await startServer();
    servers.push(server);
    const a = await relayClient(server.url);
    const b = await relayClient(server.url);
    clients.push(a, b);
    await a.request({ type: 'join', room: 'm' });
    await b.request({ type: 'join', room: 'm' });
    a.send({ type: 'broadcast', data: 'hi' });
    await a.next();
    await b.next();
    let m = samples(await (await fetch(`${server.httpUrl}/metrics`)).text());
    expect(m.get('rxws_connections')).toBe(2);
    expect(m.get('rxws_rooms')).toBe(1);
    expect(m.get('rxws_messages_received_total')).toBe(3);
    expect(m.get('rxws_messages_sent_total')).toBe(6); // 2 welcomes, 2 joined, a broadcast to 2
    expect(m.get('rxws_bytes_received_total')).toBeGreaterThan(3 * 20);
    expect(m.get('rxws_bytes_sent_total')).toBeGreaterThan(2 * 129); // at least two 101 responses
    await a.close(4000);
    const bad = await RawClient.connect(server.port, { request: 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n' });
    expect(bad.status).toBe(400);
    bad.destroy();
    m = samples(await (await fetch(`${server.httpUrl}/metrics`)).text());
    expect(m.get('rxws_connections_closed_total{code="other"}')).toBe(1); // 4000: an application's code
    expect(m.get('rxws_handshake_rejections_total{status="400"}')).toBe(1);
    expect(m.get('rxws_connections')).toBe(1);
  });

  it('--no-metrics: 404', async () => {
    const server = await startServer(['--no-metrics']);
    servers.push(server);
    expect((await fetch(`${server.httpUrl}/metrics`)).status).toBe(404);
  });
});

describe('examples/metrics.mjs (the README example)', () => {
  const EXAMPLE = fileURLToPath(new URL('../../examples/metrics.mjs', import.meta.url));

  it('is quoted in the README as it is', () => {
    const code = readFileSync(EXAMPLE, 'utf8').split('\n').filter((line) => !line.startsWith('//')).join('\n').trim();
    expect(readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8')).toContain(code);
  });

  it('serves /metrics from the application\'s registry, counting the echo', async () => {
    const proc = spawn(process.execPath, [EXAMPLE, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        proc.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d;
          const m = /listening on ws:\/\/[^:]+:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        proc.once('exit', (code) => reject(new Error(`example exited with ${code}`)));
      });
      const client = await WsClient.open(`ws://127.0.0.1:${port}/`);
      clients.push(client);
      client.send('ping me');
      expect(await client.next()).toBe('ping me');
      const m = samples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      expect(m.get('rxws_messages_received_total')).toBe(1);
      expect(m.get('rxws_messages_sent_total')).toBe(1);
      expect(m.get('rxws_connections')).toBe(1);
      expect(m.has('process_resident_memory_bytes')).toBe(true);
    } finally {
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    }
  });
});
