import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Utf8Validator } from '../../src/protocol/utf8.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Feeds pieces; returns the update() result of each piece and end(). */
function feed(...pieces: Buffer[]): { updates: boolean[]; end: boolean } {
  const v = new Utf8Validator();
  const updates = pieces.map((p) => v.update(p));
  return { updates, end: v.end() };
}

/** Validates `buf` split into 1-byte pieces, into 2 pieces at every point, and whole. */
function allSplits(buf: Buffer): boolean[] {
  const results: boolean[] = [];
  const whole = new Utf8Validator();
  results.push(whole.update(buf) && whole.end());
  const bytes = new Utf8Validator();
  let ok = true;
  for (let i = 0; i < buf.length; i++) ok = bytes.update(buf, i, i + 1) && ok;
  results.push(ok && bytes.end());
  for (let k = 0; k <= buf.length; k++) {
    const v = new Utf8Validator();
    const a = v.update(buf.subarray(0, k));
    const b = v.update(buf, k, buf.length);
    results.push(a && b && v.end());
  }
  return results;
}

const VALID: Record<string, string> = {
  empty: '',
  ascii: Buffer.from('Hello, world!').toString('hex'),
  '2-byte U+0080': 'c2 80',
  '2-byte U+07FF': 'df bf',
  '3-byte U+0800': 'e0 a0 80',
  'U+D7FF (below surrogates)': 'ed 9f bf',
  'U+E000 (above surrogates)': 'ee 80 80',
  'U+FFFF': 'ef bf bf',
  BOM: 'ef bb bf',
  '4-byte U+10000': 'f0 90 80 80',
  'U+10FFFF': 'f4 8f bf bf',
  κόσμε: 'ce ba e1 bd b9 cf 83 ce bc ce b5',
  'Hello-µ@ßöäüàá-UTF-8!!': Buffer.from('Hello-µ@ßöäüàá-UTF-8!!').toString('hex'),
};

const INVALID: Record<string, string> = {
  'overlong / c0 af': 'c0 af',
  'overlong / c1 bf': 'c1 bf',
  'overlong / e0 80 af': 'e0 80 af',
  'overlong / e0 9f bf': 'e0 9f bf',
  'overlong / f0 80 80 af': 'f0 80 80 af',
  'overlong / f0 8f bf bf': 'f0 8f bf bf',
  'surrogate / ed a0 80': 'ed a0 80',
  'surrogate / ed bf bf': 'ed bf bf',
  'surrogate pair / ed a0 80 ed b0 80': 'ed a0 80 ed b0 80',
  '> U+10FFFF / f4 90 80 80': 'f4 90 80 80',
  'lone continuation 80': '80',
  'lone continuation bf': 'bf',
  'continuation after ascii': '61 80',
  'too many continuations': 'c2 80 80',
  '5-byte sequence': 'f8 88 80 80 80',
  'lead then ascii': 'e1 41 41',
  'lead interrupted by lead': 'e1 80 e1 80 80',
  'invalid in the middle of ascii': '61 62 63 ff 64 65 66',
};
for (let b = 0xf5; b <= 0xff; b++) INVALID[`byte ${b.toString(16)}`] = b.toString(16);

const TRUNCATED: Record<string, string> = {
  'c2': 'c2',
  'e0 a0': 'e0 a0',
  'e1': 'e1',
  'f0 90 80': 'f0 90 80',
  'f4 8f bf': 'f4 8f bf',
  'κόσμε + e1 bd': 'ce ba e1 bd b9 cf 83 ce bc ce b5 e1 bd',
};

