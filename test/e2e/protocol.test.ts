// RFC 6455 rules, end to end: the built `rxws --echo` command driven by a raw
// client. Every rule runs twice: frames written whole, and chopped into 1-byte
// TCP writes (so every header, length and UTF-8 sequence straddles reads).
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closePayload, encodeClientFrame, type Frame, type FrameSpec, RawClient, upgradeRequest } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const TEXT = 0x1;
const BINARY = 0x2;
const CONT = 0x0;
const CLOSE = 0x8;
const PING = 0x9;
const PONG = 0xa;

// The server ends TCP right after its close frame; its own close timeout is 5 s,
// so a much shorter wait proves it did not merely time out.
const PROMPT_MS = 3000;

// [name, chop]: rows as arrays so that `%s` prints names in full (`$name` truncates them).
const MODES: [string, number][] = [
  ['whole writes', 0],
  ['1-byte writes', 1],
];

let server: RunningServer; // --max-message-size 64mb
let small: RunningServer; // --max-message-size 1kb
const clients: RawClient[] = [];

beforeAll(async () => {
  [server, small] = await Promise.all([
    startServer(['--echo', '--max-message-size', '64mb']),
    startServer(['--echo', '--max-message-size', '1kb']),
  ]);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
afterAll(async () => {
  await Promise.all([server?.stop(), small?.stop()]);
});

async function open(port = server.port): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect(c.status).toBe(101);
  return c;
}

async function sendAll(c: RawClient, frames: FrameSpec[], chop: number): Promise<void> {
  for (const f of frames) await c.send(f, chop);
}

/** The server's close frame carries `code`, nothing (or only frames of the `before` opcodes) came before it, and TCP then ends promptly. */
async function expectClose(c: RawClient, code: number | undefined, before: number[] = []): Promise<void> {
  const outcome = await c.closeOutcome();
  expect(outcome.code).toBe(code);
  expect(outcome.before.map((f) => f.opcode)).toEqual(before);
  await c.waitEnded(PROMPT_MS);
}

/** A well-formed server data/control frame: FIN set, no RSV, unmasked. */
function expectServerFrame(f: Frame, opcode: number, payload: Buffer | string): void {
  expect({ opcode: f.opcode, fin: f.fin, rsv: f.rsv, masked: f.masked }).toEqual({ opcode, fin: true, rsv: 0, masked: false });
  expect(f.payload.equals(Buffer.from(payload))).toBe(true);
}

const bytes = (...b: number[]) => Buffer.from(b);
const filled = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff));

interface Violation {
  rule: string;
  frames: FrameSpec[];
  code: number;
  /** Which server: the default (64 MiB limit) or the 1 KiB one. */
  limit?: 'small';
  /** Opcodes of the frames the server sends before its close (default none). */
  before?: number[];
}

