import type { Subscription } from 'rxjs';
import type { WebSocketServer } from './server.js';

/** Echo behaviour: every message goes back unchanged, with the same type (text or binary). */
export function echo<S>(server: WebSocketServer<S>): Subscription {
  return server.connections$.subscribe((conn) => {
    conn.incoming$.subscribe((message) => conn.sendMessage(message.opcode, message.payload));
  });
}
