import { config, firstValueFrom } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { type Connection, encodeMessage, type ReadyState, type RoomMessage, LocalCluster, WebSocketServer } from '../../src/index.js';
import { RawClient } from '../support/raw-client.js';

/** Just what LocalCluster's rooms use of a Connection: its readyState and sendFrame. */
class FakeMember {
  readyState: ReadyState = 'open';
  readonly frames: Buffer[] = [];
  constructor(readonly id: string) {}
  sendFrame(frame: Buffer): boolean {
    if (this.readyState !== 'open') return false;
    this.frames.push(frame);
    return true;
  }
}

const member = (id: string) => new FakeMember(id) as unknown as Connection<unknown> & FakeMember;

describe('Rooms', () => {
  it('join adds a member once (idempotent) and indexes the room on the connection', () => {
    const rooms = new LocalCluster<unknown>();
    const a = member('a');
    const b = member('b');
    expect(rooms.join(a, 'r')).toBe(true);
    expect(rooms.join(a, 'r')).toBe(true);
    expect(rooms.join(b, 'r')).toBe(true);
    expect(rooms.join(a, 's')).toBe(true);
    expect(rooms.count('r')).toBe(2);
    expect(rooms.count('s')).toBe(1);
    expect(rooms.count('none')).toBe(0);
    expect(rooms.size).toBe(2);
    expect([...rooms.names()].sort()).toEqual(['r', 's']);
    expect([...rooms.membersOf('r')]).toEqual([a, b]);
    expect([...rooms.roomsOf(a)].sort()).toEqual(['r', 's']);
    expect([...rooms.roomsOf(b)]).toEqual(['r']);
  });

  it('leave removes one membership, reports whether there was one, and drops the room when it empties', () => {
    const rooms = new LocalCluster<unknown>();
    const a = member('a');
    const b = member('b');
    rooms.join(a, 'r');
    rooms.join(b, 'r');
    expect(rooms.leave(a, 'r')).toBe(true);
    expect(rooms.leave(a, 'r')).toBe(false);
    expect(rooms.leave(a, 'never')).toBe(false);
    expect(rooms.count('r')).toBe(1);
    expect([...rooms.roomsOf(a)]).toEqual([]);
    expect(rooms.leave(b, 'r')).toBe(true);
    expect(rooms.size).toBe(0);
    expect([...rooms.names()]).toEqual([]);
    expect(rooms.membersOf('r').size).toBe(0);
  });

  it('leaveAll removes a connection from every room it is in, dropping emptied rooms, and leaves others alone', () => {
    const rooms = new LocalCluster<unknown>();
    const a = member('a');
    const b = member('b');
    for (const r of ['x', 'y', 'z']) rooms.join(a, r);
    rooms.join(b, 'y');
    rooms.leaveAll(a);
    expect(rooms.count('x')).toBe(0);
    expect(rooms.count('y')).toBe(1);
    expect(rooms.count('z')).toBe(0);
    expect([...rooms.names()]).toEqual(['y']);
    expect(rooms.roomsOf(a).size).toBe(0);
    expect([...rooms.roomsOf(b)]).toEqual(['y']);
    rooms.leaveAll(a); // twice is harmless
    rooms.leaveAll(member('never-joined'));
    expect(rooms.size).toBe(1);
  });

  it('refuses to let a closing or closed connection join (returns false, changes nothing)', () => {
    const rooms = new LocalCluster<unknown>();
    const closing = member('closing');
    closing.readyState = 'closing';
    const closed = member('closed');
    closed.readyState = 'closed';
    expect(rooms.join(closing, 'r')).toBe(false);
    expect(rooms.join(closed, 'r')).toBe(false);
    expect(rooms.size).toBe(0);
    expect(rooms.count('r')).toBe(0);
    expect(rooms.roomsOf(closed).size).toBe(0);
  });

  it('publish encodes once and hands the same frame Buffer to every member, except the one named', () => {
    const rooms = new LocalCluster<unknown>();
    const [a, b, c, outsider] = [member('a'), member('b'), member('c'), member('o')];
    for (const m of [a, b, c]) rooms.join(m, 'r');
    const spies = [a, b, c, outsider].map((m) => vi.spyOn(m, 'sendFrame'));

    expect(rooms.publish('r', 'hello', { except: b })).toBe(2);
    expect(spies[0]).toHaveBeenCalledTimes(1);
    expect(spies[1]).not.toHaveBeenCalled();
    expect(spies[2]).toHaveBeenCalledTimes(1);
    expect(spies[3]).not.toHaveBeenCalled();
    const frame = spies[0]!.mock.calls[0]![0];
    expect(spies[2]!.mock.calls[0]![0]).toBe(frame); // same object: encoded once
    expect(frame).toEqual(encodeMessage('hello'));
    expect(frame.subarray(0, 2)).toEqual(Buffer.from([0x81, 5])); // FIN + text, unmasked, length 5
  });

  it('publish of a Buffer sends one binary frame to all members; to an unknown room it reaches nobody', () => {
    const rooms = new LocalCluster<unknown>();
    const a = member('a');
    const b = member('b');
    rooms.join(a, 'bin');
    rooms.join(b, 'bin');
    const payload = Buffer.from([0, 1, 2, 255]);
    expect(rooms.publish('bin', payload)).toBe(2);
    expect(a.frames[0]).toBe(b.frames[0]);
    expect(a.frames[0]).toEqual(Buffer.concat([Buffer.from([0x82, 4]), payload]));
    expect(rooms.publish('nobody-here', 'x')).toBe(0);
  });

  it('publish counts only the members that accepted the frame (a member past its budget is skipped)', () => {
    const rooms = new LocalCluster<unknown>();
    const a = member('a');
    const full = member('full');
    full.sendFrame = () => false;
    rooms.join(a, 'r');
    rooms.join(full, 'r');
    expect(rooms.publish('r', 'x')).toBe(1);
    expect(a.frames).toHaveLength(1);
  });

  it('messages$(room) emits a RoomMessage for each publish to that room, from its subscription on', () => {
    const rooms = new LocalCluster<unknown>();
    const from = member('sender');
    const seen: RoomMessage<unknown>[] = [];
    rooms.publish('r', 'before'); // nobody listening yet
    const sub = rooms.messages$('r').subscribe((m) => seen.push(m));
    rooms.publish('r', 'text', { from });
    rooms.publish('other', 'elsewhere');
    const bin = Buffer.from([7]);
    rooms.publish('r', bin);
    sub.unsubscribe();
    rooms.publish('r', 'after');
    expect(seen).toEqual([
      { room: 'r', data: 'text', from, fromId: 'sender' },
      { room: 'r', data: bin, from: undefined, fromId: undefined },
    ]);
  });

  it('a throwing messages$ subscriber neither stops the others nor reaches RxJS unhandled-error path', () => {
    // An unhandled error is rethrown on a timer by RxJS: in a server, a process crash.
    const unhandled = vi.fn();
    const saved = config.onUnhandledError;
    config.onUnhandledError = unhandled;
    try {
      const rooms = new LocalCluster<unknown>();
      const a = member('a');
      rooms.join(a, 'r');
      const seen: string[] = [];
      // TestScheduler.run makes RxJS's report timer virtual: it has fired when run() returns.
      new TestScheduler((x, y) => expect(x).toEqual(y)).run(() => {
        rooms.messages$('r').subscribe(() => {
          throw new Error('listener bug');
        });
        rooms.messages$('r').subscribe((m) => seen.push(m.data as string));
        expect(rooms.publish('r', 'one')).toBe(1);
        expect(rooms.publish('r', 'two')).toBe(1);
      });
      expect(seen).toEqual(['one', 'two']);
      expect(a.frames).toHaveLength(2);
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      config.onUnhandledError = saved;
    }
  });
});

