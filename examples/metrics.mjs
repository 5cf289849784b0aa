// Prometheus metrics for a server of your own: the rxws_* series go into your
// prom-client registry, next to your own series and the default process ones.
//
//   node examples/metrics.mjs 8082      then: curl http://127.0.0.1:8082/metrics
import { collectDefaultMetrics, Registry } from 'prom-client';
import { WebSocketServer, echo } from '@rxws/server';

const registry = new Registry();
collectDefaultMetrics({ register: registry });

const server = new WebSocketServer({ port: Number(process.argv[2] ?? 8082), host: '127.0.0.1', metrics: registry });
echo(server);

const { port } = await server.listen(); // from here GET /metrics answers from `registry`
console.log(`listening on ws://127.0.0.1:${port}`);
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
