import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import type { FramePart } from '../../src/protocol/frame-decoder.js';
import type { Message } from '../../src/protocol/message-assembler.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { decodeFrames } from '../../src/streams/decodeFrames.js';
import { reassembleMessages } from '../../src/streams/reassembleMessages.js';
import { createTestScheduler, describeErrors, protocolError } from '../support/marbles.js';

const bytes = (p: string | Buffer): Buffer => (typeof p === 'string' ? Buffer.from(p) : p);

/** A whole frame as one part. */
const frame = (opcode: number, payload: string | Buffer, fin = true): FramePart => {
  const data = bytes(payload);
  return { fin, opcode, length: data.length, offset: 0, payload: data, first: true, last: true };
};

/** One piece of a frame of `length` bytes (`first` defaults to offset 0; set false for the piece after a header-only part). */
const piece = (opcode: number, length: number, offset: number, payload: string | Buffer, first = offset === 0, fin = true): FramePart => {
  const data = bytes(payload);
  return { fin, opcode, length, offset, payload: data, first, last: offset + data.length === length };
};

const msg = (opcode: number, payload: string | Buffer): Message => ({ opcode, payload: bytes(payload) });


/** A masked client frame (RFC 6455 §5.2), key 37 fa 21 3d. */
function clientFrame(opcode: number, payload: string | Buffer, fin = true): Buffer {
  const data = bytes(payload);
  const key = [0x37, 0xfa, 0x21, 0x3d];
  if (data.length > 125) throw new Error('short frames only');
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | data.length, ...key]), Buffer.from(data.map((b, i) => b ^ key[i % 4]!))]);
}

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = createTestScheduler();
});

describe('reassembleMessages', () => {
  it('a whole frame is a message at the same frame', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-|', { a: frame(Opcode.Text, 'hi'), b: frame(Opcode.Binary, Buffer.from([0, 255])) });
      expectObservable(source.pipe(reassembleMessages())).toBe('-x-y-|', { x: msg(Opcode.Text, 'hi'), y: msg(Opcode.Binary, Buffer.from([0, 255])) });
    });
  });

  it('joins fragments, passing interleaved pings and pongs through whole and in order', () => {
    const values = {
      a: frame(Opcode.Text, 'Hello', false),
      p: frame(Opcode.Ping, 'ping-1'),
      b: frame(Opcode.Continuation, ', ', false),
      q: frame(Opcode.Pong, 'pong-1'),
      c: frame(Opcode.Continuation, 'world'),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-p-b-q-c-|', values);
      expectObservable(source.pipe(reassembleMessages())).toBe('---P---Q-M-|', {
        P: msg(Opcode.Ping, 'ping-1'),
        Q: msg(Opcode.Pong, 'pong-1'),
        M: msg(Opcode.Text, 'Hello, world'),
      });
    });
  });

  it('a frame split across parts (header-only first) is emitted at its last part', () => {
    const values = {
      h: piece(Opcode.Binary, 6, 0, ''), // header-only
      x: piece(Opcode.Binary, 6, 0, 'abc', false),
      y: piece(Opcode.Binary, 6, 3, 'def'),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-h-x-y-|', values);
      expectObservable(source.pipe(reassembleMessages())).toBe('-----m-|', { m: msg(Opcode.Binary, 'abcdef') });
    });
  });

  it('a ping split across parts between fragments', () => {
    const values = {
      a: frame(Opcode.Binary, 'ab', false),
      p: piece(Opcode.Ping, 4, 0, 'pi'),
      q: piece(Opcode.Ping, 4, 2, 'ng'),
      b: frame(Opcode.Continuation, 'cd'),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-p-q-b-|', values);
      expectObservable(source.pipe(reassembleMessages())).toBe('-----P-M-|', { P: msg(Opcode.Ping, 'ping'), M: msg(Opcode.Binary, 'abcd') });
    });
  });

  it('continuation with no message open → 1002 WS_ERR_UNEXPECTED_CONTINUATION', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-c-|', { a: frame(Opcode.Text, 'whole'), c: frame(Opcode.Continuation, 'x') });
      expectObservable(source.pipe(reassembleMessages(), describeErrors())).toBe(
        '-a-#',
        { a: msg(Opcode.Text, 'whole') },
        protocolError('WS_ERR_UNEXPECTED_CONTINUATION', 1002),
      );
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('a new text/binary frame while a message is open → 1002 WS_ERR_EXPECTED_CONTINUATION', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-p-b-|', { a: frame(Opcode.Text, 'open', false), p: frame(Opcode.Ping, ''), b: frame(Opcode.Binary, 'x') });
      expectObservable(source.pipe(reassembleMessages(), describeErrors())).toBe(
        '---P-#',
        { P: msg(Opcode.Ping, '') },
        protocolError('WS_ERR_EXPECTED_CONTINUATION', 1002),
      );
    });
  });

  it('invalid UTF-8 → 1007 at the fragment carrying the bad byte, not at the end of the message', () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-|', {
        a: frame(Opcode.Text, 'fine ', false),
        b: frame(Opcode.Continuation, Buffer.from([0x41, 0xed, 0xa0]), false), // ED A0: a surrogate, already impossible
        c: frame(Opcode.Continuation, Buffer.from([0x80])),
      });
      expectObservable(source.pipe(reassembleMessages(), describeErrors())).toBe('---#', undefined, protocolError('WS_ERR_INVALID_UTF8', 1007));
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('a code point split across fragments is fine', () => {
    const euro = Buffer.from('€'); // e2 82 ac
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-|', {
        a: frame(Opcode.Text, euro.subarray(0, 1), false),
        b: frame(Opcode.Continuation, euro.subarray(1, 2), false),
        c: frame(Opcode.Continuation, euro.subarray(2)),
      });
      expectObservable(source.pipe(reassembleMessages())).toBe('-----m-|', { m: msg(Opcode.Text, '€') });
    });
  });

  it('the error is a ProtocolError instance', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-|', { a: frame(Opcode.Text, Buffer.from([0xff])) });
      expectObservable(source.pipe(reassembleMessages())).toBe('-#', undefined, new ProtocolError('WS_ERR_INVALID_UTF8', 1007, 'invalid UTF-8 in a text message'));
    });
  });

  it('after decodeFrames: fragments and a ping spread over chunks', () => {
    const wire = Buffer.concat([
      clientFrame(Opcode.Text, 'Hel', false),
      clientFrame(Opcode.Ping, 'are you there'),
      clientFrame(Opcode.Continuation, 'lo wörld'),
      clientFrame(Opcode.Binary, Buffer.from([1, 2, 3])),
    ]);
    // cut inside the first fragment's payload, inside the ping header, and inside the continuation payload
    const cuts = [8, 12, 30, wire.length];
    const chunks = cuts.map((end, i) => wire.subarray(i === 0 ? 0 : cuts[i - 1]!, end));
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-d---|', { a: chunks[0]!, b: chunks[1]!, c: chunks[2]!, d: chunks[3]! });
      expectObservable(source.pipe(decodeFrames(), reassembleMessages())).toBe('-----P-(MB)|', {
        P: msg(Opcode.Ping, 'are you there'),
        M: msg(Opcode.Text, 'Hello wörld'),
        B: msg(Opcode.Binary, Buffer.from([1, 2, 3])),
      });
    });
  });
});
