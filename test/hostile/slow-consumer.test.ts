// A member that stops reading must cost the server a bounded amount of memory
// and must not hold anyone else back: it is closed (1008 "slow consumer") or,
// with --slow-consumer drop, skipped, while every healthy member gets every
// message exactly once and in order.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeClientFrame, type Frame, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const ROOM = 'firehose';
const HEALTHY_MEMBERS = 10;
const MESSAGES = 20_000;
const BATCH = 500;
const PAD = 'x'.repeat(1000); // ≈ 1 KiB per publish
const RSS_GROWTH_BOUND = 64 * 1024 * 1024;

let server: RunningServer | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await server?.stop();
  server = undefined;
});

/** VmRSS of a process, in bytes. */
function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

async function connect(port: number): Promise<RawClient> {
  const c = await RawClient.connect(port);
  clients.push(c);
  expect(c.status).toBe(101);
  expect(JSON.parse((await c.nextFrame()).payload.toString()).type).toBe('welcome');
  return c;
}

async function join(c: RawClient, room: string): Promise<void> {
  await c.send({ opcode: 1, payload: JSON.stringify({ type: 'join', room }) });
  const reply = JSON.parse((await c.nextFrame()).payload.toString());
  expect(reply).toMatchObject({ type: 'joined', room });
}

type Relayed = { type: string; room?: string; data?: { seq: number } };
const parse = (f: Frame): Relayed => JSON.parse(f.payload.toString('utf8')) as Relayed;

/** Reads `c` until it has seen message `upTo - 1`; each message must be the next in sequence. */
async function receiveInOrder(c: RawClient, state: { next: number }, upTo: number): Promise<void> {
  while (state.next < upTo) {
    const first = await c.nextFrame(10_000);
    // Take everything already parsed in one go (a plain check per frame: expect() 200,000 times is slow).
    for (const f of [first, ...c.frames.splice(0)]) {
      const m = f.opcode === 1 ? parse(f) : undefined;
      // Exactly once and in order: any loss, duplicate or swap fails here.
      if (m?.type !== 'message' || m.data?.seq !== state.next) {
        throw new Error(`expected message ${state.next}, got opcode ${f.opcode}: ${f.payload.subarray(0, 80).toString()}`);
      }
      state.next++;
    }
  }
}

function publishFrames(from: number, to: number): Buffer {
  const frames: Buffer[] = [];
  for (let seq = from; seq < to; seq++) {
    frames.push(encodeClientFrame({ opcode: 1, payload: JSON.stringify({ type: 'publish', room: ROOM, data: { seq, pad: PAD } }) }));
  }
  return Buffer.concat(frames);
}

async function pollHealth(s: RunningServer, want: { connections: number }, timeoutMs: number): Promise<{ connections: number; rooms: number }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const h = await s.health();
    if (h.connections === want.connections || Date.now() > deadline) return h;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Publishes MESSAGES messages in batches, waiting after each batch until every
 * healthy member has them all (so healthy members never fall behind), and
 * returns the server's RSS before and at its peak.
 */
async function firehose(s: RunningServer, publisher: RawClient, healthy: RawClient[], total: number) {
  const states = healthy.map(() => ({ next: 0 }));
  const pid = s.proc.pid!;
  const rssBefore = rssOf(pid);
  let rssPeak = rssBefore;
  const started = Date.now();
  for (let at = 0; at < total; at += BATCH) {
    const end = Math.min(at + BATCH, total);
    await publisher.write(publishFrames(at, end));
    await Promise.all(healthy.map((c, i) => receiveInOrder(c, states[i]!, end)));
    rssPeak = Math.max(rssPeak, rssOf(pid));
  }
  return { rssBefore, rssPeak, rssAfter: rssOf(pid), elapsedMs: Date.now() - started, states };
}

