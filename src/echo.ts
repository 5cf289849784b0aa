import type { Observable, Subscription } from 'rxjs';
import type { Message } from './protocol/message-assembler.js';
import { rateLimit } from './streams/rateLimit.js';
import type { WebSocketServer } from './server/server.js';

export interface EchoOptions {
  /** Messages per second per connection (burst of the same); the excess is dropped silently. 0 or undefined: no limit. */
  readonly rateLimit?: number;
}

/** Echo behaviour: every message goes back unchanged, with the same type (text or binary). Nothing else is sent. */
export function echo<S>(server: WebSocketServer<S>, options: EchoOptions = {}): Subscription {
  const limit = options.rateLimit ?? 0;
  return server.connections$.subscribe((conn) => {
    let messages$: Observable<Message> = conn.incoming$;
    if (limit > 0) messages$ = messages$.pipe(rateLimit<Message>({ limit, burst: limit, onDrop: () => server.stats.droppedRateLimited++ }));
    messages$.subscribe((message) => conn.sendMessage(message.opcode, message.payload));
  });
}
