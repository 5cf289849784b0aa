// The Redis cluster adapter: rooms, broadcast, send-by-id and member counts
// across every node started with the same Redis and cluster name. Layout,
// costs and failure behaviour: docs/cluster.md. ioredis is imported lazily,
// here only, so a server without a cluster never loads it.
import { randomBytes } from 'node:crypto';
import type { Redis, RedisOptions } from 'ioredis';
import { BehaviorSubject, type Subscription } from 'rxjs';
import type { Connection } from '../server/connection.js';
import { reconnectDelay, tickWhileUp } from '../streams/tickWhileUp.js';
import type { ClusterAdapter, ClusterFactory, ClusterHealth, ClusterOwner, PublishOptions } from './adapter.js';
import { NodeCluster } from './node-cluster.js';
import { assertIoredisInstalled } from './ioredis-installed.js';
import { decodeEnvelope, encodeEnvelope, Kind, sentBy } from './envelope.js';

export interface RedisClusterOptions {
  /** `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` or `rediss://…` (checked by `parseRedisUrl`). */
  readonly url: string;
  /** Nodes with the same Redis and name form one cluster. Default `rxws`. */
  readonly name?: string;
  /** A node not heard from for this long is dead: its members, ids and entries are dropped (ms). Default 10 000. */
  readonly nodeTimeout?: number;
  /** How often a node says it is alive, and collects dead nodes (ms). Default 1 000. */
  readonly heartbeatInterval?: number;
  /** Publishes and sends in flight to Redis beyond this are dropped (and counted), never queued. Default 10 000. */
  readonly maxInFlight?: number;
  /** Told when the link to Redis goes down or comes back. Default: one line on stderr per change. */
  readonly onLinkChange?: (up: boolean, reason: string) => void;
}

/** Throws a clear Error unless `url` is `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (or `rediss://`), DB a number. */
export function parseRedisUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a redis://HOST[:PORT][/DB] URL: ${JSON.stringify(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new Error(`the scheme must be redis:// or rediss://, got ${JSON.stringify(url)}`);
  }
  if (parsed.hostname === '') throw new Error(`no host in ${JSON.stringify(url)}`);
  if (!/^(\/\d*)?$/.test(parsed.pathname)) throw new Error(`the database must be a number (redis://HOST:PORT/0), got ${JSON.stringify(url)}`);
  if (parsed.search !== '' || parsed.hash !== '') throw new Error(`no query or fragment allowed in ${JSON.stringify(url)}`);
  return parsed;
}

/**
 * The `cluster` option for a server spanning several processes or machines
 * through one Redis: `new WebSocketServer({ cluster: redisCluster({ url }) })`.
 * The node starts at once; it joins the cluster whenever Redis answers.
 */
export function redisCluster(options: RedisClusterOptions): ClusterFactory {
  parseRedisUrl(options.url);
  return <S>(owner: ClusterOwner<S>) => new RedisCluster<S>(owner, options);
}

