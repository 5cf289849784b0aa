#!/usr/bin/env node
// Streaming throughput to one client: rxws's `streamTo` (pulls the next chunk
// while the connection is writable, waits for `drain$` otherwise; default
// 1 MiB budget) side by side with `ws`'s send-callback loop (the next send in
// the callback of the previous one), in one run, interleaved rounds.
//
//   node bench/stream.mjs [--mb 200] [--chunk-kib 64] [--rounds 3]
//
// The client (the same for both: `ws`'s client in a child process, so it does
// not share the servers' event loop) times from open to close and checks the
// byte count. `ws` comes from ../shared/node_modules (RXWS_SHARED to change),
// never from this package.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = resolve(root, process.env.RXWS_SHARED ?? '../shared');
const wsPath = join(shared, 'node_modules', 'ws', 'wrapper.mjs');
if (!existsSync(wsPath)) {
  console.error(`bench/stream: ws is not installed in ${shared} (set RXWS_SHARED to the shared/ folder)`);
  process.exit(2);
}
const ws = await import(pathToFileURL(wsPath).href);

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    'chunk-kib': { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    client: { type: 'string' },
    expect: { type: 'string' },
  },
});

if (values.client !== undefined) {
  // Client mode: receive everything, print {bytes, seconds} as JSON.
  const expected = Number(values.expect);
  const socket = new ws.WebSocket(values.client, { perMessageDeflate: false });
  let bytes = 0;
  let started = 0n;
  socket.on('open', () => (started = process.hrtime.bigint()));
  socket.on('message', (data) => (bytes += data.length));
  socket.on('close', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(JSON.stringify({ bytes, seconds }));
    process.exit(bytes === expected ? 0 : 1);
  });
  socket.on('error', (err) => {
    console.error(err.message);
    process.exit(1);
  });
} else {
  const megabytes = Number(values.mb);
  const chunkBytes = Number(values['chunk-kib']) * 1024;
  const rounds = Number(values.rounds);
  if (!(megabytes > 0) || !(chunkBytes > 0) || !(rounds > 0)) {
    console.error('bench/stream: --mb, --chunk-kib and --rounds must be positive numbers');
    process.exit(2);
  }
  const chunks = Math.ceil((megabytes * 1024 * 1024) / chunkBytes);
  const total = chunks * chunkBytes;
  // One chunk reused: both servers send the same bytes, and neither pays for making them.
  const chunk = Buffer.alloc(chunkBytes, 0x61);

  const { WebSocketServer, streamTo } = await import(pathToFileURL(join(root, 'dist', 'index.js')).href);
  function* payload() {
    for (let i = 0; i < chunks; i++) yield chunk;
  }
  const rxws = new WebSocketServer({ port: 0, host: '127.0.0.1', heartbeatInterval: 0 });
  rxws.connections$.subscribe((conn) => streamTo(conn, payload()).subscribe({ next: () => conn.close(1000), error: () => {} }));
  const rxwsPort = (await rxws.listen()).port;

  const wss = new ws.WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (socket) => {
    let i = 0;
    const next = (err) => {
      if (err) return;
      if (i++ < chunks) socket.send(chunk, { binary: true }, next);
      else socket.close(1000);
    };
    next();
  });
  await new Promise((r) => wss.once('listening', r));
  const wsPort = wss.address().port;

  const runClient = (port) =>
    new Promise((resolvePromise, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--client', `ws://127.0.0.1:${port}/`, '--expect', String(total)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.once('exit', (code) => (code === 0 ? resolvePromise(JSON.parse(out)) : reject(new Error(`client exited with ${code}: ${out}`))));
    });

  const results = { 'rxws streamTo': [], 'ws send-callback loop': [] };
  for (let round = 1; round <= rounds; round++) {
    for (const [name, port] of [
      ['rxws streamTo', rxwsPort],
      ['ws send-callback loop', wsPort],
    ]) {
      const { seconds } = await runClient(port);
      const rate = total / (1024 * 1024) / seconds;
      results[name].push(rate);
      console.error(`round ${round}: ${name}: ${(total / (1024 * 1024)).toFixed(0)} MiB in ${seconds.toFixed(2)} s = ${rate.toFixed(0)} MiB/s`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`\nstream ${megabytes} MB in ${chunkBytes / 1024} KiB messages to one client, ${rounds} round(s), median MiB/s:`);
  for (const [name, rates] of Object.entries(results)) console.log(`  ${name.padEnd(24)} ${median(rates).toFixed(0).padStart(6)}   (${rates.map((r) => r.toFixed(0)).join(', ')})`);
  await rxws.close();
  wss.close();
}
