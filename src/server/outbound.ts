import type { Socket } from 'node:net';

export interface OutboundOptions {
  /** Unsent bytes (queued + in the socket's buffer) beyond which `tryPush` refuses. */
  readonly maxBufferedBytes: number;
  /** Stop reading the socket while this many bytes are unsent, until it drains. */
  readonly readHighWaterMark: number;
}

export interface OutboundOwner {
  /** Reading may resume: the peer has taken what we wrote. */
  outputDrained(): void;
  /** The unsent bytes fell to the low-water mark after a send took them above it (only while `watchDrain` is on). */
  outputWritable(): void;
}

const COALESCE_LIMIT = 64 * 1024; // a turn's frames up to this size go out as one buffer
const EMPTY = Buffer.alloc(0);

// One write per connection per event-loop turn: pushes only queue frames; the
// queues of every outbound touched in this turn are flushed in one tick.
let dirty: Outbound[] = [];
const flushDirty = () => {
  const batch = dirty;
  dirty = [];
  for (let i = 0; i < batch.length; i++) batch[i]!.flush();
};

const kOutbound = Symbol('rxws.outbound');
type OutboundSocket = Socket & { [kOutbound]?: Outbound };
// One 'drain' listener for every socket (no closure per connection).
function onDrain(this: OutboundSocket): void {
  this[kOutbound]?.drained();
}

/**
 * A connection's outbound path: already-encoded frames are queued (encoding,
 * and any compression, happens at the call site), flushed once per event-loop
 * turn (coalesced into one buffer when small, a corked writev when large),
 * under a byte budget. While the peer is not reading what we write, reading
 * from it is paused (`outputBlocked`) until the socket drains.
 *
 * Drain signal, for writers that pace themselves: the low-water mark is half
 * the budget. While `watchDrain` is on and the unsent bytes are above it, each
 * flush ends with an empty write whose callback (called once everything before
 * it reached the kernel) checks whether they fell back to it.
 */
export class Outbound {
  private queue: Buffer[] | null = null;
  private queuedBytes = 0;
  private flushPending = false;
  /** The peer is not reading our output: reading from it is paused until 'drain'. */
  outputBlocked = false;
  /** A send took the unsent bytes above the low-water mark since the last drain signal. */
  private aboveLowWater = false;
  private drainWatched = false;
  private onSentinelWritten: ((err?: Error | null) => void) | null = null;
  /** Unsent bytes at or below which a paced writer may send again. */
  readonly lowWaterMark: number;
  // The 101 response is not the application's data: it does not count against the budget.
  private allowance = 0;

  constructor(
    private readonly socket: Socket,
    private readonly options: OutboundOptions,
    private readonly owner: OutboundOwner,
  ) {
    this.lowWaterMark = Math.floor(options.maxBufferedBytes / 2);
  }

  /** Bytes queued or in the socket's buffer, not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.queuedBytes + this.socket.writableLength;
  }

  /** Is there room in the budget for another message? */
  get hasRoom(): boolean {
    return this.queuedBytes + this.socket.writableLength <= this.options.maxBufferedBytes + this.allowance;
  }

  /** At or below the low-water mark: a paced writer may send. */
  get belowLowWater(): boolean {
    return this.queuedBytes + this.socket.writableLength <= this.lowWaterMark;
  }

  /** Queues a message's bytes (one frame, or a header and its payload) if the budget has room; false if not. */
  tryPush(a: Buffer, b?: Buffer): boolean {
    if (!this.hasRoom) return false;
    this.push(a);
    if (b !== undefined) this.push(b);
    return true;
  }

  /** Queues bytes that do not count against the budget (the 101 response). */
  pushUncounted(bytes: Buffer): void {
    this.allowance += bytes.length;
    this.push(bytes);
  }

  /** Queues bytes regardless of the budget (control frames). */
  push(bytes: Buffer): void {
    (this.queue ??= []).push(bytes);
    this.queuedBytes += bytes.length;
    if (!this.aboveLowWater && this.queuedBytes + this.socket.writableLength > this.lowWaterMark) this.aboveLowWater = true;
    if (!this.flushPending) {
      this.flushPending = true;
      if (dirty.push(this) === 1) process.nextTick(flushDirty);
    }
  }

  /** Writes everything queued: one buffer for small batches, a corked writev for large ones. */
  flush(): void {
    this.flushPending = false;
    const queue = this.queue;
    if (queue === null || queue.length === 0) return;
    const socket = this.socket;
    if (!socket.destroyed && !socket.writableEnded) {
      if (queue.length === 1) socket.write(queue[0]!);
      else if (this.queuedBytes <= COALESCE_LIMIT) socket.write(Buffer.concat(queue, this.queuedBytes));
      else {
        socket.cork();
        for (let i = 0; i < queue.length; i++) socket.write(queue[i]!);
        socket.uncork();
      }
      if (!this.outputBlocked && socket.writableLength > this.options.readHighWaterMark) {
        // The peer is not reading what we send: stop reading what it sends until it does.
        this.outputBlocked = true;
        socket.pause();
        (socket as OutboundSocket)[kOutbound] = this;
        socket.once('drain', onDrain);
      }
      this.queue = null; // an idle connection keeps no array
      this.queuedBytes = 0;
      if (this.drainWatched && this.aboveLowWater) this.writeSentinel();
      return;
    }
    this.queue = null;
    this.queuedBytes = 0;
  }

  /**
   * Turns the drain signal on (the owner's `outputWritable` is called each
   * time the unsent bytes fall to the low-water mark after being above it) or off.
   */
  watchDrain(on: boolean): void {
    this.drainWatched = on;
    // Already above with nothing left to flush: the bytes are in the socket, written without a sentinel.
    if (on && this.aboveLowWater && !this.flushPending) this.writeSentinel();
  }

  private writeSentinel(): void {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return;
    socket.write(EMPTY, (this.onSentinelWritten ??= (err) => this.sentinelWritten(err)));
  }

  private sentinelWritten(err: Error | null | undefined): void {
    if (err || !this.drainWatched || !this.aboveLowWater || !this.belowLowWater) return;
    this.aboveLowWater = false;
    this.owner.outputWritable();
  }

  /** @internal the socket drained after output blocked reading. */
  drained(): void {
    this.outputBlocked = false;
    this.owner.outputDrained();
  }

  /** Drops whatever is still queued (the socket is gone). */
  clear(): void {
    this.queue = null;
    this.queuedBytes = 0;
  }
}
