import { config, filter, map, Observable, type Subscriber, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterEach, beforeEach, describe, expect, it, type Mock, vi } from 'vitest';
import { GuardedObservable } from '../../src/server/guarded.js';

// RxJS reports an exception it cannot deliver through `config.onUnhandledError`,
// on a timeout. In TestScheduler.run that timeout is virtual, so when run()
// returns, any such report has already happened: no real waiting needed.
let unhandled: Mock<(err: unknown) => void>;
let savedOnUnhandledError: typeof config.onUnhandledError;
beforeEach(() => {
  savedOnUnhandledError = config.onUnhandledError;
  unhandled = vi.fn<(err: unknown) => void>();
  config.onUnhandledError = unhandled;
});
afterEach(() => {
  config.onUnhandledError = savedOnUnhandledError;
});

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** A guarded view of `source`, the way a connection wraps its streams. */
function guard<T>(source: Observable<T>, onFault: (err: unknown) => void): GuardedObservable<T> {
  return new GuardedObservable<T>((subscriber: Subscriber<T>) => source.subscribe(subscriber), onFault);
}

describe('GuardedObservable', () => {
  it('control: a plain Observable with a throwing subscriber reaches RxJS unhandled-error path', () => {
    // Proves the spy below would see the report if the guard let it through.
    const boom = new Error('boom');
    newScheduler().run(({ cold }) => {
      cold('-a').subscribe(() => {
        throw boom;
      });
    });
    expect(unhandled).toHaveBeenCalledWith(boom);
  });

  it("catches an exception thrown in a subscriber's next: onFault once, other subscribers unaffected", () => {
    const boom = new Error('boom');
    const onFault = vi.fn();
    const others: string[] = [];
    newScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-|');
      const guarded = guard(source, onFault);
      guarded.subscribe((v) => {
        if (v === 'b') throw boom;
      });
      guarded.subscribe((v) => others.push(v));
      expectObservable(guarded).toBe('-a-b-c-|');
    });
    expect(onFault).toHaveBeenCalledTimes(1);
    expect(onFault).toHaveBeenCalledWith(boom);
    expect(others).toEqual(['a', 'b', 'c']);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('keeps the guard through pipe(): an exception in a map projection calls onFault once', () => {
    const boom = new Error('projection failed');
    const onFault = vi.fn();
    const others: string[] = [];
    newScheduler().run(({ hot, expectObservable }) => {
      const source = hot('-a-b-c-|');
      const guarded = guard(source, onFault);
      const piped = guarded.pipe(
        filter(() => true),
        map((v) => {
          if (v === 'b') throw boom;
          return v.toUpperCase();
        }),
      );
      expect(piped).toBeInstanceOf(GuardedObservable);
      piped.subscribe(() => {});
      guarded.pipe(map((v) => v.toUpperCase())).subscribe((v) => others.push(v));
      // The failing chain itself ends with the error at b.
      expectObservable(piped).toBe('-A-#', undefined, boom);
    });
    // Twice subscribed in total (the subscribe() above, and expectObservable's,
    // which has its own error handler): only the one without a handler faults.
    expect(onFault).toHaveBeenCalledTimes(1);
    expect(onFault).toHaveBeenCalledWith(boom);
    expect(others).toEqual(['A', 'B', 'C']);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it("catches an exception in the final next of a piped chain", () => {
    const boom = new Error('boom');
    const onFault = vi.fn();
    newScheduler().run(({ hot }) => {
      guard(hot<string>('-a-b-|'), onFault)
        .pipe(map((v) => v + v))
        .subscribe({
          next: (v) => {
            if (v === 'aa') throw boom;
          },
        });
    });
    expect(onFault).toHaveBeenCalledTimes(1);
    expect(onFault).toHaveBeenCalledWith(boom);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('hands an error notification to onFault when the subscriber has no error handler', () => {
    const failure = new Error('source failed');
    const onFault = vi.fn();
    const others: string[] = [];
    newScheduler().run(({ cold }) => {
      const source = new Subject<string>();
      const guarded = guard(source, onFault);
      guarded.subscribe((v) => others.push(v)); // next only
      guarded.subscribe({ next: () => {}, complete: () => {} }); // observer without error
      cold('-a-#', undefined, failure).subscribe(source);
    });
    expect(onFault).toHaveBeenCalledTimes(2); // once per subscriber that has no handler
    expect(onFault.mock.calls).toEqual([[failure], [failure]]);
    expect(others).toEqual(['a']);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it("delivers an error to the subscriber's own error handler, and guards that handler too", () => {
    const failure = new Error('source failed');
    const inHandler = new Error('handler failed');
    const onFault = vi.fn();
    const received: unknown[] = [];
    newScheduler().run(({ cold }) => {
      guard(cold('-#', undefined, failure), onFault).subscribe({ error: (e) => received.push(e) });
      guard(cold('-#', undefined, failure), onFault).subscribe({
        error: () => {
          throw inHandler;
        },
      });
    });
    expect(received).toEqual([failure]);
    expect(onFault).toHaveBeenCalledTimes(1);
    expect(onFault).toHaveBeenCalledWith(inHandler);
    expect(unhandled).not.toHaveBeenCalled();
  });

  it('catches an exception thrown in a complete handler', () => {
    const boom = new Error('boom');
    const onFault = vi.fn();
    newScheduler().run(({ cold }) => {
      guard(cold('-a|'), onFault).subscribe({
        complete: () => {
          throw boom;
        },
      });
    });
    expect(onFault).toHaveBeenCalledWith(boom);
    expect(onFault).toHaveBeenCalledTimes(1);
    expect(unhandled).not.toHaveBeenCalled();
  });
});
