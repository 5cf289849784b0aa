import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import { FrameDecoder, type FrameDecoderOptions, type FramePart } from '../../src/protocol/frame-decoder.js';
import { Opcode } from '../../src/protocol/opcode.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---------------------------------------------------------------------------
// A client frame builder, written from RFC 6455 §5.2 independently of the code
// under test. It can build anything on the wire, including frames the decoder
// must reject: RSV bits, reserved opcodes, unmasked frames, non-minimal and
// out-of-range length encodings.
// ---------------------------------------------------------------------------

interface ClientFrame {
  readonly opcode: number;
  readonly payload?: Uint8Array;
  readonly fin?: boolean;
  /** RSV1..3 as a 3-bit number (RSV1 = 4, RSV2 = 2, RSV3 = 1). */
  readonly rsv?: number;
  /** Masking key; `null` sends the frame unmasked. Default 37 fa 21 3d (RFC §5.7). */
  readonly mask?: Uint8Array | null;
  /** Force the length encoding (7, 16 or 64 bits); default is the minimal one. */
  readonly lengthBits?: 7 | 16 | 64;
  /** Put this value in the length field instead of the payload's length (header-only tests). */
  readonly lengthField?: bigint;
}

const RFC_KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

function clientFrameParts(f: ClientFrame): { header: Buffer; body: Buffer } {
  const payload = f.payload ?? new Uint8Array(0);
  const fin = f.fin ?? true;
  const rsv = f.rsv ?? 0;
  const mask = f.mask === undefined ? RFC_KEY : f.mask;
  const length = f.lengthField ?? BigInt(payload.length);
  const bits = f.lengthBits ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const head: number[] = [(fin ? 0x80 : 0) | (rsv << 4) | f.opcode];
  const maskBit = mask !== null ? 0x80 : 0;
  if (bits === 7) {
    head.push(maskBit | Number(length));
  } else if (bits === 16) {
    head.push(maskBit | 126, Number(length >> 8n) & 0xff, Number(length) & 0xff);
  } else {
    head.push(maskBit | 127);
    for (let shift = 56n; shift >= 0n; shift -= 8n) head.push(Number((length >> shift) & 0xffn));
  }
  if (mask !== null) head.push(...mask);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ (mask !== null ? mask[i % 4]! : 0);
  return { header: Buffer.from(head), body };
}

function clientFrame(f: ClientFrame): Buffer {
  const { header, body } = clientFrameParts(f);
  return Buffer.concat([header, body]);
}

// ---------------------------------------------------------------------------
// Decoding helpers
// ---------------------------------------------------------------------------

interface RecordedPart extends FramePart {
  /** Index of the chunk whose push emitted this part. */
  readonly chunk: number;
}

/** Pushes each chunk (copied, since the decoder unmasks in place) and records every part. */
function decodeChunks(chunks: readonly Buffer[], options?: FrameDecoderOptions): RecordedPart[] {
  const decoder = new FrameDecoder(options);
  const parts: RecordedPart[] = [];
  chunks.forEach((chunk, index) => {
    decoder.push(Buffer.from(chunk), (part) => {
      // payload is a view of this chunk: copy it so later pushes can't disturb it
      parts.push({ ...part, payload: Buffer.from(part.payload), chunk: index });
    });
  });
  return parts;
}

interface DecodedFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/**
 * Groups parts into frames and checks the per-part invariants on the way:
 * `first` on exactly the first part, `last` on exactly the last, offsets
 * contiguous from 0, `fin`/`opcode`/`length` constant and `length` equal to the
 * payload total. (Violations are collected and asserted once: this runs in
 * tight loops.)
 */
