import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

describe('rxws --echo smoke', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(['--echo']);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('echoes a text frame sent in 1-byte writes and answers a close', async () => {
    const c = await RawClient.connect(server.port);
    expect(c.status).toBe(101);
    await c.send({ opcode: 1, payload: 'héllo wörld' }, 1);
    const f = await c.nextFrame();
    expect(f.opcode).toBe(1);
    expect(f.masked).toBe(false);
    expect(f.payload.toString()).toBe('héllo wörld');
    await c.send({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
    const out = await c.closeOutcome();
    expect(out.code).toBe(1000);
    await c.waitEnded();
  });
});
