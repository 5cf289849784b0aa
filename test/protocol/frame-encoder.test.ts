import { describe, expect, it } from 'vitest';
import { FrameDecoder, type FramePart } from '../../src/protocol/frame-decoder.js';
import {
  encodeFrame,
  encodeFrameHeader,
  encodeTextFrame,
  frameHeaderLength,
  writeFrameHeader,
} from '../../src/protocol/frame-encoder.js';
import { Opcode } from '../../src/protocol/opcode.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const bytes = (length: number): Buffer => {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
};

/** Decodes server (unmasked) frames back with the decoder, as a cross-check. */
function decodeServerFrames(buf: Buffer): { fin: boolean; opcode: number; payload: Buffer }[] {
  const frames: { fin: boolean; opcode: number; payload: Buffer[] }[] = [];
  new FrameDecoder({ requireMask: false }).push(Buffer.from(buf), (part: FramePart) => {
    if (part.first) frames.push({ fin: part.fin, opcode: part.opcode, payload: [] });
    frames[frames.length - 1]!.payload.push(part.payload);
  });
  return frames.map((f) => ({ fin: f.fin, opcode: f.opcode, payload: Buffer.concat(f.payload) }));
}

describe('encodeFrame — RFC 6455 §5.7 examples', () => {
  it('single-frame unmasked text "Hello" is 81 05 48 65 6c 6c 6f', () => {
    expect(encodeFrame(Opcode.Text, Buffer.from('Hello'))).toEqual(hex('81 05 48 65 6c 6c 6f'));
    expect(encodeTextFrame('Hello')).toEqual(hex('81 05 48 65 6c 6c 6f'));
  });

  it('fragmented unmasked text: 01 03 48 65 6c then 80 02 6c 6f', () => {
    expect(encodeFrame(Opcode.Text, Buffer.from('Hel'), false)).toEqual(hex('01 03 48 65 6c'));
    expect(encodeFrame(Opcode.Continuation, Buffer.from('lo'), true)).toEqual(hex('80 02 6c 6f'));
  });

  it('unmasked ping "Hello" is 89 05 48 65 6c 6c 6f', () => {
    expect(encodeFrame(Opcode.Ping, Buffer.from('Hello'))).toEqual(hex('89 05 48 65 6c 6c 6f'));
  });

  it('256 bytes binary: header 82 7E 0100', () => {
    const payload = bytes(256);
    const frame = encodeFrame(Opcode.Binary, payload);
    expect(frame.length).toBe(4 + 256);
    expect(frame.subarray(0, 4)).toEqual(hex('82 7E 0100'));
    expect(frame.subarray(4)).toEqual(payload);
  });

  it('64 KiB binary: header 82 7F 0000000000010000', () => {
    const payload = bytes(65536);
    const frame = encodeFrame(Opcode.Binary, payload);
    expect(frame.length).toBe(10 + 65536);
    expect(frame.subarray(0, 10)).toEqual(hex('82 7F 0000000000010000'));
    expect(frame.subarray(10)).toEqual(payload);
  });
});

describe('length encoding boundaries', () => {
  const cases: [length: number, header: string][] = [
    [0, '82 00'],
    [1, '82 01'],
    [125, '82 7D'],
    [126, '82 7E 007E'],
    [127, '82 7E 007F'],
    [65535, '82 7E FFFF'],
    [65536, '82 7F 0000000000010000'],
    [65537, '82 7F 0000000000010001'],
  ];
  for (const [length, header] of cases) {
    it(`length ${length} → ${header}`, () => {
      const payload = bytes(length);
      const frame = encodeFrame(Opcode.Binary, payload);
      const h = hex(header);
      expect(frameHeaderLength(length)).toBe(h.length);
      expect(frame.length).toBe(h.length + length);
      expect(frame.subarray(0, h.length)).toEqual(h);
      expect(frame.subarray(h.length)).toEqual(payload);
      expect(encodeFrameHeader(Opcode.Binary, length)).toEqual(h);
      // and the decoder (which rejects non-minimal lengths) reads it back
      expect(decodeServerFrames(frame)).toEqual([{ fin: true, opcode: Opcode.Binary, payload }]);
    });
  }

  it('frameHeaderLength switches at 126 and 65536', () => {
    expect([0, 125, 126, 65535, 65536, 2 ** 32, 2 ** 53 - 1].map(frameHeaderLength)).toEqual([2, 2, 4, 4, 10, 10, 10]);
  });
});

