// A private redis-server for a test: started on a free port with no
// persistence, stopped (or SIGKILLed and restarted on the same port) by the
// test. Fails loudly when redis-server is not installed.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';

export const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisInstance {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** Sends one command over a fresh connection (RESP) and resolves with the parsed reply. */
  command(...args: (string | number)[]): Promise<RespValue>;
  /** SIGKILL: gone at once, like a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: there is no persistence). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a Redis that hangs with its connections open. */
  pause(): void;
  resume(): void;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

export type RespValue = string | number | null | RespValue[];

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts redis-server on `port` (default: a free one). */
export async function startRedis(port?: number): Promise<RedisInstance> {
  if (!existsSync(REDIS_SERVER) || spawnSync(REDIS_SERVER, ['--version']).status !== 0) {
    throw new Error(`redis-server is required for this test and was not found at ${REDIS_SERVER} (apt-get install redis-server)`);
  }
  port ??= await freePort();
  let proc: ChildProcess | undefined;
  const launch = async () => {
    const p = spawn(REDIS_SERVER, ['--port', String(port!), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let log = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => (log += d));
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    proc = p;
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`redis-server exited with ${p.exitCode}: ${log}`);
      try {
        if ((await sendCommand(port!, ['PING'])) === 'PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`redis-server did not answer on port ${port}: ${log}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const exit = async (signal: NodeJS.Signals) => {
    const p = proc;
    proc = undefined;
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill('SIGCONT'); // a paused Redis must be able to handle SIGTERM
    p.kill(signal);
    await exited;
  };
  await launch();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    command: (...args) => sendCommand(port, args.map(String)),
    kill: () => exit('SIGKILL'),
    restart: launch,
    pause: () => proc?.kill('SIGSTOP'),
    resume: () => proc?.kill('SIGCONT'),
    stop: () => exit('SIGTERM'),
  };
}

/** One command on a fresh connection: small and dependency-free, so tests never share the client under test. */
export function sendCommand(port: number, args: string[]): Promise<RespValue> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(''));
    });
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseResp(buf, 0);
      if (parsed === undefined) return;
      socket.destroy();
      if (parsed.error !== undefined) reject(new Error(parsed.error));
      else resolve(parsed.value);
    });
  });
}

interface Parsed {
  value: RespValue;
  end: number;
  error?: string;
}

function parseResp(buf: Buffer, at: number): Parsed | undefined {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return undefined;
  const line = buf.toString('utf8', at + 1, eol);
  switch (buf[at]) {
    case 0x2b: // +
      return { value: line, end: eol + 2 };
    case 0x2d: // -
      return { value: null, end: eol + 2, error: line };
    case 0x3a: // :
      return { value: Number(line), end: eol + 2 };
    case 0x24: {
      // $
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      if (buf.length < eol + 2 + n + 2) return undefined;
      return { value: buf.toString('utf8', eol + 2, eol + 2 + n), end: eol + 2 + n + 2 };
    }
    case 0x2a: {
      // *
      const n = Number(line);
      if (n < 0) return { value: null, end: eol + 2 };
      const items: RespValue[] = [];
      let pos = eol + 2;
      for (let i = 0; i < n; i++) {
        const item = parseResp(buf, pos);
        if (item === undefined) return undefined;
        if (item.error !== undefined) return item;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      return { value: null, end: eol + 2, error: `unexpected RESP type ${String.fromCharCode(buf[at]!)}` };
  }
}
