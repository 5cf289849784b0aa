// The rxws command as a process: its uncaughtException policy and the meaning of 0 for --max-connections.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../support/server.js';
import { closeAll, tryUpgrade, WsClient } from '../support/ws-client.js';
import type { RawClient } from '../support/raw-client.js';

const INJECT = fileURLToPath(new URL('../fixtures/inject-uncaught.mjs', import.meta.url));

const servers: RunningServer[] = [];
const clients: (WsClient | RawClient)[] = [];
afterEach(async () => {
  await closeAll(clients.splice(0));
  await Promise.all(servers.splice(0).map((s) => s.stop('SIGKILL')));
});

describe('rxws: process policies', () => {
  it('an uncaught exception is logged, connections are closed gracefully (1001), and the process exits 1', async () => {
    const server = await startServer(['--echo'], { NODE_OPTIONS: `--import=${INJECT}` });
    servers.push(server);
    const client = await WsClient.open(server.url);
    clients.push(client);
    client.send('before');
    expect(await client.next()).toBe('before');
    server.proc.kill('SIGUSR2');
    expect((await client.closed).code).toBe(1001);
    expect(await server.stop('SIGCONT')).toBe(1); // SIGCONT: a no-op signal; just wait for the exit
    expect(server.stderr()).toContain('rxws: uncaught exception, shutting down');
    expect(server.stderr()).toContain('injected uncaught exception');
  });

  it('--max-connections 0 means unlimited (like every other numeric flag, 0 = off)', async () => {
    const server = await startServer(['--echo', '--max-connections', '0']);
    servers.push(server);
    for (let i = 0; i < 3; i++) {
      const { status, client } = await tryUpgrade(server.port);
      if (client) clients.push(client);
      expect(status).toBe(101);
    }
  });
});
