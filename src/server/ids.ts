import { randomFillSync } from 'node:crypto';

const ID_BYTES = 12; // 96 bits: unguessable, and unique across the nodes of a cluster without coordination
const POOL_IDS = 256;
const pool = Buffer.allocUnsafe(ID_BYTES * POOL_IDS);
let next = POOL_IDS;

/**
 * @internal a new connection id: 96 random bits, URL-safe base64 (16
 * characters). One CSPRNG call per 256 ids.
 */
export function newConnectionId(): string {
  if (next === POOL_IDS) {
    randomFillSync(pool);
    next = 0;
  }
  const start = next++ * ID_BYTES;
  return pool.toString('base64url', start, start + ID_BYTES);
}
