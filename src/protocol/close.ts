import { isUtf8 } from 'node:buffer';
import { CloseCode, ProtocolError } from './errors.js';

/**
 * RFC 6455 §7.4: may this code appear in a close frame on the wire?
 * 1004/1005/1006/1015 are reserved never to be sent; 1016–2999 are unassigned.
 */
export function isValidCloseCode(code: number): boolean {
  if (!Number.isInteger(code)) return false;
  return (
    (code >= 1000 && code <= 1003) ||
    (code >= 1007 && code <= 1014) ||
    (code >= 3000 && code <= 4999)
  );
}

/** `code` is undefined when the payload is empty (→ treat as 1005 "no status"). */
export interface ClosePayload {
  code: number | undefined;
  reason: string;
}

/** Parses a received close frame's payload (length ≤ 125 is the frame decoder's job). */
export function parseClosePayload(payload: Buffer): ClosePayload {
  if (payload.length === 0) return { code: undefined, reason: '' };
  if (payload.length === 1) {
    throw new ProtocolError('WS_ERR_INVALID_CLOSE_PAYLOAD', CloseCode.ProtocolError, 'Close payload of 1 byte');
  }
  const code = payload.readUInt16BE(0);
  if (!isValidCloseCode(code)) {
    throw new ProtocolError('WS_ERR_INVALID_CLOSE_CODE', CloseCode.ProtocolError, `Invalid close code ${code}`);
  }
  const reason = payload.subarray(2);
  if (!isUtf8(reason)) {
    throw new ProtocolError('WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload, 'Close reason is not valid UTF-8');
  }
  return { code, reason: reason.toString('utf8') };
}

/** Control frame payloads are at most 125 bytes: 2 for the code, 123 for the reason. */
const MAX_REASON = 123;

/**
 * Builds a close frame payload: 2-byte big-endian code + UTF-8 reason, truncated
 * on a character boundary to fit 125 bytes. No code → empty payload.
 */
export function encodeClosePayload(code?: number, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  if (!isValidCloseCode(code)) throw new RangeError(`Close code ${code} may not be sent`);
  const buf = Buffer.allocUnsafe(2 + Math.min(Buffer.byteLength(reason), MAX_REASON));
  buf.writeUInt16BE(code, 0);
  // Buffer#write never writes a partial character, so truncation stays on a boundary.
  const n = buf.write(reason, 2, 'utf8');
  return n === buf.length - 2 ? buf : buf.subarray(0, 2 + n);
}