/** After the last message a sentinel: nothing (no duplicate) may arrive between them. */
async function expectSentinelNext(publisher: RawClient, healthy: RawClient[], total: number): Promise<void> {
  await publisher.write(publishFrames(total, total + 1));
  for (const c of healthy) expect(parse(await c.nextFrame(10_000)).data?.seq).toBe(total);
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

describe('slow consumer', () => {
  it('closes a member that stops reading (1008 "slow consumer") while 10 healthy members get all 20,000 messages in order', { timeout: 60_000 }, async () => {
    server = await startServer(['--rate-limit', '0', '--close-timeout', '1000', '--heartbeat-interval', '0']);
    const slow = await connect(server.port);
    await join(slow, ROOM);
    slow.socket.pause(); // stop reading: the kernel buffers fill, then the server's outbound budget
    const healthy = await Promise.all(Array.from({ length: HEALTHY_MEMBERS }, () => connect(server!.port)));
    for (const c of healthy) await join(c, ROOM);
    const publisher = await connect(server.port);

    const run = await firehose(server, publisher, healthy, MESSAGES);
    await expectSentinelNext(publisher, healthy, MESSAGES);

    // The slow member is gone from the server's books (closed, and its TCP ended after the close timeout).
    const health = await pollHealth(server, { connections: HEALTHY_MEMBERS + 1 }, 5000);
    expect(health.connections).toBe(HEALTHY_MEMBERS + 1);
    const growth = run.rssPeak - run.rssBefore;
    console.log(
      `[reliability] slow consumer (close): ${MESSAGES} × 1 KiB to ${HEALTHY_MEMBERS} healthy + 1 paused member in ${run.elapsedMs} ms; server RSS ${mib(run.rssBefore)} MiB before, peak ${mib(run.rssPeak)} MiB (+${mib(growth)} MiB), ${mib(run.rssAfter)} MiB after`,
    );
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND);

    // Now read what the paused member was sent: an in-order prefix, then the 1008
    // close frame, or the end of TCP (the close frame waits behind the unsent
    // backlog, which the close timeout discards).
    slow.socket.resume();
    const outcome = await slow.closeOutcome(15_000);
    const seqs = outcome.before.map(parse).filter((m) => m.type === 'message').map((m) => m.data!.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    expect(seqs.length).toBeLessThan(MESSAGES);
    if (outcome.code !== null) {
      expect(outcome.code).toBe(1008);
      expect(outcome.reason).toBe('slow consumer');
    }
    await slow.waitEnded(5000);
    console.log(`[reliability] the paused member had been sent ${seqs.length} messages before it was closed; it saw ${outcome.code === null ? 'the TCP end' : `close ${outcome.code}`}`);
  });

  it('with --slow-consumer drop keeps the paused member open, drops messages for it, and healthy members get everything', { timeout: 60_000 }, async () => {
    server = await startServer(['--rate-limit', '0', '--slow-consumer', 'drop', '--heartbeat-interval', '0']);
    const slow = await connect(server.port);
    await join(slow, ROOM);
    slow.socket.pause();
    const healthy = await Promise.all(Array.from({ length: HEALTHY_MEMBERS }, () => connect(server!.port)));
    for (const c of healthy) await join(c, ROOM);
    const publisher = await connect(server.port);

    const run = await firehose(server, publisher, healthy, MESSAGES);
    await expectSentinelNext(publisher, healthy, MESSAGES);
    const growth = run.rssPeak - run.rssBefore;
    console.log(
      `[reliability] slow consumer (drop): ${MESSAGES} × 1 KiB in ${run.elapsedMs} ms; server RSS peak growth +${mib(growth)} MiB`,
    );
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND);
    expect((await server.health()).connections).toBe(HEALTHY_MEMBERS + 2);

    // Resume: it gets what was not dropped, in order without duplicates, and is still usable.
    slow.socket.resume();
    // The reply to a command queues behind the backlog: everything before it is what was not dropped.
    const seen: number[] = [];
    await slow.send({ opcode: 1, payload: JSON.stringify({ type: 'join', room: 'after', ref: 'still-open' }) });
    let reply: Relayed & { ref?: string } = parse(await slow.nextFrame(10_000));
    while (reply.type === 'message') {
      seen.push(reply.data!.seq);
      reply = parse(await slow.nextFrame(10_000));
    }
    expect(reply).toMatchObject({ type: 'joined', room: 'after', ref: 'still-open' });
    expect(seen.length).toBeLessThan(MESSAGES); // some were dropped for it
    expect(seen).toEqual([...seen].sort((a, b) => a - b)); // in order
    expect(new Set(seen).size).toBe(seen.length); // no duplicates
    expect(slow.isClosed).toBe(false);
  });

  const floods: [string, Buffer][] = [
    ['64 KiB binary messages (each echoed)', encodeClientFrame({ opcode: 2, payload: Buffer.alloc(64 * 1024, 7) })],
    ['pings (each answered with a pong)', Buffer.concat(Array.from({ length: 500 }, () => encodeClientFrame({ opcode: 9, payload: Buffer.alloc(125, 7) })))],
  ];
  for (const [what, frame] of floods) {
    it(`stops reading a client that floods ${what} without reading the replies (bounded memory), and drops it within a few heartbeats`, { timeout: 30_000 }, async () => {
      // Replies pile up for a client that never reads them: the server must stop
      // reading it (bounded memory) rather than buffer its whole upload.
      server = await startServer(['--echo', '--max-message-size', '1mb', '--heartbeat-interval', '500']);
      const flooder = await RawClient.connect(server.port);
      clients.push(flooder);
      expect(flooder.status).toBe(101);
      flooder.socket.pause();
      const pid = server.proc.pid!;
      const rssBefore = rssOf(pid);
      let rssPeak = rssBefore;
      let uploaded = 0;
      const started = Date.now();
      while (!flooder.isClosed && Date.now() - started < 10_000) {
        // Respect our own backpressure: what we cannot hand to the kernel is not the server's memory.
        if (!flooder.socket.write(frame)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(t);
              flooder.socket.off('drain', done);
              resolve();
            };
            const t = setTimeout(done, 50);
            flooder.socket.once('drain', done);
          });
        }
        uploaded += frame.length;
        rssPeak = Math.max(rssPeak, rssOf(pid));
      }
      const endedAfter = Date.now() - started;
      console.log(
        `[reliability] non-reading flooder (${what}): uploaded ${mib(uploaded)} MiB before the server dropped it after ${endedAfter} ms; server RSS +${mib(rssPeak - rssBefore)} MiB`,
      );
      expect(flooder.isClosed, 'the server never dropped a client that stopped reading').toBe(true);
      expect(endedAfter).toBeLessThan(5000); // a few heartbeat intervals
      expect(rssPeak - rssBefore).toBeLessThan(RSS_GROWTH_BOUND);
      // Everyone else is fine.
      const other = await RawClient.connect(server.port);
      clients.push(other);
      await other.send({ opcode: 1, payload: 'next' });
      expect((await other.nextFrame()).payload.toString()).toBe('next');
    });
  }
});
