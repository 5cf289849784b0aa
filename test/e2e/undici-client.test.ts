// The same scenarios as the browser test, driven by undici's WebSocket: a
// second client implementation we did not write, so our server is not only
// ever checked against our own raw client.
import { createHash } from 'node:crypto';
import { WebSocket } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../support/server.js';

type Received = string | ArrayBuffer;

/** A connected undici client with an inbox, so no message can slip past between awaits. */
interface Client {
  readonly ws: WebSocket;
  /** The next message, in arrival order. */
  next(): Promise<Received>;
  /** The next message parsed as JSON (relay mode). */
  nextJson(): Promise<Record<string, unknown>>;
  /** Resolves with the close event's code and reason. */
  readonly closed: Promise<{ code: number; reason: string; wasClean: boolean }>;
}

const openClients: WebSocket[] = [];

async function connect(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  openClients.push(ws);
  const inbox: Received[] = [];
  const waiters: ((m: Received) => void)[] = [];
  ws.addEventListener('message', (e) => {
    const data = e.data as Received;
    const waiter = waiters.shift();
    if (waiter) waiter(data);
    else inbox.push(data);
  });
  const closed = new Promise<{ code: number; reason: string; wasClean: boolean }>((resolve) =>
    ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener('open', () => resolve(), { once: true });
    ws.addEventListener('error', () => reject(new Error(`undici could not connect to ${url}`)), { once: true });
  });
  const next = () =>
    inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise<Received>((resolve) => waiters.push(resolve));
  return {
    ws,
    next,
    async nextJson() {
      const m = await next();
      if (typeof m !== 'string') throw new Error('expected a text message');
      return JSON.parse(m) as Record<string, unknown>;
    },
    closed,
  };
}

afterEach(() => {
  for (const ws of openClients.splice(0)) if (ws.readyState !== WebSocket.CLOSED) ws.close();
});

/** 1 MiB of bytes that a checksum can tell apart from any shifted or truncated copy. */
const MIB = 1024 * 1024;
const patternByte = (i: number) => Math.imul(i ^ (i >>> 9), 2654435761) >>> 24;
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

describe('undici WebSocket ↔ rxws --echo', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--echo', '--max-message-size', '2mb']);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('negotiates no extension although undici offers permessage-deflate', async () => {
    const c = await connect(server.url);
    expect(c.ws.extensions).toBe('');
    expect(c.ws.protocol).toBe('');
  });

  it('round-trips multi-byte UTF-8 text as text', async () => {
    const c = await connect(server.url);
    const text = 'héllo 🌍 κόσμε';
    c.ws.send(text);
    expect(await c.next()).toBe(text);
  });

  it('round-trips binary as binary, byte for byte', async () => {
    const c = await connect(server.url);
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    c.ws.send(bytes);
    const back = await c.next();
    expect(back).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.from(back as ArrayBuffer).equals(Buffer.from(bytes))).toBe(true);
  });

  it('round-trips a 1 MiB binary message and a 1 MiB text message intact', async () => {
    const c = await connect(server.url);
    const bytes = Uint8Array.from({ length: MIB }, (_, i) => patternByte(i));
    c.ws.send(bytes);
    const back = (await c.next()) as ArrayBuffer;
    expect(back.byteLength).toBe(MIB);
    expect(sha256(new Uint8Array(back))).toBe(sha256(bytes));

    const text = 'é'.repeat(MIB / 2); // 2 bytes each in UTF-8: exactly 1 MiB on the wire
    c.ws.send(text);
    const textBack = (await c.next()) as string;
    expect(typeof textBack).toBe('string');
    expect(Buffer.byteLength(textBack)).toBe(MIB);
    expect(sha256(textBack)).toBe(sha256(text));
  });

  it('closes a too-large message with 1009', async () => {
    const small = await startServer(['--echo', '--max-message-size', '1kb']);
    try {
      const c = await connect(small.url);
      c.ws.send(new Uint8Array(1025));
      const closed = await c.closed;
      expect(closed.code).toBe(1009);
      // A message of exactly the limit would have been fine: the limit is not off by one.
      const ok = await connect(small.url);
      ok.ws.send(new Uint8Array(1024));
      expect(((await ok.next()) as ArrayBuffer).byteLength).toBe(1024);
    } finally {
      await small.stop();
    }
  });

  it('sees close 1001 when the server gets SIGTERM, and the server exits 0', async () => {
    const doomed = await startServer(['--echo']);
    try {
      const c = await connect(doomed.url);
      c.ws.send('still here');
      expect(await c.next()).toBe('still here');
      const exitCode = doomed.stop('SIGTERM');
      const closed = await c.closed;
      expect(closed.code).toBe(1001);
      expect(closed.wasClean).toBe(true);
      expect(await exitCode).toBe(0);
    } finally {
      await doomed.stop();
    }
  });
});

