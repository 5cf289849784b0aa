import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { HttpError } from '../../src/protocol/errors.js';
import {
  RequestHeadParser,
  acceptKey,
  errorResponse,
  headersOfText,
  httpResponse,
  isUpgradeRequest,
  selectProtocol,
  upgradeResponse,
  splitTarget,
  validateHost,
  validateUpgrade,
  type RequestHead,
} from '../../src/protocol/handshake.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const REQUEST =
  'GET /chat?room=1 HTTP/1.1\r\n' +
  'Host: server.example.com\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  `Sec-WebSocket-Key: ${KEY}\r\n` +
  'Origin: http://example.com\r\n' +
  'Sec-WebSocket-Protocol: chat, superchat\r\n' +
  'Sec-WebSocket-Extensions: permessage-deflate\r\n' +
  'Sec-WebSocket-Version: 13\r\n' +
  '\r\n';
/** A masked text frame the client pipelined right after its head. */
const FRAME = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);

const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Feeds chunks, returning the first result (asserting later chunks are not needed). */
function feed(chunks: Buffer[], parser = new RequestHeadParser()) {
  for (let i = 0; i < chunks.length; i++) {
    const r = parser.push(chunks[i]!);
    if (r) return { ...r, at: i };
  }
  return null;
}

function parseText(s: string, limits?: ConstructorParameters<typeof RequestHeadParser>[0]): RequestHead {
  const r = new RequestHeadParser(limits).push(bytes(s));
  if (!r) throw new Error('incomplete');
  return r.head;
}

function status(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    if (err instanceof HttpError) return err.status;
    throw err;
  }
  throw new Error('expected HttpError');
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const sorted = [...new Set(cuts)].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}

