import { CloseCode, ProtocolError } from './errors.js';
import { unmask } from './mask.js';
import { isControlOpcode } from './opcode.js';

/**
 * A piece of one frame's payload, already unmasked. The decoder never buffers
 * payload: each part is a zero-copy slice of the chunk it arrived in, so a
 * frame that spans chunks comes out as several parts. The first part of every
 * frame is emitted as soon as its header is parsed (even with no payload yet),
 * so that limits and sequencing rules can fail the connection before the
 * payload arrives.
 */
export interface FramePart {
  readonly fin: boolean;
  readonly opcode: number;
  /** The whole frame's payload length, as its header announced. */
  readonly length: number;
  /** Where `payload` starts within the frame's payload. */
  readonly offset: number;
  readonly payload: Buffer;
  /** This part carries the frame's header. */
  readonly first: boolean;
  /** This part ends the frame's payload. */
  readonly last: boolean;
  /**
   * The frame had RSV1 set: its message is compressed (permessage-deflate;
   * only ever on a message's first frame). Absent on uncompressed frames.
   */
  readonly compressed?: true;
}

export interface FrameDecoderOptions {
  /** Client-to-server frames MUST be masked (RFC 6455 §5.1). Default true. */
  readonly requireMask?: boolean;
  /** permessage-deflate was agreed: RSV1 may mark a data message's first frame. Default false. */
  readonly allowRsv1?: boolean;
}

const EMPTY = Buffer.alloc(0);
const TWO_32 = 2 ** 32;

const fail = (code: string, closeCode: number, message: string): never => {
  throw new ProtocolError(code, closeCode, message);
};

/**
 * Incremental RFC 6455 frame decoder: push chunks as they arrive, get frame
 * parts out. Header rules are checked here, the moment a header is complete:
 * RSV bits, reserved opcodes, control frame
 * length and FIN, masking, the 64-bit length's top bit, and RSV1 (allowed
 * only when permessage-deflate was agreed, only on a message's first frame). Only a header
 * that straddles chunks is copied (into a 14-byte scratch buffer).
 * @internal (not exported by the package: decodeFrames is its public form)
 */
export class FrameDecoder {
  private readonly requireMask: boolean;
  private readonly allowRsv1: boolean;
  // Bytes 0–13: a header that straddles chunks; 14–17: the current masking key.
  // Allocated with the first frame, so an idle connection costs nothing here.
  private scratch: Buffer | null = null;
  private scratchFill = 0;
  private masked = false;
  private fin = false;
  private compressed = false;
  private opcode = 0;
  private length = 0;
  private offset = 0;
  private inPayload = false;
  private failed = false;

  constructor(options: FrameDecoderOptions = {}) {
    this.requireMask = options.requireMask ?? true;
    this.allowRsv1 = options.allowRsv1 ?? false;
  }

  /**
   * Decodes `chunk` (unmasking it in place) and calls `emit` for each frame
   * part, in order. `emit` may return false to stop decoding (the consumer is
   * gone). Throws ProtocolError on the first rule the bytes break; the decoder
   * is unusable afterwards.
   */
  push(chunk: Buffer, emit: (part: FramePart) => boolean | void): void {
    if (this.failed) throw new Error('FrameDecoder used after a protocol error');
    const n = chunk.length;
    let pos = 0;
    while (pos < n) {
      if (this.inPayload) {
        const take = Math.min(this.length - this.offset, n - pos);
        if (emit(this.part(chunk, pos, pos + take, false)) === false) return;
        pos += take;
        continue;
      }
      let buf: Buffer;
      let at: number;
      const inChunk = this.scratchFill === 0 && n - pos >= 2 ? headerLength(chunk[pos + 1]!) : Infinity;
      if (n - pos >= inChunk) {
        buf = chunk; // whole header in this chunk: parse it where it lies
        at = pos;
        pos += inChunk;
      } else {
        // Header straddles chunks: collect it in the scratch buffer.
        const scratch = (this.scratch ??= Buffer.alloc(18));
        const need = this.scratchFill < 2 ? 2 : headerLength(scratch[1]!);
        const copy = Math.min(need - this.scratchFill, n - pos);
        chunk.copy(scratch, this.scratchFill, pos, pos + copy);
        this.scratchFill += copy;
        pos += copy;
        if (this.scratchFill < 2 || this.scratchFill < headerLength(scratch[1]!)) continue;
        this.scratchFill = 0;
        buf = scratch;
        at = 0;
      }
      try {
        this.readHeader(buf, at);
      } catch (err) {
        this.failed = true;
        throw err;
      }
      const take = Math.min(this.length, n - pos);
      if (emit(this.part(chunk, pos, pos + take, true)) === false) return;
      pos += take;
    }
  }