function framesOf(parts: readonly FramePart[]): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  const violations: string[] = [];
  let current: { fin: boolean; opcode: number; length: number; pieces: Buffer[]; received: number } | null = null;
  parts.forEach((part, i) => {
    if (current === null) {
      if (!part.first) violations.push(`part ${i}: first=false on a frame's first part`);
      current = { fin: part.fin, opcode: part.opcode, length: part.length, pieces: [], received: 0 };
    } else {
      if (part.first) violations.push(`part ${i}: first=true inside a frame`);
      if (part.fin !== current.fin || part.opcode !== current.opcode || part.length !== current.length) {
        violations.push(`part ${i}: fin/opcode/length changed inside a frame`);
      }
    }
    if (part.offset !== current.received) violations.push(`part ${i}: offset ${part.offset}, expected ${current.received}`);
    current.pieces.push(part.payload);
    current.received += part.payload.length;
    if (current.received > current.length) violations.push(`part ${i}: more payload than the announced length`);
    if (part.last !== (current.received === current.length)) violations.push(`part ${i}: last=${part.last} at ${current.received}/${current.length}`);
    if (part.last) {
      frames.push({ fin: current.fin, opcode: current.opcode, payload: Buffer.concat(current.pieces) });
      current = null;
    }
  });
  if (current !== null) violations.push('input ended inside a frame');
  expect(violations).toEqual([]);
  return frames;
}

/** Frame equality, fast (Buffer#equals) with vitest's diff only on a mismatch. */
function expectFrames(actual: readonly DecodedFrame[], expected: readonly DecodedFrame[]): void {
  const same =
    actual.length === expected.length &&
    actual.every((a, i) => a.fin === expected[i]!.fin && a.opcode === expected[i]!.opcode && a.payload.equals(expected[i]!.payload));
  if (!same) expect(actual).toEqual(expected);
  expect(same).toBe(true);
}

/** Splits `buf` at the given (sorted, in-range) positions. */
function splitAt(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const cut of [...cuts, buf.length]) {
    chunks.push(buf.subarray(prev, cut));
    prev = cut;
  }
  return chunks;
}

/** Runs `fn` and returns the ProtocolError it throws. */
function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError to be thrown');
}

const bytes = (length: number, seed = 1): Buffer => {
  const b = Buffer.alloc(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    b[i] = s >>> 24;
  }
  return b;
};

// ---------------------------------------------------------------------------

describe('FrameDecoder — RFC 6455 §5.7 examples', () => {
  it('the builder reproduces the RFC masked "Hello" bytes', () => {
    expect(clientFrame({ opcode: Opcode.Text, payload: Buffer.from('Hello') })).toEqual(hex('81 85 37 fa 21 3d 7f 9f 4d 51 58'));
  });

  it('masked "Hello" (81 85 37 fa 21 3d 7f 9f 4d 51 58) decodes to one part "Hello"', () => {
    const parts = decodeChunks([hex('81 85 37 fa 21 3d 7f 9f 4d 51 58')]);
    expect(parts).toHaveLength(1);
    const [p] = parts;
    expect(p!.payload.toString()).toBe('Hello');
    expect({ fin: p!.fin, opcode: p!.opcode, length: p!.length, offset: p!.offset, first: p!.first, last: p!.last }).toEqual({
      fin: true,
      opcode: Opcode.Text,
      length: 5,
      offset: 0,
      first: true,
      last: true,
    });
  });

  it('fragmented unmasked "Hel" + "lo" (01 03 48 65 6c / 80 02 6c 6f) with requireMask: false', () => {
    const frames = framesOf(decodeChunks([hex('01 03 48 65 6c 80 02 6c 6f')], { requireMask: false }));
    expect(frames).toEqual([
      { fin: false, opcode: Opcode.Text, payload: Buffer.from('Hel') },
      { fin: true, opcode: Opcode.Continuation, payload: Buffer.from('lo') },
    ]);
  });

  it('masked ping "Hello" decodes as a control frame', () => {
    const frames = framesOf(decodeChunks([clientFrame({ opcode: Opcode.Ping, payload: Buffer.from('Hello') })]));
    expect(frames).toEqual([{ fin: true, opcode: Opcode.Ping, payload: Buffer.from('Hello') }]);
  });
});

