// Graceful shutdown of the `rxws` command (PROTOCOL.md, "Closing and
// shutdown"): stop accepting, close 1001 after everything already accepted,
// wait for close replies up to the grace period, exit 0.
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { closePayload, type Frame, RawClient } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';
import { json, tryUpgrade } from '../support/ws-client.js';

const servers: RunningServer[] = [];
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await Promise.all(servers.splice(0).map((s) => s.stop('SIGKILL')));
});

/** Resolves with the exit code, without signalling again. */
async function exitCode(s: RunningServer): Promise<number | null> {
  if (s.proc.exitCode !== null || s.proc.signalCode !== null) return s.proc.exitCode;
  const [code] = await once(s.proc, 'exit');
  return code as number | null;
}

async function connect(s: RunningServer): Promise<RawClient> {
  const c = await RawClient.connect(s.port);
  clients.push(c);
  expect(c.status).toBe(101);
  expect(json(await c.nextFrame())).toMatchObject({ type: 'welcome' });
  return c;
}

const text = (c: RawClient, command: unknown) => c.send({ opcode: 1, payload: JSON.stringify(command) });

/** Sends a command with a ref and returns the frames received up to (not including) its reply. */
async function request(c: RawClient, command: Record<string, unknown>, ref: string): Promise<Frame[]> {
  await text(c, { ...command, ref });
  const before: Frame[] = [];
  for (;;) {
    const f = await c.nextFrame(10_000);
    if (f.opcode === 1 && json(f).ref === ref) return before;
    before.push(f);
  }
}

describe('graceful shutdown', () => {
  it('SIGTERM: every client gets close 1001 after every message accepted before it; new upgrades are refused; exit 0', async () => {
    // A long grace, held open by a client that never answers, so the server is observably still shutting down.
    const s = await startServer(['--shutdown-grace', '3000']);
    servers.push(s);
    const room = 'shutdown-room';
    const [publisher, member1, member2, outsider, silent] = await Promise.all([connect(s), connect(s), connect(s), connect(s), connect(s)]);
    for (const [i, c] of [publisher, member1, member2].entries()) expect(await request(c, { type: 'join', room }, `j${i}`)).toEqual([]);

    // Two clients stop reading, so that what the server sends them is still in its buffers when the signal lands.
    member1.socket.pause();
    outsider.socket.pause();
    // A burst large enough to be still on its way when the signal lands.
    const PUBLISHES = 300;
    const BROADCASTS = 50;
    const filler = 'x'.repeat(1000);
    const burst: Buffer[] = [];
    for (let i = 0; i < PUBLISHES; i++) burst.push(Buffer.from(JSON.stringify({ type: 'publish', room, data: { i, filler } })));
    for (let i = 0; i < BROADCASTS; i++) burst.push(Buffer.from(JSON.stringify({ type: 'broadcast', data: { b: i } })));
    for (const payload of burst) await publisher.send({ opcode: 1, payload });
    // The reply to a trailing join proves the server has handled the whole burst.
    const publisherBefore = await request(publisher, { type: 'join', room: 'last' }, 'burst-done');

    s.proc.kill('SIGTERM');
    member1.socket.resume();
    outsider.socket.resume();

    const expectedRoomMessages = Array.from({ length: PUBLISHES }, (_, i) => i);
    const expectedBroadcasts = Array.from({ length: BROADCASTS }, (_, i) => i);
    const check = async (c: RawClient, alreadyReceived: Frame[], inRoom: boolean, answer: boolean) => {
      const outcome = await c.closeOutcome(10_000);
      expect(outcome.code).toBe(1001);
      const messages = [...alreadyReceived, ...outcome.before].map(json);
      for (const m of messages) expect(m).toMatchObject({ type: 'message', from: expect.any(String) });
      const roomMessages = messages.filter((m) => m.data.i !== undefined).map((m) => m.data.i);
      for (const m of messages) if (m.data.i !== undefined) expect(m.room).toBe(room);
      const broadcasts = messages.filter((m) => m.data.b !== undefined).map((m) => m.data.b);
      expect(roomMessages).toEqual(inRoom ? expectedRoomMessages : []);
      expect(broadcasts).toEqual(expectedBroadcasts);
      expect(messages).toHaveLength(roomMessages.length + broadcasts.length);
      if (answer) {
        await c.send({ opcode: 8, payload: closePayload(1001) });
        await c.waitEnded(5000);
      }
    };
    // The close frame on any connection shows the shutdown has begun; the silent client then holds the
    // grace period open, so a refused upgrade now is the live server refusing, not a dead process.
    await check(silent, [], false, false);
    const late = await tryUpgrade(s.port);
    late.client?.destroy();
    expect(late.status).not.toBe(101);
    expect(s.proc.exitCode).toBeNull();

    await Promise.all([
      check(publisher, publisherBefore, true, true),
      check(member1, [], true, true),
      check(member2, [], true, true),
      check(outsider, [], false, true),
    ]);

    expect(await exitCode(s)).toBe(0);
    await silent.waitEnded(5000); // the server ended it
  });

  it('a client that never answers the close does not keep the process past --shutdown-grace 500 (exit within 3 s)', async () => {
    const s = await startServer(['--shutdown-grace', '500']);
    servers.push(s);
    const silent = await connect(s);
    await request(silent, { type: 'join', room: 'r' }, 'joined');
    const started = performance.now();
    s.proc.kill('SIGTERM');
    const outcome = await silent.closeOutcome(5000);
    expect(outcome.code).toBe(1001);
    // The silent client ignores the close frame: no reply, socket left open.
    expect(await exitCode(s)).toBe(0);
    const elapsed = performance.now() - started;
    // It waits for the close reply up to the grace period, and not much beyond it.
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3000);
    await silent.waitEnded(2000);
  });

  it('SIGINT behaves as SIGTERM: close 1001, exit 0', async () => {
    const s = await startServer([]);
    servers.push(s);
    const c = await connect(s);
    s.proc.kill('SIGINT');
    expect((await c.closeOutcome(5000)).code).toBe(1001);
    await c.send({ opcode: 8, payload: closePayload(1001) });
    expect(await exitCode(s)).toBe(0);
  });
});
