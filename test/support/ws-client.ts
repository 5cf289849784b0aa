import net from 'node:net';
import { WebSocket } from 'undici';
import { type Frame, RawClient, upgradeRequest } from './raw-client.js';
import { Waiter } from './waiter.js';

/** A message as the test sees it: text frames parsed as JSON when they parse, else the raw string; binary as a Buffer. */
export type Received = any;

export interface CloseInfo {
  code: number;
  reason: string;
  wasClean: boolean;
}

/**
 * A promise-based wrapper over undici's WebSocket (an implementation
 * independent of the server's) that queues every received message, so a test
 * can `await next()` in order and never miss one that arrived early.
 */
export class WsClient {
  /** Messages received and not yet taken, oldest first. */
  readonly queue: Received[] = [];
  /** Raw text of every text message received, in order (including taken ones). */
  readonly texts: string[] = [];
  /** Resolves with the close event (code, reason) once the connection is closed. */
  readonly closed: Promise<CloseInfo>;
  /** The id from the welcome (set by `relayClient`). */
  id = '';
  private readonly waiter = new Waiter();
  private closeInfo: CloseInfo | null = null;
  private refCounter = 0;

  private constructor(readonly ws: WebSocket) {
    ws.binaryType = 'arraybuffer';
    ws.addEventListener('message', (ev) => {
      const data: unknown = ev.data;
      if (typeof data === 'string') {
        this.texts.push(data);
        let parsed: Received = data;
        try {
          parsed = JSON.parse(data);
        } catch {
          // keep the raw string
        }
        this.queue.push(parsed);
      } else this.queue.push(Buffer.from(data as ArrayBuffer));
      this.wake();
    });
    this.closed = new Promise((resolve) =>
      ws.addEventListener('close', (ev) => {
        this.closeInfo = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
        resolve(this.closeInfo);
        this.wake();
      }),
    );
  }

  /** Opens a connection (rejects if the upgrade fails). */
  static async open(url: string, headers?: Record<string, string>): Promise<WsClient> {
    const client = new WsClient(new WebSocket(url, headers ? { headers } : undefined));
    await new Promise<void>((resolve, reject) => {
      client.ws.addEventListener('open', () => resolve(), { once: true });
      client.ws.addEventListener('error', () => reject(new Error(`WebSocket to ${url} failed to open`)), { once: true });
    });
    return client;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a value as JSON text, a string as text, a Buffer as binary. */
  send(message: unknown): void {
    if (typeof message === 'string') this.ws.send(message);
    else if (Buffer.isBuffer(message)) this.ws.send(message);
    else this.ws.send(JSON.stringify(message));
  }

  /** The next message not yet taken. */
  async next(timeoutMs = 5000): Promise<Received> {
    await this.until(() => this.queue.length > 0, timeoutMs, 'a message');
    return this.queue.shift();
  }

  /** The next `n` messages. */
  async take(n: number, timeoutMs = 5000): Promise<Received[]> {
    await this.until(() => this.queue.length >= n, timeoutMs, `${n} messages (have ${this.queue.length})`);
    return this.queue.splice(0, n);
  }

  /**
   * Sends `command` with a fresh ref and resolves with every message received
   * up to and including the direct reply carrying that ref: since the server
   * handles one connection's messages in order, everything it queued for us
   * before handling this command is in `before`.
   */
  async request(command: Record<string, unknown>, timeoutMs = 5000): Promise<{ reply: Received; before: Received[] }> {
    const ref = `r${++this.refCounter}-${Math.random().toString(36).slice(2)}`;
    this.send({ ...command, ref });
    const isReply = (m: Received) => m !== null && typeof m === 'object' && !Buffer.isBuffer(m) && m.ref === ref;
    await this.until(() => this.queue.some(isReply), timeoutMs, `the reply to ${JSON.stringify(command)}`);
    const i = this.queue.findIndex(isReply);
    const before = this.queue.splice(0, i);
    return { reply: this.queue.shift(), before };
  }

  /**
   * A barrier: a `leave` of a room nobody uses, with a ref. Resolves with the
   * messages that arrived before its reply (see `request`).
   */
  async sync(timeoutMs = 5000): Promise<Received[]> {
    const { reply, before } = await this.request({ type: 'leave', room: '\u0000sync-barrier' }, timeoutMs);
    if (reply.type !== 'left') throw new Error(`sync barrier got ${JSON.stringify(reply)}`);
    return before;
  }

  /** Closes (default 1000) and waits for the close event. */
  async close(code = 1000, reason = ''): Promise<CloseInfo> {
    if (this.closeInfo === null && this.ws.readyState !== WebSocket.CLOSING) this.ws.close(code, reason);
    return this.closed;
  }

  private until(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.waiter.until(ready, timeoutMs, what, () =>
      this.closeInfo !== null ? `connection closed (${this.closeInfo.code})` : undefined,
    );
  }

  private wake(): void {
    this.waiter.wake();
  }
}

/** Opens a relay-mode connection and takes its welcome, which must be `{"type":"welcome","id":<string>}`. */
export async function relayClient(url: string, headers?: Record<string, string>): Promise<WsClient> {
  const client = await WsClient.open(url, headers);
  const welcome = await client.next();
  if (welcome?.type !== 'welcome' || typeof welcome.id !== 'string') {
    client.ws.close();
    throw new Error(`expected a welcome with a string id, got ${JSON.stringify(welcome)}`);
  }
  client.id = welcome.id;
  return client;
}

/** Closes every client given, ignoring those already closed. */
export async function closeAll(clients: Iterable<WsClient | RawClient>): Promise<void> {
  await Promise.all(
    [...clients].map(async (c) => {
      if (c instanceof WsClient) await c.close().catch(() => {});
      else c.destroy();
    }),
  );
}

/** A server frame's payload parsed as JSON. */
export const json = (frame: Frame): Received => JSON.parse(frame.payload.toString('utf8'));

/**
 * Sends a raw upgrade request and reports how the server answered: the HTTP
 * status, or 'refused' when TCP itself was refused (or closed before any response).
 */
export async function tryUpgrade(port: number, headers: Record<string, string> = {}): Promise<{ status: number | 'refused'; client?: RawClient }> {
  try {
    const client = await RawClient.connect(port, { headers });
    return { status: client.status, client };
  } catch {
    return { status: 'refused' };
  }
}

/** A bare TCP connect that resolves with whether anything accepted it. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Polls `probe` until `done(value)` holds or the deadline passes; returns the last value either way. */
export async function pollUntil<T>(probe: () => Promise<T>, done: (value: T) => boolean, deadlineMs = 5000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export { upgradeRequest };
