import { Observable, type Observer, type Operator, Subscriber, type Subscription, type TeardownLogic } from 'rxjs';

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
    private readonly onFault: (err: unknown) => void,
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
    const onFault = this.onFault;
    return super.subscribe({
      next: (value) => {
        try {
          observer.next?.(value);
        } catch (err) {
          onFault(err);
        }
      },
      error: (err) => {
        if (observer.error === undefined) return onFault(err);
        try {
          observer.error(err);
        } catch (err2) {
          onFault(err2);
        }
      },
      complete: () => {
        try {
          observer.complete?.();
        } catch (err) {
          onFault(err);
        }
      },
    });
  }
}