// Scripts run atomically in Redis, so a count or a send sees one consistent
// state. Keys are built from the prefix inside (a single Redis, not Redis
// Cluster: see docs/cluster.md). Time is Redis's own (TIME), one clock for all.
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const SCRIPTS = {
  /** KEYS nodes; ARGV prefix, node, timeout. Marks this node alive, forgets dead nodes; returns {live nodes, 1 if this node was new}. */
  rxwsHeartbeat: `${NOW}
local p = ARGV[1]
local added = redis.call('ZADD', KEYS[1], now, ARGV[2])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
for _, node in ipairs(dead) do
  local roomsKey = p .. 'node:' .. node .. ':rooms'
  for _, room in ipairs(redis.call('SMEMBERS', roomsKey)) do redis.call('HDEL', p .. 'room:' .. room, node) end
  local conns = redis.call('SMEMBERS', p .. 'node:' .. node .. ':conns')
  for i = 1, #conns, 1000 do redis.call('HDEL', p .. 'conn', unpack(conns, i, math.min(i + 999, #conns))) end
  redis.call('DEL', roomsKey, p .. 'node:' .. node .. ':conns')
  redis.call('ZREM', KEYS[1], node)
end
return {redis.call('ZCARD', KEYS[1]), added}`,
  /** KEYS room hash, node's room set; ARGV node, count, room. This node's member count of a room (0 removes it). */
  rxwsSetCount: `if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) redis.call('SADD', KEYS[2], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1]) redis.call('SREM', KEYS[2], ARGV[3])
end
return 1`,
  /** KEYS room hash, nodes; ARGV timeout. The room's members summed over the live nodes. */
  rxwsCount: `${NOW}
local entries = redis.call('HGETALL', KEYS[1])
local sum = 0
for i = 1, #entries, 2 do
  local seen = redis.call('ZSCORE', KEYS[2], entries[i])
  if seen and tonumber(seen) > now - tonumber(ARGV[1]) then sum = sum + tonumber(entries[i + 1]) end
end
return sum`,
  /** KEYS conn hash, nodes; ARGV prefix, id, timeout, envelope. Publishes to the node holding the id, if it is alive; returns 1 if so. */
  rxwsSend: `${NOW}
local node = redis.call('HGET', KEYS[1], ARGV[2])
if not node then return 0 end
local seen = redis.call('ZSCORE', KEYS[2], node)
if not seen or tonumber(seen) <= now - tonumber(ARGV[3]) then return 0 end
redis.call('PUBLISH', ARGV[1] .. 'n:' .. node, ARGV[4])
return 1`,
  /** KEYS nodes; ARGV prefix, node. A graceful exit: this node's entries go. */
  rxwsLeave: `local p = ARGV[1]
local node = ARGV[2]
for _, room in ipairs(redis.call('SMEMBERS', p .. 'node:' .. node .. ':rooms')) do redis.call('HDEL', p .. 'room:' .. room, node) end
local conns = redis.call('SMEMBERS', p .. 'node:' .. node .. ':conns')
for i = 1, #conns, 1000 do redis.call('HDEL', p .. 'conn', unpack(conns, i, math.min(i + 999, #conns))) end
redis.call('DEL', p .. 'node:' .. node .. ':rooms', p .. 'node:' .. node .. ':conns')
redis.call('ZREM', KEYS[1], node)
return 1`,
} as const;

type ScriptClient = Redis & {
  rxwsHeartbeat(nodes: string, prefix: string, node: string, timeout: number): Promise<[number, number]>;
  rxwsSetCount(roomKey: string, nodeRooms: string, node: string, count: number, room: string): Promise<number>;
  rxwsCount(roomKey: string, nodes: string, timeout: number): Promise<number>;
  rxwsSend(connKey: string, nodes: string, prefix: string, id: string, timeout: number, envelope: Buffer): Promise<number>;
  rxwsLeave(nodes: string, prefix: string, node: string): Promise<number>;
};

const SCRIPT_KEYS: Record<keyof typeof SCRIPTS, number> = { rxwsHeartbeat: 1, rxwsSetCount: 2, rxwsCount: 2, rxwsSend: 2, rxwsLeave: 1 };
const CHUNK = 1000; // ids or channels per command when re-registering

/**
 * One node of a Redis cluster. Everything local goes through a LocalCluster
 * at once (so this node never waits for Redis to serve its own connections);
 * what other nodes must see is published once to Redis; what other nodes
 * publish arrives on this node's subscriptions and takes the same local
 * fan-out. Its own publishes, echoed back by Redis, are recognised by node id
 * and skipped, so each is delivered exactly once.
 */
export class RedisCluster<S> extends NodeCluster<S> implements ClusterAdapter<S> {
  /** This node's id in Redis (random, 96 bits). */
  readonly nodeId = randomBytes(12).toString('base64url');
  /** Publishes and sends dropped because Redis was down or too far behind. */
  dropped = 0;

  private readonly prefix: string;
  private readonly nodesKey: string;
  private readonly connKey: string;
  private readonly nodeTimeout: number;
  private readonly maxInFlight: number;
  private readonly nodeChannel: string;
  private readonly allChannel: string;
  private pub: ScriptClient | undefined;
  private sub: Redis | undefined;
  private inFlight = 0;
  private liveNodes = 1;
  private registered = false;
  private closed = false;
  /** Rooms this node listens to, with the SUBSCRIBE in progress (members() waits for it). */
  private readonly subscribing = new Map<string, Promise<unknown>>();
  private readonly linkUp = new BehaviorSubject(false);
  private readonly heartbeat: Subscription;
  private readonly ready: Promise<void>;
  private wasUp: boolean | undefined;

