/**
 * Waiting for a condition that event handlers make true: `until` re-checks it
 * whenever `wake()` is called, up to a deadline. No polling, no sleeps.
 */
export class Waiter {
  private waiters: (() => void)[] = [];

  /** Resolves when `ready()` holds; rejects after `timeoutMs`, or at once when `abort()` returns a reason. */
  async until(ready: () => boolean, timeoutMs: number, what: string, abort?: () => string | undefined): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!ready()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      const reason = abort?.();
      if (reason !== undefined) throw new Error(`${reason} while waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Something changed: let every waiter re-check. */
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Polls `ready` every 5 ms until true (rejects after `timeoutMs`): for conditions no event announces. */
export async function until(ready: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const waiter = new Waiter();
  const timer = setInterval(() => waiter.wake(), 5);
  try {
    await waiter.until(ready, timeoutMs, what);
  } finally {
    clearInterval(timer);
  }
}
