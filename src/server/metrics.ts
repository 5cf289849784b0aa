// Loaded only when a server is given a `metrics` registry (a dynamic import):
// an application without metrics never loads prom-client.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { StatsSource } from './stats.js';

/**
 * @internal registers the rxws series in `registry`. Every value is computed
 * at scrape time from the server's plain counters (see ServerStats).
 */
export function registerServerMetrics(registry: Registry, source: StatsSource): void {
  const registers = [registry];
  const { stats } = source;
  const counter = (name: string, help: string, value: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(value());
      },
    });
  const labelledCounter = (name: string, help: string, label: string, values: ReadonlyMap<number | string, number>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers,
      collect() {
        this.reset();
        for (const [key, n] of values) this.inc({ [label]: String(key) }, n);
      },
    });

  new Gauge({
    name: 'rxws_connections',
    help: 'Open WebSocket connections.',
    registers,
    collect() {
      this.set(source.connectionCount);
    },
  });
  new Gauge({
    name: 'rxws_rooms',
    help: 'Rooms with at least one member on this server.',
    registers,
    collect() {
      this.set(source.roomCount);
    },
  });
  counter('rxws_messages_received_total', 'Whole messages received from clients.', () => stats.messagesReceived);
  counter('rxws_messages_sent_total', 'Messages queued for clients (a fan-out to N connections counts N).', () => stats.messagesSent);
  counter('rxws_bytes_received_total', 'Bytes read from WebSocket connections (on the wire, handshake included).', () => {
    return stats.bytesReceivedClosed + source.openConnectionBytes()[0];
  });
  counter('rxws_bytes_sent_total', 'Bytes written to WebSocket connections (on the wire, handshake included).', () => {
    return stats.bytesSentClosed + source.openConnectionBytes()[1];
  });
  labelledCounter('rxws_connections_closed_total', 'Closed connections by close code (1006: lost; application codes 3000–4999 as "other").', 'code', stats.closedByCode);
  labelledCounter('rxws_handshake_rejections_total', 'Upgrade requests refused, by HTTP status.', 'status', stats.rejectedByStatus);
  counter(
    'rxws_messages_dropped_slow_consumer_total',
    'Messages not sent because the recipient was over its outbound budget (slow-consumer policy "drop").',
    () => stats.droppedSlowConsumer,
  );
  counter('rxws_messages_dropped_rate_limited_total', 'Messages dropped by rate limiting.', () => stats.droppedRateLimited);
}
