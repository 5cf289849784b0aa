import { type MonoTypeOperatorFunction, Observable, Subscription } from 'rxjs';

/** One part of a replay: messages oldest first, and the offset the replay has covered up to with them. */
export interface ReplayPage<T> {
  readonly messages: readonly T[];
  /** Everything up to here is covered (at least the last message's offset; the read position when there are none). */
  readonly offset: number;
}

export interface ReplayThenLiveOptions<T> {
  /** A message's offset in its room (consecutive per room and epoch). */
  readonly offsetOf: (message: T) => number;
  /** Called once, right after the replay and the live messages held during it are emitted: from then on live passes straight through. */
  readonly onLive?: () => void;
}

/**
 * A room's history and its live messages as one stream, with no gap and no
 * repeat. `concat(replay$, live$)` would lose what is published between the
 * read and the subscription, so: subscribe to live first and hold what
 * arrives, then read `replay$` and emit it, then emit the held live messages
 * past what the replay covered, then pass live through (still dropping any
 * offset the replay covered, which a slow cluster link may deliver late).
 *
 * A replay that errors errors the stream after what it emitted (the live
 * subscription ends too: the consumer decides what comes next). Unsubscribing
 * ends both and drops what was held. Live completing during the replay
 * completes the stream after the replay and the held messages.
 */
export function replayThenLive<T>(replay$: Observable<ReplayPage<T>>, options: ReplayThenLiveOptions<T>): MonoTypeOperatorFunction<T> {
  const { offsetOf, onLive } = options;
  return (live$) =>
    new Observable<T>((subscriber) => {
      let held: T[] | undefined = [];
      let liveCompleted = false;
      let covered = -Infinity;
      // One parent: live completing during the replay must not end the replay's subscription with its own.
      const subscription = new Subscription();
      subscription.add(live$.subscribe({
        next: (message) => {
          if (held !== undefined) held.push(message);
          else if (offsetOf(message) > covered) subscriber.next(message);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          if (held === undefined) subscriber.complete();
          else liveCompleted = true;
        },
      }));
      subscription.add(
        replay$.subscribe({
          next: (page) => {
            for (const message of page.messages) {
              if (subscriber.closed) return;
              subscriber.next(message);
              covered = Math.max(covered, offsetOf(message));
            }
            covered = Math.max(covered, page.offset);
          },
          error: (err: unknown) => subscriber.error(err),
          complete: () => {
            const caughtUp = held ?? [];
            held = undefined;
            for (const message of caughtUp) {
              if (subscriber.closed) return;
              if (offsetOf(message) > covered) subscriber.next(message);
            }
            onLive?.();
            if (liveCompleted) subscriber.complete();
          },
        }),
      );
      return subscription;
    });
}
