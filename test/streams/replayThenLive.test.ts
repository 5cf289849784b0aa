import { describe, expect, it } from 'vitest';
import { replayThenLive, type ReplayPage } from '../../src/streams/replayThenLive.js';
import { createTestScheduler } from '../support/marbles.js';

// Messages are their offsets; a replay page is written p (page) in the marbles.
const byOffset = { offsetOf: (offset: number) => offset };
const page = (offset: number, ...messages: number[]): ReplayPage<number> => ({ offset, messages });
const values = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7 };

describe('replayThenLive', () => {
  it('a publish during the replay comes after it, once: live is held, what the replay covered is dropped, the rest follows in order', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      // Offsets 3, 4, 5 are published while the replay (1 … 3) is being read; 6 after it.
      const live = hot('  -3-4-5 14ms 6', values);
      const replay = cold('--a 7ms |', { a: page(3, 1, 2, 3) });
      let liveAt: number | undefined;
      const result = live.pipe(replayThenLive(replay, { ...byOffset, onLive: () => (liveAt = scheduler.now()) }));
      expectObservable(result).toBe('--(123) 3ms (45) 6ms 6', values);
      expectSubscriptions(live.subscriptions).toBe('^');
      expectSubscriptions(replay.subscriptions).toBe('^ 9ms !');
      scheduler.flush();
      expect(liveAt).toBe(10);
    });
  });

  it('drops live offsets the replay covered even when they arrive after it (a late cluster link), and never repeats one', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ hot, cold, expectObservable }) => {
      const live = hot('  ----2-3-4-5-', values);
      const replay = cold('-a|', { a: page(3, 1, 2, 3) });
      expectObservable(live.pipe(replayThenLive(replay, byOffset))).toBe('-(123) 2ms 4-5-', values);
    });
  });

  it('a replay with nothing to give (not recovered) still drops live offsets up to the position it read at', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ hot, cold, expectObservable }) => {
      // Joined at offset 4 with nothing replayed: 4 was already published before the read, 5 and 6 are new.
      const live = hot('  -4-5--6-', values);
      const replay = cold('--(a|)', { a: page(4) });
      expectObservable(live.pipe(replayThenLive(replay, byOffset))).toBe('---5--6-', values);
    });
  });

  it('a replay that fails half-way: what it gave, then the error; live is unsubscribed and what was held is dropped', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const live = hot('  -5-6---7-', values);
      const replay = cold('-a---#', { a: page(2, 1, 2) }, 'store unreachable');
      let wentLive = false;
      expectObservable(live.pipe(replayThenLive(replay, { ...byOffset, onLive: () => (wentLive = true) }))).toBe(
        '-(12)#',
        values,
        'store unreachable',
      );
      expectSubscriptions(live.subscriptions).toBe('^----!');
      expectSubscriptions(replay.subscriptions).toBe('^----!');
      scheduler.flush();
      expect(wentLive).toBe(false);
    });
  });

  it('a leave during the replay (unsubscribe) ends the replay and live at once and emits nothing held', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const live = hot('  -4-5---6-', values);
      const replay = cold('-a----b|', { a: page(1, 1), b: page(3, 2, 3) });
      expectObservable(live.pipe(replayThenLive(replay, byOffset)), '^--!').toBe('-1-', values);
      expectSubscriptions(live.subscriptions).toBe('^--!');
      expectSubscriptions(replay.subscriptions).toBe('^--!');
    });
  });

  it('a replay in pages: each in order; live completing during the replay completes after the held messages', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ hot, cold, expectObservable }) => {
      const live = hot('  --5-6|', values);
      const replay = cold('-a 5ms b 5ms |', { a: page(2, 1, 2), b: page(4, 3, 4) });
      expectObservable(live.pipe(replayThenLive(replay, byOffset))).toBe('-(12)--(34)--(56|)', values);
    });
  });
});
