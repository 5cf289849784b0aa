import { map, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { type Drainable, drainConnections } from '../../src/streams/drainConnections.js';

const GRACE = 20;

/** A connection whose close handshake finishes when the test says so. */
class FakeConnection implements Drainable {
  readonly closes: { code: number; reason: string; at: number }[] = [];
  readonly terminations: number[] = [];
  readonly closed$ = new Subject<void>();

  constructor(
    readonly name: string,
    private readonly scheduler: TestScheduler,
  ) {}

  close(code: number, reason: string): void {
    this.closes.push({ code, reason, at: this.scheduler.now() });
  }

  terminate(): void {
    this.terminations.push(this.scheduler.now());
    this.finish();
  }

  /** The close handshake completed (or the socket ended). */
  finish(): void {
    this.closed$.next();
    this.closed$.complete();
  }

  /** Finishes at virtual time `at`. */
  finishAt(at: number): this {
    this.scheduler.schedule(() => this.finish(), at);
    return this;
  }
}

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

const names = map((c: FakeConnection) => c.name);

describe('drainConnections', () => {
  it('sends close(1001) to every connection at once, emits each as it closes, and completes after the last', () => {
    const scheduler = newScheduler();
    let conns: FakeConnection[] = [];
    scheduler.run(({ expectObservable }) => {
      conns = [
        new FakeConnection('a', scheduler).finishAt(5),
        new FakeConnection('b', scheduler).finishAt(12),
        new FakeConnection('c', scheduler).finishAt(8),
      ];
      expectObservable(drainConnections(conns, GRACE, scheduler).pipe(names)).toBe('5ms a 2ms c 3ms (b|)');
    });
    for (const c of conns) {
      expect(c.closes).toEqual([{ code: 1001, reason: expect.any(String), at: 0 }]);
      // Everyone closed within the grace period: the forced end never ran.
      expect(c.terminations).toEqual([]);
    }
  });

  it('terminates at `grace` only the connections still open, then completes', () => {
    const scheduler = newScheduler();
    let conns: FakeConnection[] = [];
    scheduler.run(({ expectObservable }) => {
      conns = [
        new FakeConnection('a', scheduler).finishAt(5),
        new FakeConnection('slow', scheduler), // never answers
        new FakeConnection('b', scheduler).finishAt(8),
        new FakeConnection('mute', scheduler), // never answers
      ];
      expectObservable(drainConnections(conns, GRACE, scheduler).pipe(names)).toBe('5ms a 2ms b 11ms (sm|)', {
        a: 'a',
        b: 'b',
        s: 'slow',
        m: 'mute',
      });
    });
    const [a, slow, b, mute] = conns;
    expect(a!.terminations).toEqual([]);
    expect(b!.terminations).toEqual([]);
    expect(slow!.terminations).toEqual([GRACE]);
    expect(mute!.terminations).toEqual([GRACE]);
  });

  it('completes at once for an empty set, without waiting for the grace period', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      expectObservable(drainConnections<FakeConnection>([], GRACE, scheduler)).toBe('|');
    });
  });

  it('passes a custom close code and reason through', () => {
    const scheduler = newScheduler();
    let conn!: FakeConnection;
    scheduler.run(({ expectObservable }) => {
      conn = new FakeConnection('a', scheduler).finishAt(3);
      expectObservable(drainConnections([conn], GRACE, scheduler, 1012, 'restart').pipe(names)).toBe('3ms (a|)');
    });
    expect(conn.closes).toEqual([{ code: 1012, reason: 'restart', at: 0 }]);
  });

  it('emits a connection once even if its closed$ both emits and completes, or completes without a value', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const twice = new FakeConnection('t', scheduler);
      scheduler.schedule(() => twice.closed$.next(), 4);
      scheduler.schedule(() => twice.closed$.next(), 6);
      const silent = new FakeConnection('s', scheduler);
      scheduler.schedule(() => silent.closed$.complete(), 9);
      expectObservable(drainConnections([twice, silent], GRACE, scheduler).pipe(names)).toBe('4ms t 4ms (s|)');
    });
  });

  it('unsubscribing cancels the forced end', () => {
    const scheduler = newScheduler();
    let conn!: FakeConnection;
    scheduler.run(({ expectObservable }) => {
      conn = new FakeConnection('a', scheduler);
      expectObservable(drainConnections([conn], GRACE, scheduler).pipe(names), '^ 10ms !').toBe('');
    });
    expect(conn.closes).toHaveLength(1);
    expect(conn.terminations).toEqual([]);
  });
});
