// permessage-deflate through the library: options beyond what the CLI exposes
// (context takeover either way), compress-once fan-out, and a property test
// that every message echoes intact whatever the compression and fragmentation.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type Connection, echo, type PerMessageDeflateOptions, WebSocketServer } from '../../src/index.js';
import { negotiateFromHeader, resolveDeflateOptions } from '../../src/protocol/extensions/permessage-deflate.js';
import { DeflateSession, FanoutFrames } from '../../src/server/compression.js';
import { BROWSER_OFFER, DeflateCodec, extensionsHeader, nextMessage, parseAnswer } from '../support/deflate-client.js';
import { RawClient } from '../support/raw-client.js';

const TEXT = 1;
const BINARY = 2;
const CONT = 0;
const RSV1 = 4;

const servers: WebSocketServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function startEcho(perMessageDeflate: boolean | PerMessageDeflateOptions): Promise<number> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, perMessageDeflate, shutdownGrace: 100 });
  echo(server);
  servers.push(server);
  return (await server.listen()).port;
}

async function connect(port: number, offer = BROWSER_OFFER): Promise<{ c: RawClient; codec: DeflateCodec; answer: string | null }> {
  const c = await RawClient.connect(port, { headers: { 'Sec-WebSocket-Extensions': offer } });
  clients.push(c);
  const answer = extensionsHeader(c.response);
  return { c, codec: new DeflateCodec(answer === null ? {} : parseAnswer(answer)), answer };
}

const sentence = (i: number) => `{"type":"message","room":"lobby","from":"${i}","data":{"text":"the quick brown fox jumps over the lazy dog"}}`;

describe('context takeover', () => {
  it('server context takeover (serverNoContextTakeover: false): a repeated message compresses to a few bytes the second time', async () => {
    const port = await startEcho({ serverNoContextTakeover: false, threshold: 0 });
    const { c, codec, answer } = await connect(port);
    expect(answer).toBe('permessage-deflate; client_no_context_takeover');
    const text = sentence(1).repeat(20);
    await c.send({ opcode: TEXT, payload: text });
    await c.send({ opcode: TEXT, payload: text });
    const first = await nextMessage(c, codec);
    const second = await nextMessage(c, codec);
    expect([first.payload.toString(), second.payload.toString()]).toEqual([text, text]);
    expect(second.wireBytes).toBeLessThan(first.wireBytes / 4); // it refers back into the first
  });

  it('client context takeover (clientNoContextTakeover: false): the server keeps the inflate context across messages', async () => {
    const port = await startEcho({ clientNoContextTakeover: false });
    const { c, codec, answer } = await connect(port);
    expect(answer).toBe('permessage-deflate; server_no_context_takeover');
    const text = sentence(2).repeat(30);
    for (let i = 0; i < 3; i++) await c.send({ opcode: TEXT, rsv: RSV1, payload: await codec.compress(text) });
    for (let i = 0; i < 3; i++) expect((await nextMessage(c, codec)).payload.toString()).toBe(text);
  });

  it('a client that asks for server_no_context_takeover gets it even when the server would keep its context', async () => {
    const port = await startEcho({ serverNoContextTakeover: false, clientNoContextTakeover: false, threshold: 0 });
    const { c, codec, answer } = await connect(port, 'permessage-deflate; server_no_context_takeover');
    expect(answer).toBe('permessage-deflate; server_no_context_takeover');
    const text = sentence(3).repeat(5);
    await c.send({ opcode: TEXT, payload: text });
    await c.send({ opcode: TEXT, payload: text });
    // DeflateCodec resets its inflater per message as agreed: the second inflates only if the server did not refer back.
    expect((await nextMessage(c, codec)).payload.toString()).toBe(text);
    expect((await nextMessage(c, codec)).payload.toString()).toBe(text);
  });
});