  constructor(
    private readonly owner: ClusterOwner<S>,
    private readonly options: RedisClusterOptions,
  ) {
    super(owner);
    assertIoredisInstalled();
    this.prefix = `rxws:${options.name ?? 'rxws'}:`;
    this.nodesKey = `${this.prefix}nodes`;
    this.connKey = `${this.prefix}conn`;
    this.nodeChannel = `${this.prefix}n:${this.nodeId}`;
    this.allChannel = `${this.prefix}all`;
    this.nodeTimeout = options.nodeTimeout ?? 10_000;
    this.maxInFlight = options.maxInFlight ?? 10_000;
    this.heartbeat = this.linkUp.pipe(tickWhileUp(options.heartbeatInterval ?? 1000)).subscribe((tick) => this.beat(tick === 0));
    this.ready = this.connect();
  }

  // --- rooms: local at once, then told to the cluster ---

  join(conn: Connection<S>, room: string): boolean {
    if (!this.local.join(conn, room)) return false;
    this.storeCount(room);
    return true;
  }

  leave(conn: Connection<S>, room: string): boolean {
    if (!this.local.leave(conn, room)) return false;
    this.storeCount(room);
    return true;
  }

  leaveAll(conn: Connection<S>): void {
    const rooms = [...this.local.roomsOf(conn)];
    this.local.leaveAll(conn);
    for (const room of rooms) this.storeCount(room);
  }

  async members(room: string): Promise<number> {
    const pub = this.pub;
    if (!this.isUp() || pub === undefined) return this.local.count(room);
    try {
      // Joined means hearing every node's publishes: wait for this node's SUBSCRIBE.
      await this.subscribing.get(room);
      // Sent after this node's own count update on the same link, so it includes it.
      return await pub.rxwsCount(this.roomKey(room), this.nodesKey, this.nodeTimeout);
    } catch {
      return this.local.count(room);
    }
  }

  publish(room: string, data: string | Uint8Array, options?: PublishOptions<S>): number {
    const delivered = this.local.publish(room, data, options);
    this.send(`${this.prefix}r:${room}`, Kind.Publish, room, data, options);
    return delivered;
  }

  broadcast(data: string | Uint8Array, options?: PublishOptions<S>): number {
    const delivered = this.local.broadcast(data, options);
    this.send(this.allChannel, Kind.Broadcast, '', data, options);
    return delivered;
  }

  sendTo(id: string, data: string | Uint8Array): boolean | Promise<boolean> {
    const conn = this.owner.connection(id);
    if (conn !== undefined) return conn.send(data);
    const pub = this.pub;
    if (!this.isUp() || pub === undefined || !this.admit()) return false;
    const envelope = encodeEnvelope(Kind.Send, this.nodeId, id, data, undefined, undefined);
    return pub.rxwsSend(this.connKey, this.nodesKey, this.prefix, id, this.nodeTimeout, envelope).then(
      (found) => {
        this.inFlight--;
        return found === 1;
      },
      () => {
        this.inFlight--;
        this.dropped++;
        return false;
      },
    );
  }

  connectionOpened(conn: Connection<S>): void {
    if (!this.isUp()) return; // registered with the others once Redis is back
    const pub = this.pub!;
    pub.hset(this.connKey, conn.id, this.nodeId).catch(ignore);
    pub.sadd(this.nodeConnsKey(), conn.id).catch(ignore);
  }

  connectionClosed(conn: Connection<S>): void {
    this.leaveAll(conn);
    if (!this.isUp()) return;
    const pub = this.pub!;
    pub.hdel(this.connKey, conn.id).catch(ignore);
    pub.srem(this.nodeConnsKey(), conn.id).catch(ignore);
  }

  health(): ClusterHealth {
    // "up" once this node is registered again after (re)connecting, so `nodes` is current.
    const up = this.registered && this.isUp();
    return { redis: up ? 'up' : 'down', nodes: up ? this.liveNodes : 1 };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.heartbeat.unsubscribe();
    this.linkUp.complete();
    await this.ready;
    const { pub, sub } = this;
    if (pub === undefined || sub === undefined) return;
    if (pub.status === 'ready') {
      // Leave the cluster now rather than after nodeTimeout; never hang on a Redis that does not answer.
      await withTimeout(pub.rxwsLeave(this.nodesKey, this.prefix, this.nodeId).catch(ignore), 1000);
    }
    await Promise.all([withTimeout(pub.quit().catch(ignore), 1000), withTimeout(sub.quit().catch(ignore), 1000)]);
    pub.disconnect();
    sub.disconnect();
  }

