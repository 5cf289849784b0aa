import { isUtf8 } from 'node:buffer';
import { CloseCode, ProtocolError } from './errors.js';
import type { FramePart } from './frame-decoder.js';
import { isControlOpcode, Opcode } from './opcode.js';
import { Utf8Validator } from './utf8.js';

/**
 * A whole message (opcode Text or Binary) or a whole control frame (Close,
 * Ping, Pong). Text payloads are valid UTF-8.
 */
export interface Message {
  readonly opcode: number;
  readonly payload: Buffer;
}

/** The first allocation of an assembled message (unless its final frame announces less). */
const PREALLOCATE = 16 * 1024;

const invalidUtf8 = (): never => {
  throw new ProtocolError('WS_ERR_INVALID_UTF8', CloseCode.InvalidPayload, 'invalid UTF-8 in a text message');
};

/**
 * Turns frame parts into messages: continuation frames are joined into their
 * message, control frames (which may arrive between fragments) pass through
 * whole. Enforces the fragmentation rules and validates text as it arrives,
 * so that an invalid byte fails the connection in the piece that carries it.
 *
 * Memory: a message that is one frame in one chunk is a zero-copy slice; any
 * other message is copied into one buffer sized from the bytes actually
 * received, never from the length a header announces (a peer announcing a
 * 1,000,000-byte frame and sending one byte costs at most PREALLOCATE): it
 * grows geometrically, and is never larger than the message once its final
 * frame's header is known. So its cost is at most about twice its bytes,
 * never a per-fragment object an attacker could multiply with empty fragments.
 */
export class MessageAssembler {
  private open = false;
  private opcode = 0;
  private text = false;
  // Only messages that arrive in pieces need these; most connections never allocate them.
  private utf8: Utf8Validator | null = null;
  private buffer: Buffer | null = null;
  private size = 0;
  // The message's size once the current frame ends, and whether that frame ends the message.
  private frameEnd = 0;
  private finalFrame = false;
  private control: Buffer | null = null;
  private controlSize = 0;

  /** Feeds one part; returns the message it completes, if any. Throws ProtocolError. */
  push(part: FramePart): Message | undefined {
    const { opcode, payload } = part;
    if (isControlOpcode(opcode)) return this.pushControl(part);

    if (part.first) {
      if (part.compressed) {
        // Compressed messages reach here inflated (inflateMessages); RSV1 still set means nobody agreed to it.
        throw new ProtocolError('WS_ERR_UNEXPECTED_RSV', CloseCode.ProtocolError, 'compressed frame but permessage-deflate is not in use');
      }
      if (opcode === Opcode.Continuation) {
        if (!this.open) {
          throw new ProtocolError('WS_ERR_UNEXPECTED_CONTINUATION', CloseCode.ProtocolError, 'continuation frame with no message open');
        }
      } else {
        if (this.open) {
          throw new ProtocolError('WS_ERR_EXPECTED_CONTINUATION', CloseCode.ProtocolError, 'new data frame while a fragmented message is open');
        }
        if (part.fin && part.last) {
          // The common case: a whole message in one frame in one chunk.
          if (opcode === Opcode.Text && !isUtf8(payload)) invalidUtf8();
          return { opcode, payload };
        }
        this.open = true;
        this.opcode = opcode;
        this.text = opcode === Opcode.Text;
        this.size = 0;
        if (this.text) (this.utf8 ??= new Utf8Validator()).reset();
      }
      this.frameEnd = this.size + part.length;
      this.finalFrame = part.fin;
    }

    if (payload.length > 0) {
      if (this.text && !this.utf8!.update(payload)) invalidUtf8();
      const needed = this.size + payload.length;
      if (this.buffer === null || this.buffer.length < needed) this.grow(needed);
      payload.copy(this.buffer!, this.size);
      this.size += payload.length;
    }
    if (!part.last || !part.fin) return undefined;

    if (this.text && !this.utf8!.end()) invalidUtf8();
    const message = { opcode: this.opcode, payload: this.buffer === null ? Buffer.alloc(0) : this.buffer.subarray(0, this.size) };
    this.open = false;
    this.buffer = null;
    return message;
  }

  /** Makes room for `needed` received bytes: doubling (at least PREALLOCATE), but never past the end of the message's final frame. */
  private grow(needed: number): void {
    const current = this.buffer;
    let capacity = Math.max(needed, PREALLOCATE, current === null ? 0 : current.length * 2);
    if (this.finalFrame) capacity = Math.min(capacity, this.frameEnd);
    const grown = Buffer.allocUnsafe(capacity);
    if (current !== null && this.size > 0) current.copy(grown, 0, 0, this.size);
    this.buffer = grown;
  }

  private pushControl(part: FramePart): Message | undefined {
    if (part.first && part.last) return { opcode: part.opcode, payload: part.payload };
    const control = (this.control ??= Buffer.allocUnsafe(125));
    if (part.first) this.controlSize = 0;
    part.payload.copy(control, this.controlSize);
    this.controlSize += part.payload.length;
    if (!part.last) return undefined;
    return { opcode: part.opcode, payload: Buffer.from(control.subarray(0, this.controlSize)) };
  }
}
