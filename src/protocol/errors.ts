/**
 * Close codes (RFC 6455 §7.4.1) that the server sends or reasons about.
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  UnsupportedData: 1003,
  NoStatus: 1005,
  Abnormal: 1006,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  MandatoryExtension: 1010,
  InternalError: 1011,
} as const;

/**
 * A rule of RFC 6455 that the peer broke: fails the connection with `closeCode`.
 * `code` is a stable symbolic name (`WS_ERR_INVALID_UTF8`, …) for tests and logs.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: string,
    readonly closeCode: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A request that cannot be upgraded: answered with HTTP `status`, then the
 * socket is closed. `headers` are extra response headers (e.g. for 426).
 */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}
