import type { Observable, Subscription } from 'rxjs';
import type { Message } from './protocol/message-assembler.js';
import { Opcode } from './protocol/opcode.js';
import type { Connection } from './server/connection.js';
import { rateLimit } from './streams/rateLimit.js';
import type { WebSocketServer } from './server/server.js';
import type { JoinResult } from './server/server-rooms.js';
import { isHistorySince, type HistorySince, type HistorySlice, type PositionedPublish } from './history/store.js';

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
    const replies = new Replies(conn);
    let commands$: Observable<Message> = conn.incoming$;
    if (limit > 0) {
      commands$ = commands$.pipe(
        rateLimit<Message>({
          limit,
          burst: limit,
          onLimited: () => sendError(replies, 'rate_limited', `more than ${limit} messages per second; excess dropped`, undefined),
          onDrop: () => server.stats.droppedRateLimited++,
        }),
      );
    }
    commands$.subscribe((message) => handleCommand(server, conn, replies, message));
  });
}

function handleCommand<S>(server: WebSocketServer<S>, conn: Connection<S>, replies: Replies, message: Message): void {
  if (message.opcode !== Opcode.Text) return sendError(replies, 'unsupported', 'binary messages are not supported in relay mode', undefined);
  let command: unknown;
  try {
    command = JSON.parse(message.payload.toString('utf8'));
  } catch {
    return sendError(replies, 'bad_json', 'message is not valid JSON', undefined);
  }
  if (typeof command !== 'object' || command === null || Array.isArray(command)) {
    return sendError(replies, 'bad_json', 'message is not a JSON object', undefined);
  }
  const cmd = command as Command;
  const ref = cmd.ref;
  if (ref !== undefined && typeof ref !== 'string' && typeof ref !== 'number') {
    return sendError(replies, 'bad_command', '"ref" must be a string or a number', undefined);
  }
  switch (cmd.type) {
    case 'join': {
      const room = roomOf(cmd);
      if (room === undefined) return badRoom(replies, ref);
      const since = 'since' in cmd ? cmd.since : undefined;
      if ('since' in cmd && !isHistorySince(since)) {
        return sendError(replies, 'bad_command', '"since" must be {"offset": an integer ≥ 0, "epoch": a string (optional)}', ref);
      }
      if (!server.rooms.canJoin(conn, room)) {
        const limit = server.rooms.maxRoomsPerConnection;
        return sendError(replies, 'too_many_rooms', `this connection is in ${limit} rooms already, the most it may be in`, ref);
      }
      // Cluster-wide count, once this node hears every node's publishes to the room; `joined`
      // goes out before any message of the room, then what `since` missed, then the live messages.
      return replies.run((previous) =>
        server.rooms.join(conn, room, { since: since as HistorySince | undefined, after: previous, announce: (result) => joinedText(result, ref) }),
      );
    }
    case 'leave': {
      const room = roomOf(cmd);
      if (room === undefined) return badRoom(replies, ref);
      server.rooms.leave(conn, room);
      return replies.later(server.rooms.members(room).then((members) => replyText({ type: 'left', room, members }, ref)));
    }
    case 'publish': {
      const room = roomOf(cmd);
      if (room === undefined) return badRoom(replies, ref);
      if (!('data' in cmd)) return missingData(replies, ref);
      const text = messageText(replies, { type: 'message', room, from: conn.id, data: cmd.data }, ref);
      if (text !== undefined) server.rooms.publish(room, text, { from: conn });
      return;
    }
    case 'broadcast': {
      if (!('data' in cmd)) return missingData(replies, ref);
      const text = messageText(replies, { type: 'message', from: conn.id, data: cmd.data }, ref);
      if (text !== undefined) server.broadcast(text);
      return;
    }
    case 'send': {
      const to = cmd.to;
      if (typeof to !== 'string') return sendError(replies, 'bad_command', '"to" must be a connection id (string)', ref);
      if (!('data' in cmd)) return missingData(replies, ref);
      const text = messageText(replies, { type: 'message', from: conn.id, data: cmd.data }, ref);
      if (text === undefined) return;
      const sent = server.sendTo(to, text);
      const answer = (ok: boolean) =>
        ok ? replyText({ type: 'sent', to }, ref) : errorText('unknown_connection', `no connection with id ${JSON.stringify(to)}`, ref);
      // Answered here when this node holds the id (or there is no cluster); otherwise the cluster is asked.
      if (typeof sent === 'boolean') return replies.send(answer(sent));
      return replies.later(sent.then(answer));
    }
    case 'history': {
      const room = roomOf(cmd);
      if (room === undefined) return badRoom(replies, ref);
      const limit = cmd.limit;
      if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
        return sendError(replies, 'bad_command', '"limit" must be an integer ≥ 1', ref);
      }
      return replies.later(server.rooms.history(room, { limit }).then((slice) => historyText(room, slice, ref)));
    }
    default:
      return sendError(
        replies,
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

const badRoom = (replies: Replies, ref: Ref) =>
  sendError(replies, 'bad_command', '"room" must be a non-empty string of at most 256 characters', ref);
const missingData = (replies: Replies, ref: Ref) => sendError(replies, 'bad_command', 'missing "data"', ref);

/**
 * The relayed message as JSON, or undefined after a bad_command reply: JSON.parse
 * accepts any depth, but JSON.stringify recurses and overflows the stack on
 * deeply nested data (a few KB of brackets are enough).
 */
function messageText(replies: Replies, body: Record<string, unknown>, ref: Ref): string | undefined {
  try {
    return JSON.stringify(body);
  } catch {
    sendError(replies, 'bad_command', '"data" is nested too deeply to relay', ref);
    return undefined;
  }
}

function joinedText(result: JoinResult, ref: Ref): string {
  const { room, members, offset, epoch, recovered } = result;
  return replyText({ type: 'joined', room, members, offset, epoch, recovered }, ref);
}

/**
 * The `frame` of the relay's room history: the relayed message with its
 * position. A relayed publish is the JSON text of `{"type":"message",…}`, so
 * the position goes in before its closing brace (no parse, once per publish
 * and node).
 */
export function relayHistoryFrame(publish: PositionedPublish): string | Uint8Array {
  const { data } = publish;
  if (typeof data !== 'string' || !data.endsWith('}')) return data;
  return `${data.slice(0, -1)},"offset":${publish.offset},"epoch":${JSON.stringify(publish.epoch)}}`;
}

/** The `history` reply, built from the kept message texts: each entry's `data` is cut out of its relayed JSON. */
function historyText(room: string, slice: HistorySlice, ref: Ref): string {
  const roomJson = JSON.stringify(room);
  const messages = slice.messages.map(({ offset, from, data }) => {
    const fromJson = JSON.stringify(from ?? null);
    const head = `{"type":"message","room":${roomJson},"from":${fromJson},"data":`;
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    // A publish of the relay's own; anything else (a library publish) is relayed as a JSON string.
    const dataJson = text.startsWith(head) && text.endsWith('}') ? text.slice(head.length, -1) : JSON.stringify(text);
    return `{"offset":${offset},"from":${fromJson},"data":${dataJson}}`;
  });
  const refJson = ref === undefined ? '' : `,"ref":${JSON.stringify(ref)}`;
  return `{"type":"history","room":${roomJson},"offset":${slice.offset},"epoch":${JSON.stringify(slice.epoch)},"messages":[${messages.join(',')}]${refJson}}`;
}

function replyText(body: Record<string, unknown>, ref: Ref): string {
  if (ref !== undefined) body.ref = ref;
  return JSON.stringify(body);
}

const errorText = (code: string, message: string, ref: Ref): string => replyText({ type: 'error', code, message }, ref);

function sendError(replies: Replies, code: string, message: string, ref: Ref): void {
  replies.send(errorText(code, message, ref));
}

/**
 * A connection's direct replies, in the order of its commands: a reply that
 * waits for the cluster (a member count, a send to another node) holds back
 * the replies after it, so a `joined` never overtakes an earlier reply nor
 * the other way round. Without waiting replies, each is sent at once.
 */
class Replies {
  // Created with the first waiting reply: an idle connection costs no Promise.
  private tail: Promise<void> | undefined;
  private waiting = 0;

  constructor(private readonly conn: Connection<unknown>) {}

  send(text: string): void {
    if (this.waiting === 0) this.conn.send(text);
    else this.later(Promise.resolve(text));
  }

  /**
   * A reply that sends itself (a join announces, then replays): it starts once
   * `previous` (the replies before it) went out, and holds back the ones after
   * it until it settles.
   */
  run(task: (previous: Promise<void> | undefined) => Promise<unknown>): void {
    this.waiting++;
    this.tail = task(this.tail)
      .then(
        () => undefined,
        () => {
          this.conn.send(errorText('internal_error', 'the cluster could not answer', undefined));
        },
      )
      .finally(() => {
        if (--this.waiting === 0) this.tail = undefined;
      });
  }

  later(text: Promise<string>): void {
    this.waiting++;
    const previous = this.tail;
    this.tail = text
      .then(
        async (reply) => {
          await previous;
          this.conn.send(reply);
        },
        // The adapters' Promises do not reject; if one ever does, the command still gets an answer.
        async () => {
          await previous;
          this.conn.send(errorText('internal_error', 'the cluster could not answer', undefined));
        },
      )
      .finally(() => {
        if (--this.waiting === 0) this.tail = undefined;
      });
  }
}
