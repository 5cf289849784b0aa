import { asyncScheduler, concat, distinctUntilChanged, EMPTY, of, type OperatorFunction, type SchedulerLike, switchMap, timer } from 'rxjs';

/**
 * From a stream of "is the link up?" flags: a tick at once each time the link
 * comes up (so that a node re-registers without waiting a period), then one
 * every `period` ms while it stays up; nothing while it is down. Repeated
 * flags change nothing. The ticks count from 0 again after each reconnect.
 * Completes when the flags complete.
 */
export function tickWhileUp(period: number, scheduler: SchedulerLike = asyncScheduler): OperatorFunction<boolean, number> {
  // A final "down" when the flags complete ends the ticks, so the result completes too.
  return (up$) => concat(up$, of(false)).pipe(
    distinctUntilChanged(),
    switchMap((up) => (up ? timer(0, period, scheduler) : EMPTY)),
  );
}

/**
 * Reconnect backoff for the Redis links: 100 ms after the first failure,
 * doubling up to 1 s, never giving up. Capped low because PROTOCOL.md wants the
 * cluster whole again within 5 s of Redis coming back.
 */
export const reconnectDelay = (attempt: number): number => Math.min(100 * 2 ** Math.max(0, attempt - 1), 1000);
