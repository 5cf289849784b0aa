/**
 * @internal plain counters of one server, bumped on the hot path (an integer
 * increment each) whether or not metrics are exported; `metrics.ts` turns them
 * into Prometheus series at scrape time. No prom-client here.
 */
export class ServerStats {
  messagesReceived = 0;
  /** Messages queued on a connection: a fan-out to N connections counts N. */
  messagesSent = 0;
  /** Wire bytes of connections that have closed (open ones are read from their sockets at scrape time). */
  bytesReceivedClosed = 0;
  bytesSentClosed = 0;
  /** Messages not sent because the recipient was over its budget with slowConsumer 'drop'. */
  droppedSlowConsumer = 0;
  /** Messages dropped by rate limiting (relay and echo). */
  droppedRateLimited = 0;
  /** By closeCodeLabel: at most 17 keys, whatever codes peers send. */
  readonly closedByCode = new Map<string, number>();
  readonly rejectedByStatus = new Map<number, number>();

  connectionClosed(code: number, bytesRead: number, bytesWritten: number): void {
    const label = closeCodeLabel(code);
    this.closedByCode.set(label, (this.closedByCode.get(label) ?? 0) + 1);
    this.bytesReceivedClosed += bytesRead;
    this.bytesSentClosed += bytesWritten;
  }

  handshakeRejected(status: number): void {
    this.rejectedByStatus.set(status, (this.rejectedByStatus.get(status) ?? 0) + 1);
  }
}

/**
 * @internal the `code` label of a close: the codes RFC 6455 and the IANA
 * registry define (1000–1015) by value; everything else, i.e. the 3000–4999
 * codes an application or a client picks, as "other", so that no peer can
 * create series (or entries here) at will.
 */
export function closeCodeLabel(code: number): string {
  return Number.isInteger(code) && code >= 1000 && code <= 1015 ? String(code) : 'other';
}

/** @internal what the metrics read from a server at scrape time. */
export interface StatsSource {
  readonly stats: ServerStats;
  readonly connectionCount: number;
  readonly roomCount: number;
  /** Wire bytes of the connections open now: [read, written]. */
  openConnectionBytes(): [number, number];
}