  // --- the links to Redis ---

  private async connect(): Promise<void> {
    let RedisClient: typeof import('ioredis').Redis;
    try {
      ({ Redis: RedisClient } = await import('ioredis'));
    } catch (err) {
      this.linkChanged(false, `the ioredis package is needed for a Redis cluster: ${(err as Error).message}`);
      return;
    }
    if (this.closed) return;
    const clientOptions: RedisOptions = {
      // Bounded memory and no blocking while Redis is down: commands fail at once instead of queueing.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // Subscriptions are restored by this adapter on every 'ready' (a restarted Redis knows none).
      autoResubscribe: false,
      retryStrategy: reconnectDelay,
      connectTimeout: 2000,
      // A Redis that hangs (rather than drops the link) must not hang a join or a send either.
      commandTimeout: 2000,
      enableAutoPipelining: true,
      lazyConnect: false,
    };
    const pub = new RedisClient(this.options.url, clientOptions) as ScriptClient;
    for (const [name, lua] of Object.entries(SCRIPTS)) pub.defineCommand(name, { lua, numberOfKeys: SCRIPT_KEYS[name as keyof typeof SCRIPTS] });
    const sub = new RedisClient(this.options.url, { ...clientOptions, enableAutoPipelining: false });
    this.pub = pub;
    this.sub = sub;
    // An 'error' with no listener would crash the process: errors only mean "down", reconnecting follows.
    let lastError = '';
    const onError = (err: Error) => {
      lastError = err.message;
      this.linkChanged(false, err.message);
    };
    pub.on('error', onError);
    sub.on('error', onError);
    const onDown = () => {
      this.registered = false;
      this.linkUp.next(false);
      this.linkChanged(false, lastError || 'connection closed');
    };
    pub.on('close', onDown);
    sub.on('close', onDown);
    pub.on('ready', () => this.onReady());
    sub.on('ready', () => this.onReady());
    sub.on('messageBuffer', (_channel: Buffer, message: Buffer) => this.receive(message));
  }

  /** Either link is (back) up: once both are, this node registers everything again, for Redis may have restarted empty. */
  private onReady(): void {
    const { pub, sub } = this;
    if (this.closed || pub?.status !== 'ready' || sub?.status !== 'ready') return;
    this.subscribing.clear();
    const channels = [this.allChannel, this.nodeChannel];
    for (const room of this.interestingRooms()) channels.push(`${this.prefix}r:${room}`);
    const subscribed: Promise<unknown>[] = [];
    for (let i = 0; i < channels.length; i += CHUNK) subscribed.push(sub.subscribe(...channels.slice(i, i + CHUNK)));
    const all = Promise.all(subscribed);
    for (const room of this.interestingRooms()) this.subscribing.set(room, all);
    Promise.all([all, this.register(pub)]).then(
      () => {
        this.registered = true;
        this.linkUp.next(true);
        this.linkChanged(true, '');
      },
      () => {
        // A link dropped (its next 'ready' starts over) or Redis stalled past the command timeout
        // with the links still up: try again shortly, or the others would take this node for dead.
        if (!this.closed) setTimeout(() => this.onReady(), 1000).unref();
      },
    );
  }

  /** This node's members and ids, written whole (idempotent: counts are absolute). */
  private async register(pub: ScriptClient): Promise<void> {
    const [nodes] = await pub.rxwsHeartbeat(this.nodesKey, this.prefix, this.nodeId, this.nodeTimeout);
    this.liveNodes = nodes;
    const writes: Promise<unknown>[] = [];
    for (const room of this.local.names()) writes.push(this.storeCountNow(pub, room));
    let ids: string[] = [];
    const flushIds = () => {
      if (ids.length === 0) return;
      writes.push(pub.hset(this.connKey, ...ids.flatMap((id) => [id, this.nodeId])), pub.sadd(this.nodeConnsKey(), ...ids));
      ids = [];
    };
    for (const conn of this.owner.connections()) {
      ids.push(conn.id);
      if (ids.length === CHUNK) flushIds();
    }
    flushIds();
    await Promise.all(writes);
  }

