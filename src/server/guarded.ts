import { Observable, type Observer, type Operator, Subscriber, type Subscription, type TeardownLogic } from 'rxjs';

/** Where a subscriber's exception goes: a function, or an object with `fault` (no closure needed). */
export type FaultHandler = ((err: unknown) => void) | { fault(err: unknown): void };

const reportFault = (handler: FaultHandler, err: unknown): void => {
  if (typeof handler === 'function') handler(err);
  else handler.fault(err);
};

/**
 * An Observable whose subscribers' exceptions are caught and handed to
 * `onFault` instead of RxJS's unhandled-error report (which would be thrown
 * asynchronously, out of reach, and crash a server). `lift` keeps the class
 * through `pipe()`, so an error thrown in `map(…)` or in the final `next` of a
 * user's chain over a connection's stream reaches that connection only.
 */
export class GuardedObservable<T> extends Observable<T> {
  constructor(
    subscribe: ((this: Observable<T>, subscriber: Subscriber<T>) => TeardownLogic) | undefined,
    private readonly onFault: FaultHandler,
  ) {
    super(subscribe);
  }

  override lift<R>(operator?: Operator<T, R>): Observable<R> {
    const observable = new GuardedObservable<R>(undefined, this.onFault);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- how RxJS 7 chains lifted observables
    observable.source = this;
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    observable.operator = operator;
    return observable;
  }

  override subscribe(
    observerOrNext?: Partial<Observer<T>> | ((value: T) => void) | null,
    error?: ((err: unknown) => void) | null,
    complete?: (() => void) | null,
  ): Subscription {
    // Operator subscribers inside a chain pass straight through; only the
    // user's own callbacks at the end of the chain need the guard.
    if (observerOrNext instanceof Subscriber) return super.subscribe(observerOrNext);
    const observer: Partial<Observer<T>> =
      typeof observerOrNext === 'function' || observerOrNext == null
        ? { next: observerOrNext ?? undefined, error: error ?? undefined, complete: complete ?? undefined }
        : observerOrNext;
    return super.subscribe(new GuardedSubscriber(observer, this.onFault));
  }
}

/** Calls the user's callbacks, catching what they throw: one object, no closures per subscription. */
class GuardedSubscriber<T> extends Subscriber<T> {
  constructor(
    private readonly observer: Partial<Observer<T>>,
    private readonly onFault: FaultHandler,
  ) {
    super();
  }

  protected override _next(value: T): void {
    try {
      // An async callback's rejection is its exception too.
      const result: unknown = this.observer.next?.(value);
      if (result instanceof Promise) result.then(undefined, (err: unknown) => reportFault(this.onFault, err));
    } catch (err) {
      reportFault(this.onFault, err);
    }
  }

  protected override _error(err: unknown): void {
    try {
      if (this.observer.error === undefined) reportFault(this.onFault, err);
      else this.observer.error(err);
    } catch (err2) {
      reportFault(this.onFault, err2);
    } finally {
      this.unsubscribe();
    }
  }

  protected override _complete(): void {
    try {
      this.observer.complete?.();
    } catch (err) {
      reportFault(this.onFault, err);
    } finally {
      this.unsubscribe();
    }
  }
}
