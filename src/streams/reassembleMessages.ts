import { type Observable, type OperatorFunction, Subscriber } from 'rxjs';
import type { FramePart } from '../protocol/frame-decoder.js';
import { MessageAssembler, type Message } from '../protocol/message-assembler.js';
import { lift } from './lift.js';

/**
 * Frame parts → whole messages: continuation frames joined into their text or
 * binary message (text UTF-8-validated as it arrives), control frames passed
 * through whole, even between the fragments of a message. Errors with a
 * ProtocolError (1002 for fragmentation rules, 1007 for invalid UTF-8).
 */
export function reassembleMessages(): OperatorFunction<FramePart, Message> {
  return (source: Observable<FramePart>) => lift(source, (destination) => new ReassembleMessagesSubscriber(destination));
}

class ReassembleMessagesSubscriber extends Subscriber<FramePart> {
  private readonly assembler = new MessageAssembler();

  protected override _next(part: FramePart): void {
    let message: Message | undefined;
    try {
      message = this.assembler.push(part);
    } catch (err) {
      this.error(err);
      return;
    }
    if (message !== undefined) this.destination.next(message);
  }
}
