import { FanoutFrames } from './compression.js';
import type { Connection } from './connection.js';

export { encodeMessage } from '../protocol/frame-encoder.js';

/**
 * Fan-out, the one place every publish, broadcast and remote delivery goes
 * through: `data` framed once (plus compressed once for recipients that
 * agreed permessage-deflate without server context takeover), the same bytes
 * queued on every recipient but `except`. Returns how many it was queued for
 * (a slow recipient past its budget is skipped, never waited for).
 */
export function sendToAll<S>(recipients: Iterable<Connection<S>>, data: string | Uint8Array, except?: Connection<S>): number {
  const frames = new FanoutFrames(data);
  let delivered = 0;
  for (const conn of recipients) if (conn !== except && conn.sendFrame(frames.frameFor(conn.deflateSession ?? null))) delivered++;
  return delivered;
}
