// Type-level tests of the state a connection carries (checked by `tsc -p
// tsconfig.test.json`; at run time expectTypeOf does nothing). What the
// types refuse is marked @ts-expect-error, so accepting it fails the check.
import { describe, expectTypeOf, it } from 'vitest';
import { AcceptedUpgrade, type Connection, HttpError, WebSocketServer } from '../../src/index.js';

const options = { port: 0, heartbeatInterval: 0 } as const;

describe('the state type', () => {
  it('is what onUpgrade gives, sync or async, beside refusals and headers, with string fields as string', () => {
    const sync = new WebSocketServer({ ...options, onUpgrade: () => ({ role: 'admin', n: 1 }) });
    expectTypeOf(sync).toEqualTypeOf<WebSocketServer<{ role: string; n: number }>>();
    const async = new WebSocketServer({
      ...options,
      onUpgrade: async (req) => (req.path === '/' ? { role: 'admin' } : new HttpError(401, 'no')),
    });
    expectTypeOf(async).toEqualTypeOf<WebSocketServer<{ role: string }>>();
    const headers = new WebSocketServer({ ...options, onUpgrade: (req) => (req.path === '/' ? { role: 'a' } : new AcceptedUpgrade({ role: 'b' }, { 'Set-Cookie': 'x=1' })) });
    expectTypeOf(headers).toEqualTypeOf<WebSocketServer<{ role: string }>>();
    const both = new WebSocketServer({ ...options, onUpgrade: (req) => (req.path === '/' ? { role: 'a' } : { role: 'b' }) });
    expectTypeOf(both).toEqualTypeOf<WebSocketServer<{ role: string }>>();
  });

  it('is what initialState gives, which also stands in when onUpgrade answers undefined', () => {
    const initial = new WebSocketServer({ ...options, initialState: () => ({ count: 0, name: 'x' }) });
    expectTypeOf(initial).toEqualTypeOf<WebSocketServer<{ count: number; name: string }>>();
    const fallback = new WebSocketServer({
      ...options,
      onUpgrade: async (req) => (req.query.has('user') ? { user: req.query.get('user')! } : undefined),
      initialState: () => ({ user: 'guest' }),
      onConnect: (conn) => expectTypeOf(conn.state).toEqualTypeOf<{ user: string }>(),
    });
    expectTypeOf(fallback).toEqualTypeOf<WebSocketServer<{ user: string }>>();
  });

  it('refuses an onUpgrade that may answer undefined (state {}) without initialState, unless {} is a state', () => {
    new WebSocketServer({
      ...options,
      // @ts-expect-error: the state would be {} for some connections, not { user: string }
      onUpgrade: (req) => (req.path === '/' ? { user: 'ann' } : undefined),
    });
    new WebSocketServer({
      ...options,
      // @ts-expect-error: the same, asynchronously
      onUpgrade: async (req) => (req.path === '/' ? new AcceptedUpgrade({ user: 'ann' }) : undefined),
    });
    const optional = new WebSocketServer({
      ...options,
      onUpgrade: (req): { user?: string } | undefined => (req.path === '/' ? { user: 'ann' } : undefined),
    });
    expectTypeOf(optional).toEqualTypeOf<WebSocketServer<{ user?: string }>>();
    expectTypeOf(new WebSocketServer(options)).toEqualTypeOf<WebSocketServer<Record<string, unknown>>>();
  });

  it('reaches the hooks and the streams', () => {
    const server = new WebSocketServer({
      ...options,
      onUpgrade: () => ({ user: 'ann' }),
      onMessage: (conn) => expectTypeOf(conn.state.user).toEqualTypeOf<string>(),
    });
    server.connections$.subscribe((conn) => expectTypeOf(conn).toEqualTypeOf<Connection<{ user: string }>>());
    expectTypeOf(server.rooms.publish).parameter(2).toEqualTypeOf<{ readonly from?: Connection<{ user: string }> | undefined; readonly except?: Connection<{ user: string }> | undefined } | undefined>();
  });
});