describe('fin flag', () => {
  it('fin=false clears bit 0x80 of the first byte for every opcode', () => {
    for (const opcode of [Opcode.Continuation, Opcode.Text, Opcode.Binary]) {
      expect(encodeFrame(opcode, Buffer.from('x'), false)[0]).toBe(opcode);
      expect(encodeFrame(opcode, Buffer.from('x'), true)[0]).toBe(0x80 | opcode);
      expect(encodeFrame(opcode, Buffer.from('x'))[0]).toBe(0x80 | opcode);
    }
  });

  it('fin=false with a 16-bit and a 64-bit length', () => {
    expect(encodeFrame(Opcode.Text, bytes(300), false).subarray(0, 4)).toEqual(hex('01 7E 012C'));
    expect(encodeFrame(Opcode.Continuation, bytes(70000), false).subarray(0, 10)).toEqual(hex('00 7F 0000000000011170'));
    expect(encodeFrameHeader(Opcode.Binary, 5, false)).toEqual(hex('02 05'));
  });

  it('never sets RSV bits or the mask bit', () => {
    for (const length of [0, 125, 126, 65536]) {
      const frame = encodeFrame(Opcode.Binary, bytes(length));
      expect(frame[0]! & 0x70).toBe(0);
      expect(frame[1]! & 0x80).toBe(0);
    }
  });
});

describe('encodeTextFrame', () => {
  const texts = [
    '',
    'Hello',
    'héllo wörld',
    '€',
    '日本語のテキスト',
    '😀 emoji 🎉 with astral planes 𝄞',
    '€'.repeat(42), // 126 bytes: first 16-bit length
    '€'.repeat(41) + 'ab', // 125 bytes: last 7-bit length
    'ж'.repeat(40000), // 80000 bytes: 64-bit length
  ];
  for (const text of texts) {
    it(`equals encodeFrame(Text, Buffer.from(text)) for ${JSON.stringify(text.slice(0, 20))} (${Buffer.byteLength(text)} bytes)`, () => {
      const frame = encodeTextFrame(text);
      expect(frame).toEqual(encodeFrame(Opcode.Text, Buffer.from(text, 'utf8')));
      expect(frame.length).toBe(frameHeaderLength(Buffer.byteLength(text)) + Buffer.byteLength(text));
      expect(decodeServerFrames(frame)[0]!.payload.toString('utf8')).toBe(text);
    });
  }
});

describe('encodeFrameHeader / writeFrameHeader', () => {
  it('writes the header alone, for a payload sent separately', () => {
    expect(encodeFrameHeader(Opcode.Text, 5)).toEqual(hex('81 05'));
    expect(encodeFrameHeader(Opcode.Binary, 256)).toEqual(hex('82 7E 0100'));
    expect(encodeFrameHeader(Opcode.Binary, 65536)).toEqual(hex('82 7F 0000000000010000'));
    expect(encodeFrameHeader(Opcode.Close, 2)).toEqual(hex('88 02'));
    expect(encodeFrameHeader(Opcode.Pong, 0)).toEqual(hex('8A 00'));
  });

  it('writes the high 32 bits of lengths ≥ 2^32', () => {
    expect(encodeFrameHeader(Opcode.Binary, 2 ** 32 + 5)).toEqual(hex('82 7F 0000000100000005'));
    expect(encodeFrameHeader(Opcode.Binary, 2 ** 53 - 1)).toEqual(hex('82 7F 001FFFFFFFFFFFFF'));
    expect(encodeFrameHeader(Opcode.Binary, 0xdeadbeef)).toEqual(hex('82 7F 00000000DEADBEEF'));
  });

  it('header + payload concatenated equals encodeFrame', () => {
    for (const length of [0, 3, 125, 126, 1000, 65535, 65536, 70001]) {
      const payload = bytes(length);
      expect(Buffer.concat([encodeFrameHeader(Opcode.Binary, length), payload]).equals(encodeFrame(Opcode.Binary, payload))).toBe(true);
      expect(Buffer.concat([encodeFrameHeader(Opcode.Text, length, false), payload]).equals(encodeFrame(Opcode.Text, payload, false))).toBe(
        true,
      );
    }
  });

  it('writeFrameHeader writes at an offset and returns where the payload starts', () => {
    const target = Buffer.alloc(20, 0xee);
    expect(writeFrameHeader(target, 3, Opcode.Binary, 300)).toBe(7);
    expect(target).toEqual(hex('eeeeee 82 7E 012C ' + 'ee'.repeat(13)));
    expect(writeFrameHeader(target, 0, Opcode.Text, 7, false)).toBe(2);
    expect(target.subarray(0, 2)).toEqual(hex('01 07'));
    expect(writeFrameHeader(target, 8, Opcode.Binary, 65536)).toBe(18);
    expect(target.subarray(8, 18)).toEqual(hex('82 7F 0000000000010000'));
  });
});
