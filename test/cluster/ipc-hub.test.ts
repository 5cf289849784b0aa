// The primary's relay for --workers N (IpcHub), driven with in-memory links:
// routing, cluster-wide counts and ids, and a dead worker forgotten at once.
// The real channels are covered end to end in test/e2e/workers.test.ts.
import { describe, expect, it } from 'vitest';
import type { ToWorker, WorkerLink } from '../../src/cluster/ipc-channel.js';
import { IpcHub } from '../../src/cluster/ipc.js';

/** A link that records what the hub posts to that worker. */
function link(id: number): WorkerLink & { readonly inbox: ToWorker[] } {
  const inbox: ToWorker[] = [];
  return { id, inbox, post: (message) => inbox.push(message) };
}

function hubWith(n: number) {
  const hub = new IpcHub();
  const links = Array.from({ length: n }, (_, i) => link(i + 1));
  for (const l of links) hub.attach(l);
  return { hub, links };
}

describe('IpcHub', () => {
  it('relays a publish to every other worker watching the room, never back to its own', () => {
    const { hub, links } = hubWith(3);
    const [a, b, c] = links;
    hub.receive(a!, { t: 'watch', room: 'r', on: true });
    hub.receive(b!, { t: 'watch', room: 'r', on: true });
    hub.receive(a!, { t: 'publish', room: 'r', data: 'one', from: 'x' });
    hub.receive(a!, { t: 'publish', room: 'r', data: 'two', from: 'x' });
    expect(a!.inbox).toEqual([]);
    expect(b!.inbox).toEqual([
      { t: 'publish', room: 'r', data: 'one', from: 'x' },
      { t: 'publish', room: 'r', data: 'two', from: 'x' },
    ]);
    expect(c!.inbox).toEqual([]); // not watching

    hub.receive(b!, { t: 'watch', room: 'r', on: false });
    hub.receive(a!, { t: 'publish', room: 'r', data: 'three', from: 'x' });
    expect(b!.inbox).toHaveLength(2);
  });

  it('relays a broadcast to every other worker', () => {
    const { hub, links } = hubWith(3);
    hub.receive(links[1]!, { t: 'broadcast', data: Buffer.from([1, 2]) });
    expect(links.map((l) => l.inbox.length)).toEqual([1, 0, 1]);
  });

  it('counts members across workers; a connection that closes leaves its rooms; answers members requests', () => {
    const { hub, links } = hubWith(2);
    const [a, b] = links;
    hub.receive(a!, { t: 'join', room: 'r' });
    hub.receive(b!, { t: 'join', room: 'r' });
    hub.receive(b!, { t: 'join', room: 'r' });
    hub.receive(a!, { t: 'members', room: 'r', seq: 7 });
    expect(a!.inbox).toEqual([{ t: 'reply', seq: 7, value: 3 }]);
    hub.receive(b!, { t: 'leave', room: 'r' });
    hub.receive(a!, { t: 'closed', id: 'a1', rooms: ['r'] });
    expect(hub.members('r')).toBe(1);
    hub.receive(b!, { t: 'leave', room: 'r' });
    expect(hub.members('r')).toBe(0);
  });

  it('sends by id to the worker holding it; false for an id nobody holds', () => {
    const { hub, links } = hubWith(2);
    const [a, b] = links;
    hub.receive(b!, { t: 'opened', id: 'b1' });
    hub.receive(a!, { t: 'send', to: 'b1', data: 'hi', seq: 1 });
    hub.receive(a!, { t: 'send', to: 'nobody', data: 'hi', seq: 2 });
    expect(b!.inbox).toEqual([{ t: 'send', to: 'b1', data: 'hi' }]);
    expect(a!.inbox).toEqual([
      { t: 'reply', seq: 1, value: true },
      { t: 'reply', seq: 2, value: false },
    ]);
    hub.receive(b!, { t: 'closed', id: 'b1', rooms: [] });
    hub.receive(a!, { t: 'send', to: 'b1', data: 'hi', seq: 3 });
    expect(a!.inbox.at(-1)).toEqual({ t: 'reply', seq: 3, value: false });
  });

  it('forgets a dead worker at once: its members leave the counts, its ids are unknown, nothing is relayed to it', () => {
    const { hub, links } = hubWith(2);
    const [a, b] = links;
    hub.receive(a!, { t: 'join', room: 'r' });
    hub.receive(b!, { t: 'join', room: 'r' });
    hub.receive(b!, { t: 'join', room: 'q' });
    hub.receive(b!, { t: 'watch', room: 'r', on: true });
    hub.receive(b!, { t: 'opened', id: 'b1' });
    hub.detach(b!);
    expect(hub.members('r')).toBe(1);
    expect(hub.members('q')).toBe(0);
    hub.receive(a!, { t: 'publish', room: 'r', data: 'x', from: undefined });
    hub.receive(a!, { t: 'broadcast', data: 'x' });
    hub.receive(a!, { t: 'send', to: 'b1', data: 'x', seq: 1 });
    expect(b!.inbox).toEqual([]);
    expect(a!.inbox).toEqual([{ t: 'reply', seq: 1, value: false }]);
    // Messages still in flight from the dead worker change nothing.
    hub.receive(b!, { t: 'join', room: 'r' });
    expect(hub.members('r')).toBe(1);
  });
});