describe('FrameDecoder — payload lengths', () => {
  const cases: [length: number, headerBytes: number][] = [
    [0, 6],
    [1, 6],
    [125, 6],
    [126, 8],
    [127, 8],
    [65535, 8],
    [65536, 14],
    [70000, 14],
  ];
  for (const [length, headerBytes] of cases) {
    it(`length ${length} (${headerBytes}-byte masked header)`, () => {
      const payload = bytes(length, length + 1);
      const frame = clientFrame({ opcode: Opcode.Binary, payload });
      expect(frame.length).toBe(headerBytes + length);
      const parts = decodeChunks([frame]);
      expect(parts).toHaveLength(1);
      expect(parts[0]!.length).toBe(length);
      expect(parts[0]!.payload.equals(payload)).toBe(true);
    });
  }

  it('64-bit length just under 2^53 is accepted (header part emitted, announcing the full length)', () => {
    const header = clientFrame({ opcode: Opcode.Binary, lengthField: 2n ** 53n - 1n });
    const parts = decodeChunks([header]);
    expect(parts).toHaveLength(1);
    expect(parts[0]).toMatchObject({ first: true, last: false, offset: 0, length: 2 ** 53 - 1 });
    expect(parts[0]!.payload.length).toBe(0);
  });

  it('a length with the high 32 bits set is read correctly', () => {
    const parts = decodeChunks([clientFrame({ opcode: Opcode.Binary, lengthField: 2n ** 32n + 7n })]);
    expect(parts[0]!.length).toBe(2 ** 32 + 7);
  });
});

