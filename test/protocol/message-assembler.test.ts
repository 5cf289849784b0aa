import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import type { FramePart } from '../../src/protocol/frame-decoder.js';
import { type Message, MessageAssembler } from '../../src/protocol/message-assembler.js';
import { Opcode } from '../../src/protocol/opcode.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const buf = (s: string | Buffer): Buffer => (typeof s === 'string' ? Buffer.from(s, 'utf8') : s);

/**
 * The parts the frame decoder would emit for one frame whose payload is cut
 * at `cuts` (payload offsets; a cut at 0 gives a header-only first part).
 */
function frameParts(opcode: number, fin: boolean, payload: string | Buffer, cuts: readonly number[] = []): FramePart[] {
  const data = buf(payload);
  const bounds = [0, ...cuts, data.length];
  const parts: FramePart[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const start = bounds[i]!;
    const end = bounds[i + 1]!;
    if (i > 0 && end === start) continue; // the decoder never emits empty non-first parts
    parts.push({
      fin,
      opcode,
      length: data.length,
      offset: start,
      payload: data.subarray(start, end),
      first: i === 0,
      last: end === data.length,
    });
  }
  return parts;
}

/** One whole frame as one part. */
const frame = (opcode: number, fin: boolean, payload: string | Buffer = ''): FramePart => frameParts(opcode, fin, payload)[0]!;

/** Pushes every part, returns the messages in order (as opcode + utf8/hex for readable diffs). */
function assemble(parts: readonly FramePart[], assembler = new MessageAssembler()): Message[] {
  const out: Message[] = [];
  for (const part of parts) {
    const m = assembler.push(part);
    if (m !== undefined) out.push(m);
  }
  return out;
}

/** Pushes parts until one throws; returns the index of the throwing part and the error. */
function failingPush(parts: readonly FramePart[]): { index: number; error: ProtocolError } {
  const assembler = new MessageAssembler();
  for (const [index, part] of parts.entries()) {
    try {
      assembler.push(part);
    } catch (error) {
      expect(error).toBeInstanceOf(ProtocolError);
      return { index, error: error as ProtocolError };
    }
  }
  throw new Error('expected a push to throw a ProtocolError');
}

const msg = (opcode: number, payload: string | Buffer): Message => ({ opcode, payload: buf(payload) });

afterEach(() => {
  vi.restoreAllMocks();
});

describe('MessageAssembler — single frames', () => {
  it('a whole text frame is one message', () => {
    expect(assemble([frame(Opcode.Text, true, 'Hello')])).toEqual([msg(Opcode.Text, 'Hello')]);
  });

  it('a whole frame in one part is passed through zero-copy', () => {
    const part = frame(Opcode.Binary, true, hex('00 01 02 ff'));
    const m = new MessageAssembler().push(part);
    expect(m!.payload).toBe(part.payload);
  });

  it('empty text and binary messages', () => {
    expect(assemble([frame(Opcode.Text, true), frame(Opcode.Binary, true)])).toEqual([msg(Opcode.Text, ''), msg(Opcode.Binary, '')]);
  });

  it('a single frame split across parts (header-only part first) is joined', () => {
    const parts = frameParts(Opcode.Text, true, 'split across chunks', [0, 5, 6, 12]);
    expect(parts[0]!.payload.length).toBe(0);
    const assembler = new MessageAssembler();
    const results = parts.map((p) => assembler.push(p));
    expect(results.slice(0, -1)).toEqual([undefined, undefined, undefined, undefined]);
    expect(results.at(-1)).toEqual(msg(Opcode.Text, 'split across chunks'));
  });
});

