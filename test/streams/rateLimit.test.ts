import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import { rateLimit } from '../../src/streams/rateLimit.js';
import { createTestScheduler, describeErrors } from '../support/marbles.js';


let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = createTestScheduler();
});

describe('rateLimit', () => {
  it('uses the virtual clock: testScheduler.now() advances with the frames', () => {
    const seen: number[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('a 99ms b|');
      expectObservable(
        source.pipe(
          rateLimit({
            limit: 10,
            window: 100,
            scheduler: testScheduler,
            onLimited: () => {},
          }),
        ),
      ).toBe('a 99ms b|');
      testScheduler.schedule(() => void seen.push(testScheduler.now()), 100);
    });
    expect(seen).toEqual([100]);
  });

  it('a burst up to the limit passes, the excess is dropped', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('(abcde|)');
      expectObservable(source.pipe(rateLimit({ limit: 3, window: 100, scheduler: testScheduler }))).toBe('(abc|)');
    });
  });

  it('burst sets the bucket size independently of the refill rate', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('(abcde) 94ms (fg) 96ms (hi|)');
      // burst 4, refill 1 per 100ms: a–d pass, e dropped; at 101ms one token back (f), at 201ms one more (h)
      expectObservable(source.pipe(rateLimit({ limit: 1, window: 100, burst: 4, scheduler: testScheduler }))).toBe(
        '(abcd) 95ms f 99ms (h|)',
      );
    });
  });

  it('the bucket refills after the window', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      // (abcd) at 0, (efgh) at 106
      const source = cold('(abcd) 100ms (efgh) 10ms |');
      expectObservable(source.pipe(rateLimit({ limit: 3, window: 100, scheduler: testScheduler }))).toBe('(abc) 101ms (efg) 11ms |');
    });
  });

  it('refill is proportional: half a window gives back half the tokens', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      // limit 4 per 100ms: all 4 spent at 0; at 60ms 2.4 tokens are back
      const source = cold('(abcde) 53ms (fghi) 10ms |');
      expectObservable(source.pipe(rateLimit({ limit: 4, window: 100, scheduler: testScheduler }))).toBe('(abcd) 54ms (fg) 12ms |');
    });
  });

  it('the bucket never holds more than the burst, however long the stream was idle', () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('a 999ms (bcdef|)');
      expectObservable(source.pipe(rateLimit({ limit: 3, window: 100, scheduler: testScheduler }))).toBe('a 999ms (bcd|)');
    });
  });

  it('onLimited is called at most once per window', () => {
    const calls: number[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      // limit 1 per 100ms. a@0 passes; b,c@0 and d@51 are dropped in the first window (one report at 0);
      // e@150 passes (1.5 tokens), f@150 is dropped in a new window (report at 150); g@160 dropped, no report.
      const source = cold('(abc) 46ms d 98ms (ef) 6ms g|');
      expectObservable(
        source.pipe(rateLimit({ limit: 1, window: 100, scheduler: testScheduler, onLimited: () => void calls.push(testScheduler.now()) })),
      ).toBe('a 149ms e 10ms |');
    });
    expect(calls).toEqual([0, 150]);
  });

  it('onLimited is not called when nothing is dropped', () => {
    const calls: number[] = [];
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('a 10ms b 10ms c 10ms d|');
      expectObservable(
        source.pipe(rateLimit({ limit: 1, window: 10, scheduler: testScheduler, onLimited: () => void calls.push(testScheduler.now()) })),
      ).toBe('a 10ms b 10ms c 10ms d|');
    });
    expect(calls).toEqual([]);
  });

  it("'close' policy: errors with a ProtocolError 1008 on the first value over the limit", () => {
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-a-b-c-d-|');
      expectObservable(source.pipe(rateLimit({ limit: 2, window: 1000, policy: 'close', scheduler: testScheduler }), describeErrors())).toBe(
        '-a-b-#',
        undefined,
        { class: 'ProtocolError', code: 'WS_ERR_RATE_LIMITED', closeCode: 1008 },
      );
      expectSubscriptions(source.subscriptions).toBe('^----!');
    });
  });

  it("'close' policy: the error is a ProtocolError instance", () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('(ab)');
      expectObservable(source.pipe(rateLimit({ limit: 1, policy: 'close', scheduler: testScheduler }))).toBe(
        '(a#)',
        undefined,
        new ProtocolError('WS_ERR_RATE_LIMITED', 1008, 'rate limit exceeded'),
      );
    });
  });

  it("'close' policy: values within the limit pass", () => {
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('a 100ms b 100ms c|');
      expectObservable(source.pipe(rateLimit({ limit: 1, window: 100, policy: 'close', scheduler: testScheduler }))).toBe('a 100ms b 100ms c|');
    });
  });

  it('each subscription has its own bucket, full when it subscribes', () => {
    testScheduler.run(({ hot, expectObservable }) => {
      const source = hot('(abc) 96ms (def) 96ms (ghi)');
      const limited = source.pipe(rateLimit({ limit: 2, window: 1000, scheduler: testScheduler }));
      expectObservable(limited).toBe('(ab)');
      // (def) arrives at 101: the first subscriber's bucket is empty, the second's is full
      expectObservable(limited, '100ms ^').toBe('101ms (de)');
    });
  });

  it('rejects nonsensical options', () => {
    expect(() => rateLimit({ limit: 0 })).toThrow(RangeError);
    expect(() => rateLimit({ limit: 1, window: 0 })).toThrow(RangeError);
    expect(() => rateLimit({ limit: 1, burst: 0.5 })).toThrow(RangeError);
    expect(() => rateLimit({ limit: Number.NaN })).toThrow(RangeError);
  });
});
