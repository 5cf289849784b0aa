#!/usr/bin/env node
// The `rxws` command: a thin shell over the library. Flags and wire behaviour
// are fixed by PROTOCOL.md.
import { config as rxjsConfig } from 'rxjs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { demoPage } from './demo.js';
import { echo } from './echo.js';
import { relay } from './relay.js';
import { WebSocketServer } from './server/server.js';
import { parseSize } from './size.js';

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

const argv = yargs(hideBin(process.argv))
  .scriptName('rxws')
  .usage('$0 [--port 8080] [--host 0.0.0.0] [--echo] [options]\n\nAn RFC 6455 WebSocket server: relay mode (rooms, broadcast, send by id) by default, or echo mode.')
  .option('port', { type: 'string', default: '8080', describe: 'TCP port (0 picks a free port)', coerce: nonNegativeInt('port') })
  .option('host', { type: 'string', default: '0.0.0.0', describe: 'address to listen on' })
  .option('echo', { type: 'boolean', default: false, describe: 'echo every message back instead of relaying' })
  .option('max-message-size', { type: 'string', default: '1mb', describe: 'largest message (e.g. 64kb, 16mb or bytes); larger ones close with 1009', coerce: size('max-message-size') })
  .option('rate-limit', { type: 'string', describe: 'messages per second per connection, burst of the same (default 1000 in relay mode, off in echo mode; 0 = off)', coerce: nonNegativeInt('rate-limit') })
  .option('max-connections', { type: 'string', describe: 'further upgrades get HTTP 503 (default: unlimited)', coerce: nonNegativeInt('max-connections') })
  .option('allow-origin', { type: 'string', array: true, describe: 'accepted Origin (repeatable); upgrades from other origins get 403 (default: any)' })
  .option('demo', { type: 'boolean', default: true, describe: 'serve the demo page at GET / in relay mode (--no-demo turns it off)' })
  .option('max-buffered', { type: 'string', default: '1mb', describe: 'outbound budget per connection; a slower reader is closed with 1008', coerce: size('max-buffered') })
  .option('slow-consumer', { choices: ['close', 'drop'] as const, default: 'close' as const, describe: 'past --max-buffered: close the connection (1008) or drop messages for it' })
  .option('handshake-timeout', { type: 'string', default: '10000', describe: 'ms to complete the upgrade request (0 = no limit)', coerce: nonNegativeInt('handshake-timeout') })
  .option('heartbeat-interval', { type: 'string', default: '30000', describe: 'ms of idleness before a ping; silent for another interval → closed (0 = off)', coerce: nonNegativeInt('heartbeat-interval') })
  .option('close-timeout', { type: 'string', default: '5000', describe: 'ms to wait for a close reply before ending the socket', coerce: nonNegativeInt('close-timeout') })
  .option('shutdown-grace', { type: 'string', default: '5000', describe: 'ms that SIGINT/SIGTERM waits for close replies', coerce: nonNegativeInt('shutdown-grace') })
  .option('max-head-size', { type: 'string', default: '16kb', describe: 'largest upgrade request head; larger gets 431', coerce: size('max-head-size') })
  .option('deflate', { type: 'boolean', default: false, describe: 'accept permessage-deflate (RFC 7692) from clients that offer it' })
  .option('deflate-threshold', { type: 'string', default: '1kb', describe: 'with --deflate: messages under this size go uncompressed (0 = compress all)', coerce: size('deflate-threshold') })
  .option('max-headers', { type: 'string', default: '100', describe: 'most request headers; more gets 431', coerce: nonNegativeInt('max-headers') })
  .check((args) => {
    if (args.port > 65535) throw new Error(`--port must be at most 65535, got ${args.port}`);
    if (args._.length > 0) throw new Error(`unexpected argument "${String(args._[0])}"`);
    return true;
  })
  .strict()
  .help()
  .version()
  .fail((message, err) => fail(message ?? err?.message ?? 'invalid arguments'))
  .parseSync();

// Top-level guard: a bug must be loud, but one connection's fault must not take the others down.
rxjsConfig.onUnhandledError = (err) => console.error('rxws: unhandled error in a stream:', err);
process.on('uncaughtException', (err) => console.error('rxws: uncaught exception:', err));
process.on('unhandledRejection', (err) => console.error('rxws: unhandled rejection:', err));

const server = new WebSocketServer({
  port: argv.port,
  host: argv.host,
  maxMessageSize: argv['max-message-size'],
  maxConnections: argv['max-connections'],
  allowOrigins: argv['allow-origin'],
  maxBufferedBytes: argv['max-buffered'],
  slowConsumer: argv['slow-consumer'],
  handshakeTimeout: argv['handshake-timeout'],
  heartbeatInterval: argv['heartbeat-interval'],
  closeTimeout: argv['close-timeout'],
  shutdownGrace: argv['shutdown-grace'],
  maxHeadSize: argv['max-head-size'],
  maxHeaders: argv['max-headers'],
  perMessageDeflate: argv.deflate ? { threshold: argv['deflate-threshold'] } : false,
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
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    process.stdout.write(`listening on ws://${host}:${address.port}\n`);
  },
  (err: Error) => fail(`cannot listen on ${argv.host}:${argv.port}: ${err.message}`),
);

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`rxws: ${signal}: closing connections\n`);
  // Never hang past the grace period plus the close timeout.
  setTimeout(() => process.exit(0), argv['shutdown-grace'] + argv['close-timeout'] + 1000).unref();
  server.close().then(() => process.exit(0));
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
