import zlib from 'node:zlib';
import { TestScheduler } from 'rxjs/testing';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { FramePart } from '../../src/protocol/frame-decoder.js';
import type { Message } from '../../src/protocol/message-assembler.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { decodeFrames } from '../../src/streams/decodeFrames.js';
import { inflateMessages } from '../../src/streams/inflateMessages.js';
import { reassembleMessages } from '../../src/streams/reassembleMessages.js';
import { createTestScheduler, describeErrors, protocolError } from '../support/marbles.js';

const { Z_SYNC_FLUSH } = zlib.constants;

/** A whole frame as one part; `compressed` sets RSV1. */
const frame = (opcode: number, payload: string | Buffer, fin = true, compressed = false): FramePart => {
  const data = Buffer.from(payload);
  const part = { fin, opcode, length: data.length, offset: 0, payload: data, first: true, last: true };
  return compressed ? { ...part, compressed: true } : part;
};

/** A client's compressed payload: sync flush, tail removed (no context). */
const deflate = (data: string | Buffer): Buffer => {
  const out = zlib.deflateRawSync(Buffer.from(data), { finishFlush: Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
};

const inflated = (opcode: number, payload: string | Buffer, fin = true): FramePart => frame(opcode, payload, fin);

const BIG = 'x'.repeat(100) + JSON.stringify({ hello: 'world' }).repeat(10_000); // ~170 KB, several 64 KiB inflate chunks

const NO_CTX = { maxMessageSize: 1 << 20, noContextTakeover: true };
const KEEP_CTX = { maxMessageSize: 1 << 20, noContextTakeover: false };

let testScheduler: TestScheduler;
beforeEach(() => {
  testScheduler = createTestScheduler();
});

/** Two messages compressed by one deflater that keeps its context (the second refers back into the first). */
let takeover: [Buffer, Buffer];
beforeAll(async () => {
  const stream = zlib.createDeflateRaw();
  const flushed = (input: string) =>
    new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const onData = (c: Buffer) => chunks.push(c);
      stream.on('data', onData);
      stream.write(input);
      stream.flush(Z_SYNC_FLUSH, () => {
        stream.off('data', onData);
        const all = Buffer.concat(chunks);
        resolve(all.subarray(0, all.length - 4));
      });
    });
  takeover = [await flushed('the same sentence, twice over'), await flushed('the same sentence, twice over')];
  stream.close();
});