  private part(chunk: Buffer, start: number, end: number, first: boolean): FramePart {
    const offset = this.offset;
    if (this.masked && end > start) unmask(chunk, start, end, this.scratch!, offset, 14);
    this.offset = offset + (end - start);
    const last = this.offset === this.length;
    this.inPayload = !last;
    const payload = end > start ? chunk.subarray(start, end) : EMPTY;
    if (this.compressed) return { fin: this.fin, opcode: this.opcode, length: this.length, offset, payload, first, last, compressed: true };
    return { fin: this.fin, opcode: this.opcode, length: this.length, offset, payload, first, last };
  }

  private readHeader(buf: Buffer, at: number): void {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const rsv = b0 & 0x70;
    if (rsv !== 0) {
      if (rsv !== 0x40 || !this.allowRsv1) fail('WS_ERR_UNEXPECTED_RSV', CloseCode.ProtocolError, 'RSV bits set but no extension was negotiated');
      // RFC 7692 §6: RSV1 marks a compressed message on its first frame only.
      if (opcode === 0 || (opcode & 0x8) !== 0) fail('WS_ERR_UNEXPECTED_RSV_1', CloseCode.ProtocolError, 'RSV1 on a continuation or control frame');
    }
    if ((opcode > 0x2 && opcode < 0x8) || opcode > 0xa) {
      fail('WS_ERR_INVALID_OPCODE', CloseCode.ProtocolError, `reserved opcode ${opcode}`);
    }
    const len7 = b1 & 0x7f;
    if (isControlOpcode(opcode)) {
      if (!fin) fail('WS_ERR_FRAGMENTED_CONTROL', CloseCode.ProtocolError, 'control frames must not be fragmented');
      if (len7 > 125) fail('WS_ERR_CONTROL_TOO_LONG', CloseCode.ProtocolError, 'control frame payload longer than 125 bytes');
    }
    const masked = (b1 & 0x80) !== 0;
    if (!masked && this.requireMask) fail('WS_ERR_EXPECTED_MASK', CloseCode.ProtocolError, 'client frames must be masked');
    let length = len7;
    let p = at + 2;
    if (len7 === 126) {
      length = buf.readUInt16BE(p);
      p += 2;
      if (length < 126) fail('WS_ERR_NON_MINIMAL_LENGTH', CloseCode.ProtocolError, 'length not minimally encoded');
    } else if (len7 === 127) {
      const hi = buf.readUInt32BE(p);
      const lo = buf.readUInt32BE(p + 4);
      p += 8;
      if (hi >= 0x80000000) fail('WS_ERR_INVALID_LENGTH', CloseCode.ProtocolError, '64-bit length with the top bit set');
      if (hi >= 0x200000) fail('WS_ERR_MESSAGE_TOO_BIG', CloseCode.MessageTooBig, 'frame larger than 2^53 bytes');
      length = hi * TWO_32 + lo;
      if (length < 65536) fail('WS_ERR_NON_MINIMAL_LENGTH', CloseCode.ProtocolError, 'length not minimally encoded');
    }
    if (masked) {
      const key = (this.scratch ??= Buffer.alloc(18));
      key[14] = buf[p]!;
      key[15] = buf[p + 1]!;
      key[16] = buf[p + 2]!;
      key[17] = buf[p + 3]!;
    }
    this.masked = masked;
    this.fin = fin;
    this.compressed = rsv !== 0;
    this.opcode = opcode;
    this.length = length;
    this.offset = 0;
  }
}

/** Header size from its second byte: 2, plus 2 or 8 for the extended length, plus 4 for the mask. */
function headerLength(b1: number): number {
  const len7 = b1 & 0x7f;
  return 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b1 & 0x80) !== 0 ? 4 : 0);
}
