import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { heartbeat, type HeartbeatTarget } from '../../src/streams/heartbeat.js';

// Sweeps happen at multiples of PERIOD; traffic is always placed between
// sweeps so that no frame has both and the order within a frame never matters.
const PERIOD = 10;

interface FakeTarget extends HeartbeatTarget {
  readonly name: string;
  /** Virtual time from which targets() lists it. */
  readonly from: number;
}

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** A target whose activity counter moves at each of `trafficAt` (virtual ms). */
function target(scheduler: TestScheduler, name: string, trafficAt: number[] = [], from = 0): FakeTarget {
  return { name, from, activity: () => trafficAt.filter((t) => t <= scheduler.now()).length };
}

/** targets() as the server gives it: whatever is connected at the sweep's time. */
function present(scheduler: TestScheduler, all: FakeTarget[]): () => FakeTarget[] {
  return () => all.filter((t) => t.from <= scheduler.now());
}

const labelled = map((a: { kind: string; target: FakeTarget }) => `${a.kind}:${a.target.name}`);

describe('heartbeat', () => {
  it("pings an idle target after its first full period and times it out one period later", () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const a = target(scheduler, 'A');
      // First seen at 10, idle through 20 → ping; still idle at 30 → timeout.
      expectObservable(heartbeat(present(scheduler, [a]), PERIOD, scheduler).pipe(labelled), '^ 35ms !').toBe('20ms p 9ms t', {
        p: 'ping:A',
        t: 'timeout:A',
      });
    });
  });

  it('never pings a target with traffic between every two sweeps', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const busy = target(scheduler, 'B', [5, 15, 25, 35, 45, 55, 65]);
      expectObservable(heartbeat(present(scheduler, [busy]), PERIOD, scheduler).pipe(labelled), '^ 70ms !').toBe('');
    });
  });

  it('counts any traffic after a ping (a pong) as alive: no timeout, a full idle period before the next ping', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      // Ping at 20, answered at 25; sweep 30 sees the traffic; idle again → ping at 40, timeout at 50.
      const a = target(scheduler, 'A', [25]);
      expectObservable(heartbeat(present(scheduler, [a]), PERIOD, scheduler).pipe(labelled), '^ 55ms !').toBe(
        '20ms p 19ms p 9ms t',
        { p: 'ping:A', t: 'timeout:A' },
      );
    });
  });

  it('neither pings nor times out a target while its activity is null (reading paused by the application), and gives it a full period after', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      // Paused from 15 to 55 with no readable traffic: without the null it would be pinged at 20 and timed out at 30.
      const paused: FakeTarget = { name: 'P', from: 0, activity: () => (scheduler.now() >= 15 && scheduler.now() < 55 ? null : 0) };
      // Resumed at 55: seen afresh at 60, idle → ping at 70, timeout at 80.
      expectObservable(heartbeat(present(scheduler, [paused]), PERIOD, scheduler).pipe(labelled), '^ 85ms !').toBe('70ms p 9ms t', {
        p: 'ping:P',
        t: 'timeout:P',
      });
    });
  });

  it('gives a target that appears later a full period before its ping', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const busy = target(scheduler, 'A', [5, 15, 25, 35, 45, 55]);
      // Appears at 25, first seen at the sweep at 30: ping at 40 (not at 30), timeout at 50.
      const late = target(scheduler, 'L', [], 25);
      expectObservable(heartbeat(present(scheduler, [busy, late]), PERIOD, scheduler).pipe(labelled), '^ 55ms !').toBe(
        '40ms p 9ms t',
        { p: 'ping:L', t: 'timeout:L' },
      );
    });
  });

  it('sweeps every target in one pass per period (one targets() call, one activity() read per target)', () => {
    const scheduler = newScheduler();
    let sweeps = 0;
    const reads = new Map<string, number>();
    scheduler.run(({ expectObservable }) => {
      const all = ['A', 'B', 'C', 'D'].map((name) => {
        const t = target(scheduler, name, name === 'D' ? [15] : []);
        return {
          ...t,
          activity: () => {
            reads.set(name, (reads.get(name) ?? 0) + 1);
            return t.activity();
          },
        };
      });
      const targets = () => {
        sweeps++;
        return present(scheduler, all)();
      };
      // A, B, C idle from the start: pinged together at 20 and timed out together at 30.
      // D had traffic at 15, so it is pinged at 30 instead, in that same sweep.
      expectObservable(heartbeat(targets, PERIOD, scheduler).pipe(labelled), '^ 35ms !').toBe('20ms (abc) 5ms (xyzd)', {
        a: 'ping:A',
        b: 'ping:B',
        c: 'ping:C',
        x: 'timeout:A',
        y: 'timeout:B',
        z: 'timeout:C',
        d: 'ping:D',
      });
    });
    expect(sweeps).toBe(3); // at 10, 20 and 30
    expect([...reads.values()]).toEqual([3, 3, 3, 3]);
  });

  it('handles many targets in the one sweep: fifty idle targets are all pinged in the frame at 20', () => {
    const scheduler = newScheduler();
    scheduler.run(({ expectObservable }) => {
      const many = Array.from({ length: 50 }, (_, i) => target(scheduler, `T${i}`));
      const kinds = heartbeat(present(scheduler, many), PERIOD, scheduler).pipe(map((a) => a.kind));
      expectObservable(kinds, '^ 25ms !').toBe(`20ms (${'p'.repeat(50)})`, { p: 'ping' });
    });
  });
});
