// `--workers N`: N processes of the same command share the port through
// node:cluster. The primary is thin: it forks and supervises the workers,
// relays between them (through an IpcHub, unless Redis does that), prints
// the listening line once, and coordinates the shutdown. It does no
// WebSocket work.
import cluster, { type Worker } from 'node:cluster';
import { Subject, type Subscription } from 'rxjs';
import { type BackoffOptions, restartWithBackoff, type SlotExit } from './backoff.js';
import { type BoundAddress, primaryChannel, receive, type ToPrimary, type WorkerLink, workerLink } from './ipc-channel.js';
import type { IpcHub } from './ipc.js';

/** Environment of a forked worker: its slot, and (once known) the port every worker shares. */
const SLOT_ENV = 'RXWS_WORKER_SLOT';
const PORT_ENV = 'RXWS_WORKER_PORT';
/** How long the shutdown barrier waits for a worker's `drained` (ms). */
const DRAIN_TIMEOUT = 1000;

export interface SupervisorOptions {
  /** How many workers to keep running (≥ 1). */
  readonly workers: number;
  /** Called once, when every worker of the first generation listens. */
  readonly onListening: (address: BoundAddress) => void;
  /** Relays rooms, broadcast and send-by-id between workers (without Redis). */
  readonly hub?: IpcHub;
  /** Workers still running this long after they were told to close are killed (ms). */
  readonly shutdownTimeout: number;
  readonly backoff?: BackoffOptions;
  /** A line for the operator (stderr). */
  readonly log: (line: string) => void;
}

export interface Supervisor {
  /** Graceful shutdown of every worker; resolves once they have all exited. */
  shutdown(): Promise<void>;
  /** Resolves with the exit code the command should end with: 0 after a shutdown, non-zero if the workers could not start. */
  readonly done: Promise<number>;
}

interface Running {
  readonly worker: Worker;
  readonly link: WorkerLink;
  readonly slot: number;
  readonly startedAt: number;
  listening: boolean;
  drained: boolean;
}

/**
 * Runs in the primary: forks `workers` copies of this command (same argv),
 * replaces one that dies (with backoff: 100 ms doubling to 5 s, reset after a
 * stable run) while the others carry on, and shuts them all down gracefully
 * on `shutdown()`: a barrier first (every worker answers `drain` after
 * everything it sent before has been relayed), then `close` to each.
 * A worker that dies before the listening line is printed aborts the start.
 */
