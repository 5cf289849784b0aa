// 10,000 connections at once against --max-connections 5000: each one gets an
// answer — upgraded (101 + welcome) or refused (HTTP 503, then a clean close).
// No hang, no reset without a response. Then all leave and the server is empty.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeClientFrame, upgradeRequest } from '../support/raw-client.js';
import { type RunningServer, startServer } from '../support/server.js';

const ATTEMPTS = 10_000;
const MAX_CONNECTIONS = 5000;
const CONCURRENT_HANDSHAKES = 250;
const WARM_UP = 50;

type Outcome = 'upgraded' | 'refused' | 'reset-without-response' | 'other-status' | 'hang';

interface Attempt {
  socket: net.Socket;
  outcome: Outcome;
  detail: string;
}

const sockets = new Set<net.Socket>();
let server: RunningServer;
beforeAll(async () => {
  server = await startServer(['--max-connections', String(MAX_CONNECTIONS), '--heartbeat-interval', '0', '--rate-limit', '0']);
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await server?.stop();
});

const rssOf = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

/**
 * One handshake on a bare socket, read just far enough to classify it:
 * 101 followed by the welcome frame, or 503 followed by the server closing TCP.
 */
function attempt(port: number): Promise<Attempt> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    sockets.add(socket);
    let bytes = Buffer.alloc(0);
    let status = 0;
    let done = false;
    const finish = (outcome: Outcome, detail = '') => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (outcome !== 'upgraded') sockets.delete(socket);
      resolve({ socket, outcome, detail });
    };
    const timer = setTimeout(() => finish('hang', `status ${status}, ${bytes.length} bytes`), 15_000);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (status === 0) finish('reset-without-response', err.code ?? err.message);
    });
    socket.once('connect', () => socket.write(upgradeRequest(port)));
    socket.on('data', (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk]);
      const end = bytes.indexOf('\r\n\r\n');
      if (end < 0) return;
      status = Number(bytes.toString('latin1', 9, 12));
      if (status !== 101) return; // wait for the close below
      const frame = bytes.subarray(end + 4);
      if (frame.length >= 2 && frame.length >= 2 + (frame[1]! & 0x7f)) {
        const welcome = frame.subarray(2, 2 + (frame[1]! & 0x7f)).toString();
        finish(welcome.includes('"welcome"') ? 'upgraded' : 'other-status', welcome);
      }
    });
    socket.once('close', () => {
      if (status === 503) finish('refused');
      else if (status === 0) finish('reset-without-response', 'closed before any response');
      else finish('other-status', `status ${status} then close`);
    });
  });
}

describe(`connection flood: ${ATTEMPTS} connections against --max-connections ${MAX_CONNECTIONS}`, () => {
  it('upgrades up to the limit, refuses the rest with 503, and forgets them all afterwards', { timeout: 90_000 }, async () => {
    const pid = server.proc.pid!;
    const started = Date.now();
    const attempts: Attempt[] = [];
    // A warm-up batch first, for the RSS-per-connection figure.
    attempts.push(...(await Promise.all(Array.from({ length: WARM_UP }, () => attempt(server.port)))));
    const rssWarm = rssOf(pid);
    let rssAtLimit = 0;
    while (attempts.length < ATTEMPTS) {
      const n = Math.min(CONCURRENT_HANDSHAKES, ATTEMPTS - attempts.length);
      attempts.push(...(await Promise.all(Array.from({ length: n }, () => attempt(server.port)))));
      if (rssAtLimit === 0 && attempts.length >= MAX_CONNECTIONS) rssAtLimit = rssOf(pid);
    }
    const floodMs = Date.now() - started;

    const count = (o: Outcome) => attempts.filter((a) => a.outcome === o).length;
    const summary = Object.fromEntries((['upgraded', 'refused', 'reset-without-response', 'other-status', 'hang'] as Outcome[]).map((o) => [o, count(o)]));
    const upgraded = attempts.filter((a) => a.outcome === 'upgraded');
    console.log(
      `[reliability] flood: ${ATTEMPTS} connections in batches of ${CONCURRENT_HANDSHAKES} took ${floodMs} ms: ${JSON.stringify(summary)}; ` +
        `server RSS ${(rssWarm / 2 ** 20).toFixed(1)} MiB after ${WARM_UP}, ${(rssAtLimit / 2 ** 20).toFixed(1)} MiB at ${MAX_CONNECTIONS} → ` +
        `≈ ${((rssAtLimit - rssWarm) / (MAX_CONNECTIONS - WARM_UP) / 1024).toFixed(1)} KiB per idle connection`,
    );
    const failures = attempts.filter((a) => a.outcome !== 'upgraded' && a.outcome !== 'refused').slice(0, 5);
    expect(failures.map((a) => `${a.outcome}: ${a.detail}`)).toEqual([]);
    expect(summary.upgraded).toBe(MAX_CONNECTIONS);
    expect(summary.refused).toBe(ATTEMPTS - MAX_CONNECTIONS);
    expect((await server.health()).connections).toBe(MAX_CONNECTIONS);

    // Everyone leaves with a close handshake; the server answers each and forgets it.
    const closedAt = Date.now();
    await Promise.all(
      upgraded.map(
        ({ socket }) =>
          new Promise<void>((resolve) => {
            socket.once('close', () => resolve());
            socket.resume(); // read (and drop) the close reply
            socket.end(encodeClientFrame({ opcode: 8, payload: Buffer.from([0x03, 0xe8]) }));
          }),
      ),
    );
    const deadline = Date.now() + 10_000;
    let health = await server.health();
    while ((health.connections !== 0 || health.rooms !== 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      health = await server.health();
    }
    console.log(`[reliability] flood: ${MAX_CONNECTIONS} close handshakes took ${Date.now() - closedAt} ms`);
    expect(health).toMatchObject({ connections: 0, rooms: 0 });
    expect(server.proc.exitCode).toBeNull();
  });
});
