import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import type { FramePart } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { decodeFrames } from '../../src/streams/decodeFrames.js';
import { limitMessageSize } from '../../src/streams/limitMessageSize.js';
import { reassembleMessages } from '../../src/streams/reassembleMessages.js';
import { createTestScheduler, describeErrors } from '../support/marbles.js';

/** A frame's header part: first, announcing `length`, carrying `payload` (default none yet). */
const head = (opcode: number, length: number, fin = true, payload: Buffer = Buffer.alloc(0)): FramePart => ({
  fin,
  opcode,
  length,
  offset: 0,
  payload,
  first: true,
  last: payload.length === length,
});

/** A later payload part of a frame. */
const body = (opcode: number, length: number, offset: number, payload: Buffer, fin = true): FramePart => ({
  fin,
  opcode,
  length,
  offset,
  payload,
  first: false,
  last: offset + payload.length === length,
});

/** A whole frame in one part. */
const whole = (opcode: number, size: number, fin = true): FramePart => head(opcode, size, fin, Buffer.alloc(size, 0x61));

const TOO_BIG = { class: 'ProtocolError', code: 'WS_ERR_MESSAGE_TOO_BIG', closeCode: 1009 };

let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = createTestScheduler();
});

describe('limitMessageSize', () => {
  it('passes parts of messages within the limit unchanged (exactly the limit is allowed)', () => {
    const values = {
      a: whole(Opcode.Text, 5),
      b: head(Opcode.Binary, 10),
      c: body(Opcode.Binary, 10, 0, Buffer.alloc(4)),
      d: body(Opcode.Binary, 10, 4, Buffer.alloc(6)),
      e: whole(Opcode.Text, 10),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-d-e-|', values);
      expectObservable(source.pipe(limitMessageSize(10))).toBe('-a-b-c-d-e-|', values);
    });
  });

  it('a single oversized frame fails on its HEADER part, before any payload part arrives', () => {
    const values = { h: head(Opcode.Binary, 11), p: body(Opcode.Binary, 11, 0, Buffer.alloc(11)) };
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-h---p-|', values);
      expectObservable(source.pipe(limitMessageSize(10), describeErrors())).toBe('-#', undefined, TOO_BIG);
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });

  it('the oversized header part itself is not passed on', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-h-|', { a: whole(Opcode.Text, 3), h: head(Opcode.Text, 1_000_000) });
      expectObservable(source.pipe(limitMessageSize(100), describeErrors())).toBe('-a-#', { a: whole(Opcode.Text, 3) }, TOO_BIG);
    });
  });

  it('the running total of fragments fails on the header of the fragment that crosses the limit', () => {
    const values = {
      a: head(Opcode.Text, 6, false),
      b: body(Opcode.Text, 6, 0, Buffer.from('abcdef'), false),
      c: whole(Opcode.Continuation, 4, false), // total 10: still fine
      d: head(Opcode.Continuation, 1, true), // total 11
      e: body(Opcode.Continuation, 1, 0, Buffer.from('z')),
    };
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-d-e-|', values);
      expectObservable(source.pipe(limitMessageSize(10), describeErrors())).toBe('-a-b-c-#', values, TOO_BIG);
      expectSubscriptions(source.subscriptions).toBe('^------!');
    });
  });

  it('empty fragments do not add up; the total is in bytes, not frames', () => {
    const values = {
      a: whole(Opcode.Binary, 0, false),
      b: whole(Opcode.Continuation, 0, false),
      c: whole(Opcode.Continuation, 0, false),
      d: whole(Opcode.Continuation, 3, true),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-d-|', values);
      expectObservable(source.pipe(limitMessageSize(3))).toBe('-a-b-c-d-|', values);
    });
  });

  it('the total starts over with each new message', () => {
    const values = {
      a: whole(Opcode.Text, 6, false),
      b: whole(Opcode.Continuation, 4, true), // message 1: 10
      c: whole(Opcode.Binary, 8, false),
      d: whole(Opcode.Continuation, 2, true), // message 2: 10
      e: whole(Opcode.Text, 10), // message 3: 10
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-d-e-|', values);
      expectObservable(source.pipe(limitMessageSize(10))).toBe('-a-b-c-d-e-|', values);
    });
  });

  it('a stray continuation after a complete message starts from 0, not from the previous total (the assembler then fails it with 1002)', () => {
    // limit 70,000: a whole 40,000-byte message, then a continuation of 40,000 with no message open
    const values = {
      a: whole(Opcode.Binary, 40_000),
      c: head(Opcode.Continuation, 40_000, true),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-c-|', values);
      expectObservable(source.pipe(limitMessageSize(70_000))).toBe('-a-c-|', values);
    });
  });

  it('a stray continuation after a fragmented message that ended is not added to its total', () => {
    const values = {
      a: whole(Opcode.Text, 6, false),
      b: whole(Opcode.Continuation, 4, true), // message complete: 10
      c: head(Opcode.Continuation, 8, true), // stray: 8, not 18
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-c-|', values);
      expectObservable(source.pipe(limitMessageSize(10))).toBe('-a-b-c-|', values);
    });
  });

  it('with reassembleMessages: limit 70,000, a 40,000-byte message then a stray 40,000-byte continuation fails with 1002, not 1009', () => {
    const mask = [0, 0, 0, 0];
    const frame = (firstByte: number, size: number) =>
      Buffer.concat([Buffer.from([firstByte, 0x80 | 126, size >> 8, size & 0xff, ...mask]), Buffer.alloc(size, 0x61)]);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-b-|', { a: frame(0x82, 40_000), b: frame(0x80, 40_000) });
      expectObservable(
        source.pipe(decodeFrames(), limitMessageSize(70_000), reassembleMessages(), map((m) => m.payload.length), describeErrors()),
      ).toBe('-a-#', { a: 40_000 }, { class: 'ProtocolError', code: 'WS_ERR_UNEXPECTED_CONTINUATION', closeCode: 1002 });
    });
  });

  it('payload parts are not counted on top of their header', () => {
    // one 10-byte frame in five parts, limit 10
    const values = {
      h: head(Opcode.Binary, 10),
      p: body(Opcode.Binary, 10, 0, Buffer.alloc(3)),
      q: body(Opcode.Binary, 10, 3, Buffer.alloc(3)),
      r: body(Opcode.Binary, 10, 6, Buffer.alloc(3)),
      s: body(Opcode.Binary, 10, 9, Buffer.alloc(1)),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('hpqrs|', values);
      expectObservable(source.pipe(limitMessageSize(10))).toBe('hpqrs|', values);
    });
  });

  it('payload parts of a continuation frame are not added to the running total', () => {
    // 4 + 6 = 10 bytes, limit 10; the second fragment arrives as header + two payload parts
    const values = {
      a: whole(Opcode.Text, 4, false),
      h: head(Opcode.Continuation, 6, true),
      p: body(Opcode.Continuation, 6, 0, Buffer.from('abc')),
      q: body(Opcode.Continuation, 6, 3, Buffer.from('def')),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-h-p-q-|', values);
      expectObservable(source.pipe(limitMessageSize(10))).toBe('-a-h-p-q-|', values);
    });
  });

  it('control frames are not counted, even between fragments and even when larger than the limit', () => {
    const values = {
      a: whole(Opcode.Text, 8, false),
      p: whole(Opcode.Ping, 125),
      q: whole(Opcode.Pong, 100),
      c: whole(Opcode.Close, 50),
      b: whole(Opcode.Continuation, 2, true), // total 10 — would be 285 if control frames counted
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-p-q-b-c-|', values);
      expectObservable(source.pipe(limitMessageSize(10))).toBe('-a-p-q-b-c-|', values);
    });
  });

  it('a control frame between fragments does not reset the running total', () => {
    const values = {
      a: whole(Opcode.Binary, 8, false),
      p: whole(Opcode.Ping, 1),
      b: head(Opcode.Continuation, 3, true), // 8 + 3 = 11 > 10
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-a-p-b-|', values);
      expectObservable(source.pipe(limitMessageSize(10), describeErrors())).toBe('-a-p-#', values, TOO_BIG);
    });
  });

  it('the error is a ProtocolError with 1009', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-h-|', { h: head(Opcode.Binary, 2) });
      expectObservable(source.pipe(limitMessageSize(1))).toBe(
        '-#',
        undefined,
        new ProtocolError('WS_ERR_MESSAGE_TOO_BIG', 1009, 'message larger than 1 bytes'),
      );
    });
  });

  it('after decodeFrames: fails at the chunk carrying the header, before the payload chunk', () => {
    // masked binary frame of 1000 bytes: 8-byte header
    const mask = [1, 2, 3, 4];
    const payload = Buffer.alloc(1000, 0x55);
    const header = Buffer.from([0x82, 0x80 | 126, 0x03, 0xe8, ...mask]);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a---b-|', { a: header, b: masked });
      expectObservable(source.pipe(decodeFrames(), limitMessageSize(999), describeErrors())).toBe('-#', undefined, TOO_BIG);
      expectSubscriptions(source.subscriptions).toBe('^!');
    });
  });
});