const violations: Violation[] = [
  // §5.2 RSV bits without a negotiated extension
  { rule: 'RSV1 set without an extension', frames: [{ opcode: TEXT, payload: 'x', rsv: 4 }], code: 1002 },
  { rule: 'RSV2 set without an extension', frames: [{ opcode: TEXT, payload: 'x', rsv: 2 }], code: 1002 },
  { rule: 'RSV3 set without an extension', frames: [{ opcode: TEXT, payload: 'x', rsv: 1 }], code: 1002 },
  // §5.2 reserved opcodes
  ...[3, 4, 5, 6, 7, 11, 12, 13, 14, 15].map((opcode) => ({ rule: `reserved opcode ${opcode}`, frames: [{ opcode, payload: 'x' }], code: 1002 })),
  // §5.5 control frames: payload ≤ 125, never fragmented
  ...[
    ['ping', PING],
    ['pong', PONG],
    ['close', CLOSE],
  ].flatMap(([name, opcode]) => [
    { rule: `${name} with a 126-byte payload`, frames: [{ opcode: opcode as number, payload: filled(126), lengthBits: 16 as const }], code: 1002 },
    { rule: `${name} with FIN=0`, frames: [{ opcode: opcode as number, payload: name === 'close' ? closePayload(1000) : 'p', fin: false }], code: 1002 },
  ]),
  // §5.4 fragmentation sequencing
  { rule: 'continuation frame with no message open', frames: [{ opcode: CONT, payload: 'x' }], code: 1002 },
  { rule: 'non-final continuation frame with no message open', frames: [{ opcode: CONT, payload: 'x', fin: false }], code: 1002 },
  {
    rule: 'text frame while a fragmented text message is open',
    frames: [{ opcode: TEXT, payload: 'a', fin: false }, { opcode: TEXT, payload: 'b' }],
    code: 1002,
  },
  {
    rule: 'binary frame while a fragmented text message is open',
    frames: [{ opcode: TEXT, payload: 'a', fin: false }, { opcode: BINARY, payload: 'b' }],
    code: 1002,
  },
  {
    rule: 'text frame while a fragmented binary message is open',
    frames: [{ opcode: BINARY, payload: 'a', fin: false }, { opcode: CONT, payload: 'b', fin: false }, { opcode: TEXT, payload: 'c' }],
    code: 1002,
  },
  // §5.1 client frames must be masked
  { rule: 'unmasked text frame', frames: [{ opcode: TEXT, payload: 'hi', mask: false }], code: 1002 },
  { rule: 'unmasked ping frame', frames: [{ opcode: PING, payload: 'hi', mask: false }], code: 1002 },
  // §5.2 lengths
  { rule: '64-bit length with the top bit set (no payload)', frames: [{ opcode: BINARY, announcedLength: 2n ** 63n }], code: 1002 },
  { rule: 'non-minimal 16-bit length (5 bytes)', frames: [{ opcode: BINARY, payload: filled(5), lengthBits: 16 }], code: 1002 },
  { rule: 'non-minimal 16-bit length (125 bytes)', frames: [{ opcode: TEXT, payload: 'a'.repeat(125), lengthBits: 16 }], code: 1002 },
  { rule: 'non-minimal 64-bit length (5 bytes)', frames: [{ opcode: BINARY, payload: filled(5), lengthBits: 64 }], code: 1002 },
  { rule: 'non-minimal 64-bit length (200 bytes)', frames: [{ opcode: BINARY, payload: filled(200), lengthBits: 64 }], code: 1002 },
  // §10.4 size limit, decided on headers: the payload is never sent
  { rule: 'frame header announcing 65 MiB (limit 64 MiB), no payload sent', frames: [{ opcode: BINARY, announcedLength: 65 * 1024 * 1024 }], code: 1009 },
  { rule: 'frame header announcing 1025 bytes (limit 1 KiB), no payload sent', frames: [{ opcode: TEXT, announcedLength: 1025 }], code: 1009, limit: 'small' },
  {
    rule: 'fragmented message crossing 1 KiB at the 2nd frame header (its payload not sent)',
    frames: [{ opcode: BINARY, payload: filled(600), fin: false }, { opcode: CONT, announcedLength: 600 }],
    code: 1009,
    limit: 'small',
  },
  {
    rule: 'fragmented message crossing 1 KiB at the 3rd frame header, with a ping between (its payload not sent)',
    frames: [
      { opcode: TEXT, payload: 'a'.repeat(500), fin: false },
      { opcode: PING, payload: filled(100) }, // control frames do not count towards the message
      { opcode: CONT, payload: 'b'.repeat(500), fin: false },
      { opcode: CONT, announcedLength: 25, fin: true },
    ],
    code: 1009,
    limit: 'small',
    before: [PONG],
  },
  // §8.1 text must be UTF-8
  { rule: 'invalid UTF-8 byte FF in a text frame', frames: [{ opcode: TEXT, payload: bytes(0x61, 0xff, 0x62) }], code: 1007 },
  { rule: 'overlong encoding C0 80 in a text frame', frames: [{ opcode: TEXT, payload: bytes(0xc0, 0x80) }], code: 1007 },
  { rule: 'UTF-16 surrogate ED A0 80 in a text frame', frames: [{ opcode: TEXT, payload: bytes(0xed, 0xa0, 0x80) }], code: 1007 },
  { rule: 'code point above U+10FFFF (F4 90 80 80) in a text frame', frames: [{ opcode: TEXT, payload: bytes(0xf4, 0x90, 0x80, 0x80) }], code: 1007 },
  {
    rule: 'text message ending inside a character (E2 82 without its 3rd byte)',
    frames: [{ opcode: TEXT, payload: 'ok', fin: false }, { opcode: CONT, payload: bytes(0xe2, 0x82) }],
    code: 1007,
  },
  // §5.5.1 / §7.4 close frame payloads
  { rule: 'close frame with a 1-byte payload', frames: [{ opcode: CLOSE, payload: bytes(0x03) }], code: 1002 },
  ...[0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535].map((code) => ({
    rule: `close frame with invalid code ${code}`,
    frames: [{ opcode: CLOSE, payload: closePayload(code) }],
    code: 1002,
  })),
  {
    rule: 'close reason with invalid UTF-8',
    frames: [{ opcode: CLOSE, payload: Buffer.concat([closePayload(1000), bytes(0x61, 0xc3, 0x28)]) }],
    code: 1007,
  },
];

