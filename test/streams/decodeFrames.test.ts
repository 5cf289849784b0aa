import { take } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import type { FramePart } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { decodeFrames } from '../../src/streams/decodeFrames.js';
import { createTestScheduler, describeErrors, protocolError } from '../support/marbles.js';

/** A masked (or, with mask null, unmasked) client frame, built from RFC 6455 §5.2. */
function clientFrame(
  opcode: number,
  payload: string | Buffer = '',
  opts: { fin?: boolean; rsv?: number; mask?: number[] | null; lengthField?: bigint; lengthBits?: 7 | 16 | 64 } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const mask = opts.mask === undefined ? [0x37, 0xfa, 0x21, 0x3d] : opts.mask;
  const length = opts.lengthField ?? BigInt(data.length);
  const bits = opts.lengthBits ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const head = [((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | opcode];
  const m = mask !== null ? 0x80 : 0;
  if (bits === 7) head.push(m | Number(length));
  else if (bits === 16) head.push(m | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  else {
    head.push(m | 127);
    for (let s = 56n; s >= 0n; s -= 8n) head.push(Number((length >> s) & 0xffn));
  }
  if (mask !== null) head.push(...mask);
  const body = Buffer.from(data.map((b, i) => b ^ (mask !== null ? mask[i % 4]! : 0)));
  return Buffer.concat([Buffer.from(head), body]);
}

/** The FramePart the decoder should emit. */
const part = (
  opcode: number,
  payload: string | Buffer,
  fields: { fin?: boolean; length?: number; offset?: number; first?: boolean; last?: boolean } = {},
): FramePart => {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const offset = fields.offset ?? 0;
  const length = fields.length ?? data.length;
  return {
    fin: fields.fin ?? true,
    opcode,
    length,
    offset,
    payload: data,
    first: fields.first ?? offset === 0,
    last: fields.last ?? offset + data.length === length,
  };
};


let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = createTestScheduler();
});

describe('decodeFrames', () => {
  it('decodes a whole frame in one chunk (RFC §5.7 masked "Hello")', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: Buffer.from('818537fa213d7f9f4d5158', 'hex') });
      expectObservable(source.pipe(decodeFrames())).toBe('-x-|', { x: part(Opcode.Text, 'Hello') });
    });
  });

  it('a frame split after its header: header part (first, empty payload) at the first chunk, payload part at the second', () => {
    const frame = clientFrame(Opcode.Binary, 'payload!');
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a---b-|', { a: frame.subarray(0, 6), b: frame.subarray(6) });
      expectObservable(source.pipe(decodeFrames())).toBe('-x---y-|', {
        x: part(Opcode.Binary, '', { length: 8, first: true, last: false }),
        y: part(Opcode.Binary, 'payload!', { first: false }),
      });
    });
  });

  it('a frame split inside its payload: header part carries the payload so far, then the rest with its offset', () => {
    const frame = clientFrame(Opcode.Text, 'Hello', { fin: false });
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a--b--|', { a: frame.subarray(0, 8), b: frame.subarray(8) });
      expectObservable(source.pipe(decodeFrames())).toBe('-x--y--|', {
        x: part(Opcode.Text, 'He', { fin: false, length: 5 }),
        y: part(Opcode.Text, 'llo', { fin: false, length: 5, offset: 2 }),
      });
    });
  });

  it('a header split across chunks: nothing until the header is complete', () => {
    const frame = clientFrame(Opcode.Binary, Buffer.alloc(300, 7)); // 8-byte header
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-|', { a: frame.subarray(0, 1), b: frame.subarray(1, 5), c: frame.subarray(5) });
      expectObservable(source.pipe(decodeFrames())).toBe('-----x-|', { x: part(Opcode.Binary, Buffer.alloc(300, 7)) });
    });
  });

  it('a header completed by a chunk that holds nothing else gives a header-only part at that chunk', () => {
    const frame = clientFrame(Opcode.Binary, 'xyz'); // 6-byte header
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-|', { a: frame.subarray(0, 3), b: frame.subarray(3, 6), c: frame.subarray(6) });
      expectObservable(source.pipe(decodeFrames())).toBe('---x-y-|', {
        x: part(Opcode.Binary, '', { length: 3, first: true, last: false }),
        y: part(Opcode.Binary, 'xyz', { first: false }),
      });
    });
  });

  it('several frames in one chunk come out together, in order', () => {
    const chunk = Buffer.concat([
      clientFrame(Opcode.Text, 'one', { fin: false }),
      clientFrame(Opcode.Ping, 'p'),
      clientFrame(Opcode.Continuation, 'two'),
    ]);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-----|', { a: chunk });
      expectObservable(source.pipe(decodeFrames())).toBe('-(xyz)-|', {
        x: part(Opcode.Text, 'one', { fin: false }),
        y: part(Opcode.Ping, 'p'),
        z: part(Opcode.Continuation, 'two'),
      });
    });
  });

  it('a frame spanning three chunks with another frame starting in the last one', () => {
    const first = clientFrame(Opcode.Binary, 'abcdefghij');
    const second = clientFrame(Opcode.Pong, 'q');
    const wire = Buffer.concat([first, second]);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('a-b-c-----|', { a: wire.subarray(0, 9), b: wire.subarray(9, 12), c: wire.subarray(12) });
      expectObservable(source.pipe(decodeFrames())).toBe('x-y-(zw)--|', {
        x: part(Opcode.Binary, 'abc', { length: 10 }),
        y: part(Opcode.Binary, 'def', { length: 10, offset: 3 }),
        z: part(Opcode.Binary, 'ghij', { length: 10, offset: 6 }),
        w: part(Opcode.Pong, 'q'),
      });
    });
  });

  describe('errors carry close codes', () => {
    const cases: [name: string, chunk: Buffer, code: string, closeCode: number][] = [
      ['RSV1 set', clientFrame(Opcode.Text, 'x', { rsv: 4 }), 'WS_ERR_UNEXPECTED_RSV', 1002],
      ['reserved opcode 3', clientFrame(3, 'x'), 'WS_ERR_INVALID_OPCODE', 1002],
      ['reserved opcode 11', clientFrame(11, 'x'), 'WS_ERR_INVALID_OPCODE', 1002],
      ['ping longer than 125 bytes', clientFrame(Opcode.Ping, Buffer.alloc(126)), 'WS_ERR_CONTROL_TOO_LONG', 1002],
      ['fragmented close', clientFrame(Opcode.Close, '', { fin: false }), 'WS_ERR_FRAGMENTED_CONTROL', 1002],
      ['unmasked frame', clientFrame(Opcode.Text, 'x', { mask: null }), 'WS_ERR_EXPECTED_MASK', 1002],
      ['64-bit length, top bit set', clientFrame(Opcode.Binary, '', { lengthField: 2n ** 63n }), 'WS_ERR_INVALID_LENGTH', 1002],
      ['64-bit length ≥ 2^53', clientFrame(Opcode.Binary, '', { lengthField: 2n ** 53n }), 'WS_ERR_MESSAGE_TOO_BIG', 1009],
      ['non-minimal 16-bit length', clientFrame(Opcode.Binary, 'x', { lengthBits: 16 }), 'WS_ERR_NON_MINIMAL_LENGTH', 1002],
      ['non-minimal 64-bit length', clientFrame(Opcode.Binary, 'x', { lengthBits: 64 }), 'WS_ERR_NON_MINIMAL_LENGTH', 1002],
    ];
    for (const [name, chunk, code, closeCode] of cases) {
      it(`${name} → ${code} (${closeCode}), source unsubscribed`, () => {
        testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
          const source = cold('-a-b-|', { a: chunk, b: clientFrame(Opcode.Text, 'never') });
          expectObservable(source.pipe(decodeFrames(), describeErrors())).toBe('-#', undefined, protocolError(code, closeCode));
          expectSubscriptions(source.subscriptions).toBe('^!');
        });
      });
    }

    it('the error is a ProtocolError instance carrying code and closeCode', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const source = cold('-a-|', { a: clientFrame(Opcode.Text, 'x', { rsv: 2 }) });
        expectObservable(source.pipe(decodeFrames())).toBe(
          '-#',
          undefined,
          new ProtocolError('WS_ERR_UNEXPECTED_RSV', 1002, 'RSV bits set but no extension was negotiated'),
        );
      });
    });

    it('good frames before a bad header in the same chunk are emitted first', () => {
      const chunk = Buffer.concat([clientFrame(Opcode.Text, 'ok'), clientFrame(7, 'bad')]);
      testScheduler.run(({ cold, expectObservable }) => {
        const source = cold('-a-|', { a: chunk });
        expectObservable(source.pipe(decodeFrames(), describeErrors())).toBe('-(x#)', { x: part(Opcode.Text, 'ok') }, protocolError('WS_ERR_INVALID_OPCODE', 1002));
      });
    });

    it('a bad header split across chunks errors at the chunk that completes it', () => {
      const bad = clientFrame(Opcode.Binary, '', { lengthField: 2n ** 60n }); // 14-byte header
      testScheduler.run(({ cold, expectObservable }) => {
        const source = cold('-a-b-c-|', { a: bad.subarray(0, 2), b: bad.subarray(2, 13), c: bad.subarray(13) });
        expectObservable(source.pipe(decodeFrames(), describeErrors())).toBe('-----#', undefined, protocolError('WS_ERR_MESSAGE_TOO_BIG', 1009));
      });
    });

    it('unmasked frames pass with requireMask: false', () => {
      testScheduler.run(({ cold, expectObservable }) => {
        const source = cold('-a-|', { a: Buffer.from('810548656c6c6f', 'hex') });
        expectObservable(source.pipe(decodeFrames({ requireMask: false }))).toBe('-x-|', { x: part(Opcode.Text, 'Hello') });
      });
    });
  });

  it('stops decoding the chunk once the subscriber is gone (take(1)): later frames stay masked', () => {
    const first = clientFrame(Opcode.Text, 'first');
    const second = clientFrame(Opcode.Text, 'second');
    const chunk = Buffer.concat([first, second]);
    const maskedSecond = Buffer.from(second);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: chunk });
      expectObservable(source.pipe(decodeFrames(), take(1))).toBe('-(x|)', { x: part(Opcode.Text, 'first') });
    });
    expect(chunk.subarray(first.length)).toEqual(maskedSecond);
  });

  it('each subscription gets its own decoder', () => {
    const frame = clientFrame(Opcode.Binary, 'abcdef');
    testScheduler.run(({ cold, expectObservable }) => {
      // two independent subscriptions to fresh copies of the same bytes, subscribed at different times
      const a = cold('-a-b-|', { a: Buffer.from(frame.subarray(0, 4)), b: Buffer.from(frame.subarray(4)) });
      const b = cold('-a-b-|', { a: Buffer.from(frame.subarray(0, 4)), b: Buffer.from(frame.subarray(4)) });
      expectObservable(a.pipe(decodeFrames())).toBe('---x-|', { x: part(Opcode.Binary, 'abcdef') });
      expectObservable(b.pipe(decodeFrames())).toBe('---x-|', { x: part(Opcode.Binary, 'abcdef') });
    });
  });
});
