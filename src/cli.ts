#!/usr/bin/env node
// The `rxws` command: a thin shell over the library. Flags and wire behaviour
// are documented in README.md, "The `rxws` command".
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { config as rxjsConfig } from 'rxjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { parseRedisUrl, redisCluster } from './cluster/redis.js';
import { demoPage } from './demo.js';
import { echo } from './echo.js';
import { relay, relayHistoryFrame } from './relay.js';
import { WebSocketServer } from './server/server.js';
import { parseSize } from './size.js';
import { parseDuration } from './duration.js';
import { loadTlsFiles } from './tls.js';
import { IpcHub, ipcCluster } from './cluster/ipc.js';
import { followPrimary, isWorker, reportListenFailure, reportListening, superviseWorkers, workerHealth, workerPort } from './cluster/workers.js';

const fail = (message: string): never => {
  process.stderr.write(`rxws: ${message}\n`);
  process.exit(2);
};

const nonNegativeInt = (name: string) => (value: unknown) => {
  const n = Number(value);
  if (value === '' || typeof value === 'boolean' || !Number.isSafeInteger(n) || n < 0) {
    throw new Error(`--${name} must be a whole number ≥ 0, got "${String(value)}"`);
  }
  return n;
};
const size = (name: string) => (value: unknown) => {
  try {
    return parseSize(String(value));
  } catch (err) {
    throw new Error(`--${name}: ${(err as Error).message}`);
  }
};

const duration = (name: string) => (value: unknown) => {
  try {
    return parseDuration(String(value));
  } catch (err) {
    throw new Error(`--${name}: ${(err as Error).message}`);
  }
};

