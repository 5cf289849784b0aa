#!/usr/bin/env node
// Cross-node fan-out through Redis, rxws against the `ws` + `ioredis` anchor
// (../shared/ref/ws-server.mjs --redis): two server nodes and one private
// redis-server, S subscribers of one room split over both nodes, a publisher
// on node 1 (window of 4 publishes in flight, every delivery checked for
// order and exactly-once by the shared load generator). Also the same S on a
// single node without Redis, for the latency the Redis hop adds.
//
//   node bench/cluster.mjs [--subs 1000] [--rounds 3] [--duration 5000] [--warmup 1000] [--quick]
//
// Reports per side: deliveries/s, deliveries per CPU-second of the two
// server processes (and with Redis's CPU added), p50/p99 latency cross-node
// and single-node, and the p99 the hop adds. Rounds interleave rxws and the
// anchor with fresh processes; medians are printed.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const shared = resolve(root, process.env.RXWS_SHARED ?? '../shared');
const lib = join(shared, 'bench', 'lib');
if (!existsSync(join(lib, 'workers.mjs'))) {
  console.error(`bench/cluster: the shared load generator is missing (${lib}); set RXWS_SHARED to the shared/ folder`);
  process.exit(2);
}
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';
if (!existsSync(REDIS_SERVER)) {
  console.error(`bench/cluster: redis-server is needed (${REDIS_SERVER})`);
  process.exit(2);
}
if (!existsSync(join(root, 'dist', 'cli.js'))) {
  console.error('bench/cluster: build first (npm run build)');
  process.exit(2);
}
const { Workers, killAllWorkers } = await import(join(lib, 'workers.mjs'));
const { startServer, stopServer, killAllLive, serverCpu, freePort, cpuSeconds } = await import(join(lib, 'server.mjs'));
const { Hist, sleep, median } = await import(join(lib, 'stats.mjs'));

const args = process.argv.slice(2);
const flag = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const quick = args.includes('--quick');
const cfg = {
  subs: flag('subs', 1000),
  rounds: flag('rounds', quick ? 1 : 3),
  warmupMs: flag('warmup', quick ? 400 : 1000),
  durationMs: flag('duration', quick ? 1500 : 5000),
  window: 4,
  room: 'bench',
  sampleEvery: 64,
};
const RELAY_FLAGS = '--rate-limit 0 --max-connections 100000';
const SIDES = [
  { name: 'rxws', cmd: `node ${join(root, 'dist', 'cli.js')} --host 127.0.0.1 --heartbeat-interval 0` },
  { name: 'ws+ioredis', cmd: `node ${join(shared, 'ref', 'ws-server.mjs')} --host 127.0.0.1` },
];

let redis;
const cleanup = () => {
  killAllLive();
  killAllWorkers();
  try {
    redis?.kill('SIGKILL');
  } catch {}
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

async function startRedis() {
  const port = await freePort();
  const proc = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const net = await import('node:net');
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => net.connect(port, '127.0.0.1').once('connect', function () { this.destroy(); r(true); }).once('error', () => r(false)));
    if (ok) return { proc, port, url: `redis://127.0.0.1:${port}` };
    await sleep(25);
  }
  throw new Error('redis-server did not start');
}

/** One measured run: subscribers split over `servers` (worker i → servers[i % n]), publisher on servers[0]. */
async function run(servers, W) {
  const n = cfg.subs;
  const per = [Math.ceil(n / 2), Math.floor(n / 2)];
  const idx = [0, 1];
  const setup = await Promise.all(idx.map((i) => W.call(i, {
    cmd: 'relaySetup', port: servers[i % servers.length].port, subs: per[i], kind: 'fanout', room: cfg.room, conc: 100, sampleEvery: cfg.sampleEvery,
  }, 180000)));
  // Subscriptions on the other node must be in place before the first publish: joined says so.
  const pub = await W.call(0, { cmd: 'relayPublisher', port: servers[0].port, window: cfg.window, peers: [1] });
  await W.call(1, { cmd: 'relayInfo', pubId: pub.pubId });
  W.onEvent = (i, m) => { if (m.event === 'progress') W.notify(0, { cmd: 'peerProgress', worker: i, done: m.done }); };
  await W.call(0, { cmd: 'relayStart' });
  await sleep(cfg.warmupMs);
  const cpuOf = () => servers.reduce((a, s) => a + serverCpu(s), 0);
  const mark = async (takeHist) => ({
    wall: process.hrtime.bigint(), cpu: cpuOf(), redis: redis ? cpuSeconds(redis.proc.pid) : 0,
    marks: await Promise.all(idx.map((i) => W.call(i, { cmd: 'relayMark', takeHist }))),
  });
  const a = await mark(false);
  await sleep(cfg.durationMs);
  const b = await mark(true);
  const stop = await W.call(0, { cmd: 'relayStopPublishing' });
  const drain = await Promise.all(idx.map((i) => W.call(i, { cmd: 'relayDrain', last: stop.last, drainMs: 15000 }, 30000)));
  const sum = (arr, k) => arr.reduce((x, o) => x + o[k], 0);
  const ok = sum(setup, 'opened') === n && sum(drain, 'complete') === n && sum(drain, 'dups') === 0 && sum(drain, 'lost') === 0;
  const dt = Number(b.wall - a.wall) / 1e9;
  let deliveries = 0;
  for (let i = 0; i < idx.length; i++) deliveries += (b.marks[i].deliveries - a.marks[i].deliveries) / (Number(b.marks[i].t - a.marks[i].t) / 1e9);
  const serverCpuS = (b.cpu - a.cpu) / dt;
  const redisCpuS = (b.redis - a.redis) / dt;
  const lat = Hist.from(b.marks.map((m) => m.hist)).summary();
  await W.each(() => ({ cmd: 'closeConns' }), 30000).catch(() => {});
  return {
    ok, deliveries_per_s: Math.round(deliveries),
    deliveries_per_cpu_s: Math.round(deliveries / serverCpuS),
    deliveries_per_cpu_s_with_redis: Math.round(deliveries / (serverCpuS + redisCpuS)),
    server_cpu_pct: Math.round(serverCpuS * 1000) / 10, redis_cpu_pct: Math.round(redisCpuS * 1000) / 10,
    p50_ms: lat.p50_ms, p99_ms: lat.p99_ms,
  };
}

