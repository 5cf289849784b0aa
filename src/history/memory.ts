import { randomBytes } from 'node:crypto';
import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import {
  type HistoryEntry,
  type HistoryOptions,
  type HistoryPosition,
  type HistoryRecovery,
  type HistorySince,
  type HistorySlice,
  type HistoryStore,
  validateHistoryOptions,
} from './store.js';

export interface MemoryHistoryOptions extends HistoryOptions {
  /** Clock and timer of the TTL sweep (virtual time in tests). Default asyncScheduler. */
  readonly scheduler?: SchedulerLike;
}

/**
 * One room's history: a ring of the last `size` publishes in two parallel
 * arrays (no object per entry), grown up to `size` as publishes arrive. The
 * entry of offset `o` sits at slot `(o - 1) % size`.
 */
class RoomRing {
  latest = 0;
  readonly froms: (string | undefined)[] = [];
  readonly datas: (string | Uint8Array)[] = [];

  constructor(
    readonly epoch: string,
    public touched: number,
  ) {}

  /** Oldest offset still kept (latest + 1 when nothing is). */
  oldest(size: number): number {
    return this.latest - Math.min(this.latest, size) + 1;
  }

  entries(from: number, size: number): HistoryEntry[] {
    const messages: HistoryEntry[] = [];
    for (let offset = from; offset <= this.latest; offset++) {
      const slot = (offset - 1) % size;
      messages.push({ offset, from: this.froms[slot], data: this.datas[slot]! });
    }
    return messages;
  }
}

/**
 * This process's history (the store without `--redis` or `--workers`): a ring
 * per room, created by the room's first publish or position read, released
 * `ttl` ms after its last publish by one sweep timer for the whole store (the
 * rooms are kept in order of their last publish, so the sweep looks only at
 * the ones that expired). Answers synchronously. A room nobody publishes to or
 * asks about costs nothing.
 */
export class MemoryHistory implements HistoryStore {
  private readonly rings = new Map<string, RoomRing>();
  private readonly size: number;
  private readonly ttl: number;
  private readonly scheduler: SchedulerLike;
  // Epochs: a random prefix per store (a restart never reuses one) and a counter per room lifetime.
  private readonly epochPrefix = randomBytes(6).toString('base64url');
  private lifetimes = 0;
  private sweep: Subscription | undefined;
  private closed = false;

  constructor(options: MemoryHistoryOptions) {
    validateHistoryOptions(options);
    this.size = options.size;
    this.ttl = options.ttl;
    this.scheduler = options.scheduler ?? asyncScheduler;
  }

  /** Rooms whose history is kept now. */
  get rooms(): number {
    return this.rings.size;
  }

  append(room: string, from: string | undefined, data: string | Uint8Array): HistoryPosition {
    let ring = this.rings.get(room);
    if (ring === undefined) ring = this.create(room);
    else {
      // Re-inserting keeps the map in order of last publish, which is what the sweep relies on.
      ring.touched = this.scheduler.now();
      this.rings.delete(room);
      this.rings.set(room, ring);
    }
    const offset = ++ring.latest;
    const slot = (offset - 1) % this.size;
    ring.froms[slot] = from;
    ring.datas[slot] = data;
    return { offset, epoch: ring.epoch };
  }

  since(room: string, since: HistorySince): HistoryRecovery {
    const ring = this.ringOf(room);
    const { latest, epoch } = ring;
    const recovered =
      (since.epoch === undefined || since.epoch === epoch) && since.offset <= latest && since.offset + 1 >= ring.oldest(this.size);
    return { recovered, offset: latest, epoch, messages: recovered ? ring.entries(since.offset + 1, this.size) : [] };
  }

  latest(room: string): HistoryPosition {
    const ring = this.ringOf(room);
    return { offset: ring.latest, epoch: ring.epoch };
  }

  last(room: string, limit: number): HistorySlice {
    const ring = this.ringOf(room);
    const from = Math.max(ring.oldest(this.size), ring.latest - Math.max(0, Math.floor(limit)) + 1);
    return { offset: ring.latest, epoch: ring.epoch, messages: ring.entries(from, this.size) };
  }

  close(): Promise<void> {
    this.closed = true;
    this.sweep?.unsubscribe();
    this.sweep = undefined;
    this.rings.clear();
    return Promise.resolve();
  }

  // A read creates the room's epoch, so that a position reported now (offset 0 of E) is still E once publishes begin.
  private ringOf(room: string): RoomRing {
    return this.rings.get(room) ?? this.create(room);
  }

  private create(room: string): RoomRing {
    const ring = new RoomRing(`${this.epochPrefix}.${(++this.lifetimes).toString(36)}`, this.scheduler.now());
    this.rings.set(room, ring);
    if (this.sweep === undefined && !this.closed) this.scheduleSweep(this.ttl);
    return ring;
  }

  private scheduleSweep(delay: number): void {
    this.sweep = this.scheduler.schedule(() => {
      this.sweep = undefined;
      const now = this.scheduler.now();
      for (const [room, ring] of this.rings) {
        const expiresIn = ring.touched + this.ttl - now;
        if (expiresIn > 0) return this.scheduleSweep(expiresIn);
        this.rings.delete(room);
      }
    }, delay);
  }
}

/** The in-memory history store: `memoryHistory({ size: 100, ttl: 300_000 })`. */
export const memoryHistory = (options: MemoryHistoryOptions): MemoryHistory => new MemoryHistory(options);
