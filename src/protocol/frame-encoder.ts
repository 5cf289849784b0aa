import { Opcode } from './opcode.js';

/** Bytes a server (unmasked) frame header takes for a payload of `length` bytes. */
export const frameHeaderLength = (length: number): number => (length < 126 ? 2 : length < 65536 ? 4 : 10);

/** Writes an unmasked frame header at `at`; returns where the payload starts. */
export function writeFrameHeader(target: Buffer, at: number, opcode: number, length: number, fin = true): number {
  target[at] = (fin ? 0x80 : 0) | opcode;
  if (length < 126) {
    target[at + 1] = length;
    return at + 2;
  }
  if (length < 65536) {
    target[at + 1] = 126;
    target.writeUInt16BE(length, at + 2);
    return at + 4;
  }
  target[at + 1] = 127;
  target.writeUInt32BE(Math.floor(length / 2 ** 32), at + 2);
  target.writeUInt32BE(length >>> 0, at + 6);
  return at + 10;
}

/** An unmasked frame header alone, for payloads written separately (no copy of a large payload). */
export function encodeFrameHeader(opcode: number, length: number, fin = true): Buffer {
  const header = Buffer.allocUnsafe(frameHeaderLength(length));
  writeFrameHeader(header, 0, opcode, length, fin);
  return header;
}

/**
 * A whole server frame (header + payload) in one buffer: encode once, write
 * the same bytes to any number of recipients.
 */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const frame = Buffer.allocUnsafe(frameHeaderLength(payload.length) + payload.length);
  frame.set(payload, writeFrameHeader(frame, 0, opcode, payload.length, fin));
  return frame;
}

/** A whole text frame, the string encoded to UTF-8 straight into the frame buffer. */
export function encodeTextFrame(text: string): Buffer {
  const length = Buffer.byteLength(text);
  const frame = Buffer.allocUnsafe(frameHeaderLength(length) + length);
  frame.write(text, writeFrameHeader(frame, 0, Opcode.Text, length), 'utf8');
  return frame;
}

/** One unfragmented message frame: a string as Text, bytes as Binary. */
export const encodeMessage = (data: string | Uint8Array): Buffer =>
  typeof data === 'string' ? encodeTextFrame(data) : encodeFrame(Opcode.Binary, data);
