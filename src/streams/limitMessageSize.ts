import { type Observable, type OperatorFunction, Subscriber } from 'rxjs';
import { CloseCode, ProtocolError } from '../protocol/errors.js';
import type { FramePart } from '../protocol/frame-decoder.js';
import { isControlOpcode, Opcode } from '../protocol/opcode.js';
import { lift } from './lift.js';

/**
 * Fails with close code 1009 as soon as a frame header announces a message
 * larger than `maxBytes`: the header of the frame itself, or the running total
 * of a fragmented message's frames. It decides on headers, before any of the
 * payload arrives, so an oversized message is never buffered.
 */
export function limitMessageSize(maxBytes: number): OperatorFunction<FramePart, FramePart> {
  return (source: Observable<FramePart>) => lift(source, (destination) => new LimitMessageSizeSubscriber(destination, maxBytes));
}

class LimitMessageSizeSubscriber extends Subscriber<FramePart> {
  private total = 0;
  /** A fragmented message is open: its total carries over to the next continuation. */
  private open = false;

  constructor(
    destination: Subscriber<FramePart>,
    private readonly maxBytes: number,
  ) {
    super(destination);
  }

  protected override _next(part: FramePart): void {
    if (part.first && !isControlOpcode(part.opcode)) {
      // A continuation with no message open starts from 0 (the assembler then fails it with 1002).
      this.total = part.opcode === Opcode.Continuation && this.open ? this.total + part.length : part.length;
      this.open = !part.fin;
      if (this.total > this.maxBytes) {
        this.error(
          new ProtocolError('WS_ERR_MESSAGE_TOO_BIG', CloseCode.MessageTooBig, `message larger than ${this.maxBytes} bytes`),
        );
        return;
      }
    }
    this.destination.next(part);
  }
}