describe('MessageAssembler — fragmentation', () => {
  it('text in 3 fragments is joined; only the last fragment completes it', () => {
    const assembler = new MessageAssembler();
    expect(assembler.push(frame(Opcode.Text, false, 'Hel'))).toBeUndefined();
    expect(assembler.push(frame(Opcode.Continuation, false, 'lo, '))).toBeUndefined();
    const m = assembler.push(frame(Opcode.Continuation, true, 'wörld'));
    expect(m).toEqual(msg(Opcode.Text, 'Hello, wörld'));
    expect(m!.payload.length).toBe(Buffer.byteLength('Hello, wörld'));
  });

  it('binary in fragments keeps the binary opcode and exact bytes (including invalid UTF-8)', () => {
    const parts = [
      frame(Opcode.Binary, false, hex('ff fe')),
      frame(Opcode.Continuation, false, hex('')),
      frame(Opcode.Continuation, false, hex('00 c0 80')),
      frame(Opcode.Continuation, true, hex('ed a0 80')),
    ];
    expect(assemble(parts)).toEqual([msg(Opcode.Binary, hex('ff fe 00 c0 80 ed a0 80'))]);
  });

  it('fragments that are themselves split into parts', () => {
    const parts = [
      ...frameParts(Opcode.Binary, false, 'abcdef', [0, 2]),
      ...frameParts(Opcode.Continuation, false, 'ghijkl', [3]),
      ...frameParts(Opcode.Continuation, true, 'mnop', [0, 1, 2, 3]),
    ];
    expect(assemble(parts)).toEqual([msg(Opcode.Binary, 'abcdefghijklmnop')]);
  });

  it('control frames between fragments pass through whole and in order', () => {
    const parts = [
      frame(Opcode.Text, false, 'one '),
      frame(Opcode.Ping, true, 'p1'),
      frame(Opcode.Continuation, false, 'two '),
      frame(Opcode.Pong, true, 'q'),
      frame(Opcode.Ping, true, ''),
      frame(Opcode.Continuation, true, 'three'),
      frame(Opcode.Ping, true, 'after'),
      frame(Opcode.Binary, true, 'next'),
    ];
    expect(assemble(parts)).toEqual([
      msg(Opcode.Ping, 'p1'),
      msg(Opcode.Pong, 'q'),
      msg(Opcode.Ping, ''),
      msg(Opcode.Text, 'one two three'),
      msg(Opcode.Ping, 'after'),
      msg(Opcode.Binary, 'next'),
    ]);
  });

  it('a close frame between fragments passes through', () => {
    expect(assemble([frame(Opcode.Binary, false, 'a'), frame(Opcode.Close, true, hex('03e8'))])).toEqual([msg(Opcode.Close, hex('03e8'))]);
  });

  it('messages after a fragmented message start fresh', () => {
    const assembler = new MessageAssembler();
    expect(assemble([frame(Opcode.Text, false, 'aaaa'), frame(Opcode.Continuation, true, 'bb')], assembler)).toEqual([msg(Opcode.Text, 'aaaabb')]);
    expect(assemble([frame(Opcode.Binary, false, 'c'), frame(Opcode.Continuation, true, 'd')], assembler)).toEqual([msg(Opcode.Binary, 'cd')]);
    expect(assemble([frame(Opcode.Text, true, 'e')], assembler)).toEqual([msg(Opcode.Text, 'e')]);
  });

  it('a completed message is not overwritten by the next one', () => {
    const assembler = new MessageAssembler();
    const [first] = assemble([frame(Opcode.Binary, false, 'AAAA'), frame(Opcode.Continuation, true, 'AAAA')], assembler);
    assemble([frame(Opcode.Binary, false, 'BBBB'), frame(Opcode.Continuation, true, 'BBBB')], assembler);
    expect(first!.payload.toString()).toBe('AAAAAAAA');
  });

  it('continuation with no message open → WS_ERR_UNEXPECTED_CONTINUATION, 1002', () => {
    for (const parts of [
      [frame(Opcode.Continuation, true, 'x')],
      [frame(Opcode.Continuation, false, 'x')],
      [frame(Opcode.Continuation, true, '')],
      // after a complete message, nothing is open any more
      [frame(Opcode.Text, false, 'a'), frame(Opcode.Continuation, true, 'b'), frame(Opcode.Continuation, true, 'c')],
      [frame(Opcode.Text, true, 'a'), frame(Opcode.Continuation, true, 'b')],
      // a single frame split across parts is not an open message either
      [...frameParts(Opcode.Binary, true, 'abc', [1]), frame(Opcode.Continuation, true, 'd')],
    ]) {
      const { index, error } = failingPush(parts);
      expect(index).toBe(parts.length - 1);
      expect({ code: error.code, closeCode: error.closeCode }).toEqual({ code: 'WS_ERR_UNEXPECTED_CONTINUATION', closeCode: 1002 });
    }
  });

  it('text/binary while a message is open → WS_ERR_EXPECTED_CONTINUATION, 1002', () => {
    for (const [open, next] of [
      [Opcode.Text, Opcode.Text],
      [Opcode.Text, Opcode.Binary],
      [Opcode.Binary, Opcode.Text],
      [Opcode.Binary, Opcode.Binary],
    ] as const) {
      for (const nextFin of [true, false]) {
        const parts = [frame(open, false, 'a'), frame(Opcode.Continuation, false, 'b'), frame(Opcode.Ping, true, ''), frame(next, nextFin, 'c')];
        const { index, error } = failingPush(parts);
        expect(index).toBe(3);
        expect({ code: error.code, closeCode: error.closeCode }).toEqual({ code: 'WS_ERR_EXPECTED_CONTINUATION', closeCode: 1002 });
      }
    }
  });

  it('the sequencing error fires on the header part, before any payload part', () => {
    const parts = [frame(Opcode.Text, false, 'a'), ...frameParts(Opcode.Binary, true, 'payload', [0])];
    expect(parts[1]!.payload.length).toBe(0);
    expect(failingPush(parts)).toMatchObject({ index: 1, error: { code: 'WS_ERR_EXPECTED_CONTINUATION' } });
  });
});

