import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { isHistorySince, MemoryHistory, memoryHistory } from '../../src/index.js';
import { createTestScheduler } from '../support/marbles.js';

/** Runs `steps` (time in ms → what to do then) in virtual time against a store on that clock. */
function inVirtualTime(options: { size: number; ttl: number }, steps: Record<number, (store: MemoryHistory) => void>): void {
  const scheduler: TestScheduler = createTestScheduler();
  scheduler.run(() => {
    const store = memoryHistory({ ...options, scheduler });
    for (const [at, step] of Object.entries(steps)) scheduler.schedule(() => step(store), Number(at));
  });
}

describe('memoryHistory', () => {
  it('assigns consecutive offsets per room from 1, one epoch per room, and keeps the last `size`', () => {
    const store = memoryHistory({ size: 3, ttl: 60_000 });
    const a = [1, 2, 3, 4, 5].map((n) => store.append('a', 'c1', `a${n}`));
    const b = store.append('b', undefined, 'b1');
    expect(a.map((p) => p.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(a.map((p) => p.epoch)).size).toBe(1);
    expect(b).toEqual({ offset: 1, epoch: expect.any(String) });
    expect(b.epoch).not.toBe(a[0]!.epoch);
    expect(store.latest('a')).toEqual({ offset: 5, epoch: a[0]!.epoch });
    expect(store.last('a', 10)).toEqual({
      offset: 5,
      epoch: a[0]!.epoch,
      messages: [
        { offset: 3, from: 'c1', data: 'a3' },
        { offset: 4, from: 'c1', data: 'a4' },
        { offset: 5, from: 'c1', data: 'a5' },
      ],
    });
    expect(store.last('a', 1).messages.map((m) => m.offset)).toEqual([5]);
    expect(store.last('b', 3).messages).toEqual([{ offset: 1, from: undefined, data: 'b1' }]);
    void store.close();
  });

  it('since: recovers exactly K+1 … latest while K+1 is kept, in the current epoch; otherwise recovered false and nothing', () => {
    const store = memoryHistory({ size: 3, ttl: 60_000 });
    const { epoch } = store.latest('r');
    for (const n of [1, 2, 3, 4, 5]) store.append('r', 'p', `m${n}`);
    const offsets = (since: { offset: number; epoch?: string }) => {
      const { recovered, messages, offset } = store.since('r', since);
      expect(offset).toBe(5);
      return { recovered, offsets: messages.map((m) => m.offset) };
    };
    expect(offsets({ offset: 2, epoch })).toEqual({ recovered: true, offsets: [3, 4, 5] });
    expect(offsets({ offset: 4 })).toEqual({ recovered: true, offsets: [5] });
    expect(offsets({ offset: 5, epoch })).toEqual({ recovered: true, offsets: [] });
    expect(offsets({ offset: 1, epoch })).toEqual({ recovered: false, offsets: [] }); // offset 2 left the ring
    expect(offsets({ offset: 6, epoch })).toEqual({ recovered: false, offsets: [] }); // beyond the latest
    expect(offsets({ offset: 3, epoch: 'another' })).toEqual({ recovered: false, offsets: [] });
    void store.close();
  });

  it('a position read before any publish (offset 0) names the epoch the publishes then get', () => {
    const store = memoryHistory({ size: 10, ttl: 60_000 });
    const before = store.latest('r');
    expect(before.offset).toBe(0);
    store.append('r', 'p', 'x');
    expect(store.since('r', before)).toMatchObject({ recovered: true, messages: [{ offset: 1, data: 'x' }] });
    void store.close();
  });

  it('releases a room `ttl` after its last publish (not its first); a later publish starts a new epoch at offset 1', () => {
    let epoch1 = '';
    inVirtualTime({ size: 10, ttl: 100 }, {
      0: (store) => {
        epoch1 = store.append('r', 'p', '1').epoch;
        store.append('idle', 'p', '1');
      },
      60: (store) => store.append('r', 'p', '2'),
      150: (store) => {
        expect(store.rooms).toBe(1); // 'idle' expired at 100, 'r' lives until 160
        expect(store.latest('r')).toEqual({ offset: 2, epoch: epoch1 });
      },
      161: (store) => {
        expect(store.rooms).toBe(0);
        const next = store.append('r', 'p', '3');
        expect(next.offset).toBe(1);
        expect(next.epoch).not.toBe(epoch1);
        expect(store.since('r', { offset: 2, epoch: epoch1 }).recovered).toBe(false);
      },
      400: (store) => expect(store.rooms).toBe(0),
    });
  });

  it('one sweep timer for the store, whatever the number of publishes and rooms', () => {
    const scheduler = createTestScheduler();
    scheduler.run(() => {
      const store = memoryHistory({ size: 5, ttl: 1000, scheduler });
      for (let i = 0; i < 1000; i++) store.append(`room${i % 50}`, 'p', String(i));
      expect(scheduler.actions.length).toBe(1);
      void store.close();
      expect(scheduler.actions.filter((action) => !action.closed).length).toBe(0);
    });
  });

  it('refuses a size or ttl it cannot use', () => {
    expect(() => memoryHistory({ size: 0, ttl: 1000 })).toThrow(RangeError);
    expect(() => memoryHistory({ size: 1.5, ttl: 1000 })).toThrow(RangeError);
    expect(() => memoryHistory({ size: 10, ttl: 0 })).toThrow(RangeError);
    expect(() => memoryHistory({ size: 10, ttl: Number.NaN })).toThrow(RangeError);
  });
});

describe('isHistorySince', () => {
  it('accepts an integer offset ≥ 0 with an optional string epoch, nothing else', () => {
    expect([{ offset: 0 }, { offset: 7, epoch: 'e' }].every(isHistorySince)).toBe(true);
    const bad = [null, 3, 'x', [], {}, { offset: -1 }, { offset: 1.5 }, { offset: '1' }, { offset: 1, epoch: 2 }, { offset: 2 ** 60 }];
    expect(bad.filter(isHistorySince)).toEqual([]);
  });
});
