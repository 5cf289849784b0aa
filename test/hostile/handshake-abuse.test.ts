// Abuse of the opening handshake against the real command: slowloris, oversized
// and malformed requests, and the connection and origin limits. Every refusal
// is an HTTP answer followed by the server ending the socket.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, upgradeRequest } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const HANDSHAKE_TIMEOUT = 1000;
const SLOWLORIS_SOCKETS = 200;

/** Sockets opened by the tests, destroyed at the end whatever happened (not per test: the refusal tests run concurrently). */
const opened: net.Socket[] = [];
const openedClients: RawClient[] = [];
function destroyAll(): void {
  for (const s of opened.splice(0)) s.destroy();
  for (const c of openedClients.splice(0)) c.destroy();
}
afterAll(destroyAll);

function connectRaw(port: number, options: { allowHalfOpen?: boolean } = {}): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: options.allowHalfOpen ?? false });
    opened.push(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function connectClient(port: number, options: Parameters<typeof RawClient.connect>[1] = {}): Promise<RawClient> {
  const client = await RawClient.connect(port, options);
  openedClients.push(client);
  return client;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends `request`, then keeps writing junk (the socket is half-open on our side,
 * so we never end it) and resolves with the response and how long after it the
 * server took to close TCP.
 */
async function rejectedWhileSending(port: number, request: Buffer | string): Promise<{ response: string; closedAfterResponseMs: number }> {
  // Returns its findings instead of asserting, so concurrent tests each assert with their own context.
  const socket = await connectRaw(port, { allowHalfOpen: true });
  socket.on('error', () => {}); // the server may reset us for writing into a socket it closed
  let response = '';
  let responseAt = 0;
  socket.setEncoding('latin1').on('data', (d: string) => {
    response += d;
    if (responseAt === 0 && response.includes('\r\n\r\n')) responseAt = Date.now();
  });
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
  socket.write(request);
  const junk = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write('keep-talking-');
  }, 20);
  let giveUp: NodeJS.Timeout | undefined;
  try {
    const closedAt = await Promise.race([closed, new Promise<number>((r) => (giveUp = setTimeout(r, 10_000, Number.POSITIVE_INFINITY)))]);
    // No response at all → NaN, which fails every `toBeLessThan`.
    return { response, closedAfterResponseMs: responseAt === 0 ? Number.NaN : closedAt - responseAt };
  } finally {
    clearInterval(junk);
    clearTimeout(giveUp);
  }
}

