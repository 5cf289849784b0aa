import { TestScheduler } from 'rxjs/testing';
import { beforeEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/protocol/errors.js';
import type { Message } from '../../src/protocol/message-assembler.js';
import { Opcode } from '../../src/protocol/opcode.js';
import { type ControlFrameHandler, handleControlFrames } from '../../src/streams/handleControlFrames.js';
import { createTestScheduler, describeErrors, protocolError } from '../support/marbles.js';

const msg = (opcode: number, payload: string | Buffer = ''): Message => ({
  opcode,
  payload: typeof payload === 'string' ? Buffer.from(payload) : payload,
});

/** A close frame payload: 2-byte code + raw reason bytes. */
const closePayload = (code: number, reason: string | Buffer = ''): Buffer => {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason]);
};

type Call = [kind: 'ping' | 'pong', frame: number, payload: string] | [kind: 'close', frame: number, code: number | undefined, reason: string];

/** A fake handler that records each call with the virtual time it happened at. */
function recordingHandler(scheduler: TestScheduler): { handler: ControlFrameHandler; calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    handler: {
      ping: (payload) => void calls.push(['ping', scheduler.now(), payload.toString()]),
      pong: (payload) => void calls.push(['pong', scheduler.now(), payload.toString()]),
      close: (code, reason) => void calls.push(['close', scheduler.now(), code, reason]),
    },
  };
}


let testScheduler: TestScheduler;

beforeEach(() => {
  testScheduler = createTestScheduler();
});

describe('handleControlFrames', () => {
  it('passes text and binary on; hands pings and pongs to the handler, at the frame they arrive', () => {
    const { handler, calls } = recordingHandler(testScheduler);
    const values = {
      t: msg(Opcode.Text, 'hello'),
      p: msg(Opcode.Ping, 'are you there'),
      b: msg(Opcode.Binary, Buffer.from([1, 2])),
      q: msg(Opcode.Pong, 'yes'),
      e: msg(Opcode.Ping, ''),
    };
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-t-p-b-q-e-|', values);
      expectObservable(source.pipe(handleControlFrames(handler))).toBe('-t---b-----|', values);
    });
    expect(calls).toEqual([
      ['ping', 3, 'are you there'],
      ['pong', 7, 'yes'],
      ['ping', 9, ''],
    ]);
  });

  it('the ping handler gets the exact payload buffer (to echo in the pong)', () => {
    const payloads: Buffer[] = [];
    const ping = msg(Opcode.Ping, Buffer.from([0xff, 0x00, 0x80]));
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-p-|', { p: ping });
      expectObservable(source.pipe(handleControlFrames({ ping: (p) => void payloads.push(p), pong: () => {}, close: () => {} }))).toBe('---|');
    });
    expect(payloads).toHaveLength(1);
    expect(payloads[0]).toBe(ping.payload);
  });

  it('a close frame calls close(code, reason) and completes the stream; nothing after it is a message', () => {
    const { handler, calls } = recordingHandler(testScheduler);
    const values = {
      t: msg(Opcode.Text, 'before'),
      c: msg(Opcode.Close, closePayload(1000, 'bye')),
      a: msg(Opcode.Text, 'after'),
      p: msg(Opcode.Ping, 'after'),
    };
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-t-c-a-p-|', values);
      expectObservable(source.pipe(handleControlFrames(handler))).toBe('-t-|', values);
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    expect(calls).toEqual([['close', 3, 1000, 'bye']]);
  });

  it('a close frame with an empty payload: close(undefined, "")', () => {
    const { handler, calls } = recordingHandler(testScheduler);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('--c-t-|', { c: msg(Opcode.Close), t: msg(Opcode.Text, 'x') });
      expectObservable(source.pipe(handleControlFrames(handler))).toBe('--|');
    });
    expect(calls).toEqual([['close', 2, undefined, '']]);
  });

  it('a close reason in UTF-8 is decoded', () => {
    const { handler, calls } = recordingHandler(testScheduler);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('c|', { c: msg(Opcode.Close, closePayload(4001, 'ciao — 😀')) });
      expectObservable(source.pipe(handleControlFrames(handler))).toBe('|');
    });
    expect(calls).toEqual([['close', 0, 4001, 'ciao — 😀']]);
  });

  it('a 1-byte close payload errors with 1002 and does not call close()', () => {
    const { handler, calls } = recordingHandler(testScheduler);
    testScheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('-t-c-u-|', { t: msg(Opcode.Text, 'x'), c: msg(Opcode.Close, Buffer.from([0x03])), u: msg(Opcode.Text, 'y') });
      expectObservable(source.pipe(handleControlFrames(handler), describeErrors())).toBe(
        '-t-#',
        { t: msg(Opcode.Text, 'x') },
        protocolError('WS_ERR_INVALID_CLOSE_PAYLOAD', 1002),
      );
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
    expect(calls).toEqual([]);
  });

  it('a close reason with invalid UTF-8 errors with 1007', () => {
    const { handler, calls } = recordingHandler(testScheduler);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-c-|', { c: msg(Opcode.Close, closePayload(1000, Buffer.from([0x6f, 0x6b, 0xc3, 0x28]))) });
      expectObservable(source.pipe(handleControlFrames(handler), describeErrors())).toBe('-#', undefined, protocolError('WS_ERR_INVALID_UTF8', 1007));
    });
    expect(calls).toEqual([]);
  });

  it('a close code that may not be sent (1005, 999) errors with 1002', () => {
    for (const code of [1005, 999, 1016]) {
      const scheduler = new TestScheduler((a, e) => expect(a).toEqual(e));
      const { handler, calls } = recordingHandler(scheduler);
      scheduler.run(({ cold, expectObservable }) => {
        const source = cold('-c-|', { c: msg(Opcode.Close, closePayload(code)) });
        expectObservable(source.pipe(handleControlFrames(handler), describeErrors())).toBe('-#', undefined, protocolError('WS_ERR_INVALID_CLOSE_CODE', 1002));
      });
      expect(calls).toEqual([]);
    }
  });

  it('the error is a ProtocolError instance', () => {
    const { handler } = recordingHandler(testScheduler);
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-c-|', { c: msg(Opcode.Close, Buffer.from([0x03])) });
      expectObservable(source.pipe(handleControlFrames(handler))).toBe(
        '-#',
        undefined,
        new ProtocolError('WS_ERR_INVALID_CLOSE_PAYLOAD', 1002, 'Close payload of 1 byte'),
      );
    });
  });

  it('source errors pass through untouched', () => {
    const { handler, calls } = recordingHandler(testScheduler);
    const err = new ProtocolError('WS_ERR_INVALID_UTF8', 1007, 'upstream');
    testScheduler.run(({ cold, expectObservable }) => {
      const source = cold('-p-#', { p: msg(Opcode.Ping, 'x') }, err);
      expectObservable(source.pipe(handleControlFrames(handler))).toBe('---#', undefined, err);
    });
    expect(calls).toEqual([['ping', 1, 'x']]);
  });
});