describe('MessageAssembler — UTF-8 validation (fail-fast, 1007)', () => {
  const expect1007 = (parts: FramePart[], index: number): void => {
    const result = failingPush(parts);
    expect({ index: result.index, code: result.error.code, closeCode: result.error.closeCode }).toEqual({
      index,
      code: 'WS_ERR_INVALID_UTF8',
      closeCode: 1007,
    });
  };

  it('invalid UTF-8 in a single-frame text message → 1007', () => {
    expect1007([frame(Opcode.Text, true, hex('48 65 ff'))], 0);
    expect1007([frame(Opcode.Text, true, hex('c0 80'))], 0); // overlong
    expect1007([frame(Opcode.Text, true, hex('ed a0 80'))], 0); // surrogate
    expect1007([frame(Opcode.Text, true, hex('f4 90 80 80'))], 0); // > U+10FFFF
    expect1007([frame(Opcode.Text, true, hex('e2 82'))], 0); // truncated
  });

  it('fails on the fragment carrying the first invalid byte, not at the end of the message', () => {
    expect1007([frame(Opcode.Text, false, 'Hello'), frame(Opcode.Continuation, false, hex('77 6f ff')), frame(Opcode.Continuation, true, 'ld')], 1);
    expect1007([frame(Opcode.Text, false, hex('ff')), frame(Opcode.Continuation, true, 'ok')], 0);
  });

  it('fails on the part carrying the first invalid byte within one frame', () => {
    // one text frame of 12 bytes in parts [0,4) [4,8) [8,12), invalid byte at 5
    const payload = Buffer.from('abcdefghijkl');
    payload[5] = 0xfe;
    expect1007(frameParts(Opcode.Text, true, payload, [4, 8]), 1);
    // same within a fragment of a fragmented message: parts are [xy] [header-only] [0,4) [4,8) [8,12)
    expect1007([frame(Opcode.Text, false, 'xy'), ...frameParts(Opcode.Continuation, true, payload, [0, 4, 8])], 3);
  });

  it('a sequence that cannot be completed fails on its second byte, across fragments (F4 90, ED A0, E0 80)', () => {
    expect1007([frame(Opcode.Text, false, hex('41 f4')), frame(Opcode.Continuation, false, hex('90')), frame(Opcode.Continuation, true, hex('80 80'))], 1);
    expect1007([frame(Opcode.Text, false, hex('ed')), frame(Opcode.Continuation, false, hex('a0 80')), frame(Opcode.Continuation, true, '')], 1);
    expect1007([frame(Opcode.Text, false, hex('e0')), frame(Opcode.Continuation, true, hex('80 80'))], 1);
    // across parts of one frame
    expect1007(frameParts(Opcode.Text, true, hex('41 42 f4 90 80 80'), [3]), 1);
  });

  it('a message ending inside a code point fails on its final fragment', () => {
    expect1007([frame(Opcode.Text, false, 'ab'), frame(Opcode.Continuation, false, hex('e2 82')), frame(Opcode.Continuation, true, '')], 2);
    expect1007(frameParts(Opcode.Text, true, hex('61 f0 9f 98'), [2]), 1);
  });

  it('a code point split across fragments (and across parts) is fine', () => {
    const text = 'a€b😀c';
    const bytes = Buffer.from(text);
    // every way of cutting the bytes into 2 and 3 fragments
    for (let i = 0; i <= bytes.length; i++) {
      for (let j = i; j <= bytes.length; j++) {
        const parts = [
          frame(Opcode.Text, false, bytes.subarray(0, i)),
          frame(Opcode.Continuation, false, bytes.subarray(i, j)),
          frame(Opcode.Continuation, true, bytes.subarray(j)),
        ];
        expect(assemble(parts)).toEqual([msg(Opcode.Text, text)]);
        // and one frame cut into parts at the same places
        expect(assemble(frameParts(Opcode.Text, true, bytes, [i, j]))).toEqual([msg(Opcode.Text, text)]);
      }
    }
  });

  it('validation state belongs to one message: text then binary then text', () => {
    const assembler = new MessageAssembler();
    expect(assemble([frame(Opcode.Text, false, hex('c3')), frame(Opcode.Continuation, true, hex('a9'))], assembler)).toEqual([msg(Opcode.Text, 'é')]);
    // a fragmented binary message after a text one is not validated as text
    expect(assemble([frame(Opcode.Binary, false, hex('ff')), frame(Opcode.Continuation, true, hex('e2'))], assembler)).toEqual([
      msg(Opcode.Binary, hex('ff e2')),
    ]);
    expect(assemble([frame(Opcode.Text, false, 'x'), frame(Opcode.Continuation, true, 'y')], assembler)).toEqual([msg(Opcode.Text, 'xy')]);
  });

  it('binary messages and control frames are not UTF-8 validated', () => {
    expect(assemble([frame(Opcode.Binary, true, hex('ff')), frame(Opcode.Ping, true, hex('ff fe')), frame(Opcode.Pong, true, hex('c0'))])).toEqual([
      msg(Opcode.Binary, hex('ff')),
      msg(Opcode.Ping, hex('ff fe')),
      msg(Opcode.Pong, hex('c0')),
    ]);
  });
});