// The package's own version: yargs would look for a package.json from the working directory up, finding the host application's.
const packageVersion = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const argv = yargs(hideBin(process.argv))
  .scriptName('rxws')
  .usage('$0 [--port 8080] [--host 0.0.0.0] [--echo] [options]\n\nAn RFC 6455 WebSocket server: relay mode (rooms, broadcast, send by id) by default, or echo mode.')
  .option('port', { type: 'string', default: '8080', describe: 'TCP port (0 picks a free port)', coerce: nonNegativeInt('port') })
  .option('host', { type: 'string', default: '0.0.0.0', describe: 'address to listen on' })
  .option('echo', { type: 'boolean', default: false, describe: 'echo every message back instead of relaying' })
  .option('max-message-size', { type: 'string', default: '1mb', describe: 'largest message (e.g. 64kb, 16mb or bytes); larger ones close with 1009', coerce: size('max-message-size') })
  .option('rate-limit', { type: 'string', describe: 'messages per second per connection, burst of the same (default 1000 in relay mode, off in echo mode; 0 = off)', coerce: nonNegativeInt('rate-limit') })
  .option('max-connections', { type: 'string', describe: 'further upgrades get HTTP 503 (default: unlimited; 0 = unlimited)', coerce: nonNegativeInt('max-connections') })
  .option('allow-origin', { type: 'string', array: true, describe: 'accepted Origin (repeatable); upgrades from other origins get 403 (default: any)' })
  .option('metrics', { type: 'boolean', default: true, describe: 'serve Prometheus metrics at GET /metrics (--no-metrics turns it off)' })
  .option('demo', { type: 'boolean', default: true, describe: 'serve the demo page at GET / in relay mode (--no-demo turns it off)' })
  .option('max-buffered', { type: 'string', default: '1mb', describe: 'outbound budget per connection; a slower reader is closed with 1008', coerce: size('max-buffered') })
  .option('slow-consumer', { choices: ['close', 'drop'] as const, default: 'close' as const, describe: 'past --max-buffered: close the connection (1008) or drop messages for it' })
  .option('handshake-timeout', { type: 'string', default: '10000', describe: 'ms to complete the upgrade request (0 = no limit)', coerce: nonNegativeInt('handshake-timeout') })
  .option('heartbeat-interval', { type: 'string', default: '30000', describe: 'ms of idleness before a ping; silent for another interval → closed (0 = off)', coerce: nonNegativeInt('heartbeat-interval') })
  .option('close-timeout', { type: 'string', default: '5000', describe: 'ms to wait for a close reply before ending the socket', coerce: nonNegativeInt('close-timeout') })
  .option('shutdown-grace', { type: 'string', default: '5000', describe: 'ms that SIGINT/SIGTERM waits for close replies', coerce: nonNegativeInt('shutdown-grace') })
  .option('max-head-size', { type: 'string', default: '16kb', describe: 'largest upgrade request head; larger gets 431', coerce: size('max-head-size') })
  .option('tls-cert', { type: 'string', describe: 'PEM certificate (chain) file: serve wss:// and https:// (with --tls-key)' })
  .option('tls-key', { type: 'string', describe: 'PEM private key file of --tls-cert' })
  .option('deflate', { type: 'boolean', default: false, describe: 'accept permessage-deflate (RFC 7692) from clients that offer it' })
  .option('deflate-threshold', { type: 'string', default: '1kb', describe: 'with --deflate: messages under this size go uncompressed (0 = compress all)', coerce: size('deflate-threshold') })
  .option('max-headers', { type: 'string', default: '100', describe: 'most request headers; more gets 431', coerce: nonNegativeInt('max-headers') })
  .option('redis', { type: 'string', describe: 'join the cluster of every rxws node on this Redis: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (or rediss://)' })
  .option('cluster', { type: 'string', default: 'rxws', describe: 'cluster name, so that several clusters can share one Redis (with --redis)' })
  .option('workers', { type: 'string', default: '1', describe: 'processes sharing the port, as one server (rooms span them)', coerce: nonNegativeInt('workers') })
  .option('history', { type: 'string', default: '0', describe: 'keep the last N publishes of every room, for recovery with join since (0 = off)', coerce: nonNegativeInt('history') })
  .option('history-ttl', { type: 'string', default: '5m', describe: 'a room\'s history is released this long after its last publish (30s, 10m, 1h or ms)', coerce: duration('history-ttl') })
  .option('max-rooms-per-connection', { type: 'string', default: '1000', describe: 'rooms one connection may be in; a join past it gets too_many_rooms (0 = unlimited)', coerce: nonNegativeInt('max-rooms-per-connection') })
  .check((args) => {
    if (Array.isArray(args.redis)) throw new Error('--redis given more than once');
    if (args.redis !== undefined) {
      try {
        parseRedisUrl(String(args.redis));
      } catch (err) {
        throw new Error(`--redis: ${(err as Error).message}`);
      }
    }
    if (args.cluster === '') throw new Error('--cluster needs a non-empty NAME');
    if (args.port > 65535) throw new Error(`--port must be at most 65535, got ${args.port}`);
    if (args.workers < 1) throw new Error(`--workers must be at least 1, got ${args.workers}`);
    // The cluster stores (Redis, the workers' primary) are not built yet: per-node offsets would break the contract.
    if (args.history > 0 && args.redis !== undefined) throw new Error('--history with --redis is not supported yet (history is per server for now)');
    if (args.history > 0 && args.workers > 1) throw new Error('--history with --workers is not supported yet (history is per process for now)');
    if (args._.length > 0) throw new Error(`unexpected argument "${String(args._[0])}"`);
    return true;
  })
  .strict()
  .help()
  .version(packageVersion)
  .fail((message, err) => fail(message ?? err?.message ?? 'invalid arguments'))
  .parseSync();

let tlsFiles: ReturnType<typeof loadTlsFiles>;
try {
  tlsFiles = loadTlsFiles(argv['tls-cert'], argv['tls-key']);
} catch (err) {
  fail((err as Error).message);
}

// Top-level guard: a bug must be loud, but one connection's fault must not take the others down.
rxjsConfig.onUnhandledError = (err) => console.error('rxws: unhandled error in a stream:', err);
// After an uncaught exception the process is in an undefined state (Node's docs): close gracefully, exit 1.
process.on('uncaughtException', (err) => {
  if (isWorker() && !workerListening) {
    // A worker told to stop while its listen() is still pending with the primary (another worker
    // failed to bind): node:cluster then throws from its listen callback. The primary already
    // reported the failure on one line; this worker just ends.
    reportListenFailure(`cannot listen on ${argv.host}:${argv.port}: ${err.message}`);
    process.exit(1);
  }
  console.error('rxws: uncaught exception, shutting down:', err);
  shutdown('uncaught exception', 1);
});
let workerListening = false;
process.on('unhandledRejection', (err) => console.error('rxws: unhandled rejection:', err));

