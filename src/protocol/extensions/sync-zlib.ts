import zlib from 'node:zlib';

/**
 * A raw DEFLATE stream (inflate or deflate) driven synchronously through its
 * native handle, in bounded output chunks. Why not Node's public APIs:
 * `inflateRawSync` is one-shot (a context cannot outlive one call, so no
 * context takeover) and produces its whole output before returning (a bomb
 * is only stopped by maxOutputLength after allocating it); the async streams
 * hop to the threadpool per call, with unbounded concurrency across
 * connections (ws#1202). Here every call returns within one chunk of output
 * past the point the caller says stop, on the calling thread.
 *
 * @internal
 */
export class SyncZlib {
  private readonly stream: zlib.InflateRaw | zlib.DeflateRaw;
  private readonly handle: ZlibHandle;
  private readonly state: Uint32Array;
  /** An inflate stream that reached a final (BFINAL) block: input after it is left unread. */
  ended = false;

  constructor(kind: 'inflate' | 'deflate', options: zlib.ZlibOptions) {
    // chunkSize 64 (the minimum): the stream's own output buffer is never used.
    const o = { ...options, chunkSize: 64 };
    this.stream = kind === 'inflate' ? zlib.createInflateRaw(o) : zlib.createDeflateRaw(o);
    // Errors are read synchronously after each call; this only silences the async event.
    this.stream.on('error', ignore);
    const internals = this.stream as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    if (internals._handle === undefined || typeof internals._handle.writeSync !== 'function' || internals._writeState === undefined) {
      throw new Error(`this Node.js (${process.version}) lacks the zlib handle rxws drives synchronously`);
    }
    this.handle = internals._handle;
    this.state = internals._writeState;
  }

  /**
   * Feeds `input` and hands each piece of output to `onOutput` (a view of a
   * shared scratch buffer, valid only during the call: copy what you keep).
   * `onOutput` returns false to stop at once. Returns false if stopped.
   * Throws ZlibDataError on invalid data.
   */
  write(input: Buffer, flush: number, onOutput: (piece: Buffer) => boolean): boolean {
    if (this.stream.destroyed) throw new ZlibDataError('zlib stream already failed');
    const out = scratch();
    let inOff = 0;
    let inLen = input.length;
    for (;;) {
      this.handle.writeSync(flush, input, inOff, inLen, out, 0, out.length);
      if (this.stream.destroyed) {
        const errored = (this.stream as unknown as { _readableState?: { errored?: Error | null } })._readableState?.errored;
        throw new ZlibDataError(errored?.message ?? 'invalid compressed data');
      }
      const availOut = this.state[0]!;
      const availIn = this.state[1]!;
      const have = out.length - availOut;
      if (have > 0 && !onOutput(out.subarray(0, have))) return false;
      inOff += inLen - availIn;
      inLen = availIn;
      if (availOut !== 0) {
        // Output exhausted; input still left means the stream ended (a BFINAL block).
        if (inLen > 0) this.ended = true;
        return true;
      }
    }
  }

  reset(): void {
    if (this.stream.destroyed) throw new ZlibDataError('zlib stream already failed');
    this.stream.reset();
    this.ended = false;
  }

  close(): void {
    this.stream.close();
  }
}

export class ZlibDataError extends Error {
  override readonly name = 'ZlibDataError';
}

interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
}

const ignore = () => {};

/** Output goes through one process-wide buffer: nothing here is asynchronous, and callers copy what they keep. */
export const OUTPUT_CHUNK = 64 * 1024;
let scratchBuffer: Buffer | null = null;
const scratch = (): Buffer => (scratchBuffer ??= Buffer.allocUnsafeSlow(OUTPUT_CHUNK));

/** The four bytes a sync flush ends with, removed by the sender and appended by the receiver (RFC 7692 §7.2.1). */
export const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * An empty final fixed-Huffman block plus one spare byte: fed after the
 * tail, it ends the stream (leaving the spare byte unread) only if the
 * message stopped on a block boundary. A message cut inside a block
 * swallows it instead.
 */
export const BOUNDARY_PROBE = Buffer.from([0x03, 0x00, 0x00]);

/**
 * Inflaters for messages compressed without client context takeover: taken
 * when a compressed message starts and given back (reset) when it ends, so an
 * idle connection holds no inflate context. At most POOL_SIZE idle ones are kept.
 */
const POOL_SIZE = 16;
const inflaterPool: SyncZlib[] = [];

/** @internal */
export function acquireInflater(): SyncZlib {
  return inflaterPool.pop() ?? new SyncZlib('inflate', { windowBits: 15 });
}

/** @internal */
export function releaseInflater(inflater: SyncZlib): void {
  if (inflaterPool.length < POOL_SIZE) {
    try {
      inflater.reset();
      inflaterPool.push(inflater);
      return;
    } catch {
      // a failed stream cannot be reset: fall through and close it
    }
  }
  inflater.close();
}

/** @internal */
export const pooledInflaterCount = (): number => inflaterPool.length;
