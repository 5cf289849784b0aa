// The README's examples of the HTTP side must keep working as documented:
// examples/auth-upgrade.mjs and examples/attach-paths.mjs (plain and with TLS).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, upgradeRequest } from '../support/raw-client.js';
import { type SelfSigned, selfSigned, trusting } from '../support/tls.js';

const example = (name: string) => fileURLToPath(new URL(`../../examples/${name}`, import.meta.url));

const running: ChildProcess[] = [];
const sockets: { close(): void }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(
    running.splice(0).map(async (proc) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    }),
  );
});

/** Runs an example with these arguments and resolves with the port of its listening line. */
async function run(name: string, args: string[]): Promise<number> {
  const proc = spawn(process.execPath, [example(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(proc);
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on wss?:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${err}`)));
  });
}

/** Opens a WebSocket and resolves with it and the messages it receives; rejects if it fails to open. */
function open(url: string, init?: ConstructorParameters<typeof WebSocket>[1]): Promise<{ ws: WebSocket; got: string[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, init);
    sockets.push(ws);
    const got: string[] = [];
    ws.onmessage = (e) => got.push(String(e.data));
    ws.onopen = () => resolve({ ws, got });
    ws.onerror = () => reject(new Error(`cannot open ${url}`));
  });
}

async function until(ready: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('examples/auth-upgrade.mjs', () => {
  it('answers a bad token with 401 and WWW-Authenticate, no 101; a good token (query or header) opens with its user', async () => {
    const port = await run('auth-upgrade.mjs', ['0']);
    const refused = await RawClient.connect(port, { request: upgradeRequest(port, {}, '/?token=wrong') });
    expect(refused.status).toBe(401);
    expect(refused.response).toContain('WWW-Authenticate: Bearer realm="chat"');
    await refused.waitEnded();
    expect(refused.frames).toEqual([]);

    const ann = await open(`ws://127.0.0.1:${port}/?token=s3cret`);
    const bob = await RawClient.connect(port, { headers: { Authorization: 'Bearer hunter2' } });
    expect(bob.status).toBe(101);
    expect((await bob.nextFrame()).payload.toString()).toBe('hello bob');
    await until(() => ann.got.length === 1, 'the greeting');
    expect(ann.got).toEqual(['hello ann']);
    ann.ws.send('hi');
    expect((await bob.nextFrame()).payload.toString()).toBe('ann: hi');
    bob.destroy();
  });
});

describe('examples/attach-paths.mjs', () => {
  let cert: SelfSigned;
  beforeAll(() => {
    cert = selfSigned();
  });
  afterAll(() => cert?.remove());

  it.each([
    ['http', 'ws', [] as string[]],
    ['https', 'wss', ['cert', 'key']],
  ])('over %s: a REST route, /chat and /feed/NAME on one server, 404 for other upgrades', async (http, ws, tlsArgs) => {
    const files = tlsArgs.length > 0 ? [cert.certFile, cert.keyFile] : [];
    const dispatcher = files.length > 0 ? trusting(cert.cert) : undefined;
    const port = await run('attach-paths.mjs', ['0', ...files]);
    const res = await fetch(`${http}://localhost:${port}/api/time`, { dispatcher } as RequestInit);
    expect(typeof (await res.json()).time).toBe('number');

    const a = await open(`${ws}://localhost:${port}/chat`, { dispatcher });
    const b = await open(`${ws}://localhost:${port}/chat?as=b`, { dispatcher });
    const feed = await open(`${ws}://localhost:${port}/feed/news`, { dispatcher });
    a.ws.send('hello');
    await until(() => b.got.length === 1 && a.got.length === 1, 'the chat message');
    expect(b.got).toEqual(['hello']);
    await until(() => feed.got.length >= 2, 'two ticks');
    expect(feed.got.slice(0, 2)).toEqual(['news 0', 'news 1']);
    await expect(open(`${ws}://localhost:${port}/elsewhere`, { dispatcher })).rejects.toThrow(/cannot open/);
  });
});

describe('examples/room-history.mjs (README: History and recovery)', () => {
  /** Opens a client that sends `hello` first and collects every message as JSON. */
  async function ticker(port: number, hello: unknown) {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`);
    sockets.push(ws);
    const seen: any[] = [];
    ws.addEventListener('message', (event) => seen.push(JSON.parse(String(event.data))));
    await new Promise<void>((resolve) => (ws.readyState === 1 ? resolve() : ws.addEventListener('open', () => resolve())));
    ws.send(JSON.stringify(hello));
    return { ws, seen };
  }
  const until = async (done: () => boolean) => {
    for (let i = 0; i < 400 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(done()).toBe(true);
  };

  it('a client that comes back with since gets joined, then every tick it missed and the live ones: consecutive offsets', async () => {
    const port = await run('room-history.mjs', ['0']);
    const first = await ticker(port, {});
    await until(() => first.seen.length >= 6);
    first.ws.close();
    const last = first.seen.at(-1);
    expect(first.seen[0].joined).toMatchObject({ room: 'ticks', joined: true });
    await new Promise((r) => setTimeout(r, 200)); // away for ~10 ticks
    const again = await ticker(port, { since: { offset: last.offset, epoch: last.epoch } });
    await until(() => again.seen.length >= 20);
    expect(again.seen[0].joined).toMatchObject({ recovered: true, epoch: last.epoch });
    const offsets = again.seen.slice(1).map((m) => m.offset);
    expect(offsets[0]).toBe(last.offset + 1);
    expect(offsets).toEqual(offsets.map((_, i) => last.offset + 1 + i));
    expect(again.seen.slice(1).map((m) => m.tick)).toEqual(offsets);
  });
});
