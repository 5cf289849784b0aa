import { Observable, Subscriber } from 'rxjs';

/**
 * Builds an operator's output from a Subscriber subclass, the way RxJS's own
 * operators are built: through `lift`, so the source's Observable subclass
 * (e.g. a connection's guarded streams) carries through a `pipe()`, and with
 * one Subscriber object per subscription instead of a closure per callback.
 */
export function lift<T, R>(source: Observable<T>, subscriberFor: (destination: Subscriber<R>) => Subscriber<T>): Observable<R> {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- lift is how RxJS 7 operators keep the source's type
  return source.lift<R>({
    call(destination: Subscriber<R>, liftedSource: Observable<T>) {
      return liftedSource.subscribe(subscriberFor(destination));
    },
  });
}
