import type { Socket } from 'node:net';
import { Observable } from 'rxjs';

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
    const onData = (chunk: Buffer) => subscriber.next(chunk);
    const onEnd = () => subscriber.complete();
    const onError = (err: Error) => subscriber.error(err);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    if (head !== undefined && head.length > 0) subscriber.next(head);
    return () => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      if (!socket.writableEnded) socket.destroy();
      else socket.resume();
    };
  });
}