  /** Heartbeat: says this node is alive, collects dead ones, learns how many are live. */
  private beat(first: boolean): void {
    const pub = this.pub;
    if (first || pub === undefined || !this.isUp()) return; // register() just did it
    pub.rxwsHeartbeat(this.nodesKey, this.prefix, this.nodeId, this.nodeTimeout).then(([nodes, added]) => {
      this.liveNodes = nodes;
      // Others took this node for dead (a stall past nodeTimeout) and dropped its entries: write them again.
      if (added === 1 && this.isUp()) this.register(pub).catch(ignore);
    }, ignore);
  }

  /** Both links ready: commands may be sent (they fail at once, never queue, if a link drops meanwhile). */
  private isUp(): boolean {
    return this.pub?.status === 'ready' && this.sub?.status === 'ready';
  }

  private linkChanged(up: boolean, reason: string): void {
    if (this.wasUp === up || this.closed) return;
    this.wasUp = up;
    if (this.options.onLinkChange !== undefined) this.options.onLinkChange(up, reason);
    else process.stderr.write(up ? 'rxws: cluster: redis up\n' : `rxws: cluster: redis down (${reason}); serving this node's connections only\n`);
  }

  // --- publishing and receiving ---

  /** Room interest from LocalCluster: listen to a room's channel only while this node has members or watchers. */
  protected interest(room: string, interested: boolean): void {
    if (!interested) this.subscribing.delete(room);
    const sub = this.sub;
    if (sub === undefined || !this.isUp()) return; // onReady subscribes to what is interesting then
    const channel = `${this.prefix}r:${room}`;
    if (interested) {
      const subscribed = sub.subscribe(channel).catch(ignore);
      this.subscribing.set(room, subscribed);
    } else {
      sub.unsubscribe(channel).catch(ignore);
    }
  }

  private *interestingRooms(): Iterable<string> {
    yield* this.local.names();
    // Rooms watched through messages$ without local members are interesting too.
    yield* this.local.watchedRooms();
  }

  private storeCount(room: string): void {
    const pub = this.pub;
    if (pub !== undefined && this.isUp()) this.storeCountNow(pub, room).catch(ignore);
  }

  private storeCountNow(pub: ScriptClient, room: string): Promise<number> {
    return pub.rxwsSetCount(this.roomKey(room), this.nodeRoomsKey(), this.nodeId, this.local.count(room), room);
  }

  /** Publishes once to Redis, or drops (and counts) when Redis is down or too far behind: never a queue. */
  private send(channel: string, kind: Kind, room: string, data: string | Uint8Array, options: PublishOptions<S> | undefined): void {
    const pub = this.pub;
    if (pub === undefined || !this.isUp()) {
      this.dropped++;
      return;
    }
    if (!this.admit()) return;
    const envelope = encodeEnvelope(kind, this.nodeId, room, data, options?.from?.id, options?.except?.id);
    pub.publish(channel, envelope).then(this.settled, this.failed);
  }

  private admit(): boolean {
    if (this.inFlight >= this.maxInFlight) {
      this.dropped++;
      return false;
    }
    this.inFlight++;
    return true;
  }

  private readonly settled = () => {
    this.inFlight--;
  };
  private readonly failed = () => {
    this.inFlight--;
    this.dropped++;
  };

  private receive(message: Buffer): void {
    if (sentBy(message, this.nodeId)) return; // this node's own publish: delivered locally already
    let envelope;
    try {
      envelope = decodeEnvelope(message);
    } catch (err) {
      this.owner.report(err);
      return;
    }
    const { kind, target, data, fromId, exceptId } = envelope;
    if (kind === Kind.Publish) this.local.deliverPublish(target, data, fromId, exceptId);
    else if (kind === Kind.Broadcast) this.local.deliverBroadcast(data, exceptId);
    else this.owner.connection(target)?.send(data);
  }

  private roomKey(room: string): string {
    return `${this.prefix}room:${room}`;
  }
  private nodeRoomsKey(): string {
    return `${this.prefix}node:${this.nodeId}:rooms`;
  }
  private nodeConnsKey(): string {
    return `${this.prefix}node:${this.nodeId}:conns`;
  }
}

const ignore = (): void => {};

function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() => clearTimeout(timer));
}
