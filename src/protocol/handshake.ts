import { createHash } from 'node:crypto';
import { HttpError } from './errors.js';
import { headerLine, isToken, statusLine } from './http-fields.js';

/**
 * HTTP/1.1 request-head parsing and the RFC 6455 opening handshake. Pure: no
 * sockets, no streams. All input here is attacker-controlled, so parsing uses
 * plain string/byte scans (no backtracking regexes) and bounded buffering.
 */

export interface RequestHead {
  method: string;
  /** The request target as sent: `/chat?room=a`, or in absolute form `ws://example.com/chat?room=a`. */
  target: string;
  /** The target's path, without the query: `/chat`. */
  path: string;
  /** The target's query, without the `?` (empty if none): `room=a`. */
  query: string;
  version: string;
  /**
   * Lower-case names; a repeated header's values joined with ', ' (so a
   * repeated Host shows as a list, which validateHost refuses).
   */
  headers: Map<string, string>;
  /** @internal the head as read (latin1, without the final CRLFCRLF): lets a connection rebuild `headers` on demand instead of keeping the Map */
  text?: string;
}

export interface RequestHeadLimits {
  /** Bytes up to and including the terminating CRLFCRLF (default 16384). */
  maxHeadSize?: number;
  /** Header lines (default 100). */
  maxHeaders?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const TAB = 0x09;
const TERMINATOR = Buffer.from('\r\n\r\n', 'latin1');

/** @internal (not exported by the package) */
export class RequestHeadParser {
  private readonly maxHeadSize: number;
  private readonly maxHeaders: number;
  private readonly chunks: Buffer[] = [];
  private total = 0;
  /** Last (up to 3) bytes received, to find a CRLFCRLF split across chunks without concatenating. */
  private readonly tail = new Uint8Array(3);
  private tailLen = 0;
  /** Previous byte, so CR/LF pairing is checked across chunk borders. */
  private prev = -1;
  private done = false;
  /** Still before the request line, where empty lines are skipped (RFC 9112 §2.2). */
  private leading = true;
  private skipped = 0;

  constructor(limits: RequestHeadLimits = {}) {
    this.maxHeadSize = limits.maxHeadSize ?? 16384;
    this.maxHeaders = limits.maxHeaders ?? 100;
  }

  push(chunk: Buffer): { head: RequestHead; rest: Buffer } | null {
    if (this.done) throw new Error('RequestHeadParser: head already parsed or rejected');
    try {
      return this.feed(chunk);
    } catch (err) {
      this.done = true;
      throw err;
    }
  }

  private feed(chunk: Buffer): { head: RequestHead; rest: Buffer } | null {
    if (this.leading) chunk = this.skipEmptyLines(chunk);
    if (chunk.length === 0) return null;
    const before = this.total;
    // End (exclusive, in chunk coordinates) of the terminator, or -1. Only the
    // new bytes plus the 3 carried tail bytes are searched.
    let end = this.crossingEnd(chunk);
    if (end < 0) {
      const i = chunk.indexOf(TERMINATOR);
      if (i >= 0) end = i + 4;
    }
    // Validate head bytes as they arrive (never the pipelined bytes after the
    // head), so garbage such as a TLS hello is refused at once.
    const budget = this.maxHeadSize - before;
    this.scan(chunk, Math.min(end < 0 ? chunk.length : end, Math.max(budget, 0)));
    if (end < 0 ? before + chunk.length >= this.maxHeadSize : before + end > this.maxHeadSize) {
      throw new HttpError(431, 'Request Header Fields Too Large');
    }
    if (end < 0) {
      this.chunks.push(chunk);
      this.total += chunk.length;
      this.keepTail(chunk);
      return null;
    }
    this.done = true;
    const headLen = before + end;
    const buf = this.chunks.length === 0 ? chunk.subarray(0, end) : Buffer.concat([...this.chunks, chunk], headLen);
    this.chunks.length = 0;
    return { head: this.parse(buf), rest: chunk.subarray(end) };
  }