describe('inflateMessages', () => {
  it('passes uncompressed parts and control frames through untouched', () => {
    const values = { a: frame(Opcode.Text, 'hi'), p: frame(Opcode.Ping, 'p'), b: frame(Opcode.Binary, 'x', false), c: frame(Opcode.Continuation, 'y') };
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-p-b-c-|', values);
      expectObservable(source.pipe(inflateMessages(NO_CTX))).toBe('-a-p-b-c-|', values);
      expectSubscriptions(source.subscriptions).toBe('^--------!');
    });
  });

  it('a compressed frame comes out inflated as one whole frame, RSV1 gone', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: frame(Opcode.Text, deflate('hello'), true, true) });
      expectObservable(source.pipe(inflateMessages(NO_CTX))).toBe('-x-|', { x: inflated(Opcode.Text, 'hello') });
    });
  });

  it('fragments with control frames between them: controls pass at once and in order, the message is whole at its last fragment', () => {
    const z = deflate('Hello, fragmented world');
    const values = {
      a: frame(Opcode.Text, z.subarray(0, 5), false, true),
      p: frame(Opcode.Ping, 'p1'),
      b: frame(Opcode.Continuation, z.subarray(5, 9), false),
      q: frame(Opcode.Pong, 'p2'),
      c: frame(Opcode.Continuation, z.subarray(9)),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-p-b-q-c-|', values);
      expectObservable(source.pipe(inflateMessages(NO_CTX), reassembleMessages())).toBe('---p---q-x-|', {
        p: { opcode: Opcode.Ping, payload: Buffer.from('p1') },
        q: { opcode: Opcode.Pong, payload: Buffer.from('p2') },
        x: { opcode: Opcode.Text, payload: Buffer.from('Hello, fragmented world') },
      });
    });
  });

  it('streams: a large message is emitted in inflate chunks as its fragments arrive, the last with FIN', () => {
    const z = deflate(BIG);
    const half = z.length >> 1;
    const values = { a: frame(Opcode.Text, z.subarray(0, half), false, true), b: frame(Opcode.Continuation, z.subarray(half)) };
    const seen: FramePart[] = [];
    testScheduler.run(({ cold }) => {
      cold('-a-b-|', values).pipe(inflateMessages(NO_CTX)).subscribe((p) => seen.push(p));
    });
    expect(seen.length).toBeGreaterThan(2);
    expect(seen[0]!.opcode).toBe(Opcode.Text);
    expect(seen.slice(1).every((p) => p.opcode === Opcode.Continuation)).toBe(true);
    expect(seen.map((p) => p.fin)).toEqual([...seen.slice(1).map(() => false), true]);
    expect(Buffer.concat(seen.map((p) => p.payload)).toString()).toBe(BIG);
  });

  it('through reassembleMessages: the inflated fragments become one message', () => {
    const z = deflate(BIG);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: frame(Opcode.Text, z, true, true) });
      expectObservable(source.pipe(inflateMessages(NO_CTX), reassembleMessages())).toBe('-m-|', {
        m: { opcode: Opcode.Text, payload: Buffer.from(BIG) } satisfies Message,
      });
    });
  });

  it('context takeover: with a kept context the second message (referring into the first) inflates', () => {
    const values = { a: frame(Opcode.Text, takeover[0], true, true), b: frame(Opcode.Text, takeover[1], true, true) };
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-|', values).pipe(inflateMessages(KEEP_CTX))).toBe('-x-x-|', {
        x: inflated(Opcode.Text, 'the same sentence, twice over'),
      });
    });
  });

  it('no context takeover: the context is reset per message, so that second message does not inflate (1007)', () => {
    const values = { a: frame(Opcode.Text, takeover[0], true, true), b: frame(Opcode.Text, takeover[1], true, true) };
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-|', values).pipe(inflateMessages(NO_CTX), describeErrors())).toBe(
        '-x-#',
        { x: inflated(Opcode.Text, 'the same sentence, twice over') },
        protocolError('WS_ERR_INVALID_COMPRESSED', 1007),
      );
    });
  });

  it('the size limit fires mid-inflate, at the fragment that passes it, and unsubscribes from the source', () => {
    const z = deflate(Buffer.alloc(10 * 1024 * 1024)); // ~10 KiB → 10 MiB
    const third = Math.ceil(z.length / 3);
    const values = {
      a: frame(Opcode.Binary, z.subarray(0, 10), false, true),
      b: frame(Opcode.Continuation, z.subarray(10, third), false),
      c: frame(Opcode.Continuation, z.subarray(third)),
    };
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-|', values);
      expectObservable(source.pipe(inflateMessages({ maxMessageSize: 100_000, noContextTakeover: true }), describeErrors())).toBe(
        '---#',
        undefined,
        protocolError('WS_ERR_MESSAGE_TOO_BIG', 1009),
      );
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('exactly the limit passes; one byte more fails', () => {
    const data = Buffer.alloc(70_000, 0x61);
    testScheduler.run(({ cold, expectObservable }) => {
      const src = cold('-a-|', { a: frame(Opcode.Binary, deflate(data), true, true) });
      const seen = src.pipe(inflateMessages({ maxMessageSize: 70_000, noContextTakeover: true }), reassembleMessages());
      expectObservable(seen).toBe('-m-|', { m: { opcode: Opcode.Binary, payload: data } });
      const over = src.pipe(inflateMessages({ maxMessageSize: 69_999, noContextTakeover: true }), describeErrors());
      expectObservable(over).toBe('-#', undefined, protocolError('WS_ERR_MESSAGE_TOO_BIG', 1009));
    });
  });

  it('invalid DEFLATE data fails with 1007', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: frame(Opcode.Text, Buffer.from([0xff, 0xff, 0xff]), true, true) });
      expectObservable(source.pipe(inflateMessages(NO_CTX), describeErrors())).toBe('-#', undefined, protocolError('WS_ERR_INVALID_COMPRESSED', 1007));
    });
  });

  it('data cut inside a block (not ending on a block boundary) fails with 1007', () => {
    const full = zlib.deflateRawSync(Buffer.from(BIG.slice(0, 5000)), { finishFlush: Z_SYNC_FLUSH });
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: frame(Opcode.Text, full.subarray(0, 40), true, true) });
      expectObservable(source.pipe(inflateMessages(NO_CTX), reassembleMessages(), describeErrors())).toBe('-#', undefined, protocolError('WS_ERR_INVALID_COMPRESSED', 1007));
    });
  });

  it('invalid UTF-8 in inflated text fails 1007 in reassembleMessages, at the chunk that carries it', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: frame(Opcode.Text, deflate(Buffer.from([0x61, 0xff, 0x62])), true, true) });
      expectObservable(source.pipe(inflateMessages(NO_CTX), reassembleMessages(), describeErrors())).toBe(
        '-#',
        undefined,
        protocolError('WS_ERR_INVALID_UTF8', 1007),
      );
    });
  });

  it('an empty compressed payload and the single 0x00 block are empty messages', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-|', { a: frame(Opcode.Text, Buffer.alloc(0), true, true), b: frame(Opcode.Binary, Buffer.from([0]), true, true) });
      expectObservable(source.pipe(inflateMessages(NO_CTX))).toBe('-x-y-|', { x: inflated(Opcode.Text, ''), y: inflated(Opcode.Binary, '') });
    });
  });

  it('a new data frame while a message is open is a protocol error (1002) at once, before anything is inflated', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-|', { a: frame(Opcode.Text, deflate('abc'), false, true), b: frame(Opcode.Text, 'new') });
      expectObservable(source.pipe(inflateMessages(NO_CTX), describeErrors())).toBe('---#', undefined, protocolError('WS_ERR_EXPECTED_CONTINUATION', 1002));
      const plainFirst = cold('-a-b-|', { a: frame(Opcode.Text, 'open', false), b: frame(Opcode.Text, deflate('abc'), true, true) });
      expectObservable(plainFirst.pipe(inflateMessages(NO_CTX), describeErrors())).toBe('-a-#', { a: frame(Opcode.Text, 'open', false) }, protocolError('WS_ERR_EXPECTED_CONTINUATION', 1002));
    });
  });

  it('RSV1 on a continuation or a control frame: the decoder fails the pipeline with 1002 before anything is inflated', () => {
    const masked = (b0: number, payload: Buffer) => Buffer.concat([Buffer.from([b0, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
    const z = deflate('abc');
    testScheduler.run(({ cold, expectObservable }) => {
      const pipeline = (chunk: Buffer) =>
        cold('-a-|', { a: chunk }).pipe(decodeFrames({ allowRsv1: true }), inflateMessages(NO_CTX), reassembleMessages(), describeErrors());
      // text (RSV1, not FIN), then a continuation with RSV1
      expectObservable(pipeline(Buffer.concat([masked(0x41, z), masked(0xc0, z)]))).toBe('-#', undefined, protocolError('WS_ERR_UNEXPECTED_RSV_1', 1002));
      // a ping with RSV1
      expectObservable(pipeline(masked(0xc9, Buffer.from('p')))).toBe('-#', undefined, protocolError('WS_ERR_UNEXPECTED_RSV_1', 1002));
      // and without allowRsv1, any RSV1
      expectObservable(cold('-a-|', { a: masked(0xc1, z) }).pipe(decodeFrames(), describeErrors())).toBe('-#', undefined, protocolError('WS_ERR_UNEXPECTED_RSV', 1002));
    });
  });

  it('keeps message order across compressed and plain messages', () => {
    const values = { a: frame(Opcode.Text, deflate('one'), true, true), b: frame(Opcode.Text, 'two'), c: frame(Opcode.Text, deflate('three'), true, true) };
    testScheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-b-c-|', values).pipe(inflateMessages(NO_CTX), reassembleMessages())).toBe('-x-y-z-|', {
        x: { opcode: Opcode.Text, payload: Buffer.from('one') },
        y: { opcode: Opcode.Text, payload: Buffer.from('two') },
        z: { opcode: Opcode.Text, payload: Buffer.from('three') },
      });
    });
  });
});
