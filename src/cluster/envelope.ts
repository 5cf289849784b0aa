// What crosses Redis for one publish, broadcast or send: a small binary
// header (kind, the sending node, room or target id, from / except ids) and
// the payload as is. Binary so that a payload is neither escaped nor copied
// into JSON; the node id comes first so that a node skips its own echo by
// comparing a few bytes.

export enum Kind {
  Publish = 1,
  Broadcast = 2,
  Send = 3,
}

const BINARY = 0x10;
const HAS_FROM = 0x20;
const HAS_EXCEPT = 0x40;
const KIND_MASK = 0x0f;

export interface Envelope {
  readonly kind: Kind;
  readonly node: string;
  /** The room (publish) or the connection id (send); empty for a broadcast. */
  readonly target: string;
  readonly data: string | Buffer;
  readonly fromId: string | undefined;
  readonly exceptId: string | undefined;
}

export function encodeEnvelope(
  kind: Kind,
  node: string,
  target: string,
  data: string | Uint8Array,
  fromId: string | undefined,
  exceptId: string | undefined,
): Buffer {
  const nodeLength = Buffer.byteLength(node);
  if (nodeLength > 255) throw new RangeError('node id longer than 255 bytes');
  const targetLength = Buffer.byteLength(target);
  const fromLength = fromId === undefined ? -2 : Buffer.byteLength(fromId);
  const exceptLength = exceptId === undefined ? -2 : Buffer.byteLength(exceptId);
  if (targetLength > 0xffff || fromLength > 0xffff || exceptLength > 0xffff) throw new RangeError('room or id longer than 65535 bytes');
  const payloadLength = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
  const headerLength = 2 + nodeLength + 2 + targetLength + (fromLength + 2) + (exceptLength + 2);
  const out = Buffer.allocUnsafe(headerLength + payloadLength);
  out[0] = kind | (typeof data === 'string' ? 0 : BINARY) | (fromId === undefined ? 0 : HAS_FROM) | (exceptId === undefined ? 0 : HAS_EXCEPT);
  out[1] = nodeLength;
  let at = 2 + out.write(node, 2, 'latin1');
  at = writeString(out, at, target, targetLength);
  if (fromId !== undefined) at = writeString(out, at, fromId, fromLength);
  if (exceptId !== undefined) at = writeString(out, at, exceptId, exceptLength);
  if (typeof data === 'string') out.write(data, at, 'utf8');
  else out.set(data, at);
  return out;
}

/** Whether `message` was sent by `node` (its own echo), without decoding it. */
export function sentBy(message: Buffer, node: string): boolean {
  const length = message[1];
  if (length !== node.length || message.length < 2 + length) return false;
  for (let i = 0; i < length; i++) if (message[2 + i] !== node.charCodeAt(i)) return false;
  return true;
}

export function decodeEnvelope(message: Buffer): Envelope {
  if (message.length < 4) throw new Error('cluster message too short');
  const flags = message[0]!;
  const kind = (flags & KIND_MASK) as Kind;
  if (kind !== Kind.Publish && kind !== Kind.Broadcast && kind !== Kind.Send) throw new Error(`unknown cluster message kind ${kind}`);
  const nodeLength = message[1]!;
  const node = message.toString('latin1', 2, 2 + nodeLength);
  const reader = { at: 2 + nodeLength };
  const target = readString(message, reader);
  const fromId = flags & HAS_FROM ? readString(message, reader) : undefined;
  const exceptId = flags & HAS_EXCEPT ? readString(message, reader) : undefined;
  const data = flags & BINARY ? message.subarray(reader.at) : message.toString('utf8', reader.at);
  return { kind, node, target, data, fromId, exceptId };
}

function writeString(out: Buffer, at: number, value: string, length: number): number {
  out.writeUInt16BE(length, at);
  out.write(value, at + 2, 'utf8');
  return at + 2 + length;
}

function readString(message: Buffer, reader: { at: number }): string {
  if (reader.at + 2 > message.length) throw new Error('cluster message truncated');
  const length = message.readUInt16BE(reader.at);
  const end = reader.at + 2 + length;
  if (end > message.length) throw new Error('cluster message truncated');
  const value = message.toString('utf8', reader.at + 2, end);
  reader.at = end;
  return value;
}