describe('fan-out encoding', () => {
  const session = (header: string, options: PerMessageDeflateOptions = {}) => {
    const resolved = resolveDeflateOptions(options);
    return new DeflateSession(negotiateFromHeader(header, resolved)!, resolved);
  };

  it('one compressed Buffer for every recipient without server context takeover, one plain Buffer for the rest', () => {
    const a = session(BROWSER_OFFER);
    const b = session('permessage-deflate');
    const ctx = session('permessage-deflate', { serverNoContextTakeover: false });
    const tiny = session('permessage-deflate; server_max_window_bits=8');
    const frames = new FanoutFrames(sentence(4).repeat(20));
    const compressed = frames.frameFor(a);
    expect(compressed[0]! & 0x40).toBe(0x40);
    expect(frames.frameFor(b)).toBe(compressed); // the very same Buffer
    const plain = frames.frameFor(null);
    expect(plain[0]! & 0x40).toBe(0);
    expect(frames.frameFor(ctx)).toBe(plain); // its own deflater's history must see all it gets: plain in fan-out
    expect(frames.frameFor(tiny)).toBe(plain); // zlib cannot produce a 256-byte window
    a.release();
    b.release();
    ctx.release();
    tiny.release();
  });

  it('under the threshold every recipient gets the one plain frame', () => {
    const a = session(BROWSER_OFFER);
    const frames = new FanoutFrames('short');
    expect(frames.frameFor(a)).toBe(frames.frameFor(null));
  });

  it('broadcast compresses once: two deflate clients receive identical compressed bytes, a plain client plain ones', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, perMessageDeflate: true, shutdownGrace: 100 });
    servers.push(server);
    const { port } = await server.listen();
    const members = [await connect(port), await connect(port), await connect(port, 'x-other')];
    const deadline = Date.now() + 5000;
    while (server.connectionCount < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const text = sentence(5).repeat(40);
    expect(server.broadcast(text)).toBe(3);
    const got = await Promise.all(members.map(({ c, codec }) => nextMessage(c, codec)));
    expect(got.map((m) => m.compressed)).toEqual([true, true, false]);
    for (const m of got) expect(m.payload.toString()).toBe(text);
    expect(got[0]!.wireBytes).toBe(got[1]!.wireBytes);
    expect(got[0]!.wireBytes).toBeLessThan(text.length / 10);
  });
});

describe('per-connection state', () => {
  it('connections that agreed without server context takeover share one stateless session; with it, each has its own', async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, perMessageDeflate: { serverNoContextTakeover: false }, shutdownGrace: 100 });
    servers.push(server);
    const conns: Connection[] = [];
    server.connections$.subscribe((conn) => conns.push(conn));
    const { port } = await server.listen();
    for (const offer of ['permessage-deflate; server_no_context_takeover', 'permessage-deflate; server_no_context_takeover', 'permessage-deflate', 'permessage-deflate']) {
      await connect(port, offer);
    }
    const deadline = Date.now() + 5000;
    while (conns.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(conns.map((c) => c.extensions)).toEqual([
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
      'permessage-deflate; client_no_context_takeover',
      'permessage-deflate; client_no_context_takeover',
    ]);
    expect(conns[0]!.deflateSession).toBe(conns[1]!.deflateSession);
    expect(conns[2]!.deflateSession).not.toBe(conns[3]!.deflateSession);
    expect(conns[2]!.deflateSession).not.toBeNull();
  });
});

describe('property: every message echoes intact', () => {
  const message = fc.record({
    binary: fc.boolean(),
    // compressible text, random bytes, or empty
    body: fc.oneof(
      fc.string({ maxLength: 3000 }).map((s) => Buffer.from(s.repeat(3))),
      fc.uint8Array({ maxLength: 5000 }).map((u) => Buffer.from(u)),
      fc.constant(Buffer.alloc(0)),
    ),
    compress: fc.boolean(),
    cuts: fc.array(fc.integer({ min: 1, max: 2000 }), { maxLength: 4 }),
  });

  for (const [name, options] of [
    ['no context takeover (the defaults)', { threshold: 0 }],
    ['context takeover both ways', { threshold: 100, serverNoContextTakeover: false, clientNoContextTakeover: false }],
  ] as const) {
    it(name, async () => {
      const port = await startEcho(options);
      await fc.assert(
        fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), async (messages) => {
          const { c, codec } = await connect(port);
          try {
            for (const m of messages) {
              const body = m.binary ? m.body : Buffer.from(m.body.toString('utf8')); // text must be valid UTF-8
              const wire = m.compress ? await codec.compress(body) : body;
              const pieces: Buffer[] = [];
              let at = 0;
              for (const cut of m.cuts) {
                if (at + cut >= wire.length) break;
                pieces.push(wire.subarray(at, at + cut));
                at += cut;
              }
              pieces.push(wire.subarray(at));
              for (let i = 0; i < pieces.length; i++) {
                await c.send({
                  opcode: i === 0 ? (m.binary ? BINARY : TEXT) : CONT,
                  rsv: i === 0 && m.compress ? RSV1 : 0,
                  fin: i === pieces.length - 1,
                  payload: pieces[i],
                });
              }
              const echoed = await nextMessage(c, codec);
              expect(echoed.opcode).toBe(m.binary ? BINARY : TEXT);
              expect(echoed.payload.equals(body)).toBe(true);
            }
          } finally {
            c.destroy();
            codec.close();
          }
        }),
        { numRuns: 60 },
      );
    });
  }
});
