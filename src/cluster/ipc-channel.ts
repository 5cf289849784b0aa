// The IPC channel between the primary and its workers (`--workers N`): what
// crosses it, and the batching that keeps it cheap. One ordered channel per
// worker carries both the supervisor's control messages and the IPC adapter's
// relayed traffic, so a control message (e.g. `close`) never overtakes the
// publishes posted before it.
import { filter, fromEvent, mergeMap, type Observable, share } from 'rxjs';

/** A bound address as a worker reports it (what `net.Server#address()` gives). */
export interface BoundAddress {
  readonly address: string;
  readonly family: string;
  readonly port: number;
}

/** Payloads cross as-is: the channel uses the 'advanced' (structured clone) serialization, so Buffers stay Buffers. */
export type Payload = string | Uint8Array;

/** Worker → primary. */
export type ToPrimary =
  | { readonly t: 'listening'; readonly address: BoundAddress }
  /** The worker cannot listen (e.g. the port is taken): the primary reports it once and ends the start. */
  | { readonly t: 'failed'; readonly message: string }
  | { readonly t: 'drained' }
  | { readonly t: 'opened'; readonly id: string }
  /** A connection closed; `rooms` are the rooms it was still in. */
  | { readonly t: 'closed'; readonly id: string; readonly rooms: readonly string[] }
  /** One member more (`join`) or fewer (`leave`) in `room` on this worker. */
  | { readonly t: 'join' | 'leave'; readonly room: string }
  /** This worker starts or stops wanting `room`'s publishes (members or `messages$` subscribers). */
  | { readonly t: 'watch'; readonly room: string; readonly on: boolean }
  | { readonly t: 'members'; readonly room: string; readonly seq: number }
  | { readonly t: 'publish'; readonly room: string; readonly data: Payload; readonly from: string | undefined }
  | { readonly t: 'broadcast'; readonly data: Payload }
  | { readonly t: 'send'; readonly to: string; readonly data: Payload; readonly seq: number };

/** Primary → worker. */
export type ToWorker =
  /** Shutdown, step 1: answer `drained` (a barrier: everything the worker posted before has been relayed). */
  | { readonly t: 'drain' }
  /** Shutdown, step 2: close gracefully and exit. */
  | { readonly t: 'close' }
  | { readonly t: 'reply'; readonly seq: number; readonly value: number | boolean }
  | { readonly t: 'publish'; readonly room: string; readonly data: Payload; readonly from: string | undefined }
  | { readonly t: 'broadcast'; readonly data: Payload }
  | { readonly t: 'send'; readonly to: string; readonly data: Payload };

/** The envelope on the wire: a batch, tagged so that nothing else on the channel is mistaken for ours. */
interface Envelope<M> {
  readonly rxws: readonly M[];
}

const isEnvelope = <M>(value: unknown): value is Envelope<M> =>
  typeof value === 'object' && value !== null && Array.isArray((value as Envelope<M>).rxws);

/**
 * Messages for one peer, sent as one batch per event-loop turn and in the
 * order posted: one IPC write (one serialization, one syscall) carries
 * everything a turn produced, e.g. a whole socket chunk of publishes.
 */
export class Outbox<M> {
  private pending: M[] = [];
  private scheduled = false;

  constructor(private readonly send: (envelope: Envelope<M>) => void) {}

  post(message: M): void {
    this.pending.push(message);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Sends what is pending now (also called by the timer). */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.send({ rxws: batch });
  };
}

/** Each message of every batch that arrives on `emitter`'s 'message' event. */
export function receive<M>(emitter: NodeJS.EventEmitter): Observable<M> {
  return fromEvent(emitter, 'message', (message: unknown) => message).pipe(
    filter(isEnvelope<M>),
    mergeMap((envelope) => envelope.rxws),
  );
}

/** A send that never throws: a peer that is gone loses the message (its 'exit'/'disconnect' handles the rest). */
function sendIgnoringClosed(send: (message: unknown, callback: (err: Error | null) => void) => boolean, message: unknown): void {
  try {
    send(message, () => {});
  } catch {
    // the channel closed between the check and the send
  }
}

/** The primary, as a worker sees it (undefined in a process that is not a cluster worker). */
export interface PrimaryChannel {
  post(message: ToPrimary): void;
  /** Every message from the primary, in order. */
  readonly messages$: Observable<ToWorker>;
  /** Whether the channel to the primary is still open. */
  readonly connected: boolean;
}

let primary: PrimaryChannel | undefined;

/** The one channel of this worker process to its primary: the supervisor's control and the IPC adapter share it (and its order). */
export function primaryChannel(): PrimaryChannel {
  if (primary !== undefined) return primary;
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('rxws: not a worker process (no IPC channel to a primary)');
  const outbox = new Outbox<ToPrimary>((envelope) => {
    if (process.connected) sendIgnoringClosed((m, cb) => send(m, undefined, {}, cb), envelope);
  });
  return (primary = {
    post: (message) => outbox.post(message),
    messages$: receive<ToWorker>(process).pipe(share()),
    get connected() {
      return process.connected;
    },
  });
}

/** A worker, as the primary sees it. */
export interface WorkerLink {
  /** The cluster worker id (unique for the primary's lifetime, also across restarts). */
  readonly id: number;
  post(message: ToWorker): void;
}

/** A WorkerLink over a node:cluster worker's channel. */
export function workerLink(worker: { readonly id: number; send(message: unknown, sendHandle?: undefined, options?: object, callback?: (err: Error | null) => void): boolean; isConnected(): boolean }): WorkerLink {
  const outbox = new Outbox<ToWorker>((envelope) => {
    if (worker.isConnected()) sendIgnoringClosed((m, cb) => worker.send(m, undefined, {}, cb), envelope);
  });
  return { id: worker.id, post: (message) => outbox.post(message) };
}
