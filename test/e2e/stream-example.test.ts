import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';

// The README's backpressure example, run as documented.
const EXAMPLE = fileURLToPath(new URL('../../examples/stream-200mb.mjs', import.meta.url));
const CHUNK = 64 * 1024;
const procs: ChildProcess[] = [];

afterEach(() => {
  for (const p of procs.splice(0)) p.kill('SIGKILL');
});

async function startExample(megabytes: number): Promise<{ port: number; stderr: () => string }> {
  const proc = spawn(process.execPath, [EXAMPLE, String(megabytes), '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on ws:\/\/[^:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`example exited with ${code}: ${err}`)));
  });
  return { port, stderr: () => err };
}

/** Receives the whole stream: every chunk in order (its index in its first 4 bytes, then its fill byte), and the close. */
function receive(port: number): Promise<{ chunks: number; bytes: number; outOfOrder: number; code: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    ws.binaryType = 'arraybuffer';
    let chunks = 0;
    let bytes = 0;
    let outOfOrder = 0;
    ws.onmessage = (e) => {
      const data = Buffer.from(e.data as ArrayBuffer);
      if (data.readUInt32BE(0) !== chunks || data[data.length - 1] !== (chunks & 0xff)) outOfOrder++;
      chunks++;
      bytes += data.length;
    };
    ws.onclose = (e) => resolve({ chunks, bytes, outOfOrder, code: e.code });
    ws.onerror = () => reject(new Error('WebSocket error'));
  });
}

describe('examples/stream-200mb.mjs (backpressure: a stream far larger than the 1 MiB budget)', () => {
  it('streams 32 MB (32 × the default budget) to one client: every chunk, in order, then close 1000', { timeout: 30_000 }, async () => {
    const { port, stderr } = await startExample(32);
    const got = await receive(port);
    expect(got).toEqual({ chunks: 512, bytes: 32 * 1024 * 1024, outOfOrder: 0, code: 1000 });
    expect(stderr()).toMatch(/sent 512 messages, 32 MiB in [\d.]+ s \(\d+ MiB\/s\)/);
  });

  it('streams the full 200 MB to one client with the default budget', { timeout: 60_000 }, async () => {
    const { port, stderr } = await startExample(200);
    const got = await receive(port);
    expect(got).toEqual({ chunks: 3200, bytes: 200 * 1024 * 1024, outOfOrder: 0, code: 1000 });
    expect(stderr()).toMatch(/sent 3200 messages, 200 MiB in/);
  });
});