describe('handshake abuse (rxws --echo --handshake-timeout 1000)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--echo', '--handshake-timeout', String(HANDSHAKE_TIMEOUT)]);
  });
  afterAll(async () => {
    destroyAll();
    await server?.stop();
  });

  it(`ends ${SLOWLORIS_SOCKETS} slowloris sockets within the handshake timeout while a healthy client keeps echoing`, async () => {
    const healthy = await connectClient(server.port);
    expect(healthy.status).toBe(101);

    // The server's timer starts at accept, so each socket is timed from its own connect.
    const connectedAt: number[] = [];
    const sockets = await Promise.all(
      Array.from({ length: SLOWLORIS_SOCKETS }, (_, i) => connectRaw(server.port).then((s) => ((connectedAt[i] = Date.now()), s))),
    );
    const closedAfter: (number | null)[] = sockets.map(() => null);
    const allClosed = Promise.all(
      sockets.map(
        (s, i) =>
          new Promise<void>((resolve) => {
            s.on('error', () => {}); // a reset also counts as the server ending it
            s.once('close', () => {
              closedAfter[i] = Date.now() - connectedAt[i]!;
              resolve();
            });
          }),
      ),
    );
    for (const s of sockets) s.write('GET / HTTP/1.1\r\nHost: x\r\n');
    // One more header byte every 200 ms on every socket: the head never completes.
    const drip = setInterval(() => {
      for (const s of sockets) if (!s.destroyed) s.write('a');
    }, 200);

    // Meanwhile the healthy connection echoes a message every 100 ms.
    let echoed = 0;
    try {
      const deadline = Math.max(...connectedAt) + HANDSHAKE_TIMEOUT + 1500;
      while (Date.now() < deadline) {
        const text = `still here ${echoed}`;
        await healthy.send({ opcode: 1, payload: text });
        const frame = await healthy.nextFrame(1000);
        expect(frame.payload.toString()).toBe(text);
        echoed++;
        await sleep(100);
      }
      await Promise.race([allClosed, sleep(500)]);
    } finally {
      clearInterval(drip);
    }

    const still = closedAfter.filter((t) => t === null).length;
    expect(still, 'slowloris sockets the server left open past timeout + 1.5 s').toBe(0);
    const times = (closedAfter as number[]).sort((a, b) => a - b);
    expect(times[times.length - 1]!).toBeLessThanOrEqual(HANDSHAKE_TIMEOUT + 1500);
    // Not closed early either: the timeout is what ends them.
    expect(times[0]!).toBeGreaterThanOrEqual(HANDSHAKE_TIMEOUT - 100);
    console.log(
      `[reliability] slowloris: ${SLOWLORIS_SOCKETS} sockets, handshake timeout ${HANDSHAKE_TIMEOUT} ms; time to close min ${times[0]} / median ${times[times.length >> 1]} / max ${times[times.length - 1]} ms; healthy client echoed ${echoed} messages meanwhile`,
    );
    expect(echoed).toBeGreaterThanOrEqual(10);
    // The healthy client outlived the handshake timeout: its timer stopped at the upgrade.
    expect(healthy.isClosed).toBe(false);
    expect((await server.health()).connections).toBe(1);
  });

  describe.concurrent('refusals: an HTTP answer, then TCP closed within 3 s even while the client keeps sending', () => {
    it('answers a request head larger than 16 KiB with 431 and closes', async ({ expect }) => {
      const head = upgradeRequest(server.port, { 'X-Pad': 'a'.repeat(17 * 1024) });
      const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, head);
      expect(response.startsWith('HTTP/1.1 431 ')).toBe(true);
      expect(closedAfterResponseMs).toBeLessThan(3000);
    });

    it('answers a head that never ends and keeps growing with 431 and closes', async ({ expect }) => {
      // No CRLFCRLF at all: the byte count alone must trigger the refusal.
      const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, `GET / HTTP/1.1\r\nX-Pad: ${'b'.repeat(20 * 1024)}`);
      expect(response.startsWith('HTTP/1.1 431 ')).toBe(true);
      expect(closedAfterResponseMs).toBeLessThan(3000);
    });

    it('answers more than 100 headers with 431 and closes', async ({ expect }) => {
      const extra = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`X-H${i}`, 'v']));
      const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, upgradeRequest(server.port, extra));
      expect(response.startsWith('HTTP/1.1 431 ')).toBe(true);
      expect(closedAfterResponseMs).toBeLessThan(3000);
    });

    it('accepts exactly 100 headers', async ({ expect }) => {
      // The limit's other side: 5 handshake headers + 95 more = 100.
      const extra = Object.fromEntries(Array.from({ length: 95 }, (_, i) => [`X-H${i}`, 'v']));
      const client = await connectClient(server.port, { headers: extra });
      expect(client.status).toBe(101);
    });

    it('answers an HTTP/1.0 upgrade with 400 and closes', async ({ expect }) => {
      const request = upgradeRequest(server.port).replace('HTTP/1.1', 'HTTP/1.0');
      const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, request);
      expect(response.startsWith('HTTP/1.1 400 ')).toBe(true);
      expect(closedAfterResponseMs).toBeLessThan(3000);
    });

    it('answers Sec-WebSocket-Version: 8 with 426 and Sec-WebSocket-Version: 13, and closes', async ({ expect }) => {
      const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, upgradeRequest(server.port, { 'Sec-WebSocket-Version': '8' }));
      expect(response.startsWith('HTTP/1.1 426 ')).toBe(true);
      expect(response.split('\r\n\r\n')[0]!.split('\r\n')).toContain('Sec-WebSocket-Version: 13');
      expect(closedAfterResponseMs).toBeLessThan(3000);
    });

    it('answers a TLS ClientHello (binary garbage) with 400 and closes', async ({ expect }) => {
      // The start of a real TLS 1.2 ClientHello record: handshake(0x16), version 3.1, length, client_hello(0x01)…
      const hello = Buffer.concat([
        Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]),
        Buffer.alloc(32, 0xab), // random
        Buffer.from([0x20]),
        Buffer.alloc(32, 0xcd), // session id
        Buffer.from([0x00, 0x04, 0x13, 0x01, 0x13, 0x02, 0x01, 0x00]),
      ]);
      const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, hello);
      expect(response.startsWith('HTTP/1.1 400 ')).toBe(true);
      expect(closedAfterResponseMs).toBeLessThan(3000);
    });

    it('answers a bad upgrade (no Sec-WebSocket-Key) with 400 and closes', async ({ expect }) => {
      const request = upgradeRequest(server.port).replace(/Sec-WebSocket-Key: [^\r]*\r\n/, '');
      const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, request);
      expect(response.startsWith('HTTP/1.1 400 ')).toBe(true);
      expect(closedAfterResponseMs).toBeLessThan(3000);
    });
  });

  it('keeps serving after all of the above', async () => {
    const client = await connectClient(server.port);
    expect(client.status).toBe(101);
    await client.send({ opcode: 2, payload: Buffer.from([1, 2, 3]) });
    expect((await client.nextFrame()).payload).toEqual(Buffer.from([1, 2, 3]));
  });
});

