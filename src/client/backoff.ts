import { asyncScheduler, defer, map, type Observable, type SchedulerLike, switchMap, timer } from 'rxjs';

export interface ReconnectOptions {
  /** Ceiling of the first delay (ms). Default 500. */
  readonly initialDelay?: number;
  /** No delay's ceiling goes past this (ms). Default 10 000. */
  readonly maxDelay?: number;
  /** The ceiling grows by this per failed attempt. Default 2. */
  readonly factor?: number;
  /** How much of the delay is random: `true` or 1 = full jitter (0 … ceiling), `false` or 0 = none. Default true. */
  readonly jitter?: boolean | number;
  /** A connection open at least this long counts as stable: the next drop starts over at `initialDelay` (ms). Default 5 000. */
  readonly stableAfter?: number;
}

/** One connection that ended, and how long it was open (0: it never opened). */
export interface Drop {
  readonly uptime: number;
}

/**
 * The wait before reconnect attempt `attempt` (0-based): the ceiling
 * initialDelay · factor^attempt, capped at maxDelay, of which the `jitter`
 * share is random ("full jitter" spreads the clients of a restarted node).
 */
export function reconnectDelay(attempt: number, options: ReconnectOptions = {}, random: () => number = Math.random): number {
  const { initialDelay = 500, maxDelay = 10_000, factor = 2, jitter = true } = options;
  const share = jitter === true ? 1 : jitter === false ? 0 : Math.min(Math.max(jitter, 0), 1);
  // factor ** attempt may reach Infinity; Math.min keeps the cap either way.
  const ceiling = Math.min(initialDelay * factor ** attempt, maxDelay);
  return ceiling * (1 - share + share * random());
}

/**
 * Drops → reconnect attempts: each drop is answered, after `reconnectDelay(n)`,
 * by the attempt number n, where n counts the drops since the last stable
 * connection. A new drop while a wait runs replaces it (switchMap).
 */
export function reconnectBackoff(options: ReconnectOptions = {}, scheduler: SchedulerLike = asyncScheduler, random: () => number = Math.random) {
  const stableAfter = options.stableAfter ?? 5000;
  return (drops$: Observable<Drop>): Observable<number> =>
    defer(() => {
      // Per subscription: one client's failures never slow down another's.
      let attempt = 0;
      return drops$.pipe(
        switchMap(({ uptime }) => {
          if (uptime >= stableAfter) attempt = 0;
          const n = attempt++;
          return timer(reconnectDelay(n, options, random), scheduler).pipe(map(() => n));
        }),
      );
    });
}