describe('MessageAssembler — memory', () => {
  it('10,000 empty fragments + one byte: correct, and the buffer is not grown per fragment', () => {
    const assembler = new MessageAssembler();
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const allocSlow = vi.spyOn(Buffer, 'allocUnsafeSlow');
    const allocZero = vi.spyOn(Buffer, 'alloc');
    expect(assembler.push(frame(Opcode.Text, false, ''))).toBeUndefined();
    for (let i = 0; i < 10_000; i++) expect(assembler.push(frame(Opcode.Continuation, false, ''))).toBeUndefined();
    const allocationsForEmptyFragments = alloc.mock.calls.length + allocSlow.mock.calls.length + allocZero.mock.calls.length;
    const held = (assembler as unknown as { buffer: Buffer | null }).buffer;
    const m = assembler.push(frame(Opcode.Continuation, true, 'Z'));
    expect(m).toEqual(msg(Opcode.Text, 'Z'));
    expect(allocationsForEmptyFragments).toBeLessThanOrEqual(1);
    expect(held === null ? 0 : held.length).toBe(0);
  });

  it('65,536 one-byte fragments reassemble correctly with O(log n) buffer growth', () => {
    const n = 65_536;
    const expected = Buffer.alloc(n);
    for (let i = 0; i < n; i++) expected[i] = (i * 31 + 7) & 0xff;
    const parts: FramePart[] = [];
    for (let i = 0; i < n; i++) {
      parts.push(frame(i === 0 ? Opcode.Binary : Opcode.Continuation, i === n - 1, expected.subarray(i, i + 1)));
    }
    const assembler = new MessageAssembler();
    const alloc = vi.spyOn(Buffer, 'allocUnsafe');
    const messages = assemble(parts, assembler);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.opcode).toBe(Opcode.Binary);
    expect(messages[0]!.payload.equals(expected)).toBe(true);
    // doubling: ~17 allocations for 65,536 bytes, never one per fragment
    expect(alloc.mock.calls.length).toBeLessThanOrEqual(40);
  });

  it('65,536 one-byte text fragments (a multi-byte character every few bytes) reassemble correctly', () => {
    const text = 'aé€😀'.repeat(6554).slice(0, 40000);
    const bytes = Buffer.from(text);
    const parts = Array.from({ length: bytes.length }, (_, i) =>
      frame(i === 0 ? Opcode.Text : Opcode.Continuation, i === bytes.length - 1, bytes.subarray(i, i + 1)),
    );
    const [m] = assemble(parts);
    expect(m!.opcode).toBe(Opcode.Text);
    expect(m!.payload.toString()).toBe(text);
  });

  /** Bytes the assembler holds for the message it is assembling. */
  const held = (assembler: MessageAssembler): number => (assembler as unknown as { buffer: Buffer | null }).buffer?.length ?? 0;

  it('a header announcing 1,000,000 bytes followed by 1 byte allocates from the byte received, not from the announced length', () => {
    for (const [opcode, fin] of [
      [Opcode.Binary, true], // one frame, its payload split across chunks
      [Opcode.Binary, false], // the first fragment of a message
      [Opcode.Text, true],
    ] as const) {
      const assembler = new MessageAssembler();
      const announced: FramePart = { fin, opcode, length: 1_000_000, offset: 0, payload: Buffer.from('a'), first: true, last: false };
      expect(assembler.push(announced)).toBeUndefined();
      expect(held(assembler)).toBeGreaterThanOrEqual(1);
      expect(held(assembler)).toBeLessThanOrEqual(16 * 1024);
    }
  });

  it('a continuation announcing 1,000,000 bytes after a small fragment does not grow the buffer to it', () => {
    const assembler = new MessageAssembler();
    assembler.push(frame(Opcode.Binary, false, 'abc'));
    const announced: FramePart = { fin: true, opcode: Opcode.Continuation, length: 1_000_000, offset: 0, payload: Buffer.from('d'), first: true, last: false };
    assembler.push(announced);
    expect(held(assembler)).toBeLessThanOrEqual(16 * 1024);
  });

  it('a 1,000,000-byte frame arriving in 1,000-byte parts: memory stays within twice the bytes received (plus 16 KiB) and ends exact', () => {
    const data = Buffer.alloc(1_000_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    const parts = frameParts(Opcode.Binary, true, data, Array.from({ length: 999 }, (_, i) => (i + 1) * 1000));
    const assembler = new MessageAssembler();
    let received = 0;
    let message: Message | undefined;
    for (const part of parts) {
      message = assembler.push(part);
      received += part.payload.length;
      if (message === undefined) expect(held(assembler)).toBeLessThanOrEqual(2 * received + 16 * 1024);
    }
    expect(message!.payload.equals(data)).toBe(true);
    expect(message!.payload.buffer.byteLength).toBeLessThanOrEqual(1_000_000);
  });

  it('the final fragment sizes the buffer exactly (no slack beyond the message)', () => {
    const assembler = new MessageAssembler();
    assembler.push(frame(Opcode.Binary, false, 'abc'));
    const m = assembler.push(frame(Opcode.Continuation, true, 'defgh'));
    expect(m!.payload.toString()).toBe('abcdefgh');
    expect(m!.payload.length).toBe(8);
  });
});

