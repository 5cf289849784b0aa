import zlib from 'node:zlib';
import type { Frame, RawClient } from './raw-client.js';

const { Z_SYNC_FLUSH } = zlib.constants;
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** What Chromium offers. */
export const BROWSER_OFFER = 'permessage-deflate; client_max_window_bits';

/** Parameters of a server's answer, parsed independently of the server's own parser. */
export interface Answer {
  server_no_context_takeover?: true;
  client_no_context_takeover?: true;
  server_max_window_bits?: number;
  client_max_window_bits?: number;
}

/** The Sec-WebSocket-Extensions answer in a 101 head, or null if there is none. */
export function extensionsHeader(responseHead: string): string | null {
  const m = /^sec-websocket-extensions:[ \t]*(.*?)[ \t]*$/im.exec(responseHead);
  return m ? m[1]! : null;
}

export function parseAnswer(value: string): Answer {
  const [name, ...params] = value.split(';').map((s) => s.trim());
  if (name !== 'permessage-deflate') throw new Error(`unexpected extension ${name}`);
  const answer: Record<string, true | number> = {};
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k! in answer) throw new Error(`repeated ${k}`);
    answer[k!] = v === undefined ? true : Number(v);
  }
  return answer as Answer;
}

/** Streams one zlib stream through a sync flush: input in, everything it produced out. */
function flushThrough(stream: zlib.DeflateRaw | zlib.InflateRaw, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    stream.on('data', onData);
    stream.once('error', reject);
    stream.write(input);
    stream.flush(Z_SYNC_FLUSH, () => {
      stream.off('data', onData);
      stream.off('error', reject);
      resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * The client's side of permessage-deflate on Node's own zlib streams (no code
 * shared with the server): compresses what the test sends, inflates what the
 * server sends, keeping or resetting each context as agreed.
 */
export class DeflateCodec {
  private deflater: zlib.DeflateRaw | null = null;
  private inflater: zlib.InflateRaw | null = null;

  constructor(
    readonly answer: Answer,
    private readonly level = 6,
  ) {}

  /** A message's compressed payload (sync flush, tail removed), as a client sends it. */
  async compress(payload: Buffer | string): Promise<Buffer> {
    const keep = !this.answer.client_no_context_takeover;
    const windowBits = Math.max(9, this.answer.client_max_window_bits ?? 15);
    const deflater = keep ? (this.deflater ??= zlib.createDeflateRaw({ windowBits, level: this.level })) : zlib.createDeflateRaw({ windowBits, level: this.level });
    const out = await flushThrough(deflater, Buffer.from(payload));
    if (!keep) deflater.close();
    if (!out.subarray(-4).equals(TAIL)) throw new Error('no sync-flush tail');
    return out.subarray(0, out.length - 4);
  }

  /** Inflates a server message's payload (its frames' payloads joined). */
  async inflate(payload: Buffer): Promise<Buffer> {
    const keep = !this.answer.server_no_context_takeover;
    // The agreed server window, strictly: a server that reaches further back fails to inflate.
    const windowBits = Math.max(9, this.answer.server_max_window_bits ?? 15);
    const inflater = keep ? (this.inflater ??= zlib.createInflateRaw({ windowBits })) : zlib.createInflateRaw({ windowBits });
    const out = await flushThrough(inflater, Buffer.concat([payload, TAIL]));
    if (!keep) inflater.close();
    return out;
  }

  close(): void {
    this.deflater?.close();
    this.inflater?.close();
  }
}

/** A message as the client received it: type, inflated payload, and whether it came compressed. */
export interface ReceivedMessage {
  opcode: number;
  payload: Buffer;
  compressed: boolean;
  /** Bytes on the wire (payloads only). */
  wireBytes: number;
}

/** Reads frames until a whole data message, inflating it if its first frame had RSV1. Control frames in between are skipped (except close, which throws). */
export async function nextMessage(client: RawClient, codec: DeflateCodec, timeoutMs = 5000): Promise<ReceivedMessage> {
  const frames: Frame[] = [];
  for (;;) {
    const f = await client.nextFrame(timeoutMs);
    if (f.opcode === 8) throw new Error(`server closed: ${f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 'no code'} ${f.payload.subarray(2).toString()}`);
    if (f.opcode >= 8) continue;
    if (frames.length > 0 && (f.rsv & 4) !== 0) throw new Error('RSV1 on a continuation frame from the server');
    frames.push(f);
    if (f.fin) break;
  }
  const joined = Buffer.concat(frames.map((f) => f.payload));
  const compressed = (frames[0]!.rsv & 4) !== 0;
  if ((frames[0]!.rsv & 3) !== 0) throw new Error('RSV2/RSV3 from the server');
  return { opcode: frames[0]!.opcode, payload: compressed ? await codec.inflate(joined) : joined, compressed, wireBytes: joined.length };
}
