#!/usr/bin/env node
// Reliability measurements for RELIABILITY.md, against the built command
// (run `npx tsc -p .` first). Each figure is printed as one line.
//
//   node bench/reliability.mjs [idle|slowloris|all] [--connections 10000] [--slowloris 1000]
//
// idle:      RSS per idle connection — server VmRSS after 50 warm-up
//            connections vs after N, divided by (N - 50).
// slowloris: N sockets that send a partial head then one byte every 200 ms,
//            against --handshake-timeout 1000: time until the server ends each.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const args = process.argv.slice(2);
const what = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a)) ?? 'all';
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};

const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
const mib = (b) => (b / 2 ** 20).toFixed(1);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer(extra) {
  const proc = spawn(process.execPath, [CLI, '--port', '0', '--host', '127.0.0.1', ...extra], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  const port = await new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8').on('data', (d) => {
      out += d;
      const m = /listening on ws:\/\/[^\s:]+:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    proc.once('exit', (code) => reject(new Error(`rxws exited with ${code}`)));
  });
  return {
    proc,
    port,
    async stop() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

function upgrade(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.once('connect', () =>
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    let head = '';
    const onData = (d) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (head.startsWith('HTTP/1.1 101')) resolve(socket);
      else reject(new Error(head.split('\r\n')[0]));
    };
    socket.on('data', onData);
  });
}

async function idle() {
  const n = option('connections', 10_000);
  const warm = 50;
  const server = await startServer(['--echo', '--heartbeat-interval', '0']);
  const sockets = [];
  try {
    for (let i = 0; i < warm; i++) sockets.push(await upgrade(server.port));
    await sleep(500);
    const before = rss(server.proc.pid);
    const started = Date.now();
    while (sockets.length < n) {
      const batch = Math.min(250, n - sockets.length);
      sockets.push(...(await Promise.all(Array.from({ length: batch }, () => upgrade(server.port)))));
    }
    const openMs = Date.now() - started;
    await sleep(1000); // let the allocator settle
    const after = rss(server.proc.pid);
    console.log(
      `idle: ${n} open connections (opened in ${openMs} ms); server RSS ${mib(before)} MiB after ${warm} → ${mib(after)} MiB after ${n}: ` +
        `${((after - before) / (n - warm) / 1024).toFixed(1)} KiB per idle connection`,
    );
  } finally {
    for (const s of sockets) s.destroy();
    await server.stop();
  }
}

async function slowloris() {
  const n = option('slowloris', 1000);
  const timeout = 1000;
  const server = await startServer(['--echo', '--handshake-timeout', String(timeout)]);
  const sockets = [];
  try {
    for (let i = 0; i < n; i += 250) {
      const batch = Array.from({ length: Math.min(250, n - i) }, () => net.connect(server.port, '127.0.0.1'));
      // The server's timer starts when it accepts, so time each socket from its own connect.
      await Promise.all(batch.map((s) => new Promise((r) => s.once('connect', () => r((s.connectedAt = Date.now()))))));
      sockets.push(...batch);
    }
    const closed = sockets.map((s) => {
      s.on('error', () => {});
      s.write('GET / HTTP/1.1\r\nHost: x\r\n');
      return new Promise((r) => s.once('close', () => r(Date.now() - s.connectedAt)));
    });
    // One more header byte every 200 ms: the head never completes.
    const drip = setInterval(() => sockets.forEach((s) => s.destroyed || s.write('a')), 200);
    const closedAfter = await Promise.all(closed).finally(() => clearInterval(drip));
    closedAfter.sort((a, b) => a - b);
    const pct = (p) => closedAfter[Math.min(closedAfter.length - 1, Math.floor(p * closedAfter.length))];
    console.log(
      `slowloris: ${n} sockets, --handshake-timeout ${timeout}: every one ended by the server; time to close ` +
        `min ${closedAfter[0]} / p50 ${pct(0.5)} / p99 ${pct(0.99)} / max ${closedAfter[closedAfter.length - 1]} ms`,
    );
  } finally {
    for (const s of sockets) s.destroy();
    await server.stop();
  }
}

console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
if (what === 'idle' || what === 'all') await idle();
if (what === 'slowloris' || what === 'all') await slowloris();
