import zlib from 'node:zlib';
import {
  type DeflateAgreement,
  type DeflateParams,
  negotiateFromHeader,
  type ResolvedDeflateOptions,
} from '../protocol/extensions/permessage-deflate.js';
import { pooledInflaterCount, SyncZlib } from '../protocol/extensions/sync-zlib.js';
import { encodeMessage, frameHeaderLength, writeFrameHeader } from '../protocol/frame-encoder.js';
import { Opcode } from '../protocol/opcode.js';

const { Z_SYNC_FLUSH } = zlib.constants;
const RSV1 = 0x40;

/**
 * One deflater per (window, level, memLevel) for the whole process, used for
 * every message sent without server context takeover: reset after each
 * message, so its bytes can go to any number of recipients. Compression is
 * synchronous and bounded by the message's own size, so it is never shared
 * across turns.
 */
const sharedDeflaters = new Map<string, SyncZlib>();

function sharedDeflater(bits: number, level: number, memLevel: number): SyncZlib {
  const key = `${bits}:${level}:${memLevel}`;
  let deflater = sharedDeflaters.get(key);
  if (deflater === undefined) {
    deflater = new SyncZlib('deflate', { windowBits: bits, level, memLevel });
    sharedDeflaters.set(key, deflater);
  }
  return deflater;
}

/**
 * Compresses `payload` into a whole server frame with RSV1 set: the
 * deflater's sync-flush output without its `00 00 ff ff` tail (RFC 7692
 * §7.2.1); an empty message is the single byte 0x00 (§7.2.3.6).
 */
function compressFrame(deflater: SyncZlib, opcode: number, payload: Buffer): Buffer {
  const pieces: Buffer[] = [];
  let total = 0;
  deflater.write(payload, Z_SYNC_FLUSH, (piece) => {
    pieces.push(Buffer.from(piece));
    total += piece.length;
    return true;
  });
  const bodyLength = total >= 4 ? total - 4 : 0; // the sync flush always ends with the 4-byte tail
  const length = bodyLength === 0 ? 1 : bodyLength;
  const frame = Buffer.allocUnsafe(frameHeaderLength(length) + length);
  let at = writeFrameHeader(frame, 0, opcode, length);
  frame[0] = frame[0]! | RSV1;
  if (bodyLength === 0) {
    frame[at] = 0x00;
    return frame;
  }
  for (const piece of pieces) {
    const take = Math.min(piece.length, frame.length - at);
    if (take <= 0) break;
    piece.copy(frame, at, 0, take);
    at += take;
  }
  return frame;
}

/** Inflaters and deflaters alive in this process (pooled or in use), for tests and docs. @internal */
export function compressionStats(): { pooledInflaters: number; sharedDeflaters: number } {
  return { pooledInflaters: pooledInflaterCount(), sharedDeflaters: sharedDeflaters.size };
}

/**
 * What one connection agreed for permessage-deflate, and its compression
 * state: nothing unless it agreed server context takeover and has been sent
 * a compressed message (then its own deflater).
 *
 * @internal
 */
export class DeflateSession {
  readonly params: DeflateParams;
  /** The 101's Sec-WebSocket-Extensions value. */
  readonly response: string;
  /** Messages under this size go uncompressed; Infinity when we cannot compress for this peer (an 8-bit window). */
  readonly threshold: number;
  private ownDeflater: SyncZlib | null = null;

  constructor(
    agreement: DeflateAgreement,
    readonly options: ResolvedDeflateOptions,
  ) {
    this.params = agreement.params;
    this.response = agreement.response;
    // zlib has no 256-byte raw window: toward such a peer every message goes uncompressed (RFC 7692 allows it).
    this.threshold = agreement.params.serverMaxWindowBits < 9 ? Infinity : options.threshold;
  }

  /** Can this connection take a compressed frame shared with others (no server context takeover)? */
  get sharesFrames(): boolean {
    return this.params.serverNoContextTakeover;
  }

  /** Key of the shared compressed frame this connection can take. */
  get sharedKey(): number {
    return this.params.serverMaxWindowBits;
  }

