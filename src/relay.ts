import type { Observable, Subscription } from 'rxjs';
import type { Message } from './protocol/message-assembler.js';
import { Opcode } from './protocol/opcode.js';
import type { Connection } from './server/connection.js';
import { rateLimit } from './streams/rateLimit.js';
import type { WebSocketServer } from './server/server.js';

export interface RelayOptions {
  /** Messages per second per connection, with a burst of the same size; 0 or undefined: no limit. */
  readonly rateLimit?: number;
}

type Command = Record<string, unknown>;
type Ref = string | number | undefined;

/**
 * The relay protocol of the `rxws` command (README.md, "Relay mode"): a welcome with the
 * connection's id, then JSON commands to join, leave and publish to rooms,
 * broadcast, and send to one connection. Errors are replies; they never close
 * the connection.
 */
export function relay<S>(server: WebSocketServer<S>, options: RelayOptions = {}): Subscription {
  const limit = options.rateLimit ?? 0;
  return server.connections$.subscribe((conn) => {
    conn.send(`{"type":"welcome","id":${JSON.stringify(conn.id)}}`);
    let commands$: Observable<Message> = conn.incoming$;
    if (limit > 0) {
      commands$ = commands$.pipe(
        rateLimit<Message>({
          limit,
          burst: limit,
          onLimited: () => sendError(conn, 'rate_limited', `more than ${limit} messages per second; excess dropped`, undefined),
          onDrop: () => server.stats.droppedRateLimited++,
        }),
      );
    }
    commands$.subscribe((message) => handleCommand(server, conn, message));
  });
}

function handleCommand<S>(server: WebSocketServer<S>, conn: Connection<S>, message: Message): void {
  if (message.opcode !== Opcode.Text) return sendError(conn, 'unsupported', 'binary messages are not supported in relay mode', undefined);
  let command: unknown;
  try {
    command = JSON.parse(message.payload.toString('utf8'));
  } catch {
    return sendError(conn, 'bad_json', 'message is not valid JSON', undefined);
  }
  if (typeof command !== 'object' || command === null || Array.isArray(command)) {
    return sendError(conn, 'bad_json', 'message is not a JSON object', undefined);
  }
  const cmd = command as Command;
  const ref = cmd.ref;
  if (ref !== undefined && typeof ref !== 'string' && typeof ref !== 'number') {
    return sendError(conn, 'bad_command', '"ref" must be a string or a number', undefined);
  }
  switch (cmd.type) {
    case 'join': {
      const room = roomOf(cmd);
      if (room === undefined) return badRoom(conn, ref);
      server.rooms.join(conn, room);
      return reply(conn, { type: 'joined', room, members: server.rooms.count(room) }, ref);
    }
    case 'leave': {
      const room = roomOf(cmd);
      if (room === undefined) return badRoom(conn, ref);
      server.rooms.leave(conn, room);
      return reply(conn, { type: 'left', room, members: server.rooms.count(room) }, ref);
    }
    case 'publish': {
      const room = roomOf(cmd);
      if (room === undefined) return badRoom(conn, ref);
      if (!('data' in cmd)) return missingData(conn, ref);
      const text = messageText(conn, { type: 'message', room, from: conn.id, data: cmd.data }, ref);
      if (text !== undefined) server.rooms.publish(room, text, { from: conn });
      return;
    }
    case 'broadcast': {
      if (!('data' in cmd)) return missingData(conn, ref);
      const text = messageText(conn, { type: 'message', from: conn.id, data: cmd.data }, ref);
      if (text !== undefined) server.broadcast(text);
      return;
    }
    case 'send': {
      const to = cmd.to;
      if (typeof to !== 'string') return sendError(conn, 'bad_command', '"to" must be a connection id (string)', ref);
      if (!('data' in cmd)) return missingData(conn, ref);
      const text = messageText(conn, { type: 'message', from: conn.id, data: cmd.data }, ref);
      if (text === undefined) return;
      if (!server.sendTo(to, text)) {
        return sendError(conn, 'unknown_connection', `no connection with id ${JSON.stringify(to)}`, ref);
      }
      return reply(conn, { type: 'sent', to }, ref);
    }
    default:
      return sendError(
        conn,
        'bad_command',
        typeof cmd.type === 'string' ? `unknown command type ${JSON.stringify(cmd.type)}` : 'missing "type"',
        ref,
      );
  }
}

/** A room name: a non-empty string of at most 256 characters (code points). */
function roomOf(cmd: Command): string | undefined {
  const room = cmd.room;
  if (typeof room !== 'string' || room.length === 0) return undefined;
  if (room.length > 256 && (room.length > 512 || [...room].length > 256)) return undefined;
  return room;
}

const badRoom = (conn: Connection<unknown>, ref: Ref) =>
  sendError(conn, 'bad_command', '"room" must be a non-empty string of at most 256 characters', ref);
const missingData = (conn: Connection<unknown>, ref: Ref) => sendError(conn, 'bad_command', 'missing "data"', ref);

/**
 * The relayed message as JSON, or undefined after a bad_command reply: JSON.parse
 * accepts any depth, but JSON.stringify recurses and overflows the stack on
 * deeply nested data (a few KB of brackets are enough).
 */
function messageText(conn: Connection<unknown>, body: Record<string, unknown>, ref: Ref): string | undefined {
  try {
    return JSON.stringify(body);
  } catch {
    sendError(conn, 'bad_command', '"data" is nested too deeply to relay', ref);
    return undefined;
  }
}

function reply(conn: Connection<unknown>, body: Record<string, unknown>, ref: Ref): void {
  if (ref !== undefined) body.ref = ref;
  conn.send(JSON.stringify(body));
}

function sendError(conn: Connection<unknown>, code: string, message: string, ref: Ref): void {
  reply(conn, { type: 'error', code, message }, ref);
}