describe('FrameDecoder — header rules', () => {
  /** Asserts that decoding `frame` fails with code/closeCode, whole and byte by byte, emitting nothing. */
  function expectRejected(frame: Buffer, code: string, closeCode: number, options?: FrameDecoderOptions): void {
    const emitted: FramePart[] = [];
    const whole = protocolError(() => new FrameDecoder(options).push(Buffer.from(frame), (p) => void emitted.push(p)));
    expect({ code: whole.code, closeCode: whole.closeCode }).toEqual({ code, closeCode });
    expect(emitted).toEqual([]);

    // Header straddling chunks (collected in the scratch buffer): same error.
    const decoder = new FrameDecoder(options);
    const byByte = protocolError(() => {
      for (let i = 0; i < frame.length; i++) decoder.push(Buffer.from(frame.subarray(i, i + 1)), (p) => void emitted.push(p));
    });
    expect({ code: byByte.code, closeCode: byByte.closeCode }).toEqual({ code, closeCode });
    expect(emitted).toEqual([]);
  }

  for (const [name, rsv] of [
    ['RSV1', 4],
    ['RSV2', 2],
    ['RSV3', 1],
    ['RSV1+RSV3', 5],
  ] as const) {
    it(`${name} set → WS_ERR_UNEXPECTED_RSV, 1002`, () => {
      expectRejected(clientFrame({ opcode: Opcode.Text, rsv, payload: Buffer.from('hi') }), 'WS_ERR_UNEXPECTED_RSV', 1002);
      expectRejected(clientFrame({ opcode: Opcode.Ping, rsv }), 'WS_ERR_UNEXPECTED_RSV', 1002);
    });
  }

  describe('RSV1 with permessage-deflate agreed (allowRsv1)', () => {
    const agreed = { allowRsv1: true };
    it('is allowed on the first frame of a text or binary message, and marks its parts compressed', () => {
      for (const opcode of [Opcode.Text, Opcode.Binary]) {
        const parts = decodeChunks([clientFrame({ opcode, rsv: 4, fin: false, payload: Buffer.from('ab') }), clientFrame({ opcode: 0, payload: Buffer.from('c') })], agreed);
        expect(parts.map((p) => [p.opcode, p.compressed, p.payload.toString()])).toEqual([
          [opcode, true, 'ab'],
          [0, undefined, 'c'],
        ]);
      }
    });
    it('on a continuation frame → WS_ERR_UNEXPECTED_RSV_1, 1002', () => {
      expectRejected(clientFrame({ opcode: 0, rsv: 4, payload: Buffer.from('x') }), 'WS_ERR_UNEXPECTED_RSV_1', 1002, agreed);
    });
    for (const opcode of [Opcode.Ping, Opcode.Pong, Opcode.Close]) {
      it(`on control opcode ${opcode} → WS_ERR_UNEXPECTED_RSV_1, 1002`, () => {
        expectRejected(clientFrame({ opcode, rsv: 4 }), 'WS_ERR_UNEXPECTED_RSV_1', 1002, agreed);
      });
    }
    it('RSV2 and RSV3 stay errors', () => {
      expectRejected(clientFrame({ opcode: Opcode.Text, rsv: 2, payload: Buffer.from('x') }), 'WS_ERR_UNEXPECTED_RSV', 1002, agreed);
      expectRejected(clientFrame({ opcode: Opcode.Text, rsv: 6, payload: Buffer.from('x') }), 'WS_ERR_UNEXPECTED_RSV', 1002, agreed);
    });
  });

  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    it(`reserved opcode ${opcode} → WS_ERR_INVALID_OPCODE, 1002`, () => {
      expectRejected(clientFrame({ opcode, payload: Buffer.from('x') }), 'WS_ERR_INVALID_OPCODE', 1002);
    });
  }

  it('every non-reserved opcode is accepted', () => {
    for (const opcode of [0, 1, 2, 8, 9, 10]) {
      const payload = opcode === Opcode.Close ? hex('03e8') : Buffer.from('ok');
      expect(framesOf(decodeChunks([clientFrame({ opcode, payload })]))).toEqual([{ fin: true, opcode, payload }]);
    }
  });

  for (const opcode of [Opcode.Close, Opcode.Ping, Opcode.Pong]) {
    it(`control opcode ${opcode} with length > 125 → WS_ERR_CONTROL_TOO_LONG, 1002 (125 is fine)`, () => {
      expectRejected(clientFrame({ opcode, payload: bytes(126) }), 'WS_ERR_CONTROL_TOO_LONG', 1002);
      expectRejected(clientFrame({ opcode, payload: bytes(1000) }), 'WS_ERR_CONTROL_TOO_LONG', 1002);
      expectRejected(clientFrame({ opcode, lengthField: 70000n }), 'WS_ERR_CONTROL_TOO_LONG', 1002);
      // a (non-minimal) 16-bit encoding of a small length: len7 = 126 already breaks the control rule
      expectRejected(clientFrame({ opcode, payload: bytes(5), lengthBits: 16 }), 'WS_ERR_CONTROL_TOO_LONG', 1002);
      const ok = bytes(125);
      expect(framesOf(decodeChunks([clientFrame({ opcode, payload: ok })]))).toEqual([{ fin: true, opcode, payload: ok }]);
    });

    it(`control opcode ${opcode} with fin=0 → WS_ERR_FRAGMENTED_CONTROL, 1002`, () => {
      expectRejected(clientFrame({ opcode, fin: false, payload: Buffer.from('x') }), 'WS_ERR_FRAGMENTED_CONTROL', 1002);
      expectRejected(clientFrame({ opcode, fin: false }), 'WS_ERR_FRAGMENTED_CONTROL', 1002);
    });
  }

  it('data frames with fin=0 are fine (fragmentation)', () => {
    for (const opcode of [Opcode.Continuation, Opcode.Text, Opcode.Binary]) {
      expect(framesOf(decodeChunks([clientFrame({ opcode, fin: false, payload: Buffer.from('x') })]))).toEqual([
        { fin: false, opcode, payload: Buffer.from('x') },
      ]);
    }
  });

  it('unmasked frame → WS_ERR_EXPECTED_MASK, 1002 (by default and with requireMask: true)', () => {
    for (const opcode of [Opcode.Text, Opcode.Binary, Opcode.Continuation, Opcode.Ping, Opcode.Close]) {
      expectRejected(clientFrame({ opcode, mask: null, payload: Buffer.from('ab') }), 'WS_ERR_EXPECTED_MASK', 1002);
      expectRejected(clientFrame({ opcode, mask: null }), 'WS_ERR_EXPECTED_MASK', 1002, { requireMask: true });
    }
  });

  it('unmasked frames are accepted with requireMask: false, and masked ones still unmasked', () => {
    const input = Buffer.concat([
      clientFrame({ opcode: Opcode.Text, mask: null, payload: Buffer.from('plain') }),
      clientFrame({ opcode: Opcode.Binary, payload: Buffer.from('masked') }),
      clientFrame({ opcode: Opcode.Binary, mask: null, payload: bytes(300) }),
    ]);
    expect(framesOf(decodeChunks([input], { requireMask: false }))).toEqual([
      { fin: true, opcode: Opcode.Text, payload: Buffer.from('plain') },
      { fin: true, opcode: Opcode.Binary, payload: Buffer.from('masked') },
      { fin: true, opcode: Opcode.Binary, payload: bytes(300) },
    ]);
  });

  it('64-bit length with the top bit set → WS_ERR_INVALID_LENGTH, 1002', () => {
    expectRejected(clientFrame({ opcode: Opcode.Binary, lengthField: 2n ** 63n }), 'WS_ERR_INVALID_LENGTH', 1002);
    expectRejected(clientFrame({ opcode: Opcode.Binary, lengthField: 2n ** 64n - 1n }), 'WS_ERR_INVALID_LENGTH', 1002);
    expectRejected(clientFrame({ opcode: Opcode.Binary, lengthField: 2n ** 63n + 5n }), 'WS_ERR_INVALID_LENGTH', 1002);
  });

  it('64-bit length ≥ 2^53 → WS_ERR_MESSAGE_TOO_BIG, 1009', () => {
    expectRejected(clientFrame({ opcode: Opcode.Binary, lengthField: 2n ** 53n }), 'WS_ERR_MESSAGE_TOO_BIG', 1009);
    expectRejected(clientFrame({ opcode: Opcode.Text, lengthField: 2n ** 62n }), 'WS_ERR_MESSAGE_TOO_BIG', 1009);
    expectRejected(clientFrame({ opcode: Opcode.Binary, lengthField: 2n ** 63n - 1n }), 'WS_ERR_MESSAGE_TOO_BIG', 1009);
  });

  it('non-minimal 16-bit length (< 126) → WS_ERR_NON_MINIMAL_LENGTH, 1002', () => {
    for (const length of [0, 1, 5, 125]) {
      expectRejected(
        clientFrame({ opcode: Opcode.Binary, payload: bytes(length), lengthBits: 16 }),
        'WS_ERR_NON_MINIMAL_LENGTH',
        1002,
      );
    }
    // 126 is the smallest 16-bit length
    expect(decodeChunks([clientFrame({ opcode: Opcode.Binary, payload: bytes(126), lengthBits: 16 })])[0]!.length).toBe(126);
  });

  it('non-minimal 64-bit length (< 65536) → WS_ERR_NON_MINIMAL_LENGTH, 1002', () => {
    for (const length of [0, 5, 125, 126, 1000, 65535]) {
      expectRejected(
        clientFrame({ opcode: Opcode.Binary, payload: bytes(length), lengthBits: 64 }),
        'WS_ERR_NON_MINIMAL_LENGTH',
        1002,
      );
    }
    // 65536 is the smallest 64-bit length
    expect(decodeChunks([clientFrame({ opcode: Opcode.Binary, payload: bytes(65536), lengthBits: 64 })])[0]!.length).toBe(65536);
  });

  it('a bad header after good frames in the same chunk: the good frames are emitted, then it throws', () => {
    const input = Buffer.concat([
      clientFrame({ opcode: Opcode.Text, payload: Buffer.from('one') }),
      clientFrame({ opcode: Opcode.Ping }),
      clientFrame({ opcode: Opcode.Text, rsv: 4, payload: Buffer.from('bad') }),
    ]);
    const parts: FramePart[] = [];
    const err = protocolError(() => new FrameDecoder().push(input, (p) => void parts.push(p)));
    expect(err.code).toBe('WS_ERR_UNEXPECTED_RSV');
    expect(parts.map((p) => [p.opcode, p.payload.toString()])).toEqual([
      [Opcode.Text, 'one'],
      [Opcode.Ping, ''],
    ]);
  });

  it('the decoder refuses further input after a protocol error', () => {
    const decoder = new FrameDecoder();
    protocolError(() => decoder.push(clientFrame({ opcode: 3 }), () => {}));
    expect(() => decoder.push(clientFrame({ opcode: Opcode.Text }), () => {})).toThrow();
  });
});

