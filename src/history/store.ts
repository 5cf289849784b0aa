// The seam between the rooms and wherever a room's history lives: this
// process (memoryHistory), the workers' primary (IPC) or Redis. It sits beside
// the cluster adapter, not inside it: an adapter asks the store for the
// position of a publish and never knows where the entries are kept
// (Centrifugo's split; socket.io's recovery lives in each adapter, which is
// what this avoids).
//
// The contract every store keeps:
// - Positions: the store assigns them. Within one room and one epoch the
//   offsets of `append` are consecutive (1, 2, 3, …): never a gap, never a
//   repeat, whichever process or node appended.
// - Order: for one room, `append` results resolve in offset order (a store
//   that answers asynchronously never settles offset 8 before offset 7), so a
//   caller that delivers on resolution delivers in offset order.
// - Epoch: a string naming one lifetime of a room's history. A new epoch
//   begins when the history is lost (TTL passed with no publish, the backing
//   store came back empty, the process restarted): its offsets start from 1
//   again, and the old epoch is never reused.
// - Retention: the last `size` entries of a room, until `ttl` ms after the
//   room's last append; then the room and its epoch are released.
// - Reads (`since`, `last`, `latest`) see every append that resolved before
//   the read was made, and report the position they read at, so that a
//   replay and the live messages after it meet without a gap or a repeat.
//
// Like the adapter's answers, each result is a plain value when the store
// can answer alone (memory) and a Promise when another process must be asked.

/** A room's position: the latest offset of its current epoch (0: nothing published in it yet). */
export interface HistoryPosition {
  readonly offset: number;
  readonly epoch: string;
}

/** One publish kept in a room's history. */
export interface HistoryEntry {
  readonly offset: number;
  /** The publisher's connection id (undefined when published without `from`). */
  readonly from: string | undefined;
  readonly data: string | Uint8Array;
}

/** The last entries of a room at a position: what the `history` command answers. */
export interface HistorySlice extends HistoryPosition {
  /** Oldest first, ending at `offset`. */
  readonly messages: readonly HistoryEntry[];
}

/** What was published after a position the client had seen. */
export interface HistoryRecovery extends HistorySlice {
  /**
   * True when every entry of the asked epoch after the asked offset is still
   * kept: `messages` are exactly offsets K+1 … `offset`. False (and `messages`
   * empty) when the epoch is not the current one, offset K+1 has left the
   * history, or K is beyond the latest offset.
   */
  readonly recovered: boolean;
}

/** A position a client asks to continue from; without `epoch`, the room's current one. */
export interface HistorySince {
  readonly offset: number;
  readonly epoch?: string | undefined;
}

/** Sizing of a room's history. */
export interface HistoryOptions {
  /** Entries kept per room (an integer ≥ 1). */
  readonly size: number;
  /** A room's history is released this many ms after its last publish (> 0). */
  readonly ttl: number;
}

export type MaybePromise<T> = T | Promise<T>;

export interface HistoryStore {
  /** Keeps a publish and gives it the room's next offset (see the ordering contract above). */
  append(room: string, from: string | undefined, data: string | Uint8Array): MaybePromise<HistoryPosition>;
  /** What the room kept after `since`, read at the room's latest position. */
  since(room: string, since: HistorySince): MaybePromise<HistoryRecovery>;
  /** The room's latest position (offset 0 and a fresh epoch for a room with no history yet). */
  latest(room: string): MaybePromise<HistoryPosition>;
  /** The last `limit` entries kept (at most `size`), oldest first. */
  last(room: string, limit: number): MaybePromise<HistorySlice>;
  /** Releases timers and connections; the store answers nothing afterwards. */
  close(): Promise<void>;
}

/** Throws a RangeError unless `options` is a usable history sizing. */
export function validateHistoryOptions(options: HistoryOptions): void {
  if (!Number.isSafeInteger(options.size) || options.size < 1) throw new RangeError(`history size must be an integer ≥ 1, got ${options.size}`);
  if (!(options.ttl > 0) || !Number.isFinite(options.ttl)) throw new RangeError(`history ttl must be a positive number of ms, got ${options.ttl}`);
}

/** A position `since` is well-formed when its offset is an integer ≥ 0 and its epoch, if any, a string. */
export function isHistorySince(value: unknown): value is HistorySince {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const { offset, epoch } = value as Record<string, unknown>;
  return Number.isSafeInteger(offset) && (offset as number) >= 0 && (epoch === undefined || typeof epoch === 'string');
}

/** A publish with its position, as the fan-out of a room with history sees it on any node. */
export interface PositionedPublish extends HistoryPosition {
  readonly room: string;
  /** The publisher's connection id (undefined when published without `from`). */
  readonly fromId: string | undefined;
  /** What was appended to the history (the published data). */
  readonly data: string | Uint8Array;
}

/**
 * What a cluster adapter is given (`ClusterOwner.history`) when the server
 * keeps room history: it asks `store` for the position of every room publish
 * (`append`, in the order its publishers sent), hands the position across
 * nodes with the data, and each node frames what its members receive once
 * per publish with `frame` (e.g. the relay's JSON with `offset` and `epoch`).
 */
export interface RoomHistory {
  readonly store: HistoryStore;
  frame(publish: PositionedPublish): string | Uint8Array;
}
