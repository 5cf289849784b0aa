import type { Socket } from 'node:net';

/** A timer callback that ends a socket now (no closure per socket: `setTimeout(destroySocket, ms, socket)`). */
export function destroySocket(socket: Socket): void {
  socket.destroy();
}
