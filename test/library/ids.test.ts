import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, WebSocketServer } from '../../src/index.js';
import { newConnectionId } from '../../src/server/ids.js';
import { RawClient } from '../support/raw-client.js';

const ID = /^[A-Za-z0-9_-]{16}$/; // 12 random bytes in base64url

describe('connection ids are random, 96 bits, URL-safe', () => {
  const servers: WebSocketServer[] = [];
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('two servers (two cluster nodes) hand out ids of 16 URL-safe characters that no counter predicts', async () => {
    const ids: string[] = [];
    for (let node = 0; node < 2; node++) {
      const server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0 });
      servers.push(server);
      const { port } = await server.listen();
      for (let i = 0; i < 3; i++) {
        const opened: Promise<Connection> = firstValueFrom(server.connections$);
        clients.push(await RawClient.connect(port));
        const conn = await opened;
        expect(conn.id).toMatch(ID);
        expect(server.connection(conn.id)).toBe(conn);
        ids.push(conn.id);
      }
    }
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('100,000 ids (several pool refills) are all distinct and use the whole alphabet', () => {
    const ids = new Set<string>();
    const chars = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = newConnectionId();
      expect(id).toMatch(ID);
      ids.add(id);
      for (const c of id) chars.add(c);
    }
    expect(ids.size).toBe(100_000);
    expect(chars.size).toBe(64);
  });
});
