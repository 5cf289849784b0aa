#!/usr/bin/env node
// Small measurements behind docs/compression.md (a few seconds, one process):
//   node bench/deflate-costs.mjs            (after npm run build)
// 1. memory of one zlib context (inflate, deflate) as RSS per context;
// 2. CPU per message: sync inflate/deflate through the handle vs async zlib streams;
// 3. RSS of N concurrent async inflates (no concurrency limit, as ws#1202) vs the sync path;
// 4. compression ratio of chatty JSON with and without context takeover.
import { execFileSync } from 'node:child_process';
import { setImmediate as tick } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { SyncZlib } from '../dist/protocol/extensions/sync-zlib.js';

const { Z_SYNC_FLUSH } = zlib.constants;
const rssKiB = () => Math.round(process.memoryUsage().rss / 1024);
const gc = globalThis.gc ?? (() => {});
const json = (i, size) => {
  let s = '';
  for (let j = 0; s.length < size; j++) s += JSON.stringify({ type: 'message', room: 'lobby', from: String(1000 + ((i + j) % 97)), data: { seq: i * 31 + j, text: `hello ${i % 13} world` } });
  return Buffer.from(s.slice(0, size));
};
const compress = (buf) => {
  const out = zlib.deflateRawSync(buf, { finishFlush: Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);
};
const TAIL = Buffer.from([0, 0, 0xff, 0xff]);
const line = (...a) => console.log(a.join('  '));
/** Process CPU (all threads: the zlib threadpool included) since `start`, µs. */
const cpuUs = (start) => {
  const d = process.cpuUsage(start);
  return d.user + d.system;
};

// 1. Memory per context.
async function contextMemory(kind, n, opts) {
  gc();
  const before = rssKiB();
  const list = [];
  const input = kind === 'inflate' ? compress(json(0, 4096)) : json(0, 4096);
  for (let i = 0; i < n; i++) {
    const z = new SyncZlib(kind, opts);
    // use it once so that zlib allocates its window
    z.write(kind === 'inflate' ? Buffer.concat([input, TAIL]) : input, Z_SYNC_FLUSH, () => true);
    list.push(z);
  }
  await tick();
  const after = rssKiB();
  for (const z of list) z.close();
  return (after - before) / n;
}

if (process.argv[2] === '--context') {
  // child: one configuration, fresh heap and malloc arenas
  console.log((await contextMemory(process.argv[3], 2000, JSON.parse(process.argv[4]))).toFixed(1));
  process.exit(0);
}
line('# 1. RSS per zlib context (used once; 2000 contexts in a fresh process), KiB');
for (const [kind, opts] of [
  ['inflate', { windowBits: 10 }],
  ['inflate', { windowBits: 15 }],
  ['deflate', { windowBits: 10, memLevel: 4 }],
  ['deflate', { windowBits: 15, memLevel: 4 }],
  ['deflate', { windowBits: 15, memLevel: 8 }],
]) {
  const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--context', kind, JSON.stringify(opts)], { encoding: 'utf8' });
  line(kind, JSON.stringify(opts), out.trim());
}

// 2. CPU per message.
function syncRate(kind, payload, n) {
  const z = new SyncZlib(kind, { windowBits: 15 });
  const input = kind === 'inflate' ? Buffer.concat([compress(payload), TAIL]) : payload;
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    z.write(input, Z_SYNC_FLUSH, () => true);
    z.reset();
  }
  const us = cpuUs(t) / n;
  z.close();
  return us;
}
async function asyncRate(kind, payload, n) {
  const input = kind === 'inflate' ? Buffer.concat([compress(payload), TAIL]) : payload;
  const z = kind === 'inflate' ? zlib.createInflateRaw() : zlib.createDeflateRaw();
  z.on('data', () => {});
  const t = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    z.write(input);
    await new Promise((r) => z.flush(Z_SYNC_FLUSH, r));
    z.reset(); // as the sync path: no context carried from one message to the next
  }
  const us = cpuUs(t) / n;
  z.close();
  return us;
}
line('# 2. CPU µs per message, all threads (one context, reset per message; async = zlib stream + flush callback)');
for (const size of [1024, 65536]) {
  const payload = json(1, size);
  const n = size > 4096 ? 300 : 3000;
  line(`${size} B`, 'deflate sync', syncRate('deflate', payload, n).toFixed(1), 'async', (await asyncRate('deflate', payload, n)).toFixed(1));
  line(`${size} B`, 'inflate sync', syncRate('inflate', payload, n).toFixed(1), 'async', (await asyncRate('inflate', payload, n)).toFixed(1));
}