  /** A compressed frame for this connection alone, or null to send it plain (under the threshold). */
  compress(opcode: number, data: string | Uint8Array): Buffer | null {
    const size = typeof data === 'string' ? (data.length < this.threshold / 3 ? 0 : Buffer.byteLength(data)) : data.length;
    if (size < this.threshold) return null;
    const payload = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.length);
    if (this.params.serverNoContextTakeover) return compressShared(opcode, payload, this.params.serverMaxWindowBits, this.options);
    this.ownDeflater ??= new SyncZlib('deflate', {
      windowBits: this.params.serverMaxWindowBits,
      level: this.options.level,
      memLevel: this.options.memLevel,
    });
    return compressFrame(this.ownDeflater, opcode, payload);
  }

  /** The connection is gone: free its deflater. */
  release(): void {
    this.ownDeflater?.close();
    this.ownDeflater = null;
  }
}

const CACHED_OFFERS = 64;
const CACHEABLE_OFFER_LENGTH = 256;

/**
 * Negotiates for a server and hands out sessions. Clients of one kind send the
 * same offer string (every Chromium sends the same one), so the outcome is
 * cached per offer, and a session without server context takeover holds no
 * state of its own: one such session serves every connection that agreed the
 * same parameters, so an idle deflate connection costs no extra object.
 *
 * @internal
 */
export class DeflateNegotiator {
  private readonly cache = new Map<string, { agreement: DeflateAgreement | null; shared: DeflateSession | null }>();

  constructor(readonly options: ResolvedDeflateOptions) {}

  /** The session for a client that sent this Sec-WebSocket-Extensions value; null when declined. */
  sessionFor(header: string): DeflateSession | null {
    let entry = this.cache.get(header);
    if (entry === undefined) {
      const agreement = negotiateFromHeader(header, this.options);
      const stateless = agreement !== null && agreement.params.serverNoContextTakeover;
      entry = { agreement, shared: stateless ? new DeflateSession(agreement, this.options) : null };
      if (header.length <= CACHEABLE_OFFER_LENGTH) {
        if (this.cache.size >= CACHED_OFFERS) this.cache.clear(); // bounded whatever offers clients invent
        this.cache.set(header, entry);
      }
    }
    if (entry.agreement === null) return null;
    return entry.shared ?? new DeflateSession(entry.agreement, this.options);
  }
}

function compressShared(opcode: number, payload: Buffer, bits: number, options: ResolvedDeflateOptions): Buffer {
  const deflater = sharedDeflater(bits, options.level, options.memLevel);
  try {
    return compressFrame(deflater, opcode, payload);
  } finally {
    deflater.reset();
  }
}

/**
 * Encodes one message for many recipients: at most one plain frame, and one
 * compressed frame per server window size in use (in practice one), each
 * built on first need and then the same Buffer for every recipient that can
 * take it. Recipients with server context takeover get the plain frame (their
 * own deflater's history must see every compressed byte they receive).
 * Any fan-out (rooms, broadcast, a cluster adapter) calls this.
 */
export class FanoutFrames {
  private readonly opcode: number;
  private plain: Buffer | null = null;
  /** Compressed frames by server window bits (in practice one entry). */
  private compressed: Buffer[] | null = null;
  private size = -1;
  private bytes: Buffer | null;

  private readonly data: string | Buffer;

  constructor(data: string | Uint8Array) {
    this.data = typeof data === 'string' || Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.length);
    this.opcode = typeof data === 'string' ? Opcode.Text : Opcode.Binary;
    this.bytes = typeof this.data === 'string' ? null : this.data; // a string is encoded only if something compresses it
  }

  /** The frame for a recipient with this session (null: none agreed). */
  frameFor(session: DeflateSession | null): Buffer {
    if (session !== null && session.sharesFrames) {
      if (this.size < 0) this.size = typeof this.data === 'string' ? Buffer.byteLength(this.data) : this.data.length;
      if (this.size >= session.threshold) {
        const cache = (this.compressed ??= []);
        const bits = session.sharedKey;
        return (cache[bits] ??= compressShared(this.opcode, (this.bytes ??= Buffer.from(this.data as string)), bits, session.options));
      }
    }
    return (this.plain ??= encodeMessage(this.data));
  }
}
