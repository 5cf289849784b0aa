import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from '../../src/index.js';
import { RawClient } from '../support/raw-client.js';
import { pollUntil } from '../support/ws-client.js';

const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

describe('server lifecycle', () => {
  it('a server that is constructed but never listens does not keep the process alive', async () => {
    const script = `import { WebSocketServer } from ${JSON.stringify(DIST)};
      new WebSocketServer({ port: 0, heartbeatInterval: 1000 });
      process.stdout.write('constructed\\n');`;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    // The process must exit by itself; if a timer holds it, the deadline kills it and the test fails.
    const deadline = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    const [code, signal] = (await once(proc, 'exit')) as [number | null, NodeJS.Signals | null];
    clearTimeout(deadline);
    expect(out).toBe('constructed\n');
    expect({ code, signal }).toEqual({ code: 0, signal: null });
  });

  it('connections$ and errors$ complete once the server has closed', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 50, shutdownGrace: 100 });
    const completed: string[] = [];
    server.connections$.subscribe({ complete: () => completed.push('connections$') });
    server.errors$.subscribe({ complete: () => completed.push('errors$') });
    const { port } = await server.listen();
    const client = await RawClient.connect(port);
    await server.close();
    client.destroy();
    expect(completed.sort()).toEqual(['connections$', 'errors$']);
    // Subscribing after the close completes at once.
    let late = false;
    server.connections$.subscribe({ complete: () => (late = true) });
    expect(late).toBe(true);
  });

  it('connections() iterates the open connections, in the order they opened', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, shutdownGrace: 100 });
    const { port } = await server.listen();
    const ids: string[] = [];
    server.connections$.subscribe((conn) => ids.push(conn.id));
    const clients = [await RawClient.connect(port), await RawClient.connect(port), await RawClient.connect(port)];
    await pollUntil(async () => ids.length, (n) => n === 3);
    expect([...server.connections()].map((c) => c.id)).toEqual(ids);
    clients[1]!.destroy();
    await pollUntil(async () => server.connectionCount, (n) => n === 2);
    expect([...server.connections()].map((c) => c.id)).toEqual([ids[0], ids[2]]);
    for (const c of clients) c.destroy();
    await server.close();
  });
});
