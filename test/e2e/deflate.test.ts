// permessage-deflate (RFC 7692) end to end: the built `rxws --echo --deflate`
// driven by a raw client that compresses and inflates with Node's own zlib
// streams (test/support/deflate-client.ts), for every rule of PROTOCOL.md
// "Compression". Rules about frames run with whole writes and 1-byte writes.
import zlib from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_OFFER, DeflateCodec, extensionsHeader, nextMessage, parseAnswer } from '../support/deflate-client.js';
import { RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONT = 0x0;
const PING = 0x9;
const PONG = 0xa;
const RSV1 = 4;
const PROMPT_MS = 3000;
const { Z_SYNC_FLUSH } = zlib.constants;

const MODES: [string, number][] = [
  ['whole writes', 0],
  ['1-byte writes', 1],
];

let server: RunningServer; // --echo --deflate (defaults: threshold 1kb, max message 1mb)
let everything: RunningServer; // --echo --deflate --deflate-threshold 0
let plain: RunningServer; // --echo (no --deflate)
const clients: RawClient[] = [];

beforeAll(async () => {
  [server, everything, plain] = await Promise.all([
    startServer(['--echo', '--deflate']),
    startServer(['--echo', '--deflate', '--deflate-threshold', '0']),
    startServer(['--echo']),
  ]);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await Promise.all([server?.stop(), everything?.stop(), plain?.stop()]);
});

async function open(port: number, offer: string | null = BROWSER_OFFER): Promise<{ c: RawClient; codec: DeflateCodec; answer: string | null }> {
  const c = await RawClient.connect(port, { headers: offer === null ? {} : { 'Sec-WebSocket-Extensions': offer } });
  clients.push(c);
  expect(c.status).toBe(101);
  const answer = extensionsHeader(c.response);
  return { c, codec: new DeflateCodec(answer === null ? {} : parseAnswer(answer)), answer };
}

async function expectClose(c: RawClient, code: number): Promise<void> {
  const outcome = await c.closeOutcome();
  expect(outcome.code).toBe(code);
  await c.waitEnded(PROMPT_MS);
}

/** Compressible text of about `size` bytes (JSON-like, varied). */
const jsonText = (size: number, seed = 0): string => {
  let s = '';
  for (let i = 0; s.length < size; i++) s += JSON.stringify({ type: 'message', seq: seed + i, user: `user-${(seed * 7 + i) % 13}`, text: 'hello world' }) + '\n';
  return s.slice(0, size);
};

/** A raw DEFLATE payload as a client sends it: sync flush, tail removed. */
const deflateRaw = (data: Buffer | string): Buffer => {
  const out = zlib.deflateRawSync(Buffer.from(data), { finishFlush: Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
};

describe('negotiation on the wire', () => {
  it('without --deflate the offer is declined: no Sec-WebSocket-Extensions, and RSV1 is a protocol error (1002)', async () => {
    const { c, answer } = await open(plain.port);
    expect(answer).toBeNull();
    await c.send({ opcode: TEXT, rsv: RSV1, payload: deflateRaw('hi') });
    await expectClose(c, 1002);
  });

  it("answers a browser's offer with the defaults: no context takeover either way, no window bits", async () => {
    const { answer } = await open(server.port);
    expect(answer).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
  });

  it('a client that offers nothing gets no extension, and RSV1 from it is a protocol error (1002)', async () => {
    const { c, answer } = await open(server.port, null);
    expect(answer).toBeNull();
    await c.send({ opcode: TEXT, rsv: RSV1, payload: deflateRaw('hi') });
    await expectClose(c, 1002);
  });

  it('skips an offer it cannot honour and takes the next one; other extensions are declined', async () => {
    const { answer } = await open(
      server.port,
      'x-webkit-deflate-frame, permessage-deflate; unknown_param, permessage-deflate; client_max_window_bits=10; server_max_window_bits=12',
    );
    expect(answer).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=10');
  });

  it('several Sec-WebSocket-Extensions headers are one list; no acceptable offer → no extension, handshake still 101', async () => {
    const request =
      `GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
      'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\nSec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n';
    const c = await RawClient.connect(server.port, { request });
    clients.push(c);
    expect(c.status).toBe(101);
    expect(extensionsHeader(c.response)).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover');
    const bad = await RawClient.connect(server.port, { headers: { 'Sec-WebSocket-Extensions': 'permessage-deflate; server_max_window_bits=16, permessage-deflate; client_no_context_takeover=1' } });
    clients.push(bad);
    expect(bad.status).toBe(101);
    expect(extensionsHeader(bad.response)).toBeNull();
  });
});

describe.each(MODES)('messages (%s)', (_mode, chop) => {
  it('a compressed text message ≥ threshold is inflated, echoed compressed, and inflates back intact', async () => {
    const { c, codec } = await open(server.port);
    const text = jsonText(10_000);
    await c.send({ opcode: TEXT, rsv: RSV1, payload: await codec.compress(text) }, chop);
    const m = await nextMessage(c, codec);
    expect(m.opcode).toBe(TEXT);
    expect(m.compressed).toBe(true);
    expect(m.payload.toString()).toBe(text);
    expect(m.wireBytes).toBeLessThan(text.length / 4);
  });

  it('under the threshold the echo goes uncompressed (RSV1 clear), whether the client compressed it or not', async () => {
    const { c, codec } = await open(server.port);
    await c.send({ opcode: TEXT, rsv: RSV1, payload: await codec.compress('small') }, chop);
    await c.send({ opcode: BINARY, payload: Buffer.from([1, 2, 3]) }, chop);
    const a = await nextMessage(c, codec);
    const b = await nextMessage(c, codec);
    expect([a.compressed, a.payload.toString()]).toEqual([false, 'small']);
    expect([b.compressed, b.opcode, [...b.payload]]).toEqual([false, BINARY, [1, 2, 3]]);
  });

  it('a compressed message in many fragments with pings between them: inflated as it arrives, pongs first, echo intact', async () => {
    const { c, codec } = await open(server.port);
    const text = jsonText(50_000, 3);
    const z = await codec.compress(text);
    const step = Math.ceil(z.length / 7);
    for (let i = 0, n = 0; i < z.length; i += step, n++) {
      const last = i + step >= z.length;
      await c.send({ opcode: n === 0 ? TEXT : CONT, rsv: n === 0 ? RSV1 : 0, fin: last, payload: z.subarray(i, i + step) }, chop);
      if (!last) await c.send({ opcode: PING, payload: `p${n}` }, chop);
    }
    const pongs = [];
    for (let n = 0; n < 6; n++) pongs.push((await c.nextFrame()).payload.toString());
    expect(pongs).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    const m = await nextMessage(c, codec);
    expect(m.payload.toString()).toBe(text);
  });

  it('binary messages are compressed and echoed as binary', async () => {
    const { c, codec } = await open(server.port);
    const data = Buffer.from(jsonText(5000, 9));
    await c.send({ opcode: BINARY, rsv: RSV1, payload: await codec.compress(data) }, chop);
    const m = await nextMessage(c, codec);
    expect([m.opcode, m.compressed]).toEqual([BINARY, true]);
    expect(m.payload.equals(data)).toBe(true);
  });

  it('an empty compressed payload (and the single 0x00 block) is an empty message', async () => {
    const { c, codec } = await open(server.port);
    await c.send({ opcode: TEXT, rsv: RSV1, payload: Buffer.alloc(0) }, chop);
    await c.send({ opcode: TEXT, rsv: RSV1, payload: Buffer.from([0x00]) }, chop);
    for (let i = 0; i < 2; i++) {
      const m = await nextMessage(c, codec);
      expect([m.opcode, m.payload.length]).toEqual([TEXT, 0]);
    }
  });

  it('RSV1 on a continuation frame is a protocol error (1002)', async () => {
    const { c } = await open(server.port);
    await c.send({ opcode: TEXT, fin: false, payload: 'ab' }, chop);
    await c.send({ opcode: CONT, rsv: RSV1, payload: deflateRaw('cd') }, chop);
    await expectClose(c, 1002);
  });

  it('RSV1 on a control frame is a protocol error (1002)', async () => {
    const { c } = await open(server.port);
    await c.send({ opcode: PING, rsv: RSV1, payload: 'x' }, chop);
    await expectClose(c, 1002);
  });

  it('RSV2 or RSV3 stay protocol errors with deflate agreed (1002)', async () => {
    const { c } = await open(server.port);
    await c.send({ opcode: TEXT, rsv: 2, payload: 'x' }, chop);
    await expectClose(c, 1002);
  });

  it('data that does not inflate fails with 1007', async () => {
    const { c } = await open(server.port);
    await c.send({ opcode: TEXT, rsv: RSV1, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]) }, chop);
    await expectClose(c, 1007);
  });

  it('data that does not end on a block boundary fails with 1007', async () => {
    const { c } = await open(server.port);
    const z = zlib.deflateRawSync(Buffer.from(jsonText(3000)), { finishFlush: Z_SYNC_FLUSH });
    await c.send({ opcode: TEXT, rsv: RSV1, payload: z.subarray(0, Math.floor(z.length / 2)) }, chop);
    await expectClose(c, 1007);
  });

  it('invalid UTF-8 inside compressed text fails with 1007', async () => {
    const { c } = await open(server.port);
    await c.send({ opcode: TEXT, rsv: RSV1, payload: deflateRaw(Buffer.concat([Buffer.from('valid '), Buffer.from([0xc3, 0x28])])) }, chop);
    await expectClose(c, 1007);
  });
});

describe('window bits', () => {
  /** Text whose repeats lie ~2 KiB apart: a 15-bit window finds them, a 9-bit (512-byte) one cannot. */
  const farRepeats = (): string => {
    let x = 12345;
    const block = Array.from({ length: 2000 }, () => String.fromCharCode(97 + ((x = (x * 1103515245 + 12345) & 0x7fffffff) >> 16) % 26)).join('');
    return block.repeat(8);
  };

  it('client_max_window_bits=9: the client compresses with a 512-byte window and the server inflates it', async () => {
    const { c, codec, answer } = await open(server.port, 'permessage-deflate; client_max_window_bits=9');
    expect(answer).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=9');
    const text = farRepeats();
    await c.send({ opcode: TEXT, rsv: RSV1, payload: await codec.compress(text) });
    expect((await nextMessage(c, codec)).payload.toString()).toBe(text);
  });

  it('server_max_window_bits=9: the server never reaches further back than 512 bytes (strict 9-bit inflate succeeds)', async () => {
    const { c, codec, answer } = await open(server.port, 'permessage-deflate; server_max_window_bits=9');
    expect(answer).toBe('permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9');
    const text = farRepeats();
    await c.send({ opcode: TEXT, payload: text });
    const m = await nextMessage(c, codec);
    expect([m.compressed, m.payload.toString() === text]).toEqual([true, true]);
    // The same text with a full window compresses far better: the 9-bit limit was really applied.
    expect(m.wireBytes).toBeGreaterThan(deflateRaw(text).length * 2);
  });

  it('server_max_window_bits=8 is accepted, and everything toward that client goes uncompressed (zlib has no 256-byte window)', async () => {
    const { c, codec, answer } = await open(server.port, 'permessage-deflate; server_max_window_bits=8');
    expect(answer).toContain('server_max_window_bits=8');
    const text = jsonText(5000);
    await c.send({ opcode: TEXT, rsv: RSV1, payload: await codec.compress(text) });
    const m = await nextMessage(c, codec);
    expect([m.compressed, m.payload.toString() === text]).toEqual([false, true]);
  });
});

describe('limits', () => {
  it('a ~10 KiB frame that inflates to ~10 MiB is closed with 1009 (limit 1 MiB)', async () => {
    const { c } = await open(server.port);
    const bomb = deflateRaw(Buffer.alloc(10 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(11 * 1024);
    await c.send({ opcode: BINARY, rsv: RSV1, payload: bomb });
    await expectClose(c, 1009);
  });

  it('the wire-size rule still applies to compressed frames (1009 from the header)', async () => {
    const { c } = await open(server.port);
    await c.send({ opcode: BINARY, rsv: RSV1, announcedLength: 2 * 1024 * 1024, payload: Buffer.alloc(10) });
    await expectClose(c, 1009);
  });

  it('a message inflated to exactly the limit passes', async () => {
    const small = await startServer(['--echo', '--deflate', '--max-message-size', '64kb']);
    try {
      const { c, codec } = await open(small.port);
      const exact = Buffer.from(jsonText(64 * 1024));
      await c.send({ opcode: BINARY, rsv: RSV1, payload: await codec.compress(exact) });
      const m = await nextMessage(c, codec);
      expect(m.payload.equals(exact)).toBe(true);
      await c.send({ opcode: BINARY, rsv: RSV1, payload: await codec.compress(Buffer.concat([exact, Buffer.from('!')])) });
      await expectClose(c, 1009);
    } finally {
      await small.stop();
    }
  });
});

describe('--deflate-threshold', () => {
  it('0 compresses every message, however small', async () => {
    const { c, codec } = await open(everything.port);
    await c.send({ opcode: TEXT, payload: 'hi' });
    const m = await nextMessage(c, codec);
    expect([m.compressed, m.payload.toString()]).toEqual([true, 'hi']);
  });

  it('a bad value is a clear error, exit 2', async () => {
    await expect(startServer(['--deflate', '--deflate-threshold', 'lots'])).rejects.toThrow(/exited with 2.*deflate-threshold/s);
  });
});

describe('relay fan-out', () => {
  it('a publish reaches deflate members compressed (the very same bytes) and plain members uncompressed', async () => {
    const relay = await startServer(['--deflate']);
    try {
      const members = await Promise.all([open(relay.port), open(relay.port), open(relay.port, null)]);
      for (const { c, codec } of members) {
        await nextMessage(c, codec); // welcome
        await c.send({ opcode: TEXT, payload: JSON.stringify({ type: 'join', room: 'r' }) });
        await nextMessage(c, codec); // joined
      }
      const data = jsonText(4000);
      await members[0]!.c.send({ opcode: TEXT, payload: JSON.stringify({ type: 'publish', room: 'r', data }) });
      const got = [];
      for (const { c, codec } of members) got.push(await nextMessage(c, codec));
      expect(got.map((m) => m.compressed)).toEqual([true, true, false]);
      for (const m of got) expect(JSON.parse(m.payload.toString()).data).toBe(data);
      // Compressed once, with no context: both deflate members got identical wire bytes.
      expect(got[0]!.wireBytes).toBe(got[1]!.wireBytes);
    } finally {
      for (const c of clients.splice(0)) c.destroy();
      await relay.stop();
    }
  });
});
