import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unmask } from '../../src/protocol/mask.js';

/** The obvious per-byte XOR, written independently of the implementation. */
function reference(bytes: Uint8Array, key: Uint8Array, phase: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i]! ^ key[(phase + i) % 4]!;
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** Byte equality; fast path via Buffer#equals, vitest's diff only when they differ. */
function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.length);
  const e = Buffer.from(expected.buffer, expected.byteOffset, expected.length);
  if (!a.equals(e)) expect(Uint8Array.from(actual)).toEqual(Uint8Array.from(expected));
  expect(a.length).toBe(e.length);
}

const KEY = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);

/**
 * Places `length` noisy bytes at `byteOffset` inside a larger ArrayBuffer
 * (with a guard region on both sides), unmasks [start, start+length) of a view
 * that itself starts at `viewOffset`, and checks the result byte by byte,
 * including that nothing outside the range was touched.
 */
function check(length: number, viewOffset: number, lead: number, key: Uint8Array, phase: number, seed: number): void {
  const total = viewOffset + lead + length + 16;
  const backing = new ArrayBuffer(total);
  const all = new Uint8Array(backing);
  all.set(noise(total, seed));
  const before = Uint8Array.from(all);

  const view = new Uint8Array(backing, viewOffset, lead + length + 8);
  const start = lead;
  const end = lead + length;
  unmask(view, start, end, key, phase);

  const expected = Uint8Array.from(before);
  expected.set(reference(before.subarray(viewOffset + start, viewOffset + end), key, phase), viewOffset + start);
  expectBytes(all, expected);
}

describe('unmask', () => {
  it('matches the per-byte reference for every length 0..300, every phase, aligned and unaligned views', () => {
    for (let length = 0; length <= 300; length++) {
      for (let phase = 0; phase < 4; phase++) {
        for (const [viewOffset, lead] of [
          [0, 0],
          [1, 0],
          [2, 1],
          [3, 2],
          [5, 3],
          [7, 6],
        ] as const) {
          check(length, viewOffset, lead, KEY, phase, length * 31 + phase * 7 + viewOffset + 1);
        }
      }
    }
  });

  it('matches the reference for random keys, lengths, offsets and phases (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 7 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer(),
        (length, viewOffset, lead, key, phase, seed) => {
          check(length, viewOffset, lead, key, phase, seed);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('works on a Buffer that is a slice of a larger pooled buffer', () => {
    const big = Buffer.from(noise(1000, 42));
    for (let offset = 0; offset < 8; offset++) {
      const slice = big.subarray(offset + 100, offset + 400);
      const original = Uint8Array.from(slice);
      unmask(slice, 0, slice.length, KEY, offset & 3);
      expect(Uint8Array.from(slice)).toEqual(reference(original, KEY, offset & 3));
      unmask(slice, 0, slice.length, KEY, offset & 3); // restore for the next round
    }
  });

  it('takes the phase modulo 4 (a payload offset of any size)', () => {
    const data = noise(200, 7);
    for (const phase of [4, 5, 6, 7, 1001, 2 ** 31 + 2, 2 ** 32 + 1, 2 ** 40 + 3, 2 ** 53 - 1]) {
      const got = Uint8Array.from(data);
      unmask(got, 0, got.length, KEY, phase);
      expect(got).toEqual(reference(data, KEY, phase % 4));
    }
  });

  it('reads the key at keyAt inside a larger buffer (as the decoder keeps it in its scratch buffer)', () => {
    const data = noise(300, 5);
    for (const keyAt of [0, 1, 5, 14]) {
      const holder = Uint8Array.from(noise(keyAt + 8, keyAt + 1)); // noise around the key, so a wrong index shows
      holder.set(KEY, keyAt);
      for (const [start, end, phase] of [
        [0, 300, 0],
        [3, 290, 1],
        [7, 40, 2],
        [1, 20, 3],
      ] as const) {
        const got = Uint8Array.from(data);
        unmask(got, start, end, holder, phase, keyAt);
        const expected = Uint8Array.from(data);
        expected.set(reference(data.subarray(start, end), KEY, phase), start);
        expectBytes(got, expected);
      }
    }
  });

  it('masking twice is the identity', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 7 }),
        (bytes, key, phase, offset) => {
          const backing = new Uint8Array(bytes.length + offset);
          backing.set(bytes, offset);
          const view = backing.subarray(offset);
          unmask(view, 0, view.length, key, phase);
          expect(view).toEqual(reference(bytes, key, phase));
          unmask(view, 0, view.length, key, phase);
          expect(view).toEqual(bytes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('unmasking a payload piece by piece (phase = piece offset) equals unmasking it whole', () => {
    const data = noise(257, 99);
    const whole = Uint8Array.from(data);
    unmask(whole, 0, whole.length, KEY, 0);
    for (const cuts of [[1], [3, 50], [33, 34, 35, 200], [5, 10, 15, 20, 25, 30, 100, 101, 102]]) {
      const pieces = Uint8Array.from(data);
      let prev = 0;
      for (const cut of [...cuts, data.length]) {
        unmask(pieces, prev, cut, KEY, prev);
        prev = cut;
      }
      expect(pieces).toEqual(whole);
    }
  });
});
