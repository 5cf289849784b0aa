import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelope, Kind, sentBy } from '../../src/cluster/envelope.js';

describe('cluster envelope', () => {
  it('round-trips kind, node, room or id, from, except and a text or binary payload', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(Kind.Publish, Kind.Broadcast, Kind.Send),
        fc.stringMatching(/^[A-Za-z0-9_-]{1,32}$/),
        fc.string({ maxLength: 300, unit: 'grapheme' }),
        fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        fc.oneof(fc.string({ unit: 'grapheme' }), fc.uint8Array({ maxLength: 300 })),
        (kind, node, target, fromId, exceptId, data) => {
          const decoded = decodeEnvelope(encodeEnvelope(kind, node, target, data, fromId, exceptId));
          expect(decoded).toEqual({ kind, node, target, fromId, exceptId, data: typeof data === 'string' ? data : Buffer.from(data) });
          expect(typeof decoded.data).toBe(typeof data === 'string' ? 'string' : 'object');
        },
      ),
    );
  });

  it('sentBy recognises the sending node from the header alone', () => {
    const message = encodeEnvelope(Kind.Publish, 'node-A', 'room', 'x', 'c1', undefined);
    expect(sentBy(message, 'node-A')).toBe(true);
    expect(sentBy(message, 'node-B')).toBe(false);
    expect(sentBy(message, 'node-')).toBe(false);
    expect(sentBy(message, 'node-AA')).toBe(false);
  });

  it('rejects truncated or unknown messages with an Error, never a crash', () => {
    const message = encodeEnvelope(Kind.Publish, 'n', 'a room', 'payload', 'from-id', undefined);
    expect(() => decodeEnvelope(message.subarray(0, 6))).toThrow(/truncated/);
    expect(() => decodeEnvelope(Buffer.from([9, 1, 0x41, 0, 0]))).toThrow(/kind/);
    expect(() => decodeEnvelope(Buffer.alloc(2))).toThrow(/short/);
  });
});