// 3. Concurrency: N connections each inflating one 64 KiB message at once.
async function concurrentAsync(n, payload) {
  gc();
  const before = rssKiB();
  const input = Buffer.concat([compress(payload), TAIL]);
  let peak = before;
  const streams = Array.from({ length: n }, () => zlib.createInflateRaw());
  await Promise.all(
    streams.map(
      (z) =>
        new Promise((resolve) => {
          const chunks = [];
          z.on('data', (c) => chunks.push(c));
          z.write(input);
          z.flush(Z_SYNC_FLUSH, () => {
            peak = Math.max(peak, rssKiB());
            resolve(Buffer.concat(chunks));
          });
        }),
    ),
  );
  peak = Math.max(peak, rssKiB());
  for (const z of streams) z.close();
  return (peak - before) / 1024;
}
async function concurrentSyncPooled(n, payload) {
  gc();
  const before = rssKiB();
  const input = Buffer.concat([compress(payload), TAIL]);
  const z = new SyncZlib('inflate', { windowBits: 15 });
  const kept = [];
  for (let i = 0; i < n; i++) {
    const out = [];
    z.write(input, Z_SYNC_FLUSH, (p) => (out.push(Buffer.from(p)), true));
    z.reset();
    kept.push(out); // the messages are still held, as the async case holds them
  }
  const peak = rssKiB();
  z.close();
  return (peak - before) / 1024;
}
line('# 3. RSS growth (MiB) for N connections inflating one 64 KiB message at once');
for (const n of [1000, 5000]) {
  const payload = json(2, 65536);
  line(`N=${n}`, 'async streams, one per connection', (await concurrentAsync(n, payload)).toFixed(1), 'sync pooled', (await concurrentSyncPooled(n, payload)).toFixed(1));
}

// 4. Ratio: relay deliveries (~110 B JSON) and 1 KiB / 4 KiB JSON, with and without context takeover.
line('# 4. compressed/original bytes, 200 consecutive messages');
for (const size of [110, 1024, 4096]) {
  const msgs = Array.from({ length: 200 }, (_, i) => json(i + 7, size));
  let fresh = 0;
  for (const m of msgs) fresh += compress(m).length;
  const z = new SyncZlib('deflate', { windowBits: 15 });
  let kept = 0;
  for (const m of msgs) z.write(m, Z_SYNC_FLUSH, (p) => ((kept += p.length), true));
  kept -= 4 * msgs.length;
  z.close();
  const total = msgs.reduce((a, m) => a + m.length, 0);
  line(`${size} B`, 'no context takeover', (fresh / total).toFixed(3), 'context takeover', (kept / total).toFixed(3));
}

// 5. How long one bomb blocks the loop: inflate until the limit passes, then stop.
line('# 5. one compression bomb (10 MiB of zeros, ~10 KiB compressed): ms on the loop until the limit stops it');
{
  const bomb = Buffer.concat([compress(Buffer.alloc(10 << 20)), TAIL]);
  for (const limit of [1 << 20, 16 << 20]) {
    const z = new SyncZlib('inflate', { windowBits: 15 });
    const times = [];
    for (let r = 0; r < 20; r++) {
      let n = 0;
      const t = process.hrtime.bigint();
      z.write(bomb, Z_SYNC_FLUSH, (p) => (n += p.length) <= limit);
      times.push(Number(process.hrtime.bigint() - t) / 1e6);
      z.reset();
    }
    times.sort((a, b) => a - b);
    line(`limit ${limit >> 20} MiB`, 'median ms', times[10].toFixed(2), 'max ms', times[19].toFixed(2));
    z.close();
  }
}

// 6. Compression level: CPU per message and ratio (shared deflater, reset per message).
line('# 6. deflate level: CPU µs per message and compressed/original, 50 rotating JSON messages');
for (const size of [1024, 65536]) {
  const msgs = Array.from({ length: 50 }, (_, i) => json(i * 3 + 1, size));
  for (const level of [1, 3, 6, 9]) {
    const z = new SyncZlib('deflate', { windowBits: 15, level, memLevel: 8 });
    const n = size > 4096 ? 400 : 4000;
    let out = 0;
    let inn = 0;
    const t = process.cpuUsage();
    for (let k = 0; k < n; k++) {
      const m = msgs[k % msgs.length];
      z.write(m, Z_SYNC_FLUSH, (p) => ((out += p.length), true));
      z.reset();
      inn += m.length;
    }
    const us = cpuUs(t) / n;
    z.close();
    line(`${size} B`, `level ${level}`, 'µs', us.toFixed(1), 'ratio', (out / inn).toFixed(3));
  }
}
