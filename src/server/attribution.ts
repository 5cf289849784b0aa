import { config } from 'rxjs';
// RxJS reports an exception thrown in a plain (unguarded) subscriber — e.g. at
// the end of merge(conn.messages$, other$) — through timeoutProvider, later, on
// a fresh stack. The scheduling itself happens synchronously, inside our
// delivery, so a delegate installed for the length of a delivery knows which
// connection the fault belongs to. (In Node, 'rxjs' and 'rxjs/internal/*' both
// resolve to the CommonJS build: one timeoutProvider.)
import { timeoutProvider } from 'rxjs/internal/scheduler/timeoutProvider';

/** Whoever owns the code being run: a connection, whose fault closes it with 1011. */
export interface FaultOwner {
  fault(err: unknown): void;
}

type Delegate = typeof timeoutProvider.delegate;

let owner: FaultOwner | undefined;
// The delegate that was in place when the outermost delivery began (a TestScheduler's, or none).
let outer: Delegate;

const attributing: NonNullable<Delegate> = {
  setTimeout(handler: (...args: unknown[]) => void, timeout?: number, ...args: unknown[]) {
    const faultOwner = owner!;
    const run = () => {
      // Only RxJS's own reports go through timeoutProvider: while this one runs,
      // an unhandled error goes to the connection instead of the process.
      const previous = config.onUnhandledError;
      config.onUnhandledError = (err) => faultOwner.fault(err);
      try {
        handler(...args);
      } finally {
        config.onUnhandledError = previous;
      }
    };
    return outer?.setTimeout ? outer.setTimeout(run, timeout) : setTimeout(run, timeout);
  },
  clearTimeout(handle) {
    if (outer?.clearTimeout) outer.clearTimeout(handle);
    else clearTimeout(handle as NodeJS.Timeout);
  },
};

/**
 * @internal until `endAttribution`, RxJS's unhandled-error reports belong to
 * `next`. Returns the previous owner (deliveries nest: a publish inside a
 * message handler delivers to room subscribers).
 */
export function beginAttribution(next: FaultOwner): FaultOwner | undefined {
  const previous = owner;
  if (previous === undefined) {
    outer = timeoutProvider.delegate;
    timeoutProvider.delegate = attributing;
  }
  owner = next;
  return previous;
}

/** @internal */
export function endAttribution(previous: FaultOwner | undefined): void {
  owner = previous;
  if (previous === undefined) {
    timeoutProvider.delegate = outer;
    outer = undefined;
  }
}
