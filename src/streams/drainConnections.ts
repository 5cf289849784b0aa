import { asyncScheduler, Observable, type SchedulerLike, type Subscription } from 'rxjs';

/** What a graceful shutdown needs of a connection. */
export interface Drainable {
  /** Starts the close handshake; already-queued messages go out first. */
  close(code: number, reason: string): void;
  /** Ends the socket now. */
  terminate(): void;
  /** Emits once when the connection is fully closed. */
  readonly closed$: Observable<unknown>;
}

/**
 * Graceful shutdown as one stream: sends close (default 1001) to every
 * connection, emits each connection as it finishes closing, terminates those
 * still open after `grace` ms, and completes when the last one is gone — the
 * merged completion of every connection's close handshake.
 */
export function drainConnections<C extends Drainable>(
  connections: Iterable<C>,
  grace: number,
  scheduler: SchedulerLike = asyncScheduler,
  code = 1001,
  reason = 'server shutting down',
): Observable<C> {
  return new Observable<C>((subscriber) => {
    const open = new Set<C>(connections);
    const subscriptions: Subscription[] = [];
    const done = (conn: C) => {
      if (!open.delete(conn)) return;
      subscriber.next(conn);
      if (open.size === 0) subscriber.complete();
    };
    for (const conn of [...open]) {
      subscriptions.push(conn.closed$.subscribe({ next: () => done(conn), complete: () => done(conn) }));
    }
    if (open.size === 0) {
      subscriber.complete();
      return;
    }
    for (const conn of [...open]) conn.close(code, reason);
    const force = scheduler.schedule(() => {
      for (const conn of [...open]) conn.terminate();
    }, grace);
    return () => {
      force.unsubscribe();
      for (const s of subscriptions) s.unsubscribe();
    };
  });
}
