import { concatMap, Observable, type OperatorFunction, type Subscription } from 'rxjs';

/** What `writeTo` needs of a connection (a `Connection` is one). */
export interface WriteTarget {
  /** Queues one message: 'queued', or why not. */
  trySend(data: string | Uint8Array): 'queued' | 'full' | 'closed';
  /** A message may be sent now without going over the budget's low-water mark. */
  readonly writable: boolean;
  /** Emits when the outbound falls back to its low-water mark; completes when the connection closes. */
  readonly drain$: Observable<unknown>;
}

/**
 * A source that is pulled, one message at a time: an array, a generator, an
 * async generator, a Node `Readable` (its chunks become binary messages).
 * RxJS Observables push and cannot be paused, so a stream larger than the
 * budget has to come from something that waits to be asked.
 */
export type PullSource<D> = Iterable<D> | AsyncIterable<D>;

/** `writeTo`/`streamTo` stopped because the connection stopped accepting messages. */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
  constructor(
    /** Messages sent before it closed. */
    readonly sent: number,
  ) {
    super(`the connection closed after ${sent} messages of the stream`);
  }
}

/**
 * Sends a pulled source to `target` at full speed without polling and without
 * tripping its budget: the next value is pulled only while `target.writable`;
 * otherwise it waits for one `target.drain$`. Never holds more than the one
 * value being sent. Emits the number of messages sent when the source is
 * exhausted, then completes; errors with ConnectionClosedError if the
 * connection closes first, or with whatever the source throws.
 * Unsubscribing stops pulling and calls the iterator's `return()` (a
 * generator's `finally` runs, a Readable is destroyed).
 */
export function streamTo<D extends string | Uint8Array>(target: WriteTarget, source: PullSource<D>): Observable<number> {
  return new Observable<number>((subscriber) => {
    let sent = 0;
    let stopped = false;
    let waiting: Subscription | null = null;

    /** Sends one value; false (and the stream has errored) if the connection refused it. */
    const send = (value: D): boolean => {
      const result = target.trySend(value);
      if (result === 'queued') {
        sent++;
        return true;
      }
      stopped = true;
      subscriber.error(result === 'closed' ? new ConnectionClosedError(sent) : new Error('writeTo: the outbound budget is full'));
      return false;
    };
    /** Calls `resume` at the next drain; errors if the connection closes instead. */
    const waitForDrain = (resume: () => void): void => {
      let drained = false;
      let subscription: Subscription | undefined;
      subscription = target.drain$.subscribe({
        next: () => {
          if (drained) return;
          drained = true;
          subscription?.unsubscribe();
          if (waiting === subscription) waiting = null;
          resume();
        },
        complete: () => {
          if (drained || stopped) return;
          stopped = true;
          subscriber.error(new ConnectionClosedError(sent));
        },
      });
      if (drained) subscription.unsubscribe(); // drain$ emitted synchronously on subscribe
      else waiting = subscription;
    };
    const finish = (): void => {
      stopped = true;
      subscriber.next(sent);
      subscriber.complete();
    };

    let iterator: Iterator<D> | AsyncIterator<D>;
    if (Symbol.asyncIterator in source) {
      const it = source[Symbol.asyncIterator]();
      iterator = it;
      const drain = (): Promise<void> => new Promise((resolve) => waitForDrain(resolve));
      const pump = async (): Promise<void> => {
        while (!stopped) {
          if (!target.writable) {
            await drain();
            continue;
          }
          const step = await it.next();
          if (stopped) return;
          if (step.done) return finish();
          if (!send(step.value)) return;
        }
      };
      pump().catch((err: unknown) => {
        if (stopped) return;
        stopped = true;
        subscriber.error(err);
      });
    } else {
      const it = source[Symbol.iterator]();
      iterator = it;
      // Synchronous: as many values as fit go out in this turn, the rest after each drain.
      const pump = (): void => {
        try {
          while (!stopped) {
            if (!target.writable) return waitForDrain(pump);
            const step = it.next();
            if (step.done) return finish();
            if (!send(step.value)) return;
          }
        } catch (err) {
          stopped = true;
          subscriber.error(err);
        }
      };
      pump();
    }

    return () => {
      const interrupted = !stopped;
      stopped = true;
      (waiting as Subscription | null)?.unsubscribe();
      if (!interrupted) return;
      try {
        void Promise.resolve(iterator.return?.()).catch(() => {});
      } catch {
        // the source's own cleanup failed: nothing to report it to after unsubscribe
      }
    };
  });
}

/**
 * The operator form of `streamTo`: each upstream value is a whole pulled
 * source (a generator, a Readable…), sent to `target` after the previous one
 * is done (concatMap). Upstream values are therefore the streams, not their
 * messages: the messages themselves are pulled, so nothing is buffered.
 */
export function writeTo<D extends string | Uint8Array>(target: WriteTarget): OperatorFunction<PullSource<D>, number> {
  return concatMap((source: PullSource<D>) => streamTo(target, source));
}
