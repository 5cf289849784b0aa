import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';
import { WsClient } from '../support/ws-client.js';

// Issue 9 items 2 and 15: an application bug in a subscriber must not end the
// process. Each scenario runs the library in its own process (no handlers of
// its own), so a crash is observed as the process exiting.
const APP = fileURLToPath(new URL('../fixtures/faulty-app.mjs', import.meta.url));

interface App {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
}
const apps: ChildProcess[] = [];
const clients: { close(): unknown }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const proc of apps.splice(0)) {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await once(proc, 'exit');
    }
  }
});

async function startApp(scenario: string): Promise<App> {
  const proc = spawn(process.execPath, [APP, scenario], { stdio: ['ignore', 'pipe', 'pipe'] });
  apps.push(proc);
  let out = '';
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`app exited with ${code}: ${err}`)));
  });
  return { proc, port, stderr: () => err };
}

async function open(port: number): Promise<WsClient> {
  const client = await WsClient.open(`ws://127.0.0.1:${port}/`);
  clients.push({ close: () => client.ws.close() });
  return client;
}

/** The process is alive and an unrelated client still gets its echo. */
async function expectUnaffected(app: App, bystander: WsClient): Promise<void> {
  bystander.send('still here?');
  expect(await bystander.next()).toBe('still here?');
  expect(app.proc.exitCode).toBeNull();
  expect(app.proc.signalCode).toBeNull();
  // A new connection is served too.
  const late = await open(app.port);
  late.send('new');
  expect(await late.next()).toBe('new');
}

describe('a fault in application code stays with its connection (end to end, real sockets)', () => {
  it('a throwing subscriber of errors$ is reported on the console; the process carries on', async () => {
    const app = await startApp('errors-subscriber-throws');
    const bystander = await open(app.port);
    const attacker = await RawClient.connect(app.port);
    clients.push({ close: () => attacker.destroy() });
    await attacker.send({ opcode: 1, payload: 'unmasked', mask: false });
    const outcome = await attacker.closeOutcome();
    expect(outcome.code).toBe(1002);
    await expectUnaffected(app, bystander);
    expect(app.stderr()).toContain('a subscriber of errors$ threw');
  });

  it('a throw after composition (merge(conn.messages$, other$).subscribe) closes that connection with 1011', async () => {
    const app = await startApp('composed-throw');
    const bystander = await open(app.port);
    const victim = await open(app.port);
    victim.send('echo me');
    expect(await victim.next()).toBe('echo me');
    victim.send('boom');
    expect((await victim.closed).code).toBe(1011);
    await expectUnaffected(app, bystander);
    expect(app.stderr()).toContain('boom (composed-throw)');
  });

  it('an async subscriber that rejects closes that connection with 1011', async () => {
    const app = await startApp('direct-async-reject');
    const bystander = await open(app.port);
    const victim = await open(app.port);
    victim.send('boom');
    expect((await victim.closed).code).toBe(1011);
    await expectUnaffected(app, bystander);
    expect(app.stderr()).toContain('boom (direct-async-reject)');
  });

  it('a throw in a composed subscriber of connections$ closes the connection being announced', async () => {
    const app = await startApp('composed-connections-throw');
    const victim = await open(app.port);
    expect((await victim.closed).code).toBe(1011);
    const bystander = await open(app.port);
    await expectUnaffected(app, bystander);
  });
});
