import { asyncScheduler, type MonoTypeOperatorFunction, type Observable, type SchedulerLike, Subscriber } from 'rxjs';
import { CloseCode, ProtocolError } from '../protocol/errors.js';
import { lift } from './lift.js';

export interface RateLimitOptions<T = unknown> {
  /** Messages allowed per window (the bucket's refill). */
  readonly limit: number;
  /** Window length in ms. Default 1000. */
  readonly window?: number;
  /** Bucket size: how many may pass at once. Default `limit`. */
  readonly burst?: number;
  /**
   * 'drop' (default): excess values are dropped and `onLimited` is called at
   * most once per window. 'close': the stream errors with a ProtocolError 1008.
   */
  readonly policy?: 'drop' | 'close';
  readonly onLimited?: (dropped: unknown) => void;
  /** Called for every value dropped (to count them), unlike `onLimited`. */
  readonly onDrop?: (dropped: T) => void;
  /** Clock source; a TestScheduler in marble tests. */
  readonly scheduler?: SchedulerLike;
}

/**
 * Token-bucket rate limit. No timers: the bucket refills from the scheduler's
 * clock when a value arrives, so an idle stream costs nothing.
 */
export function rateLimit<T>(options: RateLimitOptions<T>): MonoTypeOperatorFunction<T> {
  const window = options.window ?? 1000;
  const burst = options.burst ?? options.limit;
  if (!(options.limit > 0) || !(window > 0) || !(burst >= 1)) throw new RangeError('rateLimit needs limit > 0, window > 0, burst >= 1');
  return (source: Observable<T>) => lift(source, (destination) => new RateLimitSubscriber(destination, options, window, burst));
}

class RateLimitSubscriber<T> extends Subscriber<T> {
  private readonly scheduler: SchedulerLike;
  private readonly perMs: number;
  private tokens: number;
  private last: number;
  private lastReport = -Infinity;

  constructor(
    destination: Subscriber<T>,
    private readonly options: RateLimitOptions<T>,
    private readonly window: number,
    private readonly burst: number,
  ) {
    super(destination);
    this.scheduler = options.scheduler ?? asyncScheduler;
    this.perMs = options.limit / window;
    this.tokens = burst;
    this.last = this.scheduler.now();
  }

  protected override _next(value: T): void {
    const now = this.scheduler.now();
    this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.perMs);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.destination.next(value);
      return;
    }
    if (this.options.policy === 'close') {
      this.error(new ProtocolError('WS_ERR_RATE_LIMITED', CloseCode.PolicyViolation, 'rate limit exceeded'));
      return;
    }
    this.options.onDrop?.(value);
    if (now - this.lastReport >= this.window) {
      this.lastReport = now;
      this.options.onLimited?.(value);
    }
  }
}
