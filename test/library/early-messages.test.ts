import { firstValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type MessageData, Opcode, type WebSocketServer } from '../../src/index.js';
import { clients, connect, servers, start } from '../support/library-server.js';
import { closePayload } from '../support/raw-client.js';
import { until } from '../support/waiter.js';

const { Text: TEXT, Binary: BINARY, Close: CLOSE, Ping: PING, Pong: PONG } = Opcode;
const KIB = 1024;

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Waits until the server has read `n` messages (none of them delivered: nobody subscribed yet). */
const received = (server: WebSocketServer, n: number) => until(() => server.stats.messagesReceived >= n, `${n} messages read`);

describe('messages that arrive before the first subscriber are held for it', () => {
  it('a handler that awaits before subscribing still gets m1 and m2, in order, then m3', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    await client.send({ opcode: TEXT, payload: 'm1' });
    await client.send({ opcode: TEXT, payload: 'm2' });
    await received(server, 2); // the "database lookup" is still going on
    const got: MessageData[] = [];
    conn.messages$.subscribe((m) => got.push(m));
    expect(got).toEqual(['m1', 'm2']); // handed over on subscription
    await client.send({ opcode: TEXT, payload: 'm3' });
    await until(() => got.length === 3, 'm3');
    expect(got).toEqual(['m1', 'm2', 'm3']);
  });

  it('only the first subscriber gets the held messages; later ones see what arrives after they subscribe', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    await client.send({ opcode: TEXT, payload: 'early' });
    await received(server, 1);
    const first: MessageData[] = [];
    const second: MessageData[] = [];
    conn.messages$.subscribe((m) => first.push(m));
    conn.messages$.subscribe((m) => second.push(m));
    await client.send({ opcode: TEXT, payload: 'late' });
    await until(() => second.length === 1, 'late');
    expect(first).toEqual(['early', 'late']);
    expect(second).toEqual(['late']);
  });

  it('pings are answered and the peer closing is handled while messages are held; a subscriber after the close still gets them, then completion', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    await client.send({ opcode: TEXT, payload: 'before ping' });
    await client.send({ opcode: PING, payload: 'p' });
    const pong = await client.nextFrame();
    expect([pong.opcode, pong.payload.toString()]).toEqual([PONG, 'p']);
    await client.send({ opcode: BINARY, payload: Buffer.from([1, 2, 3]) });
    await client.send({ opcode: CLOSE, payload: closePayload(1000, 'bye') });
    const outcome = await client.closeOutcome();
    expect(outcome.code).toBe(1000);
    const event = await firstValueFrom(conn.closed$);
    expect(event.wasClean).toBe(true);
    const all = await firstValueFrom(conn.messages$.pipe(toArray()));
    expect(all).toEqual(['before ping', Buffer.from([1, 2, 3])]);
  });

  it('held bytes are bounded by maxBufferedBytes: past it reading stops (TCP pushes back) until the subscriber comes, and nothing is lost', async () => {
    const { server, port } = await start({ maxBufferedBytes: 64 * KIB });
    const { client, conn } = await connect(server, port);
    const count = 40;
    const message = (i: number) => Buffer.alloc(16 * KIB, i);
    for (let i = 0; i < count; i++) await client.send({ opcode: BINARY, payload: message(i) });
    // 5 × 16 KiB passes 64 KiB: the server stops reading there, whatever the client keeps sending.
    await received(server, 5);
    await new Promise((r) => setTimeout(r, 100));
    expect(server.stats.messagesReceived).toBeLessThan(count);
    expect(conn.socket.isPaused()).toBe(true);
    const got: Buffer[] = [];
    conn.messages$.subscribe((m) => got.push(m as Buffer));
    await until(() => got.length === count, `all ${count} messages`);
    expect(got.map((b) => b[0])).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(conn.socket.isPaused()).toBe(false);
  });

  it('the server closing a connection whose held messages filled the budget still completes the close handshake', async () => {
    const { server, port } = await start({ maxBufferedBytes: 16 * KIB });
    const { client, conn } = await connect(server, port);
    for (let i = 0; i < 10; i++) await client.send({ opcode: BINARY, payload: Buffer.alloc(8 * KIB, i) });
    await received(server, 2);
    await until(() => conn.socket.isPaused(), 'reading paused');
    conn.close(1000, 'done');
    // The client answers our close after the messages it already sent: they must be read to get to it.
    const outcome = await client.closeOutcome();
    expect(outcome.code).toBe(1000);
    await client.send({ opcode: CLOSE, payload: closePayload(1000) });
    const event = await firstValueFrom(conn.closed$);
    expect(event.wasClean).toBe(true);
  });
});
