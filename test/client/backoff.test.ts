import { describe, expect, it } from 'vitest';
import { type Drop, reconnectBackoff, reconnectDelay } from '../../src/client/backoff.js';
import { createTestScheduler } from '../support/marbles.js';

const noJitter = { initialDelay: 100, maxDelay: 400, factor: 2, jitter: false, stableAfter: 1000 } as const;
const failed: Drop = { uptime: 0 };
const stable: Drop = { uptime: 1000 };
// Marble names of the attempt numbers.
const n = { 0: 0, 1: 1, 2: 2, 3: 3 };

describe('reconnectDelay', () => {
  it('grows by the factor from the initial delay and stops at the cap', () => {
    expect([0, 1, 2, 3, 4, 2000].map((n) => reconnectDelay(n, { ...noJitter, maxDelay: 5000 }))).toEqual([100, 200, 400, 800, 1600, 5000]);
    expect([0, 1, 2].map((n) => reconnectDelay(n, { initialDelay: 100, factor: 3, jitter: false }))).toEqual([100, 300, 900]);
  });

  it('full jitter draws anywhere from 0 to the ceiling; a share of jitter keeps the rest fixed', () => {
    expect(reconnectDelay(2, { ...noJitter, jitter: true }, () => 0)).toBe(0);
    expect(reconnectDelay(2, { ...noJitter, jitter: true }, () => 0.5)).toBe(200);
    expect(reconnectDelay(2, { ...noJitter, jitter: 0.25 }, () => 0)).toBe(300);
    // The default is full jitter.
    expect(reconnectDelay(0, { initialDelay: 100 }, () => 0.25)).toBe(25);
  });
});

describe('reconnectBackoff (virtual time)', () => {
  it('retries a server that stays down after 100, 200, 400, then 400 ms (the cap)', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      // Every attempt fails: its drop comes 1 ms after it.
      const drops$ = cold('a 100ms a 200ms a 400ms a', { a: failed });
      expectObservable(drops$.pipe(reconnectBackoff(noJitter, scheduler))).toBe('100ms 0 200ms 1 400ms 2 400ms 3', n);
    });
  });

  it('starts over at the initial delay after a stable connection', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const drops$ = cold('a 100ms a 200ms s 100ms a', { a: failed, s: stable });
      expectObservable(drops$.pipe(reconnectBackoff(noJitter, scheduler))).toBe('100ms 0 200ms 1 100ms 0 200ms 1', n);
    });
  });

  it('waits a random share of the ceiling (full jitter)', () => {
    const scheduler = createTestScheduler();
    const draws = [0.5, 0.25, 1];
    scheduler.run(({ cold, expectObservable }) => {
      const drops$ = cold('a 50ms a 50ms a', { a: failed });
      // 0.5·100, 0.25·200, 1·400
      expectObservable(drops$.pipe(reconnectBackoff({ ...noJitter, jitter: true }, scheduler, () => draws.shift()!))).toBe('50ms 0 50ms 1 400ms 2', n);
    });
  });

  it('cancels the waiting attempt when unsubscribed (client.close())', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('a', { a: failed }).pipe(reconnectBackoff(noJitter, scheduler)), '^ 50ms !').toBe('');
    });
  });

  it('keeps no state between subscriptions', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      const attempts$ = cold('a 100ms a', { a: failed }).pipe(reconnectBackoff(noJitter, scheduler));
      expectObservable(attempts$).toBe('100ms 0 200ms 1', n);
      expectObservable(attempts$).toBe('100ms 0 200ms 1', n);
    });
  });
});
