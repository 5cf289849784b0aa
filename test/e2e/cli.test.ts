// The `rxws` command line: flags, errors, the listening line, signals and
// size parsing, as fixed by /work/shared/PROTOCOL.md ("Starting it").
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeClientFrame, RawClient } from '../support/raw-client.js';
import { type RunningServer, runCli, startServer } from '../support/server.js';
import { canConnect, closeAll, relayClient, WsClient } from '../support/ws-client.js';

const run = runCli;

/** A port that was free a moment ago. */
async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

const servers: RunningServer[] = [];
const clients: (WsClient | RawClient)[] = [];
afterEach(async () => {
  await closeAll(clients.splice(0));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});
async function start(args: string[]): Promise<RunningServer> {
  const s = await startServer(args);
  servers.push(s);
  return s;
}

describe('rxws --help', () => {
  it('lists every flag of the contract and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const flag of ['--port', '--host', '--echo', '--max-message-size', '--rate-limit', '--max-connections', '--allow-origin']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).toMatch(/--(no-)?demo\b/);
  });
});

describe('bad flags and values', () => {
  const bad: [string, string[]][] = [
    ['an unknown flag', ['--bogus']],
    ['a non-numeric port', ['--port', 'abc']],
    ['a port above 65535', ['--port', '70000']],
    ['a negative port', ['--port', '-1']],
    ['an unknown size unit', ['--max-message-size', '12qb']],
    ['a size that is not a size', ['--max-message-size', 'big']],
    ['a negative rate limit', ['--rate-limit', '-1']],
    ['a non-numeric rate limit', ['--rate-limit', 'fast']],
    ['a non-numeric connection limit', ['--max-connections', 'many']],
    ['a stray positional argument', ['serve']],
  ];

  it.each(bad)('%s → one line on stderr, exit code 2, nothing listening', async (_label, args) => {
    const hasPort = args.includes('--port');
    const port = hasPort ? undefined : await freePort();
    const r = await run([...(port !== undefined ? ['--port', String(port)] : []), '--host', '127.0.0.1', ...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr.endsWith('\n')).toBe(true);
    if (port !== undefined) expect(await canConnect(port)).toBe(false);
  });
});

describe('starting and stopping', () => {
  it('--port 0 prints exactly one stdout line with the real port', async () => {
    const s = await start([]);
    // The port in the line is where the server really is.
    const res = await fetch(`http://127.0.0.1:${s.port}/healthz`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const c = await relayClient(s.url);
    clients.push(c);
    const out = lines(s.stdout());
    expect(out).toHaveLength(1);
    expect(out[0]).toContain(`listening on ws://127.0.0.1:${s.port}`);
    expect(s.port).toBeGreaterThan(0);
    await closeAll(clients.splice(0));
    expect(await s.stop()).toBe(0);
    expect(lines(s.stdout())).toHaveLength(1);
  });

  it('prints the listening line in echo mode too', async () => {
    const s = await start(['--echo']);
    expect(lines(s.stdout())).toEqual([expect.stringContaining(`listening on ws://127.0.0.1:${s.port}`)]);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)('%s → exit code 0 (with a client connected)', async (signal) => {
    const s = await start([]);
    const c = await relayClient(s.url);
    clients.push(c);
    expect(await s.stop(signal)).toBe(0);
    expect((await c.closed).code).toBe(1001);
  });

  // PROTOCOL.md does not name this case; it only says nothing may claim to listen.
  it('a port already in use → non-zero exit, no listening line', async () => {
    const s = await start([]);
    const r = await run(['--port', String(s.port), '--host', '127.0.0.1']);
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stdout).not.toContain('listening on');
  });
});

describe('--rate-limit in echo mode', () => {
  /** Writes `count` numbered text messages and a ping at once; returns the echoes that came before the pong. */
  async function floodEcho(s: RunningServer, count: number) {
    const c = await RawClient.connect(s.port);
    clients.push(c);
    const frames = Array.from({ length: count }, (_, i) => encodeClientFrame({ opcode: 1, payload: `m${i}` }));
    const started = performance.now();
    await c.write(Buffer.concat([...frames, encodeClientFrame({ opcode: 9, payload: 'end' })]));
    const echoed: string[] = [];
    for (;;) {
      const f = await c.nextFrame(10_000);
      if (f.opcode === 10) break;
      echoed.push(f.payload.toString());
    }
    return { echoed, elapsed: performance.now() - started };
  }

  it('is off by default: 1,500 messages at once all come back', async () => {
    const s = await start(['--echo']);
    const { echoed } = await floodEcho(s, 1500);
    expect(echoed).toEqual(Array.from({ length: 1500 }, (_, i) => `m${i}`));
  });

  // PROTOCOL.md: the limit is "off in echo mode unless given"; echo mode sends nothing but echoes, so the excess is dropped silently.
  it('--rate-limit 5 applies when given: the burst of 5 is echoed, the excess dropped', async () => {
    const s = await start(['--echo', '--rate-limit', '5']);
    const { echoed, elapsed } = await floodEcho(s, 100);
    expect(echoed.slice(0, 5)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    expect(echoed.length).toBeLessThanOrEqual(5 + Math.floor((elapsed * 5) / 1000));
    for (const m of echoed) expect(m).toMatch(/^m\d+$/);
  });
});

describe('--max-message-size accepts 64kb, 16mb and plain bytes (echo mode)', () => {
  /** Sends a whole message and expects it echoed. */
  async function expectEcho(s: RunningServer, size: number, opcode = 2) {
    const c = await RawClient.connect(s.port);
    clients.push(c);
    const payload = Buffer.alloc(size, opcode === 1 ? 'a' : 7);
    await c.send({ opcode, payload });
    const f = await c.nextFrame(10_000);
    expect(f.opcode).toBe(opcode);
    expect(f.payload.length).toBe(size);
    expect(f.payload.equals(payload)).toBe(true);
  }
  /** Sends only a frame header announcing `size` bytes and expects close 1009 right away. */
  async function expectTooBig(s: RunningServer, size: number, opcode = 2) {
    const c = await RawClient.connect(s.port);
    clients.push(c);
    await c.send({ opcode, payload: Buffer.alloc(0), announcedLength: size });
    const outcome = await c.closeOutcome(3000);
    expect(outcome.code).toBe(1009);
  }

  it('100 (bytes): 100 echoes, 101 → 1009', async () => {
    const s = await start(['--echo', '--max-message-size', '100']);
    await expectEcho(s, 100, 1);
    await expectEcho(s, 100, 2);
    await expectTooBig(s, 101, 1);
    await expectTooBig(s, 101, 2);
  });

  it('64kb: 65,536 bytes echo, 65,537 → 1009', async () => {
    const s = await start(['--echo', '--max-message-size', '64kb']);
    await expectEcho(s, 65_536);
    await expectTooBig(s, 65_537);
  });

  it('16mb: a message above the 1mb default echoes, 16 MiB + 1 → 1009', async () => {
    const s = await start(['--echo', '--max-message-size', '16mb']);
    await expectEcho(s, 1024 * 1024 + 1);
    await expectTooBig(s, 16 * 1024 * 1024 + 1);
  });

  it('default 1mb: 1 MiB echoes, 1 MiB + 1 → 1009', async () => {
    const s = await start(['--echo']);
    await expectEcho(s, 1024 * 1024);
    await expectTooBig(s, 1024 * 1024 + 1);
  });
});
