import { describe, expect, it } from 'vitest';
import { backoffDelay, restartWithBackoff, type SlotExit } from '../../src/cluster/backoff.js';
import { createTestScheduler } from '../support/marbles.js';

const options = { initialDelay: 100, maxDelay: 400, stableAfter: 1000 };
const quick = (slot: string): SlotExit<string> => ({ slot, uptime: 5 });
const stable = (slot: string): SlotExit<string> => ({ slot, uptime: 1000 });

describe('backoffDelay', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 60, 2000].map((n) => backoffDelay(n, 100, 5000))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });
});

describe('restartWithBackoff', () => {
  it('restarts a crash-looping slot after 100, 200, 400, then 400 ms (the cap)', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      // Each restart crashes at once: exits at 0, then right after each restart.
      const exits$ = cold('a 99ms a 199ms a 399ms a', { a: quick('A') });
      expectObservable(exits$.pipe(restartWithBackoff(options, scheduler))).toBe('100ms A 199ms A 399ms A 399ms A', { A: 'A' });
    });
  });

  it('starts over at the initial delay after a stable run', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      // Two quick failures (100, 200), then a run of 1000 ms counts as stable: 100 again, then 200.
      const exits$ = cold('a 99ms a 199ms s 99ms a', { a: quick('A'), s: stable('A') });
      expectObservable(exits$.pipe(restartWithBackoff(options, scheduler))).toBe('100ms A 199ms A 99ms A 199ms A', { A: 'A' });
    });
  });

  it('counts each slot on its own: a crash-looping slot does not slow down another', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const exits$ = cold('a 99ms a 99ms b', { a: quick('A'), b: quick('B') });
      // A: 100 then 200 (at 300); B's first failure at 200 → 100 (at 300 too).
      expectObservable(exits$.pipe(restartWithBackoff(options, scheduler))).toBe('100ms A 199ms (AB)', { A: 'A', B: 'B' });
    });
  });

  it('cancels the waiting restarts when unsubscribed (shutdown)', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const exits$ = cold('a 9ms b', { a: quick('A'), b: quick('B') });
      // A restarts at 100; B would at 110 but the supervisor stops at 105.
      expectObservable(exits$.pipe(restartWithBackoff(options, scheduler)), '^ 104ms !').toBe('100ms A', { A: 'A' });
    });
  });

  it('keeps no state between subscriptions', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const restarts$ = cold('a 99ms a', { a: quick('A') }).pipe(restartWithBackoff(options, scheduler));
      expectObservable(restarts$).toBe('100ms A 199ms A', { A: 'A' });
      expectObservable(restarts$).toBe('100ms A 199ms A', { A: 'A' });
    });
  });
});