describe('Rooms with real connections', () => {
  let server: WebSocketServer | undefined;
  const clients: RawClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await server?.close();
    server = undefined;
  });

  it('a connection that closes leaves all its rooms and cannot join again', async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, shutdownGrace: 500 });
    const { port } = await server.listen();
    const opened = firstValueFrom(server.connections$);
    const client = await RawClient.connect(port);
    clients.push(client);
    const conn = await opened;
    expect(server.rooms.join(conn, 'a')).toBe(true);
    expect(server.rooms.join(conn, 'b')).toBe(true);
    expect(server.rooms.size).toBe(2);

    const closed = firstValueFrom(conn.closed$);
    client.destroy();
    await closed;
    expect(conn.readyState).toBe('closed');
    expect(server.rooms.size).toBe(0);
    expect(server.rooms.roomsOf(conn).size).toBe(0);
    expect(server.rooms.join(conn, 'a')).toBe(false);
    expect(server.rooms.count('a')).toBe(0);
    expect(server.rooms.publish('a', 'x')).toBe(0);
  });

  it('a connection that is closing cannot join', async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0, shutdownGrace: 500 });
    const { port } = await server.listen();
    const opened = firstValueFrom(server.connections$);
    clients.push(await RawClient.connect(port));
    const conn = await opened;
    conn.close(1000, 'bye');
    expect(conn.readyState).toBe('closing');
    expect(server.rooms.join(conn, 'a')).toBe(false);
    expect(server.rooms.size).toBe(0);
  });
});