export function superviseWorkers(options: SupervisorOptions): Supervisor {
  const { hub, log } = options;
  const running = new Map<Worker, Running>();
  const exits$ = new Subject<SlotExit<number>>();
  let sharedPort: number | undefined;
  let pinned = false;
  let announced = false;
  let stopping: Promise<void> | undefined;
  let exitCode = 0;
  let finish: () => void = () => {};
  const done = new Promise<number>((resolve) => (finish = () => resolve(exitCode)));

  // Buffers and typed arrays cross the channel as they are.
  cluster.setupPrimary({ serialization: 'advanced' });

  const fork = (slot: number): void => {
    const env: Record<string, string> = { [SLOT_ENV]: String(slot) };
    // With --port 0, a replacement gets the port the others share as long as one of them listens (the
    // primary keeps the listening handle, keyed by the requested port, 0). Once none does, that handle
    // is gone: from then on every worker asks for the shared port by number (the new handle's key).
    if (sharedPort !== undefined && !pinned && ![...running.values()].some((r) => r.listening)) pinned = true;
    if (pinned) env[PORT_ENV] = String(sharedPort);
    const worker = cluster.fork(env);
    const link = workerLink(worker);
    const state: Running = { worker, link, slot, startedAt: Date.now(), listening: false, drained: false };
    running.set(worker, state);
    hub?.attach(link);
    receive<ToPrimary>(worker).subscribe((message) => onMessage(state, message));
    worker.once('exit', (code, signal) => onExit(state, code, signal));
  };

  const onMessage = (state: Running, message: ToPrimary): void => {
    if (message.t === 'listening') {
      state.listening = true;
      sharedPort ??= message.address.port;
      if (!announced && [...running.values()].filter((r) => r.listening).length >= options.workers) {
        announced = true;
        options.onListening(message.address);
      }
    } else if (message.t === 'failed') {
      if (stopping !== undefined) return;
      log(message.message);
      if (announced) {
        // A replacement that cannot listen: it closes, and its exit is restarted with backoff like any other.
        state.link.post({ t: 'close' });
        return;
      }
      // At start every worker would fail the same way (the primary binds for them all): one line, exit 2, as a single process does.
      exitCode = 2;
      stopping = stopAll();
    } else if (message.t === 'drained') {
      state.drained = true;
      closeDrained();
    } else hub?.receive(state.link, message);
  };

  const onExit = (state: Running, code: number | null, signal: string | null): void => {
    running.delete(state.worker);
    hub?.detach(state.link);
    if (stopping !== undefined) {
      closeDrained();
      if (running.size === 0) finish();
      return;
    }
    if (!announced) {
      // A worker that cannot start (e.g. the port is taken) would fail again: give up, as a single process would.
      exitCode = code !== null && code !== 0 ? code : 1;
      void (stopping ??= stopAll());
      return;
    }
    log(`worker ${state.worker.process.pid} (slot ${state.slot}) exited with ${signal ?? code}; restarting it`);
    exits$.next({ slot: state.slot, uptime: Date.now() - state.startedAt });
  };

  const restarts: Subscription = exits$.pipe(restartWithBackoff<number>(options.backoff)).subscribe((slot) => fork(slot));

  // Shutdown, step 2: once every live worker answered the barrier, tell each to close.
  let closeSent = false;
  const closeDrained = (): void => {
    if (stopping === undefined || closeSent) return;
    if ([...running.values()].some((r) => !r.drained)) return;
    closeSent = true;
    for (const r of running.values()) r.link.post({ t: 'close' });
  };

  const stopAll = (): Promise<void> => {
    restarts.unsubscribe();
    if (running.size === 0) finish();
    for (const r of running.values()) r.link.post({ t: 'drain' });
    // A worker that never answers the barrier (hung) must not hold the others.
    setTimeout(() => {
      for (const r of running.values()) r.drained = true;
      closeDrained();
    }, DRAIN_TIMEOUT).unref();
    // Past the timeout (counted from the close), what still runs is killed: the command must end.
    setTimeout(() => {
      for (const r of running.values()) r.worker.process.kill('SIGKILL');
    }, DRAIN_TIMEOUT + options.shutdownTimeout).unref();
    return done.then(() => undefined);
  };

  for (let slot = 0; slot < options.workers; slot++) fork(slot);

  return {
    shutdown: () => (stopping ??= stopAll()),
    done,
  };
}

/** This process is a worker of `--workers N`. */
export const isWorker = (): boolean => cluster.isWorker;

/** The port a worker listens on: the shared one when the primary pinned it, else the one given. */
export function workerPort(port: number): number {
  const pinned = cluster.isWorker ? Number(process.env[PORT_ENV]) : NaN;
  return Number.isSafeInteger(pinned) && pinned > 0 ? pinned : port;
}

/** The worker's slot (0 … N-1; a replacement takes the slot of the worker it replaces), for `/healthz` and logs. */
export function workerSlot(): number | undefined {
  const slot = Number(process.env[SLOT_ENV]);
  return cluster.isWorker && Number.isSafeInteger(slot) ? slot : undefined;
}

/** Worker side: the `worker` field of `/healthz` (which worker answered: each answers for itself). */
export function workerHealth(): { worker: { id: number; pid: number } } {
  return { worker: { id: workerSlot() ?? 0, pid: process.pid } };
}

/** Worker side: tells the primary where this worker listens (the primary prints the one listening line). */
export function reportListening(address: BoundAddress): void {
  primaryChannel().post({ t: 'listening', address: { address: address.address, family: address.family, port: address.port } });
}

/** Worker side: this worker cannot listen; the primary says so once and ends the start (this worker is then told to close). */
export function reportListenFailure(message: string): void {
  primaryChannel().post({ t: 'failed', message });
}

/**
 * Worker side: follows the primary's shutdown. `drain` is answered on the
 * same ordered channel (so everything this worker sent before has been
 * relayed); `close`, or the primary disappearing, runs `close` (a graceful
 * shutdown of this worker). SIGINT is left to the primary (a terminal sends
 * it to the whole process group); SIGTERM shuts this worker down alone, and
 * the primary replaces it.
 */
export function followPrimary(close: (reason: string) => void): void {
  const primary = primaryChannel();
  primary.messages$.subscribe((message) => {
    if (message.t === 'drain') primary.post({ t: 'drained' });
    else if (message.t === 'close') close('primary shutting down');
  });
  process.once('disconnect', () => close('primary gone'));
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => close('SIGTERM'));
}