describe('connection limit (rxws --echo --max-connections 5)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--echo', '--max-connections', '5']);
  });
  afterAll(async () => {
    destroyAll();
    await server?.stop();
  });

  it('answers the 6th upgrade with 503 and accepts again once one leaves', async () => {
    const five = await Promise.all(Array.from({ length: 5 }, () => connectClient(server.port)));
    expect(five.map((c) => c.status)).toEqual([101, 101, 101, 101, 101]);
    const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, upgradeRequest(server.port));
    expect(response.startsWith('HTTP/1.1 503 ')).toBe(true);
    expect(closedAfterResponseMs).toBeLessThan(3000);

    five[0]!.destroy();
    const deadline = Date.now() + 5000;
    while ((await server.health()).connections !== 4) {
      if (Date.now() > deadline) throw new Error('the server did not notice the closed connection');
      await sleep(20);
    }
    const again = await connectClient(server.port);
    expect(again.status).toBe(101);
  });
});

describe('origin check (rxws --echo --allow-origin https://good.example)', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--echo', '--allow-origin', 'https://good.example']);
  });
  afterAll(async () => {
    destroyAll();
    await server?.stop();
  });

  it('answers another origin with 403 and closes', async () => {
    const { response, closedAfterResponseMs } = await rejectedWhileSending(server.port, upgradeRequest(server.port, { Origin: 'https://evil.example' }));
    expect(response.startsWith('HTTP/1.1 403 ')).toBe(true);
    expect(closedAfterResponseMs).toBeLessThan(3000);
  });

  it('accepts the allowed origin', async () => {
    const client = await connectClient(server.port, { headers: { Origin: 'https://good.example' } });
    expect(client.status).toBe(101);
  });
});

describe('handshake timeout configuration', () => {
  it('--handshake-timeout 0 does not drop every request: it is refused at startup (exit 2) or means no timeout', async () => {
    // Like --heartbeat-interval 0, a 0 here must not turn the server into one that
    // destroys each socket on the next tick, /healthz included.
    let zero: RunningServer;
    try {
      zero = await startServer(['--echo', '--handshake-timeout', '0']);
    } catch (err) {
      expect(String(err)).toMatch(/exited with 2 /);
      return;
    }
    try {
      // Several requests: one may slip in before a 0 ms timer fires.
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${zero.httpUrl}/healthz`, { signal: AbortSignal.timeout(3000) }).catch((err: Error) => err);
        expect(res instanceof Error ? `request failed: ${res.message}` : res.status).toBe(200);
      }
    } finally {
      destroyAll();
      await zero.stop();
    }
  });
});