describe.each(MODES)('rxws --echo, %s', (_mode, chop) => {
  describe('a rule broken closes the connection with its code, then TCP ends', () => {
    it.each(violations.map((v) => [v.rule, v.code, v] as const))('%s → %i', async (_rule, code, { frames, limit, before }) => {
      const c = await open(limit === 'small' ? small.port : server.port);
      await sendAll(c, frames, chop);
      await expectClose(c, code, before);
    });
  });

  describe('size limit', () => {
    it('a message of exactly the limit (1 KiB, in 2 fragments) is echoed', async () => {
      const c = await open(small.port);
      const payload = randomBytes(1024);
      await sendAll(c, [{ opcode: BINARY, payload: payload.subarray(0, 1000), fin: false }, { opcode: CONT, payload: payload.subarray(1000) }], chop);
      expectServerFrame(await c.nextFrame(), BINARY, payload);
    });
  });

  describe('UTF-8 fails fast', () => {
    const invalid = Buffer.concat([Buffer.from('ab'), bytes(0xf4, 0x90, 0x80, 0x80), Buffer.from('cd')]);

    it('(a) invalid bytes in fragment 2 of 3: 1007 arrives before fragment 3 is sent', async () => {
      const c = await open();
      await sendAll(c, [{ opcode: TEXT, payload: 'hello ', fin: false }, { opcode: CONT, payload: invalid, fin: false }], chop);
      // Fragment 3 ({opcode: CONT, payload: 'end'}) is never sent: the close must not wait for it.
      await expectClose(c, 1007);
    });

    it('(a′) F4 ending fragment 1 and 90 starting fragment 2 of 3: 1007 arrives before fragment 3 is sent', async () => {
      const c = await open();
      await sendAll(c, [{ opcode: TEXT, payload: bytes(0x61, 0xf4), fin: false }, { opcode: CONT, payload: bytes(0x90, 0x80, 0x80, 0x61), fin: false }], chop);
      await expectClose(c, 1007);
    });

    it('(b) one text frame written in 3 parts, invalid bytes in part 2: 1007 arrives before part 3 is written', async () => {
      const c = await open();
      const payload = Buffer.concat([Buffer.from('first part '), invalid, Buffer.from(' third part')]);
      const frame = encodeClientFrame({ opcode: TEXT, payload });
      const headerLength = frame.length - payload.length;
      const part1End = headerLength + 'first part '.length;
      const part2End = part1End + invalid.length;
      await c.write(frame.subarray(0, part1End), chop);
      await new Promise((r) => setImmediate(r)); // part 2 as its own write
      await c.write(frame.subarray(part1End, part2End), chop);
      // frame.subarray(part2End) is never written.
      await expectClose(c, 1007);
    });

    it('(c) a 4-byte character split across two fragments is valid and echoed', async () => {
      const c = await open();
      const emoji = Buffer.from('😀'); // F0 9F 98 80
      await sendAll(c, [{ opcode: TEXT, payload: Buffer.concat([Buffer.from('x'), emoji.subarray(0, 2)]), fin: false }, { opcode: CONT, payload: Buffer.concat([emoji.subarray(2), Buffer.from('y')]) }], chop);
      expectServerFrame(await c.nextFrame(), TEXT, 'x😀y');
    });

    it('(c′) a 4-byte character split across four 1-byte fragments is valid and echoed', async () => {
      const c = await open();
      const emoji = Buffer.from('😀');
      await sendAll(c, [
        { opcode: TEXT, payload: emoji.subarray(0, 1), fin: false },
        { opcode: CONT, payload: emoji.subarray(1, 2), fin: false },
        { opcode: CONT, payload: emoji.subarray(2, 3), fin: false },
        { opcode: CONT, payload: emoji.subarray(3, 4) },
      ], chop);
      expectServerFrame(await c.nextFrame(), TEXT, '😀');
    });
  });

  describe('close handshake', () => {
    it.each([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999])(
      'valid close code %i is echoed in the close reply, then TCP ends',
      async (code) => {
        const c = await open();
        await c.send({ opcode: CLOSE, payload: closePayload(code, 'bye') }, chop);
        await expectClose(c, code);
      },
    );

    it('an empty close payload gets a close reply with no code', async () => {
      const c = await open();
      await c.send({ opcode: CLOSE }, chop);
      const outcome = await c.closeOutcome();
      expect(outcome).toEqual({ code: undefined, reason: '', before: [] });
      await c.waitEnded(PROMPT_MS);
    });

    it('a close reason of 123 bytes (multi-byte UTF-8) is accepted', async () => {
      const c = await open();
      const reason = 'é'.repeat(61) + 'x'; // 123 bytes: the payload is exactly 125
      expect(Buffer.byteLength(reason)).toBe(123);
      await c.send({ opcode: CLOSE, payload: closePayload(1000, reason) }, chop);
      await expectClose(c, 1000);
    });

    it('after a close the server replies and ends TCP itself, without the client ending first', async () => {
      const c = await open();
      // The server's FIN must arrive while our side is still open for writing.
      let finWhileWeWereOpen: boolean | undefined;
      c.socket.once('end', () => (finWhileWeWereOpen = !c.socket.writableEnded));
      await c.send({ opcode: CLOSE, payload: closePayload(1000) }, chop);
      const outcome = await c.closeOutcome();
      expect(outcome.code).toBe(1000);
      await c.waitEnded(PROMPT_MS);
      expect(finWhileWeWereOpen).toBe(true);
    });

    it('data after a close frame is ignored: nothing echoed, no pong', async () => {
      const c = await open();
      const bytesOut = Buffer.concat([
        encodeClientFrame({ opcode: CLOSE, payload: closePayload(1000) }),
        encodeClientFrame({ opcode: TEXT, payload: 'after close' }),
        encodeClientFrame({ opcode: PING, payload: 'after close' }),
        encodeClientFrame({ opcode: BINARY, payload: filled(10) }),
      ]);
      await c.write(bytesOut, chop);
      await expectClose(c, 1000);
      expect(c.frames).toEqual([]); // nothing after the close frame either
    });
  });

  describe('ping → pong', () => {
    it.each([
      ['an empty', Buffer.alloc(0)],
      ['a 125-byte', Buffer.from('p'.repeat(125))],
      ['a binary', bytes(0x00, 0xff, 0x80, 0xfe, 0x0d, 0x0a, 0xc0, 0x00)],
    ])('a ping with %s payload gets a pong with the same payload', async (_what, payload) => {
      const c = await open();
      await c.send({ opcode: PING, payload }, chop);
      expectServerFrame(await c.nextFrame(), PONG, payload);
    });

    it('pings between the fragments of a text message are answered, then the whole message is echoed', async () => {
      const c = await open();
      await sendAll(c, [
        { opcode: TEXT, payload: 'Hello, ', fin: false },
        { opcode: PING, payload: 'one' },
        { opcode: CONT, payload: 'wörld', fin: false },
        { opcode: PING, payload: 'two' },
        { opcode: CONT, payload: '!' },
      ], chop);
      expectServerFrame(await c.nextFrame(), PONG, 'one');
      expectServerFrame(await c.nextFrame(), PONG, 'two');
      expectServerFrame(await c.nextFrame(), TEXT, 'Hello, wörld!');
    });
  });

  describe('echo', () => {
    it('a text message comes back as text with the same bytes', async () => {
      const c = await open();
      await c.send({ opcode: TEXT, payload: 'héllo wörld 😀 €' }, chop);
      expectServerFrame(await c.nextFrame(), TEXT, 'héllo wörld 😀 €');
    });

    it('a binary message comes back as binary with the same bytes', async () => {
      const c = await open();
      const payload = bytes(0x00, 0xff, 0xc0, 0x80, 0xf4, 0x90, 0x0d, 0x0a); // not UTF-8, and must not be checked
      await c.send({ opcode: BINARY, payload }, chop);
      expectServerFrame(await c.nextFrame(), BINARY, payload);
    });

    it('empty text and empty binary messages are echoed, in order', async () => {
      const c = await open();
      await sendAll(c, [{ opcode: TEXT }, { opcode: BINARY }, { opcode: TEXT, payload: 'end' }], chop);
      expectServerFrame(await c.nextFrame(), TEXT, '');
      expectServerFrame(await c.nextFrame(), BINARY, '');
      expectServerFrame(await c.nextFrame(), TEXT, 'end');
    });

    it.each<[number, string]>([
      [125, '7-bit'],
      [126, '16-bit'],
      [65535, '16-bit'],
      [65536, '64-bit'],
    ])('a %i-byte message (%s length) is echoed', async (length) => {
      const c = await open();
      const payload = randomBytes(length);
      await c.send({ opcode: BINARY, payload }, chop);
      expectServerFrame(await c.nextFrame(), BINARY, payload);
    });

    it('a text message in 100 fragments, some empty, is echoed as one message', async () => {
      const c = await open();
      const pieces = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? '' : `${i}é,`));
      const frames: FrameSpec[] = pieces.map((payload, i) => ({ opcode: i === 0 ? TEXT : CONT, payload, fin: i === 99 }));
      await sendAll(c, frames, chop);
      expectServerFrame(await c.nextFrame(), TEXT, pieces.join(''));
      // Exactly one message: a ping sent afterwards is answered next.
      await c.send({ opcode: PING, payload: 'after' }, chop);
      expectServerFrame(await c.nextFrame(), PONG, 'after');
    });

    it('a binary message whose first and last fragments are empty is echoed as one message', async () => {
      const c = await open();
      const payload = randomBytes(300);
      await sendAll(c, [
        { opcode: BINARY, fin: false },
        { opcode: CONT, payload: payload.subarray(0, 150), fin: false },
        { opcode: CONT, payload: payload.subarray(150), fin: false },
        { opcode: CONT },
      ], chop);
      expectServerFrame(await c.nextFrame(), BINARY, payload);
    });
  });

  describe('handshake (request written in ' + (chop ? '1-byte pieces' : 'one piece') + ')', () => {
    /** Writes a raw request and returns the client once the server has answered and ended TCP. */
    async function rejected(request: string): Promise<RawClient> {
      const c = await RawClient.connect(server.port, { request: false });
      clients.push(c);
      await c.write(Buffer.from(request, 'latin1'), chop);
      await c.waitEnded(PROMPT_MS);
      return c;
    }
    const header = (response: string, name: string) =>
      new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, 'im').exec(response.split('\r\n\r\n')[0]!)?.[1];

    it('101 with Sec-WebSocket-Accept = base64(SHA-1(key + GUID)), no extensions even when permessage-deflate is offered; a frame pipelined with the request is processed', async () => {
      const key = randomBytes(16).toString('base64');
      const c = await RawClient.connect(server.port, { request: false });
      clients.push(c);
      const request = upgradeRequest(server.port, {
        'Sec-WebSocket-Key': key,
        'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits',
      });
      // Request and a text frame in the same write (or byte stream): the frame must not be lost.
      await c.write(Buffer.concat([Buffer.from(request, 'latin1'), encodeClientFrame({ opcode: TEXT, payload: 'pipelined' })]), chop);
      expectServerFrame(await c.nextFrame(), TEXT, 'pipelined');
      expect(c.status).toBe(101);
      const expected = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
      expect(header(c.response, 'Sec-WebSocket-Accept')).toBe(expected);
      expect(header(c.response, 'Upgrade')?.toLowerCase()).toBe('websocket');
      expect(header(c.response, 'Connection')?.toLowerCase()).toBe('upgrade');
      expect(header(c.response, 'Sec-WebSocket-Extensions')).toBeUndefined();
    });

    it('missing Sec-WebSocket-Key → 400, then TCP ends', async () => {
      const request = upgradeRequest(server.port).replace(/^Sec-WebSocket-Key:.*\r\n/im, '');
      expect(request).not.toMatch(/Sec-WebSocket-Key/i);
      expect((await rejected(request)).status).toBe(400);
    });

    it('Sec-WebSocket-Version 8 → 426 with Sec-WebSocket-Version: 13, then TCP ends', async () => {
      const c = await rejected(upgradeRequest(server.port, { 'Sec-WebSocket-Version': '8' }));
      expect(c.status).toBe(426);
      expect(header(c.response, 'Sec-WebSocket-Version')).toBe('13');
    });

    it('HTTP/1.0 upgrade → 400, then TCP ends', async () => {
      const c = await rejected(upgradeRequest(server.port).replace(' HTTP/1.1\r\n', ' HTTP/1.0\r\n'));
      expect(c.status).toBe(400);
    });

    it('POST upgrade → 405 (or 400), then TCP ends', async () => {
      const c = await rejected(upgradeRequest(server.port).replace(/^GET /, 'POST '));
      expect([405, 400]).toContain(c.status);
    });
  });
});
