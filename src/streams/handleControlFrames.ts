import { type Observable, type OperatorFunction, Subscriber } from 'rxjs';
import { parseClosePayload } from '../protocol/close.js';
import type { Message } from '../protocol/message-assembler.js';
import { Opcode } from '../protocol/opcode.js';
import { lift } from './lift.js';

/** What the connection does with each control frame. */
export interface ControlFrameHandler {
  /** A ping: answer with a pong carrying the same payload. */
  ping(payload: Buffer): void;
  pong(payload: Buffer): void;
  /** The peer's close frame (code undefined when it had no payload). */
  close(code: number | undefined, reason: string): void;
}

/**
 * Takes control frames out of the message stream and hands them to `handler`
 * (ping → pong, close → close handshake); only text and binary messages go
 * on. A close frame ends the stream: nothing after it is a message. A close
 * frame with a bad payload errors with a ProtocolError (1002, or 1007 for an
 * invalid UTF-8 reason).
 */
export function handleControlFrames(handler: ControlFrameHandler): OperatorFunction<Message, Message> {
  return (source: Observable<Message>) => lift(source, (destination) => new ControlFramesSubscriber(destination, handler));
}

class ControlFramesSubscriber extends Subscriber<Message> {
  constructor(
    destination: Subscriber<Message>,
    private readonly handler: ControlFrameHandler,
  ) {
    super(destination);
  }

  protected override _next(message: Message): void {
    switch (message.opcode) {
      case Opcode.Text:
      case Opcode.Binary:
        this.destination.next(message);
        return;
      case Opcode.Ping:
        this.handler.ping(message.payload);
        return;
      case Opcode.Pong:
        this.handler.pong(message.payload);
        return;
      default: {
        let close;
        try {
          close = parseClosePayload(message.payload);
        } catch (err) {
          this.error(err);
          return;
        }
        this.handler.close(close.code, close.reason);
        this.complete();
      }
    }
  }
}
