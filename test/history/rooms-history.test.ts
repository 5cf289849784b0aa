import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { type Connection, LocalCluster, memoryHistory, redisCluster, type PositionedPublish, type ReadyState, type RoomHistory } from '../../src/index.js';

/** Just what LocalCluster's rooms use of a Connection: its readyState and sendFrame. */
class FakeMember {
  readyState: ReadyState = 'open';
  readonly frames: Buffer[] = [];
  constructor(readonly id: string) {}
  sendFrame(frame: Buffer): boolean {
    this.frames.push(frame);
    return true;
  }
}
const member = (id: string) => new FakeMember(id) as unknown as Connection<unknown> & FakeMember;
// A frame's text (unmasked server frames with a 7-bit length: payload from byte 2).
const texts = (m: FakeMember) => m.frames.map((frame) => frame.subarray(2).toString('utf8'));

const owner = (history: RoomHistory | undefined) => ({ connection: () => undefined, connections: () => [], report: (err: unknown) => { throw err; }, history });
const framed = (p: PositionedPublish) => `${p.room}:${String(p.data)}@${p.offset}`;

describe('LocalCluster with a history store', () => {
  it('gives each publish the store\'s next offset: members get the frame made from it, messages$ the offset and epoch', async () => {
    const store = memoryHistory({ size: 10, ttl: 60_000 });
    const rooms = new LocalCluster<unknown>(owner({ store, frame: framed }));
    const a = member('a');
    rooms.join(a, 'r');
    const seen = firstValueFrom(rooms.messages$('r').pipe(take(2), toArray()));
    expect(rooms.publish('r', 'x', { from: a })).toBe(1);
    rooms.publish('r', 'y');
    const { epoch } = store.latest('r');
    expect(texts(a)).toEqual(['r:x@1', 'r:y@2']);
    expect((await seen).map(({ data, fromId, offset, epoch: e }) => ({ data, fromId, offset, e }))).toEqual([
      { data: 'x', fromId: 'a', offset: 1, e: epoch },
      { data: 'y', fromId: undefined, offset: 2, e: epoch },
    ]);
    expect(store.last('r', 10).messages).toEqual([
      { offset: 1, from: 'a', data: 'x' },
      { offset: 2, from: undefined, data: 'y' },
    ]);
  });

  it('another node\'s positioned publish is framed with its position, not appended again', () => {
    const store = memoryHistory({ size: 10, ttl: 60_000 });
    const rooms = new LocalCluster<unknown>(owner({ store, frame: framed }));
    const a = member('a');
    rooms.join(a, 'r');
    rooms.deliverPublish('r', 'z', 'remote', undefined, { offset: 41, epoch: 'E' });
    expect(texts(a)).toEqual(['r:z@41']);
    expect(store.latest('r').offset).toBe(0);
  });

  it('an asynchronous store: members get each publish once its position resolves, in offset order', async () => {
    const memory = memoryHistory({ size: 10, ttl: 60_000 });
    const store = { ...memory, append: (room: string, from: string | undefined, data: string | Uint8Array) => Promise.resolve(memory.append(room, from, data)) };
    const rooms = new LocalCluster<unknown>(owner({ store: store as never, frame: framed }));
    const a = member('a');
    rooms.join(a, 'r');
    expect(rooms.publish('r', '1')).toBe(0);
    rooms.publish('r', '2');
    expect(texts(a)).toEqual([]);
    await Promise.resolve();
    await Promise.resolve();
    expect(texts(a)).toEqual(['r:1@1', 'r:2@2']);
  });

  it('without history a publish has no position and the data goes out unchanged', () => {
    const rooms = new LocalCluster<unknown>(owner(undefined));
    const a = member('a');
    rooms.join(a, 'r');
    rooms.publish('r', 'plain');
    expect(texts(a)).toEqual(['plain']);
  });
});

describe('history with a cluster adapter', () => {
  it('is refused at construction with a clear error, rather than offsets that are per node (not cluster-wide)', () => {
    const store = memoryHistory({ size: 10, ttl: 60_000 });
    // No connection is made: the adapter refuses before it would connect.
    expect(() => redisCluster({ url: 'redis://127.0.0.1:1' })(owner({ store, frame: framed }))).toThrow(
      /room history .* works only with the in-process cluster/,
    );
  });
});