describe('FrameDecoder — chunking', () => {
  /** A mixed sequence: 7-bit, 16-bit, empty, control frames between fragments. */
  const SEQUENCE: ClientFrame[] = [
    { opcode: Opcode.Text, fin: false, payload: Buffer.from('Hello, ') },
    { opcode: Opcode.Ping, payload: Buffer.from('are you there?'), mask: Uint8Array.of(1, 2, 3, 4) },
    { opcode: Opcode.Continuation, fin: false, payload: Buffer.alloc(0) },
    { opcode: Opcode.Continuation, fin: true, payload: Buffer.from('wörld — ünïcödé'), mask: Uint8Array.of(0xff, 0, 0x80, 0x7f) },
    { opcode: Opcode.Binary, payload: bytes(300, 9), mask: Uint8Array.of(0xa5, 0x5a, 0xc3, 0x3c) },
    { opcode: Opcode.Pong, payload: Buffer.alloc(0) },
    { opcode: Opcode.Binary, payload: bytes(1, 3) },
    { opcode: Opcode.Close, payload: hex('03e8 627965') },
  ];
  const WIRE = Buffer.concat(SEQUENCE.map(clientFrame));
  const EXPECTED: DecodedFrame[] = SEQUENCE.map((f) => ({
    fin: f.fin ?? true,
    opcode: f.opcode,
    payload: Buffer.from(f.payload ?? []),
  }));
  /** [start, headerEnd, end) of each frame on the wire. */
  const BOUNDS = (() => {
    let at = 0;
    return SEQUENCE.map((f) => {
      const { header, body } = clientFrameParts(f);
      const b = { start: at, headerEnd: at + header.length, end: at + header.length + body.length };
      at = b.end;
      return b;
    });
  })();

  it('fed whole', () => {
    const parts = decodeChunks([WIRE]);
    expect(parts).toHaveLength(SEQUENCE.length); // one part per frame
    expect(framesOf(parts)).toEqual(EXPECTED);
  });

  it('fed byte by byte', () => {
    const chunks = splitAt(
      WIRE,
      Array.from({ length: WIRE.length - 1 }, (_, i) => i + 1),
    );
    const parts = decodeChunks(chunks);
    expect(framesOf(parts)).toEqual(EXPECTED);
    // each frame's first part comes out with the byte that completes its header
    const firsts = parts.filter((p) => p.first);
    expect(firsts.map((p) => p.chunk)).toEqual(BOUNDS.map((b) => b.headerEnd - 1));
    // byte-sized chunks: every non-first part carries exactly one byte
    expect(parts.filter((p) => !p.first).every((p) => p.payload.length === 1)).toBe(true);
  });

  it('split in two at every position', () => {
    for (let k = 0; k <= WIRE.length; k++) {
      const parts = decodeChunks(splitAt(WIRE, [k]));
      expectFrames(framesOf(parts), EXPECTED);
      // The header part is emitted by the push that completes the header.
      const firsts = parts.filter((p) => p.first);
      expect(firsts.map((p) => p.chunk)).toEqual(BOUNDS.map((b) => (b.headerEnd <= k ? 0 : 1)));
      // At most two parts per frame; two when the cut falls at or after its header end and before its payload end.
      const perFrame = BOUNDS.map((b) => (k >= b.headerEnd && k < b.end ? 2 : 1));
      expect(parts).toHaveLength(perFrame.reduce((a, b) => a + b, 0));
    }
  });

  it('split in three at every pair of positions', () => {
    for (let a = 0; a <= WIRE.length; a += 3) {
      for (let b = a; b <= WIRE.length; b += 5) {
        expectFrames(framesOf(decodeChunks(splitAt(WIRE, [a, b]))), EXPECTED);
      }
    }
  });

  it('emits a header-only part (first, empty payload, not last) when the chunk ends right after the header', () => {
    for (const [i, b] of BOUNDS.entries()) {
      const parts = decodeChunks(splitAt(WIRE, [b.headerEnd]));
      // frames before i are whole in chunk 0, so frame i's first part is parts[i]
      const header = parts[i]!;
      expect(header).toMatchObject({ first: true, offset: 0, chunk: 0 });
      expect(header.opcode).toBe(SEQUENCE[i]!.opcode);
      expect(header.payload.length).toBe(0);
      expect(header.length).toBe(b.end - b.headerEnd);
      expect(header.last).toBe(b.end === b.headerEnd);
      if (b.end > b.headerEnd) {
        // the payload follows in the next chunk as a single non-first part
        const next = parts[i + 1]!;
        expect(next).toMatchObject({ first: false, last: true, offset: 0, chunk: 1, length: b.end - b.headerEnd });
        expect(next.payload).toEqual(EXPECTED[i]!.payload);
      }
    }
  });

  it('header-only part for a large frame, then payload parts with running offsets', () => {
    const payload = bytes(70000, 5);
    const frame = clientFrame({ opcode: Opcode.Binary, payload, mask: Uint8Array.of(9, 8, 7, 6) });
    const cuts = [14, 14 + 1, 14 + 3, 14 + 4096, 14 + 65536, 14 + 69999];
    const parts = decodeChunks(splitAt(frame, cuts));
    expect(parts.map((p) => [p.chunk, p.first, p.offset, p.payload.length, p.last])).toEqual([
      [0, true, 0, 0, false],
      [1, false, 0, 1, false],
      [2, false, 1, 2, false],
      [3, false, 3, 4093, false],
      [4, false, 4096, 61440, false],
      [5, false, 65536, 4463, false],
      [6, false, 69999, 1, true],
    ]);
    expect(parts.every((p) => p.length === 70000 && p.opcode === Opcode.Binary && p.fin)).toBe(true);
    expect(Buffer.concat(parts.map((p) => p.payload)).equals(payload)).toBe(true);
  });

  it('a header split inside its extended length and inside its masking key', () => {
    const payload = bytes(500, 11);
    const frame = clientFrame({ opcode: Opcode.Binary, payload });
    for (const cuts of [[1], [2], [3], [4], [5], [7], [1, 2, 3, 4, 5, 6, 7]]) {
      const parts = decodeChunks(splitAt(frame, cuts));
      expect(framesOf(parts)).toEqual([{ fin: true, opcode: Opcode.Binary, payload }]);
      expect(parts[0]!.chunk).toBe(cuts.length); // header (8 bytes) completes only in the last chunk
    }
  });

  it('a frame inside one chunk gives exactly one part whose payload is a view of the chunk (zero-copy, unmasked in place)', () => {
    const frames = [
      clientFrame({ opcode: Opcode.Text, payload: Buffer.from('first') }),
      clientFrame({ opcode: Opcode.Binary, payload: bytes(1000, 2) }),
      clientFrame({ opcode: Opcode.Ping, payload: Buffer.from('p') }),
    ];
    // a chunk that is itself an unaligned view into a larger buffer, like socket data
    const backing = Buffer.alloc(3 + frames.reduce((n, f) => n + f.length, 0) + 5);
    const chunk = backing.subarray(3, backing.length - 5);
    Buffer.concat(frames).copy(chunk);
    const parts: FramePart[] = [];
    new FrameDecoder().push(chunk, (p) => void parts.push(p));
    expect(parts).toHaveLength(3);
    const payloadStarts = [6, frames[0]!.length + 8, frames[0]!.length + frames[1]!.length + 6];
    parts.forEach((part, i) => {
      expect(part.first && part.last).toBe(true);
      expect(part.payload.buffer).toBe(chunk.buffer);
      expect(part.payload.byteOffset).toBe(chunk.byteOffset + payloadStarts[i]!);
    });
    expect(parts[0]!.payload.toString()).toBe('first');
    expect(parts[1]!.payload.equals(bytes(1000, 2))).toBe(true);
    // unmasked in place: the chunk itself now holds the plaintext
    expect(chunk.subarray(6, 11).toString()).toBe('first');
  });

  it('payload parts of a frame spanning chunks are views of their chunks too', () => {
    const frame = clientFrame({ opcode: Opcode.Binary, payload: bytes(100, 4) });
    const a = Buffer.from(frame.subarray(0, 40));
    const b = Buffer.from(frame.subarray(40));
    const parts: FramePart[] = [];
    const decoder = new FrameDecoder();
    decoder.push(a, (p) => void parts.push(p));
    decoder.push(b, (p) => void parts.push(p));
    expect(parts).toHaveLength(2);
    expect(parts[0]!.payload.buffer).toBe(a.buffer);
    expect(parts[1]!.payload.buffer).toBe(b.buffer);
    expect(Buffer.concat([parts[0]!.payload, parts[1]!.payload]).equals(bytes(100, 4))).toBe(true);
  });

  it('emit returning false stops decoding the rest of the chunk', () => {
    const first = clientFrame({ opcode: Opcode.Text, payload: Buffer.from('one') });
    const second = clientFrame({ opcode: Opcode.Text, payload: Buffer.from('two') });
    const chunk = Buffer.concat([first, second]);
    const untouched = Buffer.from(chunk.subarray(first.length));
    const seen: string[] = [];
    new FrameDecoder().push(chunk, (p) => {
      seen.push(p.payload.toString());
      return false;
    });
    expect(seen).toEqual(['one']);
    // the second frame was not even unmasked
    expect(chunk.subarray(first.length)).toEqual(untouched);
  });

  it('emit returning false on a header-only part stops before the payload part', () => {
    const frame = clientFrame({ opcode: Opcode.Binary, payload: bytes(50, 6) });
    const decoder = new FrameDecoder();
    const seen: FramePart[] = [];
    decoder.push(Buffer.from(frame.subarray(0, 6)), (p) => void seen.push(p));
    expect(seen).toHaveLength(1);
    const rest = Buffer.concat([frame.subarray(6), clientFrame({ opcode: Opcode.Ping, payload: Buffer.from('pp') })]);
    const copy = Buffer.from(rest);
    decoder.push(rest, (p) => {
      seen.push(p);
      return false;
    });
    expect(seen).toHaveLength(2); // the payload part, not the ping after it
    expect(seen[1]!.payload.equals(bytes(50, 6))).toBe(true);
    expect(rest.subarray(50)).toEqual(copy.subarray(50)); // ping not decoded: its payload is still masked
  });

  it('emit returning true or undefined keeps decoding', () => {
    const chunk = Buffer.concat([1, 2, 3].map((n) => clientFrame({ opcode: Opcode.Binary, payload: bytes(n) })));
    let count = 0;
    new FrameDecoder().push(Buffer.from(chunk), () => {
      count++;
      return true;
    });
    expect(count).toBe(3);
    count = 0;
    new FrameDecoder().push(Buffer.from(chunk), () => {
      count++;
    });
    expect(count).toBe(3);
  });
});