const listeningLine = (address: { address: string; family: string; port: number }) => {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stdout.write(`listening on ${tlsFiles ? 'wss' : 'ws'}://${host}:${address.port}\n`);
};
// Never hang past the grace period plus the close timeout.
const shutdownDeadline = argv['shutdown-grace'] + argv['close-timeout'] + 1000;
let stopping = false;
let exitCode = 0;
// What SIGINT/SIGTERM (and an uncaught exception) stop: the supervisor of --workers, or this process's server.
let stop: () => void = () => process.exit(exitCode);
function shutdown(reason: string, code = 0): void {
  exitCode = Math.max(exitCode, code);
  if (stopping) return;
  stopping = true;
  if (!isWorker()) process.stderr.write(`rxws: ${reason}: closing connections\n`);
  setTimeout(() => process.exit(exitCode), shutdownDeadline).unref();
  stop();
}

if (argv.workers > 1 && !isWorker()) {
  // The primary of --workers N: supervises and relays, no WebSocket work.
  const supervisor = superviseWorkers({
    workers: argv.workers,
    onListening: listeningLine,
    // With Redis the workers meet there like any other nodes; without it, through the primary.
    hub: argv.redis === undefined ? new IpcHub() : undefined,
    shutdownTimeout: shutdownDeadline,
    log: (line) => process.stderr.write(`rxws: ${line}\n`),
  });
  supervisor.done.then((code) => process.exit(Math.max(code, exitCode)));
  stop = () => void supervisor.shutdown();
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
} else serve();

function serve(): void {
  const metrics = argv.metrics ? new Registry() : undefined;
  if (metrics !== undefined) {
    collectDefaultMetrics({ register: metrics });
    // Gauges named *_total fail `promtool check metrics`; the per-type series without the suffix stay.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) metrics.removeSingleMetric(name);
  }

  const server = new WebSocketServer({
    metrics,
    port: workerPort(argv.port),
    host: argv.host,
    tls: tlsFiles,
    maxMessageSize: argv['max-message-size'],
    maxConnections: argv['max-connections'] || undefined, // 0 = unlimited, like every other numeric flag's 0 = off
    allowOrigins: argv['allow-origin'],
    maxBufferedBytes: argv['max-buffered'],
    slowConsumer: argv['slow-consumer'],
    handshakeTimeout: argv['handshake-timeout'],
    heartbeatInterval: argv['heartbeat-interval'],
    closeTimeout: argv['close-timeout'],
    shutdownGrace: argv['shutdown-grace'],
    maxHeadSize: argv['max-head-size'],
    maxHeaders: argv['max-headers'],
    history: argv.history > 0 ? { size: argv.history, ttl: argv['history-ttl'], frame: relayHistoryFrame } : undefined,
    maxRoomsPerConnection: argv['max-rooms-per-connection'],
    perMessageDeflate: argv.deflate ? { threshold: argv['deflate-threshold'] } : false,
    cluster: argv.redis !== undefined ? redisCluster({ url: argv.redis, name: argv.cluster }) : isWorker() ? ipcCluster : undefined,
    healthFields: isWorker() ? workerHealth : undefined,
    onRequest:
      !argv.echo && argv.demo
        ? (request) =>
            request.path === '/' && (request.method === 'GET' || request.method === 'HEAD')
              ? { status: 200, headers: { 'Content-Type': 'text/html; charset=utf-8' }, body: demoPage }
              : undefined
        : undefined,
  });

  if (argv.echo) echo(server, { rateLimit: argv['rate-limit'] ?? 0 });
  else relay(server, { rateLimit: argv['rate-limit'] ?? 1000 });

  server.listen().then(
    (address) => {
      workerListening = true;
      if (isWorker()) reportListening(address);
      else listeningLine(address);
    },
    (err: Error) => {
      const message = `cannot listen on ${argv.host}:${argv.port}: ${err.message}`;
      if (isWorker()) reportListenFailure(message);
      else fail(message);
    },
  );

  stop = () => void server.close().then(() => process.exit(exitCode));
  if (isWorker()) followPrimary((signal) => shutdown(signal));
  else {
    process.on('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGTERM', () => shutdown('SIGTERM'));
  }
}
