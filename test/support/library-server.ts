import { firstValueFrom } from 'rxjs';
import { expect } from 'vitest';
import { type Connection, type ServerOptions, WebSocketServer } from '../../src/index.js';
import { RawClient } from './raw-client.js';

/** Servers and clients started by `start`/`connect`; the test file's afterEach closes them. */
export const servers: WebSocketServer<never>[] = [];
export const clients: RawClient[] = [];

/** A library server on a free port of 127.0.0.1, heartbeat off unless asked for, short timeouts. */
export async function start<S = Record<string, unknown>>(options: ServerOptions<S> = {}): Promise<{ server: WebSocketServer<S>; port: number }> {
  const server = new WebSocketServer<S>({
    port: 0,
    host: '127.0.0.1',
    heartbeatInterval: 0,
    closeTimeout: 1000,
    shutdownGrace: 1000,
    ...options,
  });
  servers.push(server as unknown as WebSocketServer<never>);
  const { port } = await server.listen();
  return { server, port };
}

/** Connects a RawClient and returns it with the server's Connection for it. */
export async function connect<S>(server: WebSocketServer<S>, port: number): Promise<{ client: RawClient; conn: Connection<S> }> {
  const opened = firstValueFrom(server.connections$);
  const client = await RawClient.connect(port);
  clients.push(client);
  expect(client.status).toBe(101);
  return { client, conn: await opened };
}
