// Compression bombs against `rxws --echo --deflate`: each is closed with 1009
// as soon as its inflated bytes pass --max-message-size, and the server's RSS
// stays bounded even with 200 of them at once.
//
// DEFLATE cannot beat about 1032:1 (a 258-byte match per ~2 bits), so a
// 10 KiB payload inflates to ~10 MiB at most; the 1 GiB bomb is ~1 MiB on the
// wire (inside the 2 MiB wire limit used here), built as 100 copies of a
// 10 MiB-of-zeros segment, each sync-flushed so the copies concatenate into
// one valid stream.
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_OFFER } from '../support/deflate-client.js';
import { encodeClientFrame, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const BINARY = 2;
const CONT = 0;
const RSV1 = 4;
const MIB = 1024 * 1024;
const LIMIT = 2 * MIB;
const KEY = Buffer.from([1, 2, 3, 4]);

/** 10 MiB of zeros, sync-flushed (tail kept so that copies concatenate). */
const segment = zlib.deflateRawSync(Buffer.alloc(10 * MIB), { finishFlush: zlib.constants.Z_SYNC_FLUSH, level: 9 });
const bomb10MiB = segment.subarray(0, segment.length - 4);
const bomb1GiB = (() => {
  const all = Buffer.concat(Array.from({ length: 103 }, () => segment)); // 103 × 10 MiB ≥ 1 GiB
  return all.subarray(0, all.length - 4);
})();

let server: RunningServer;
beforeAll(async () => {
  server = await startServer(['--echo', '--deflate', '--max-message-size', '2mb', '--max-connections', '1000']);
});
afterAll(async () => {
  await server?.stop();
});

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

async function open(): Promise<RawClient> {
  const c = await RawClient.connect(server.port, { headers: { 'Sec-WebSocket-Extensions': BROWSER_OFFER } });
  expect(c.response).toMatch(/sec-websocket-extensions: permessage-deflate/i);
  return c;
}

async function expect1009(c: RawClient, timeoutMs = 10_000): Promise<void> {
  try {
    const outcome = await c.closeOutcome(timeoutMs);
    expect(outcome.code).toBe(1009);
    expect(outcome.before).toEqual([]); // nothing was echoed
  } finally {
    c.destroy();
  }
}

describe('compression bombs (limit 2 MiB)', () => {
  it('sizes: the small bomb is ~10 KiB for 10 MiB, the big one ~1 MiB for over 1 GiB', () => {
    expect(bomb10MiB.length).toBeLessThan(11 * 1024);
    expect(bomb1GiB.length).toBeLessThan(LIMIT);
    expect(zlib.inflateRawSync(Buffer.concat([bomb10MiB, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).length).toBe(10 * MIB);
  });

  it('a ~10 KiB frame inflating to 10 MiB: 1009', async () => {
    const c = await open();
    await c.send({ opcode: BINARY, rsv: RSV1, payload: bomb10MiB });
    await expect1009(c);
  });

  it('a ~1 MiB frame inflating to over 1 GiB: 1009', async () => {
    const c = await open();
    await c.send({ opcode: BINARY, rsv: RSV1, payload: bomb1GiB });
    await expect1009(c);
  });

  it('the same in 1,000 fragments: 1009', async () => {
    const c = await open();
    const step = Math.ceil(bomb1GiB.length / 1000);
    const frames: Buffer[] = [];
    for (let i = 0, n = 0; i < bomb1GiB.length; i += step, n++) {
      const last = i + step >= bomb1GiB.length;
      frames.push(encodeClientFrame({ opcode: n === 0 ? BINARY : CONT, rsv: n === 0 ? RSV1 : 0, fin: last, payload: bomb1GiB.subarray(i, i + step), mask: KEY }));
    }
    expect(frames.length).toBe(1000);
    await c.write(Buffer.concat(frames));
    await expect1009(c);
  });

  it('200 big bombs at once: every one 1009, server RSS growth bounded, and the server still echoes', async () => {
    const before = rssKiB(server.proc.pid!);
    const clients = await Promise.all(Array.from({ length: 200 }, () => open()));
    const frame = encodeClientFrame({ opcode: BINARY, rsv: RSV1, payload: bomb1GiB, mask: KEY }); // encoded once, written 200 times
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(server.proc.pid!))), 20);
    try {
      for (const c of clients) c.socket.write(frame);
      await Promise.all(clients.map((c) => expect1009(c, 30_000)));
    } finally {
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssKiB(server.proc.pid!));
    const growthMiB = (peak - before) / 1024;
    console.log(`deflate bombs: 200 × (1 MiB → 1 GiB) at once; server RSS ${Math.round(before / 1024)} MiB before, peak ${Math.round(peak / 1024)} MiB (+${growthMiB.toFixed(1)} MiB)`);
    // 200 × (the 2 MiB limit + one 64 KiB chunk + the 1 MiB frame on the wire) would be ~620 MiB if all were held at once.
    expect(growthMiB).toBeLessThan(400);
    const c = await open();
    await c.send({ opcode: BINARY, payload: Buffer.from('still here') });
    expect((await c.nextFrame()).payload.toString()).toBe('still here');
    c.destroy();
  });
});