describe('LocalCluster as the default adapter', () => {
  it('keeps the state type of members and of RoomMessage.from, and accepts a Uint8Array like send', () => {
    interface User {
      name: string;
    }
    const rooms = new LocalCluster<User>();
    const a = member('a') as unknown as Connection<User> & FakeMember;
    rooms.join(a, 'r');
    const names: string[] = [];
    rooms.messages$('r').subscribe((m) => names.push(m.from?.state.name ?? '-'));
    for (const m of rooms.membersOf('r')) expectTypeOf(m.state).toEqualTypeOf<User>();
    const bytes = new Uint8Array([1, 2, 3]);
    expect(rooms.publish('r', bytes)).toBe(1);
    expect(a.frames[0]).toEqual(Buffer.from([0x82, 3, 1, 2, 3]));
    expect(names).toEqual(['-']);
  });

  it('tells a listener when the node starts and stops caring about a room (members or messages$ subscribers)', () => {
    const events: string[] = [];
    const rooms = new LocalCluster<unknown>(undefined, (room, interested) => events.push(`${room}:${interested}`));
    const a = member('a');
    const b = member('b');
    rooms.join(a, 'r');
    rooms.join(b, 'r');
    const watching = rooms.messages$('r').subscribe();
    rooms.leave(a, 'r');
    rooms.leaveAll(b);
    expect(events).toEqual(['r:true']);
    expect([...rooms.watchedRooms()]).toEqual(['r']);
    watching.unsubscribe();
    expect(events).toEqual(['r:true', 'r:false']);
    const watch = rooms.messages$('w').subscribe();
    rooms.join(a, 'w');
    watch.unsubscribe();
    rooms.leave(a, 'w');
    expect(events).toEqual(['r:true', 'r:false', 'w:true', 'w:false']);
  });

  it('deliverPublish / deliverBroadcast: another node\'s message takes the same fan-out, except by id, with fromId in messages$', () => {
    const [a, b] = [member('a'), member('b')];
    const byId = new Map([[a.id, a], [b.id, b]]);
    const rooms = new LocalCluster<unknown>({ connection: (id) => byId.get(id), connections: () => byId.values(), report: () => {} });
    rooms.join(a, 'r');
    rooms.join(b, 'r');
    const seen: RoomMessage<unknown>[] = [];
    rooms.messages$('r').subscribe((m) => seen.push(m));
    expect(rooms.deliverPublish('r', 'remote', 'far-away', 'a')).toBe(1);
    expect(a.frames).toHaveLength(0);
    expect(b.frames[0]).toEqual(encodeMessage('remote'));
    expect(seen).toEqual([{ room: 'r', data: 'remote', from: undefined, fromId: 'far-away' }]);
    expect(rooms.deliverBroadcast('all', undefined)).toBe(2);
    expect(a.frames[0]).toBe(b.frames[1]);
  });
});
