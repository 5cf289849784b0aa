import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { headerLine, isFieldName, isFieldValue, isReasonPhrase, isStatusCode, statusLine } from '../../src/protocol/http-fields.js';
import { httpResponse } from '../../src/protocol/handshake.js';

/** Every UTF-16 code unit the checks must judge: the 256 byte values and the first ones above them. */
const UNITS = Array.from({ length: 0x300 }, (_, c) => c);
const isVchar = (c: number) => c >= 0x21 && c <= 0x7e;
const isObsText = (c: number) => c >= 0x80 && c <= 0xff;

describe('isFieldValue (RFC 9110 §5.5)', () => {
  it('accepts exactly VCHAR, obs-text, SP and HTAB, one code unit at a time', () => {
    for (const c of UNITS) {
      const expected = isVchar(c) || isObsText(c) || c === 0x20 || c === 0x09;
      expect([c, isFieldValue(`a${String.fromCharCode(c)}b`)]).toEqual([c, expected]);
    }
  });

  it('refuses a character whose low byte is CR or LF (U+010D U+010A), and any above U+00FF', () => {
    expect(isFieldValue('x\u010d\u010aSet-Cookie: y=1')).toBe(false);
    expect(isFieldValue('\u0100')).toBe(false);
    expect(isFieldValue('€')).toBe(false);
    expect(isFieldValue('😀')).toBe(false);
  });

  it('accepts the empty value, inner whitespace and obs-text such as é (0xE9)', () => {
    expect(isFieldValue('')).toBe(true);
    expect(isFieldValue('Bearer realm="chat", error="invalid_token"')).toBe(true);
    expect(isFieldValue('caf\u00e9\tx')).toBe(true);
  });

  it('never accepts a string whose latin1 bytes hold CR, LF or NUL', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        if (!isFieldValue(s)) return;
        const bytes = Buffer.from(s, 'latin1');
        expect(bytes.includes(0x0d) || bytes.includes(0x0a) || bytes.includes(0x00)).toBe(false);
        expect(bytes.toString('latin1')).toBe(s); // one byte per code unit: nothing truncated
      }),
    );
  });
});

describe('isFieldName (RFC 9110 §5.1: a token)', () => {
  it('accepts exactly tchar, one code unit at a time, and refuses the empty name', () => {
    const tchar = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
    for (const c of UNITS) expect([c, isFieldName(String.fromCharCode(c))]).toEqual([c, tchar(c)]);
    expect(isFieldName('')).toBe(false);
    expect(isFieldName('Set-Cookie')).toBe(true);
    expect(isFieldName('X\u010aY')).toBe(false);
    expect(isFieldName('X Y')).toBe(false);
    expect(isFieldName('X:')).toBe(false);
  });
});

describe('status line', () => {
  it('a status is an integer from 100 to 599', () => {
    for (const ok of [100, 101, 200, 418, 599]) expect(isStatusCode(ok)).toBe(true);
    for (const bad of [99, 600, 1000, 200.5, NaN, Infinity, -200]) expect(isStatusCode(bad)).toBe(false);
    expect(isStatusCode('200\r\nSet-Cookie: x' as unknown as number)).toBe(false);
  });

  it('a reason phrase is text without controls or code units above 0xFF', () => {
    expect(isReasonPhrase('Not Found')).toBe(true);
    expect(isReasonPhrase('')).toBe(true);
    expect(isReasonPhrase('OK\r\nSet-Cookie: x')).toBe(false);
    expect(isReasonPhrase('OK\u010d\u010a')).toBe(false);
    expect(statusLine(404, 'Not Found')).toBe('HTTP/1.1 404 Not Found\r\n');
    expect(() => statusLine(200, 'OK\u010a')).toThrow(TypeError);
    expect(() => statusLine(1000, '')).toThrow(TypeError);
  });
});

describe('headerLine and httpResponse', () => {
  it('write a valid line and throw a TypeError naming the header for an invalid one', () => {
    expect(headerLine('X-A', 'b')).toBe('X-A: b\r\n');
    expect(() => headerLine('WWW-Authenticate', 'x\u010d\u010aSet-Cookie: y=1')).toThrow(/WWW-Authenticate/);
    expect(() => headerLine('Bad Name', 'v')).toThrow(TypeError);
  });

  it('httpResponse refuses a non-Latin-1 header value, header name or status instead of encoding it', () => {
    expect(() => httpResponse(302, '', { Location: '/\u010d\u010aSet-Cookie: x=1' })).toThrow(TypeError);
    expect(() => httpResponse(200, '', { 'X-\u010a': 'v' })).toThrow(TypeError);
    expect(() => httpResponse(2000)).toThrow(TypeError);
    expect(httpResponse(200, '', { 'X-Name': 'caf\u00e9' }).toString('latin1')).toContain('X-Name: caf\u00e9\r\n');
  });
});
