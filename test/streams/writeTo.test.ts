import { type Observable, tap } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { ConnectionClosedError, streamTo, writeTo, type WriteTarget } from '../../src/streams/writeTo.js';
import { createTestScheduler } from '../support/marbles.js';

let testScheduler: TestScheduler;
beforeEach(() => {
  testScheduler = createTestScheduler();
});

/**
 * A connection with room for `room` messages between drains: `drain$` (from
 * a marble) empties it. Records each send as [virtual time, value].
 */
class FakeTarget implements WriteTarget {
  readonly sends: [number, string][] = [];
  pending = 0;
  open = true;
  readonly drain$: Observable<unknown>;
  constructor(
    private readonly room: number,
    drain$: Observable<unknown>,
  ) {
    this.drain$ = drain$.pipe(tap(() => (this.pending = 0)));
  }
  get writable(): boolean {
    return this.open && this.pending < this.room;
  }
  trySend(data: string | Uint8Array): 'queued' | 'full' | 'closed' {
    if (!this.open) return 'closed';
    if (this.pending >= this.room + 1) return 'full';
    this.pending++;
    this.sends.push([testScheduler.now(), String(data)]);
    return 'queued';
  }
}

/** A generator that counts how many values were pulled and whether it was finished (return()). */
function counted(values: Iterable<string>) {
  const stats = { pulled: 0, finalized: false };
  function* gen() {
    try {
      for (const v of values) {
        stats.pulled++;
        yield v;
      }
    } finally {
      stats.finalized = true;
    }
  }
  return { source: gen(), stats };
}

describe('streamTo / writeTo', () => {
  it('sends while writable, then one batch per drain, and emits the count when the source is exhausted', () => {
    let target!: FakeTarget;
    testScheduler.run(({ hot, expectObservable }) => {
      target = new FakeTarget(2, hot('---d--d--d'));
      expectObservable(streamTo(target, ['a', 'b', 'c', 'd', 'e'])).toBe('------(n|)', { n: 5 });
    });
    // Two at once, two after the drain at 3, the last after the drain at 6.
    expect(target.sends).toEqual([
      [0, 'a'],
      [0, 'b'],
      [3, 'c'],
      [3, 'd'],
      [6, 'e'],
    ]);
  });

  it('pulls a value only when it can be sent: an endless generator is pulled exactly as often as it is sent', () => {
    const { source, stats } = counted(
      (function* () {
        for (let i = 0; ; i++) yield `m${i}`;
      })(),
    );
    let target!: FakeTarget;
    testScheduler.run(({ hot, expectObservable }) => {
      target = new FakeTarget(3, hot('--d--d--d--d'));
      expectObservable(streamTo(target, source), '^ 10ms !').toBe('');
    });
    // 3 at 0, and 3 after each drain at 2, 5, 8 (the drain at 11 is after the unsubscription).
    expect(target.sends.map(([t]) => t)).toEqual([0, 0, 0, 2, 2, 2, 5, 5, 5, 8, 8, 8]);
    expect(target.sends.map(([, v]) => v)).toEqual(Array.from({ length: 12 }, (_, i) => `m${i}`));
    expect(stats.pulled).toBe(12);
    // Unsubscribing finished the generator (its finally ran).
    expect(stats.finalized).toBe(true);
  });

  it('errors with ConnectionClosedError (carrying the count sent) when drain$ completes: the connection closed', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const target = new FakeTarget(2, hot('---d--|'));
      expectObservable(streamTo(target, ['a', 'b', 'c', 'd', 'e'])).toBe('------#', undefined, new ConnectionClosedError(4));
    });
  });

  it('errors with ConnectionClosedError when a send finds the connection closed', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const target = new FakeTarget(5, hot('-'));
      const closingTarget: WriteTarget = {
        drain$: target.drain$,
        writable: true,
        trySend: (data) => (target.sends.length < 2 ? target.trySend(data) : 'closed'),
      };
      expectObservable(streamTo(closingTarget, ['a', 'b', 'c', 'd'])).toBe('#', undefined, new ConnectionClosedError(2));
    });
  });

  it('passes an error thrown by the source on', () => {
    const failing = (function* () {
      yield 'a';
      throw new Error('disk on fire');
    })();
    testScheduler.run(({ hot, expectObservable }) => {
      const target = new FakeTarget(5, hot('-'));
      expectObservable(streamTo(target, failing)).toBe('#', undefined, new Error('disk on fire'));
    });
  });

  it('writeTo sends whole sources one after the other (concatMap), each paced by drain$', () => {
    let target!: FakeTarget;
    testScheduler.run(({ hot, cold, expectObservable }) => {
      target = new FakeTarget(2, hot('--d--d--d--d'));
      const sources = cold('a---b|', { a: ['a1', 'a2', 'a3'], b: ['b1', 'b2'] });
      expectObservable(sources.pipe(writeTo(target))).toBe('--x--(y|)', { x: 3, y: 2 });
    });
    // a1 a2 at 0, a3 at the drain at 2; b arrives at 4, its first message fits (1 pending), the second waits for 5.
    expect(target.sends).toEqual([
      [0, 'a1'],
      [0, 'a2'],
      [2, 'a3'],
      [4, 'b1'],
      [5, 'b2'],
    ]);
  });
});
