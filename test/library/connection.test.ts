import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type CloseEvent, type Connection, Opcode } from '../../src/index.js';
import { clients, connect, servers, start } from '../support/library-server.js';
import { closePayload, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';
import { Waiter } from '../support/waiter.js';

const TEXT = 1;
const CLOSE = 8;
const PING = 9;
const PONG = 10;
const KIB = 1024;

const processes: RunningServer[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await Promise.all(processes.splice(0).map((p) => p.stop('SIGKILL')));
});

/** Polls `ready` until true (rejects after `timeoutMs`). */
async function until(ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const waiter = new Waiter();
  const timer = setInterval(() => waiter.wake(), 10);
  try {
    await waiter.until(ready, timeoutMs, what);
  } finally {
    clearInterval(timer);
  }
}

describe('the close slow-consumer policy keeps the 101 and what send accepted', () => {
  it('onConnect sends 3 × 600 KiB (1 MiB budget): the client gets the 101, the two accepted messages, then close 1008', async () => {
    const results: boolean[] = [];
    const message = (i: number) => Buffer.alloc(600 * KIB, i);
    const { port } = await start({
      onConnect: (conn) => {
        for (let i = 1; i <= 3; i++) results.push(conn.send(message(i)));
      },
    });
    const client = await RawClient.connect(port);
    clients.push(client);
    expect(client.status).toBe(101);
    const outcome = await client.closeOutcome();
    expect(results).toEqual([true, true, false]);
    expect(outcome.before.map((f) => [f.opcode, f.payload.length, f.payload[0]])).toEqual([
      [2, 600 * KIB, 1],
      [2, 600 * KIB, 2],
    ]);
    expect([outcome.code, outcome.reason]).toEqual([1008, 'slow consumer']);
  });

  it('npx rxws --max-buffered 128: the 101 (not counted against the budget) and the welcome arrive', async () => {
    const server = await startServer(['--max-buffered', '128']);
    processes.push(server);
    const client = await RawClient.connect(server.port);
    clients.push(client);
    expect(client.status).toBe(101);
    const welcome = await client.nextFrame();
    expect(welcome.opcode).toBe(TEXT);
    expect(JSON.parse(welcome.payload.toString())).toMatchObject({ type: 'welcome' });
  });

  it('npx rxws --max-buffered 128: a reply over the budget closes with 1008 after the 101 and the welcome', async () => {
    const server = await startServer(['--max-buffered', '128']);
    processes.push(server);
    const client = await RawClient.connect(server.port);
    clients.push(client);
    expect(client.status).toBe(101);
    // Join, then publish 200 bytes to the room: the echo to ourselves is past the 128-byte budget.
    await client.send({ opcode: TEXT, payload: JSON.stringify({ type: 'join', room: 'r' }) });
    await client.send({ opcode: TEXT, payload: JSON.stringify({ type: 'publish', room: 'r', data: 'x'.repeat(200) }) });
    await client.send({ opcode: TEXT, payload: JSON.stringify({ type: 'publish', room: 'r', data: 'y'.repeat(200) }) });
    const outcome = await client.closeOutcome();
    expect(JSON.parse(outcome.before[0]!.payload.toString())).toMatchObject({ type: 'welcome' });
    expect(outcome.code).toBe(1008);
  });
});

describe('close(), ping() and sendMessage() refuse what may not go on the wire, and change nothing', () => {
  it('close(1005), close(1006), close(999), close(5000), close(1000.5) and a reason over 123 bytes throw a RangeError; the connection stays open', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    for (const code of [1004, 1005, 1006, 1015, 999, 2000, 5000, 1000.5]) {
      expect(() => conn.close(code)).toThrow(RangeError);
    }
    expect(() => conn.close(1000, 'é'.repeat(62))).toThrow(/123 bytes/); // 124 bytes
    expect(conn.readyState).toBe('open');
    // Nothing was written: the next frame is this message, and close(1000) still works.
    conn.send('still open');
    expect((await client.nextFrame()).payload.toString()).toBe('still open');
    conn.close(4000, 'x'.repeat(123));
    const outcome = await client.closeOutcome();
    expect([outcome.code, outcome.reason]).toEqual([4000, 'x'.repeat(123)]);
  });

  it('ping(more than 125 bytes), sendMessage(Text, invalid UTF-8) and sendMessage(a reserved or control opcode) throw, and write nothing', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    expect(() => conn.ping(Buffer.alloc(126))).toThrow(RangeError);
    expect(() => conn.sendMessage(Opcode.Text, Buffer.from([0xc3, 0x28]))).toThrow(TypeError);
    for (const opcode of [0, 3, 7, Opcode.Close, Opcode.Ping, Opcode.Pong, 0xb]) {
      expect(() => conn.sendMessage(opcode, Buffer.from('x'))).toThrow(RangeError);
    }
    conn.ping(Buffer.alloc(125, 1)); // the largest allowed
    conn.sendMessage(Opcode.Text, Buffer.from('ok'));
    const ping = await client.nextFrame();
    expect([ping.opcode, ping.payload.length]).toEqual([PING, 125]);
    const text = await client.nextFrame();
    expect([text.opcode, text.payload.toString()]).toEqual([TEXT, 'ok']);
    expect(conn.readyState).toBe('open');
  });
});

