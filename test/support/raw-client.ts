import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Waiter } from './waiter.js';

/** A frame as received from the server (or described for sending). */
export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

export interface FrameSpec {
  opcode: number;
  payload?: Buffer | string;
  fin?: boolean;
  /** RSV bits as a 3-bit number (RSV1 = 4). */
  rsv?: number;
  /** false: send unmasked (illegal for clients); a Buffer: this masking key. Default: a random key. */
  mask?: boolean | Buffer;
  /** Force the length encoding: 7, 16 or 64 bits (to send non-minimal lengths). */
  lengthBits?: 7 | 16 | 64;
  /** Announce this length instead of the payload's (to send a header without its payload). */
  announcedLength?: number | bigint;
}

/** Encodes a client frame (masked unless told otherwise), legal or deliberately not. */
export function encodeClientFrame(spec: FrameSpec): Buffer {
  const payload = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? Buffer.alloc(0));
  const length = BigInt(spec.announcedLength ?? payload.length);
  const bits = spec.lengthBits ?? (length < 126n ? 7 : length < 65536n ? 16 : 64);
  const key = spec.mask === false ? null : Buffer.isBuffer(spec.mask) ? spec.mask : randomBytes(4);
  const header = Buffer.alloc(2 + (bits === 16 ? 2 : bits === 64 ? 8 : 0) + (key ? 4 : 0));
  header[0] = ((spec.fin ?? true) ? 0x80 : 0) | ((spec.rsv ?? 0) << 4) | spec.opcode;
  let p = 2;
  if (bits === 7) header[1] = Number(length);
  else if (bits === 16) {
    header[1] = 126;
    header.writeUInt16BE(Number(length), 2);
    p = 4;
  } else {
    header[1] = 127;
    header.writeBigUInt64BE(length, 2);
    p = 10;
  }
  const body = Buffer.from(payload);
  if (key) {
    header[1]! |= 0x80;
    key.copy(header, p);
    for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  }
  return Buffer.concat([header, body]);
}

/** A close frame payload: code + reason. */
export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2);
  return b;
}

export function upgradeRequest(port: number, extraHeaders: Record<string, string> = {}, path = '/'): string {
  const headers: Record<string, string> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    'Sec-WebSocket-Version': '13',
    ...extraHeaders,
  };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/**
 * Our own minimal RFC 6455 client on raw `net`, for sending anything — legal
 * or not, whole or chopped — and seeing exactly what the server answers.
 */