  /** Drops CRLFs before the request line; they count against the head size limit. */
  private skipEmptyLines(chunk: Buffer): Buffer {
    let i = 0;
    for (; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.prev === CR) {
        if (b !== LF) throw new HttpError(400, 'Bad Request: bare CR in request head');
        this.prev = LF;
      } else if (b === CR) this.prev = CR;
      else break;
    }
    this.skipped += i;
    if (this.skipped >= this.maxHeadSize) throw new HttpError(431, 'Request Header Fields Too Large');
    if (i < chunk.length) {
      this.leading = false;
      this.prev = -1;
    }
    return i === 0 ? chunk : chunk.subarray(i);
  }

  /** A CRLFCRLF that starts in earlier bytes and ends in `chunk`: its end in chunk, else -1. */
  private crossingEnd(chunk: Buffer): number {
    const n = this.tailLen;
    for (let s = 0; s < n; s++) {
      if (4 - (n - s) > chunk.length) break;
      let ok = true;
      for (let k = 0; k < 4 && ok; k++) {
        const j = s + k;
        ok = (j < n ? this.tail[j] : chunk[j - n]) === TERMINATOR[k];
      }
      if (ok) return s + 4 - n;
    }
    return -1;
  }

  private keepTail(chunk: Buffer): void {
    if (chunk.length >= 3) {
      this.tail.set(chunk.subarray(chunk.length - 3));
      this.tailLen = 3;
      return;
    }
    const keep = Math.min(this.tailLen, 3 - chunk.length);
    this.tail.copyWithin(0, this.tailLen - keep, this.tailLen);
    this.tail.set(chunk, keep);
    this.tailLen = keep + chunk.length;
  }

  /** Rejects control bytes, bare CR and bare LF (CRLF is required). */
  private scan(chunk: Buffer, limit: number): void {
    let prev = this.prev;
    for (let i = 0; i < limit; i++) {
      const b = chunk[i]!;
      if (prev === CR && b !== LF) throw new HttpError(400, 'Bad Request: bare CR in request head');
      if (b === LF && prev !== CR) throw new HttpError(400, 'Bad Request: bare LF in request head');
      if ((b < 0x20 && b !== CR && b !== LF && b !== TAB) || b === 0x7f) {
        throw new HttpError(400, 'Bad Request: control character in request head');
      }
      prev = b;
    }
    this.prev = prev;
  }

  private parse(buf: Buffer): RequestHead {
    // Bytes are already checked: every CR is followed by LF and vice versa, so splitting on CRLF is exact.
    const text = buf.toString('latin1', 0, buf.length - 4);
    const lines = text.split('\r\n');
    if (lines.length - 1 > this.maxHeaders) throw new HttpError(431, 'Request Header Fields Too Large: too many headers');
    const parts = lines[0]!.split(' ');
    if (parts.length !== 3) throw new HttpError(400, 'Bad Request: malformed request line');
    const [method, target, version] = parts as [string, string, string];
    if (!isToken(method) || !isVisible(target) || !version.startsWith('HTTP/') || !isVisible(version.slice(5))) {
      throw new HttpError(400, 'Bad Request: malformed request line');
    }
    const headers = headerLines(lines);
    const { path, query } = splitTarget(target);
    return { method, target, path, query, version, headers, text };
  }
}

/** The header lines (every line after the request line) as a Map; throws HttpError 400 on a malformed line. */
function headerLines(lines: readonly string[]): Map<string, string> {
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c0 = line.charCodeAt(0);
    if (c0 === 0x20 || c0 === TAB) throw new HttpError(400, 'Bad Request: obsolete line folding');
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    if (!isToken(name)) throw new HttpError(400, 'Bad Request: malformed header line');
    const key = name.toLowerCase();
    const value = trimOws(line.slice(colon + 1));
    const had = headers.get(key);
    headers.set(key, had === undefined ? value : `${had}, ${value}`);
  }
  return headers;
}

/** @internal the headers of a head RequestHeadParser accepted, again from its `text` (what the parser built, rebuilt). */
export function headersOfText(text: string): Map<string, string> {
  return headerLines(text.split('\r\n'));
}

