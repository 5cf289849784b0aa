import { isUtf8 } from 'node:buffer';

/**
 * Incremental UTF-8 validator (RFC 3629: no overlongs, no surrogates D800–DFFF,
 * max U+10FFFF). Fails on the FIRST byte that makes the sequence invalid, even
 * when that byte arrives in a later piece (fail-fast: F4 90, ED A0, E0 80 fail
 * at the 2nd byte; C0/C1/F5–FF immediately).
 *
 * The bulk of each piece goes through native `isUtf8`; the small state machine
 * below only handles a sequence carried across a piece boundary.
 */
export class Utf8Validator {
  /** Continuation bytes still expected by the carried sequence. */
  private need = 0;
  /** Allowed range of the next continuation byte (narrower right after some lead bytes). */
  private lo = 0x80;
  private hi = 0xbf;
  private ok = true;

  /** Validates buf[start, end) as the continuation of everything fed so far. Returns false as soon as the stream is invalid (and stays false afterwards). */
  update(buf: Buffer, start = 0, end = buf.length): boolean {
    if (!this.ok) return false;
    let i = start;
    // (a) Finish the sequence carried over from the previous piece.
    while (this.need > 0 && i < end) {
      if (!this.cont(buf[i]!)) return (this.ok = false);
      i++;
    }
    if (i >= end) return true;

    // (b) Find where the last sequence starts (at most 3 continuation bytes back).
    let j = end - 1;
    while (j > i && end - j <= 3 && (buf[j]! & 0xc0) === 0x80) j--;
    const len = seqLen(buf[j]!);
    // Complete (or invalid: isUtf8 will say so) → validate everything natively.
    if (len <= end - j) {
      if (!isUtf8(buf.subarray(i, end))) return (this.ok = false);
      return true;
    }
    // Incomplete tail: native check of the bulk, then feed the tail to the DFA
    // so an already-impossible prefix (e.g. F4 90) fails now.
    if (j > i && !isUtf8(buf.subarray(i, j))) return (this.ok = false);
    this.lead(buf[j]!, len);
    for (let k = j + 1; k < end; k++) if (!this.cont(buf[k]!)) return (this.ok = false);
    return true;
  }

  /** True when everything fed so far is valid AND ends on a character boundary (call at end of message). */
  end(): boolean {
    return this.ok && this.need === 0;
  }

  /** Forget everything (new message). */
  reset(): void {
    this.need = 0;
    this.lo = 0x80;
    this.hi = 0xbf;
    this.ok = true;
  }

  /** Starts a multi-byte sequence with a valid lead byte `b` of length `len` (2–4). */
  private lead(b: number, len: number): void {
    this.need = len - 1;
    // Second-byte ranges exclude overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4).
    this.lo = b === 0xe0 ? 0xa0 : b === 0xf0 ? 0x90 : 0x80;
    this.hi = b === 0xed ? 0x9f : b === 0xf4 ? 0x8f : 0xbf;
  }

  /** Consumes one continuation byte; false if outside the allowed range. */
  private cont(b: number): boolean {
    if (b < this.lo || b > this.hi) return false;
    this.need--;
    this.lo = 0x80;
    this.hi = 0xbf;
    return true;
  }
}

/** Sequence length announced by a lead byte; 1 for ASCII and for invalid leads (C0, C1, F5–FF, 80–BF), which isUtf8 then rejects. */
function seqLen(b: number): number {
  if (b < 0xc2) return 1;
  if (b < 0xe0) return 2;
  if (b < 0xf0) return 3;
  if (b < 0xf5) return 4;
  return 1;
}

