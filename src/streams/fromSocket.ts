import type { Socket } from 'node:net';
import { Observable, type Subscriber } from 'rxjs';

// The subscriber rides on the socket, so the listeners are shared functions
// rather than four closures per connection (idle connections should cost little).
const kSubscriber = Symbol('rxws.subscriber');
type SubscribedSocket = Socket & { [kSubscriber]?: Subscriber<Buffer> };

function onData(this: SubscribedSocket, chunk: Buffer): void {
  this[kSubscriber]?.next(chunk);
}
function onEnd(this: SubscribedSocket): void {
  this[kSubscriber]?.complete();
}
function onError(this: SubscribedSocket, err: Error): void {
  this[kSubscriber]?.error(err);
}

/**
 * A socket's incoming bytes as an Observable of chunks: `head` first (bytes
 * that arrived with the upgrade request), then every 'data' chunk. Completes
 * when the peer ends or the socket closes, errors on a socket error.
 * Unsubscribing destroys the socket, unless it is already being ended
 * gracefully (then it keeps reading and dropping bytes until the peer closes,
 * so that unread data never turns the close into a reset).
 */
export function fromSocket(socket: Socket, head?: Buffer): Observable<Buffer> {
  return new Observable<Buffer>((subscriber) => {
    const s = socket as SubscribedSocket;
    if (s[kSubscriber] !== undefined) throw new Error('fromSocket: this socket already has a subscriber');
    s[kSubscriber] = subscriber;
    s.on('data', onData);
    s.on('end', onEnd);
    s.on('close', onEnd);
    s.on('error', onError);
    if (head !== undefined && head.length > 0) subscriber.next(head);
    return teardown.bind(s);
  });
}

function teardown(this: SubscribedSocket): void {
  this[kSubscriber] = undefined;
  this.off('data', onData);
  this.off('end', onEnd);
  this.off('close', onEnd);
  this.off('error', onError);
  if (!this.writableEnded) this.destroy();
  else this.resume();
}