/**
 * A request target's path and query (RFC 9112 §3.2): origin form `/a?b`,
 * absolute form `http://host/a?b` (any scheme; the authority is dropped, as
 * RFC 9112 §3.2.2 has servers accept it), or `*`. Anything else is a 400.
 */
export function splitTarget(target: string): { path: string; query: string } {
  let start = 0;
  if (target.charCodeAt(0) !== 0x2f /* / */ && target !== '*') {
    const scheme = target.indexOf('://');
    if (scheme <= 0 || !isScheme(target.slice(0, scheme))) throw new HttpError(400, 'Bad Request: malformed request target');
    const slash = target.indexOf('/', scheme + 3);
    const question = target.indexOf('?', scheme + 3);
    if (slash < 0 || (question >= 0 && question < slash)) {
      // `http://host` or `http://host?q`: the path is `/`.
      return { path: '/', query: question < 0 ? '' : target.slice(question + 1) };
    }
    start = slash;
  }
  const q = target.indexOf('?', start);
  return q < 0 ? { path: target.slice(start), query: '' } : { path: target.slice(start, q), query: target.slice(q + 1) };
}

/** RFC 3986 scheme: a letter, then letters, digits, '+', '-', '.'. */
function isScheme(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) | 0x20;
    const letter = c >= 0x61 && c <= 0x7a;
    if (!letter && (i === 0 || !((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e))) return false;
  }
  return s.length > 0;
}

/**
 * RFC 9112 §3.2: a 400 for an HTTP/1.1 request without Host, and for any
 * request with more than one Host line or an invalid one. Repeated lines
 * arrive joined with ', ', and a comma is never valid in a host, so `Host:
 * a, b` and two Host lines are refused alike.
 */
export function validateHost(head: RequestHead): void {
  const host = head.headers.get('host');
  if (host === undefined) {
    if (head.version === 'HTTP/1.1') throw new HttpError(400, 'Bad Request: missing Host');
    return;
  }
  if (!isHostValue(host)) throw new HttpError(400, 'Bad Request: invalid or repeated Host');
}

/** uri-host [":" port]: unreserved, pct-encoded, sub-delims except ',', ':' and IP-literal brackets. */
function isHostValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      "-._~%!$&'()*+;=:[]".includes(s[i]!);
    if (!ok) return false;
  }
  return true;
}

/** Non-empty, printable ASCII only (no spaces). */
function isVisible(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 0x20 || s.charCodeAt(a) === TAB)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 0x20 || s.charCodeAt(b - 1) === TAB)) b--;
  return s.slice(a, b);
}

/** Comma-separated list → trimmed, non-empty elements. */
function splitList(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const t = trimOws(part);
    if (t.length > 0) out.push(t);
  }
  return out;
}

function hasToken(value: string | undefined, token: string): boolean {
  return splitList(value).some((t) => t.toLowerCase() === token);
}

/** Requests carrying Upgrade are judged by validateUpgrade; the rest are plain HTTP. */
export function isUpgradeRequest(head: RequestHead): boolean {
  return head.headers.has('upgrade');
}

export interface UpgradeRequest {
  key: string;
  version: string;
  protocols: string[];
  /** The Sec-WebSocket-Extensions offers, as sent (joined with ', ' if repeated). */
  extensions: string;
  origin: string | undefined;
}

const BASE64_KEY_LEN = 24;

/** 22 base64 characters then '==': exactly what encodes 16 bytes. */
function isValidKey(key: string): boolean {
  if (key.length !== BASE64_KEY_LEN || !key.endsWith('==')) return false;
  for (let i = 0; i < 22; i++) {
    const c = key.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
    if (!ok) return false;
  }
  return true;
}