describe('MessageAssembler — control frames split across parts', () => {
  it('a ping split across parts is reassembled', () => {
    const assembler = new MessageAssembler();
    const parts = frameParts(Opcode.Ping, true, 'abcdef', [0, 2, 3]);
    const results = parts.map((p) => assembler.push(p));
    expect(results.slice(0, -1)).toEqual([undefined, undefined, undefined]);
    expect(results.at(-1)).toEqual(msg(Opcode.Ping, 'abcdef'));
  });

  it('a split close frame of the maximum 125 bytes', () => {
    const payload = Buffer.concat([hex('03e8'), Buffer.alloc(123, 0x61)]);
    expect(assemble(frameParts(Opcode.Close, true, payload, [1, 64, 124]))).toEqual([msg(Opcode.Close, payload)]);
  });

  it('a split ping between fragments of a message does not disturb the message', () => {
    const parts = [
      ...frameParts(Opcode.Text, false, 'Hello, ', [3]),
      ...frameParts(Opcode.Ping, true, 'ping!', [0, 1]),
      ...frameParts(Opcode.Continuation, true, 'world', [2]),
    ];
    expect(assemble(parts)).toEqual([msg(Opcode.Ping, 'ping!'), msg(Opcode.Text, 'Hello, world')]);
  });

  it('a reassembled control payload is its own copy (not overwritten by the next split control frame)', () => {
    const assembler = new MessageAssembler();
    const [first] = assemble(frameParts(Opcode.Ping, true, 'aaaa', [2]), assembler);
    const [second] = assemble(frameParts(Opcode.Pong, true, 'bbbb', [2]), assembler);
    expect(first).toEqual(msg(Opcode.Ping, 'aaaa'));
    expect(second).toEqual(msg(Opcode.Pong, 'bbbb'));
  });
});
