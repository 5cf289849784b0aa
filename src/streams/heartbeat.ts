import { asyncScheduler, interval, mergeMap, type Observable, type SchedulerLike } from 'rxjs';

/** Anything the heartbeat can watch: a counter that moves when the peer sends anything. */
export interface HeartbeatTarget {
  /**
   * E.g. the socket's bytesRead: any traffic, a pong included, proves the
   * peer is alive. null: not to be judged now (e.g. the application paused
   * reading, so a pong could not be seen); the target is then neither pinged
   * nor timed out, and gets a whole period again once it returns a number.
   */
  activity(): number | null;
}

export interface HeartbeatAction<T> {
  /** 'ping': idle for a whole period, ping it. 'timeout': no traffic for a period after the ping. */
  readonly kind: 'ping' | 'timeout';
  readonly target: T;
}

/**
 * One shared sweep over every target each `period` ms (no timer per
 * connection): a target with no traffic since the last sweep gets a 'ping';
 * one still silent at the next sweep gets a 'timeout'. A new target is first
 * seen at a sweep, so it gets at least one full period before its ping.
 */
export function heartbeat<T extends HeartbeatTarget>(
  targets: () => Iterable<T>,
  period: number,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<HeartbeatAction<T>> {
  const seen = new WeakMap<T, { activity: number; pinged: boolean }>();
  return interval(period, scheduler).pipe(
    mergeMap(() => {
      const actions: HeartbeatAction<T>[] = [];
      for (const target of targets()) {
        const activity = target.activity();
        const state = seen.get(target);
        if (activity === null) {
          if (state !== undefined) seen.delete(target);
        } else if (state === undefined) {
          seen.set(target, { activity, pinged: false });
        } else if (state.activity !== activity) {
          state.activity = activity;
          state.pinged = false;
        } else if (state.pinged) {
          actions.push({ kind: 'timeout', target });
        } else {
          state.pinged = true;
          actions.push({ kind: 'ping', target });
        }
      }
      return actions;
    }),
  );
}