export class RawClient {
  readonly frames: Frame[] = [];
  /** The HTTP response head (status line and headers). */
  response = '';
  // Received bytes not yet parsed: store[start, end), grown by doubling (no copy of everything per chunk).
  private store: Buffer = Buffer.alloc(0);
  private start = 0;
  private end = 0;
  private headDone = false;
  private readonly waiter = new Waiter();
  /** Resolves when the TCP connection is closed (by either side). */
  readonly ended: Promise<void>;
  private isEnded = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => {});
    this.ended = new Promise((resolve) =>
      socket.once('close', () => {
        this.isEnded = true;
        resolve();
        this.wake();
      }),
    );
  }

  /** Connects and (unless `request` is false) performs the upgrade, resolving after the 101 head. */
  static async connect(port: number, options: { headers?: Record<string, string>; request?: string | false; path?: string } = {}): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawClient(socket);
    if (options.request === false) return client;
    socket.write(options.request ?? upgradeRequest(port, options.headers, options.path));
    await client.until(() => client.headDone, 5000, 'HTTP response head');
    return client;
  }

  get status(): number {
    return Number(this.response.slice(9, 12));
  }

  /** Writes bytes, optionally chopped into writes of `chop` bytes (each its own TCP segment, with Nagle off). */
  async write(bytes: Buffer, chop = 0): Promise<void> {
    if (chop <= 0) {
      this.socket.write(bytes);
      return;
    }
    for (let i = 0; i < bytes.length; i += chop) {
      if (this.socket.destroyed) return;
      const ok = this.socket.write(bytes.subarray(i, i + chop));
      // Yield now and then so the pieces really go out separately.
      if (!ok || (i / chop) % 64 === 63) await new Promise((r) => setImmediate(r));
    }
  }

  send(spec: FrameSpec, chop = 0): Promise<void> {
    return this.write(encodeClientFrame(spec), chop);
  }

  /** Waits for the next frame not yet taken. */
  async nextFrame(timeoutMs = 5000): Promise<Frame> {
    await this.until(() => this.frames.length > 0, timeoutMs, 'a frame');
    return this.frames.shift()!;
  }

  /**
   * Reads until the server's close frame and the end of TCP. Returns the close
   * code (undefined for an empty close payload, null if TCP ended with no close
   * frame) and the frames that came before it.
   */
  async closeOutcome(timeoutMs = 5000): Promise<{ code: number | null | undefined; reason: string; before: Frame[] }> {
    await this.until(() => this.isEnded || this.frames.some((f) => f.opcode === 8), timeoutMs, 'a close frame or TCP end');
    const i = this.frames.findIndex((f) => f.opcode === 8);
    if (i < 0) return { code: null, reason: '', before: this.frames.splice(0) };
    const before = this.frames.splice(0, i);
    const close = this.frames.shift()!;
    return {
      code: close.payload.length >= 2 ? close.payload.readUInt16BE(0) : undefined,
      reason: close.payload.subarray(2).toString('utf8'),
      before,
    };
  }

  /** Waits for TCP to close. */
  async waitEnded(timeoutMs = 5000): Promise<void> {
    await this.until(() => this.isEnded, timeoutMs, 'TCP close');
  }

  get isClosed(): boolean {
    return this.isEnded;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private until(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.waiter.until(ready, timeoutMs, what);
  }

  private wake(): void {
    this.waiter.wake();
  }

  private onData(chunk: Buffer): void {
    this.append(chunk);
    if (!this.headDone) {
      const end = this.pending().indexOf('\r\n\r\n');
      if (end < 0) return;
      this.response = this.pending().subarray(0, end).toString('latin1');
      this.start += end + 4;
      this.headDone = true;
      if (this.status !== 101) {
        this.response += '\r\n\r\n' + this.pending().toString('utf8'); // keep the body for assertions
        this.start = this.end;
      }
    }
    if (this.status === 101) this.parseFrames();
    this.wake();
  }

  private pending(): Buffer {
    return this.store.subarray(this.start, this.end);
  }

  private append(chunk: Buffer): void {
    if (this.end + chunk.length > this.store.length) {
      const live = this.end - this.start;
      const grown = Buffer.allocUnsafe(Math.max(64 * 1024, (live + chunk.length) * 2));
      this.store.copy(grown, 0, this.start, this.end);
      this.store = grown;
      this.start = 0;
      this.end = live;
    }
    chunk.copy(this.store, this.end);
    this.end += chunk.length;
  }

  private parseFrames(): void {
    for (;;) {
      const b = this.pending();
      if (b.length < 2) return;
      const len7 = b[1]! & 0x7f;
      const masked = (b[1]! & 0x80) !== 0;
      let p = 2;
      let length = len7;
      if (len7 === 126) {
        if (b.length < 4) return;
        length = b.readUInt16BE(2);
        p = 4;
      } else if (len7 === 127) {
        if (b.length < 10) return;
        length = Number(b.readBigUInt64BE(2));
        p = 10;
      }
      const keyAt = p;
      if (masked) p += 4;
      if (b.length < p + length) return;
      const payload = Buffer.from(b.subarray(p, p + length));
      if (masked) for (let i = 0; i < payload.length; i++) payload[i]! ^= b[keyAt + (i & 3)]!;
      this.frames.push({ fin: (b[0]! & 0x80) !== 0, rsv: (b[0]! >> 4) & 7, opcode: b[0]! & 0x0f, masked, payload });
      this.start += p + length;
    }
  }
}
