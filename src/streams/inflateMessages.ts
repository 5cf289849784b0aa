import zlib from 'node:zlib';
import { type Observable, type OperatorFunction, Subscriber } from 'rxjs';
import { CloseCode, ProtocolError } from '../protocol/errors.js';
import { acquireInflater, BOUNDARY_PROBE, DEFLATE_TAIL, releaseInflater, SyncZlib, ZlibDataError } from '../protocol/extensions/sync-zlib.js';
import type { FramePart } from '../protocol/frame-decoder.js';
import { isControlOpcode, Opcode } from '../protocol/opcode.js';
import { lift } from './lift.js';

const { Z_SYNC_FLUSH } = zlib.constants;

export interface InflateMessagesOptions {
  /** Largest message once inflated (bytes): 1009 as soon as the inflated bytes pass it. */
  readonly maxMessageSize: number;
  /**
   * client_no_context_takeover was agreed: each message is inflated by a
   * pooled inflater taken at its first frame and given back at its last.
   * Otherwise the connection keeps its own inflater (its window) across messages.
   */
  readonly noContextTakeover: boolean;
  /** The client's agreed window (client_max_window_bits), for a kept inflater. Default 15. */
  readonly windowBits?: number;
}

/**
 * Frame parts → frame parts, with compressed (RSV1) messages inflated as
 * their fragments arrive (RFC 7692 §7.2.2: the payloads, then `00 00 ff ff`).
 * A compressed message comes out as a run of uncompressed fragments, one per
 * inflate chunk (the last with FIN), so reassembleMessages validates the
 * inflated text incrementally and joins it; uncompressed messages and control
 * frames (also between fragments) pass through untouched, in order.
 *
 * Errors: 1009 as soon as the inflated size passes `maxMessageSize` (zlib is
 * stopped within one output chunk, so a bomb costs at most the limit), 1007
 * for data that does not inflate or does not end on a block boundary, 1002
 * for a new message while a compressed one is still open.
 */
export function inflateMessages(options: InflateMessagesOptions): OperatorFunction<FramePart, FramePart> {
  return (source: Observable<FramePart>) => lift(source, (destination) => new InflateMessagesSubscriber(destination, options));
}

const EMPTY = Buffer.alloc(0);

class InflateMessagesSubscriber extends Subscriber<FramePart> {
  private readonly maxMessageSize: number;
  private readonly noContextTakeover: boolean;
  private readonly windowBits: number;
  /** A data message is open (compressed or not) until its FIN frame ends. */
  private open = false;
  private inflating = false;
  private opcode = 0;
  private inflated = 0;
  private emittedAny = false;
  /** The latest inflated chunk, held back so that the message's last one can carry FIN. */
  private held: Buffer | null = null;
  private inflater: SyncZlib | null = null;
  private readonly collect: (piece: Buffer) => boolean;
  private collected: Buffer[] = [];
  private tooBig = false;
  /** Compressed bytes of the current message: an empty payload is an empty message, with no tail to inflate. */
  private compressedBytes = 0;

  constructor(destination: Subscriber<FramePart>, options: InflateMessagesOptions) {
    super(destination);
    this.maxMessageSize = options.maxMessageSize;
    this.noContextTakeover = options.noContextTakeover;
    this.windowBits = Math.max(9, options.windowBits ?? 15);
    this.collect = (piece) => {
      this.inflated += piece.length;
      if (this.inflated > this.maxMessageSize) {
        this.tooBig = true;
        return false; // stop zlib here: the rest of the bomb is never produced
      }
      this.collected.push(Buffer.from(piece));
      return true;
    };
  }

  protected override _next(part: FramePart): void {
    if (isControlOpcode(part.opcode)) {
      this.destination.next(part);
      return;
    }
    if (part.first) {
      if (part.opcode !== Opcode.Continuation) {
        if (this.open) {
          this.fail('WS_ERR_EXPECTED_CONTINUATION', CloseCode.ProtocolError, 'new data frame while a fragmented message is open');
          return;
        }
        this.open = true;
        this.inflating = part.compressed === true;
        if (this.inflating) this.begin(part.opcode);
      }
      if (part.fin) this.open = false;
    }
    if (!this.inflating) {
      this.destination.next(part);
      return;
    }
    try {
      this.feed(part.payload);
      if (!this.closed && part.fin && part.last) this.end();
    } catch (err) {
      if (!(err instanceof ZlibDataError)) throw err;
      this.fail('WS_ERR_INVALID_COMPRESSED', CloseCode.InvalidPayload, `compressed data does not inflate: ${err.message}`);
    }
  }

  private begin(opcode: number): void {
    this.opcode = opcode;
    this.inflated = 0;
    this.emittedAny = false;
    this.held = null;
    this.compressedBytes = 0;
    if (this.noContextTakeover) this.inflater = acquireInflater();
    else this.inflater ??= new SyncZlib('inflate', { windowBits: this.windowBits });
  }

  private feed(input: Buffer): void {
    if (input.length === 0) return;
    this.compressedBytes += input.length;
    this.inflater!.write(input, Z_SYNC_FLUSH, this.collect);
    this.emitCollected();
  }

  /** Emits everything inflated so far except the latest chunk, which waits to learn whether it is the last. */
  private emitCollected(): void {
    if (this.tooBig) {
      this.collected = [];
      this.fail('WS_ERR_MESSAGE_TOO_BIG', CloseCode.MessageTooBig, `message larger than ${this.maxMessageSize} bytes once inflated`);
      return;
    }
    const collected = this.collected;
    if (collected.length === 0) return;
    this.collected = [];
    for (let i = 0; i < collected.length && !this.closed; i++) {
      if (this.held !== null) this.emit(this.held, false);
      this.held = collected[i]!;
    }
  }

  private end(): void {
    const inflater = this.inflater!;
    if (!inflater.ended && this.compressedBytes > 0) {
      inflater.write(DEFLATE_TAIL, Z_SYNC_FLUSH, this.collect);
      this.emitCollected();
      if (this.closed) return;
      // The pooled inflater is reset anyway: spend it on checking that the message ended on a block boundary.
      if (this.noContextTakeover && !inflater.ended) {
        inflater.write(BOUNDARY_PROBE, Z_SYNC_FLUSH, ignoreOutput);
        if (!inflater.ended) throw new ZlibDataError('the message does not end on a DEFLATE block boundary');
      }
    }
    const held = this.held;
    this.held = null;
    this.inflating = false;
    this.releaseInflater(inflater);
    this.emit(held ?? EMPTY, true);
  }

  private releaseInflater(inflater: SyncZlib): void {
    if (this.noContextTakeover) {
      this.inflater = null;
      releaseInflater(inflater);
    } else if (inflater.ended) {
      inflater.reset(); // a final block ended the stream: the next message starts a new one
    }
  }

  private emit(payload: Buffer, fin: boolean): void {
    const opcode = this.emittedAny ? Opcode.Continuation : this.opcode;
    this.emittedAny = true;
    this.destination.next({ fin, opcode, length: payload.length, offset: 0, payload, first: true, last: true });
  }

  private fail(code: string, closeCode: number, message: string): void {
    this.error(new ProtocolError(code, closeCode, message));
  }

  override unsubscribe(): void {
    if (this.closed) return;
    super.unsubscribe();
    const inflater = this.inflater;
    this.inflater = null;
    this.held = null;
    this.collected = [];
    if (inflater === null) return;
    if (this.noContextTakeover) releaseInflater(inflater);
    else inflater.close();
  }
}

const ignoreOutput = () => true;
