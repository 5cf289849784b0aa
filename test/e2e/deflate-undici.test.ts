// undici's WebSocket (which offers permessage-deflate as browsers do) against
// `rxws --echo --deflate`: a second client implementation we did not write.
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningServer, startServer } from '../support/server.js';

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(['--echo', '--deflate']);
});
afterAll(async () => {
  await server?.stop();
});

function exchange(url: string, messages: (string | Uint8Array)[]): Promise<{ extensions: string; got: (string | Buffer)[] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    const got: (string | Buffer)[] = [];
    ws.addEventListener('open', () => messages.forEach((m) => ws.send(m)));
    ws.addEventListener('message', (e) => {
      got.push(typeof e.data === 'string' ? e.data : Buffer.from(e.data as ArrayBuffer));
      if (got.length === messages.length) {
        resolve({ extensions: ws.extensions, got });
        ws.close(1000);
      }
    });
    ws.addEventListener('close', (e) => reject(new Error(`closed early: ${e.code}`)));
    ws.addEventListener('error', () => reject(new Error('undici could not connect')));
  });
}

describe('undici WebSocket ↔ rxws --echo --deflate', () => {
  it('negotiates permessage-deflate; text and binary, large and small, come back intact', async () => {
    const big = JSON.stringify(Array.from({ length: 5000 }, (_, i) => ({ i, name: `item-${i % 50}` })));
    const bin = Buffer.from(big.slice(0, 20_000));
    const { extensions, got } = await exchange(server.url, [big, 'hi', bin, '']);
    expect(extensions).toMatch(/^permessage-deflate\b/);
    expect(got[0]).toBe(big);
    expect(got[1]).toBe('hi');
    expect(Buffer.isBuffer(got[2]) && got[2].equals(bin)).toBe(true);
    expect(got[3]).toBe('');
  });
});
