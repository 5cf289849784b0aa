// The published package as a user gets it: `npm pack`, installed from the
// tarball into a fresh project (one install for every check: it is slow).
// Needs dist/ built (npm test builds first) and the npm cache (rxjs, yargs,
// prom-client); falls back to --prefer-offline if the offline install fails.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deadLinks, markdownFiles } from '../support/markdown.js';
import { startRedis } from '../support/redis.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const run = (cmd: string, args: string[], cwd: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** tsc (strict, exactOptionalPropertyTypes, skipLibCheck off) in `cwd`: its error lines, rxjs's own left out. */
function compile(cwd: string, args: string[]): string[] {
  const base = ['--strict', '--exactOptionalPropertyTypes', '--target', 'es2022', '--skipLibCheck', 'false', '--types', 'node', '--typeRoots', join(ROOT, 'node_modules/@types')];
  let output = '';
  try {
    output = run(process.execPath, [TSC, ...base, ...args], cwd);
  } catch (err) {
    output = String((err as { stdout?: string }).stdout);
  }
  // rxjs's own declarations are not ours to check
  return output.split('\n').filter((line) => line !== '' && !line.includes('node_modules/rxjs/'));
}

/** `npx rxws ARGS` in `cwd`, once it printed its listening line; stop() sends SIGTERM to npx and the server it started. */
async function startCommand(cwd: string, args: string[]) {
  const proc = spawn('npx', ['--offline', 'rxws', ...args], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    process.kill(-proc.pid!, 'SIGTERM');
    await once(proc, 'exit');
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      proc.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const listening = /listening on ws:\/\/127\.0\.0\.1:(\d+)\n/.exec(out);
        if (listening) resolve(Number(listening[1]));
      });
      proc.once('exit', (code) => reject(new Error(`npx rxws exited with ${code}: ${err}`)));
    });
    return { port, stop, output: () => out, errors: () => err };
  } catch (error) {
    await stop();
    throw error;
  }
}

