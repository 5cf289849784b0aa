import { describe, expect, it } from 'vitest';
import { encodeClosePayload, isValidCloseCode, parseClosePayload } from '../../src/protocol/close.js';
import { ProtocolError } from '../../src/protocol/errors.js';

/** RFC 6455 §7.4.1/7.4.2 + IANA registry, written out independently of the implementation. */
const SENDABLE = new Set([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014]);
const expectedValid = (c: number): boolean => SENDABLE.has(c) || (c >= 3000 && c < 5000);

const payload = (code: number, reason: Buffer | string = ''): Buffer => {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason]);
};

const protocolError = (fn: () => unknown): ProtocolError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ProtocolError);
    return e as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
};

describe('isValidCloseCode', () => {
  it('classifies every code 0..5000 like the RFC table', () => {
    const wrong: number[] = [];
    for (let c = 0; c <= 5000; c++) if (isValidCloseCode(c) !== expectedValid(c)) wrong.push(c);
    expect(wrong).toEqual([]);
  });

  it.each([1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535, -1000, 1000.5, NaN])('rejects %s', (c) => {
    expect(isValidCloseCode(c)).toBe(false);
  });
});

describe('parseClosePayload', () => {
  it('empty payload → no code, empty reason', () => {
    expect(parseClosePayload(Buffer.alloc(0))).toEqual({ code: undefined, reason: '' });
  });

  it('1-byte payload → WS_ERR_INVALID_CLOSE_PAYLOAD / 1002', () => {
    const e = protocolError(() => parseClosePayload(Buffer.from([0x03])));
    expect([e.code, e.closeCode]).toEqual(['WS_ERR_INVALID_CLOSE_PAYLOAD', 1002]);
  });

  it.each([0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])('code %s → WS_ERR_INVALID_CLOSE_CODE / 1002', (c) => {
    const e = protocolError(() => parseClosePayload(payload(c, 'bye')));
    expect([e.code, e.closeCode]).toEqual(['WS_ERR_INVALID_CLOSE_CODE', 1002]);
  });

  it.each([['ff'], ['c0 af'], ['ed a0 80'], ['ce ba e1']])('reason %s → WS_ERR_INVALID_UTF8 / 1007', (h) => {
    const e = protocolError(() => parseClosePayload(payload(1000, Buffer.from(h.replace(/ /g, ''), 'hex'))));
    expect([e.code, e.closeCode]).toEqual(['WS_ERR_INVALID_UTF8', 1007]);
  });

  it('valid code and reason', () => {
    expect(parseClosePayload(payload(1000))).toEqual({ code: 1000, reason: '' });
    expect(parseClosePayload(payload(4321, 'κόσμε 😀'))).toEqual({ code: 4321, reason: 'κόσμε 😀' });
    expect(parseClosePayload(payload(3000, 'x'.repeat(123)))).toEqual({ code: 3000, reason: 'x'.repeat(123) });
  });
});

describe('encodeClosePayload', () => {
  it('no code → empty payload', () => {
    expect(encodeClosePayload()).toEqual(Buffer.alloc(0));
    expect(encodeClosePayload(undefined, 'ignored')).toEqual(Buffer.alloc(0));
  });

  it('2-byte big-endian code + UTF-8 reason', () => {
    expect(encodeClosePayload(1000).toString('hex')).toBe('03e8');
    expect(encodeClosePayload(4999, 'ok €').toString('hex')).toBe('1387' + Buffer.from('ok €').toString('hex'));
  });

  it('keeps a reason of exactly 123 bytes whole', () => {
    const p = encodeClosePayload(1001, 'a'.repeat(123));
    expect(p.length).toBe(125);
    expect(parseClosePayload(p)).toEqual({ code: 1001, reason: 'a'.repeat(123) });
  });

  it.each([
    ['ASCII', 'a'.repeat(200), 125],
    ['100 × € (3 bytes)', '€'.repeat(100), 2 + 41 * 3],
    ['2-byte chars', 'é'.repeat(100), 2 + 61 * 2],
    ['4-byte chars', '😀'.repeat(50), 2 + 30 * 4],
    ['a + 4-byte chars', 'a' + '😀'.repeat(50), 2 + 1 + 30 * 4],
  ])('truncates %s to ≤ 125 bytes on a character boundary', (_n, reason, len) => {
    const p = encodeClosePayload(1000, reason);
    expect(p.length).toBe(len);
    const parsed = parseClosePayload(p); // throws if a character were split
    expect(reason.startsWith(parsed.reason)).toBe(true);
    expect(parsed.code).toBe(1000);
  });

  it.each([1005, 1006, 999, 1004, 1015, 5000, 0])('throws RangeError for %s', (c) => {
    expect(() => encodeClosePayload(c, 'x')).toThrow(RangeError);
  });
});