describe('FrameDecoder — property: any valid frame sequence, any chunking', () => {
  const payloadArb = fc.oneof(
    { weight: 10, arbitrary: fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1, 124, 125, 126, 127, 65535).map((n) => bytes(n, n)) },
    { weight: 1, arbitrary: fc.record({ n: fc.integer({ min: 65536, max: 70000 }), seed: fc.integer() }).map(({ n, seed }) => bytes(n, seed)) },
  );
  const maskArb = fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: 4, maxLength: 4 }) }, { weight: 1, arbitrary: fc.constant(null) });
  const frameArb: fc.Arbitrary<ClientFrame> = fc.oneof(
    fc.record({
      opcode: fc.constantFrom(Opcode.Continuation, Opcode.Text, Opcode.Binary),
      fin: fc.boolean(),
      payload: payloadArb,
      mask: maskArb,
    }),
    fc.record({
      opcode: fc.constantFrom(Opcode.Ping, Opcode.Pong, Opcode.Close),
      fin: fc.constant(true),
      payload: fc.uint8Array({ maxLength: 125 }).map((a) => Buffer.from(a)),
      mask: maskArb,
    }),
  );

  it('reassembles to the same frames, header parts emitted by the chunk completing the header', () => {
    fc.assert(
      fc.property(fc.array(frameArb, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (frames, rawCuts) => {
        const wire = Buffer.concat(frames.map(clientFrame));
        const cuts = [...new Set(rawCuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const chunks = splitAt(wire, cuts);
        const parts = decodeChunks(chunks, { requireMask: false });
        expectFrames(
          framesOf(parts),
          frames.map((f) => ({ fin: f.fin ?? true, opcode: f.opcode, payload: Buffer.from(f.payload ?? []) })),
        );
        // chunk index holding a given wire position
        const ends: number[] = [];
        chunks.reduce((at, c, i) => (ends[i] = at + c.length), 0);
        const chunkOf = (pos: number): number => ends.findIndex((end, i) => pos < end && chunks[i]!.length > 0);
        let at = 0;
        const firsts = parts.filter((p) => p.first);
        const expectedChunks = frames.map((f) => {
          const { header, body } = clientFrameParts(f);
          const chunk = chunkOf(at + header.length - 1);
          at += header.length + body.length;
          return chunk;
        });
        expect(firsts.map((p) => p.chunk)).toEqual(expectedChunks);
      }),
      { numRuns: 300 },
    );
  });
});