const W = await Workers.start(2);
redis = await startRedis();
const results = { rxws: { cluster: [], single: [] }, 'ws+ioredis': { cluster: [], single: [] } };
console.log(`# bench/cluster: S=${cfg.subs} over 2 nodes + 1 Redis, publisher on node 1, window ${cfg.window}; ${cfg.rounds} round(s) of ${cfg.durationMs} ms`);
try {
  for (let round = 0; round < cfg.rounds; round++) {
    for (const side of SIDES) {
      for (const mode of ['cluster', 'single']) {
        const servers = [];
        const name = `bench${round}${side.name.replace(/\W/g, '')}`;
        const extra = mode === 'cluster' ? ` --redis ${redis.url} --cluster ${name}` : '';
        for (let i = 0; i < (mode === 'cluster' ? 2 : 1); i++) servers.push(await startServer(side.cmd + extra, { relayFlags: RELAY_FLAGS }));
        if (mode === 'cluster') await sleep(1500); // both nodes see Redis and each other
        try {
          const r = await run(servers, W);
          results[side.name][mode].push(r);
          console.log(`${side.name.padEnd(11)} ${mode.padEnd(8)} round ${round + 1}: ${JSON.stringify(r)}`);
        } finally {
          for (const s of servers) await stopServer(s);
        }
      }
    }
  }
} finally {
  await W.stop();
}

const med = (rs, k) => median(rs.filter((r) => r.ok).map((r) => r[k]));
console.log('\n# medians (valid runs)');
console.log('side         deliv/s   deliv/srv-CPU-s  (+redis)   p50 ms  p99 ms  single p99 ms  hop adds p99 ms');
const summary = {};
for (const side of SIDES) {
  const { cluster, single } = results[side.name];
  const s = {
    deliveries_per_s: med(cluster, 'deliveries_per_s'),
    deliveries_per_cpu_s: med(cluster, 'deliveries_per_cpu_s'),
    deliveries_per_cpu_s_with_redis: med(cluster, 'deliveries_per_cpu_s_with_redis'),
    p50_ms: med(cluster, 'p50_ms'), p99_ms: med(cluster, 'p99_ms'), single_p99_ms: med(single, 'p99_ms'),
  };
  s.hop_p99_ms = Math.round((s.p99_ms - s.single_p99_ms) * 1000) / 1000;
  summary[side.name] = s;
  console.log(`${side.name.padEnd(11)} ${String(s.deliveries_per_s).padStart(9)} ${String(s.deliveries_per_cpu_s).padStart(16)} ${String(s.deliveries_per_cpu_s_with_redis).padStart(10)} ${String(s.p50_ms).padStart(8)} ${String(s.p99_ms).padStart(7)} ${String(s.single_p99_ms).padStart(14)} ${String(s.hop_p99_ms).padStart(16)}`);
}
const ratio = summary.rxws.deliveries_per_cpu_s / summary['ws+ioredis'].deliveries_per_cpu_s;
console.log(`\nrxws / ws+ioredis deliveries per server-CPU-second: ${ratio.toFixed(2)}x (target >= 2); rxws hop adds p99 ${summary.rxws.hop_p99_ms} ms (target <= 2)`);
console.log(JSON.stringify({ cfg, summary, results }));
const invalid = Object.values(results).flatMap((r) => [...r.cluster, ...r.single]).filter((r) => !r.ok).length;
if (invalid > 0) {
  console.error(`bench/cluster: ${invalid} run(s) invalid (lost, duplicated or missing deliveries)`);
  process.exitCode = 1;
}
// The private Redis is a child process: leave through 'exit' so that cleanup stops it.
process.exit();
