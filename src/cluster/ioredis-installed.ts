import { createRequire } from 'node:module';

/**
 * Throws a clear Error when the ioredis package cannot be found. It is only
 * resolved here, not loaded: loading stays lazy (the first connection to
 * Redis), while a missing package is told at construction, not as a link that
 * never comes up.
 */
export function assertIoredisInstalled(): void {
  try {
    createRequire(import.meta.url).resolve('ioredis');
  } catch {
    throw new Error('rxws: a Redis cluster needs the ioredis package, which cannot be found: npm install ioredis');
  }
}
