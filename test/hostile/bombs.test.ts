// Fragment bombs (a message cut into 100,000 frames) and frame bombs (a header
// announcing more than any server should hold) against
// `rxws --echo --max-message-size 64mb`: the first is echoed intact at a small
// memory cost, the second is refused from the header alone.
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeClientFrame, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const FRAGMENTS = 100_000;
const KEY = Buffer.from([0x12, 0x34, 0x56, 0x78]); // one mask key for all frames: encoding 100,000 frames stays cheap
const FRAGMENT_BOMB_RSS_BOUND = 32 * 1024 * 1024;
const FRAME_BOMB_RSS_BOUND = 8 * 1024 * 1024;

let server: RunningServer;
const clients: RawClient[] = [];
beforeAll(async () => {
  server = await startServer(['--echo', '--max-message-size', '64mb']);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await server?.stop();
});

const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8'))![1]) * 1024;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/** Runs `work` while sampling the server's RSS every few ms; returns its result, the RSS before it and the peak during it. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; before: number; peak: number }> {
  const before = rss();
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rss())), 2);
  try {
    const result = await work();
    peak = Math.max(peak, rss());
    return { result, before, peak };
  } finally {
    clearInterval(sampler);
  }
}

async function connect(): Promise<RawClient> {
  const c = await RawClient.connect(server.port);
  clients.push(c);
  expect(c.status).toBe(101);
  return c;
}

/** One message as `count` frames: the first `count - 1` carry `fragmentBytes` each (maybe 0), the last carries `last`. */
function fragmentBomb(opcode: number, count: number, fragmentBytes: Buffer[], last: Buffer): Buffer {
  const frames: Buffer[] = [];
  for (let i = 0; i < count - 1; i++) {
    frames.push(encodeClientFrame({ opcode: i === 0 ? opcode : 0, fin: false, payload: fragmentBytes[i] ?? Buffer.alloc(0), mask: KEY }));
  }
  frames.push(encodeClientFrame({ opcode: 0, fin: true, payload: last, mask: KEY }));
  return Buffer.concat(frames);
}

describe('fragment bombs (rxws --echo --max-message-size 64mb)', () => {
  it(`echoes a message of ${FRAGMENTS.toLocaleString('en')} one-byte fragments intact, at a small memory cost`, async () => {
    const c = await connect();
    const message = Buffer.from(Array.from({ length: FRAGMENTS }, (_, i) => i % 251));
    const pieces = Array.from({ length: FRAGMENTS }, (_, i) => message.subarray(i, i + 1));
    const bomb = fragmentBomb(2, FRAGMENTS, pieces, pieces[FRAGMENTS - 1]!);
    const { result: echo, before, peak } = await withPeakRss(async () => {
      await c.write(bomb, 64 * 1024);
      return c.nextFrame(20_000);
    });
    expect(echo.opcode).toBe(2);
    expect(echo.fin).toBe(true);
    expect(echo.payload.equals(message)).toBe(true);
    console.log(`[reliability] fragment bomb: ${FRAGMENTS} × 1-byte fragments (${mib(bomb.length)} MiB on the wire) → server RSS ${mib(before)} MiB, peak ${mib(peak)} MiB (+${mib(peak - before)} MiB)`);
    expect(peak - before).toBeLessThan(FRAGMENT_BOMB_RSS_BOUND);
  });

  it(`echoes ${FRAGMENTS.toLocaleString('en')} EMPTY fragments then a 1-byte final as a 1-byte message`, async () => {
    const c = await connect();
    const bomb = fragmentBomb(1, FRAGMENTS + 1, [], Buffer.from('!'));
    const { result: echo, before, peak } = await withPeakRss(async () => {
      await c.write(bomb, 64 * 1024);
      return c.nextFrame(20_000);
    });
    expect(echo.opcode).toBe(1);
    expect(echo.payload.toString()).toBe('!');
    console.log(`[reliability] empty-fragment bomb: ${FRAGMENTS} empty fragments + 1 byte → server RSS peak +${mib(peak - before)} MiB`);
    expect(peak - before).toBeLessThan(FRAGMENT_BOMB_RSS_BOUND);
    // And the connection is still in order afterwards.
    await c.send({ opcode: 1, payload: 'after' });
    expect((await c.nextFrame()).payload.toString()).toBe('after');
  });
});

describe('frame bombs: a header that announces too much, and no payload', () => {
  const cases: [string, bigint, number][] = [
    ['2^62 bytes', 2n ** 62n, 1009],
    ['1 GiB', 2n ** 30n, 1009],
    ['2^63 bytes (the top bit of the 64-bit length)', 2n ** 63n, 1002],
  ];
  for (const [name, length, code] of cases) {
    it(`closes with ${code} on a header announcing ${name}, at once and without allocating`, async () => {
      const c = await connect();
      const { result, before, peak } = await withPeakRss(async () => {
        const sentAt = Date.now();
        await c.send({ opcode: 2, announcedLength: length, mask: KEY });
        // No payload follows: the server must decide on the header alone.
        const outcome = await c.closeOutcome(2000);
        return { outcome, ms: Date.now() - sentAt };
      });
      expect(result.outcome.code).toBe(code);
      expect(result.outcome.before).toEqual([]);
      await c.waitEnded(2000);
      console.log(`[reliability] frame bomb ${name}: close ${result.outcome.code} after ${result.ms} ms; server RSS +${mib(peak - before)} MiB (peak ${mib(peak)} MiB)`);
      expect(peak - before).toBeLessThan(FRAME_BOMB_RSS_BOUND);
    });
  }

  it('closes with 1009 on a 1 GiB header even when payload bytes start to follow', async () => {
    const c = await connect();
    const { result, before, peak } = await withPeakRss(async () => {
      const header = encodeClientFrame({ opcode: 2, announcedLength: 2n ** 30n, mask: KEY });
      await c.write(Buffer.concat([header, Buffer.alloc(256 * 1024)]));
      return c.closeOutcome(2000);
    });
    expect(result.code).toBe(1009);
    expect(peak - before).toBeLessThan(FRAME_BOMB_RSS_BOUND);
  });

  it('still echoes for a fresh client afterwards', async () => {
    const c = await connect();
    await c.send({ opcode: 1, payload: 'alive' });
    expect((await c.nextFrame()).payload.toString()).toBe('alive');
  });
});