describe('the close handshake', () => {
  it('answers a ping that arrives after our close frame (before the peer’s close) with a pong (RFC 6455 §5.5.2)', async () => {
    const { server, port } = await start();
    const { client, conn } = await connect(server, port);
    conn.close(1000, 'bye');
    const outcome = await client.closeOutcome();
    expect(outcome.code).toBe(1000);
    await client.send({ opcode: PING, payload: 'still there?' });
    const pong = await client.nextFrame();
    expect([pong.opcode, pong.payload.toString()]).toEqual([PONG, 'still there?']);
    await client.send({ opcode: CLOSE, payload: closePayload(1000) });
    const event = await firstValueFrom(conn.closed$);
    expect(event).toEqual({ code: 1000, reason: '', wasClean: true, sent: { code: 1000, reason: 'bye' } });
  });

  it('a peer that never answers our close: the close event says 1006, not clean, with what we sent in `sent` (RFC 6455 §7.1.5)', async () => {
    const { server, port } = await start({ closeTimeout: 100 });
    const { client, conn } = await connect(server, port);
    const event = firstValueFrom(conn.closed$);
    conn.close(4000, 'go away');
    expect((await client.closeOutcome()).code).toBe(4000);
    const expected: CloseEvent = { code: 1006, reason: '', wasClean: false, sent: { code: 4000, reason: 'go away' } };
    expect(await event).toEqual(expected);
  });
});

describe('the heartbeat and paused reading', () => {
  it('does not terminate a live peer while the application has paused reading (it is not judged while paused)', async () => {
    const { server, port } = await start({ heartbeatInterval: 50 });
    const paused = await connect(server, port);
    const silent = await connect(server, port); // reads nothing and never answers: terminated within a few sweeps
    paused.conn.pause();
    // The peer is alive: it answers every ping it gets, and keeps sending (into the paused socket).
    paused.client.socket.on('data', () => {
      for (const f of paused.client.frames.splice(0)) {
        if (f.opcode === PING) void paused.client.send({ opcode: PONG, payload: f.payload });
      }
    });
    for (let i = 0; i < 64; i++) await paused.client.send({ opcode: TEXT, payload: Buffer.alloc(4 * KIB, 0x61) });
    expect((await firstValueFrom(silent.conn.closed$)).code).toBe(1006);
    // Another silent peer, connected now, is timed out a few sweeps later: the paused one lived through them all.
    const silent2 = await connect(server, port);
    expect((await firstValueFrom(silent2.conn.closed$)).code).toBe(1006);
    expect(paused.conn.readyState).toBe('open');
    expect((paused.conn.socket as { destroyed: boolean }).destroyed).toBe(false);
    // Resumed: its 64 messages are delivered.
    let received = 0;
    paused.conn.messages$.subscribe(() => received++);
    paused.conn.resume();
    await until(() => received === 64, 'the 64 messages after resume');
  });

  it('does not terminate a slow reader whose output blocks reading (--slow-consumer drop): the kernel taking our bytes proves it alive', async () => {
    // The kernel tells the writer there is room only once a good part of its buffer is free, so progress shows at
    // intervals; 200 ms sweeps see it for a reader that takes a chunk every 2 ms.
    const { server, port } = await start({ heartbeatInterval: 200, maxBufferedBytes: 64 * KIB, slowConsumer: 'drop' });
    const slow = await connect(server, port);
    const silent = await connect(server, port);
    // The slow peer reads a chunk, then nothing for 2 ms, and never sends anything (its pongs would be unreadable anyway:
    // the server stops reading a peer whose output is blocked, and they would be stuck behind megabytes of data).
    let stop = false;
    slow.client.socket.on('data', () => {
      slow.client.frames.length = 0;
      slow.client.socket.pause();
      setTimeout(() => stop || slow.client.socket.resume(), 2);
    });
    const chunk = Buffer.alloc(16 * KIB, 0x62);
    const feed = (): void => {
      if (stop || slow.conn.readyState !== 'open') return;
      while (slow.conn.send(chunk));
      setImmediate(feed);
    };
    feed();
    try {
      await until(() => (slow.conn as unknown as { outbound: { outputBlocked: boolean } }).outbound.outputBlocked, 'output to block reading');
      expect((await firstValueFrom(silent.conn.closed$)).code).toBe(1006);
      // Another silent peer, connected now, is timed out a few sweeps later: the slow reader lived through them all.
      const silent2 = await connect(server, port);
      expect((await firstValueFrom(silent2.conn.closed$)).code).toBe(1006);
      expect(slow.conn.readyState).toBe('open');
    } finally {
      stop = true;
    }
  });
});

describe('assembler memory under announced-but-unsent frames', () => {
  it('300 connections each announcing a 1,000,000-byte frame and sending 1 byte do not raise arrayBuffers by the announced total', async () => {
    const { server, port } = await start({ maxMessageSize: 2_000_000 });
    const n = 300;
    const opened: Promise<Connection>[] = [];
    const sockets: RawClient[] = [];
    for (let i = 0; i < n; i++) {
      opened.push(firstValueFrom(server.connections$));
      const c = await RawClient.connect(port);
      clients.push(c);
      sockets.push(c);
    }
    const conns = await Promise.all(opened);
    global.gc?.();
    const before = process.memoryUsage().arrayBuffers;
    const bytesRead = (c: Connection) => (c.socket as { bytesRead: number }).bytesRead;
    const readBefore = conns.map(bytesRead);
    // A masked binary frame header announcing 1,000,000 bytes, then one payload byte.
    const header = Buffer.from([0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x0f, 0x42, 0x40, 0, 0, 0, 0]);
    for (const c of sockets) await c.write(Buffer.concat([header, Buffer.from([0x61])]));
    // Wait until the server has read those 15 bytes on every connection.
    await until(() => conns.every((c, i) => bytesRead(c) >= readBefore[i]! + 15), 'the server to read every announced frame');
    const after = process.memoryUsage().arrayBuffers;
    // 300 × 1,000,000 = 286 MiB if allocated from headers; from bytes received it is at most 300 × 16 KiB.
    expect(after - before).toBeLessThan(30 * 1024 * 1024);
  });
});
