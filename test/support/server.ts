import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The built command, run as a user would run `npx rxws` (npm test builds first). */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

export interface RunningServer {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly url: string;
  readonly httpUrl: string;
  /** Everything the process wrote to stdout / stderr so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** GET /healthz as parsed JSON. */
  health(): Promise<{ status: string; connections: number; rooms: number }>;
}

/** Starts `rxws --port 0 --host 127.0.0.1 …args` (a `--port` in args replaces the 0: a restart on the same port) and waits for its `listening on ws://HOST:PORT` line. */
export async function startServer(args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<RunningServer> {
  const port0 = args.includes('--port') ? [] : ['--port', '0'];
  const proc = spawn(process.execPath, [CLI, ...port0, '--host', '127.0.0.1', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = () => {
      const m = /listening on wss?:\/\/[^\s:]+:(\d+)/.exec(out);
      if (m) {
        proc.stdout!.off('data', onData);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`rxws exited with ${code} before listening: ${err}`)));
  });
  let exited: Promise<number | null> | undefined;
  const exit = () => (exited ??= proc.exitCode !== null ? Promise.resolve(proc.exitCode) : once(proc, 'exit').then(([code]) => code as number | null));
  return {
    proc,
    port,
    url: `ws://127.0.0.1:${port}`,
    httpUrl: `http://127.0.0.1:${port}`,
    stdout: () => out,
    stderr: () => err,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const done = exit();
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return done;
    },
    async health() {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      return (await res.json()) as { status: string; connections: number; rooms: number };
    },
  };
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the command to completion (killed after `timeoutMs`, which fails the test through a null code). */
export function runCli(args: string[], timeoutMs = 10_000): Promise<CliRun> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
