import { asyncScheduler, defer, map, mergeMap, type Observable, type SchedulerLike, timer } from 'rxjs';

export interface BackoffOptions {
  /** Delay before the first restart after a stable run (ms). Default 100. */
  readonly initialDelay?: number;
  /** The delay doubles per quick failure up to this (ms). Default 5 000. */
  readonly maxDelay?: number;
  /** A run at least this long counts as stable: the next restart starts over at `initialDelay` (ms). Default 10 000. */
  readonly stableAfter?: number;
}

/** One process that ended: which slot it filled and how long it ran. */
export interface SlotExit<K> {
  readonly slot: K;
  /** How long it ran before it ended (ms). */
  readonly uptime: number;
}

/** The delay before restart number `attempt` (0-based) of a run of quick failures: initial · 2^attempt, capped. */
export function backoffDelay(attempt: number, initialDelay: number, maxDelay: number): number {
  // 2 ** 1024 is Infinity; Math.min keeps the cap either way.
  return Math.min(initialDelay * 2 ** attempt, maxDelay);
}

/**
 * Restarts with exponential backoff, per slot: each exit is re-emitted as its
 * slot after `backoffDelay(n)`, where n counts that slot's consecutive quick
 * failures (runs shorter than `stableAfter`). A crash loop costs at most one
 * restart per `maxDelay`; a process that ran stably is restarted quickly.
 * Unsubscribing (e.g. at shutdown) cancels the restarts still waiting.
 */
export function restartWithBackoff<K>(options: BackoffOptions = {}, scheduler: SchedulerLike = asyncScheduler) {
  const initialDelay = options.initialDelay ?? 100;
  const maxDelay = options.maxDelay ?? 5000;
  const stableAfter = options.stableAfter ?? 10_000;
  return (exits$: Observable<SlotExit<K>>): Observable<K> =>
    defer(() => {
      // Per subscription, so that state never outlives (or leaks between) supervisors.
      const quickFailures = new Map<K, number>();
      return exits$.pipe(
        mergeMap(({ slot, uptime }) => {
          const attempt = uptime >= stableAfter ? 0 : (quickFailures.get(slot) ?? 0);
          quickFailures.set(slot, attempt + 1);
          return timer(backoffDelay(attempt, initialDelay, maxDelay), scheduler).pipe(map(() => slot));
        }),
      );
    });
}
