// Hostile compressed input through the pure inbound pipeline with
// permessage-deflate agreed (decodeFrames({ allowRsv1 }) → limitMessageSize →
// inflateMessages → reassembleMessages): whatever arrives — valid compressed
// messages, corrupted ones, random bytes, cut anywhere — the pipeline either
// yields exactly the original messages or ends with a ProtocolError whose
// close code the server may send (1002, 1007, 1009). Nothing escapes to RxJS,
// nothing is emitted after the end, and pooled inflaters are all returned.
import zlib from 'node:zlib';
import fc from 'fast-check';
import { config as rxjsConfig, from } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import { pooledInflaterCount } from '../../src/protocol/extensions/sync-zlib.js';
import type { Message } from '../../src/protocol/message-assembler.js';
import { decodeFrames } from '../../src/streams/decodeFrames.js';
import { inflateMessages } from '../../src/streams/inflateMessages.js';
import { limitMessageSize } from '../../src/streams/limitMessageSize.js';
import { reassembleMessages } from '../../src/streams/reassembleMessages.js';
import { encodeClientFrame } from '../support/raw-client.js';

const LIMIT = 64 * 1024;

let unhandled: unknown[] = [];
let stopped: string[] = [];
beforeEach(() => {
  unhandled = [];
  stopped = [];
  rxjsConfig.onUnhandledError = (err) => unhandled.push(err);
  rxjsConfig.onStoppedNotification = (n) => stopped.push(n.kind);
});
afterEach(() => {
  rxjsConfig.onUnhandledError = null;
  rxjsConfig.onStoppedNotification = null;
  expect(unhandled).toEqual([]);
  expect(stopped).toEqual([]);
});

interface Outcome {
  messages: Message[];
  error: unknown;
  completed: boolean;
}

function run(chunks: Buffer[], noContextTakeover: boolean): Outcome {
  const out: Outcome = { messages: [], error: undefined, completed: false };
  from(chunks)
    .pipe(
      decodeFrames({ allowRsv1: true }),
      limitMessageSize(LIMIT),
      inflateMessages({ maxMessageSize: LIMIT, noContextTakeover }),
      reassembleMessages(),
    )
    .subscribe({
      next: (m) => out.messages.push({ opcode: m.opcode, payload: Buffer.from(m.payload) }),
      error: (e: unknown) => (out.error = e),
      complete: () => (out.completed = true),
    });
  return out;
}

const deflate = (data: Buffer): Buffer => {
  const z = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return z.subarray(0, z.length - 4);
};

const arbMessage = fc.record({
  binary: fc.boolean(),
  data: fc.oneof(fc.string({ maxLength: 300 }).map((s) => Buffer.from(s.repeat(4))), fc.uint8Array({ maxLength: 2000 }).map((u) => Buffer.from(u))),
  compress: fc.boolean(),
  pieces: fc.integer({ min: 1, max: 4 }),
});

type ArbMessage = typeof arbMessage extends fc.Arbitrary<infer T> ? T : never;

function encode(messages: ArbMessage[]): { wire: Buffer; sent: Message[] } {
  const frames: Buffer[] = [];
  const sent: Message[] = [];
  for (const m of messages) {
    const opcode = m.binary ? 2 : 1;
    const payload = m.binary ? m.data : Buffer.from(m.data.toString('utf8'));
    sent.push({ opcode, payload });
    const body = m.compress ? deflate(payload) : payload;
    const step = Math.max(1, Math.ceil(body.length / m.pieces));
    for (let at = 0, i = 0; i === 0 || at < body.length; at += step, i++) {
      const last = at + step >= body.length;
      frames.push(encodeClientFrame({ opcode: i === 0 ? opcode : 0, rsv: i === 0 && m.compress ? 4 : 0, fin: last, payload: body.subarray(at, at + step), mask: Buffer.from([9, 8, 7, 6]) }));
    }
  }
  return { wire: Buffer.concat(frames), sent };
}

const cut = (wire: Buffer, cuts: number[]): Buffer[] => {
  const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let at = 0;
  for (const p of [...points, wire.length]) {
    chunks.push(Buffer.from(wire.subarray(at, p)));
    at = p;
  }
  return chunks;
};

describe('inbound pipeline with permessage-deflate', () => {
  it('valid messages, compressed or not, cut anywhere: exactly the messages, in order', () => {
    fc.assert(
      fc.property(fc.array(arbMessage, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (messages, cuts) => {
        const { wire, sent } = encode(messages);
        const out = run(cut(wire, cuts), true);
        expect(out.error).toBeUndefined();
        expect(out.completed).toBe(true);
        expect(out.messages).toEqual(sent);
      }),
      { numRuns: 300 },
    );
  });

  it('corrupted bytes (flips in the wire), either context mode: the originals up to a point, then at most a 1002/1007/1009', () => {
    fc.assert(
      fc.property(
        fc.array(arbMessage, { minLength: 1, maxLength: 4 }),
        fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.boolean(),
        (messages, flips, cuts, noContextTakeover) => {
          const { wire } = encode(messages);
          for (const f of flips) if (wire.length > 0) wire[f.at % wire.length]! ^= f.xor;
          const pooledBefore = pooledInflaterCount();
          const out = run(cut(wire, cuts), noContextTakeover);
          if (out.error !== undefined) {
            expect(out.error).toBeInstanceOf(ProtocolError);
            expect([1002, 1007, 1009]).toContain((out.error as ProtocolError).closeCode);
          } else {
            expect(out.completed).toBe(true);
            // Every inflater taken from the pool went back (a failed one is closed instead).
            if (noContextTakeover) expect(pooledInflaterCount()).toBeGreaterThanOrEqual(pooledBefore);
          }
          for (const m of out.messages) expect(m.payload.length).toBeLessThanOrEqual(LIMIT);
          expect(pooledInflaterCount()).toBeLessThanOrEqual(16);
        },
      ),
      { numRuns: 400 },
    );
  });

  it('random payloads under RSV1: never anything but a message or a 1007/1009', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        const wire = encodeClientFrame({ opcode: 2, rsv: 4, payload: Buffer.from(bytes), mask: Buffer.from([1, 2, 3, 4]) });
        const out = run(cut(wire, cuts), true);
        if (out.error !== undefined) expect([1007, 1009]).toContain((out.error as ProtocolError).closeCode);
        else expect(out.messages).toHaveLength(1);
      }),
      { numRuns: 500 },
    );
  });
});
