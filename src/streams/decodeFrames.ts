import { type Observable, type OperatorFunction, Subscriber } from 'rxjs';
import { FrameDecoder, type FrameDecoderOptions, type FramePart } from '../protocol/frame-decoder.js';
import { lift } from './lift.js';

/**
 * Bytes → frame parts. Works per chunk: zero-copy slices of the chunks, only a
 * header that straddles chunks is copied. Errors with a ProtocolError (which
 * carries the close code) on the first frame that breaks a rule.
 */
export function decodeFrames(options?: FrameDecoderOptions): OperatorFunction<Buffer, FramePart> {
  return (source: Observable<Buffer>) => lift(source, (destination) => new DecodeFramesSubscriber(destination, options));
}

class DecodeFramesSubscriber extends Subscriber<Buffer> {
  private readonly decoder: FrameDecoder;
  private readonly emit: (part: FramePart) => boolean;

  constructor(destination: Subscriber<FramePart>, options?: FrameDecoderOptions) {
    super(destination);
    this.decoder = new FrameDecoder(options);
    this.emit = (part) => {
      destination.next(part);
      return !this.closed;
    };
  }

  protected override _next(chunk: Buffer): void {
    try {
      this.decoder.push(chunk, this.emit);
    } catch (err) {
      this.error(err);
    }
  }
}