/** A request with one header replaced (null drops it) or added. */
function withHeader(name: string, value: string | null, base = REQUEST): string {
  const lines = base.slice(0, -4).split('\r\n');
  const i = lines.findIndex((l) => l.toLowerCase().startsWith(name.toLowerCase() + ':'));
  if (i >= 0) {
    if (value === null) lines.splice(i, 1);
    else lines[i] = `${name}: ${value}`;
  } else if (value !== null) lines.push(`${name}: ${value}`);
  return lines.join('\r\n') + '\r\n\r\n';
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('acceptKey', () => {
  it('matches the RFC 6455 §1.3 example', () => {
    expect(acceptKey(KEY)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });
});

describe('RequestHeadParser', () => {
  const whole = Buffer.concat([bytes(REQUEST), FRAME]);
  const headLen = REQUEST.length;

  it('parses a full request and returns the pipelined bytes', () => {
    const r = feed([whole])!;
    expect(r.head.method).toBe('GET');
    expect(r.head.target).toBe('/chat?room=1');
    expect(r.head.path).toBe('/chat');
    expect(r.head.version).toBe('HTTP/1.1');
    expect(r.head.headers.get('host')).toBe('server.example.com');
    expect(r.head.headers.get('sec-websocket-key')).toBe(KEY);
    expect(r.head.headers.size).toBe(8);
    expect(r.rest.equals(FRAME)).toBe(true);
    // Zero-copy: rest views the caller's chunk.
    expect(r.rest.buffer).toBe(whole.buffer);
  });

  it('returns an empty rest when nothing follows the head', () => {
    const r = feed([bytes(REQUEST)])!;
    expect(r.rest.length).toBe(0);
  });

  it('gives the same result byte by byte, without rescanning or repeated concat', () => {
    const ref = feed([whole])!;
    const concat = vi.spyOn(Buffer, 'concat');
    const indexOf = vi.spyOn(Buffer.prototype, 'indexOf');
    const chunks = splitAt(whole, Array.from({ length: whole.length }, (_, i) => i + 1)).filter((c) => c.length);
    const r = feed(chunks)!;
    expect(r.at).toBe(headLen - 1);
    expect(r.head).toEqual(ref.head);
    expect(r.rest.length).toBe(0);
    // One concat for the whole head; indexOf never sees a byte twice.
    expect(concat).toHaveBeenCalledTimes(1);
    const scanned = indexOf.mock.contexts.reduce((n, b) => n + (b as Buffer).length, 0);
    expect(scanned).toBeLessThanOrEqual(headLen);
  });

  it('finds a CRLFCRLF split across chunks at every position', () => {
    for (let cut = headLen - 4; cut < headLen; cut++) {
      const r = feed([whole.subarray(0, cut), whole.subarray(cut)])!;
      expect(r, `cut ${cut}`).not.toBeNull();
      expect(r.rest.equals(FRAME)).toBe(true);
    }
    expect(feed([whole.subarray(0, headLen), FRAME])!.rest.length).toBe(0);
    // Terminator spread over 1-byte chunks after a longer one; the last also carries the frame.
    const r = feed([whole.subarray(0, headLen - 3), ...splitAt(whole.subarray(headLen - 3), [1, 2])])!;
    expect(r.at).toBe(3);
    expect(r.rest.equals(FRAME)).toBe(true);
  });

  it('does not concat when the head lies in one chunk', () => {
    const concat = vi.spyOn(Buffer, 'concat');
    feed([whole]);
    expect(concat).not.toHaveBeenCalled();
  });

  it('gives the same head and rest for random splits', () => {
    const ref = feed([whole])!;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: whole.length - 1 }), { maxLength: 20 }), (cuts) => {
        const chunks = splitAt(whole, cuts);
        const parser = new RequestHeadParser();
        let result = null;
        let restBytes: Buffer[] = [];
        for (const c of chunks) {
          if (result) restBytes.push(c);
          else {
            result = parser.push(c);
            if (result) restBytes = [result.rest];
          }
        }
        expect(result!.head).toEqual(ref.head);
        expect(Buffer.concat(restBytes).equals(FRAME)).toBe(true);
      }),
    );
  });

  it('lower-cases names, trims values and joins repeated headers', () => {
    const head = parseText('GET / HTTP/1.1\r\nX-A: \t one \t\r\nx-a:two\r\nX-Empty:\r\n\r\n');
    expect(head.headers.get('x-a')).toBe('one, two');
    expect(head.headers.get('x-empty')).toBe('');
    expect(head.path).toBe('/');
  });

  it('is done after returning a head', () => {
    const p = new RequestHeadParser();
    expect(p.push(bytes(REQUEST))).not.toBeNull();
    expect(() => p.push(bytes('x'))).toThrow(Error);
  });

  it.each([
    ['request line with 2 parts', 'GET /\r\nHost: a\r\n\r\n'],
    ['request line with 4 parts', 'GET / x HTTP/1.1\r\nHost: a\r\n\r\n'],
    ['double space in request line', 'GET  / HTTP/1.1\r\n\r\n'],
    ['request line of spaces', ' \r\n\r\n'],
    ['non-HTTP version', 'GET / FOO/1.1\r\n\r\n'],
    ['header without colon', 'GET / HTTP/1.1\r\nHost a\r\n\r\n'],
    ['empty header name', 'GET / HTTP/1.1\r\n: a\r\n\r\n'],
    ['space in header name', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n'],
    ['space inside header name', 'GET / HTTP/1.1\r\nX Y: a\r\n\r\n'],
    ['bare LF in header', 'GET / HTTP/1.1\r\nX-A: a\nX-B: b\r\n\r\n'],
    ['bare CR in header', 'GET / HTTP/1.1\r\nX-A: a\rb\r\n\r\n'],
    ['NUL in header value', 'GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n'],
    ['control char in target', 'GET /\x01 HTTP/1.1\r\n\r\n'],
    ['DEL in header value', 'GET / HTTP/1.1\r\nX-A: a\x7f\r\n\r\n'],
  ])('rejects %s with 400', (_, text) => {
    expect(status(() => new RequestHeadParser().push(bytes(text)))).toBe(400);
  });

  it.each([' b', '\tb', ' X-B: b'])('rejects obs-fold line %j as folding with 400', (fold) => {
    const p = new RequestHeadParser();
    expect(() => p.push(bytes(`GET / HTTP/1.1\r\nX-A: a\r\n${fold}\r\n\r\n`))).toThrow(
      expect.objectContaining({ status: 400, message: expect.stringContaining('folding') }),
    );
  });

  it('rejects LF-only requests at once instead of waiting for CRLFCRLF', () => {
    expect(status(() => new RequestHeadParser().push(bytes('GET / HTTP/1.1\nHost: a\n\n')))).toBe(400);
  });

  it('rejects control bytes before the head is complete', () => {
    const p = new RequestHeadParser();
    expect(p.push(bytes('GET / HTTP/1.1\r\n'))).toBeNull();
    expect(status(() => p.push(Buffer.from([0x16, 0x03, 0x01])))).toBe(400);
  });

  it('does not validate pipelined bytes after the head', () => {
    const r = feed([Buffer.concat([bytes('GET / HTTP/1.1\r\n\r\n'), Buffer.from([0, 1, 0x0a, 0x0d])])])!;
    expect(r.rest).toEqual(Buffer.from([0, 1, 0x0a, 0x0d]));
  });

  it('rejects with 431 as soon as 16 KiB arrive without CRLFCRLF', () => {
    const p = new RequestHeadParser();
    expect(p.push(bytes('GET / HTTP/1.1\r\nX-Big: '))).toBeNull();
    const filler = 16384 - 'GET / HTTP/1.1\r\nX-Big: '.length;
    expect(p.push(bytes('a'.repeat(filler - 1)))).toBeNull();
    expect(status(() => p.push(bytes('a')))).toBe(431);
  });

  it('accepts a head of exactly maxHeadSize bytes and rejects one byte more', () => {
    const make = (n: number) => {
      const pre = 'GET / HTTP/1.1\r\nX: ';
      return pre + 'a'.repeat(n - pre.length - 4) + '\r\n\r\n';
    };
    expect(make(16384).length).toBe(16384);
    expect(parseText(make(16384)).headers.get('x')!.length).toBeGreaterThan(0);
    expect(status(() => parseText(make(16385)))).toBe(431);
    expect(status(() => parseText(make(200), { maxHeadSize: 199 }))).toBe(431);
    expect(parseText(make(200), { maxHeadSize: 200 }).method).toBe('GET');
  });

  it('rejects more than 100 headers with 431; the limit is configurable', () => {
    const req = (n: number) =>
      'GET / HTTP/1.1\r\n' + Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('') + '\r\n';
    expect(parseText(req(100)).headers.size).toBe(100);
    expect(status(() => parseText(req(101)))).toBe(431);
    expect(status(() => parseText(req(6), { maxHeaders: 5 }))).toBe(431);
    expect(parseText(req(5), { maxHeaders: 5 }).headers.size).toBe(5);
  });

  it('never throws anything but HttpError on random input, and only returns heads that have CRLFCRLF', () => {
    const piece = fc.oneof(
      fc.uint8Array({ maxLength: 40 }),
      fc.constantFrom(...['\r', '\n', '\r\n', '\r\n\r\n', ':', ' ', 'GET / HTTP/1.1', 'Host: a', '\t'].map((s) => new Uint8Array(bytes(s)))),
    );
    fc.assert(
      fc.property(
        fc.array(piece, { maxLength: 30 }),
        fc.array(fc.integer({ min: 0, max: 2000 }), { maxLength: 10 }),
        fc.integer({ min: 4, max: 300 }),
        (pieces, cuts, maxHeadSize) => {
          const input = Buffer.concat(pieces.map((p) => Buffer.from(p)));
          const parser = new RequestHeadParser({ maxHeadSize, maxHeaders: 5 });
          let fed = 0;
          for (const c of splitAt(input, cuts.filter((c) => c <= input.length))) {
            let r;
            try {
              r = parser.push(c);
            } catch (err) {
              expect(err).toBeInstanceOf(HttpError);
              return;
            }
            fed += c.length;
            if (r) {
              // Empty lines before the request line are skipped (RFC 9112 §2.2) and are not part of the head.
              let skipped = 0;
              while (input[skipped] === 0x0d && input[skipped + 1] === 0x0a) skipped += 2;
              const end = input.indexOf('\r\n\r\n', skipped) + 4;
              expect(end).toBeGreaterThanOrEqual(skipped + 4);
              expect(end - skipped).toBeLessThanOrEqual(maxHeadSize);
              expect(input.subarray(end, fed).equals(r.rest)).toBe(true);
              return;
            }
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('isUpgradeRequest', () => {
  it('is true whenever an Upgrade header is present', () => {
    expect(isUpgradeRequest(parseText(REQUEST))).toBe(true);
    expect(isUpgradeRequest(parseText('GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n'))).toBe(true);
    expect(isUpgradeRequest(parseText('GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n'))).toBe(false);
  });
});

describe('validateUpgrade', () => {
  const check = (text: string) => () => validateUpgrade(parseText(text));

  it('accepts the RFC example and extracts its fields', () => {
    expect(validateUpgrade(parseText(REQUEST))).toEqual({
      key: KEY,
      version: '13',
      protocols: ['chat', 'superchat'],
      extensions: 'permessage-deflate',
      origin: 'http://example.com',
    });
  });

  it('defaults optional fields', () => {
    const u = validateUpgrade(
      parseText(withHeader('Origin', null, withHeader('Sec-WebSocket-Protocol', null, withHeader('Sec-WebSocket-Extensions', null)))),
    );
    expect(u.protocols).toEqual([]);
    expect(u.extensions).toBe('');
    expect(u.origin).toBeUndefined();
  });

  it('accepts token lists with other tokens, any case and whitespace', () => {
    expect(() => check(withHeader('Connection', 'keep-alive, Upgrade'))()).not.toThrow();
    expect(() => check(withHeader('Connection', 'keep-alive,\tupgrade ,x'))()).not.toThrow();
    expect(() => check(withHeader('Upgrade', 'WebSocket'))()).not.toThrow();
    expect(() => check(withHeader('Upgrade', 'foo, websocket'))()).not.toThrow();
  });

  it('rejects a non-GET method with 405 and Allow: GET', () => {
    try {
      check(REQUEST.replace('GET', 'POST'))();
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(HttpError);
      expect((err as HttpError).status).toBe(405);
      expect((err as HttpError).headers).toEqual({ Allow: 'GET' });
    }
  });

  it.each(['HTTP/1.0', 'HTTP/2', 'HTTP/2.0', 'HTTP/1.2'])('rejects %s with 400', (v) => {
    expect(status(check(REQUEST.replace('HTTP/1.1', v)))).toBe(400);
  });

  it.each([
    ['missing Upgrade', 'Upgrade', null],
    ['Upgrade without websocket', 'Upgrade', 'h2c'],
    ['Upgrade with websocket as substring', 'Upgrade', 'websocketx'],
    ['missing Connection', 'Connection', null],
    ['Connection without upgrade', 'Connection', 'keep-alive'],
    ['Connection with upgrade as substring', 'Connection', 'upgraded'],
    ['missing Host', 'Host', null],
    ['empty Host', 'Host', ''],
    ['missing key', 'Sec-WebSocket-Key', null],
    ['key too short', 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZ=='],
    ['key too long', 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQ=a='],
    ['key of 24 chars without ==', 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25jZQab'],
    ['key with non-base64 char', 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25j*Q=='],
    ['key with url-safe alphabet', 'Sec-WebSocket-Key', 'dGhlIHNhbXBsZSBub25j_Q=='],
    ['key of 17 bytes', 'Sec-WebSocket-Key', 'AAAAAAAAAAAAAAAAAAAAAAA='],
    ['repeated key', 'Sec-WebSocket-Key', `${KEY}, ${KEY}`],
  ] as const)('rejects %s with 400', (_, name, value) => {
    expect(status(check(withHeader(name, value)))).toBe(400);
  });

  it.each([null, '8', '13, 8', '14', '013'])('rejects Sec-WebSocket-Version %s with 426 and Sec-WebSocket-Version: 13', (v) => {
    try {
      check(withHeader('Sec-WebSocket-Version', v))();
      expect.unreachable();
    } catch (err) {
      expect((err as HttpError).status).toBe(426);
      expect((err as HttpError).headers).toEqual({ 'Sec-WebSocket-Version': '13' });
    }
  });

  it('checks in order: method, HTTP version, Upgrade, Connection, Host, version, key', () => {
    let req = withHeader('Sec-WebSocket-Key', 'bad');
    expect(status(check(req))).toBe(400);
    req = withHeader('Sec-WebSocket-Version', '8', req);
    expect(status(check(req))).toBe(426);
    req = withHeader('Host', null, req);
    expect(status(check(req))).toBe(400);
    expect(() => check(req)()).toThrow(/Host/);
    req = withHeader('Connection', 'close', req);
    expect(() => check(req)()).toThrow(/Connection/);
    req = withHeader('Upgrade', 'h2c', req);
    expect(() => check(req)()).toThrow(/Upgrade must/);
    req = req.replace('HTTP/1.1', 'HTTP/1.0');
    expect(() => check(req)()).toThrow(/HTTP\/1\.1/);
    req = req.replace('GET', 'PUT');
    expect(status(check(req))).toBe(405);
  });
});

describe('upgradeResponse', () => {
  it('is exact without a protocol', () => {
    expect(upgradeResponse(KEY).toString('latin1')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        '\r\n',
    );
  });

  it('is exact with a protocol', () => {
    expect(upgradeResponse(KEY, 'chat').toString('latin1')).toBe(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Upgrade: websocket\r\n' +
        'Connection: Upgrade\r\n' +
        'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n' +
        'Sec-WebSocket-Protocol: chat\r\n' +
        '\r\n',
    );
  });
});

describe('httpResponse', () => {
  it('formats a text response with Content-Length in bytes', () => {
    expect(httpResponse(200, 'héllo ✓').toString('utf8')).toBe(
      'HTTP/1.1 200 OK\r\n' +
        'Content-Length: 10\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        '\r\n' +
        'héllo ✓',
    );
  });

  it('omits Content-Type for an empty body and keeps given headers first', () => {
    expect(httpResponse(404, '', { 'X-A': '1' }).toString('latin1')).toBe(
      'HTTP/1.1 404 Not Found\r\nX-A: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    expect(httpResponse(204).toString('latin1')).toBe('HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });

  it('respects given Connection and Content-Type, and sends Buffer bodies as is', () => {
    const body = Buffer.from([0, 1, 2]);
    const res = httpResponse(200, body, { 'content-type': 'application/octet-stream', Connection: 'keep-alive' });
    expect(res.equals(Buffer.concat([
      bytes('HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\n'),
      body,
    ]))).toBe(true);
  });

  it.each([
    [400, 'Bad Request'],
    [403, 'Forbidden'],
    [405, 'Method Not Allowed'],
    [413, 'Payload Too Large'],
    [426, 'Upgrade Required'],
    [431, 'Request Header Fields Too Large'],
    [500, 'Internal Server Error'],
    [503, 'Service Unavailable'],
  ])('uses the reason phrase for %i', (code, reason) => {
    expect(httpResponse(code).toString('latin1').split('\r\n')[0]).toBe(`HTTP/1.1 ${code} ${reason}`);
  });

  it('refuses header values that would split the response', () => {
    expect(() => httpResponse(200, '', { 'X-A': 'a\r\nSet-Cookie: x' })).toThrow(TypeError);
  });
});

describe('errorResponse', () => {
  it('renders status, extra headers and message body', () => {
    const err = new HttpError(426, 'Upgrade Required', { 'Sec-WebSocket-Version': '13' });
    expect(errorResponse(err).toString('latin1')).toBe(
      'HTTP/1.1 426 Upgrade Required\r\n' +
        'Sec-WebSocket-Version: 13\r\n' +
        'Content-Length: 17\r\n' +
        'Connection: close\r\n' +
        'Content-Type: text/plain; charset=utf-8\r\n' +
        '\r\n' +
        'Upgrade Required\n',
    );
  });
});

describe('selectProtocol', () => {
  it('picks the first offered protocol the server supports, in client order', () => {
    expect(selectProtocol(['superchat', 'chat'], ['chat', 'superchat'])).toBe('superchat');
    expect(selectProtocol(['x', 'chat'], ['chat', 'superchat'])).toBe('chat');
    expect(selectProtocol(['x'], ['chat'])).toBeUndefined();
    expect(selectProtocol([], ['chat'])).toBeUndefined();
  });
});

describe('RequestHeadParser: empty lines before the request line (RFC 9112 §2.2)', () => {
  it('skips one or more CRLFs before the request line', () => {
    expect(parseText('\r\n' + REQUEST).path).toBe('/chat');
    const r = feed([bytes('\r\n\r\n\r\n' + REQUEST), FRAME]);
    expect(r!.head.target).toBe('/chat?room=1');
    expect(r!.rest.length).toBe(0);
  });

  it('skips them however they are chunked, a CRLF split across chunks included', () => {
    const r = feed([bytes('\r'), bytes('\n\r'), bytes('\n'), Buffer.concat([bytes(REQUEST), FRAME])]);
    expect(r!.head.method).toBe('GET');
    expect(r!.rest).toEqual(FRAME);
  });

  it('still refuses a bare CR or bare LF before the request line', () => {
    expect(status(() => new RequestHeadParser().push(bytes('\rGET / HTTP/1.1\r\n\r\n')))).toBe(400);
    expect(status(() => new RequestHeadParser().push(bytes('\nGET / HTTP/1.1\r\n\r\n')))).toBe(400);
    expect(status(() => new RequestHeadParser().push(bytes('\r\n\nGET / HTTP/1.1\r\n\r\n')))).toBe(400);
  });

  it('counts skipped lines against the head size limit', () => {
    const p = new RequestHeadParser({ maxHeadSize: 64 });
    expect(p.push(bytes('\r\n'.repeat(20)))).toBeNull();
    expect(status(() => p.push(bytes('\r\n'.repeat(20))))).toBe(431);
  });
});

describe('request targets: origin form, absolute form (RFC 9112 §3.2)', () => {
  it.each([
    ['/chat?room=a', '/chat', 'room=a'],
    ['/chat', '/chat', ''],
    ['/?x=1?y', '/', 'x=1?y'],
    ['http://a/healthz', '/healthz', ''],
    ['ws://example.com/chat?room=a', '/chat', 'room=a'],
    ['WSS://example.com:8443/a/b?c', '/a/b', 'c'],
    ['http://a', '/', ''],
    ['http://a?x=1', '/', 'x=1'],
    ['*', '*', ''],
  ])('%s → path %s, query %s', (target, path, query) => {
    expect(splitTarget(target)).toEqual({ path, query });
    const head = parseText(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`);
    expect([head.target, head.path, head.query]).toEqual([target, path, query]);
  });

  it.each(['chat', 'example.com:80', '://x/', '1http://a/', 'ht tp://a/'.replace(' ', '%')])('refuses the target %s with 400', (target) => {
    expect(status(() => splitTarget(target))).toBe(400);
    expect(status(() => parseText(`GET ${target} HTTP/1.1\r\nHost: a\r\n\r\n`))).toBe(400);
  });
});

describe('validateHost (RFC 9112 §3.2)', () => {
  const check = (text: string) => () => validateHost(parseText(text));
  it('accepts one valid Host, and none on HTTP/1.0', () => {
    expect(check('GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n')).not.toThrow();
    expect(check('GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n')).not.toThrow();
    expect(check('GET / HTTP/1.0\r\n\r\n')).not.toThrow();
  });
  it.each([
    ['missing on HTTP/1.1', 'GET / HTTP/1.1\r\nX: y\r\n\r\n'],
    ['repeated', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n'],
    ['repeated, once empty', 'GET / HTTP/1.1\r\nHost:\r\nHost: a\r\n\r\n'],
    ['a list', 'GET / HTTP/1.1\r\nHost: a, b\r\n\r\n'],
    ['repeated on HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n'],
    ['with a slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n'],
  ])('refuses a Host %s with 400', (_, text) => {
    expect(status(check(text))).toBe(400);
  });
});

describe('headersOfText: a connection keeps the head text and rebuilds its headers from it', () => {
  it('gives the Map the parser built: lower-case names, repeated headers joined, values trimmed', () => {
    const parsed = new RequestHeadParser().push(
      Buffer.from('\r\nGET / HTTP/1.1\r\nHost: a\r\nX-Tag:  one \r\nx-tag:two\r\nEmpty:\r\n\r\n', 'latin1'),
    )!;
    expect(parsed.head.text).toBeDefined();
    const rebuilt = headersOfText(parsed.head.text!);
    expect([...rebuilt]).toEqual([...parsed.head.headers]);
    expect(rebuilt.get('x-tag')).toBe('one, two');
    expect(rebuilt.get('empty')).toBe('');
  });
});
