/**
 * What may appear in the head of a response the server writes (RFC 9110
 * §5.1, §5.5; RFC 9112 §4). Pure checks over JavaScript strings: the head is
 * sent as latin1, one byte per UTF-16 code unit (its low byte), so every
 * code unit is checked as it is, and one above 0xFF is refused (U+010A would
 * otherwise go out as LF).
 */

// RFC 9110 §5.6.2 tchar, as a table: the request parser asks it for every character of every header name.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;

/** A token (RFC 9110 §5.6.2): one or more tchar. Field names and methods are tokens. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** VCHAR (0x21–0x7E), obs-text (0x80–0xFF), SP and HTAB: field content and reason phrases. */
function isTextCode(c: number): boolean {
  return (c >= 0x21 && c <= 0x7e) || (c >= 0x80 && c <= 0xff) || c === 0x20 || c === 0x09;
}

/** A field name (RFC 9110 §5.1): a token. */
export const isFieldName = isToken;

/**
 * A field value (RFC 9110 §5.5): visible ASCII, obs-text bytes, SP and HTAB,
 * possibly empty. Leading and trailing whitespace are allowed (recipients
 * strip them); CR, LF, NUL and other controls never are.
 */
export function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) if (!isTextCode(value.charCodeAt(i))) return false;
  return true;
}

/** A status code (RFC 9110 §15): an integer from 100 to 599. */
export function isStatusCode(status: number): boolean {
  return Number.isInteger(status) && status >= 100 && status <= 599;
}

/** A reason phrase (RFC 9112 §4): HTAB, SP, VCHAR and obs-text, possibly empty. */
export function isReasonPhrase(reason: string): boolean {
  return isFieldValue(reason);
}

/** One `name: value` header line, or a TypeError (before any byte is written) for what would not be one. */
export function headerLine(name: string, value: string): string {
  if (!isFieldName(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}: not an HTTP token (RFC 9110 §5.1)`);
  if (!isFieldValue(value)) {
    throw new TypeError(`invalid value of header ${JSON.stringify(name)}: ${JSON.stringify(value)} is not HTTP field content (RFC 9110 §5.5)`);
  }
  return `${name}: ${value}\r\n`;
}

/** The status line, or a TypeError for a status or reason phrase that would not make one. */
export function statusLine(status: number, reason: string): string {
  if (!isStatusCode(status)) throw new TypeError(`invalid HTTP status ${JSON.stringify(status)}: not an integer from 100 to 599`);
  if (!isReasonPhrase(reason)) throw new TypeError(`invalid reason phrase ${JSON.stringify(reason)} (RFC 9112 §4)`);
  return `HTTP/1.1 ${status} ${reason}\r\n`;
}