describe('the packed package', () => {
  let dir: string;
  let app: string;
  let pkg: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'rxws-pack-'));
    run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], ROOT);
    const tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    app = join(dir, 'app');
    mkdirSync(app);
    // A version of its own, which `rxws --version` must not print.
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '7.7.7', private: true }));
    const install = ['install', '--no-audit', '--no-fund', tarball];
    try {
      run('npm', [...install, '--offline'], app);
    } catch {
      run('npm', [...install, '--prefer-offline'], app);
    }
    pkg = join(app, 'node_modules/@rxws/server');
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('require() and import() both give WebSocketServer', () => {
    expect(run(process.execPath, ['-e', "process.stdout.write(typeof require('@rxws/server').WebSocketServer)"], app)).toBe('function');
    const esm = "const m = await import('@rxws/server'); process.stdout.write(typeof m.WebSocketServer)";
    expect(run(process.execPath, ['--input-type=module', '-e', esm], app)).toBe('function');
  });

  it('rxjs is a peer (one copy, the application\'s), and npx rxws starts', async () => {
    expect(() => readdirSync(join(pkg, 'node_modules/rxjs'))).toThrow();
    const command = await startCommand(app, ['--port', '0', '--host', '127.0.0.1']);
    await command.stop();
    expect(command.output()).toMatch(/^listening on ws:\/\/127\.0\.0\.1:\d+\n$/);
  });

  it('npx rxws --redis URL clusters on a fresh install (ioredis comes with the package)', async () => {
    const redis = await startRedis();
    try {
      const command = await startCommand(app, ['--port', '0', '--host', '127.0.0.1', '--redis', redis.url]);
      try {
        let health: { cluster?: { redis?: string } } = {};
        for (const deadline = Date.now() + 10_000; health.cluster?.redis !== 'up' && Date.now() < deadline; ) {
          await new Promise((r) => setTimeout(r, 100));
          health = (await (await fetch(`http://127.0.0.1:${command.port}/healthz`)).json()) as typeof health;
        }
        expect(health.cluster).toEqual({ redis: 'up', nodes: 1 });
        expect(command.errors()).not.toContain('redis down');
      } finally {
        await command.stop();
      }
    } finally {
      await redis.stop();
    }
  });

  it('a library user without ioredis can import the package, and gets a clear error when constructing a Redis cluster', () => {
    const ioredis = join(app, 'node_modules/ioredis');
    const away = join(dir, 'ioredis-away');
    renameSync(ioredis, away);
    try {
      const script = `import { WebSocketServer, redisCluster } from '@rxws/server';
        try {
          new WebSocketServer({ port: 0, cluster: redisCluster({ url: 'redis://127.0.0.1:1' }) });
          process.stdout.write('constructed');
        } catch (err) {
          process.stdout.write(err.message);
        }`;
      expect(run(process.execPath, ['--input-type=module', '-e', script], app)).toBe(
        'rxws: a Redis cluster needs the ioredis package, which cannot be found: npm install ioredis',
      );
    } finally {
      renameSync(away, ioredis);
    }
  });

  it("rxws --version prints the package's own version, run from the host project's node_modules/.bin and through npx", () => {
    const own = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(run(join(app, 'node_modules/.bin/rxws'), ['--version'], app)).toBe(`${own}\n`);
    expect(run('npx', ['--offline', 'rxws', '--version'], app)).toBe(`${own}\n`);
    const nested = join(app, 'src');
    mkdirSync(nested, { recursive: true });
    expect(run(join(app, 'node_modules/.bin/rxws'), ['--version'], nested)).toBe(`${own}\n`);
  });

  it('ships its documentation, and every relative link in it resolves inside the installed package', () => {
    expect(markdownFiles(pkg).sort()).toEqual(['BENCHMARKS.md', 'README.md', 'RELIABILITY.md', 'docs/cluster.md', 'docs/compression.md', 'docs/protocol.md']);
    expect(deadLinks(pkg)).toEqual([]);
  });

  it('ships a LICENSE, and source maps whose sources are in the package', () => {
    expect(readFileSync(join(pkg, 'LICENSE'), 'utf8')).toContain('Copyright (c) 2026 the rxws authors');
    const map = JSON.parse(readFileSync(join(pkg, 'dist/server/server.js.map'), 'utf8')) as { sources: string[] };
    for (const source of map.sources) expect(readFileSync(join(pkg, 'dist/server', source), 'utf8').length).toBeGreaterThan(0);
  });

  it('published types: no @internal text, no FaultOwner, no declaration the entry points (server, client) do not reach, no constructor of a class only the server makes', () => {
    const declarations = readdirSync(join(pkg, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
    expect(declarations).toContain('index.d.ts');
    const constructible: string[] = [];
    for (const file of declarations) {
      const text = readFileSync(join(pkg, 'dist', file), 'utf8');
      expect([file, text.includes('@internal')]).toEqual([file, false]);
      expect([file, text.includes('FaultOwner')]).toEqual([file, false]);
      // A class with a public constructor: `declare class X … constructor(`, before the next class.
      for (const match of text.matchAll(/declare (?:abstract )?class (\w+)([^]*?)(?=export declare |declare class |$)/g)) {
        if (/\n {4}constructor\(/.test(match[2]!)) constructible.push(match[1]!);
      }
    }
    // The internal modules (CLI, IPC, outbound queue, attribution…) ship no declarations.
    for (const internal of ['cli.d.ts', 'server/attribution.d.ts', 'server/outbound.d.ts', 'cluster/ipc.d.ts']) expect(declarations).not.toContain(internal);
    expect(readFileSync(join(pkg, 'dist/server/connection.d.ts'), 'utf8')).toContain('private constructor();');
    expect(readFileSync(join(pkg, 'dist/server/upgrade.d.ts'), 'utf8')).toContain('private constructor();');
    // What applications construct themselves, and nothing else.
    expect(constructible.sort()).toEqual(
      ['AcceptedUpgrade', 'ConnectionClosedError', 'GuardedObservable', 'HttpError', 'LocalCluster', 'MemoryHistory', 'NodeCluster', 'ProtocolError', 'RedisCluster', 'RxwsClientError', 'WebSocketServer'].sort(),
    );
  });

  it('published types leave out internals, and a strict consumer type-checks against them (skipLibCheck off)', () => {
    const connection = readFileSync(join(pkg, 'dist/server/connection.d.ts'), 'utf8');
    const server = readFileSync(join(pkg, 'dist/server/server.d.ts'), 'utf8');
    for (const internal of ['readonly socket', 'start(): void', 'deliver(', 'finish(', 'fault(', 'subscribeInbound(', 'roomNames', 'sendRaw(']) {
      expect(connection).not.toContain(internal);
    }
    for (const internal of ['connectionClosed(', 'connectionError(', 'stats', 'openConnectionBytes(']) expect(server).not.toContain(internal);
    expect(server).toContain('connections(): IterableIterator<Connection<S>>');
    writeFileSync(
      join(app, 'consumer.mts'),
      `import { WebSocketServer, type Connection } from '@rxws/server';
       const server = new WebSocketServer<{ n: number }>({ port: 0, initialState: () => ({ n: 0 }) });
       server.connections$.subscribe((conn: Connection<{ n: number }>) => conn.send(String(conn.state.n)));
       for (const conn of server.connections()) conn.close(1000);\n`,
    );
    expect(compile(app, ['--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'consumer.mts'])).toEqual([]);
  });

  it('the client entry ships its declarations, and a browser-style consumer type-checks against them', () => {
    expect(existsSync(join(pkg, 'dist/client/index.d.ts'))).toBe(true);
    writeFileSync(
      join(app, 'client-consumer.mts'),
      `import { connect, RxwsClientError, type Client, type RoomMessage } from '@rxws/server/client';
       const client: Client = connect('ws://127.0.0.1:1', { reconnect: { initialDelay: 100, maxDelay: 1000 }, maxQueued: 10 });
       client.room('lobby').subscribe((m: RoomMessage) => console.log(m.offset, m.data));
       client.publish('lobby', { n: 1 }).catch((e: unknown) => e instanceof RxwsClientError && console.log(e.code));
       client.close();\n`,
    );
    expect(compile(app, ['--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom', 'client-consumer.mts'])).toEqual([]);
  });

  // A CommonJS TypeScript project under each moduleResolution: it type-checks (strict,
  // exactOptionalPropertyTypes, skipLibCheck off) and the emitted CommonJS runs.
  it.each([
    ['node10', 'commonjs', 'import'],
    ['node16', 'node16', 'import'],
    ['nodenext', 'nodenext', 'import'],
    ['bundler', 'preserve', 'require'],
  ] as const)('a CommonJS consumer type-checks and runs under moduleResolution %s', (resolution, module, style) => {
    const use =
      style === 'import'
        ? "import { AcceptedUpgrade, type Connection, HttpError, WebSocketServer } from '@rxws/server';"
        : "import rxws = require('@rxws/server');\nconst { AcceptedUpgrade, HttpError, WebSocketServer } = rxws;\ntype Connection<S> = rxws.Connection<S>;";
    const project = join(app, `cjs-${resolution}`);
    mkdirSync(project, { recursive: true });
    writeFileSync(
      join(project, 'consumer.cts'),
      `${use}
       const server = new WebSocketServer({
         port: 0,
         host: '127.0.0.1',
         heartbeatInterval: 0,
         onUpgrade: (req) => (req.path === '/' ? new AcceptedUpgrade({ user: 'ann' }, { 'Set-Cookie': 'a=1' }) : new HttpError(404, 'no')),
       });
       server.connections$.subscribe((conn: Connection<{ user: string }>) => {
         server.rooms.publish('lobby', conn.state.user, { except: undefined });
       });
       void server.listen().then(async ({ port }) => {
         await server.close();
         process.stdout.write(\`\${typeof port} \${new HttpError(400, 'x') instanceof Error}\`);
       });\n`,
    );
    expect(compile(project, ['--module', module, '--moduleResolution', resolution, '--outDir', 'out', 'consumer.cts'])).toEqual([]);
    expect(run(process.execPath, ['out/consumer.cjs'], project)).toBe('number true');
  });
});
