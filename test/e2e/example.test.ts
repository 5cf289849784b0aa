import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The README's runnable example must keep working as documented.
const EXAMPLE = fileURLToPath(new URL('../../examples/shouting-rooms.mjs', import.meta.url));

describe('examples/shouting-rooms.mjs (the README example)', () => {
  let proc: ReturnType<typeof spawn>;
  let port = 0;
  beforeAll(async () => {
    proc = spawn(process.execPath, [EXAMPLE, '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      proc.stdout!.on('data', (d) => {
        out += d;
        const m = /listening on ws:\/\/[^:]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      proc.once('exit', (code) => reject(new Error(`example exited with ${code}`)));
    });
  });
  afterAll(() => {
    proc.kill('SIGTERM');
  });

  it('trims, drops empty lines, shouts, and publishes to the room from the URL only', async () => {
    const open = (room: string) =>
      new Promise<{ ws: WebSocket; got: string[] }>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/?room=${room}`);
        const got: string[] = [];
        ws.onmessage = (e) => got.push(String(e.data));
        ws.onopen = () => resolve({ ws, got });
      });
    const a = await open('x');
    const b = await open('x');
    const other = await open('y');
    a.ws.send('  hello ');
    a.ws.send('   ');
    a.ws.send('world');
    const deadline = Date.now() + 5000;
    while (b.got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const aId = a.got[0]!.split(' ')[1];
    expect(b.got.slice(1)).toEqual([`${aId}: HELLO`, `${aId}: WORLD`]);
    expect(a.got.slice(1)).toEqual([`${aId}: HELLO`, `${aId}: WORLD`]);
    expect(other.got).toHaveLength(1); // only its welcome: room y heard nothing
    for (const c of [a, b, other]) c.ws.close();
  });
});
