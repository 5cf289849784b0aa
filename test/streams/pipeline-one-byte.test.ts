import { createHash, randomBytes } from 'node:crypto';
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Message } from '../../src/protocol/message-assembler.js';
import { decodeFrames } from '../../src/streams/decodeFrames.js';
import { limitMessageSize } from '../../src/streams/limitMessageSize.js';
import { reassembleMessages } from '../../src/streams/reassembleMessages.js';
import { encodeClientFrame } from '../support/raw-client.js';

const MIB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

// TCP may deliver a message one byte per read. Over a real socket, 16M one-byte
// writes take minutes (test/e2e/large-messages covers the first and last 64 KiB
// that way); here the same chunking goes through the operators themselves.
describe('the inbound pipeline, fed one byte per chunk', () => {
  it('reassembles a 16 MiB binary message from 16,777,230 one-byte chunks', () => {
    const payload = randomBytes(16 * MIB);
    const wire = encodeClientFrame({ opcode: 2, payload });
    const messages: Message[] = [];
    const chunks = new Subject<Buffer>();
    chunks.pipe(decodeFrames(), limitMessageSize(64 * MIB), reassembleMessages()).subscribe((m) => messages.push(m));
    for (let i = 0; i < wire.length; i++) chunks.next(wire.subarray(i, i + 1));
    expect(messages).toHaveLength(1);
    expect(messages[0]!.opcode).toBe(2);
    expect(messages[0]!.payload.length).toBe(16 * MIB);
    expect(sha(messages[0]!.payload)).toBe(sha(payload));
  }, 120_000);

  it('reassembles a 1 MiB multi-byte UTF-8 text message in 1,000 fragments, one byte per chunk', () => {
    const text = 'κόσμε€😀'.repeat(Math.ceil(MIB / 19)).slice(0, MIB / 2);
    const payload = Buffer.from(text);
    const step = Math.ceil(payload.length / 1000);
    const frames: Buffer[] = [];
    for (let at = 0; at < payload.length; at += step) {
      const end = Math.min(at + step, payload.length);
      frames.push(encodeClientFrame({ opcode: at === 0 ? 1 : 0, fin: end === payload.length, payload: payload.subarray(at, end) }));
    }
    const wire = Buffer.concat(frames);
    const messages: Message[] = [];
    const chunks = new Subject<Buffer>();
    chunks.pipe(decodeFrames(), limitMessageSize(64 * MIB), reassembleMessages()).subscribe((m) => messages.push(m));
    for (let i = 0; i < wire.length; i++) chunks.next(wire.subarray(i, i + 1));
    expect(messages).toHaveLength(1);
    expect(messages[0]!.opcode).toBe(1);
    expect(messages[0]!.payload.toString('utf8')).toBe(text);
  });
});