describe('undici WebSocket ↔ rxws relay mode', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer([]);
  });
  afterAll(async () => {
    await server.stop();
  });

  /** Connects and reads the welcome, returning the client and its id. */
  async function member(): Promise<Client & { id: string }> {
    const c = await connect(server.url);
    const welcome = await c.nextJson();
    expect(welcome.type).toBe('welcome');
    expect(typeof welcome.id).toBe('string');
    return Object.assign(c, { id: welcome.id as string });
  }

  it('two clients in a room exchange publishes both ways', async () => {
    const alice = await member();
    const bob = await member();
    expect(alice.id).not.toBe(bob.id);

    alice.ws.send(JSON.stringify({ type: 'join', room: 'chat', ref: 1 }));
    expect(await alice.nextJson()).toEqual({ type: 'joined', room: 'chat', members: 1, ref: 1 });
    bob.ws.send(JSON.stringify({ type: 'join', room: 'chat', ref: 'b' }));
    expect(await bob.nextJson()).toEqual({ type: 'joined', room: 'chat', members: 2, ref: 'b' });

    const fromAlice = { type: 'message', room: 'chat', from: alice.id, data: { text: 'hi bob', n: [1, 2] } };
    alice.ws.send(JSON.stringify({ type: 'publish', room: 'chat', data: fromAlice.data }));
    expect(await bob.nextJson()).toEqual(fromAlice);
    expect(await alice.nextJson()).toEqual(fromAlice); // the sender is a member, so it gets its own

    const fromBob = { type: 'message', room: 'chat', from: bob.id, data: 'hi alice 👋' };
    bob.ws.send(JSON.stringify({ type: 'publish', room: 'chat', data: fromBob.data }));
    expect(await alice.nextJson()).toEqual(fromBob);
    expect(await bob.nextJson()).toEqual(fromBob);
  });

  it('send reaches exactly the addressed id and is acknowledged', async () => {
    const alice = await member();
    const bob = await member();
    const carol = await member();
    alice.ws.send(JSON.stringify({ type: 'send', to: bob.id, data: 'just for bob', ref: 'x' }));
    expect(await bob.nextJson()).toEqual({ type: 'message', from: alice.id, data: 'just for bob' });
    expect(await alice.nextJson()).toEqual({ type: 'sent', to: bob.id, ref: 'x' });
    // Carol got nothing: the next thing she sees is a broadcast sent after the send.
    alice.ws.send(JSON.stringify({ type: 'broadcast', data: 'marker' }));
    expect(await carol.nextJson()).toEqual({ type: 'message', from: alice.id, data: 'marker' });
  });

  it('broadcast reaches every connection, the sender too', async () => {
    const alice = await member();
    const bob = await member();
    bob.ws.send(JSON.stringify({ type: 'broadcast', data: [true, null, 3] }));
    const expected = { type: 'message', from: bob.id, data: [true, null, 3] };
    expect(await alice.nextJson()).toEqual(expected);
    expect(await bob.nextJson()).toEqual(expected);
  });
});