describe('Utf8Validator', () => {
  describe.each(Object.entries(VALID))('valid: %s', (_name, h) => {
    it('is accepted however it is split', () => {
      expect(allSplits(hex(h)).every(Boolean)).toBe(true);
      // The table itself agrees with Node's native whole-buffer check.
      expect(isUtf8(hex(h))).toBe(true);
    });
  });

  describe.each(Object.entries(INVALID))('invalid: %s', (_name, h) => {
    it('is rejected however it is split', () => {
      expect(allSplits(hex(h)).some(Boolean)).toBe(false);
      expect(isUtf8(hex(h))).toBe(false);
    });
  });

  describe.each(Object.entries(TRUNCATED))('truncated at end: %s', (_name, h) => {
    it('passes update() but fails end()', () => {
      const v = new Utf8Validator();
      expect(v.update(hex(h))).toBe(true);
      expect(v.end()).toBe(false);
      expect(isUtf8(hex(h))).toBe(false);
    });
  });

  describe('fail-fast', () => {
    it('fails on the piece with the first bad byte (κόσμε + f4 90 80 80 + "edited")', () => {
      const r = feed(hex('ce ba e1 bd b9 cf 83 ce bc ce b5'), hex('f4 90 80 80'), hex('65 64 69 74 65 64'));
      expect(r.updates).toEqual([true, false, false]);
      expect(r.end).toBe(false);
    });

    it.each([
      ['f4', '90'],
      ['ed', 'a0'],
      ['e0', '80'],
      ['f0', '80'],
      ['f0 90', '41'],
      ['e1 80', 'c2'],
    ])('%s then %s fails at the second piece', (a, b) => {
      expect(feed(hex(a), hex(b)).updates).toEqual([true, false]);
    });

    it.each([['f4 90'], ['ed a0'], ['e0 80'], ['f0 8f'], ['61 62 e0 9f'], ['61 f4 90 80']])(
      'an impossible incomplete tail %s fails now, not at end()',
      (h) => {
        expect(feed(hex(h)).updates).toEqual([false]);
      },
    );

    it.each([['c0'], ['c1'], ['f5'], ['ff'], ['61 c0'], ['ce ba c1']])('invalid lead %s fails immediately', (h) => {
      expect(feed(hex(h)).updates).toEqual([false]);
    });

    it('stays false after a failure, even when fed valid data', () => {
      const v = new Utf8Validator();
      expect(v.update(hex('80'))).toBe(false);
      expect(v.update(hex('41'))).toBe(false);
      expect(v.end()).toBe(false);
    });
  });

  it('honours start/end bounds', () => {
    const v = new Utf8Validator();
    const buf = hex('ff e2 82 ac ff');
    expect(v.update(buf, 1, 3)).toBe(true);
    expect(v.end()).toBe(false);
    expect(v.update(buf, 3, 4)).toBe(true);
    expect(v.end()).toBe(true);
  });

  it('reset() forgets a carried sequence and a failure', () => {
    const v = new Utf8Validator();
    v.update(hex('e2 82'));
    v.reset();
    expect(v.update(hex('41'))).toBe(true);
    expect(v.end()).toBe(true);
    v.update(hex('ff'));
    v.reset();
    expect(v.update(hex('e2 82 ac'))).toBe(true);
    expect(v.end()).toBe(true);
  });

  it('property: split arbitrary bytes anywhere ⇒ same verdict as isUtf8(whole)', () => {
    // Bias towards UTF-8-looking bytes so that carried sequences are exercised often.
    const byte = fc.oneof(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0x80, max: 0xbf }),
      fc.constantFrom(0xc2, 0xdf, 0xe0, 0xe1, 0xed, 0xef, 0xf0, 0xf1, 0xf4, 0x41),
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        const buf = Buffer.from(bytes);
        const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
        const v = new Utf8Validator();
        let ok = true;
        let prev = 0;
        for (const p of [...points, buf.length]) {
          ok = v.update(buf, prev, p) && ok;
          prev = p;
        }
        expect(ok && v.end()).toBe(isUtf8(buf));
      }),
      { numRuns: 5000 },
    );
  });

  it('property: valid strings split at arbitrary byte positions are always valid', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 30 }), fc.array(fc.nat(), { maxLength: 6 }), (s, cuts) => {
        const buf = Buffer.from(s, 'utf8');
        const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
        const v = new Utf8Validator();
        let prev = 0;
        for (const p of [...points, buf.length]) {
          expect(v.update(buf.subarray(prev, p))).toBe(true);
          prev = p;
        }
        expect(v.end()).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
