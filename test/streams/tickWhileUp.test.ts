import { describe, expect, it } from 'vitest';
import { reconnectDelay, tickWhileUp } from '../../src/streams/tickWhileUp.js';
import { createTestScheduler } from '../support/marbles.js';

describe('tickWhileUp', () => {
  it('ticks at once when the link comes up, then every period; stops while down; starts over on reconnect', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const up$ = cold('u 24ms d 9ms u 14ms |', { u: true, d: false });
      // up at 0: ticks 0, 10, 20; down at 25; up again at 35: ticks 35, 45; the source completes at 50 and so do we.
      expectObservable(up$.pipe(tickWhileUp(10, scheduler))).toBe('a 9ms b 9ms c 14ms a 9ms b 4ms |', { a: 0, b: 1, c: 2 });
      expectSubscriptions(up$.subscriptions).toBe('^ 49ms !');
    });
  });

  it('repeated "up" flags neither restart the period nor add ticks; unsubscribing stops the timer', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ hot, expectObservable, expectSubscriptions }) => {
      const up$ = hot('u 4ms u 4ms u 20ms -', { u: true });
      expectObservable(up$.pipe(tickWhileUp(10, scheduler)), '^ 25ms !').toBe('a 9ms b 9ms c', { a: 0, b: 1, c: 2 });
      expectSubscriptions(up$.subscriptions).toBe('^ 25ms !');
    });
  });

  it('a link that starts down ticks nothing until it comes up', () => {
    const scheduler = createTestScheduler();
    scheduler.run(({ cold, expectObservable }) => {
      expectObservable(cold('d 29ms u 15ms |', { u: true, d: false }).pipe(tickWhileUp(10, scheduler))).toBe('30ms a 9ms b 5ms |', { a: 0, b: 1 });
    });
  });
});

describe('reconnectDelay', () => {
  it('backs off from 100 ms, doubling, capped at 1 s so a returning Redis is found within a second', () => {
    expect([1, 2, 3, 4, 5, 6, 50].map(reconnectDelay)).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });
});
