// 1,000 concurrent relay connections in 10 rooms: every member receives every
// message of its room exactly once, then everyone closes cleanly and the
// server is back to zero connections and rooms.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closePayload, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';
import { json, pollUntil } from '../support/ws-client.js';

const CLIENTS = 1000;
const ROOMS = 10;
const BATCH = 200; // connects in flight at once (stays under the listen backlog)

describe('scale: 1,000 connections', () => {
  let server: RunningServer;
  const clients: RawClient[] = [];
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    for (const c of clients) c.destroy();
    await server.stop();
  });

  it('each joins one of 10 rooms and publishes once; every member gets each room message exactly once; all close cleanly', async () => {
    const ids: string[] = new Array(CLIENTS);
    const roomOf = (i: number) => `scale-${i % ROOMS}`;

    // Connect and join, in batches.
    for (let start = 0; start < CLIENTS; start += BATCH) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(BATCH, CLIENTS - start) }, async (_, k) => {
          const i = start + k;
          const c = await RawClient.connect(server.port);
          expect(c.status).toBe(101);
          const welcome = json(await c.nextFrame(10_000));
          expect(welcome).toMatchObject({ type: 'welcome' });
          ids[i] = welcome.id;
          await c.send({ opcode: 1, payload: JSON.stringify({ type: 'join', room: roomOf(i), ref: i }) });
          expect(json(await c.nextFrame(10_000))).toMatchObject({ type: 'joined', room: roomOf(i), ref: i });
          return c;
        }),
      );
      clients.push(...batch);
    }
    expect(new Set(ids).size).toBe(CLIENTS);
    expect(await server.health()).toMatchObject({ status: 'ok', connections: CLIENTS, rooms: ROOMS });

    // Everyone publishes once, all at the same time.
    await Promise.all(clients.map((c, i) => c.send({ opcode: 1, payload: JSON.stringify({ type: 'publish', room: roomOf(i), data: { i } }) })));

    const indexOfId = new Map(ids.map((id, i) => [id, i]));
    await Promise.all(
      clients.map(async (c, i) => {
        const expected = new Set<number>();
        for (let j = i % ROOMS; j < CLIENTS; j += ROOMS) expected.add(j);
        // Plain checks per message (100,000 of them), one assertion per client.
        const seen = new Set<number>();
        const problems: string[] = [];
        for (let n = 0; n < expected.size; n++) {
          const m = json(await c.nextFrame(20_000));
          const from = m.data?.i as number;
          if (m.type !== 'message' || m.room !== roomOf(i)) problems.push(`not a message of ${roomOf(i)}: ${JSON.stringify(m)}`);
          else if (indexOfId.get(m.from) !== from) problems.push(`from ${m.from} does not match publisher ${from}`);
          else if (!expected.has(from)) problems.push(`message from ${from}, not a member of ${roomOf(i)}`);
          else if (seen.has(from)) problems.push(`duplicate message from ${from}`);
          seen.add(from);
        }
        expect(problems).toEqual([]);
        // Every publish of this room has been handled, so a duplicate would already be queued before this pong.
        await c.send({ opcode: 9, payload: 'barrier' });
        const pong = await c.nextFrame(10_000);
        expect(pong.opcode).toBe(10);
        expect(pong.payload.toString()).toBe('barrier');
      }),
    );

    // All close cleanly: our close 1000, the server's close reply, then TCP ends.
    await Promise.all(
      clients.map(async (c) => {
        await c.send({ opcode: 8, payload: closePayload(1000) });
        const outcome = await c.closeOutcome(10_000);
        expect(outcome.code).toBe(1000);
        expect(outcome.before).toEqual([]);
        await c.waitEnded(10_000);
      }),
    );
    const health = await pollUntil(server.health, (h) => h.connections === 0 && h.rooms === 0, 10_000);
    expect(health).toMatchObject({ status: 'ok', connections: 0, rooms: 0 });
  });
});
