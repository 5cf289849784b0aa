import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type CloseEvent, type Connection, Opcode, streamTo } from '../../src/index.js';
import { clients, connect, servers, start } from '../support/library-server.js';
import { closePayload, encodeClientFrame, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';
import { until } from '../support/waiter.js';

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
    // In one write, so the server handles them in one turn: the second publish finds the first still queued.
    const command = (c: object) => encodeClientFrame({ opcode: TEXT, payload: JSON.stringify(c) });
    await client.write(
      Buffer.concat([
        command({ type: 'join', room: 'r' }),
        command({ type: 'publish', room: 'r', data: 'x'.repeat(200) }),
        command({ type: 'publish', room: 'r', data: 'y'.repeat(200) }),
      ]),
    );
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
    expect(event).toEqual({ code: 1000, reason: '', wasClean: true, sent: { code: 1000, reason: 'bye' }, rooms: new Set() });
  });

  it('a peer that never answers our close: the close event says 1006, not clean, with what we sent in `sent` (RFC 6455 §7.1.5)', async () => {
    const { server, port } = await start({ closeTimeout: 100 });
    const { client, conn } = await connect(server, port);
    const event = firstValueFrom(conn.closed$);
    conn.close(4000, 'go away');
    expect((await client.closeOutcome()).code).toBe(4000);
    const expected: CloseEvent = { code: 1006, reason: '', wasClean: false, sent: { code: 4000, reason: 'go away' }, rooms: new Set() };
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

describe('backpressure: trySend, writable, drain$', () => {
  it("trySend says 'queued', 'full' (over the budget, with the drop policy) or 'closed'; send stays a boolean", async () => {
    const { server, port } = await start({ maxBufferedBytes: 64 * KIB, slowConsumer: 'drop' });
    const { client, conn } = await connect(server, port);
    expect(conn.trySend(Buffer.alloc(100 * KIB))).toBe('queued'); // room before it: queued, now over
    expect(conn.writable).toBe(false);
    expect(conn.trySend('x')).toBe('full');
    expect(conn.send('x')).toBe(false);
    expect(conn.readyState).toBe('open');
    conn.close();
    expect(conn.trySend('x')).toBe('closed');
    expect(conn.send('x')).toBe(false);
    expect((await client.closeOutcome()).before.map((f) => f.payload.length)).toEqual([100 * KIB]);
  });

  it('drain$ emits when the unsent bytes fall back to half the budget, so a writer that waits for it never gets full; it completes on close', async () => {
    const { server, port } = await start({ maxBufferedBytes: 256 * KIB });
    const { client, conn } = await connect(server, port);
    client.socket.pause(); // a reader that is not reading yet: the kernel buffers fill
    const results: string[] = [];
    let drains = 0;
    let completed = false;
    conn.drain$.subscribe({ next: () => drains++, complete: () => (completed = true) });
    const chunk = Buffer.alloc(32 * KIB, 1);
    let sent = 0;
    const total = 1024; // 32 MiB: 128 × the budget
    const pump = () => {
      while (sent < total && conn.writable) {
        results.push(conn.trySend(chunk));
        sent++;
      }
    };
    conn.drain$.subscribe(pump);
    pump();
    client.socket.resume();
    let received = 0;
    client.socket.on('data', () => (received += client.frames.splice(0).length));
    await until(() => received === total, `${total} messages`, 20_000);
    expect(results.every((r) => r === 'queued')).toBe(true);
    expect(drains).toBeGreaterThan(0);
    expect(conn.readyState).toBe('open');
    expect(completed).toBe(false);
    conn.close();
    await client.closeOutcome();
    await firstValueFrom(conn.closed$);
    expect(completed).toBe(true);
  });

  it('streamTo sends a file through a Node Readable (the README example), pulled as fast as the client reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rxws-stream-'));
    try {
      const file = join(dir, 'big.bin');
      const content = Buffer.alloc(5 * 1024 * KIB);
      for (let i = 0; i < content.length; i += 4) content.writeUInt32BE(i, i);
      await writeFile(file, content);
      const { server, port } = await start({ maxBufferedBytes: 256 * KIB });
      const { client, conn } = await connect(server, port);
      const sent = firstValueFrom(streamTo(conn, createReadStream(file, { highWaterMark: 64 * KIB })));
      const parts: Buffer[] = [];
      await until(() => {
        parts.push(...client.frames.splice(0).map((f) => f.payload));
        return parts.reduce((n, p) => n + p.length, 0) >= content.length;
      }, 'the whole file');
      expect(await sent).toBe(80);
      expect(Buffer.concat(parts).equals(content)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