/** RFC 6455 §4.2.1 checks, in a fixed order so the status for a request is predictable. */
export function validateUpgrade(head: RequestHead): UpgradeRequest {
  const h = head.headers;
  if (head.method !== 'GET') throw new HttpError(405, 'Method Not Allowed', { Allow: 'GET' });
  if (head.version !== 'HTTP/1.1') throw new HttpError(400, 'Bad Request: WebSocket upgrade requires HTTP/1.1');
  if (!hasToken(h.get('upgrade'), 'websocket')) throw new HttpError(400, 'Bad Request: Upgrade must be websocket');
  if (!hasToken(h.get('connection'), 'upgrade')) throw new HttpError(400, 'Bad Request: Connection must include Upgrade');
  const host = h.get('host');
  if (host === undefined || host === '') throw new HttpError(400, 'Bad Request: missing Host');
  const version = h.get('sec-websocket-version');
  if (version !== '13') {
    throw new HttpError(426, 'Upgrade Required: unsupported Sec-WebSocket-Version', { 'Sec-WebSocket-Version': '13' });
  }
  const key = h.get('sec-websocket-key');
  if (key === undefined || !isValidKey(key)) throw new HttpError(400, 'Bad Request: invalid Sec-WebSocket-Key');
  return {
    key,
    version,
    protocols: splitList(h.get('sec-websocket-protocol')),
    extensions: h.get('sec-websocket-extensions') ?? '',
    origin: h.get('origin'),
  };
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID, 'latin1').digest('base64');
}

/**
 * The 101 response, with the agreed subprotocol and extensions (the
 * Sec-WebSocket-Extensions value), if any, and the application's own headers
 * (e.g. Set-Cookie). Throws a TypeError for a header that is not valid HTTP
 * or that the handshake owns.
 */
export function upgradeResponse(key: string, protocol?: string, extensions?: string, headers?: Readonly<Record<string, string>>): Buffer {
  let s = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
  s += headerLine('Sec-WebSocket-Accept', acceptKey(key));
  if (protocol !== undefined) s += headerLine('Sec-WebSocket-Protocol', protocol);
  if (extensions !== undefined && extensions !== '') s += headerLine('Sec-WebSocket-Extensions', extensions);
  if (headers !== undefined) s += upgradeHeaderLines(headers);
  return Buffer.from(s + '\r\n', 'latin1');
}

/** Headers the handshake itself writes, and those a 1xx response must not carry (RFC 9110 §8.6, RFC 9112 §6.1). */
const HANDSHAKE_HEADERS = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
  'content-length',
  'transfer-encoding',
]);

/** The application's headers of a 101, each validated like any response header. */
function upgradeHeaderLines(headers: Readonly<Record<string, string>>): string {
  let s = '';
  for (const [name, value] of Object.entries(headers)) {
    if (HANDSHAKE_HEADERS.has(name.toLowerCase())) throw new TypeError(`header ${JSON.stringify(name)} is the handshake's own: it cannot be set on the 101`);
    s += headerLine(name, value);
  }
  return s;
}

const REASONS: Readonly<Record<number, string>> = {
  101: 'Switching Protocols',
  200: 'OK',
  204: 'No Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/**
 * A complete response that closes the connection by default. Content-Length is
 * always computed from the body (a caller-given one is dropped so they cannot disagree).
 */
export function httpResponse(status: number, body: string | Buffer = '', headers: Record<string, string> = {}): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  let s = statusLine(status, REASONS[status] ?? '');
  let hasConnection = false;
  let hasType = false;
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (lower === 'content-length') continue;
    if (lower === 'connection') hasConnection = true;
    if (lower === 'content-type') hasType = true;
    s += headerLine(name, value);
  }
  s += `Content-Length: ${bytes.length}\r\n`;
  if (!hasConnection) s += 'Connection: close\r\n';
  if (!hasType && bytes.length > 0) s += 'Content-Type: text/plain; charset=utf-8\r\n';
  return Buffer.concat([Buffer.from(s + '\r\n', 'latin1'), bytes]);
}

export function errorResponse(err: HttpError): Buffer {
  return httpResponse(err.status, err.message + '\n', { ...err.headers });
}

/** The client's preference wins: first offered protocol the server supports. */
export function selectProtocol(offered: string[], supported: readonly string[]): string | undefined {
  return offered.find((p) => supported.includes(p));
}
