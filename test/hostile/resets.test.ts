// 1,000 clients that vanish at the worst moments: mid-handshake, right after
// the upgrade, mid-frame, mid-fragmented-message, after joining rooms, mid-close.
// Afterwards the server must have forgotten every one of them (no connection,
// no room left behind), must still be alive, and must still serve.
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeClientFrame, RawClient, upgradeRequest } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const CLIENTS = 1000;
const CONCURRENCY = 100;
const SEED = 0x5eed;

/** Deterministic PRNG (mulberry32): the same clients do the same things on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Scenario =
  | 'mid-handshake'
  | 'after-upgrade'
  | 'mid-frame-header'
  | 'mid-frame-payload'
  | 'mid-fragmented-message'
  | 'after-joining-rooms'
  | 'mid-close'
  | 'mid-close-after-join';
const SCENARIOS: Scenario[] = [
  'mid-handshake',
  'after-upgrade',
  'mid-frame-header',
  'mid-frame-payload',
  'mid-fragmented-message',
  'after-joining-rooms',
  'mid-close',
  'mid-close-after-join',
];

const live = new Set<net.Socket>();
let server: RunningServer;
beforeAll(async () => {
  // --heartbeat-interval 0: nothing but the resets may end these connections.
  server = await startServer(['--rate-limit', '0', '--heartbeat-interval', '0']);
});
afterAll(async () => {
  for (const s of live) s.destroy();
  await server?.stop();
});

/** Ends the socket abruptly: a TCP RST, or (half of the time) a plain destroy. */
function vanish(socket: net.Socket, random: () => number): void {
  if (random() < 0.5) socket.resetAndDestroy();
  else socket.destroy();
}

async function joinRooms(c: RawClient, rooms: string[]): Promise<void> {
  for (const room of rooms) await c.send({ opcode: 1, payload: JSON.stringify({ type: 'join', room }) });
  // One `joined` per room (after the welcome): the joins are done on the server.
  let joined = 0;
  while (joined < rooms.length) if ((await c.nextFrame()).payload.includes('"joined"')) joined++;
}

async function runClient(port: number, scenario: Scenario, random: () => number): Promise<void> {
  if (scenario === 'mid-handshake') {
    const socket = net.connect(port, '127.0.0.1');
    live.add(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const request = upgradeRequest(port);
    socket.write(request.slice(0, Math.floor(random() * request.length)));
    await new Promise((r) => setImmediate(r));
    vanish(socket, random);
    live.delete(socket);
    return;
  }
  const c = await RawClient.connect(port);
  live.add(c.socket);
  try {
    expect(c.status).toBe(101);
    const rooms = Array.from({ length: 1 + Math.floor(random() * 3) }, () => `room-${Math.floor(random() * 20)}`);
    switch (scenario) {
      case 'after-upgrade':
        break;
      case 'mid-frame-header': {
        const frame = encodeClientFrame({ opcode: 1, payload: 'x'.repeat(random() < 0.5 ? 300 : 70_000) });
        await c.write(frame.subarray(0, 1 + Math.floor(random() * 5))); // inside the 4–14 byte header
        break;
      }
      case 'mid-frame-payload': {
        const frame = encodeClientFrame({ opcode: 1, payload: JSON.stringify({ type: 'publish', room: rooms[0], data: 'y'.repeat(500) }) });
        await c.write(frame.subarray(0, 8 + Math.floor(random() * (frame.length - 9))));
        break;
      }
      case 'mid-fragmented-message': {
        await joinRooms(c, rooms);
        const text = JSON.stringify({ type: 'publish', room: rooms[0], data: 'fragmented' });
        await c.send({ opcode: 1, fin: false, payload: text.slice(0, 10) });
        await c.send({ opcode: 9, payload: 'ping between fragments' });
        await c.send({ opcode: 0, fin: false, payload: text.slice(10, 20) });
        break;
      }
      case 'after-joining-rooms':
        await joinRooms(c, rooms);
        break;
      case 'mid-close-after-join':
        await joinRooms(c, rooms);
        await c.send({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
        break;
      case 'mid-close':
        await c.send({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
        break;
    }
    // Let the bytes reach the server (or not quite) before vanishing.
    if (random() < 0.5) await new Promise((r) => setImmediate(r));
    vanish(c.socket, random);
  } finally {
    live.delete(c.socket);
  }
}

/** Open file descriptors of the server process: a socket the server forgot to close shows up here even when /healthz cannot see it (pending handshakes are not connections). */
const openFds = () => readdirSync(`/proc/${server.proc.pid}/fd`).length;

async function pollHealth(deadlineMs: number): Promise<{ connections: number; rooms: number }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const h = await server.health();
    if ((h.connections === 0 && h.rooms === 0) || Date.now() > deadline) return h;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe(`${CLIENTS} clients resetting at random moments`, () => {
  it('leave no connection and no room behind, and the server keeps serving', { timeout: 60_000 }, async () => {
    const plan = Array.from({ length: CLIENTS }, (_, i) => SCENARIOS[i % SCENARIOS.length]!);
    const counts = Object.fromEntries(SCENARIOS.map((s) => [s, 0]));
    for (const s of plan) counts[s]!++;

    const fdsBefore = openFds();
    const started = Date.now();
    let next = 0;
    const worker = async () => {
      while (next < plan.length) {
        const i = next++;
        // One PRNG per client: its cut points do not depend on how the workers interleave.
        await runClient(server.port, plan[i]!, prng(SEED + i));
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const health = await pollHealth(10_000);
    console.log(`[reliability] resets: ${CLIENTS} clients (${JSON.stringify(counts)}) in ${Date.now() - started} ms; health afterwards ${JSON.stringify(health)}`);
    expect(health).toMatchObject({ status: 'ok', connections: 0, rooms: 0 });
    const fdDeadline = Date.now() + 5000;
    while (openFds() > fdsBefore && Date.now() < fdDeadline) await new Promise((r) => setTimeout(r, 50));
    expect(openFds(), 'server file descriptors still open after every client left').toBeLessThanOrEqual(fdsBefore);

    // Still alive, nothing escaped to the last-resort handlers, and a fresh client is served.
    expect(server.proc.exitCode).toBeNull();
    expect(server.stderr()).not.toMatch(/uncaught|unhandled/i);
    const fresh = await RawClient.connect(server.port);
    live.add(fresh.socket);
    expect(fresh.status).toBe(101);
    const welcome = JSON.parse((await fresh.nextFrame()).payload.toString()) as { type: string; id: string };
    expect(welcome.type).toBe('welcome');
    await fresh.send({ opcode: 1, payload: JSON.stringify({ type: 'join', room: 'room-1' }) });
    expect(JSON.parse((await fresh.nextFrame()).payload.toString())).toMatchObject({ type: 'joined', room: 'room-1', members: 1 });
    await fresh.send({ opcode: 1, payload: JSON.stringify({ type: 'publish', room: 'room-1', data: 'hello' }) });
    expect(JSON.parse((await fresh.nextFrame()).payload.toString())).toMatchObject({ type: 'message', room: 'room-1', from: welcome.id, data: 'hello' });
    await fresh.send({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) });
    expect((await fresh.closeOutcome()).code).toBe(1000);
    expect(await pollHealth(5000)).toMatchObject({ connections: 0, rooms: 0 });
  });
});
